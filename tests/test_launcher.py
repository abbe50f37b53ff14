"""The launcher's IOCs: one started with ``exit_with_parent`` stops when its starter dies unasked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from beamline_shared.launcher import free_port

from .ca import good_acquisition
from .conftest import eventually

ROOT = Path(__file__).resolve().parents[1]

STARTER = """
import os, sys
from beamline_shared.launcher import IOCProcess
ioc = IOCProcess(prefix="ORPH:", port=int(sys.argv[1]), data_root=sys.argv[2], time_scale=100,
                 exit_with_parent=sys.argv[3] == "1").start()
print(ioc.pid, flush=True)
os._exit(1)  # dies without stopping it, as a crashed test run or session does
"""


def _start_and_die(tmp_path: Path, exit_with_parent: bool) -> int:
    out = subprocess.run([sys.executable, "-c", STARTER, str(free_port()), str(tmp_path), str(int(exit_with_parent))],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    return int(out.stdout.split()[-1])


def _alive(pid: int) -> bool:
    """Running: an exited IOC whose starter is gone is a zombie until init reaps it."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_an_ioc_started_with_exit_with_parent_stops_when_its_starter_dies(tmp_path):
    pid = _start_and_die(tmp_path, exit_with_parent=True)
    assert eventually(lambda: not _alive(pid), timeout=15)


def test_an_ioc_started_without_it_keeps_serving_as_make_ioc_leaves_it(tmp_path):
    pid = _start_and_die(tmp_path, exit_with_parent=False)
    try:
        assert _alive(pid)
    finally:
        os.kill(pid, 2)
        eventually(lambda: not _alive(pid), timeout=15)


def test_worker_threads_carry_their_names_for_the_os(spawn_ioc):
    """``ps -L``/``top -H`` tell the IOC's threads apart: the camera's frame and file threads
    are named (ioc/threads.py), and the main thread keeps the process's name."""
    proc = spawn_ioc("THR:")
    good_acquisition("THR:", Path(proc.data_root) / "frames")  # TIFF1 writes: its thread exists
    task = Path(f"/proc/{proc.pid}/task")
    names = {int(tid.name): (tid / "comm").read_text().strip() for tid in task.iterdir()}
    assert {"dot-rng", "dot-tiff"} <= set(names.values()), names
    assert names[proc.pid] == psutil.Process(proc.pid).name()
