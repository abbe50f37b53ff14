"""Start-up time and memory of the IOC: ``python -m bench.startup [--runs N] [--fields] [--many CxM]``.

Start-up is the wall time from launching ``python -m ioc`` until it answers a CA read of
``dot:cam1:Acquire_RBV`` (what :meth:`IOCProcess.start` waits for); memory is the IOC's
resident set (VmRSS) then. With ``--fields`` the RSS is measured again after every
areaDetector record's ``.DESC`` has been read once (every record's fields built).

``--many 20x100`` measures, beside today's beamline, one IOC process serving a configuration
of 20 cameras (each with cam1:, TIFF1:, HDF1:, image1:, Stats1:) and 100 motors
(:func:`many_config`), ready when it answers a CA read; the rows print as
the benchmark's table (figure | ours | baseline: today's beamline | ratio).
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

    from tools.pvtable import ad_pv_names

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


def many_config(cameras: int, motors: int) -> str:
    """A configuration of one IOC (prefix ``MANY:``) with ``cameras`` cameras ``cam01:``... and
    ``motors`` motors ``mtr:m001``..., the first two of them moving the first camera's spot."""
    lines = ["iocs:", "  - name: many", '    prefix: "MANY:"'] + (["    motors:"] if motors else [])
    for n in range(1, motors + 1):
        moves = {1: ", moves: cam01.x", 2: ", moves: cam01.y"}.get(n, "") if cameras else ""
        lines.append(f'      m{n:03d}: {{pv: "mtr:m{n:03d}"{moves}}}')
    lines += ["    cameras:"] if cameras else []
    for n in range(1, cameras + 1):
        lines.append(f'      cam{n:02d}: {{prefix: "cam{n:02d}:", port: CAM{n:02d}, '
                     "plugins: [TIFF1, HDF1, image1, Stats1]}")
    lines.append('    ring: {pv: "ring:current"}')
    return "\n".join(lines) + "\n"


def measure(root: str, runs: int, **options) -> tuple[list[float], list[float]]:
    """Start-up times (s) and RSS after start-up (MiB) of ``runs`` IOCs made with ``options``."""
    times, rss = [], []
    for _ in range(runs):
        proc = IOCProcess(data_root=root, **options)
        t0 = time.monotonic()
        proc.start(timeout=120)
        try:
            times.append(time.monotonic() - t0)
            rss.append(rss_mb(proc.pid))
        finally:
            proc.stop()
    return times, rss


def many_rows(root: str, cameras: int, motors: int, runs: int) -> list:
    """The benchmark rows: start-up and memory of ``cameras`` x ``motors`` against today's beamline."""
    from .report import Row, fmt

    path = Path(root) / "many.yaml"
    path.write_text(many_config(cameras, motors))
    base_t, base_rss, many_t, many_rss = [], [], [], []
    for _ in range(runs):  # alternating, so that the machine's load falls on both alike
        t, r = measure(root, 1, prefix="SU:", extra_args=["--no-autosave"])
        base_t += t
        base_rss += r
        t, r = measure(root, 1, config=path, extra_args=["--no-autosave"])
        many_t += t
        many_rss += r
    mt, bt = statistics.median(many_t), statistics.median(base_t)
    mr, br = statistics.median(many_rss), statistics.median(base_rss)
    what = f"{cameras} cameras + {motors} motors in one IOC"
    return [Row(f"start-up, {what} (s)", fmt(mt, 2), fmt(bt, 2), f"{mt / bt:.1f}x",
                "< 10 s", mt < 10),
            Row(f"  RSS after start-up, {what} (MiB)", fmt(mr), fmt(br), f"{mr / br:.1f}x", "", None)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fields", action="store_true", help="also build every record's fields and measure again")
    parser.add_argument("--many", metavar="CxM",
                        help="also one IOC of C cameras and M motors (e.g. 20x100), against today's beamline")
    args = parser.parse_args(argv)
    if args.many:
        from .report import table

        cameras, motors = (int(v) for v in args.many.lower().split("x"))
        with tempfile.TemporaryDirectory() as root:
            print(table(many_rows(root, cameras, motors, args.runs)))
        return
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
