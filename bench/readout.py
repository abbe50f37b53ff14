"""What the camera's readout costs: the IOC alone (an Acquire put with completion, TIFF1
saving) at time scale 1 and a 0.005 s exposure, against an IOC started with
``--readout-row-time 0``, alternated.

After each exposure the camera reads its rows out (``ioc.sim.physics.readout_time``: 4.9 us a
row, 2.4 ms for 480 rows) before the frame goes to the plugins; the frame is computed
meanwhile, so the readout costs only what it adds beyond that.

    python -m bench.readout [--frames 100] [--repeats 4]

runs this row alone (two IOCs of its own on free ports) and prints it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from .report import Row, fmt

EXPOSURE = 0.005  # s


def measure(prefix: str, ioc, zero_prefix: str, zero_ioc, frames: int, repeats: int
            ) -> tuple[list[Row], dict[str, float], list[str]]:
    """The readout row, figures and a note: ``ioc`` (with its readout) against ``zero_ioc`` (without)."""
    from .overhead import ioc_overhead_ms, prepare_ioc_only
    from .timing import alternate

    for p, server in ((prefix, ioc), (zero_prefix, zero_ioc)):
        prepare_ioc_only(p, Path(server.data_root) / "readout")
    a, b, _ = alternate(repeats, lambda: ioc_overhead_ms(prefix, EXPOSURE, frames),
                        lambda: ioc_overhead_ms(zero_prefix, EXPOSURE, frames))
    for server in (ioc, zero_ioc):
        shutil.rmtree(Path(server.data_root) / "readout", ignore_errors=True)
    cost = a.median - b.median
    figures = {"readout_ioc_ms_with": a.median, "readout_ioc_ms_without": b.median, "readout_cost_ms": cost}
    rows = [Row(f"  of which the readout, 480 rows (IOC alone with vs without, {EXPOSURE:g} s) (ms)",
                fmt(a.median), fmt(b.median), fmt(cost), "(info: cost)")]
    notes = [f"readout: the IOC alone, Acquire put-callback at time scale 1, {EXPOSURE:g} s exposure, median of "
             f"{frames} frames, {repeats} alternated repeats against an IOC with --readout-row-time 0: "
             f"{fmt(a.median)} vs {fmt(b.median)} ms above the exposure"]
    return rows, figures, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args(argv)
    from . import env

    ports = env.configure(2)
    from .report import print_table
    from .servers import start_ioc

    workdir = Path(tempfile.mkdtemp(prefix="beamline-bench-readout-"))
    iocs = []
    try:
        iocs.append(start_ioc("RDA:", ports[0], workdir, 1.0))
        iocs.append(start_ioc("RDB:", ports[1], workdir, 1.0, extra_args=["--readout-row-time", "0"]))
        rows, _, notes = measure("RDA:", iocs[0], "RDB:", iocs[1], args.frames, args.repeats)
    finally:
        for ioc in iocs:
            ioc.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
