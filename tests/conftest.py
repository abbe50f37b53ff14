"""The shared fixtures: real beamline IOC processes on loopback, on ports of this test run's own.

``ioc`` is the session's IOC (prefix ``BL:``, time scale 100); ``module_ioc`` starts an IOC a
test module shares and ``spawn_ioc`` IOCs of one test's own, each with a prefix of its own.
Every client of the run searches all their ports. The CA helpers are in ``tests/ca.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import ophyd  # noqa: F401  (before any test module imports epics, see below)
import pytest

from beamline_shared.launcher import IOCProcess, ca_environment, free_port, start_repeater

# ophyd's import points pyepics at epicscorelibs' libca (epicscorelibs.path.pyepics), the one
# ophyd-async and p4p load too, as every test process has it; imported after a test module's
# `import epics`, epicscorelibs warns "must be imported before epics.ca". libca itself, and the
# CA environment it reads (pytest_configure below), load only with the first channel.

SESSION_TIME_SCALE = 100.0  # simulated seconds per wall second, for every IOC the tests start
CLEAN_EXIT = (0, -signal.SIGINT, 130)  # SIGINT (as Ctrl-C) ends the IOC cleanly; anything else is a crash

# Port 0 is the session IOC's; 1-3 are for an IOC a test module starts by hand (IOCProcess;
# module_ioc is simpler), 4 is module_ioc's, the rest are spawn_ioc's. The CA repeater every
# client of the run registers with has a port of its own, outside the search list: a repeater
# that took a spawn_ioc port while it was free would receive the clients' searches.
PORTS = [free_port() for _ in range(10)]
SESSION_PORT, MODULE_PORT, TEST_PORTS = PORTS[0], PORTS[4], PORTS[5:]
REPEATER_PORT = next(port for port in iter(free_port, None) if port not in PORTS)


def pytest_configure(config: pytest.Config) -> None:
    """The CA environment of every client in the run, set before any client library reads it
    (libca reads it once)."""
    os.environ.update(ca_environment(SESSION_PORT, search_ports=PORTS))
    start_repeater(REPEATER_PORT)  # one for the run, as a host has; child processes inherit its port
    os.environ["BEAMLINE_LIVE"] = "0"
    os.environ.setdefault("MPLBACKEND", "Agg")
    # A shell starting pytest in the background (``cmd &`` in a script, nohup) ignores SIGINT,
    # and every IOC would inherit that and could not be stopped as by Ctrl-C.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class IOCs:
    """IOCs started on a fixed set of ports, logging into one directory. :meth:`stop_all` stops
    each as Ctrl-C does and reports any that crashed or would not stop."""

    def __init__(self, ports: list[int], directory: Path) -> None:
        self.ports = list(ports)
        self.directory = directory
        self.started: list[IOCProcess] = []

    def start(self, prefix: str, cls: type[IOCProcess] = IOCProcess, **kwargs) -> IOCProcess:
        """Start an IOC serving ``prefix`` (at time scale 100, seed 7, its data root and log in
        the directory, unless given) and wait until it answers."""
        if not self.ports:
            raise RuntimeError(f"no port left for another IOC ({len(self.started)} started)")
        name = prefix.strip(":") or "_"
        kwargs.setdefault("data_root", self.directory / f"data-{name}")
        kwargs.setdefault("log_path", self.directory / f"ioc-{name}.log")
        kwargs.setdefault("time_scale", SESSION_TIME_SCALE)
        kwargs.setdefault("seed", 7)
        kwargs.setdefault("exit_with_parent", True)  # a test run that crashes leaves no IOC behind
        proc = cls(prefix=prefix, port=self.ports.pop(0), **kwargs)
        self.started.append(proc)
        return proc.start()

    def stop_all(self) -> None:
        """Stop every IOC still running by SIGINT, as Ctrl-C does, and fail if one does not exit
        cleanly within 10 s, or had crashed. One the test stopped or SIGKILLed itself
        (``IOCProcess.stop``/``kill``) is its own business."""
        problems = []
        for proc in self.started:
            if proc.alive():
                proc.stop(timeout=10)  # SIGINT; SIGKILL after 10 s
                if proc.proc.returncode not in CLEAN_EXIT:
                    problems.append(f"{proc.prefix} did not exit cleanly on SIGINT ({proc.proc.returncode}); "
                                    f"see {proc.log_path}")
            else:
                proc.stop()  # closes its log
                code = proc.proc.returncode if proc.proc else 0
                if code not in CLEAN_EXIT and code != -signal.SIGKILL:
                    problems.append(f"{proc.prefix} crashed ({code}); see {proc.log_path}")
        assert not problems, "\n".join(problems)


MINUTE_LONG = "test_no_repeater_message_a_minute_into_a_session"
_minute_long_collected = pytest.StashKey[bool]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[_minute_long_collected] = any(item.name == MINUTE_LONG for item in items)


@pytest.fixture(scope="session", autouse=True)
def minute_old_session(request, tmp_path_factory) -> Iterator[subprocess.Popen | None]:
    """A session process, started with the run when the test that reads what it printed a
    minute in was collected, so that minute overlaps the other tests. Started without a CA
    repeater of the run's: it starts its own, as a user's session does."""
    if not request.config.stash.get(_minute_long_collected, False):
        yield None
        return
    request.getfixturevalue("ioc")
    directory = tmp_path_factory.mktemp("minute-old-session")
    env = {**os.environ, "BEAMLINE_DATABROKER_DIR": str(directory / "db"), "PATH": "/usr/bin:/bin"}
    env.pop("EPICS_CA_REPEATER_PORT", None)
    code = ("import time\nfrom beamline.session import make_session\n"
            "s = make_session('BL:', live=False, timeout=10)\nprint(s['I'].get(), flush=True)\ntime.sleep(62)\n")
    with open(directory / "stdout", "w") as stdout, open(directory / "stderr", "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=stdout, stderr=stderr,
                                cwd=Path(__file__).resolve().parents[1])
    proc.stdout_path, proc.stderr_path = directory / "stdout", directory / "stderr"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """The session IOC's data root."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def ioc(data_root, tmp_path_factory) -> Iterator[IOCProcess]:
    """The session's IOC, prefix ``BL:``, at time scale 100, TopUp ring unless a test changes it."""
    iocs = IOCs([SESSION_PORT], tmp_path_factory.mktemp("logs"))
    yield iocs.start("BL:", data_root=data_root, seed=12345)
    iocs.stop_all()


