"""``python -m bench.timeline``: where the time of one Acquire put-with-completion goes, stage by stage.

    python -m bench.timeline                       # 0.005 and 0.05 s exposures, 100 frames each
    python -m bench.timeline --exposure 0.005 --frames 60 --ioc-args "--readout-row-time 0"

Starts an IOC from this tree with ``BEAMLINE_TIMELINE`` on (:mod:`ioc.server.timeline`: the
driver, the plugins and the put's reply mark their stages with ``time.monotonic()``), sets it
up as the benchmark's IOC-alone row does (:func:`bench.overhead.prepare_ioc_only`: TIFF1
saving, Stats1 on, time scale 1), and puts ``cam1:Acquire`` = 1 with completion (pyepics) once
per frame, timing each put on the same clock. Prints, per stage, the median and 95th
percentile of its time since the client sent the put, and the median of its step from the
stage before; then the IOC's CPU per frame by thread (``/proc/PID/task``). Marks of a frame
made ahead (on the rng thread while the client worked) come before its put: their times are
negative.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import env

ORDER = ("put", "make_start", "made", "exp_start", "exp_end", "readout_start", "readout_end",
         "deliver", "plugin_start", "tiff_written", "plugin_done", "acquire0",
         "put_done", "reply_send")


def read_marks(path: Path) -> list[tuple[float, str]]:
    """(t, stage[:detail]) of every mark in the file, in time order."""
    marks = []
    for line in path.read_text().splitlines():
        t, stage, *detail = line.split(" ", 2)
        name = f"{stage}:{detail[0]}" if detail and detail[0] else stage
        marks.append((float(t), name))
    return sorted(marks)


def frames_of(marks: list[tuple[float, str]], puts: list[tuple[float, float]]) -> list[dict[str, float]]:
    """Each client put's stages, in s since it was sent: the marks after the previous frame's
    ``acquire0`` up to this put's completion (the last of each name: a frame made ahead is
    marked after the previous frame's Acquire 0, before this put)."""
    frames = []
    start = puts[0][0] - 1.0
    for sent, done in puts:
        stages: dict[str, float] = {}
        for t, name in marks:
            if start < t <= done:
                stages[name] = t - sent
        stages["client_done"] = done - sent
        frames.append(stages)
        start = sent + stages.get("acquire0", done - sent)
    return frames


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds each thread of process ``pid`` has used, by its OS name (the IOC names its
    workers, :mod:`ioc.threads`; the main thread is ``main``)."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = "main" if int(tid) == pid else f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        used[name] = used.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return used


def cpu_report(before: dict[str, float], after: dict[str, float], frames: int) -> str:
    """The IOC's CPU per frame by thread, busiest first (ms; the kernel counts in 10 ms ticks)."""
    per = {name: (after[name] - before.get(name, 0.0)) / frames * 1e3 for name in after}
    busy = sorted(((ms, name) for name, ms in per.items() if ms > 0), reverse=True)
    return (f"IOC CPU per frame (ms): {sum(per.values()):.2f} in all; "
            + ", ".join(f"{name} {ms:.2f}" for ms, name in busy))


def stage_key(name: str) -> tuple[int, str]:
    base = name.split(":", 1)[0]
    return (ORDER.index(base) if base in ORDER else len(ORDER), name)


