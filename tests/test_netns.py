"""The beamline across machines: IOC, tiled on PostgreSQL and two clients in network namespaces (as root)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "netns_beamline.py"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root (CI runs as root)")


def _load_script():
    spec = importlib.util.spec_from_file_location("netns_beamline", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _root_namespace_addresses() -> str:
    return subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout


@pytest.mark.timeout(900)  # the first run may apt-get install PostgreSQL
def test_two_clients_in_their_namespaces_scan_and_read_back_from_tiled(tmp_path):
    netns = _load_script()
    seen: list[str] = []
    during: list[str] = []

    def log(message: str) -> None:
        seen.append(message)
        if message.startswith("network "):
            during.append(_root_namespace_addresses())
            names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
            during.append(names)

    before = _root_namespace_addresses()
    results = netns.run(tmp_path, num=2, log=log)
    tag = f"bl{os.getpid()}-"
    subnet = f"198.18.{os.getpid() % 250}."

    # The test network existed only inside the namespaces, and they all existed while it ran.
    assert subnet not in during[0] and during[0].count("inet ") == before.count("inet ")
    assert all(f"{tag}{host}" in during[1] for host in ("switch", "ioc", "tiled", "client1", "client2"))
    # Both users' runs are back from tiled, frames checked against the IOC's Stats1 totals.
    assert [r["user"] for r in results] == [f"client1@{subnet}11", f"client2@{subnet}12"]
    assert all(r["ok"] and r["frames"] == 2 + 3 and len(r["uids"]) == 2 for r in results), results
    assert any(line.startswith(f"tiled: http://{subnet}3:8000/api/v1") for line in seen), seen
    # Everything is gone: namespaces (with the bridge and addresses), processes, the tiled file.
    assert tag not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not (tmp_path / "detector-data" / "tiled.json").exists()
    assert _processes_mentioning(str(tmp_path)) == [], "processes still running"


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # exited meanwhile
            continue
        if text in command and f"/proc/{os.getpid()}/" != str(cmdline.parent) + "/":
            found.append(command)
    return found
