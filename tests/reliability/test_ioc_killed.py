"""The IOC dies (SIGKILL) or hangs (SIGSTOP) in the middle of a scan.

What a user checks: the scan fails promptly instead of hanging (the RunEngine raises; the
run's stop document says ``fail``); every event recorded before the failure is in
databroker with its image; once the IOC is back the same Python session, with the same
device objects, scans again. The timeouts involved are documented in
``beamline/devices.py``: a disconnection fails a trigger or a move at once; a hung IOC
fails a trigger after ``DotCamera.trigger_timeout()`` seconds.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import bluesky.plans as bp
import pytest
import tifffile
from bluesky.utils import FailedStatus

from beamline.devices import IOCDisconnected, IOCNotAnswering, SettingsNotRestored
from ioc.sim.physics import SENSOR_SHAPE

from .. import ca
from ..conftest import eventually
from .drills import all_connected, check_run_images, counted_run, kill_mid_count, restart


def session_on(prefix: str, directory: Path, monkeypatch) -> dict:
    from beamline.session import make_session

    monkeypatch.setenv("BEAMLINE_DATABROKER_DIR", str(directory))
    return make_session(prefix, live=False, timeout=10)


def run_files(header) -> tuple[list[Path], list[Path]]:
    """The TIFF files of a run's resource directory, and any temporary files left there."""
    resource = next(doc for name, doc in header.documents() if name == "resource")
    directory = Path(resource["root"], resource["resource_path"])
    name = resource["resource_kwargs"]["filename"]
    files = sorted(p for p in directory.iterdir() if p.name.startswith(name))
    partial = sorted(p for p in directory.iterdir() if p.name.endswith(".partial"))
    return files, partial


def test_killed_ioc_fails_the_run_keeps_its_events_and_the_session_recovers(spawn_ioc, tmp_path, monkeypatch):
    ioc = spawn_ioc("BK:", time_scale=100, seed=5)
    ns = session_on("BK:", tmp_path / "databroker", monkeypatch)
    dot = ns["dot"]
    dot.exp.put(5.0)  # 50 ms a frame at time scale 100: 150 frames take ~10 s, the kill lands mid-run

    result = kill_mid_count(ns, ioc, num=150, after_events=20, delay=0.025)
    header = result["header"]
    assert not ioc.alive()
    # The run failed promptly, and says so.
    assert result["error"] is not None, "RE returned normally although the IOC was killed"
    assert ns["RE"].state == "idle"
    assert result["seconds_to_fail"] < 3.0, result
    if isinstance(result["error"], FailedStatus):  # the kill landed during a trigger
        assert isinstance(result["error"].__cause__, IOCDisconnected), repr(result["error"].__cause__)
    assert header.stop["exit_status"] == "fail"
    # No event lost: every event emitted before the failure is stored and its image readable.
    emitted = result["events_emitted"]
    assert 20 <= emitted < 150
    assert header.stop["num_events"]["primary"] == emitted
    assert check_run_images(header) == emitted
    files, _ = run_files(header)
    assert len(files) >= emitted  # the frame being taken at the kill may be on disk too
    for path in files:
        assert tifffile.imread(path).shape == SENSOR_SHAPE, path

    # The IOC comes back on the same prefix and port; the same session reconnects by itself.
    t_restart = time.monotonic()
    ioc2 = restart(ioc)
    try:
        started = time.monotonic() - t_restart
        eventually(lambda: all_connected(ns), timeout=30, interval=0.05)
        reconnect = time.monotonic() - result["killed_at"]
        after_start = time.monotonic() - t_restart - started
        print(f"\nkill -> run failed in {result['seconds_to_fail']:.3f} s ({type(result['error']).__name__}); "
              f"{emitted} events kept, 0 lost; IOC restarted in {started:.1f} s; session reconnected "
              f"{after_start:.1f} s after that, {reconnect:.1f} s after the kill")
        run = counted_run(ns, 3)
        again = ns["db"][run["uid"]]
        assert again.stop["exit_status"] == "success" and check_run_images(again) == 3

        # A motor move when the IOC dies fails at once too, instead of waiting forever for DMOV.
        mtr = ns["mtr_dotx"]
        mtr.velocity.put(1.0)  # 1 mm/s: a 30 mm move takes 0.3 s at time scale 100
        status = mtr.set(30.0)
        eventually(lambda: mtr.moving, timeout=5, interval=0.005)  # MOVN
        t_kill = time.monotonic()
        ioc2.kill()
        with pytest.raises(IOCDisconnected):
            status.wait(10)
        print(f"kill during a motor move -> the move failed in {time.monotonic() - t_kill:.3f} s")
    finally:
        ioc2.stop()


def test_hung_ioc_fails_the_run_after_the_trigger_timeout(spawn_ioc, tmp_path, monkeypatch):
    # Real time (time scale 1), so that the IOC freezes in the middle of an exposure.
    ioc = spawn_ioc("BH:", time_scale=1, seed=6)
    ns = session_on("BH:", tmp_path / "databroker", monkeypatch)
    dot, RE = ns["dot"], ns["RE"]
    dot.exp.put(0.3)
    dot.trigger_timeout_margin = 2.0  # the documented knob (10 s by default)
    expected = dot.trigger_timeout()  # 2 x 0.3 s + 2 s
    n_events = []
    RE.subscribe(lambda name, doc: n_events.append(1) if name == "event" else None)
    frozen = []

    def freeze():
        # Into the exposure after the third event's.
        eventually(lambda: len(n_events) >= 3 and ca.get_str("BH:dot:cam1:Acquire_RBV") == "Acquiring",
                   timeout=30, interval=0.002)
        frozen.append(time.monotonic())
        ioc.proc.send_signal(signal.SIGSTOP)

    thread = threading.Thread(target=freeze, daemon=True)
    thread.start()
    try:
        # UserWarning: SettingsNotRestored, and pyepics' "timed out" of the reads that find the IOC silent.
        with pytest.raises(FailedStatus) as failure, pytest.warns(UserWarning) as caught:
            RE(bp.count([dot, ns["I"]], num=1000))
        failed = time.monotonic()
    finally:
        ioc.proc.send_signal(signal.SIGCONT)
        thread.join(10)
    took = failed - frozen[0]
    header = ns["db"][-1]
    error = failure.value.__cause__
    unrestored = [w for w in caught if issubclass(w.category, SettingsNotRestored)]
    others = [str(w.message) for w in caught if w not in unrestored]
    assert all(message.startswith("ca.get(") and "timed out" in message for message in others), others
    print(f"\nhung IOC -> run failed {took:.1f} s after the IOC froze ({type(error).__name__}: {error}; "
          f"trigger timeout {expected:.1f} s, then a 1 s probe, and unstage gave up after another: "
          f"{unrestored[0].message})")
    # The message says the IOC stopped answering, naming the PV that did not answer.
    assert isinstance(error, IOCNotAnswering) and isinstance(error, TimeoutError), repr(error)
    assert str(error).startswith("dot: the IOC stopped answering: no reply from BH:dot:cam1:Acquire"), str(error)
    assert "the IOC stopped answering" in str(unrestored[0].message)
    assert header.stop["exit_status"] == "fail"
    assert expected - 0.5 < took < expected + 5
    assert header.stop["num_events"]["primary"] == len(n_events) and check_run_images(header) == len(n_events)
    # Once the IOC runs again, the same session scans again.
    dot.exp.put(0.01)
    assert ns["db"][counted_run(ns, 3)["uid"]].stop["exit_status"] == "success"
