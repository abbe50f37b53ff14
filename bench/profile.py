"""py-spy profiles of a scan: the client (this process) and the IOC, as collapsed stacks.

``py-spy record --format raw`` writes one line per distinct stack, ``frame;frame;... count``
(outermost first), which flamegraph.pl or speedscope can draw; :func:`top_functions`
summarises one as the functions with the most samples, self and inclusive.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

RATE = 250  # samples per second


def py_spy() -> str | None:
    """The py-spy executable (the bench extra installs it beside this Python), or None."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def recording(targets: dict[str, int], directory: Path, log: Path) -> Iterator[dict[str, Path]]:
    """Sample each ``{name: pid}`` with py-spy while the block runs; yields ``{name: file}`` written at exit.

    Sampling is non-blocking (the process is not paused), which can tear a stack now and
    then; py-spy then drops that sample. Without py-spy the block runs unprofiled and the
    yielded dict stays empty.
    """
    exe = py_spy()
    written: dict[str, Path] = {}
    procs: list[tuple[str, Path, subprocess.Popen]] = []
    if exe is not None:
        directory.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as out:
            for name, pid in targets.items():
                path = directory / f"profile-{name}.txt"
                cmd = [exe, "record", "--format", "raw", "--rate", str(RATE), "--nonblocking", "--threads",
                       "-o", str(path), "--pid", str(pid)]
                procs.append((name, path, subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)))
        time.sleep(1.0)  # py-spy attaches
    try:
        yield written
    finally:
        for _name, _path, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for name, path, proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            if path.exists() and path.stat().st_size:
                written[name] = path


def _frame_name(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``: one entry per function, not per line."""
    func, _, where = frame.partition(" (")
    filename = os.path.basename(where.rsplit(":", 1)[0].rstrip(")"))
    return f"{func} ({filename})" if filename else func


def top_functions(path: Path, n: int = 8, skip_idle: bool = True) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """``(samples, self, inclusive)`` of a raw py-spy file: the ``n`` functions with most samples, as fractions.

    ``skip_idle`` leaves out stacks whose innermost frame waits (``select``, ``wait``,
    ``sleep``, ``poll``, ``acquire``...): the fractions are of the samples where the thread works.
    """
    selfs: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    idle = ("select", "poll", "wait", "sleep", "acquire", "_worker", "epoll", "recv_into", "accept", "recv",
            "pend_event", "get_nowait")
    generic = ("threading.py", "runners.py", "base_events.py", "events.py", "runpy>", "__main__.py", "thread.py",
               "app.py", "selector_events.py", "tasks.py")
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame_name(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        leaf = frames[-1]
        if skip_idle and leaf.split(" (")[0].rsplit(".", 1)[-1].lstrip("_").startswith(idle):
            continue
        k = int(count)
        total += k
        selfs[leaf] += k
        for name in set(frames):
            if not name.endswith(tuple(g + ")" for g in generic)):
                incl[name] += k
    if not total:
        return 0, [], []
    return (total, [(f, c / total) for f, c in selfs.most_common(n)],
            [(f, c / total) for f, c in incl.most_common(n + 10) if c < total][:n])


def summary(name: str, path: Path, n: int = 8) -> str:
    """One note line: the busiest functions of one profile."""
    total, selfs, incl = top_functions(path, n)
    if not total:
        return f"profile {name} ({path.name}): no working samples"
    return (f"profile {name} ({path.name}, {total} working samples at {RATE}/s): self "
            + ", ".join(f"{f} {100 * x:.0f} %" for f, x in selfs)
            + "; inclusive " + ", ".join(f"{f} {100 * x:.0f} %" for f, x in incl))
