"""What the IOC exposes: loopback only unless asked, and files only in the
data root. (The PVs a client may not change: test_bad_puts.py, test_read_only_pvs_refuse_puts.)

The sockets are read from the running IOC process with psutil, as ``ss -lnp`` would show
them: what the kernel has bound, not what the IOC says it did.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import psutil

from beamline_shared.launcher import IOCProcess
from beamline_shared.paths import connection_file

from .. import ca
from ..ca import answers, get_str
from .conftest import World

LOOPBACK = "127.0.0.1"


class DefaultInterfacesIOC(IOCProcess):
    """The IOC started as a user starts ``beamline-ioc``: no interface list in its environment
    (IOCProcess otherwise passes EPICS_CAS_INTF_ADDR_LIST=127.0.0.1 explicitly)."""

    @property
    def env(self) -> dict[str, str]:
        env = dict(super().env)
        env.pop("EPICS_CAS_INTF_ADDR_LIST")
        return env


def bound(pid: int) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """(TCP listening, UDP) local addresses of a process."""
    conns = psutil.Process(pid).net_connections(kind="inet")
    listening = {(c.laddr.ip, c.laddr.port) for c in conns
                 if c.type == socket.SOCK_STREAM and c.status == psutil.CONN_LISTEN}
    udp = {(c.laddr.ip, c.laddr.port) for c in conns if c.type == socket.SOCK_DGRAM}
    return listening, udp


def test_by_default_the_ioc_listens_on_loopback_only(spawn_ioc, tmp_path, monkeypatch):
    monkeypatch.delenv("EPICS_CAS_INTF_ADDR_LIST")
    world = World(tmp_path / "world")
    proc = spawn_ioc("BS:", cls=DefaultInterfacesIOC, data_root=world.root)
    listening, udp = bound(proc.pid)
    assert listening == {(LOOPBACK, proc.port)}, "CA over TCP is served on loopback only"
    assert (LOOPBACK, proc.port) in udp, "CA name searches are answered on loopback"
    assert {ip for ip, _ in udp} == {LOOPBACK}, f"every UDP socket (searches, beacons) on loopback: {udp}"
    info = json.loads(connection_file("BS:", world.root).read_text())
    assert info["interfaces"] == [LOOPBACK] and info["port"] == proc.port


def test_serving_a_network_is_an_explicit_option(spawn_ioc):
    """``--interfaces 0.0.0.0`` opens the IOC to the network: it binds the wildcard address
    only then (beacons stay on loopback here: the test's environment keeps them there)."""
    proc = spawn_ioc("BN:", extra_args=["--interfaces", "0.0.0.0"])
    listening, udp = bound(proc.pid)
    assert listening == {("0.0.0.0", proc.port)}
    assert ("0.0.0.0", proc.port) in udp
    assert answers("BN:"), "still reachable on loopback"


def test_file_writes_stay_in_the_data_root_the_ioc_announces(spawn_ioc, tmp_path):
    world = World(tmp_path / "world")
    spawn_ioc("BR:", data_root=world.root)
    announced = get_str("BR:sim:DataRoot")
    assert announced == os.path.realpath(world.root)
    # Every way out of the announced root: its parent, a sibling, a link, the file system root.
    (world.root / "out").symlink_to(world.outside)
    for path in (Path(announced).parent, world.outside, world.root / "out", "/", f"{announced}/../outside"):
        ca.put("BR:dot:TIFF1:CreateDirectory", -5)
        ca.put("BR:dot:TIFF1:FilePath", str(path))
        assert ca.get("BR:dot:TIFF1:FilePathExists_RBV") == 0, path
        assert "outside the data root" in get_str("BR:dot:TIFF1:WriteMessage")
        ca.put("BR:dot:cam1:AcquireTime", 0.001)
        ca.acquire("BR:")
        assert get_str("BR:dot:TIFF1:WriteStatus") == "Write error"
    world.assert_outside_untouched()
    assert world.partial_files() == []
