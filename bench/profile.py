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


def _is_idle(leaf: str) -> bool:
    """A stack whose innermost frame waits (select, poll, sleep, a lock, CA's pend_event...)."""
    func = leaf.split(" (")[0].rsplit(".", 1)[-1].lstrip("_")
    return func.startswith(IDLE)


IDLE = ("select", "poll", "wait", "sleep", "acquire", "worker", "epoll", "recv_into", "accept", "recv",
        "pend_event", "get_nowait")


def threads(path: Path, n: int = 5) -> list[tuple[str, int, int, list[tuple[str, float]]]]:
    """Per thread of a raw py-spy file: ``(name, busy samples, all samples, top self functions)``, busiest first.

    Busy samples are those whose innermost frame is not waiting; a thread waiting for the
    GIL shows the frame it is in, so busy includes time spent waiting for the GIL.
    """
    busy: dict[str, Counter[str]] = {}
    seen: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        raw = stack.split(";")
        thread = raw[0].split("): ", 1)[-1] if raw[0].startswith("thread ") else "?"
        frames = [_frame_name(f) for f in raw if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        seen[thread] += int(count)
        if not _is_idle(frames[-1]):
            busy.setdefault(thread, Counter())[frames[-1]] += int(count)
    out = []
    for thread, total in seen.items():
        tops = busy.get(thread, Counter())
        b = sum(tops.values())
        out.append((thread, b, total, [(f, c / b) for f, c in tops.most_common(n)] if b else []))
    return sorted(out, key=lambda item: -item[1])


def summary(name: str, path: Path, n: int = 5, max_threads: int = 3) -> str:
    """One note line: the busiest threads of one profile and their busiest functions (self samples)."""
    parts = []
    for thread, busy, total, tops in threads(path, n)[:max_threads]:
        if not busy:
            continue
        parts.append(f"thread {thread} busy {busy}/{total} samples: "
                     + ", ".join(f"{f} {100 * x:.0f} %" for f, x in tops))
    if not parts:
        return f"profile {name} ({path.name}): no busy samples"
    return f"profile {name} ({path.name}, {RATE}/s; self time of busy samples): " + "; ".join(parts)
