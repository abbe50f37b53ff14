"""Faults on demand (``sim:``): each driven over CA, and what a bluesky user sees.

Each test starts an IOC of its own (faults change the IOC's state) and a client session
on it, as ``beamline.session`` makes for a user.
"""

from __future__ import annotations

import hashlib
import threading
import time
import warnings
from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import epics
import numpy as np
import pytest
from bluesky.suspenders import SuspendFloor
from bluesky.utils import FailedStatus
from caproto import AlarmSeverity, AlarmStatus
from caproto.sync import client as sync

from beamline.devices import DetectorError, IOCNotAnswering, MotorFault, SettingsNotRestored

from . import ca
from .conftest import eventually

BACKGROUND = 1000.0  # counts per pixel (ioc.sim.physics.BACKGROUND)


def session_on(prefix: str, directory: Path, monkeypatch) -> dict:
    from beamline.session import make_session

    monkeypatch.setenv("BEAMLINE_DATABROKER_DIR", str(directory))
    return make_session(prefix, live=False, timeout=10)


def alarm(pv: str) -> tuple[AlarmStatus, AlarmSeverity]:
    md = sync.read(pv, data_type="time", timeout=5, repeater=False).metadata
    return AlarmStatus(md.status), AlarmSeverity(md.severity)


def after_events(RE, n: int, action) -> int:
    """Run ``action`` (in a thread of its own) once the RunEngine has emitted ``n`` events;
    returns the subscription's token."""
    seen = []

    def watch(name, doc):
        if name == "event":
            seen.append(doc)
            if len(seen) == n:
                threading.Thread(target=action, daemon=True).start()

    return RE.subscribe(watch)


