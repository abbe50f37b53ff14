"""What the reliability tests have of their own: a data root with a watched outside, IOCs
that cannot write big files, and directories that cannot be written or fill up.

These tests break IOCs on purpose (bad puts, full disks, malformed CA), so none of them
touches the session IOC: they start their own with ``spawn_ioc``/``module_ioc``
(tests/conftest.py), usually in a :class:`World`: its data root is ``<top>/root``, the rest
of ``<top>`` is "outside", and :meth:`World.assert_outside_untouched` checks that nothing
there changed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from beamline_shared.launcher import IOCProcess

from ..conftest import PORTS, have_root

# The old name of the ports test_malformed_ca.py uses for an IOC it starts and stops itself.
RELIABILITY_PORTS = PORTS[1:4]


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


@pytest.fixture
def own_ioc(spawn_ioc, tmp_path):
    """``own_ioc(prefix, world=None, cls=IOCProcess, **options)``: ``spawn_ioc`` with the IOC's
    data root in ``world`` (a new one by default)."""

    def start(prefix: str, world: World | None = None, cls: type[IOCProcess] = IOCProcess, **kwargs) -> IOCProcess:
        world = world or World(tmp_path / f"world-{prefix.strip(':')}")
        return spawn_ioc(prefix, cls=cls, data_root=world.root, **kwargs)

    return start


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
