"""``beamline-up``: the beamline for many users in one command, no Docker.

    beamline-up [--data-root DIR] [--prefix BL: | --config FILE] [--time-scale 100] [--host 127.0.0.1]

Starts, on loopback (``--host`` for the HTTP server and tiled, to serve other hosts), each
on a free port, and each as a child process stopped by its PID:

1. the IOC (``beamline-ioc``), unless ``--no-ioc`` (then the session finds one through
   ``EPICS_CA_*`` as usual); with ``--config FILE``, every IOC the file declares, each in a
   process of its own, and the worker's session has the devices the file declares, by its names;
2. Redis (Debian's ``redis-server``), its data in ``<data root>/queue/redis/`` (append-only
   file: the queue and its history survive a restart);
3. tiled (``beamline-tiled``) on the data root, streaming new data to subscribers through
   Redis, unless ``--tiled-uri`` names a running one (``BEAMLINE_TILED_API_KEY`` its key);
4. the queue server's RE Manager (``start-re-manager``), its worker running
   :mod:`beamline.queue_profile` (this project's session), 0MQ on 127.0.0.1 only, and opens
   its environment;
5. the HTTP server (``start-bluesky-httpserver``) in front of it, users and their roles in
   ``<data root>/queue/http/users.yml`` (bluesky-httpserver's own configuration; written
   with the user who runs this as its one user if missing).

It prints where each listens and how to reach it, and leaves ``<data root>/beamline-up.json``
(``http_uri``, ``api_key`` of the user who started it, ``tiled_uri``, ``tiled_api_key``,
``zmq_control_addr``, ``redis``, the PIDs) while it serves; a second ``beamline-up`` on the
same data root refuses to start. Ctrl-C (SIGINT) or SIGTERM stops them all, by PID, in the
reverse order, and removes the file. Logs: ``<data root>/queue/logs/``.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from beamline_shared.launcher import (
    IOCProcess,
    ca_environment,
    end_process,
    free_port,
    interrupt_when_parent_dies,
    load_config,
)
from beamline_shared.paths import claim_file, default_data_root

UP_FILE = "beamline-up.json"
PERMISSIONS = Path(__file__).resolve().parent / "queue_profile" / "user_group_permissions.yaml"
AUTH_PROVIDER = "local"  # the name of the password provider in the users file
AUTH_ENDPOINT = f"{AUTH_PROVIDER}/token"  # REManagerAPI's http_auth_provider: /api/auth/provider/local/token
QUEUE_REDIS_DB, TILED_REDIS_DB = 0, 1  # one Redis, a database each
API_KEY_LIFETIME = 7 * 24 * 3600  # s: the starting user's key, made anew at each start


def up_file(data_root: Path | str) -> Path:
    """``<data root>/beamline-up.json``."""
    return Path(data_root) / UP_FILE


def read_up_file(data_root: Path | str) -> dict | None:
    """What a running ``beamline-up`` serving ``data_root`` left, or None (none, or its PID is gone)."""
    try:
        info = json.loads(up_file(data_root).read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


class AlreadyUp(RuntimeError):
    """Another live beamline-up serves this data root."""


def claim_up_file(data_root: Path) -> Path:
    """Create ``beamline-up.json`` for this process, exclusively; a stale one (dead PID) is
    replaced. Raises :class:`AlreadyUp` naming the running one."""
    path = up_file(data_root)

    def in_use(other: dict, pid: int) -> AlreadyUp:
        return AlreadyUp(f"beamline-up is already running for {data_root}: PID {pid}, HTTP server "
                         f"{other.get('http_uri', '(starting)')}. Use it, or stop it (kill -INT {pid}), "
                         f"or give this one another --data-root.")

    claim_file(path, {"pid": os.getpid(), "state": "starting"}, alive=_alive, in_use=in_use,
               contended=AlreadyUp(f"could not create {path}: another beamline-up keeps creating it"), mode=0o600)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_redis_server() -> str:
    """The ``redis-server`` binary; RuntimeError saying how to install it if there is none."""
    found = shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)), None)
    if not found:
        raise RuntimeError("redis-server is not installed; the queue server needs it. Install it with "
                           "`sudo scripts/install-redis.sh` (Debian's redis-server package; `make` does it as root) "
                           "or `sudo apt-get install redis-server`.")
    return found


def console_script(name: str) -> str:
    """A console script installed beside this Python (the venv's ``bin/``), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    """Poll ``check()`` until truthy (returned); RuntimeError if ``proc`` exits or at ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with status {proc.returncode}" + _tail(log))
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # not up yet
            last = exc
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:g} s ({last})" + _tail(log))
        time.sleep(0.1)


