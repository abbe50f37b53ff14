"""The beamline across machines, on one Linux host: network namespaces joined by a bridge.

    sudo .venv/bin/python scripts/netns_beamline.py [--work-dir DIR] [--num 3] [--keep-logs]

Four "hosts", each a network namespace with one interface on a private test network
(198.18.N.0/24, RFC 2544's benchmarking range; N from this process's PID), joined by a
bridge in a fifth namespace (the "switch"), so the addresses exist only inside them:

======== ============ =====================================================================
ioc      198.18.N.2   beamline-ioc, CA on that interface only (``--interfaces``), port 5064
tiled    198.18.N.3   scripts/tiled-postgres.sh: PostgreSQL on its own 127.0.0.1, and
                      beamline-tiled on 198.18.N.3:8000
client1  198.18.N.11  a legacy ophyd session (scripts/scan_and_read_back.py)
client2  198.18.N.12  an ophyd-async session (scripts/scan_and_read_back.py --async)
======== ============ =====================================================================

The clients find the IOC by ``EPICS_CA_ADDR_LIST=198.18.N.2`` and tiled by
``BEAMLINE_TILED_URI``. Both sessions connect at once; they take turns at the one camera
(client2 scans once client1's scans are over, while client1 reads its runs back), and
each reads its runs back from tiled. The
detector's data directory is one directory that the IOC writes and the tiled server
reads: on real hosts, a shared file system mounted at the same path on both (the
namespaces share this host's file system). Every process is stopped by its PID and the
namespaces (with their interfaces and the bridge) are deleted, whatever happens. Needs
root; installs iproute2 if ``ip`` is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CA_PORT = 5064  # each namespace has its own ports: the standard one is free there by construction
TILED_PORT = 8000
PREFIX = "NS:"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def ensure_iproute2() -> None:
    if shutil.which("ip"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "iproute2"], check=True, env=env)


class Network:
    """The namespaces, their addresses and the bridge; ``close()`` deletes them all."""

    HOSTS = {"ioc": 2, "tiled": 3, "client1": 11, "client2": 12}

    def __init__(self, tag: int | None = None) -> None:
        tag = os.getpid() if tag is None else tag
        self.subnet = f"198.18.{tag % 250}"
        self.names = {host: f"bl{tag}-{host}" for host in self.HOSTS}
        self.switch = f"bl{tag}-switch"
        self.made: list[str] = []

    def address(self, host: str) -> str:
        return f"{self.subnet}.{self.HOSTS[host]}"

    def exec_prefix(self, host: str) -> list[str]:
        return ["ip", "netns", "exec", self.names[host]]

    def open(self) -> Network:
        try:
            self._add(self.switch)
            sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
            sh("ip", "-n", self.switch, "link", "set", "br0", "up")
            for host, ns in self.names.items():
                self._add(ns)
                port = f"p-{host}"
                sh("ip", "-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
                sh("ip", "-n", self.switch, "link", "set", port, "master", "br0", "up")
                sh("ip", "-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
                sh("ip", "-n", ns, "link", "set", "eth0", "up")
                sh("ip", "-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def _add(self, ns: str) -> None:
        sh("ip", "netns", "add", ns)
        self.made.append(ns)

    def close(self) -> None:
        for ns in reversed(self.made):  # deleting a namespace deletes its interfaces (and the bridge)
            sh("ip", "netns", "del", ns, check=False)
        self.made.clear()

    def __enter__(self) -> Network:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def wait_for(check, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"{what} not within {timeout} s")


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 60) -> int | None:
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return proc.returncode


def run(work: Path, num: int = 3, log=print) -> list[dict]:
    """Set up the network, start the IOC and tiled, run both clients at once; their results."""
    ensure_iproute2()
    data_root = work / "detector-data"  # the shared file system: written by ioc, read by tiled
    data_root.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen] = {}
    logs = {name: open(work / f"{name}.log", "wb") for name in ("ioc", "tiled")}
    with contextlib.ExitStack() as cleanup:
        net = cleanup.enter_context(Network())
        for f in logs.values():
            cleanup.callback(f.close)
        cleanup.callback(lambda: stop(procs.get("tiled")))  # the script stops PostgreSQL and tiled
        cleanup.callback(lambda: stop(procs.get("ioc"), signal.SIGINT))
        ioc_addr, tiled_addr = net.address("ioc"), net.address("tiled")
        log(f"network {net.subnet}.0/24: " + ", ".join(f"{h} {net.address(h)}" for h in net.HOSTS))

        ca_server = {"EPICS_CA_SERVER_PORT": str(CA_PORT), "EPICS_CAS_SERVER_PORT": str(CA_PORT),
                     "EPICS_CAS_INTF_ADDR_LIST": ioc_addr, "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
                     "EPICS_CAS_BEACON_ADDR_LIST": f"{net.subnet}.255"}
        procs["ioc"] = subprocess.Popen(
            [*net.exec_prefix("ioc"), sys.executable, "-m", "ioc", "--prefix", PREFIX, "--interfaces", ioc_addr,
             "--data-root", str(data_root), "--time-scale", "100", "-q"],
            env={**os.environ, **ca_server, "PYTHONUNBUFFERED": "1"}, cwd=ROOT, stdout=logs["ioc"],
            stderr=subprocess.STDOUT, start_new_session=True)
        procs["tiled"] = subprocess.Popen(
            [*net.exec_prefix("tiled"), "bash", str(ROOT / "scripts" / "tiled-postgres.sh"), "--data-root",
             str(data_root), "--host", tiled_addr, "--port", str(TILED_PORT)],
            env={**os.environ, "PYTHON": sys.executable}, cwd=ROOT, stdout=logs["tiled"],
            stderr=subprocess.STDOUT, start_new_session=True)

        def tiled_ready():
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}); see {work / name}.log")
            with contextlib.suppress(OSError, ValueError):
                info = json.loads((data_root / "tiled.json").read_text())
                return info if info["uri"] == f"http://{tiled_addr}:{TILED_PORT}/api/v1" else None

        info = wait_for(tiled_ready, 600, "tiled on PostgreSQL serving")  # may apt-get install it first
        log(f"tiled: {info['uri']}; IOC: {PREFIX} at {ioc_addr}:{CA_PORT}")

        clients = {}
        turn = work / "client1-done"
        turn.unlink(missing_ok=True)
        for n, host in enumerate(("client1", "client2")):
            env = {**os.environ, "EPICS_CA_ADDR_LIST": ioc_addr, "EPICS_CA_AUTO_ADDR_LIST": "NO",
                   "EPICS_CA_SERVER_PORT": str(CA_PORT), "EPICS_CA_MAX_ARRAY_BYTES": str(64 * 1024 * 1024),
                   "BEAMLINE_PREFIX": PREFIX, "BEAMLINE_LIVE": "0", "BEAMLINE_CONNECT_TIMEOUT": "30",
                   "BEAMLINE_TILED_URI": info["uri"], "BEAMLINE_TILED_API_KEY": info["api_key"],
                   "BEAMLINE_DATA_ROOT": str(work / host), "BEAMLINE_DATABROKER_DIR": str(work / host / "db")}
            clients[host] = subprocess.Popen(
                [*net.exec_prefix(host), sys.executable, str(ROOT / "scripts" / "scan_and_read_back.py"),
                 "--num", str(num), "--user", f"{host}@{net.address(host)}",
                 # One camera, two users: they take turns at it (client2 scans once client1's are over).
                 *(["--async", "--after", str(turn)] if n else ["--done", str(turn)])],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                start_new_session=True)
        results = []
        for host, client in clients.items():
            try:
                stdout, stderr = client.communicate(timeout=300)
            finally:
                stop(client)
            if client.returncode != 0:
                raise RuntimeError(f"{host} failed ({client.returncode}):\n{stdout}\n{stderr[-4000:]}")
            results.append(json.loads(stdout.strip().splitlines()[-1]))
            log(f"{host}: {results[-1]}")
        return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=None, help="data and logs (default: a new temporary one)")
    parser.add_argument("--num", type=int, default=3, help="frames per count (default %(default)s)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary work directory")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("network namespaces need root")
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="beamline-netns-"))
    try:
        results = run(work, args.num)
    finally:
        if args.work_dir is None and not args.keep_logs:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs and data in {work}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
