"""EPICS base's caget/caput/camonitor/cainfo in .venv/bin behave as EPICS base's programs: Ctrl-C ends
camonitor quietly (killed by SIGINT: status 130 in a shell), exit status and stderr are the tool's,
and a refused put says what CA says, with the reason where the README points (plain caput's
exception context, the record's alarm, the IOC's log)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from .conftest import eventually

BIN = Path(sys.executable).parent
PV = "BL:dot:cam1:AcquireTime"


def tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ))


def test_ctrl_c_ends_camonitor_quietly(ioc):
    # Ctrl-C in a terminal sends SIGINT to the foreground job's process group: a group of its own here.
    proc = subprocess.Popen([str(BIN / "camonitor"), "BL:ring:current"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ), start_new_session=True)
    try:
        assert "BL:ring:current" in proc.stdout.readline()
        # The process is EPICS base's camonitor itself, not a wrapper around it.
        assert Path(psutil.Process(proc.pid).exe()).name == "camonitor"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGINT  # what a shell reports as 130
    assert err == ""


def test_exit_status_and_errors_are_the_tools_own(ioc):
    done = tool("caget", "-w", "0.5", "BL:no:such:pv")
    assert done.returncode == 1
    assert done.stdout == "" and "BL:no:such:pv" in done.stderr and "not found" in done.stderr
    done = tool("caget", "-t", "BL:ring:current")
    assert done.returncode == 0 and float(done.stdout) > 0


def test_a_refused_put_says_why_where_the_readme_says(ioc):
    before = tool("caget", "-t", PV).stdout.strip()
    try:
        # A put with completion: CA's reply carries a status code only.
        done = tool("caput", "-c", PV, "-1")
        assert done.returncode == 1
        assert "Channel write request failed" in done.stderr
        # A plain put: libca prints the IOC's message as the exception's context.
        done = tool("caput", PV, "-1")
        assert f"Python exception: PutRefused {PV}: Cannot write data -1.0. Limits are set to 0.0 and 3600.0." \
            in done.stderr
        # The record's alarm says it was refused, until the next good put.
        assert tool("caget", "-a", PV).stdout.split()[-2:] == ["WRITE", "MAJOR"]
        # And the IOC's log says why.
        eventually(lambda: f"Put to {PV} refused: PutRefused: {PV}: Cannot write data -1.0" in
                   ioc.log_path.read_text())
    finally:
        assert tool("caput", PV, before).returncode == 0
    assert tool("caget", "-t", PV).stdout.strip() == before
    assert tool("caget", "-a", PV).stdout.split()[-1] != "MAJOR"


@pytest.mark.parametrize("name", ["caget", "caput", "camonitor", "cainfo"])
def test_each_tool_is_run_in_place(name):
    """The console script execs EPICS base's program: ``-h`` is the program's own usage, on its status."""
    done = tool(name, "-h")
    assert done.returncode == 0 and f"Usage: {name}" in done.stderr
