"""One section of ``python -m bench`` on its own: a beamline IOC on a free loopback port, the
section's measurement, then its rows, notes and JSON figures printed (``bench.ca_rows``,
``bench.chain_row``)."""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path


def run_section(plan, mode: str, ports: list[int], tag: str, measure: Callable[..., None]) -> int:
    """``measure(bench, prefix, ioc)`` on an IOC at ``ports[0]``; ``ports`` from ``env.configure``
    (called before pyepics loads). Prints what the section measured; returns the exit status."""
    warnings.filterwarnings("ignore", message="epicscorelibs.path.pyepics must be imported")
    from .report import print_table
    from .run import Bench, _quiet_libca

    workdir = Path(tempfile.mkdtemp(prefix=f"beamline-bench-{tag}-"))
    _quiet_libca(workdir / "libca.log")
    bench = Bench(plan, mode, ports, workdir)
    try:
        prefix = "BENCH1:"
        measure(bench, prefix, bench.ioc(prefix, ports[0]))
    finally:
        bench.stop_all()
        bench.server_notes()
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(bench.rows, bench.notes)
    print(json.dumps({k: round(v, 3) for k, v in sorted(bench.figures.items())}))
    return 0
