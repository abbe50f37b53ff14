"""Start-up time and memory of the IOC: ``python -m bench.startup [--runs N] [--fields]``.

Start-up is the wall time from launching ``python -m ioc`` until it answers a CA read of
``dot:cam1:Acquire_RBV`` (what :meth:`IOCProcess.start` waits for); memory is the IOC's
resident set (VmRSS) then. With ``--fields`` the RSS is measured again after every
areaDetector record's ``.DESC`` has been read once (every record's fields built).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from beamline_shared.launcher import IOCProcess, environment


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def read_every_desc(proc: IOCProcess) -> int:
    """Read ``.DESC`` of every areaDetector PV; returns how many answered."""
    from caproto.threading.client import Context

    from ioc.pvtable import ad_pv_names

    names = [f"{proc.prefix}{name}.DESC" for name in ad_pv_names()]
    with environment(proc.env):
        ctx = Context()
        try:
            pvs = ctx.get_pvs(*names, timeout=60)
            answered = 0
            for pv in pvs:
                try:
                    pv.wait_for_connection(timeout=60)
                except TimeoutError:
                    if answered == 0:
                        break  # no record fields at all
                    continue
                pv.read(timeout=60)  # the first access builds the record's fields (ms each)
                answered += 1
        finally:
            ctx.disconnect()
    return answered


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fields", action="store_true", help="also build every record's fields and measure again")
    args = parser.parse_args(argv)
    times, rss, rss_fields = [], [], []
    with tempfile.TemporaryDirectory() as root:
        for _ in range(args.runs):
            proc = IOCProcess(prefix="SU:", data_root=root)
            t0 = time.monotonic()
            proc.start()
            try:
                times.append(time.monotonic() - t0)
                rss.append(rss_mb(proc.pid))
                if args.fields:
                    n = read_every_desc(proc)
                    rss_fields.append(rss_mb(proc.pid))
            finally:
                proc.stop()
    print(f"start-up {statistics.median(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"RSS after start-up {statistics.median(rss):.1f} MiB")
    if rss_fields:
        print(f"RSS after reading .DESC of the AD PVs ({n} answered) {statistics.median(rss_fields):.1f} MiB")


if __name__ == "__main__":
    main()
