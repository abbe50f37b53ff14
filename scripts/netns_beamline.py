"""The beamline across machines, on one Linux host: network namespaces joined by a bridge.

    sudo .venv/bin/python scripts/netns_beamline.py [--work-dir DIR] [--num 3] [--keep-logs]

Six "hosts", each a network namespace with one interface on a private test network
(198.18.N.0/24, RFC 2544's benchmarking range; N from this process's PID), joined by a
bridge in a seventh namespace (the "switch"), so the addresses exist only inside them:

======== ============ =====================================================================
ioc      198.18.N.2   beamline-ioc, CA on that interface only (``--interfaces``), port 5064
tiled    198.18.N.3   scripts/tiled-postgres.sh: PostgreSQL on its own 127.0.0.1, and
                      beamline-tiled on 198.18.N.3:8000
queue    198.18.N.4   beamline-up --no-ioc --tiled-uri ...: Redis and the RE Manager (0MQ) on
                      its own 127.0.0.1, the HTTP server on 198.18.N.4:60610
client1  198.18.N.11  a legacy ophyd session (scripts/scan_and_read_back.py), then a user of
                      the queue (scripts/submit_and_read_back.py)
client2  198.18.N.12  an ophyd-async session (scripts/scan_and_read_back.py --async), then
                      another user of the queue
visitor  198.18.N.13  a host the IOC's access security file does not list
======== ============ =====================================================================

The IOC enforces the shipped access security file with the beamline's hosts put in
``HAG(beamline)``: client1, client2 and the queue host, whose RE Manager drives the motors
and the camera (``<work>/beamline.acf``). Once the scans and the queue's plans are done,
``scripts/ca_rights_probe.py`` tries, on client1 and on the visitor host, as root (the IOC's
account: staff) with pyepics and ophyd and as ``nobody`` with EPICS base's cainfo/caput, to
move a motor and to change a simulation setting: client1's root does both, its nobody only
the motor, the visitor neither (``access`` in the result).

The clients find the IOC by ``EPICS_CA_ADDR_LIST=198.18.N.2`` and tiled by
``BEAMLINE_TILED_URI``. Both sessions connect at once; they take turns at the one camera
(client2 scans once client1's scans are over, while client1 reads its runs back), and
each reads its runs back from tiled. Then both submit plans to the queue host over HTTP at
once (logins from the queue's users file, API keys), the queue runs them in turn, and each
reads its runs back from tiled. The
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
QUEUE_PORT = 60610  # bluesky-httpserver's usual port
QUEUE_USERS = {"client1": "client1-pw", "client2": "client2-pw"}
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

    HOSTS = {"ioc": 2, "tiled": 3, "queue": 4, "client1": 11, "client2": 12, "visitor": 13}

    def __init__(self, tag: int | None = None, hosts: dict[str, int] | None = None) -> None:
        tag = os.getpid() if tag is None else tag
        self.hosts = dict(hosts or self.HOSTS)  # name (at most 13 characters) -> last byte of its address
        self.subnet = f"198.18.{tag % 250}"
        self.names = {host: f"bl{tag}-{host}" for host in self.hosts}
        self.switch = f"bl{tag}-switch"
        self.made: list[str] = []

    def address(self, host: str) -> str:
        return f"{self.subnet}.{self.hosts[host]}"

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


def site_acf(work: Path, hosts: list[str]) -> Path:
    """The shipped access security file with ``hosts`` as the beamline's (``HAG(beamline)``)."""
    from ioc.server.access_security import DEFAULT_ACF

    text = DEFAULT_ACF.read_text()
    line = "HAG(beamline) {localhost}"
    if line not in text:
        raise RuntimeError(f"{DEFAULT_ACF} has no line {line!r} to give the beamline's hosts")
    path = work / "beamline.acf"
    path.write_text(text.replace(line, f"HAG(beamline) {{{', '.join(hosts)}}}"))
    return path


