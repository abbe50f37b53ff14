"""Overhead per frame at time scale 1: what a frame costs above its exposure.

Two views of it: the whole scan (``count([dot, I])`` with RunEngine and databroker, as a
user runs it) and the IOC alone (a pyepics put with completion on ``cam1:Acquire`` with
the TIFF plugin saving, so one CA round trip and no client framework). The IOC alone is
also measured with a plugin chain (:func:`wire_chain`: ROI1 -> Proc1 -> Stats1, TIFF1
writing Proc1's output) against the default wiring (TIFF1 and Stats1 on the camera).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from .scan import Scanner, ScanResult, set_time_scale


def scan_overhead_ms(scanner: Scanner, devices: dict, prefix: str, exposure: float, num: int) -> tuple[float, ScanResult]:
    """Milliseconds per frame above ``exposure`` (s) of ``count([dot, I], num)`` at time scale 1, and the run.

    Per frame is the steady state, first to last Event (staging is a per-run cost; the
    scan-rate row counts it).
    """
    set_time_scale(prefix, 1.0)
    devices["dot"].exp.set(exposure).wait(10)
    result = scanner.ours(devices, num)
    return 1000.0 / result.fps - 1000.0 * exposure, result


def _put(pv: str, value) -> None:
    import epics

    if epics.caput(pv, value, wait=True, timeout=30) != 1:
        raise RuntimeError(f"put to {pv} failed")


def prepare_ioc_only(prefix: str, directory: Path) -> None:
    """Point TIFF1 at ``directory`` (inside the IOC's data root), one file per frame."""
    p = f"{prefix}dot:"
    for pv, value in (("TIFF1:CreateDirectory", -8), ("TIFF1:FilePath", str(directory)), ("TIFF1:FileName", "bench"),
                      ("TIFF1:FileTemplate", "%s%s_%6.6d.tiff"), ("TIFF1:FileNumber", 0),
                      ("TIFF1:FileWriteMode", "Single"), ("TIFF1:AutoSave", 1), ("TIFF1:AutoIncrement", 1),
                      ("TIFF1:EnableCallbacks", 1), ("Stats1:EnableCallbacks", 1), ("cam1:ImageMode", "Single"),
                      ("cam1:NumImages", 1), ("cam1:AcquirePeriod", 0)):
        _put(p + pv, value)


def ioc_overhead_ms(prefix: str, exposure: float, num: int) -> float:
    """Median milliseconds above ``exposure`` of one Acquire put-with-completion, at time scale 1."""
    set_time_scale(prefix, 1.0)
    _put(f"{prefix}dot:cam1:AcquireTime", exposure)
    times = []
    for _ in range(num):
        t0 = time.perf_counter()
        _put(f"{prefix}dot:cam1:Acquire", 1)
        times.append(time.perf_counter() - t0)
    return 1000.0 * (statistics.median(times) - exposure)


CHAIN_PLUGINS = ("ROI1:", "Proc1:")


def wire_chain(prefix: str) -> None:
    """ROI1 on the camera (a 320 x 240 region), Proc1 on ROI1 subtracting a background it saved
    (into Int32, as a beamline does: in the camera's UInt32 a negative difference wraps),
    Stats1 and TIFF1 on Proc1: a frame passes four plugins. Call :func:`prepare_ioc_only` first."""
    p = f"{prefix}dot:"
    for pv, value in (("ROI1:MinX", 160), ("ROI1:SizeX", 320), ("ROI1:MinY", 120), ("ROI1:SizeY", 240),
                      ("ROI1:EnableCallbacks", 1), ("Proc1:NDArrayPort", "ROI1"), ("Proc1:EnableCallbacks", 1),
                      ("Proc1:DataTypeOut", "Int32"),
                      ("Proc1:EnableBackground", 0), ("Stats1:NDArrayPort", "PROC1"),
                      ("TIFF1:NDArrayPort", "PROC1")):
        _put(p + pv, value)
    _put(p + "cam1:Acquire", 1)
    _put(p + "Proc1:SaveBackground", 1)
    _put(p + "Proc1:EnableBackground", 1)


def unwire_chain(prefix: str) -> None:
    """The default wiring again: TIFF1 and Stats1 on the camera, ROI1 and Proc1 disabled."""
    p = f"{prefix}dot:"
    for pv, value in (("Stats1:NDArrayPort", "DOT1"), ("TIFF1:NDArrayPort", "DOT1"), ("Proc1:EnableBackground", 0),
                      ("Proc1:EnableCallbacks", 0), ("ROI1:EnableCallbacks", 0)):
        _put(p + pv, value)