def _tail(log: Path | None, lines: int = 5) -> str:
    if log is None:
        return ""
    try:
        text = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-lines:]
    except OSError:
        return ""
    return "; log " + str(log) + (":\n    " + "\n    ".join(text) if text else "")


class Child:
    """A server run as a child process: its command, environment and log; stopped by PID."""

    name = "child"
    stop_signal = signal.SIGINT

    def __init__(self, log_dir: Path) -> None:
        self.log_path = log_dir / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def spawn(self, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, env={**os.environ, **(env or {})}, cwd=cwd,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=interrupt_when_parent_dies)

    def stop(self, timeout: float = 20.0) -> int | None:
        """Signal by PID (SIGKILL if it lingers); its exit status."""
        if self.proc is None:
            return None
        end_process(self.proc, self.stop_signal, timeout)
        return self.proc.returncode


class RedisServer(Child):
    """``redis-server`` on ``host:port`` with its data in ``directory`` (append-only file)."""

    name = "redis"
    stop_signal = signal.SIGTERM  # Redis saves and exits on SIGTERM (SIGINT too; TERM is its documented one)

    def __init__(self, directory: Path, log_dir: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(log_dir)
        self.directory, self.host, self.port = directory, host, port or free_port()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> RedisServer:
        import redis

        self.directory.mkdir(parents=True, exist_ok=True)
        self.spawn([find_redis_server(), "--bind", self.host, "--port", str(self.port), "--dir", str(self.directory),
                    "--appendonly", "yes", "--save", "", "--daemonize", "no", "--protected-mode", "yes",
                    "--logfile", "", "--unixsocket", "", "--databases", "4"])
        client = redis.Redis(host=self.host, port=self.port, socket_timeout=1, socket_connect_timeout=1)
        wait_until(client.ping, timeout, f"Redis on {self.host}:{self.port}", self.proc, self.log_path)
        return self


class REManager(Child):
    """The queue server's RE Manager, its worker on :mod:`beamline.queue_profile`."""

    name = "re-manager"

    def __init__(self, queue_dir: Path, log_dir: Path, redis_addr: str, env: dict[str, str]) -> None:
        super().__init__(log_dir)
        self.queue_dir, self.redis_addr, self.env = queue_dir, redis_addr, env
        self.control_addr = f"tcp://127.0.0.1:{free_port()}"
        self.info_addr = f"tcp://127.0.0.1:{free_port()}"

    def command(self) -> list[str]:
        return [console_script("start-re-manager"),
                "--startup-module", "beamline.queue_profile",
                "--existing-plans-devices", str(self.queue_dir / "existing_plans_and_devices.yaml"),
                "--user-group-permissions", str(PERMISSIONS),
                "--redis-addr", self.redis_addr,
                "--zmq-control-addr", self.control_addr, "--zmq-info-addr", self.info_addr,
                "--zmq-publish-console", "ON"]

    def api(self, timeout: float = 5.0):
        from bluesky_queueserver_api.zmq import REManagerAPI

        return REManagerAPI(zmq_control_addr=self.control_addr, zmq_info_addr=self.info_addr,
                            timeout_recv=timeout)

    def start(self, timeout: float = 60.0, open_environment: bool = True) -> REManager:
        self.spawn(self.command(), self.env)
        rm = self.api()
        try:
            wait_until(lambda: rm.status(reload=True)["manager_state"] == "idle", timeout,
                       "RE Manager answering", self.proc, self.log_path)
            if open_environment and not rm.status(reload=True)["worker_environment_exists"]:
                rm.environment_open()
                # The worker imports the session (connects to the IOC and tiled).
                wait_until(lambda: _environment_ready(rm), timeout, "the RE Manager's worker environment "
                           "(beamline.queue_profile)", self.proc, self.log_path)
            # A plan that fails does not stop the queue (the queue server's own mode, kept in Redis);
            # stop, abort and halt still do.
            rm.queue_mode_set(ignore_failures=True)
        finally:
            rm.close()
        return self


def _environment_ready(rm) -> bool:
    status = rm.status(reload=True)
    if status["manager_state"] == "idle" and not status["worker_environment_exists"]:
        raise RuntimeError("the worker environment failed to open (the startup code raised)")
    return status["worker_environment_exists"] and status["manager_state"] == "idle"


class HTTPServer(Child):
    """bluesky-httpserver on ``host:port``, configured by the files in ``config_dir``."""

    name = "http-server"

    def __init__(self, config_dir: Path, log_dir: Path, host: str = "127.0.0.1", port: int = 0,
                 env: dict[str, str] | None = None) -> None:
        super().__init__(log_dir)
        self.config_dir, self.host, self.port = config_dir, host, port or free_port()
        self.env = env or {}

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> HTTPServer:
        import httpx

        self.spawn([console_script("start-bluesky-httpserver"), "--host", self.host, "--port", str(self.port)],
                   {**self.env, "QSERVER_HTTP_SERVER_CONFIG": str(self.config_dir)})

        def answers() -> bool:
            # Any answer from the API (401 without a key) means it serves.
            return httpx.get(f"{self.uri}/api", timeout=2, trust_env=False).status_code < 500

        wait_until(answers, timeout, f"the HTTP server on {self.uri}", self.proc, self.log_path)
        return self


def default_users_config(user: str, password: str) -> dict:
    """bluesky-httpserver's ``authentication`` and ``api_access`` for one user, ``user``: a
    password login (provider ``local``) and the roles admin and expert."""
    return {
        "authentication": {
            "providers": [{"provider": AUTH_PROVIDER,
                           "authenticator": "bluesky_httpserver.authenticators:DictionaryAuthenticator",
                           "args": {"users_to_passwords": {user: password}}}],
        },
        "api_access": {"policy": "bluesky_httpserver.authorization:DictionaryAPIAccessControl",
                       "args": {"users": {user: {"roles": ["admin", "expert"]}}}},
        "resource_access": {"policy": "bluesky_httpserver.authorization:DefaultResourceAccessControl",
                            "args": {"default_group": "primary"}},
    }


USERS_HEADER = """\
# Who may use the HTTP server and what each may do: bluesky-httpserver's own configuration
# (https://blueskyproject.io/bluesky-httpserver/, "Configuration"). Written by beamline-up the
# first time; edit it and restart beamline-up. `authentication`: how users log in (here
# passwords from this file; PAMAuthenticator or LDAPAuthenticator for real accounts).
# `api_access`: each user's roles (admin, expert, advanced, user, observer), which decide the
# API calls they may make. `resource_access`: the queue server's user group they submit as
# (its plans and devices: beamline/queue_profile/user_group_permissions.yaml).
"""


def ensure_users_file(path: Path, user: str) -> None:
    """Write the default users file (``user``, a random password) unless one exists."""
    import yaml

    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # passwords: its owner only
    with os.fdopen(fd, "w") as f:
        f.write(USERS_HEADER)
        yaml.safe_dump(default_users_config(user, secrets.token_urlsafe(16)), f, sort_keys=False)


def user_password(users_file: Path, user: str) -> str | None:
    """``user``'s password in the users file's password provider, if it has one."""
    import yaml

    config = yaml.safe_load(users_file.read_text()) or {}
    for provider in (config.get("authentication") or {}).get("providers", []):
        passwords = (provider.get("args") or {}).get("users_to_passwords") or {}
        if provider.get("provider") == AUTH_PROVIDER and user in passwords:
            return str(passwords[user])
    return None


def new_api_key(http_uri: str, user: str, password: str, lifetime: float = API_KEY_LIFETIME) -> str:
    """Log ``user`` in and make an API key with its scopes, as a user would (REManagerAPI)."""
    from bluesky_queueserver_api.http import REManagerAPI

    rm = REManagerAPI(http_server_uri=http_uri, http_auth_provider=AUTH_ENDPOINT)
    try:
        rm.login(user, password=password)
        key = rm.apikey_new(expires_in=int(lifetime), note="beamline-up")["secret"]
        rm.logout()
    finally:
        rm.close()
    return key


class BeamlineUp:
    """The servers of one beamline-up, started in order and stopped in reverse."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data_root: Path = args.data_root
        self.queue_dir = self.data_root / "queue"
        self.log_dir = self.queue_dir / "logs"
        self.started: list[tuple[str, object]] = []  # (name, server) to stop, in order of start
        self.restarts: dict[str, int] = {}
        self.info: dict = {"pid": os.getpid(), "data_root": str(self.data_root), "prefix": args.prefix}

    def say(self, text: str) -> None:
        print(f"beamline-up: {text}", flush=True)

    def start(self) -> dict:
        args = self.args
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {"BEAMLINE_PREFIX": args.prefix, "BEAMLINE_DATA_ROOT": str(self.data_root), "BEAMLINE_LIVE": "0",
               "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}

        if args.no_ioc:
            self.say("no IOC started (--no-ioc): the worker finds it through EPICS_CA_* as a session does")
        elif args.config:
            self.start_configured(env)
        else:
            ioc = IOCProcess(prefix=args.prefix, data_root=self.data_root, time_scale=args.time_scale,
                             seed=args.seed, log_path=self.log_dir / "ioc.log", exit_with_parent=True)
            self.started.append(("IOC", ioc))
            ioc.start()
            env.update(ioc.env)
            self.info.update(ioc_port=ioc.port, ioc_pid=ioc.pid)
            self.say(f"IOC {args.prefix} on 127.0.0.1:{ioc.port} (CA), time scale {args.time_scale:g}, PID {ioc.pid}")

        redis = RedisServer(self.queue_dir / "redis", self.log_dir)
        self.started.append(("Redis", redis))
        redis.start()
        self.info.update(redis=redis.url, redis_pid=redis.pid)
        self.say(f"Redis on {redis.url} (data {redis.directory}), PID {redis.pid}")

        if args.tiled_uri:
            self.info.update(tiled_uri=args.tiled_uri, tiled_api_key=os.environ.get("BEAMLINE_TILED_API_KEY"),
                             tiled_pid=None)
            self.say(f"tiled: using {args.tiled_uri} (--tiled-uri)")
        else:
            from .tiled_server import TiledProcess

            tiled = TiledProcess(self.data_root, host=args.host, log_path=self.log_dir / "tiled.log",
                                 streaming_cache=f"{redis.url}/{TILED_REDIS_DB}", api_key=secrets.token_hex(32))
            self.started.append(("tiled", tiled))
            tiled.start()
            port = tiled.uri.rsplit(":", 1)[1].split("/")[0]
            tiled.args[tiled.args.index("--port") + 1] = port  # a restart serves where clients look
            self.info.update(tiled_uri=tiled.uri, tiled_api_key=tiled.api_key, tiled_pid=tiled.proc.pid)
            self.say(f"tiled on {tiled.uri}, streaming through Redis, PID {tiled.proc.pid}")
        env.update(BEAMLINE_TILED_URI=self.info["tiled_uri"], BEAMLINE_TILED_API_KEY=self.info["tiled_api_key"] or "",
                   BEAMLINE_QUEUE_REDIS=f"{redis.url}/{QUEUE_REDIS_DB}", BEAMLINE_QUEUE_REDIS_PREFIX="qs_default",
                   BEAMLINE_TILED_BATCH_SIZE="1")  # each event to tiled as it is taken: live data

        manager = REManager(self.queue_dir, self.log_dir, f"{redis.host}:{redis.port}/{QUEUE_REDIS_DB}", env)
        self.started.append(("RE Manager", manager))
        self.say("RE Manager starting; its worker opens the session (beamline.queue_profile) ...")
        manager.start()
        self.info.update(zmq_control_addr=manager.control_addr, zmq_info_addr=manager.info_addr,
                         re_manager_pid=manager.pid)
        self.say(f"RE Manager: 0MQ control {manager.control_addr}, info {manager.info_addr}, PID {manager.pid}; "
                 f"environment open")

        http_dir = self.queue_dir / "http"
        users = http_dir / "users.yml"
        user = getpass.getuser()
        ensure_users_file(users, user)
        self.write_http_config(http_dir / "beamline-up.yml", manager)
        http = HTTPServer(http_dir, self.log_dir, host=args.host, port=args.http_port,
                          env={"QSERVER_HTTP_SERVER_SERVER_SECRET_KEYS": self.secret()})
        self.started.append(("HTTP server", http))
        http.start()
        self.info.update(http_uri=http.uri, http_pid=http.pid, user=user, users_file=str(users))
        password = user_password(users, user)
        self.info["api_key"] = new_api_key(http.uri, user, password) if password else None
        self.say(f"HTTP server on {http.uri}, PID {http.pid}; users and roles in {users}")
        self.info["state"] = "serving"
        return self.info

    def start_configured(self, env: dict) -> None:
        """Every IOC of ``--config``, each in a process of its own on a free port; the worker's
        session searches them all and builds the devices the file declares (``BEAMLINE_CONFIG``)."""
        args = self.args
        beamline = load_config(args.config)
        iocs = [IOCProcess(config=args.config, ioc=spec.name, data_root=self.data_root, time_scale=args.time_scale,
                           seed=args.seed, log_path=self.log_dir / f"ioc-{spec.name}.log", exit_with_parent=True)
                for spec in beamline.iocs]
        for ioc in iocs:
            name = f"IOC {ioc.ioc}"
            self.PID_KEYS = {**self.PID_KEYS, name: f"ioc_{ioc.ioc}_pid"}
            self.started.append((name, ioc))
            ioc.start()
            self.info.update({f"ioc_{ioc.ioc}_port": ioc.port, f"ioc_{ioc.ioc}_pid": ioc.pid})
            self.say(f"IOC {ioc.ioc} ({ioc.prefix}) on 127.0.0.1:{ioc.port} (CA), time scale {args.time_scale:g}, "
                     f"PID {ioc.pid}")
        env.update(ca_environment(iocs[0].port, [ioc.port for ioc in iocs]))
        env["BEAMLINE_CONFIG"] = str(Path(args.config).resolve()) if Path(args.config).is_file() else args.config
        self.info["config"] = env["BEAMLINE_CONFIG"]

    def secret(self) -> str:
        """The HTTP server's token-signing key, kept in the data root so sessions outlive a restart."""
        path = self.queue_dir / "http-secret"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text().strip()

    def write_http_config(self, path: Path, manager: REManager) -> None:
        import yaml

        config = {"qserver_zmq_configuration": {"control_address": manager.control_addr,
                                                "info_address": manager.info_addr},
                  "database": {"uri": f"sqlite:///{self.queue_dir / 'httpserver.sqlite'}"}}
        path.write_text("# Written by beamline-up at each start (addresses of this run); users are in users.yml.\n"
                        + yaml.safe_dump(config, sort_keys=False))

    #: the key in beamline-up.json of each server's PID
    PID_KEYS = {"IOC": "ioc_pid", "Redis": "redis_pid", "tiled": "tiled_pid", "RE Manager": "re_manager_pid",
                "HTTP server": "http_pid"}
    MAX_RESTARTS = 5

    def supervise(self) -> bool:
        """Report each server that exited and start it again (same port, same data); True if one was."""
        changed = False
        for name, server in self.started:
            proc = server.proc
            if proc is None or proc.poll() is None:
                continue
            changed = True
            self.restarts[name] = self.restarts.get(name, 0) + 1
            print(f"beamline-up: {name} (PID {proc.pid}) exited with status {proc.returncode}; see {self.log_dir}",
                  file=sys.stderr, flush=True)
            if self.restarts[name] > self.MAX_RESTARTS:
                server.proc = None  # given up: reported once
                self.info[self.PID_KEYS[name]] = None
                print(f"beamline-up: {name} exited {self.MAX_RESTARTS} times; not started again", file=sys.stderr,
                      flush=True)
                continue
            try:
                server.start()
                self.info[self.PID_KEYS[name]] = server.proc.pid
                self.say(f"{name} started again: PID {server.proc.pid}")
            except Exception as exc:
                print(f"beamline-up: could not start {name} again: {exc}", file=sys.stderr, flush=True)
        return changed

    def stop(self) -> None:
        for name, server in reversed(self.started):
            pid, t0 = server.proc.pid if server.proc else None, time.monotonic()
            try:
                server.stop()
                self.say(f"stopped {name} (PID {pid}) in {time.monotonic() - t0:.1f} s")
            except Exception as exc:
                self.say(f"could not stop {name} (PID {pid}): {exc}")
        self.started.clear()


def write_up_file(path: Path, info: dict) -> None:
    """Replace ``path`` with ``info`` (readable by its owner only: it holds API keys)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(info, indent=1))
    tmp.replace(path)


def how_to_reach(info: dict) -> str:
    key = info.get("api_key")
    lines = [
        "",
        "The beamline is up. From a shell (the queue server's CLI, over 0MQ, this host only):",
        f"    qserver -a {info['zmq_control_addr']} status",
        f"    qserver -a {info['zmq_control_addr']} queue add plan '{{\"name\": \"count\", \"args\": [[\"dot\", \"I\"]], "
        f"\"kwargs\": {{\"num\": 3}}}}'",
        f"    qserver -a {info['zmq_control_addr']} queue start",
        "From Python, on any host that reaches the HTTP server:",
        "    from bluesky_queueserver_api.http import REManagerAPI",
        f"    RM = REManagerAPI(http_server_uri={info['http_uri']!r})",
        f"    RM.set_authorization_key(api_key={key!r})" if key else
        f"    RM.login('<user>', password='...', provider={AUTH_ENDPOINT!r})  # users in {info.get('users_file')}",
        "Runs in tiled:",
        "    from tiled.client import from_uri",
        f"    tiled = from_uri({info['tiled_uri']!r}, api_key={info['tiled_api_key']!r})",
        f"Connection details: {up_file(info['data_root'])}. Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="beamline-up", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=None,
                        help="images, runs, the queue's Redis data and the logs (default $BEAMLINE_DATA_ROOT or "
                             "~/.local/share/beamline-sim)")
    parser.add_argument("--prefix", default=os.environ.get("BEAMLINE_PREFIX", "BL:"), help="the IOC's PV prefix")
    parser.add_argument("--time-scale", type=float, default=100.0,
                        help="the IOC's simulated seconds per wall second (default %(default)g, as make ioc)")
    parser.add_argument("--seed", type=int, default=None, help="the IOC's noise seed")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address the HTTP server and tiled listen on (default %(default)s)")
    parser.add_argument("--http-port", type=int, default=0, help="the HTTP server's port (default: a free one)")
    parser.add_argument("--config", metavar="FILE",
                        help="serve the IOCs this beamline configuration declares (each in a process of its own) "
                             "and give the queue's session their devices, by the file's names")
    parser.add_argument("--no-ioc", action="store_true", help="use an IOC already running (EPICS_CA_* finds it)")
    parser.add_argument("--tiled-uri", default=None,
                        help="use this tiled server (key in $BEAMLINE_TILED_API_KEY) instead of starting one")
    args = parser.parse_args(argv)
    args.data_root = (args.data_root or default_data_root()).absolute()
    args.data_root.mkdir(parents=True, exist_ok=True)

    try:
        path = claim_up_file(args.data_root)
    except AlreadyUp as exc:
        print(f"beamline-up: {exc}", file=sys.stderr)
        return 2

    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    up = BeamlineUp(args)
    try:
        info = up.start()
        write_up_file(path, info)
        print(how_to_reach(info), flush=True)
        while True:  # a server that goes away is reported and started again, on the same port
            if up.supervise():
                write_up_file(path, up.info)
            time.sleep(0.5)
    except KeyboardInterrupt:
        up.say("stopping ...")
        return 130 if not stopping or stopping[0] == signal.SIGINT else 0
    except Exception as exc:
        print(f"beamline-up: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        up.stop()
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        up.say("stopped")


if __name__ == "__main__":
    sys.exit(main())
