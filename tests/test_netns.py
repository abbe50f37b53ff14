"""The beamline across machines: IOC, tiled on PostgreSQL, the queue and two clients in network namespaces (as root),
and who may write what from each host (the IOC's access security file lists client1, client2 and the queue host)."""

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
    outcome = netns.run(tmp_path, num=2, log=log)
    results = outcome["clients"]
    tag = f"bl{os.getpid()}-"
    subnet = f"198.18.{os.getpid() % 250}."

    # The test network existed only inside the namespaces, and they all existed while it ran.
    assert subnet not in during[0] and during[0].count("inet ") == before.count("inet ")
    assert all(f"{tag}{host}" in during[1]
               for host in ("switch", "ioc", "tiled", "queue", "client1", "client2", "visitor"))
    # Both users' runs are back from tiled, frames checked against the IOC's Stats1 totals: first
    # from their own sessions, then from plans they submitted to the queue host over HTTP (the
    # start documents name them: submit_and_read_back.py checks it).
    sessions = [r for r in results if r.get("via") != "queue"]
    queued = [r for r in results if r.get("via") == "queue"]
    assert [r["user"] for r in sessions] == [f"client1@{subnet}11", f"client2@{subnet}12"]
    assert [r["user"] for r in queued] == ["client1", "client2"]
    assert all(r["ok"] and r["frames"] == 2 + 3 and len(r["uids"]) == 2 for r in results), results
    assert any(line.startswith(f"tiled: http://{subnet}3:8000/api/v1") for line in seen), seen
    assert f"queue: http://{subnet}4:60610" in seen, seen
    _check_rights(outcome["access"], (tmp_path / "ioc.log").read_text(errors="replace"), subnet)
    # Everything is gone: namespaces (with the bridge and addresses), processes, the tiled file.
    assert tag not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not (tmp_path / "detector-data" / "tiled.json").exists()
    assert _processes_mentioning(str(tmp_path)) == [], "processes still running"


def _check_rights(access: dict, ioc_log: str, subnet: str) -> None:
    """Each host and user got what the file says, saw it before putting, was told of a refusal,
    and a refused put changed nothing."""
    listed, visitor = access["client1"], access["visitor"]
    # client1, the IOC's account (staff): the motor and the simulation.
    for group in ("motor", "sim"):
        entry = listed["this_account"][group]
        assert entry["pyepics_write_access"] and entry["ophyd_write_access"] and entry["put"] == "ok", entry
        assert entry["changed"], entry
    # client1, another account: the motor only; caput says why, and RefillTime stays.
    assert listed["nobody"]["motor"]["cainfo"] == "read, write" and listed["nobody"]["motor"]["changed"]
    assert listed["nobody"]["sim"]["cainfo"] == "read, no write"
    assert listed["nobody"]["sim"]["caput"].endswith("Write access denied"), listed
    assert not listed["nobody"]["sim"]["changed"]
    # A host not in the file: reads only, whoever the user; ophyd refuses, caput says so, nothing moves.
    for group in ("motor", "sim"):
        entry = visitor["this_account"][group]
        assert not entry["pyepics_write_access"] and not entry["ophyd_write_access"], entry
        assert entry["put"].startswith("ReadOnlyError") and not entry["changed"], entry
        other = visitor["nobody"][group]
        assert other["cainfo"] == "read, no write" and other["caput"].endswith("Write access denied"), other
        assert not other["changed"], other
    # The staff's writes to sim: are in the IOC's log (TRAPWRITE, naming user and host); the refused ones never
    # left their host: libca refuses a put its channel has no right to before sending it.
    assert f"TRAPWRITE root@{subnet}11" in ioc_log and "put NS:sim:RefillTime = 61" in ioc_log, ioc_log[-3000:]


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


TWO_IOCS = """\
iocs:
  - name: motion
    prefix: "NSM:"
    motors:
      mtr_a: {pv: "mtr:a", egu: mm, velocity: 5, moves: det.x}
  - name: detection
    prefix: "NSD:"
    cameras:
      det: {prefix: "det:", sensor_shape: [64, 80], plugins: [TIFF1, Stats1]}
    ring: {pv: "ring:current", name: current, model: Constant}
"""


@pytest.mark.timeout(300)
def test_each_ioc_of_a_configuration_on_a_host_of_its_own(tmp_path):
    """As a facility splits motors and detectors across IOC hosts: each IOC of the file serves on
    port 5064 of its own address; a session on another host, built from the file, reaches both."""
    netns = _load_script()
    config = tmp_path / "two.yaml"
    config.write_text(TWO_IOCS)
    seen: list[str] = []
    result = netns.run_configured(tmp_path, str(config), log=seen.append)
    subnet = f"198.18.{os.getpid() % 250}."
    assert f"ioc1: IOC motion (NSM:) at {subnet}2:5064" in seen and f"ioc2: IOC detection (NSD:) at {subnet}3:5064" in seen
    assert result == {"devices": ["current", "det", "mtr_a"], "frames": {"det": 1}, "moved": {"mtr_a": 0.1},
                      "ok": True}
    assert f"bl{os.getpid()}-" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert _processes_mentioning(str(tmp_path)) == [], "processes still running"