def run(work: Path, num: int = 3, log=print) -> dict:
    """Set up the network, start the IOC and tiled, run both clients at once, then probe each
    host's rights: ``{"clients": [their results], "access": {host: probe result}}``."""
    ensure_iproute2()
    data_root = work / "detector-data"  # the shared file system: written by ioc, read by tiled
    data_root.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen] = {}
    logs = {name: open(work / f"{name}.log", "wb") for name in ("ioc", "tiled", "queue")}
    with contextlib.ExitStack() as cleanup:
        net = cleanup.enter_context(Network())
        for f in logs.values():
            cleanup.callback(f.close)
        cleanup.callback(lambda: stop(procs.get("tiled")))  # the script stops PostgreSQL and tiled
        cleanup.callback(lambda: stop(procs.get("queue"), signal.SIGINT))  # beamline-up stops its servers
        cleanup.callback(lambda: stop(procs.get("ioc"), signal.SIGINT))
        ioc_addr, tiled_addr = net.address("ioc"), net.address("tiled")
        log(f"network {net.subnet}.0/24: " + ", ".join(f"{h} {net.address(h)}" for h in net.hosts))

        ca_server = {"EPICS_CA_SERVER_PORT": str(CA_PORT), "EPICS_CAS_SERVER_PORT": str(CA_PORT),
                     "EPICS_CAS_INTF_ADDR_LIST": ioc_addr, "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
                     "EPICS_CAS_BEACON_ADDR_LIST": f"{net.subnet}.255"}
        acf = site_acf(work, [net.address(host) for host in ("client1", "client2", "queue")])
        procs["ioc"] = subprocess.Popen(
            [*net.exec_prefix("ioc"), sys.executable, "-m", "ioc", "--prefix", PREFIX, "--interfaces", ioc_addr,
             "--data-root", str(data_root), "--time-scale", "100", "-q", "--acf", str(acf)],
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

        # The queue host: its own data root on the shared file system (runs, Redis, logs); the IOC
        # and tiled are the other hosts'.
        queue_addr = net.address("queue")
        queue_root = data_root / "queue-host"
        write_queue_users(queue_root / "queue" / "http" / "users.yml")
        client_env = {"EPICS_CA_ADDR_LIST": ioc_addr, "EPICS_CA_AUTO_ADDR_LIST": "NO",
                      "EPICS_CA_SERVER_PORT": str(CA_PORT), "EPICS_CA_MAX_ARRAY_BYTES": str(64 * 1024 * 1024)}
        procs["queue"] = subprocess.Popen(
            [*net.exec_prefix("queue"), sys.executable, "-m", "beamline.up", "--data-root", str(queue_root),
             "--no-ioc", "--prefix", PREFIX, "--tiled-uri", info["uri"], "--host", queue_addr,
             "--http-port", str(QUEUE_PORT)],
            env={**os.environ, **client_env, "BEAMLINE_TILED_API_KEY": info["api_key"], "BEAMLINE_CONNECT_TIMEOUT": "30",
                 "PYTHONUNBUFFERED": "1"},
            cwd=ROOT, stdout=logs["queue"], stderr=subprocess.STDOUT, start_new_session=True)

        clients = {}
        turn = work / "client1-done"
        turn.unlink(missing_ok=True)
        for n, host in enumerate(("client1", "client2")):
            env = {**os.environ, **client_env, "BEAMLINE_PREFIX": PREFIX, "BEAMLINE_LIVE": "0", "BEAMLINE_CONNECT_TIMEOUT": "30",
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

        def queue_ready():
            if procs["queue"].poll() is not None:
                raise RuntimeError(f"beamline-up exited ({procs['queue'].returncode}); see {work / 'queue'}.log")
            with contextlib.suppress(OSError, ValueError):
                return json.loads((queue_root / "beamline-up.json").read_text()).get("state") == "serving"

        wait_for(queue_ready, 300, "the queue host serving")
        http = f"http://{queue_addr}:{QUEUE_PORT}"
        log(f"queue: {http}")
        users = {}
        for host in ("client1", "client2"):  # both at once: the queue runs them in turn
            users[host] = subprocess.Popen(
                [*net.exec_prefix(host), sys.executable, str(ROOT / "scripts" / "submit_and_read_back.py"),
                 "--http", http, "--user", host, "--password", QUEUE_USERS[host], "--tiled", info["uri"],
                 "--num", str(num)],
                env={**os.environ, "BEAMLINE_TILED_API_KEY": info["api_key"]}, cwd=ROOT, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, start_new_session=True)
        for host, user in users.items():
            try:
                stdout, stderr = user.communicate(timeout=300)
            finally:
                stop(user)
            if user.returncode != 0:
                raise RuntimeError(f"{host}'s queue user failed ({user.returncode}):\n{stdout}\n{stderr[-4000:]}")
            results.append({**json.loads(stdout.strip().splitlines()[-1]), "via": "queue"})
            log(f"{host} via the queue: {results[-1]}")

        access = {}  # who may write what, from a listed host and from one the file does not list
        for host in ("client1", "visitor"):
            probe = subprocess.run(
                [*net.exec_prefix(host), sys.executable, str(ROOT / "scripts" / "ca_rights_probe.py"), PREFIX,
                 "--other-account", "nobody"],
                env={**os.environ, **client_env}, cwd=ROOT, capture_output=True, text=True, timeout=300)
            if probe.returncode != 0:
                raise RuntimeError(f"the rights probe on {host} failed ({probe.returncode}):\n{probe.stderr[-4000:]}")
            access[host] = json.loads(probe.stdout.strip().splitlines()[-1])
            log(f"access from {host}: {access[host]}")
        return {"clients": results, "access": access}


def run_configured(work: Path, config: str, log=print) -> dict:
    """Each IOC of a configuration file on a host of its own (``ioc1``, ``ioc2``... in the file's
    order, each serving on port 5064 of its address, as at a facility), and a session on
    ``client`` built from the same file (``make_session(config=...)``) reaching them all by
    ``EPICS_CA_ADDR_LIST``; the client's result (scripts/configured_session.py). Each IOC enforces
    the shipped access security file with the client's host as the beamline's (``HAG(beamline)``)."""
    from beamline_shared.launcher import load_config

    ensure_iproute2()
    beamline = load_config(config)
    hosts = {f"ioc{n + 1}": 2 + n for n in range(len(beamline.iocs))} | {"client": 200}
    procs: dict[str, subprocess.Popen] = {}
    with contextlib.ExitStack() as cleanup:
        net = cleanup.enter_context(Network(hosts=hosts))
        log(f"network {net.subnet}.0/24: " + ", ".join(f"{h} {net.address(h)}" for h in net.hosts))
        addresses = " ".join(net.address(f"ioc{n + 1}") for n in range(len(beamline.iocs)))
        # every IOC enforces the shipped access security file, the client's host the beamline's
        acf = site_acf(work, [net.address("client")])
        for n, ioc in enumerate(beamline.iocs):
            host = f"ioc{n + 1}"
            addr = net.address(host)
            out = cleanup.enter_context(open(work / f"{host}.log", "wb"))
            env = {**os.environ, "EPICS_CA_SERVER_PORT": str(CA_PORT), "EPICS_CAS_SERVER_PORT": str(CA_PORT),
                   "EPICS_CAS_INTF_ADDR_LIST": addr, "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
                   "EPICS_CAS_BEACON_ADDR_LIST": f"{net.subnet}.255", "PYTHONUNBUFFERED": "1",
                   # a motor of one IOC moving a camera of another: followed over CA
                   "EPICS_CA_ADDR_LIST": addresses, "EPICS_CA_AUTO_ADDR_LIST": "NO"}
            procs[host] = subprocess.Popen(
                [*net.exec_prefix(host), sys.executable, "-m", "ioc", "--config", str(config), "--ioc", ioc.name,
                 "--interfaces", addr, "--data-root", str(work / f"data-{ioc.name}"), "--time-scale", "100", "-q",
                 "--no-autosave", "--acf", str(acf)], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            cleanup.callback(lambda proc=procs[host]: stop(proc, signal.SIGINT))
            log(f"{host}: IOC {ioc.name} ({ioc.prefix}) at {addr}:{CA_PORT}")
        env = {**os.environ, "EPICS_CA_ADDR_LIST": addresses, "EPICS_CA_AUTO_ADDR_LIST": "NO",
               "EPICS_CA_SERVER_PORT": str(CA_PORT), "EPICS_CA_MAX_ARRAY_BYTES": str(64 * 1024 * 1024),
               "BEAMLINE_LIVE": "0", "BEAMLINE_CONNECT_TIMEOUT": "30", "BEAMLINE_DATA_ROOT": str(work / "client"),
               "BEAMLINE_DATABROKER_DIR": str(work / "client" / "db")}
        env.pop("EPICS_CA_REPEATER_PORT", None)  # the client's host has its own loopback: its own repeater
        client = subprocess.run(
            [*net.exec_prefix("client"), sys.executable, str(ROOT / "scripts" / "configured_session.py"),
             str(config)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if client.returncode != 0:
            raise RuntimeError(f"the client failed ({client.returncode}):\n{client.stdout}\n{client.stderr[-4000:]}")
        result = json.loads(client.stdout.strip().splitlines()[-1])
        log(f"client: {result}")
        return result


def write_queue_users(path: Path) -> None:
    """bluesky-httpserver's users for the queue host: client1 and client2, role ``user``."""
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({
        "authentication": {"providers": [{
            "provider": "local", "authenticator": "bluesky_httpserver.authenticators:DictionaryAuthenticator",
            "args": {"users_to_passwords": QUEUE_USERS}}]},
        "api_access": {"policy": "bluesky_httpserver.authorization:DictionaryAPIAccessControl",
                       "args": {"users": {user: {"roles": ["user"]} for user in QUEUE_USERS}}},
        "resource_access": {"policy": "bluesky_httpserver.authorization:DefaultResourceAccessControl",
                            "args": {"default_group": "primary"}},
    }))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=None, help="data and logs (default: a new temporary one)")
    parser.add_argument("--num", type=int, default=3, help="frames per count (default %(default)s)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary work directory")
    parser.add_argument("--config", help="instead: each IOC of this configuration file on a host of its own, and "
                                         "a session built from the file on a client host")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("network namespaces need root")
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="beamline-netns-"))
    try:
        if args.config:
            return 0 if run_configured(work, args.config)["ok"] else 1
        results = run(work, args.num)["clients"]
    finally:
        if args.work_dir is None and not args.keep_logs:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs and data in {work}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
