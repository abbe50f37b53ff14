"""``python -m bench.chain_row``: only the plugin-chain rows of ``python -m bench``.

    python -m bench.chain_row            # the full plan's repeats (about a minute)
    python -m bench.chain_row --quick    # the quick plan's

The same measurement as :meth:`bench.run.Bench.plugin_chain` (a beamline IOC on a free
loopback port, the IOC alone at time scale 1, the chain and the default wiring alternated);
it prints the rows, the notes and the JSON figures of those rows.
"""

from __future__ import annotations

import argparse
import sys

from . import env
from .section import run_section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chain_row", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the quick plan's repeats")
    args = parser.parse_args(argv)
    from .__main__ import PLANS

    plan = PLANS["quick" if args.quick else "full"]
    ports = env.configure(1)

    def measure(bench, prefix, ioc):
        bench.plugin_chain(prefix, ioc)

    return run_section(plan, "quick" if args.quick else "full", ports, "chain", measure)


if __name__ == "__main__":
    sys.exit(main())
