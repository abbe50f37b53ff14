"""``python -m bench.ca_rows``: only the CA rows of ``python -m bench``, for work on the CA server.

    python -m bench.ca_rows            # the full plan's CA measurements (a few minutes)
    python -m bench.ca_rows --quick    # the quick plan's

Same measurements as the CA section of the full run (:meth:`bench.run.Bench.ca` and
:meth:`bench.run.Bench.caproto_alone`: a beamline IOC's ``image1:ArrayData`` and our server
alone, side by side with the pythonSoftIOC reference, alternated), same servers on free
loopback ports; it prints the rows, the notes and the JSON figures of those rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from . import env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ca_rows", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the quick plan's repeats and durations")
    parser.add_argument("--repeats", type=int, help="repeats of each pair (default: the plan's)")
    args = parser.parse_args(argv)
    from .__main__ import PLANS

    plan = PLANS["quick" if args.quick else "full"]
    if args.repeats:
        import dataclasses

        plan = dataclasses.replace(plan, ca_repeats=args.repeats)
    ports = env.configure(3)
    warnings.filterwarnings("ignore", message="epicscorelibs.path.pyepics must be imported")
    from .report import table
    from .run import Bench, _quiet_libca

    workdir = Path(tempfile.mkdtemp(prefix="beamline-bench-ca-"))
    _quiet_libca(workdir / "libca.log")
    bench = Bench(plan, "quick" if args.quick else "full", ports, workdir)
    try:
        prefix = "BENCH1:"
        ioc = bench.ioc(prefix, ports[0])
        bench.ca(prefix, ioc)
        bench.caproto_alone()
    finally:
        bench.stop_all()
        bench.server_notes()
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(bench.rows))
    for note in bench.notes:
        print(f"- {note}")
    print(json.dumps({k: round(v, 3) for k, v in sorted(bench.figures.items())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
