# The beamline in two commands:
#   make demo   set up .venv, start the IOC, run the tutorial notebook headless, keep its figures in output/
#   make test   set up .venv, run the test suite (what CI runs)
# and:
#   make ioc    start the IOC in the background for your own notebook session (prints how to stop it)
#   make bench  benchmarks (full mode; `make bench BENCH=--quick` for a shorter run): the table into docs/performance.md,
#               figures and py-spy profiles in bench/results/
#   make clean-data  remove every run and image under the data root (beamline.prune --all)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

BENCH  ?=

.PHONY: demo ioc test bench lint clean clean-data

$(STAMP): pyproject.toml constraints.txt scripts/qt-system-libs.sh scripts/install-redis.sh
	bash scripts/qt-system-libs.sh  # Debian packages Qt needs (beamline-screens)
	bash scripts/install-redis.sh || [ $$? -eq 3 ]   # Debian's redis-server for beamline-up (as root; else says how)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m beamline.demo $(ARGS)

ioc: $(STAMP)
	$(BIN)/python -m beamline.demo --ioc-only $(ARGS)

# dodal (the proof of tests/test_proofs.py) in an environment of its own: it pins pyzmq 27.1.0.
DODAL  := .venv-dodal
$(DODAL)/.installed: constraints-dodal.txt
	$(PYTHON) -m venv $(DODAL)
	$(DODAL)/bin/python -m pip install --quiet --upgrade pip
	$(DODAL)/bin/python -m pip install --quiet -c constraints-dodal.txt dls-dodal
	touch $@

# Two phases: the tests that may share the machine, on $(WORKERS) xdist workers (a test file per
# worker); then those marked serial (their assertions race the client's own timing: stock ophyd's
# trigger against the camera's readout, motion profiles sampled in wall time, rates under load), alone.
WORKERS ?= 2
test: $(STAMP) $(DODAL)/.installed
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile -m "not serial" $(ARGS); \
	first=$$?; $(BIN)/python -m pytest -m serial $(ARGS); second=$$?; \
	if [ $$first -eq 5 ]; then first=0; fi; if [ $$second -eq 5 ]; then second=0; fi; \
	exit $$(( first > second ? first : second ))

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH) --json bench/results/bench.json --doc docs/performance.md $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check ioc beamline beamline_shared tests bench tools
	$(BIN)/python -m tools.check_structure

# The data root (~/.local/share/beamline-sim or $$BEAMLINE_DATA_ROOT: images, runs, logs) is
# not the project's: `make clean` leaves it. `make clean-data` empties its runs and images;
# `.venv/bin/python -m beamline.prune --older-than DAYS` removes only old runs, with their images.
clean:
	rm -rf $(VENV) $(DODAL) output .pytest_cache

clean-data: $(STAMP)
	$(BIN)/python -m beamline.prune --all $(ARGS)
