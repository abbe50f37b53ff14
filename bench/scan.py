"""Scan rate: ``count([dot, I], num=N)`` through the IOC against the in-process ophyd.sim baseline.

Both run on one RunEngine with databroker insert on. Two rates of each run: the whole run
(frames over the wall time of the ``RE(...)`` call: staging, the opening and closing
documents and unstaging included), the figure the targets use, and the steady state
(frames per second between the first and the last Event), beside the per-frame
intervals' median and 95th percentile.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .simdet import TiffExternalizer, make_sim_detectors

EXPOSURE = 0.1  # s, the camera's default AcquireTime
SCAN_EXPOSURE_NOTE = (f"{EXPOSURE:g} s exposures at time scale 1e4 (10 us of wall time); same work on both sides: "
                      "the baseline draws the same frames (background included) with ioc.sim.physics in-process, "
                      "computes Stats1's numbers (physics.stats) and writes each TIFF with the IOC's writer "
                      "(ioc.areadetector.tiff_writer: checks, temporary file, rename) from a RE subscriber, all in line; the IOC "
                      "overlaps the next frame's generation with the client's work, which an in-process camera "
                      "cannot; the baseline posts and reads no PV")


class EventClock:
    """A RunEngine subscriber noting when each Event is emitted (perf_counter seconds)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.uid = ""

    def __call__(self, name: str, doc: dict) -> None:
        if name == "event":
            self.times.append(time.perf_counter())
        elif name == "start":
            self.uid = doc["uid"]

    def frames_per_second(self) -> float:
        if len(self.times) < 2:
            return float("nan")
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])

    def intervals_ms(self) -> list[float]:
        return [1000 * (b - a) for a, b in zip(self.times[:-1], self.times[1:], strict=True)]


@dataclass
class ScanResult:
    fps: float  # frames per second, steady state (first to last Event)
    uid: str  # the run's uid in the databroker
    seconds: float  # wall time of the whole RE call
    frames: int  # Events in the run
    intervals_ms: list[float]  # Event to Event

    @property
    def run_fps(self) -> float:
        """Frames per second of the whole run, staging and unstaging included."""
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


class Scanner:
    """One RunEngine and databroker for every scan of the benchmark."""

    def __init__(self, storage: Path) -> None:
        from bluesky import RunEngine

        from beamline.storage import open_broker

        self.RE = RunEngine({})
        self.db = open_broker(storage)
        self.storage = storage
        self._sim: dict[tuple[int, int], list] = {}

    def _run(self, detectors: list, num: int, sink) -> ScanResult:
        import bluesky.plans as bp

        clock = EventClock()
        tokens = [self.RE.subscribe(sink), self.RE.subscribe(clock)]
        t0 = time.perf_counter()
        try:
            self.RE(bp.count(detectors, num=num))
        finally:
            for token in tokens:
                self.RE.unsubscribe(token)
        return ScanResult(clock.frames_per_second(), clock.uid, time.perf_counter() - t0, len(clock.times),
                          clock.intervals_ms())

    def ours(self, devices: dict, num: int) -> ScanResult:
        """``count([dot, I], num)`` with the IOC's camera (it writes the TIFF files)."""
        return self._run([devices["dot"], devices["I"]], num, self.db.insert)

    def baseline(self, shape: tuple[int, int], num: int, directory: Path) -> ScanResult:
        """The same count with the ophyd.sim camera; a subscriber writes the TIFF files (the IOC's writer)."""
        if shape not in self._sim:
            self._sim[shape] = make_sim_detectors(shape, exposure=EXPOSURE)
        sink = TiffExternalizer(self.db.insert, directory, data_root=directory.parent)
        return self._run(self._sim[shape], num, sink)


def connect_devices(prefix: str, data_root: Path, timeout: float = 10.0) -> dict:
    """The beamline's ophyd devices for the IOC at ``prefix``, connected, exposure EXPOSURE."""
    from beamline.devices import make_devices

    template = os.path.join(os.path.realpath(data_root), "images", "%Y", "%m", "%d", "")
    devices = make_devices(prefix, write_path_template=template)
    for device in devices.values():
        device.wait_for_connection(timeout=timeout)
    devices["dot"].exp.set(EXPOSURE).wait(timeout)
    return devices


@contextlib.contextmanager
def ioc_of_its_own(prefix: str, port: int, name: str) -> Iterator[tuple]:
    """For a row run alone (``python -m bench.live``, ``bench.viewers``): ``(ioc, devices, scanner)``,
    an IOC on ``port`` at the scan's time scale, its devices connected, and a Scanner with a
    databroker of its own, in a temporary directory that is removed after, the IOC stopped."""
    from .run import SCAN_TIME_SCALE, _quiet_libca
    from .servers import start_ioc

    workdir = Path(tempfile.mkdtemp(prefix=f"beamline-bench-{name}-"))
    ioc = None
    try:
        _quiet_libca(workdir / "libca.log")
        ioc = start_ioc(prefix, port, workdir, SCAN_TIME_SCALE)
        yield ioc, connect_devices(prefix, ioc.data_root), Scanner(workdir / "databroker")
    finally:
        if ioc is not None:
            ioc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def set_time_scale(prefix: str, value: float) -> None:
    """Set the IOC's ``sim:TimeScale`` (simulated seconds per wall second)."""
    import epics

    if epics.caput(f"{prefix}sim:TimeScale", value, wait=True, timeout=10) != 1:
        raise RuntimeError(f"could not set {prefix}sim:TimeScale")
