"""A by-hand IOC started from a shell that talks to another IOC (the README's
``eval "$(python -m beamline.connection BL:)"``) does not share that IOC's port: on loopback
two servers on one search port each miss searches. It says so, serves on a free port, and
its banner names the port it listens on; both IOCs then answer EPICS base's caget."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

from beamline_shared.launcher import end_process, free_port

from .conftest import eventually

BIN = Path(sys.executable).parent


def shell_environment(prefix: str, data_root: Path) -> dict[str, str]:
    """The environment of a shell after ``eval "$(python -m beamline.connection PREFIX)"``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EPICS_CA_", "EPICS_CAS_"))}
    env["BEAMLINE_DATA_ROOT"] = str(data_root)
    exports = subprocess.run([sys.executable, "-m", "beamline.connection", prefix], env=env, capture_output=True,
                             text=True, timeout=60, check=True).stdout
    for word in shlex.split(exports)[1:]:
        name, value = word.split("=", 1)
        env[name] = value
    return env


class Started:
    """``beamline-ioc`` started by hand, its stderr collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen([str(BIN / "beamline-ioc"), *args], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def line(self, pattern: str, timeout: float = 30.0) -> re.Match:
        def found():
            return next((m for m in map(re.compile(pattern).search, list(self.lines)) if m), None)
        return eventually(found, timeout=timeout)

    def stop(self) -> None:
        end_process(self.proc)
        self._reader.join(5)


def caget(pv: str, ports: list[int]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPICS_CA_")}
    env.update(EPICS_CA_AUTO_ADDR_LIST="NO", EPICS_CA_ADDR_LIST=" ".join(f"127.0.0.1:{p}" for p in ports))
    return subprocess.run([str(BIN / "caget"), "-w", "5", pv], env=env, capture_output=True, text=True, timeout=30)


def test_a_by_hand_ioc_in_a_connected_shell_takes_a_free_port_and_says_so(spawn_ioc, tmp_path):
    first = spawn_ioc("FIRST:", data_root=tmp_path)
    env = shell_environment("FIRST:", tmp_path)
    assert env["EPICS_CA_SERVER_PORT"] == str(first.port)
    hand = Started(["--prefix", "HAND:", "--no-autosave"], env)
    try:
        note = hand.line(rf"port {first.port} \(EPICS_CA_SERVER_PORT\) is taken by the IOC serving 'FIRST:' "
                         rf"\(PID {first.pid}.*serves on port (\d+)")
        port = int(note.group(1))
        assert port != first.port
        banner = hand.line(r"beamline-ioc: beamline \(prefix 'HAND:'\), .*, port (\d+)(?: \(|,)")
        assert int(banner.group(1)) == port, hand.lines  # where it really listens: TCP and UDP
        for pv in ("FIRST:ring:current", "HAND:ring:current"):
            got = caget(pv, [first.port, port])
            assert got.returncode == 0 and pv in got.stdout, (pv, got.stdout, got.stderr)
        # Its connection file says that port, for the session and `beamline.connection HAND:`.
        assert shell_environment("HAND:", tmp_path)["EPICS_CA_SERVER_PORT"] == str(port)
    finally:
        hand.stop()
    assert first.proc.poll() is None


def test_a_server_port_another_ioc_has_is_refused_at_once(spawn_ioc, tmp_path):
    first = spawn_ioc("FIRST:", data_root=tmp_path)
    env = {**shell_environment("FIRST:", tmp_path), "EPICS_CAS_SERVER_PORT": str(first.port)}
    t0 = time.monotonic()
    proc = subprocess.run([str(BIN / "beamline-ioc"), "--prefix", "HAND:", "--no-autosave"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert time.monotonic() - t0 < 30
    assert f"port {first.port} (EPICS_CAS_SERVER_PORT) is taken by the IOC serving 'FIRST:'" in proc.stderr
    assert "set EPICS_CAS_SERVER_PORT to a free port, or unset it" in proc.stderr
    assert not (tmp_path / "ioc-HAND_.json").exists()


def test_a_shells_pyepics_one_liner_finds_the_iocs_repeater_and_complains_of_none(tmp_path):
    """The README's pyepics one-liners in a shell after the eval: libca registers with the CA
    repeater the IOC's host runs, instead of looking for a caRepeater program on PATH and
    printing that it is not there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EPICS_CA_", "EPICS_CAS_"))}
    env.update(EPICS_CA_SERVER_PORT=str(free_port()), BEAMLINE_DATA_ROOT=str(tmp_path))
    ioc = Started(["--prefix", "REP:", "--no-autosave"], env)
    try:
        ioc.line(r"beamline-ioc: .*prefix 'REP:'")
        shell = shell_environment("REP:", tmp_path)
        assert shell["EPICS_CA_REPEATER_PORT"].isdigit()
        shell["PATH"] = os.pathsep.join(p for p in shell.get("PATH", "").split(os.pathsep) if Path(p) != BIN)
        one_liner = "import epics; print(epics.caget('REP:ring:current', timeout=5))"
        got = subprocess.run([sys.executable, "-c", one_liner], env=shell, capture_output=True, text=True,
                             timeout=60)
        assert got.returncode == 0 and float(got.stdout) > 0, (got.stdout, got.stderr)
        assert "caRepeater" not in got.stderr and "Repeater" not in got.stderr, got.stderr
    finally:
        ioc.stop()
