"""beamline-tiled serves the data root; a session stores every run in tiled too, frames read from the IOC's files."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import tifffile

from beamline.tiled_connection import read_tiled_file, tiled_file
from beamline.tiled_server import TiledProcess
from tests import tiled_fixtures

tiled_server = tiled_fixtures.tiled_server  # a module-scoped fixture


def test_server_leaves_its_connection_file_and_removes_it_on_ctrl_c(tmp_path):
    server = TiledProcess(tmp_path).start()
    try:
        info = read_tiled_file(tmp_path)
        assert info is not None and info["pid"] == server.proc.pid
        assert stat.S_IMODE(tiled_file(tmp_path).stat().st_mode) == 0o600  # the key: for this user only
        assert info["uri"].startswith("http://127.0.0.1:") and info["uri"].endswith("/api/v1")
        from beamline.tiled_storage import tiled_client

        assert len(tiled_client(info["uri"], info["api_key"])) == 0  # an empty catalog, served
        import httpx

        denied = httpx.get(info["uri"] + "/metadata/", trust_env=False, timeout=10)
        assert denied.status_code == 401  # the api key is needed
        assert (tmp_path / "tiled" / "catalog.db").exists()  # SQLite in the data root by default
    finally:
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(20) == 130
    assert not tiled_file(tmp_path).exists()


def test_bad_catalog_is_refused_at_once_naming_the_argument(tmp_path):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "beamline.tiled_server", "--data-root", str(tmp_path),
                             "--catalog", "mysql://nobody@localhost/x"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--catalog" in result.stderr, result.stderr
    assert time.monotonic() - started < 30
    assert not tiled_file(tmp_path).exists()


def _file_of(uri: str) -> Path:
    return Path(unquote(urlparse(uri).path))


def test_session_runs_are_in_tiled_with_the_iocs_frames(ioc, tiled_server, data_root):
    from bluesky import plans as bp

    from beamline.session import make_session

    session = make_session(ioc.prefix, live=False)
    tiled = session["tiled"]
    assert tiled is not None, "make_session should find the tiled server from its tiled.json"
    RE, dot, current = session["RE"], session["dot"], session["I"]
    dot.exp.set(0.005).wait(5)
    (uid,) = RE(bp.count([dot, current], num=5))
    (scan_uid,) = RE(bp.scan([dot], session["mtr_dotx"], -1, 1, 3))

    frames = tiled[uid]["primary"]["dot_img"]
    assert frames.shape == (5, 480, 640) and frames.dtype == np.uint32
    # The frames are the IOC's files, registered where they are (nothing copied).
    uris = [asset.data_uri for source in frames.data_sources() for asset in source.assets]
    files = [_file_of(uri) for uri in uris]
    assert len(files) == 5 and all(f.is_file() and f.is_relative_to(data_root) for f in files), uris
    for i, path in enumerate(files):
        assert np.array_equal(frames[i], tifffile.imread(path)), f"frame {i} differs from {path}"
    # ... and equal to what databroker reads for the same run.
    for i, frame in enumerate(session["db"][uid].data("dot_img")):
        assert np.array_equal(frame, frames[i])
    # A slice reads only what it asks for.
    assert frames[2, 100:110, 200:205].shape == (10, 5)
    assert np.array_equal(tiled[uid]["primary"]["I"].read(), np.asarray(session["db"][uid].table()["I"]))

    scan = tiled[scan_uid]["primary"]
    assert scan["dot_img"].shape == (3, 480, 640)
    assert np.allclose(scan["motor_dotx"].read(), [-1, 0, 1], atol=0.01)
    assert tiled[scan_uid].metadata["start"]["plan_name"] == "scan"
    assert tiled[scan_uid].metadata["stop"]["exit_status"] == "success"


def test_tiled_uri_from_the_environment_wins_over_tiled_json(tmp_path, monkeypatch):
    import os

    from beamline.tiled_connection import find_tiled_server

    tiled_file(tmp_path).write_text(json.dumps({"uri": "http://127.0.0.1:9/api/v1", "api_key": "a", "pid": os.getpid()}))
    monkeypatch.delenv("BEAMLINE_TILED_URI", raising=False)
    assert find_tiled_server(None, tmp_path)["uri"] == "http://127.0.0.1:9/api/v1"
    monkeypatch.setenv("BEAMLINE_TILED_URI", "http://10.0.0.1:8000/api/v1")
    monkeypatch.setenv("BEAMLINE_TILED_API_KEY", "b")
    assert find_tiled_server(tmp_path) == {"uri": "http://10.0.0.1:8000/api/v1", "api_key": "b"}
    monkeypatch.delenv("BEAMLINE_TILED_URI")
    tiled_file(tmp_path).write_text(json.dumps({"uri": "http://127.0.0.1:9/api/v1", "api_key": "a", "pid": 2**22 + 1}))
    assert find_tiled_server(tmp_path) is None  # a server that died leaves a file naming a dead PID


def test_server_killed_removes_only_its_own_file_and_runs_go_on_without_it(ioc, tmp_path, monkeypatch):
    """kill stops the server (status 0), leaving a tiled.json that is not its own; a session that
    wrote to it keeps working: its runs succeed, stored in databroker and in TiledWriter's backup."""
    import tiled.client.utils
    from bluesky import plans as bp

    from beamline.session import make_session

    # The tiled client retries a failed request for up to TILED_RETRY_TIMEOUT (45 s by default,
    # read when tiled.client is first imported) before TiledWriter gives up on the run.
    monkeypatch.setattr(tiled.client.utils, "TILED_RETRY_TIMEOUT", 2.0)
    server_root = tmp_path / "elsewhere"
    server_root.mkdir()
    server = TiledProcess(server_root).start()
    monkeypatch.setenv("BEAMLINE_TILED_URI", server.uri)
    monkeypatch.setenv("BEAMLINE_TILED_API_KEY", server.api_key)
    monkeypatch.setenv("BEAMLINE_DATABROKER_DIR", str(tmp_path / "db"))
    session = make_session(ioc.prefix, live=False)
    (first,) = session["RE"](bp.count([session["I"]], num=2))
    assert first in session["tiled"]

    other = {"uri": "http://127.0.0.1:1/api/v1", "api_key": "x", "pid": 1}
    tiled_file(server_root).write_text(json.dumps(other))  # another server took over that data root
    assert server.stop() == 0  # SIGTERM
    assert json.loads(tiled_file(server_root).read_text()) == other

    (second,) = session["RE"](bp.count([session["I"]], num=2))
    assert session["db"][second].stop["exit_status"] == "success"
    backups = list((tmp_path / "db" / "tiled-backup").glob("*.jsonl"))
    assert len(backups) == 1 and second in backups[0].read_text()
