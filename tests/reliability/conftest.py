"""Fixtures for the reliability tests: IOCs of their own in a data root with a watched outside.

These tests start IOCs that they break on purpose (bad puts, full disks, malformed CA), so
none of them touches the session IOC. Each IOC's data root is ``<tmp>/world/root``: the
rest of ``<tmp>/world`` is "outside", and :meth:`World.assert_outside_untouched` checks
that nothing there changed. Ports: this package reserves three free ports of its own (the
module IOC takes the first, per-test IOCs the others) and adds them to the CA address list
every client of the test run searches, before any client library has read it.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from caproto import CaprotoError, CaprotoTimeoutError, ChannelType, ErrorResponseReceived
from caproto.sync import client as sync
from caproto.threading.client import Context

from beamline_shared.launcher import IOCProcess, ca_address_list, free_port

from .. import ca
from ..conftest import have_root

RELIABILITY_PORTS = [free_port() for _ in range(3)]
os.environ["EPICS_CA_ADDR_LIST"] += " " + ca_address_list(RELIABILITY_PORTS)

TIME_SCALE = 100.0
CLEAN_EXIT = (0, -2, 130)  # SIGINT (as Ctrl-C) ends the IOC cleanly; anything else is a crash


# -- the file system around an IOC -----------------------------------------------------------


def tree(path: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every file and directory under ``path`` (not under ``skip``): relative name -> (size, mtime)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(path):
        if skip is not None:
            dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            st = full.lstat()
            found[str(full.relative_to(path))] = (st.st_size, st.st_mtime_ns)
    return found


@dataclass
class World:
    """A data root and the outside around it, with a record of what the outside holds."""

    top: Path

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.outside.mkdir(parents=True, exist_ok=True)
        (self.outside / "victim.txt").write_text("must stay as it is\n")
        self.baseline = self.outside_tree()

    @property
    def root(self) -> Path:
        return self.top / "root"

    @property
    def outside(self) -> Path:
        """A directory next to the root, a natural target for escapes (``root/../outside``)."""
        return self.top / "outside"

    def outside_tree(self) -> dict:
        return tree(self.top, skip=self.root)

    def assert_outside_untouched(self) -> None:
        assert self.outside_tree() == self.baseline, "something was written outside the data root"

    def partial_files(self) -> list[Path]:
        """Temporary files the TIFF writer left anywhere (it must never leave any)."""
        return [p for p in self.top.rglob("*") if p.name.endswith(".partial")]


# -- IOCs of these tests' own ---------------------------------------------------------------


def start_ioc(prefix: str, world: World, port: int, log: Path, **kwargs) -> IOCProcess:
    kwargs.setdefault("time_scale", TIME_SCALE)
    kwargs.setdefault("seed", 7)
    return IOCProcess(prefix=prefix, data_root=world.root, port=port, log_path=log, **kwargs).start()


def stop_cleanly(proc: IOCProcess) -> None:
    """Stop an IOC and check that it was still running and exits as from Ctrl-C: no crash."""
    alive = proc.alive()
    proc.stop()
    assert alive, f"the IOC {proc.prefix} had died; see {proc.log_path}"
    assert proc.proc.returncode in CLEAN_EXIT, f"the IOC exited with {proc.proc.returncode}; see {proc.log_path}"


class FileSizeLimitedIOC(IOCProcess):
    """The IOC under RLIMIT_FSIZE with SIGXFSZ ignored: any file it writes past ``limit``
    bytes fails with EFBIG ("File too large"), a real write failure that needs no root."""

    def __init__(self, *args, limit: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.limit = limit

    def command(self) -> list[str]:
        python, _, module, *args = super().command()  # python -m ioc ARGS
        prelude = ("import resource, runpy, signal; "
                   "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
                   f"resource.setrlimit(resource.RLIMIT_FSIZE, ({self.limit}, {self.limit})); "
                   f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
        return [python, "-c", prelude, *args]


@pytest.fixture
def own_ioc(tmp_path):
    """Start IOCs for one test (up to two at a time, on this package's ports); each is
    checked to have survived and stopped cleanly afterwards."""
    started: list[IOCProcess] = []
    ports = iter(RELIABILITY_PORTS[1:])

    def start(prefix: str, world: World | None = None, cls: type[IOCProcess] = IOCProcess, **kwargs) -> IOCProcess:
        world = world or World(tmp_path / f"world-{prefix.strip(':')}")
        proc = cls(prefix=prefix, data_root=world.root, port=next(ports),
                   log_path=tmp_path / f"ioc-{prefix.strip(':')}.log",
                   **{"time_scale": TIME_SCALE, "seed": 7, **kwargs})
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        stop_cleanly(proc)


@pytest.fixture(scope="module")
def module_ioc(tmp_path_factory):
    """One IOC for a whole module (prefix from the module's ``PREFIX``), in its own world."""

    @contextlib.contextmanager
    def make(prefix: str):
        top = tmp_path_factory.mktemp("world")
        world = World(top)
        proc = start_ioc(prefix, world, RELIABILITY_PORTS[0], tmp_path_factory.mktemp("logs") / "ioc.log")
        try:
            yield proc, world
        finally:
            stop_cleanly(proc)

    return make


# -- talking to an IOC -----------------------------------------------------------------------
#
# Reads go through one long-lived caproto threading client. caproto's sync client opens a
# new SO_REUSEADDR UDP socket per call, and on a busy machine Linux can give it a port
# another such socket holds, so the search reply goes elsewhere and the call times out
# (seen here while other test runs were going); the threading client searches once per PV
# and retries. Only put_error needs the sync client (the threading client drops the
# server's error message), so it retries a search that went astray: nothing was written
# before the search succeeded. Acquire and ordinary puts use pyepics (tests.ca), as a
# user would.

_CONTEXT: list[Context] = []
_PVS: dict[str, object] = {}
SEARCH_LOST = "Timed out while awaiting a response from the search"


def channel(name: str):
    """A connected caproto threading-client PV for ``name``."""
    if name not in _PVS:
        if not _CONTEXT:
            _CONTEXT.append(Context(timeout=10))
        (_PVS[name],) = _CONTEXT[0].get_pvs(name, timeout=10)
        _PVS[name].wait_for_connection(timeout=10)
    return _PVS[name]


def put_error(name: str, value, data_type: ChannelType | None = None) -> str:
    """Put with completion, sent as ``data_type`` (default: the PV's own); the server's error
    message, or '' if it accepted the put. Unlike tests.ca.put_error, this can send a value
    as another type, as a client with a wrong idea of the PV would."""
    for attempt in range(4):
        try:
            sync.write(name, value, notify=True, timeout=5, data_type=data_type, repeater=False)
            return ""
        except ErrorResponseReceived as exc:
            return exc.args[0].error_message.decode("latin-1").rstrip("\0")
        except CaprotoTimeoutError as exc:
            if not str(exc).startswith(SEARCH_LOST) or attempt == 3:
                raise
        except CaprotoError as exc:
            # caproto's sync client keeps its circuits between calls; one to an IOC since
            # restarted on the same port fails once (and is dropped), then a new one works.
            if "Disconnected during initialization" not in str(exc) or attempt == 3:
                raise
    raise AssertionError("unreachable")


def alarm(name: str) -> tuple[int, int]:
    """(status, severity) of a PV's alarm."""
    md = channel(name).read(data_type="time", timeout=10).metadata
    return int(md.status), int(md.severity)


def raw(name: str):
    """A PV's value as served, for before/after comparisons."""
    data = channel(name).read(data_type="native", timeout=10).data
    return data.tolist() if hasattr(data, "tolist") else list(data)


def text(name: str) -> str:
    """A string, enum or char-waveform PV as text."""
    pv = channel(name)
    native = pv.channel.native_data_type
    data = pv.read(data_type=ChannelType.STRING if native == ChannelType.ENUM else "native", timeout=10).data
    if native == ChannelType.CHAR:
        return bytes(data).split(b"\0", 1)[0].decode("utf-8", errors="replace")
    return data[0].decode("latin-1") if isinstance(data[0], bytes) else str(data[0])


def answers(prefix: str) -> bool:
    """True if the IOC answers a CA read (it is up and serving)."""
    try:
        channel(f"{prefix}dot:cam1:Acquire_RBV").read(timeout=10)
        return True
    except Exception:
        return False


def point_tiff(prefix: str, directory: Path, name: str = "good") -> None:
    """TIFF1 saving every frame into ``directory`` (created by the IOC), numbering on from where
    it is (unlike tests.ca.setup_tiff, which starts again at 0)."""
    for suffix, value in (("TIFF1:CreateDirectory", -5), ("TIFF1:FilePath", str(directory)),
                          ("TIFF1:FileName", name), ("TIFF1:FileTemplate", "%s%s_%6.6d.tiff"),
                          ("TIFF1:FileWriteMode", "Single"), ("TIFF1:AutoSave", 1), ("TIFF1:AutoIncrement", 1),
                          ("TIFF1:EnableCallbacks", 1), ("cam1:ImageMode", "Single"), ("cam1:ArrayCallbacks", 1),
                          ("cam1:AcquireTime", 0.001)):
        ca.put(f"{prefix}dot:{suffix}", value)
    assert ca.get(f"{prefix}dot:TIFF1:FilePathExists_RBV") == 1, text(f"{prefix}dot:TIFF1:WriteMessage")


def good_acquisition(prefix: str, directory: Path, name: str = "good") -> Path:
    """What a user does after a mistake: point TIFF1 at a good directory and Acquire with
    put completion. Returns the file, checked to be written, whole, and reported OK."""
    point_tiff(prefix, directory, name)
    ca.acquire(prefix, timeout=30)
    assert text(f"{prefix}dot:TIFF1:WriteStatus") == "Write OK", text(f"{prefix}dot:TIFF1:WriteMessage")
    assert ca.get(f"{prefix}dot:cam1:Acquire_RBV") == 0
    written = Path(text(f"{prefix}dot:TIFF1:FullFileName_RBV"))
    assert written.parent == directory and written.is_file()
    assert not any(p.name.endswith(".partial") for p in directory.iterdir())
    return written


def matches(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


# -- directories a user cannot write --------------------------------------------------------


@contextlib.contextmanager
def unwritable_directory(path: Path):
    """A real directory the IOC cannot write into: a read-only tmpfs when we are root (for
    whom permissions do not stop writes), mode 0o500 otherwise. Always undone."""
    path.mkdir(parents=True, exist_ok=True)
    if have_root():
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], check=True)
        try:
            yield path
        finally:
            unmount(path)
    else:
        path.chmod(0o500)
        try:
            yield path
        finally:
            path.chmod(0o755)


@contextlib.contextmanager
def small_disk(path: Path, size: str = "2m"):
    """A real small file system at ``path`` (tmpfs; needs root). Always unmounted."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        unmount(path)


def unmount(path: Path) -> None:
    """Unmount ``path``; lazily if something still holds it open, so no mount is ever left behind."""
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], check=True)
    assert not os.path.ismount(path)

