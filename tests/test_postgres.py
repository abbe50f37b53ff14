"""scripts/tiled-postgres.sh: PostgreSQL from Debian's packages behind beamline-tiled; two users store runs at once."""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.conftest import eventually

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "tiled-postgres.sh"
CLIENT = ROOT / "scripts" / "scan_and_read_back.py"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 and not glob.glob("/usr/lib/postgresql/*/bin/initdb"),
    reason="PostgreSQL is not installed and only root may install it (CI runs as root)")


def gone(pid: int) -> bool:
    """The process has exited (a zombie counts: PID 1 of a container may not reap orphans)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


class Script:
    """The script running as a child process, its output in a file."""

    def __init__(self, log: Path, *args: str) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(["bash", str(SCRIPT), *args], stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHON": sys.executable}, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self, timeout: float) -> str:
        def ready():
            assert self.proc.poll() is None, f"the script exited ({self.proc.returncode}):\n{self.output()}"
            return re.search(r"^ready: (\S+)", self.output(), re.M)

        return eventually(ready, timeout=timeout, interval=0.2).group(1)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


def client_env(ioc, tiled_info: dict, tmp_path: Path) -> dict:
    return {**os.environ, **ioc.env, "EPICS_CA_ADDR_LIST": f"127.0.0.1:{ioc.port}", "BEAMLINE_PREFIX": ioc.prefix,
            "BEAMLINE_LIVE": "0", "BEAMLINE_TILED_URI": tiled_info["uri"],
            "BEAMLINE_TILED_API_KEY": tiled_info["api_key"],
            "BEAMLINE_DATABROKER_DIR": str(tmp_path / f"db-{ioc.prefix.strip(':')}")}


@pytest.mark.timeout(900)  # the first run may apt-get install PostgreSQL
def test_postgres_tiled_stores_runs_from_two_clients_at_once(spawn_ioc, tmp_path):
    shared = tmp_path / "data"  # one detector data root that both IOCs write into, served by tiled
    shared.mkdir()
    iocs = [spawn_ioc("PGA:", data_root=shared, time_scale=100), spawn_ioc("PGB:", data_root=shared, time_scale=100)]
    script = Script(tmp_path / "tiled-postgres.log", "--data-root", str(shared))
    try:
        uri = script.wait_ready(timeout=600)
        out = script.output()
        pg_pid = int(re.search(r"PostgreSQL: PID (\d+), 127\.0\.0\.1:(\d+)", out).group(1))
        pg_dir = Path(re.search(r"cluster (\S+)/data", out).group(1))
        info = json.loads((shared / "tiled.json").read_text())
        assert info["uri"] == uri and uri.startswith("http://127.0.0.1:")

        # The two users: a legacy ophyd session and an ophyd-async one, at the same time.
        clients = [subprocess.Popen([sys.executable, str(CLIENT), "--prefix", ioc.prefix, "--num", "2",
                                     "--user", f"user{n}", *(["--async"] if n else [])],
                                    env=client_env(ioc, info, tmp_path), cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for n, ioc in enumerate(iocs)]
        results = []
        for client in clients:
            stdout, stderr = client.communicate(timeout=240)
            assert client.returncode == 0, f"client failed ({client.returncode}):\n{stdout}\n{stderr[-3000:]}"
            results.append(json.loads(stdout.strip().splitlines()[-1]))
        assert [r["frames"] for r in results] == [5, 5] and all(r["ok"] for r in results)

        # Both users' runs are in the one PostgreSQL catalog, each with its user; the frames are the files.
        from beamline.tiled_storage import tiled_client

        catalog = tiled_client(info["uri"], info["api_key"])
        assert len(catalog) == 4
        for n, result in enumerate(results):
            for uid in result["uids"]:
                assert catalog[uid].metadata["start"]["user"] == f"user{n}"
        legacy = catalog[results[0]["uids"][0]]["primary"]["dot_img"]
        for source in legacy.data_sources():
            for i, asset in enumerate(source.assets):
                path = asset.data_uri.removeprefix("file://localhost")
                assert np.array_equal(legacy[i], tifffile.imread(path))
        # The catalog really is PostgreSQL's.
        assert not (shared / "tiled" / "catalog.db").exists()
    finally:
        status = script.stop()
    assert status == 143, script.output()
    assert "stopped" in script.output()
    assert gone(pg_pid) and not pg_dir.exists()
    assert not (shared / "tiled.json").exists()