def report(frames: list[dict[str, float]], exposure: float) -> str:
    """A table: per stage, median and p95 ms since the put was sent, and the median step."""
    names = sorted({n for f in frames for n in f if n != "client_done"}, key=stage_key) + ["client_done"]
    steady = frames[1:] if len(frames) > 1 else frames
    lines = [f"{'stage':28s} {'n':>4s} {'median':>8s} {'p95':>8s} {'step':>7s}  (ms since the put was sent)"]
    previous = None
    for name in names:
        values = [1e3 * f[name] for f in steady if name in f]
        if not values:
            continue
        q = statistics.quantiles(values, n=20) if len(values) > 1 else values * 19
        step = ""
        if previous is not None:
            steps = [1e3 * (f[name] - f[previous]) for f in steady if name in f and previous in f]
            if steps:
                step = f"{statistics.median(steps):+7.2f}"
        lines.append(f"{name:28s} {len(values):4d} {statistics.median(values):8.2f} {q[18]:8.2f} {step:>7s}")
        previous = name
    total = [1e3 * (f["client_done"] - exposure) for f in steady]
    lines.append(f"overhead above the exposure: median {statistics.median(total):.2f} ms, "
                 f"p95 {statistics.quantiles(total, n=20)[18]:.2f} ms over {len(steady)} frames")
    spans = {"exposure": ("exp_start", "exp_end"), "readout": ("exp_end", "readout_end"),
             "plugins": ("deliver", "acquire0"), "made ahead": ("make_start", "made")}
    ports = sorted({n.split(":", 1)[1] for f in steady for n in f if n.startswith("plugin_start:")})
    spans.update({port: (f"plugin_start:{port}", f"plugin_done:{port}") for port in ports})
    parts = []
    for what, (a, b) in spans.items():
        d = [1e3 * (f[b] - f[a]) for f in steady if a in f and b in f]
        if d:
            parts.append(f"{what} {statistics.median(d):.2f}")
    lines.append("spans (median ms): " + ", ".join(parts))
    ahead = sum(1 for f in steady if "exp_start:ahead" in f)
    lines.append(f"frames made ahead: {ahead} of {len(steady)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.timeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--exposure", type=float, action="append", help="s (repeatable; default 0.005 and 0.05)")
    parser.add_argument("--frames", type=int, default=100, help="frames per exposure (default 100)")
    parser.add_argument("--ioc-args", default="", help="extra IOC arguments")
    args = parser.parse_args(argv)
    exposures = args.exposure or [0.005, 0.05]
    (port,) = env.configure(1)
    workdir = Path(tempfile.mkdtemp(prefix="beamline-timeline-"))
    marks_path = workdir / "timeline.txt"
    os.environ["BEAMLINE_TIMELINE"] = str(marks_path)
    import warnings

    warnings.filterwarnings("ignore", message="epicscorelibs.path.pyepics must be imported")
    import epics

    from beamline_shared.launcher import IOCProcess

    from .overhead import _put, prepare_ioc_only
    from .scan import set_time_scale

    prefix = "TL:"
    ioc = IOCProcess(prefix=prefix, data_root=workdir / "data", port=port, time_scale=1.0, seed=1,
                     extra_args=["--ring", "Constant", *args.ioc_args.split()], log_path=workdir / "ioc.log")
    ioc.start(timeout=60)
    del os.environ["BEAMLINE_TIMELINE"]
    try:
        prepare_ioc_only(prefix, workdir / "data" / "frames")
        set_time_scale(prefix, 1.0)
        acquire = epics.PV(f"{prefix}dot:cam1:Acquire")
        acquire.wait_for_connection(10)
        for exposure in exposures:
            _put(f"{prefix}dot:cam1:AcquireTime", exposure)
            for _ in range(5):  # warm-up
                acquire.put(1, wait=True, timeout=30)
            puts = []
            cpu = thread_cpu(ioc.pid)
            for _ in range(args.frames):
                t0 = time.monotonic()
                acquire.put(1, wait=True, timeout=30)
                puts.append((t0, time.monotonic()))
            cpu = cpu_report(cpu, thread_cpu(ioc.pid), args.frames)
            time.sleep(0.2)  # the IOC flushes its marks after each reply
            print(f"\n{exposure:g} s exposure, {args.frames} frames, time scale 1, TIFF1 saving "
                  f"(load {os.getloadavg()[0]:.1f}) {args.ioc_args}")
            print(report(frames_of(read_marks(marks_path), puts), exposure))
            print(cpu)
    finally:
        ioc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
