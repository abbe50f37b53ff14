"""A tiled server for a test module: ``beamline-tiled`` on the session IOC's data root.

Module-scoped, so its ``tiled.json`` is in the shared data root only while that module's
tests run (sessions made by other modules' tests then store nothing in tiled). Import the
fixture into a test module: ``tiled_server = tiled_fixtures.tiled_server``.
"""

from __future__ import annotations

import pytest

from beamline.tiled_server import TiledProcess


@pytest.fixture(scope="module")
def tiled_server(ioc, data_root, request):
    """beamline-tiled serving the session IOC's data root (SQLite catalog), stopped after the module."""
    log = data_root.parent / f"tiled-{request.module.__name__.rsplit('.', 1)[-1]}.log"
    with TiledProcess(data_root, log_path=log) as server:
        yield server
    assert server.proc.returncode == 0, f"beamline-tiled exited with {server.proc.returncode}; see {log}"
