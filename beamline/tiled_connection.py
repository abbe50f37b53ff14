"""The file a running ``beamline-tiled`` leaves in its data root, and how a client finds the server.

``<data root>/tiled.json`` holds ``uri`` (``http://host:port/api/v1``), ``pid`` and either
``api_key`` (one user; the file is then readable by that user only) or ``keys`` (several
users: the directory where each user's key is, readable by that user only), as the IOC's
``ioc-<prefix>.json`` holds its port. ``BEAMLINE_TILED_URI`` (with ``BEAMLINE_TILED_API_KEY``)
names a server elsewhere, e.g. on another host.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

TILED_FILE = "tiled.json"


def tiled_file(data_root: Path | str) -> Path:
    """``<data root>/tiled.json``."""
    return Path(data_root) / TILED_FILE


def read_tiled_file(data_root: Path | str) -> dict | None:
    """``{"uri", "api_key", "pid"}`` of the live tiled server serving ``data_root``, or None (none,
    or its file is not readable by this user). With several users ``api_key`` is this user's
    own, or None if the server has none for them."""
    try:
        info = json.loads(tiled_file(data_root).read_text())
        os.kill(int(info["pid"]), 0)  # still running? (a killed server leaves its file behind)
        info["uri"]  # noqa: B018 - must be there
        if "api_key" not in info:
            from .tiled_users import read_own_key

            info["api_key"] = read_own_key(info["keys"], getpass.getuser())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def find_tiled_server(*data_roots: Path | str | None) -> dict | None:
    """Where runs go in tiled: ``BEAMLINE_TILED_URI`` (+ ``BEAMLINE_TILED_API_KEY``) if set, else the
    ``tiled.json`` of a running server in the first of ``data_roots`` that has one, else None."""
    if os.environ.get("BEAMLINE_TILED_URI"):
        return {"uri": os.environ["BEAMLINE_TILED_URI"], "api_key": os.environ.get("BEAMLINE_TILED_API_KEY")}
    for root in data_roots:
        if root is not None and (info := read_tiled_file(root)) is not None:
            return info
    return None
