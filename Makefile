# The beamline in two commands:
#   make demo   set up .venv, start the IOC, run the tutorial notebook headless, keep its figures in output/
#   make test   set up .venv, run the test suite (what CI runs)
# and:
#   make ioc    start the IOC in the background for your own notebook session (prints how to stop it)
#   make bench  benchmarks (full mode; `make bench BENCH=--quick` for a shorter run): the table into README.md,
#               figures and py-spy profiles in bench/results/
#   make clean-data  remove every run and image under the data root (beamline.prune --all)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

BENCH  ?=

.PHONY: demo ioc test bench lint clean clean-data

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m beamline.demo $(ARGS)

ioc: $(STAMP)
	$(BIN)/python -m beamline.demo --ioc-only $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH) --json bench/results/bench.json --readme README.md $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check ioc beamline beamline_shared tests bench

# The data root (~/.local/share/beamline-sim or $$BEAMLINE_DATA_ROOT: images, runs, logs) is
# not the project's: `make clean` leaves it. `make clean-data` empties its runs and images;
# `.venv/bin/python -m beamline.prune --older-than DAYS` removes only old runs, with their images.
clean:
	rm -rf $(VENV) output .pytest_cache

clean-data: $(STAMP)
	$(BIN)/python -m beamline.prune --all $(ARGS)