@pytest.fixture(scope="module")
def module_ioc(tmp_path_factory) -> Iterator[Callable[..., IOCProcess]]:
    """``module_ioc(prefix, **IOCProcess options)`` starts the one IOC a test module shares."""
    iocs = IOCs([MODULE_PORT], tmp_path_factory.mktemp("module-ioc"))
    yield iocs.start
    iocs.stop_all()


@pytest.fixture
def spawn_ioc(tmp_path) -> Iterator[Callable[..., IOCProcess]]:
    """``spawn_ioc(prefix, cls=IOCProcess, **IOCProcess options)`` starts an IOC for this test
    (up to five); all are stopped after it, and must not have crashed."""
    iocs = IOCs(TEST_PORTS, tmp_path)
    yield iocs.start
    iocs.stop_all()


@pytest.fixture
def caproto_ctx():
    """caproto's threading client, the second of the three client libraries the tests use."""
    from caproto.threading.client import Context

    ctx = Context()
    yield ctx
    ctx.disconnect()


@contextlib.contextmanager
def time_scale(value: float, prefix: str = "BL:") -> Iterator[None]:
    """Run the IOC at another time scale for the duration of a block."""
    import epics

    old = epics.caget(f"{prefix}sim:TimeScale", timeout=5)
    epics.caput(f"{prefix}sim:TimeScale", value, wait=True, timeout=5)
    try:
        yield
    finally:
        epics.caput(f"{prefix}sim:TimeScale", old, wait=True, timeout=5)


def have_root() -> bool:
    """True if this process may mount file systems (CI runs as root)."""
    return os.geteuid() == 0 and shutil.which("mount") is not None


def eventually(check: Callable[[], object], timeout: float = 5.0, interval: float = 0.02):
    """Poll ``check()`` until it returns truthy (then return it) or raise AssertionError at ``timeout``.

    Monitors arrive asynchronously to put completions, over CA as with any IOC.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {check}")
        time.sleep(interval)
