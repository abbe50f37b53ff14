"""A newcomer's first hour: refused puts fail at once, connection files belong to their IOC,
errors say what exists, scan ids keep counting, old runs go with their images, no repeater noise."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from bluesky.utils import FailedStatus

from beamline_shared.launcher import IOCProcess, free_port
from beamline_shared.paths import connection_file, read_connection_file

from . import ca
from .conftest import eventually

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def session(ioc, tmp_path_factory):
    from beamline.session import make_session

    os.environ["BEAMLINE_DATABROKER_DIR"] = str(tmp_path_factory.mktemp("newcomer-db"))
    return make_session("BL:", live=False, timeout=10)


def _signal(session, path: str):
    name, *attrs = path.split(".")
    obj = session[name]
    for attr in attrs:
        obj = getattr(obj, attr)
    return obj


# (signal, a value the IOC refuses, what its reason says, a value it takes)
REFUSED = [
    ("dot.exp", -1.0, "3600", 0.005),                                   # the exposure
    ("mtr_dotx.acceleration", math.inf, "inf", 0.1),                    # a motor record field
    ("mtr_dotx.user_offset", math.nan, "nan", 0.0),                     # another, not a number
    ("dot.cam.acquire_period", -1.0, "", 0.0),                          # camera settings
    ("dot.cam.num_images", 0, "", 1),
    ("dot.tiff.file_number", -1, "", 0),                                # file plugin setting
    ("dot.image.min_callback_time", -1.0, "", 0.1),                     # image plugin setting
]


@pytest.mark.parametrize("path, bad, why, good", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_refused_put_fails_at_once_with_the_reason(session, capfd, path, bad, why, good):
    import bluesky.plan_stubs as bps

    RE = session["RE"]
    signal = _signal(session, path)
    original = signal.get()  # put back after: the session IOC is shared with other test files
    t0 = time.monotonic()
    with pytest.raises(FailedStatus) as info:
        RE(bps.mv(signal, bad))
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0, f"{path}: the refusal took {elapsed:.2f} s"
    cause = info.value.__cause__
    from beamline.refusals import PutRefused

    assert isinstance(cause, PutRefused), repr(cause)
    message = str(cause)
    assert signal.setpoint_pvname in message and signal.name in message
    assert why in message and "Python exception" not in message
    # The signal still shows the IOC's value, and the RunEngine takes the next plan.
    assert RE.state == "idle"
    if signal.pvname == signal.setpoint_pvname:
        value = signal.get()
        assert not (isinstance(value, float) and math.isnan(value)) and value != bad
    RE(bps.mv(signal, good))
    assert signal.get() == pytest.approx(good)
    # One message, the exception: no "Run aborted" or set-thread traceback on the terminal.
    err = capfd.readouterr().err
    assert "Run aborted" not in err and "Traceback" not in err, err
    RE(bps.mv(signal, original))


def test_a_corrected_put_fails_after_the_write_timeout_not_never(session):
    """The motor record takes ACCL -1 but raises it to its minimum: the readback never equals -1."""
    accl = session["mtr_dotx"].acceleration
    assert accl.write_timeout == 10.0
    before = accl.get()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="-1"):
        accl.set(-1.0).wait(30)
    assert 9.5 < time.monotonic() - t0 < 15
    assert accl.get() != -1.0
    accl.set(before).wait(10)


def test_a_refused_stage_setting_fails_the_count_at_once(session):
    import bluesky.plans as bp

    RE, dot, db = session["RE"], session["dot"], session["db"]
    dot.cam.stage_sigs["acquire_period"] = -1.0
    try:
        t0 = time.monotonic()
        with pytest.raises(Exception) as info:
            RE(bp.count([dot], num=1))
        assert time.monotonic() - t0 < 1.0
        assert "dot:cam1:AcquirePeriod" in str(info.value)
    finally:
        del dot.cam.stage_sigs["acquire_period"]
    uid, = RE(bp.count([dot], num=1))
    assert db[uid].stop["exit_status"] == "success"


def test_a_refused_motor_target_fails_the_move_at_once(session, spawn_ioc):
    """With the soft limits off (LLM = HLM = 0) ophyd sends any target; the IOC refuses NaN."""
    import bluesky.plan_stubs as bps

    from beamline.devices import BeamlineMotor
    from beamline.refusals import PutRefused

    spawn_ioc("MTR:", time_scale=100)
    ca.put("MTR:mtr:dotx.LLM", 0)
    ca.put("MTR:mtr:dotx.HLM", 0)
    mtr = BeamlineMotor("MTR:mtr:dotx", name="mtr")
    mtr.wait_for_connection(timeout=10)
    eventually(lambda: tuple(mtr.limits) == (0, 0))
    RE = session["RE"]
    t0 = time.monotonic()
    with pytest.raises(FailedStatus) as info:
        RE(bps.mv(mtr, math.nan))
    assert time.monotonic() - t0 < 1.0
    assert isinstance(info.value.__cause__, PutRefused)
    assert "MTR:mtr:dotx" in str(info.value.__cause__) and "nan" in str(info.value.__cause__)
    RE(bps.mv(mtr, 1.0))
    assert mtr.position == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("target, text", [(1000, "1000"), (np.float64(-1000.0), "-1000"), (100.25, "100.25")])
def test_a_move_past_a_limit_is_one_message_naming_the_limits(session, capfd, target, text):
    """The numbers as the README shows them, whatever their type (a scan's targets are numpy's)."""
    import bluesky.plan_stubs as bps
    from ophyd.utils import LimitError

    RE, mtr = session["RE"], session["mtr_dotx"]
    with pytest.raises(LimitError) as info:
        RE(bps.mv(mtr, target))
    message = str(info.value)
    assert message == f"motor_dotx: cannot move to {text}: outside its limits [-100, 100] (BL:mtr:dotx.LLM, .HLM)"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    err = capfd.readouterr().err
    assert "Run aborted" not in err and "Traceback" not in err, err


def test_an_unknown_run_says_what_is_stored(session):
    import bluesky.plans as bp

    from beamline.storage import RunNotFound

    RE, db, current = session["RE"], session["db"], session["I"]
    uid, = RE(bp.count([current], num=1))
    scan_id = db[uid].start["scan_id"]
    for key in ("nonexistent", 987654321):
        with pytest.raises(KeyError) as info:
            db[key]
        assert isinstance(info.value, RunNotFound)
        message = str(info.value)
        assert repr(key) in message and " stored" in message
        assert f"scan_id {scan_id}" in message and uid[:8] in message
        assert info.value.__cause__ is None and info.value.__suppress_context__


def test_scan_ids_keep_counting_in_a_new_session(session, ioc):
    import bluesky.plans as bp

    from beamline.session import make_session

    RE = session["RE"]
    RE(bp.count([session["I"]], num=1))
    last = RE.md["scan_id"]
    again = make_session("BL:", live=False, timeout=10)  # same BEAMLINE_DATABROKER_DIR
    assert again["RE"].md["scan_id"] == last
    uid, = again["RE"](bp.count([again["I"]], num=1))
    assert again["db"][uid].start["scan_id"] == last + 1


def test_a_second_ioc_with_the_same_prefix_refuses_to_start(spawn_ioc, tmp_path):
    first = spawn_ioc("DUP:")
    path = connection_file("DUP:", first.data_root)
    assert json.loads(path.read_text())["pid"] == first.pid
    second = IOCProcess(prefix="DUP:", data_root=first.data_root, port=free_port(), time_scale=100,
                        log_path=tmp_path / "second.log")
    with pytest.raises(RuntimeError) as info:
        second.start(timeout=30)
    message = str(info.value)
    assert "already running" in message and f"PID {first.pid}" in message and str(first.port) in message
    assert not second.alive()
    # The first IOC keeps its file, and clients still find it.
    assert read_connection_file("DUP:", first.data_root)["pid"] == first.pid
    first.stop()
    assert not path.exists()


def test_a_stale_connection_file_is_detected_and_replaced(spawn_ioc, tmp_path):
    data_root = tmp_path / "data-STALE"
    data_root.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = connection_file("STALE:", data_root)
    path.write_text(json.dumps({"prefix": "STALE:", "port": 1, "pid": dead.pid}))
    assert read_connection_file("STALE:", data_root) is None  # clients ignore it
    log = tmp_path / "stale.log"
    ioc = spawn_ioc("STALE:", data_root=data_root, log_path=log)
    info = read_connection_file("STALE:", data_root)
    assert info["pid"] == ioc.pid and info["port"] == ioc.port
    assert f"stale connection file {path} (PID {dead.pid} is not running)" in log.read_text()


def test_prune_removes_old_runs_with_their_images_and_keeps_the_rest(tmp_path):
    from beamline.prune import prune
    from beamline.storage import open_broker

    from .test_storage import record_run

    runs, images = tmp_path / "databroker", tmp_path / "images"
    db = open_broker(runs)
    old = record_run(db, images / "old", 3)
    recorded = time.time()
    cutoff = eventually(lambda: time.time() > recorded + 0.05 and time.time())  # clearly after the old run
    new = record_run(db, images / "new", 2)
    orphan = images / "by-hand" / "frame_000000.tiff"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"x" * 10)
    os.utime(orphan, (cutoff - 10, cutoff - 10))
    dry = prune(runs, images, cutoff, dry_run=True)
    assert dry["runs"] == 1 and dry["images"] == 4 and (runs / f"{old}.msgpack").exists()
    removed = prune(runs, images, cutoff)
    assert removed == dry
    assert not (runs / f"{old}.msgpack").exists() and not (images / "old").exists()
    assert not orphan.exists()
    assert len(list((images / "new").glob("*.tiff"))) == 2
    assert len(list(open_broker(runs)[new].data("dot_img"))) == 2
    everything = prune(runs, images, None)
    assert everything["runs"] == 1 and everything["images"] == 2
    assert not list(runs.glob("*.msgpack")) and not any(images.rglob("*.tiff"))


def test_no_repeater_message_a_minute_into_a_session(minute_old_session):
    """libca complains ~50 s in (10 s + 50 tries at 1 s) when no repeater confirms its registration.
    The session process started with the run (conftest's ``minute_old_session``)."""
    minute_old_session.wait(timeout=120)
    stdout, stderr = minute_old_session.stdout_path.read_text(), minute_old_session.stderr_path.read_text()
    assert minute_old_session.returncode == 0, stderr
    assert "repeater" not in stderr.lower(), stderr
    assert float(stdout.split()[0]) > 0