def file_digests(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.tif*"))}


def spot_total(prefix: str) -> float:
    """Stats1 total above the background of one frame of the whole sensor."""
    pixels = ca.get(f"{prefix}dot:cam1:ArraySizeX_RBV") * ca.get(f"{prefix}dot:cam1:ArraySizeY_RBV")
    return ca.get(f"{prefix}dot:Stats1:Total_RBV") - BACKGROUND * pixels


def test_beam_dump_empties_the_ring_and_the_image_then_refills(spawn_ioc, tmp_path):
    p = "FD:"
    spawn_ioc(p, time_scale=10, seed=1)
    ca.setup_tiff(p, str(tmp_path / "data-FD" / "img"), "dump")
    ca.put(f"{p}dot:cam1:AcquireTime", 0.5)
    ca.acquire(p)
    with_beam = spot_total(p)
    assert with_beam > 1e6  # 200 counts/mA/s x 0.5 s x ~500 mA x the spot's 2 pi 50 x 25 pixels
    assert ca.get(f"{p}sim:BeamDump") == 0 and ca.get(f"{p}ring:current") > 480

    ca.put(f"{p}sim:RefillTime", 30.0)  # 3 s of wall time at time scale 10
    t0 = time.monotonic()
    ca.put(f"{p}sim:BeamDump", 1, wait=True)  # completes once the beam has gone
    assert ca.get(f"{p}ring:current") == 0.0
    # What a display shows: the ring PV in LOLO alarm, MAJOR (its LOLO limit is 100 mA).
    assert alarm(f"{p}ring:current") == (AlarmStatus.LOLO, AlarmSeverity.MAJOR_ALARM)
    assert ca.get(f"{p}sim:BeamDump") == 1
    ca.acquire(p)
    no_beam = spot_total(p)
    # No spot: the frame is the background alone (its total within a few sigma of it).
    pixels = 480 * 640
    assert abs(no_beam) < 6 * np.sqrt(BACKGROUND * pixels), (no_beam, with_beam)
    assert ca.get(f"{p}dot:Stats1:MaxValue_RBV") < BACKGROUND + 10 * np.sqrt(BACKGROUND)

    # It stays down RefillTime simulated seconds, then comes back to the top-up pattern.
    eventually(lambda: ca.get(f"{p}ring:current") > 0, timeout=10)
    assert time.monotonic() - t0 > 3.0 * 0.9
    eventually(lambda: ca.get(f"{p}sim:BeamDump") == 0, timeout=10)
    assert ca.get(f"{p}ring:current") > 480
    assert alarm(f"{p}ring:current")[1] == AlarmSeverity.NO_ALARM
    ca.acquire(p)
    assert spot_total(p) > 0.9 * with_beam


def test_suspend_floor_suspends_a_count_through_a_beam_dump_and_every_point_has_beam(spawn_ioc, tmp_path,
                                                                                      monkeypatch):
    p = "FS:"
    spawn_ioc(p, time_scale=10, seed=2)
    ns = session_on(p, tmp_path / "db", monkeypatch)
    RE, db, dot, current = ns["RE"], ns["db"], ns["dot"], ns["I"]
    dot.exp.put(0.5)  # 50 ms of wall time a frame
    ca.put(f"{p}sim:RefillTime", 20.0)  # 2 s of wall time
    RE.install_suspender(SuspendFloor(current, 300, resume_thresh=450, sleep=0.2))
    ca.get(f"{p}sim:BeamDump")  # connected now, so the dump lands during the delay after event 3
    dumped = []
    after_events(RE, 3, lambda: (dumped.append(time.monotonic()), ca.put(f"{p}sim:BeamDump", 1)))
    t0 = time.monotonic()
    (uid,) = RE(bp.count([dot, current], num=8, delay=0.5))
    elapsed = time.monotonic() - t0
    print(f"\nbeam dump: the 8-point count took {elapsed:.1f} s (4 s of delays, 2 s without beam)")

    h = db[uid]
    assert h.stop["exit_status"] == "success"
    table = h.table()
    assert dumped, "the beam was never dumped"
    assert elapsed > 8 * 0.5 + 2.0, "the run did not wait for the beam to come back"
    # Every point (the one taken again after the suspension included) was taken with beam.
    assert sorted(set(table.index)) == list(range(1, 9))
    assert (table["I"] >= 450).all(), table["I"]
    pixels = 480 * 640
    assert (table["dot_stats1_total"] - BACKGROUND * pixels > 5e5).all(), table["dot_stats1_total"]
    assert db[uid].stop["num_events"]["primary"] >= 8


def _count_with_fault(p: str, ns: dict, fault: str) -> tuple[Exception, float, int]:
    """A 6-point count during which ``sim:CamFault`` becomes ``fault`` after 2 events: the
    RunEngine's error, the seconds from the fault to the failure, the events recorded."""
    RE, db, dot = ns["RE"], ns["db"], ns["dot"]
    ca.get(f"{p}sim:CamFault")  # connected now, so the put lands during the delay after event 2
    set_at = []
    token = after_events(RE, 2, lambda: (set_at.append(time.monotonic()), ca.put(f"{p}sim:CamFault", fault)))
    with pytest.raises(FailedStatus) as info:
        RE(bp.count([dot], num=6, delay=0.3))
    failed = time.monotonic() - set_at[0]
    RE.unsubscribe(token)
    h = db[-1]
    assert h.stop["exit_status"] == "fail"
    return info.value.__cause__ or info.value.args[0].exception(), failed, h.stop["num_events"].get("primary", 0)


@pytest.mark.parametrize("fault, kind, ioc_says", [
    ("AcquireError", DetectorError, "Error reading the frame from the sensor"),
    ("WriteError", OSError, "Error writing file"),
    ("Stalled", DetectorError, "Timeout waiting for a frame"),
])
def test_camera_fault_fails_the_plan_with_the_iocs_message_then_clears(spawn_ioc, tmp_path, monkeypatch, fault,
                                                                        kind, ioc_says):
    p = "FC:"
    ioc = spawn_ioc(p, time_scale=10, seed=3)
    ns = session_on(p, tmp_path / "db", monkeypatch)
    RE, db, dot = ns["RE"], ns["db"], ns["dot"]
    dot.exp.put(0.2)
    (first,) = RE(bp.count([dot], num=2))
    written = file_digests(ioc.data_root)
    assert len(written) == 2

    error, seconds, events = _count_with_fault(p, ns, fault)
    assert isinstance(error, kind), repr(error)
    assert ioc_says in str(error) and "dot" in str(error)
    print(f"\n{fault}: the plan failed {seconds:.2f} s after sim:CamFault was put")
    assert seconds < 3.0, f"the failure took {seconds:.1f} s (a timeout, not the IOC's message?)"
    assert events >= 2  # the events before the fault are kept
    # The PVs areaDetector uses say what happened, as an acquisition over CA shows.
    assert ca.get(f"{p}dot:cam1:Acquire") == 0
    if fault == "Stalled":
        # Stopping the acquisition (the plan's unstage did) ended the stall and cleared it.
        assert ca.get_str(f"{p}sim:CamFault") == "None"
        ca.put(f"{p}sim:CamFault", "Stalled")
        counter = ca.get(f"{p}dot:cam1:ArrayCounter_RBV")
        ca.put(f"{p}dot:cam1:ImageMode", "Single")  # a Single acquisition cut short ends Aborted
        ca.put(f"{p}dot:cam1:Acquire", 1, wait=False)
        eventually(lambda: ca.get_str(f"{p}dot:cam1:DetectorState_RBV") == "Error")
        assert ioc_says in ca.get_str(f"{p}dot:cam1:StatusMessage_RBV")
        t0 = ca.get(f"{p}sim:Time")
        eventually(lambda: ca.get(f"{p}sim:Time") >= t0 + 5.0, timeout=10)  # 25 exposures' time (simulated s):
        # still no frame, still acquiring
        assert ca.get(f"{p}dot:cam1:Acquire") == 1 and ca.get(f"{p}dot:cam1:ArrayCounter_RBV") == counter
        ca.put(f"{p}dot:cam1:Acquire", 0)
        eventually(lambda: ca.get_str(f"{p}dot:cam1:DetectorState_RBV") == "Aborted")
    else:
        ca.setup_tiff(p, str(ioc.data_root / "by-hand"), "check")
        ca.put(f"{p}dot:cam1:Acquire", 1, wait=True)
        assert not list((ioc.data_root / "by-hand").iterdir())  # no frame saved
        assert ca.get_str(f"{p}dot:cam1:DetectorState_RBV") == "Error"
        assert ioc_says in ca.get_str(f"{p}dot:cam1:StatusMessage_RBV")
        if fault == "WriteError":
            assert ca.get_str(f"{p}dot:TIFF1:WriteStatus") == "Write error"
            assert alarm(f"{p}dot:TIFF1:WriteStatus")[1] == AlarmSeverity.MAJOR_ALARM
            assert ioc_says in ca.get_str(f"{p}dot:TIFF1:WriteMessage")
    ca.put(f"{p}sim:ClearFaults", 1)
    assert ca.get_str(f"{p}sim:CamFault") == "None"
    (again,) = RE(bp.count([dot], num=3))
    assert db[again].stop["exit_status"] == "success"
    assert ca.get_str(f"{p}dot:cam1:DetectorState_RBV") == "Idle"
    after = file_digests(ioc.data_root)
    assert {k: after[k] for k in written} == written  # files written before the fault untouched


def test_motor_stall_fails_the_move_naming_the_motor_and_where_it_stopped(spawn_ioc, tmp_path, monkeypatch):
    p = "FM:"
    spawn_ioc(p, time_scale=10, seed=4)
    ns = session_on(p, tmp_path / "db", monkeypatch)
    RE, mtr, other = ns["RE"], ns["mtr_dotx"], ns["mtr_doty"]
    ca.put(f"{p}sim:MotorStall", "dotx")

    with pytest.raises(FailedStatus) as info:
        RE(bps.mv(mtr, 50))
    error = info.value.__cause__ or info.value.args[0].exception()
    assert isinstance(error, MotorFault), repr(error)
    message = str(error)
    assert "motor_dotx" in message and f"{p}mtr:dotx" in message
    assert "stalled at 20 mm on its way to 50" in message and "PROBLEM" in message
    # What the record shows: stopped part-way, done, problem bit, retries used up, STATE/MAJOR.
    assert ca.get(f"{p}mtr:dotx.RBV") == pytest.approx(20.0)
    assert ca.get(f"{p}mtr:dotx.DMOV") == 1 and ca.get(f"{p}mtr:dotx.MOVN") == 0
    msta = int(ca.get(f"{p}mtr:dotx.MSTA"))
    assert msta & (1 << 9) and msta & (1 << 1)  # PROBLEM, DONE
    assert ca.get(f"{p}mtr:dotx.MISS") == 1
    assert alarm(f"{p}mtr:dotx") == (AlarmStatus.STATE, AlarmSeverity.MAJOR_ALARM)
    # The other axis is not affected.
    RE(bps.mv(other, 5))
    assert other.position == pytest.approx(5.0)

    # Still stalled until cleared: a scan fails at its first point.
    with pytest.raises(FailedStatus):
        RE(bp.scan([], mtr, 0, 10, 3))
    ca.put(f"{p}sim:MotorStall", "None")
    RE(bps.mv(mtr, 30))
    assert mtr.position == pytest.approx(30.0)
    assert ca.get(f"{p}mtr:dotx.MISS") == 0 and not int(ca.get(f"{p}mtr:dotx.MSTA")) & (1 << 9)
    assert alarm(f"{p}mtr:dotx")[1] == AlarmSeverity.NO_ALARM

    ca.put(f"{p}sim:MotorStall", "All")
    with pytest.raises(FailedStatus):
        RE(bps.mv(other, -5))
    ca.put(f"{p}sim:ClearFaults", 1)
    RE(bps.mv(other, -5))
    assert other.position == pytest.approx(-5.0)


def test_frozen_ioc_fails_the_plan_in_bounded_time_and_answers_again(spawn_ioc, tmp_path, monkeypatch):
    p = "FZ:"
    spawn_ioc(p, time_scale=10, seed=5)
    ns = session_on(p, tmp_path / "db", monkeypatch)
    RE, db, dot = ns["RE"], ns["db"], ns["dot"]
    dot.exp.put(0.2)
    dot.trigger_timeout_margin = 2.0  # 2 x 0.2 s + 2 s per frame
    ca.get(f"{p}sim:Freeze")
    frozen = []
    after_events(RE, 2, lambda: (frozen.append(time.monotonic()), ca.put(f"{p}sim:Freeze", 8)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(FailedStatus) as info:
            RE(bp.count([dot], num=50, delay=0.1))
    failed_after = time.monotonic() - frozen[0]
    # Unstaging could not put the settings back: one warning names them. Besides it, only pyepics'
    # "timed out" of the reads that found the IOC silent.
    restored = [w for w in caught if issubclass(w.category, SettingsNotRestored)]
    assert len(restored) == 1 and f"{p}dot:cam1:Acquire (to 0: not tried)" in str(restored[0].message)
    others = [str(w.message) for w in caught if w not in restored]
    assert all(message.startswith("ca.get(") and "timed out" in message for message in others), others
    print(f"\nfrozen IOC: the plan failed {failed_after:.2f} s after sim:Freeze was put")
    error = info.value.__cause__ or info.value.args[0].exception()
    # The message says the IOC stopped answering, and which PV did not answer.
    assert isinstance(error, IOCNotAnswering) and isinstance(error, TimeoutError), repr(error)
    assert str(error).startswith(f"dot: the IOC stopped answering: no reply from {p}dot:cam1:Acquire"), str(error)
    # The trigger timed out (2.4 s) and unstaging gave up (ophyd's read timeouts): bounded,
    # and sooner than the freeze ends.
    assert failed_after < 7.5, failed_after
    # Still frozen: nothing answers, though the connection stays.
    with pytest.warns(UserWarning, match=r"ca\.get\('FZ:sim:Time'\) timed out"):  # pyepics says so
        assert epics.caget(f"{p}sim:Time", timeout=0.5, use_monitor=False) is None
    # Then it answers again, Freeze back at 0, and the same session counts again.
    eventually(lambda: epics.caget(f"{p}sim:Freeze", timeout=0.5, use_monitor=False) == 0, timeout=15)
    (uid,) = RE(bp.count([dot], num=3))
    assert db[uid].stop["exit_status"] == "success"


def test_fault_controls_refuse_bad_input_and_clear_faults_resets_everything(spawn_ioc):
    p = "FX:"
    spawn_ioc(p, time_scale=10, seed=6)
    assert "Freeze" in ca.put_error(f"{p}sim:Freeze", -1)
    assert ca.put_error(f"{p}sim:Freeze", 1e9)
    assert "RefillTime" in ca.put_error(f"{p}sim:RefillTime", float("nan"))
    assert ca.put_error(f"{p}sim:CamFault", "Broken")
    assert ca.put_error(f"{p}sim:MotorStall", 7)
    # Off by default.
    assert [ca.get_str(f"{p}sim:{n}") for n in ("BeamDump", "CamFault", "MotorStall")] == ["No", "None", "None"]
    ca.put(f"{p}sim:RefillTime", 1000.0)
    ca.put(f"{p}sim:CamFault", "WriteError")
    ca.put(f"{p}sim:MotorStall", "All")
    ca.put(f"{p}sim:BeamDump", 1)
    assert ca.get(f"{p}ring:current") == 0
    ca.put(f"{p}sim:ClearFaults", 1)
    assert ca.get_str(f"{p}sim:CamFault") == "None" and ca.get_str(f"{p}sim:MotorStall") == "None"
    # The beam refills at once (10 s of injection: 1 s of wall time).
    eventually(lambda: ca.get(f"{p}ring:current") > 480 and ca.get(f"{p}sim:BeamDump") == 0, timeout=5)
