"""Where the beamline keeps its files, and how a client finds a running IOC.

Pure path conventions shared by the IOC and its clients: no EPICS here.
"""

from __future__ import annotations

import json
import os
import re
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


def read_connection_file(prefix: str, data_root: Path | None = None) -> dict | None:
    """The connection details of a live IOC serving ``prefix``, or None if there is none."""
    path = connection_file(prefix, data_root)
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)  # still running?
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info
