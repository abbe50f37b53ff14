"""Per-frame timestamps for profiling the IOC: on only when ``BEAMLINE_TIMELINE`` names a file.

``mark(stage, detail)`` records ``time.monotonic()`` (the clock ``time.perf_counter`` reads
too on Linux, so a client's timestamps line up with these) with a stage name, from any
thread; :func:`flush` appends what was recorded to the file as lines ``t stage detail``.
Off (the default) ``mark`` is one test of a module global. ``python -m bench.timeline``
starts an IOC with it on and turns the marks into a per-frame timeline.
"""

from __future__ import annotations

import os
import time

PATH = os.environ.get("BEAMLINE_TIMELINE") or None
_marks: list[tuple[float, str, str]] = []


def mark(stage: str, detail: str = "") -> None:
    """Record that ``stage`` (a word) happened now (``detail``: a port, a PV name)."""
    if PATH is not None:
        _marks.append((time.monotonic(), stage, detail))


def flush() -> None:
    """Append the marks recorded so far to the file (call where a few ms do not matter)."""
    if PATH is None or not _marks:
        return
    marks = _marks[:]
    del _marks[:len(marks)]
    with open(PATH, "a") as f:
        f.writelines(f"{t:.6f} {stage} {detail}\n" for t, stage, detail in marks)
