"""``python -m bench.ab``: one figure of two versions of the code, measured in turn (paired ratios).

    python -m bench.ab BASE                       # the IOC alone, BASE (a git revision) against this tree
    python -m bench.ab BASE HEAD --row scan       # the scan at time scale 1, two revisions, IOC and client
    python -m bench.ab BASE --row ioc --exposure 0.05 --frames 60 --repeats 8 --profile /tmp/prof

Each side is a source tree (``.`` for the working tree, else a revision ``git archive`` writes to
a temporary directory) whose IOC runs from that tree on a free loopback port. ``--row ioc``
measures the IOC alone from this process (pyepics put with completion on ``cam1:Acquire``, TIFF1
saving, time scale 1: :func:`bench.overhead.ioc_overhead_ms`); ``--row scan`` runs
``count([dot, I])`` at time scale 1 in a client process started from the same tree, so a
change to either side of CA is measured. The repeats alternate in the balanced order AB BA BA AB
and the paired ratios' median is printed: on a shared machine the absolute times drift, the
ratio of neighbours much less. ``--profile DIR`` records py-spy profiles of one more run of each
side (the IOC, and the client for ``--row scan``) and prints their busiest functions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from . import env

ROOT = Path(__file__).resolve().parents[1]

# Runs in a client process from a side's tree: connects once, then one scan per "go" line.
CLIENT = textwrap.dedent("""
    import json, os, sys, warnings
    warnings.filterwarnings("ignore")
    from pathlib import Path
    import epics, ophyd  # noqa: F401
    from bench.scan import Scanner, connect_devices, set_time_scale
    prefix, data_root, storage, exposure, frames = sys.argv[1:6]
    exposure, frames = float(exposure), int(frames)
    scanner = Scanner(Path(storage))
    devices = connect_devices(prefix, Path(data_root))
    set_time_scale(prefix, 1.0)
    devices["dot"].exp.set(exposure).wait(10)
    scanner.ours(devices, 5)
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        result = scanner.ours(devices, frames)
        print(json.dumps({"ms": 1000.0 / result.fps - 1000.0 * exposure,
                          "intervals": result.intervals_ms}), flush=True)
