"""Fixtures: a real beamline IOC process on loopback, on ports of this test run's own.

The CA client environment is set here, before any test imports pyepics/ophyd, because
libca reads it once. A few ports are reserved up front: the session IOC (prefix ``BL:``)
uses the first; tests that need an IOC of their own (to kill it, or to start it with other
options) use the others with other prefixes, and every client searches all of them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

from beamline_shared.launcher import IOCProcess, ca_environment, free_port

PORTS = [free_port() for _ in range(4)]
os.environ.update(ca_environment(PORTS[0], search_ports=PORTS))
os.environ["BEAMLINE_LIVE"] = "0"
os.environ.setdefault("MPLBACKEND", "Agg")

SESSION_TIME_SCALE = 100.0


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def ioc(data_root, tmp_path_factory):
    """The session's IOC, prefix ``BL:``, at time scale 100, Constant ring unless a test changes it."""
    log = tmp_path_factory.mktemp("logs") / "ioc.log"
    proc = IOCProcess(prefix="BL:", data_root=data_root, port=PORTS[0], time_scale=SESSION_TIME_SCALE,
                      seed=12345, log_path=log)
    proc.start()
    yield proc
    proc.stop()
    assert proc.proc.returncode in (0, -2, 130), f"the IOC exited with {proc.proc.returncode}; see {log}"


@pytest.fixture
def spawn_ioc(tmp_path):
    """Start extra IOCs (prefix and port of their own); all are stopped after the test."""
    started: list[IOCProcess] = []
    ports = iter(PORTS[1:])

    def spawn(prefix: str, **kwargs) -> IOCProcess:
        kwargs.setdefault("data_root", tmp_path / f"data-{prefix.strip(':')}")
        kwargs.setdefault("log_path", tmp_path / f"ioc-{prefix.strip(':')}.log")
        proc = IOCProcess(prefix=prefix, port=next(ports), **kwargs)
        started.append(proc)
        return proc.start()

    yield spawn
    for proc in started:
        proc.stop()


@pytest.fixture
def caproto_ctx():
    """caproto's threading client, the second of the three client libraries the tests use."""
    from caproto.threading.client import Context

    ctx = Context()
    yield ctx
    ctx.disconnect()


@contextlib.contextmanager
def time_scale(value: float, prefix: str = "BL:"):
    """Run the IOC at another time scale for the duration of a block."""
    import epics

    old = epics.caget(f"{prefix}sim:TimeScale", timeout=5)
    epics.caput(f"{prefix}sim:TimeScale", value, wait=True, timeout=5)
    try:
        yield
    finally:
        epics.caput(f"{prefix}sim:TimeScale", old, wait=True, timeout=5)


def have_root() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


def eventually(check, timeout: float = 5.0, interval: float = 0.02):
    """Poll ``check()`` until it returns truthy (then return it) or raise AssertionError at ``timeout``.

    Monitors arrive asynchronously to put completions, over CA as with any IOC.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {check}")
        time.sleep(interval)
