"""``python -m bench``: the beamline's benchmarks, side by side with their baselines, as one table.

    python -m bench            # full run (several minutes)
    python -m bench --quick    # fewer repeats (under 2 minutes)
    python -m bench --tiny     # seconds: a smoke test of every measurement
    python -m bench --json out.json   # and py-spy profiles of a scan beside it
    python -m bench --doc docs/performance.md   # rewrite the table between its bench-table markers

It starts its own servers (beamline IOCs, a pythonSoftIOC reference) on free loopback
ports, stops them by PID, and works in a temporary directory it removes. Every pair is
measured in the same run, alternating, and the medians of the repeats are shown; on a
shared 2-core machine only the ratios and medians mean anything.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from . import env


@dataclass(frozen=True)
class Plan:
    """How much of each measurement a mode does."""

    scan_frames: int = 150
    long_frames: int = 1000  # the run that the fill and memory rows read back
    long_run_by_ioc: bool = True  # False: recorded by the in-process baseline camera (same documents and files)
    repeats: int = 8  # a multiple of 4: the order AB BA BA AB is balanced
    overhead_frames: int = 40
    overhead_repeats: int = 3
    ca_seconds: float = 3.0
    ca_repeats: int = 3
    fill_repeats: int = 4
    memory_frames: int | None = None  # None: the whole long run
    physics_repeats: int = 30
    scaling_shapes: tuple[tuple[int, int], ...] = ((240, 320), (960, 1280))
    scaling_repeats: int = 4
    scaling_frames: int = 150
    flat_frames: int = 10000  # a run this long at flat_shape against scaling_frames (0: none)
    flat_shape: tuple[int, int] = (240, 320)
    exposures: tuple[float, ...] = field(default=(0.005, 0.05))
    live_repeats: int = 4  # live plots on vs off (bench.live)
    live_stock_frames: int = 150  # the stock BestEffortCallback's count, once (~0.2 s per frame)
    viewers: int = 20  # live image viewers during a scan (bench.viewers)
    viewers_repeats: int = 2


PLANS = {
    "full": Plan(),
    "quick": Plan(repeats=4, long_run_by_ioc=False, overhead_frames=12, overhead_repeats=2, ca_seconds=1.0,
                  ca_repeats=2, fill_repeats=2, memory_frames=200, physics_repeats=10, scaling_repeats=2,
                  scaling_frames=40, flat_frames=0, live_repeats=2, live_stock_frames=30),
    "tiny": Plan(scan_frames=4, long_frames=8, repeats=2, overhead_frames=3, overhead_repeats=1, ca_seconds=0.3,
                 ca_repeats=1, fill_repeats=1, physics_repeats=2, scaling_shapes=(), scaling_repeats=1,
                 scaling_frames=4, flat_frames=12, flat_shape=(480, 640), live_repeats=1, live_stock_frames=4,
                 viewers=2, viewers_repeats=1),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer repeats: under 2 minutes")
    mode.add_argument("--tiny", action="store_true", help="a few frames of everything: seconds (for the tests)")
    parser.add_argument("--json", type=Path,
                        help="write the figures to this JSON file, and py-spy profiles of a scan beside it")
    parser.add_argument("--doc", "--readme", dest="doc", type=Path,
                        help="rewrite the table between this file's bench-table markers (make bench: docs/performance.md)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (data, logs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    plan = PLANS[mode]
    # Ports first: the main IOC, the C reference server, the caproto reference, one IOC per extra sensor shape,
    # and last an IOC without a readout time (bench.readout).
    ports = env.configure(4 + len(plan.scaling_shapes))
    # With the bench extra installed, ophyd imports epicscorelibs.path.pyepics; by then this
    # process's libca is already loaded (pyepics' own, as without the extra), which it warns about.
    warnings.filterwarnings("ignore", message="epicscorelibs.path.pyepics must be imported")
    from .run import run  # imports pyepics/ophyd: after the CA environment is set

    workdir = Path(tempfile.mkdtemp(prefix="beamline-bench-"))
    t0 = time.monotonic()
    try:
        profile_dir = args.json.resolve().parent if args.json else None
        rows, figures, notes = run(plan, mode, ports, workdir, profile_dir)
    finally:
        if args.keep:
            print(f"working directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    from .report import table, update_table, write_json

    title = f"beamline benchmarks ({mode}, {time.monotonic() - t0:.0f} s)"
    print(f"\n{title}\n")
    print(table(rows))
    if notes:
        print()
        for note in notes:
            print(f"- {note}")
    if args.json:
        write_json(args.json, figures)
    if args.doc:
        update_table(args.doc, table(rows), mode, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