""")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (/proc), its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def source_tree(rev: str, workdir: Path) -> Path:
    """The tree of ``rev``: this working tree for ``.``, else ``git archive`` of the revision."""
    if rev == ".":
        return ROOT
    out = workdir / f"src-{rev.replace('/', '_')}"
    out.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


class Side:
    """One version: its IOC (and, for the scan row, its client process)."""

    def __init__(self, name: str, tree: Path, prefix: str, port: int, workdir: Path, extra: list[str]) -> None:
        from beamline_shared.launcher import IOCProcess

        self.name, self.tree, self.prefix = name, tree, prefix
        self.data_root = workdir / f"data-{name}"
        self.ioc = IOCProcess(prefix=prefix, data_root=self.data_root, port=port, time_scale=1.0, seed=1,
                              extra_args=["--ring", "Constant", *extra], log_path=workdir / f"ioc-{name}.log")
        self.client: subprocess.Popen | None = None
        self.workdir = workdir

    def start(self) -> None:
        cwd = os.getcwd()
        os.chdir(self.tree)  # the IOC imports ``ioc`` from its own tree (python -m ioc: the cwd first)
        try:
            self.ioc.start(timeout=60)
        finally:
            os.chdir(cwd)

    def start_client(self, exposure: float, frames: int) -> None:
        environ = {**os.environ, **self.ioc.env, "PYTHONPATH": str(self.tree)}
        self.client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, self.prefix, str(self.data_root), str(self.workdir / f"db-{self.name}"),
             str(exposure), str(frames)],
            cwd=self.tree, env=environ, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        reply = json.loads(self.client.stdout.readline() or "{}")
        if "ready" not in reply:
            raise RuntimeError(f"the {self.name} client did not start")

    def scan_ms(self) -> float:
        self.client.stdin.write("go\n")
        self.client.stdin.flush()
        return json.loads(self.client.stdout.readline())["ms"]

    def stop(self) -> None:
        if self.client is not None:
            self.client.stdin.close()
            try:
                self.client.wait(30)
            except subprocess.TimeoutExpired:
                self.client.kill()
                self.client.wait(10)
        self.ioc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="git revision of side A ('.' for the working tree)")
    parser.add_argument("head", nargs="?", default=".", help="side B (default: the working tree)")
    parser.add_argument("--row", choices=("ioc", "scan"), default="ioc")
    parser.add_argument("--exposure", type=float, default=0.005, help="s (default 0.005)")
    parser.add_argument("--frames", type=int, default=40, help="frames per repeat (default 40)")
    parser.add_argument("--repeats", type=int, default=8, help="alternated repeats (default 8)")
    parser.add_argument("--base-args", default="", help="extra IOC arguments of side A")
    parser.add_argument("--head-args", default="", help="extra IOC arguments of side B")
    parser.add_argument("--profile", type=Path, help="py-spy profiles of one more run of each side into DIR")
    args = parser.parse_args(argv)
    ports = env.configure(2)
    import warnings

    warnings.filterwarnings("ignore", message="epicscorelibs.path.pyepics must be imported")
    import epics  # noqa: F401 (libca loaded after the environment is set)
    import ophyd  # noqa: F401

    from .overhead import ioc_overhead_ms, prepare_ioc_only
    from .timing import alternate

    workdir = Path(tempfile.mkdtemp(prefix="beamline-bench-ab-"))
    sides: list[Side] = []
    try:
        for name, rev, prefix, port, extra in (("A", args.base, "ABA:", ports[0], args.base_args),
                                               ("B", args.head, "ABB:", ports[1], args.head_args)):
            side = Side(name, source_tree(rev, workdir), prefix, port, workdir, extra.split())
            side.start()
            sides.append(side)
        a, b = sides
        if args.row == "ioc":
            for side in sides:
                prepare_ioc_only(side.prefix, side.data_root / "ioc-only")
            measure = [lambda s=s: ioc_overhead_ms(s.prefix, args.exposure, args.frames) for s in sides]
            for m in measure:  # warm-up
                m()
        else:
            for side in sides:
                side.start_client(args.exposure, args.frames)
            measure = [lambda s=s: s.scan_ms() for s in sides]
        cpu = {side.name: [] for side in sides}
        frames = args.frames

        def counted(side: Side, m):
            def run() -> float:
                pids = [side.ioc.pid] + ([side.client.pid] if side.client else [])
                c0 = [cpu_seconds(p) for p in pids]
                value = m()
                cpu[side.name].append([1e3 * (cpu_seconds(p) - c) / frames for p, c in zip(pids, c0, strict=True)])
                return value
            return run

        measure = [counted(side, m) for side, m in zip(sides, measure, strict=True)]
        t0 = time.monotonic()
        xb, xa, ratio = alternate(args.repeats, measure[1], measure[0])  # ratio: B / A
        print(f"{args.row} row, {args.exposure:g} s exposure, {args.frames} frames x {args.repeats} repeats "
              f"({time.monotonic() - t0:.0f} s, load {os.getloadavg()[0]:.1f}); ms per frame above the exposure")
        print(f"  A {args.base} {args.base_args}: " + ", ".join(f"{v:.2f}" for v in xa.values)
              + f"  median {xa.median:.2f}")
        print(f"  B {args.head} {args.head_args}: " + ", ".join(f"{v:.2f}" for v in xb.values)
              + f"  median {xb.median:.2f}")
        print("  B/A paired ratios: " + ", ".join(f"{v:.2f}" for v in ratio.values)
              + f"  median {ratio.median:.3f}; B - A medians {xb.median - xa.median:+.2f} ms")
        import statistics

        for what, i in (("IOC", 0), ("client", 1)):
            if all(v and len(v[0]) > i for v in cpu.values()):
                ca, cb = ([statistics.median(r[i] for r in cpu[n]) for n in "AB"])
                print(f"  {what} CPU per frame (ms, median of repeats, 10 ms ticks): A {ca:.2f}, B {cb:.2f}, "
                      f"B/A {cb / ca if ca else float('nan'):.2f}")
        if args.profile:
            profile_sides(sides, measure, args.profile, args.row == "scan", workdir)
    finally:
        for side in sides:
            side.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def profile_sides(sides: list[Side], measure: list, directory: Path, client: bool, workdir: Path) -> None:
    """One more run of each side under py-spy; the profiles go to ``directory``, a summary to stdout."""
    from . import profile

    for side, m in zip(sides, measure, strict=True):
        targets = {f"{side.name}-ioc": side.ioc.pid}
        if client:
            targets[f"{side.name}-client"] = side.client.pid
        with profile.recording(targets, directory, workdir / "py-spy.log") as written:
            m()
        for name, path in written.items():
            print(profile.summary(name, path, n=8, max_threads=4))


if __name__ == "__main__":
    sys.exit(main())
