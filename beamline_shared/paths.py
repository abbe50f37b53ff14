"""Where the beamline keeps its files, and how a client finds a running IOC.

Pure path conventions shared by the IOC and its clients: no EPICS here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path


def default_data_root() -> Path:
    """``$BEAMLINE_DATA_ROOT``, else ``$XDG_DATA_HOME/beamline-sim`` (``~/.local/share/beamline-sim``)."""
    if os.environ.get("BEAMLINE_DATA_ROOT"):
        return Path(os.environ["BEAMLINE_DATA_ROOT"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "beamline-sim"


def connection_file(prefix: str, data_root: Path | None = None) -> Path:
    """The file a running IOC leaves so clients can find its port: ``<data root>/ioc-<prefix>.json``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", prefix) or "_"
    return (data_root or default_data_root()) / f"ioc-{safe}.json"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs and, where /proc says, is a beamline IOC (PIDs get reused)."""
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        pass  # exists, someone else's
    except (OSError, ValueError, OverflowError):
        return False
    try:
        cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc here: trust the PID
    return b"ioc" in cmdline


def read_connection_file(prefix: str, data_root: Path | None = None) -> dict | None:
    """The connection details of a live IOC serving ``prefix``, or None if there is none (or it is stale)."""
    path = connection_file(prefix, data_root)
    try:
        info = json.loads(path.read_text())
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if pid_alive(pid) else None


class PrefixInUse(RuntimeError):
    """Another live IOC already serves this prefix from this data root."""


def claim_file(path: Path, info: dict, *, alive: Callable[[int], bool], in_use: Callable[[dict, int], Exception],
               contended: Exception, mode: int = 0o644) -> dict | None:
    """Create ``path`` exclusively for this process, holding ``info`` (which includes its ``pid``)
    as JSON, so that two processes starting at once cannot both claim it. A file whose PID is
    ``alive`` (another process's) is never overwritten: ``in_use(its contents, its pid)`` is
    raised (``contended`` if the file keeps reappearing). A stale one is replaced and its
    contents returned (None if there was none)."""
    stale = None
    for _ in range(5):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            try:
                other = json.loads(path.read_text())
                other_pid = int(other["pid"])
            except FileNotFoundError:
                continue  # removed meanwhile: try again
            except (OSError, ValueError, KeyError, TypeError):
                other, other_pid = {}, None  # unreadable: a crash mid-write
            if other_pid is not None and other_pid != os.getpid() and alive(other_pid):
                raise in_use(other, other_pid) from None
            stale = other
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(info, f, indent=1)
        return stale
    raise contended


def claim_connection_file(prefix: str, data_root: Path, info: dict) -> tuple[Path, dict | None]:
    """Create ``ioc-<prefix>.json`` for this process (``info`` includes its ``pid``).

    Returns the path and the stale file's contents if one (its PID gone) was replaced.
    Raises :class:`PrefixInUse` if a live IOC owns the file: it is never overwritten.
    The file is created exclusively, so two IOCs starting at once cannot both claim it.
    """
    path = connection_file(prefix, data_root)

    def in_use(other: dict, pid: int) -> PrefixInUse:
        return PrefixInUse(f"an IOC with prefix {prefix!r} is already running: PID {pid}, port {other.get('port')}, "
                           f"data root {data_root} ({path}). Use it, stop it (kill {pid}), or start this one "
                           f"with another --prefix or --data-root.")

    contended = PrefixInUse(f"could not create {path}: another IOC keeps creating it")
    return path, claim_file(path, info, alive=pid_alive, in_use=in_use, contended=contended)


def release_connection_file(path: Path, pid: int) -> None:
    """Remove ``path`` if it is ``pid``'s (an IOC removes only its own connection file)."""
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass
