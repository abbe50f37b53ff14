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
import sys

from . import env
from .section import run_section


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

    def measure(bench, prefix, ioc):
        bench.ca(prefix, ioc)
        bench.caproto_alone()

    return run_section(plan, "quick" if args.quick else "full", ports, "ca", measure)


if __name__ == "__main__":
    sys.exit(main())
