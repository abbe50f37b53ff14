"""Other people's code, pinned and unedited, against the shipped configurations that declare its PV
names (tests/data/proofs/README.md says what each needs):

* ophyd 1.11.2's own areaDetector and EpicsMotor tests, from its wheel (``pytest --pyargs``),
  against ``configs/ophyd_tests.yaml``;
* dls-dodal 3.0.5's ``adsim`` beamline module, in its own environment (``.venv-dodal``, made by
  ``make``: dodal pins pyzmq 27.1.0), connecting and counting against ``configs/dodal_adsim.yaml``.

(The bluesky tutorials' mini beamline: tests/test_mini_beamline.py.) Both run through
``tools/proof_run.py`` with a private ``/tmp`` (an overlay in a mount namespace: they write to
fixed paths under /tmp, ophyd's tests delete ``/tmp/ophyd_AD_test``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import pytest

ROOT = Path(__file__).resolve().parents[1]
DODAL_PYTHON = ROOT / ".venv-dodal" / "bin" / "python"
PROOFS = Path(__file__).parent / "data" / "proofs"

# ophyd's tests left out, each with the reason. ophyd marks both xfail itself; test_fshdf_plugin's
# six cases sleep 68 s between them.
OPHYD_LEFT_OUT = {
    "test_fshdf_plugin": "marked xfail by ophyd; 68 s of fixed sleeps",
    "test_many_connect": "marked xfail by ophyd",
    "test_default_configuration_attrs": "1890 cases checking ophyd's plugin classes' attributes, no IOC (7.5 s)",
}
# Tests that assert what ophyd's own test IOC (motorSim) does, reproduced by configuration, not
# limitations of this IOC: motorSim's HVEL is 0 in basic_asyn_motor.db, which the motor record
# raises to VBAS (0.1 EGU/s), so homing 1 EGU takes 10 s and home(timeout=2) fails, as these
# assert ("MotorSim is unable to execute homing"). ophyd_tests.yaml sets home_velocity 0.1.
OPHYD_IOC_LIMITATIONS = ("test_homing_forward", "test_homing_reverse")


@pytest.fixture
def private_dir():
    """A directory outside /tmp for the proof's private /tmp (its changes) and its logs."""
    path = Path(tempfile.mkdtemp(prefix="beamline-proof-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def proof_run_command(config: str, private: Path, command: list[str], time_scale: float = 1.0,
                      iocs: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "tools.proof_run", "--config", config, "--data-root", "/tmp",
            "--private-tmp", str(private), "--log-dir", str(private / "logs"), "--time-scale", str(time_scale),
            "--cwd", str(private), "--timeout", "240", *(f"--ioc={name}" for name in iocs), "--", *command]


def proof_run(config: str, private: Path, command: list[str], time_scale: float = 1.0,
              timeout: float = 280) -> subprocess.CompletedProcess:
    return subprocess.run(proof_run_command(config, private, command, time_scale), cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _logs(private: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in sorted((private / "logs").glob("*.log")))


def test_dodal_adsim_connects_and_counts(private_dir):
    assert DODAL_PYTHON.exists(), "dodal's environment is missing: make .venv-dodal/.installed"
    run = proof_run("dodal_adsim", private_dir,
                    [str(DODAL_PYTHON), str(ROOT / "tests" / "proof_clients" / "dodal_adsim_count.py")], time_scale=10)
    assert run.returncode == 0, run.stdout + run.stderr + _logs(private_dir)
    result = json.loads(run.stdout)
    assert (result["events"], result["stream_datums"], result["exit_status"]) == (10, 10, "success")
    assert result["stage_x"] == pytest.approx(0.5)
    (uri,) = result["uris"]
    assert uri.startswith("file://localhost/tmp/") and uri.endswith(".h5")
    # The module's path provider writes to /tmp: here, the private /tmp's changes.
    with h5py.File(private_dir / "upper" / uri.rsplit("/", 1)[1], "r") as f:
        frames = f["/entry/data/data"]
        assert frames.shape == (10, 1024, 1024) and frames.dtype == "int8"


def _ophyd_pytest(private: Path, module: str, keyword: str) -> list[str]:
    ini = private / "pytest.ini"
    ini.write_text("[pytest]\n")
    return [sys.executable, "-m", "pytest", "--pyargs", f"ophyd.tests.{module}", "-k", keyword, "-c", str(ini),
            "--rootdir", str(private), "-p", "no:cacheprovider", "-q", f"--junitxml={private / 'report.xml'}",
            "-W", "ignore::pytest.PytestUnknownMarkWarning"]


def _outcomes(report: Path) -> dict[str, str]:
    """test name (with its parameters) -> passed, failure, error or skipped."""
    cases = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed")
        cases[case.get("name")] = outcome
    return cases


def test_ophyds_own_areadetector_and_epicsmotor_tests(tmp_path):
    """ophyd's EpicsMotor tests against the motor IOC and its areaDetector tests against the camera
    IOC, at once (each has a process and a private /tmp of its own; the motor tests mostly wait).
    The camera's exposures (AcquireTime 1 s, as ADBase.template's) run at time scale 10; the
    motor's at 1, where its homing takes the 10 s the homing tests expect."""
    halves = {"motor": ("ophyd_motor_sim", "test_epicsmotor", "pyepics", 1.0),
              "areadetector": ("ophyd_adsim", "test_areadetector",
                               "pyepics and " + " and ".join(f"not {name}" for name in OPHYD_LEFT_OUT), 10.0)}
    privates = {half: Path(tempfile.mkdtemp(prefix=f"beamline-proof-{half}-", dir="/var/tmp")) for half in halves}
    try:
        runs = {half: subprocess.Popen(proof_run_command("ophyd_tests", privates[half],
                                                         _ophyd_pytest(privates[half], module, keyword), time_scale,
                                                         iocs=(ioc,)),
                                       cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for half, (ioc, module, keyword, time_scale) in halves.items()}
        outputs = {half: run.communicate(timeout=280)[0] for half, run in runs.items()}
        cases = {}
        for half, run in runs.items():
            assert run.returncode == 0, half + ":\n" + outputs[half][-8000:] + _logs(privates[half])
            cases.update(_outcomes(privates[half] / "report.xml"))
    finally:
        for private in privates.values():
            shutil.rmtree(private, ignore_errors=True)
    # Every test that needs the IOCs ran (without one the areaDetector tests skip) and passed.
    needs_ioc = [name.split("::")[1] for name in json.loads((PROOFS / "ophyd_tests.json").read_text())["tests"]
                 if "::" in name and name.split("::")[1] not in OPHYD_LEFT_OUT]
    for name in needs_ioc + [*OPHYD_IOC_LIMITATIONS, "test_move", "test_limits"]:
        ran = {case: outcome for case, outcome in cases.items() if case.split("[")[0] == name}
        assert ran and set(ran.values()) == {"passed"}, (name, ran)
    assert not {"failure", "error"} & set(cases.values())
    print(f"ophyd's tests: {sum(o == 'passed' for o in cases.values())} passed, "
          f"{sum(o == 'skipped' for o in cases.values())} skipped")
