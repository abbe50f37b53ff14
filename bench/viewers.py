"""Live viewers' cost: ``count([dot, I], num=N)`` with image viewers open, against none.

Each viewer is a pyepics client process of its own monitoring ``image1:ArrayData`` (the whole
480x640 frame, as areaDetector's ImageJ viewer or a PyDM image view subscribes) with
``image1:MinCallbackTime`` at ADCore's default, 0: every frame goes to every viewer that
keeps up. The scan with the viewers (started before it, stopped by PID after it) alternates
with the scan alone; the row is the ratio of their Event rates.

    python -m bench.viewers [--viewers 20] [--frames 150] [--repeats 2]

runs this row alone (an IOC of its own on a free port) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from .ab import cpu_seconds
from .report import Row, fmt

VIEWER = r"""
import json, sys, threading
import epics
updates = [0]
def update(value=None, **kwargs):
    updates[0] += 1
pv = epics.PV(sys.argv[1], auto_monitor=True, callback=update)
print(json.dumps({"ready": pv.wait_for_connection(10)}), flush=True)
sys.stdin.read()  # until the benchmark closes it
print(json.dumps({"updates": updates[0]}), flush=True)
"""


class Viewers:
    """``n`` viewer processes on ``pvname``; ``close()`` stops them and returns the updates each got."""

    def __init__(self, pvname: str, n: int, timeout: float = 30.0) -> None:
        self.procs = [subprocess.Popen([sys.executable, "-c", VIEWER, pvname], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=os.environ)
                      for _ in range(n)]
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            line = proc.stdout.readline()
            if not line or not json.loads(line).get("ready") or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"a viewer of {pvname} did not connect")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the viewer processes have used so far."""
        return sum(cpu_seconds(proc.pid) for proc in self.procs)

    def close(self) -> list[int]:
        updates = []
        for proc in self.procs:
            try:
                out, _ = proc.communicate("", timeout=10)
                updates.append(json.loads(out.strip().splitlines()[-1])["updates"])
            except (subprocess.TimeoutExpired, ValueError, IndexError, KeyError):
                proc.kill()  # by PID
                proc.wait(5)
        return updates


def measure(scanner, devices: dict, prefix: str, n: int, frames: int, repeats: int,
            discard=lambda uid: None, ioc_pid: int | None = None) -> tuple[list[Row], dict[str, float], list[str]]:
    """The viewers row, its figures and notes (see the module's doc); with ``ioc_pid``, the IOC's
    CPU per frame with and without the viewers too."""
    from .timing import alternate

    got: list[float] = []
    cpu: dict[str, list[float]] = {"viewers": [], "ioc": [], "ioc_alone": []}

    def _cpu(pid: int | None) -> float:
        return cpu_seconds(pid) if pid is not None else 0.0

    def alone() -> float:
        c0 = _cpu(ioc_pid)
        fps = scan()
        cpu["ioc_alone"].append((_cpu(ioc_pid) - c0) / frames)
        return fps

    def scan() -> float:
        result = scanner.ours(devices, frames)
        discard(result.uid)
        return result.fps

    def with_viewers() -> float:
        viewers = Viewers(f"{prefix}dot:image1:ArrayData", n)
        try:
            t0, v0, c0 = time.monotonic(), viewers.cpu_seconds(), _cpu(ioc_pid)
            fps = scan()
            seconds = time.monotonic() - t0
            cpu["viewers"].append((viewers.cpu_seconds() - v0) / frames)
            cpu["ioc"].append((_cpu(ioc_pid) - c0) / frames)
        finally:
            updates = viewers.close()
        got.extend(u / seconds for u in updates)
        return fps

    devices["dot"].image.min_callback_time.set(0.0).wait(10)  # ADCore's default
    a, b, r = alternate(repeats, with_viewers, alone)
    figures = {"viewers_scan_fps": a.median, "viewers_scan_fps_alone": b.median, "viewers_ratio": r.median}
    rows = [Row(f"scan with {n} live image viewers vs alone, count([dot, I], num={frames}), Event to Event "
                "(frames/s)", fmt(a.median), fmt(b.median), fmt(r.median, 2), ">= 0.9", r.median >= 0.9)]
    notes = [f"viewers: {n} pyepics processes monitoring image1:ArrayData (MinCallbackTime 0) during the scan; "
             f"{repeats} alternated repeats, ratios {', '.join(fmt(v, 2) for v in r.values)}; each viewer got "
             f"{fmt(min(got, default=0), 1)}-{fmt(max(got, default=0), 1)} frames/s; CPU per frame: the viewers "
             f"{fmt(1000 * statistics.median(cpu['viewers']), 1)} ms in all"
             + (f", the IOC {fmt(1000 * statistics.median(cpu['ioc']), 1)} ms against "
                f"{fmt(1000 * statistics.median(cpu['ioc_alone']), 1)} ms alone" if ioc_pid else "")]
    return rows, figures, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.viewers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    from . import env

    port, = env.configure(1)
    from . import fill
    from .report import print_table
    from .scan import ioc_of_its_own

    with ioc_of_its_own("BENCHV:", port, "viewers") as (ioc, devices, scanner):
        scanner.ours(devices, 5)  # warm-up
        rows, _, notes = measure(scanner, devices, "BENCHV:", args.viewers, args.frames, args.repeats,
                                 lambda uid: fill.remove_files(fill.run_files(scanner.db, uid)), ioc.pid)
    print_table(rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
