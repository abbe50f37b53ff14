"""``beamline-tiled``: a tiled server for the beamline's data root.

Serves a tiled catalog over HTTP (loopback by default, on a free port unless ``--port``),
with the data root registered as readable storage, so the frames the IOC wrote are
served from their own files when a run's documents point at them (bluesky's TiledWriter
registers them; nothing is copied). The catalog is an SQLite file in the data root
(``<data root>/tiled/catalog.db``) unless ``--catalog postgresql://...`` names a
PostgreSQL database (many users, several processes writing at once). Tabular data (the
events' scalar columns) goes to ``--storage``: a DuckDB file in the data root by default,
or a PostgreSQL database.

One user (the default): one API key, ``--api-key`` or a random one. ``--user NAME[:reader]``
(repeatable) serves several: tiled's multi-user mode, a key of their own for each user
named and for the user who starts the server (see :mod:`beamline.tiled_users`), in
``<data root>/tiled/keys/NAME`` (mode 0600).

While it serves, it leaves ``<data root>/tiled.json`` for clients on this machine
(``beamline.session`` looks for it): ``uri``, ``pid`` and, with one user, ``api_key`` (the
file is then mode 0600: the key is not readable by other users), with several ``keys``
(the key directory; each client reads its own user's file). It removes the file on exit if
the file is still its own. Ctrl-C (SIGINT) or ``kill`` (SIGTERM) stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import secrets
import signal
import sys
from pathlib import Path

from beamline_shared.launcher import end_process
from beamline_shared.paths import default_data_root

from .tiled_connection import tiled_file


def _is_sql_uri(uri: str) -> bool:
    return uri.startswith(("postgresql:", "postgresql+", "sqlite:", "sqlite+", "duckdb:"))


def build_catalog(data_root: Path, catalog: str | None = None, storage: str | None = None,
                  streaming_cache: str = "memory"):
    """The tiled catalog adapter for ``data_root``: the catalog database (SQLite in the data
    root by default, created if missing), writable storage in ``<data root>/tiled/``, and the
    data root readable, so externally written files can be registered and served.
    ``streaming_cache`` holds the updates tiled streams to subscribers (``memory``, or a
    ``redis://host:port/db`` shared by several server processes and kept across restarts)."""
    from tiled.catalog import from_uri
    from tiled.config import StreamingCacheConfig

    tiled_dir = data_root / "tiled"
    (tiled_dir / "data").mkdir(parents=True, exist_ok=True)
    catalog = catalog or f"sqlite:///{tiled_dir / 'catalog.db'}"
    storage = storage or f"duckdb:///{tiled_dir / 'storage.duckdb'}"
    if not _is_sql_uri(catalog):
        raise ValueError(f"--catalog: expected a sqlite:/// or postgresql:// URI, not {catalog!r}")
    if streaming_cache != "memory" and not streaming_cache.startswith(("redis://", "rediss://")):
        raise ValueError(f"--streaming-cache: expected memory or a redis:// URI, not {streaming_cache!r}")
    if not _is_sql_uri(storage):
        raise ValueError(f"--storage: expected a duckdb:///, sqlite:/// or postgresql:// URI, not {storage!r}")
    # The IOC reports its data root as given; a client may see it through a symlink
    # (/tmp -> /private/tmp): accept both spellings.
    readable = sorted({str(data_root), str(data_root.resolve())})
    initialize_catalog(catalog)
    return from_uri(
        catalog,
        writable_storage=[str(tiled_dir / "data"), storage],
        readable_storage=readable,
        cache_config=StreamingCacheConfig(uri=streaming_cache).model_dump(),
    )


def initialize_catalog(uri: str) -> bool:
    """Create the catalog's tables in the database at ``uri`` if it has none; True if it did.

    What ``tiled catalog init --if-not-exists`` does, done in this process: tiled's own
    ``init_if_not_exists`` starts a Python subprocess for it (2-4 s more per start here).
    """
    from sqlalchemy.ext.asyncio import create_async_engine
    from tiled.alembic_utils import UninitializedDatabase, check_database, stamp_head
    from tiled.catalog.alembic_constants import ALEMBIC_DIR, ALEMBIC_INI_TEMPLATE_PATH
    from tiled.catalog.core import ALL_REVISIONS, REQUIRED_REVISION, initialize_database
    from tiled.utils import ensure_specified_sql_driver

    uri = ensure_specified_sql_driver(uri)

    async def create_if_new() -> bool:
        engine = create_async_engine(uri)
        try:
            await check_database(engine, REQUIRED_REVISION, ALL_REVISIONS)
            return False
        except UninitializedDatabase:
            await initialize_database(engine)
            return True
        finally:
            await engine.dispose()

    created = asyncio.run(create_if_new())
    if created:
        stamp_head(ALEMBIC_INI_TEMPLATE_PATH, ALEMBIC_DIR, uri)
    return created


def build_server(catalog_adapter, api_key: str | None, host: str, port: int, connection: Path,
                 users_database: str | None = None, keys: Path | None = None):
    """A uvicorn server for the catalog that writes ``connection`` once it serves and removes
    it (if still its own) when it stops. With ``users_database`` (tiled's authentication
    database, users provisioned, their keys in ``keys``) it serves several users; else the
    one ``api_key``."""
    import uvicorn
    from tiled.config import Authentication
    from tiled.server.app import build_app

    if users_database is not None:
        from . import tiled_users

        app = build_app(catalog_adapter, authentication=tiled_users.authentication(),
                        server_settings={"database": tiled_users.database_settings(users_database)})
    else:
        app = build_app(catalog_adapter, authentication=Authentication(single_user_api_key=api_key))

    class Server(uvicorn.Server):
        written: str | None = None

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:
                sock_host, sock_port = self.servers[0].sockets[0].getsockname()[:2]
                info = {"uri": f"http://{sock_host}:{sock_port}/api/v1", "pid": os.getpid()}
                info.update({"keys": str(keys)} if users_database is not None else {"api_key": api_key})
                self.written = json.dumps(info, indent=1)
                # With a key in it, only this user may read it; other users' clients find their own.
                write_private(connection, self.written, 0o644 if users_database is not None else 0o600)
                print(f"beamline-tiled: serving {info['uri']} (PID {os.getpid()}); connection file {connection}",
                      flush=True)

        async def shutdown(self, sockets=None) -> None:
            remove_own_file(connection, self.written)
            await super().shutdown(sockets)

    config = uvicorn.Config(app, host=host, port=port, loop="asyncio", log_level="warning", lifespan="on")
    return Server(config)


def write_private(path: Path, text: str, mode: int) -> None:
    """Replace ``path`` with ``text``, the new file created with ``mode`` (never briefly wider)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.chmod(tmp, mode)  # the umask may have narrowed it; O_CREAT does not widen a leftover file
    tmp.replace(path)


def remove_own_file(path: Path, content: str | None) -> None:
    """Remove ``path`` if it still holds ``content`` (another server may have replaced it)."""
    if content is None:
        return
    try:
        if path.read_text() == content:
            path.unlink()
    except OSError:
        pass


def _users(parser: argparse.ArgumentParser, given: list[str]) -> list:
    """The users of ``--user`` (none: one-user mode), the starting user added as a writer."""
    if not given:
        return []
    from . import tiled_users

    users = {}
    for text in given:
        try:
            user = tiled_users.parse_user(text)
        except ValueError as exc:
            parser.error(f"--user {exc}")
        if user.name in users and users[user.name] != user:
            parser.error(f"--user {user.name} given twice with different roles")
        users[user.name] = user
    me = getpass.getuser()
    users.setdefault(me, tiled_users.User(me))
    return list(users.values())


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="beamline-tiled", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=None,
                        help="the IOC's data root, served read-only (default $BEAMLINE_DATA_ROOT or "
                             "~/.local/share/beamline-sim)")
    parser.add_argument("--catalog", default=None,
                        help="catalog database: sqlite:///PATH or postgresql://user:password@host:port/db "
                             "(default: <data root>/tiled/catalog.db)")
    parser.add_argument("--storage", default=None,
                        help="tabular storage database: duckdb:///PATH, sqlite:///PATH or postgresql://... "
                             "(default: <data root>/tiled/storage.duckdb)")
    parser.add_argument("--streaming-cache", default="memory",
                        help="where updates streamed to subscribers are kept: memory (default) or "
                             "redis://host:port/db")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default %(default)s; another interface serves other hosts)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--api-key", default=os.environ.get("TILED_SINGLE_USER_API_KEY"),
                        help="one user: the key clients must present (default $TILED_SINGLE_USER_API_KEY, else "
                             "a new random one, written to tiled.json, readable by this user only)")
    parser.add_argument("--user", action="append", default=[], metavar="NAME[:reader]",
                        help="serve several users, each with a key of their own in <data root>/tiled/keys/NAME "
                             "(mode 0600): NAME reads and writes runs, NAME:reader only reads; repeat for each "
                             "user (the user starting the server is always a writer)")
    parser.add_argument("--users-database", default=None,
                        help="with --user: tiled's authentication database (default sqlite:///<data root>/"
                             "tiled/authn.db; postgresql://... for a shared one)")
    args = parser.parse_args(argv)

    data_root = (args.data_root or default_data_root()).absolute()
    if not data_root.is_dir():
        parser.error(f"--data-root {data_root}: no such directory")
    users = _users(parser, args.user)
    if users and args.api_key:
        parser.error("--api-key serves one user; with --user each user gets a key of their own")
    api_key = None if users else (args.api_key or secrets.token_hex(32))
    if api_key is not None and not api_key.isalnum():
        parser.error("--api-key: letters and digits only")
    try:
        catalog = build_catalog(data_root, args.catalog, args.storage, args.streaming_cache)
    except Exception as exc:  # a bad URI, an unreachable database: say which
        print(f"beamline-tiled: cannot open the catalog: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    users_database = keys = None
    if users:
        from . import tiled_users

        users_database = args.users_database or f"sqlite:///{data_root / 'tiled' / 'authn.db'}"
        try:
            files = tiled_users.provision(users_database, users, data_root)
        except Exception as exc:
            print(f"beamline-tiled: cannot set up the users in --users-database: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return 2
        keys = tiled_users.key_dir(data_root)
        print(f"beamline-tiled: users {', '.join(f'{u.name} ({u.role})' for u in users)}; keys in {keys}",
              flush=True)
        assert set(files) == {u.name for u in users}
    connection = tiled_file(data_root)
    server = build_server(catalog, api_key, args.host, args.port, connection, users_database, keys)
    # uvicorn handles SIGINT and SIGTERM: it stops accepting, finishes requests in flight, runs
    # the app's shutdown, then re-raises the signal to the handlers it found: these.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        asyncio.run(server.serve())
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:
        return exc.code
    finally:
        remove_own_file(connection, server.written)
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())


class TiledProcess:
    """``beamline-tiled`` as a child process (tests, scripts): started, waited for, stopped by PID.

    >>> with TiledProcess(data_root) as server:
    ...     client = tiled_client(server.uri, server.api_key)
    """

    def __init__(self, data_root: Path | str, catalog: str | None = None, storage: str | None = None,
                 host: str = "127.0.0.1", port: int = 0, log_path: Path | str | None = None,
                 command_prefix: list[str] | None = None, streaming_cache: str | None = None,
                 api_key: str | None = None, users: list[str] | None = None) -> None:
        self.data_root = Path(data_root)
        self.args = ["--data-root", str(self.data_root), "--host", host, "--port", str(port)]
        if streaming_cache:
            self.args += ["--streaming-cache", streaming_cache]
        if api_key:  # a key of the caller's: the same after a restart
            self.args += ["--api-key", api_key]
        if catalog:
            self.args += ["--catalog", catalog]
        if storage:
            self.args += ["--storage", storage]
        for user in users or ():
            self.args += ["--user", user]
        self.log_path = Path(log_path) if log_path else self.data_root / "tiled.log"
        self.command_prefix = list(command_prefix or [])  # e.g. ["ip", "netns", "exec", "ns"]
        self.proc = None
        self.info: dict | None = None

    @property
    def uri(self) -> str:
        return self.info["uri"]

    @property
    def api_key(self) -> str:
        """The one user's key (``users`` mode: see :meth:`key_of`)."""
        return self.info["api_key"]

    def key_of(self, user: str) -> str:
        """``user``'s key, with several users (from its key file)."""
        from .tiled_users import key_file

        return key_file(self.data_root, user).read_text().strip()

    def start(self, timeout: float = 60.0) -> TiledProcess:
        """Start the server; return once its ``tiled.json`` names it. Raises RuntimeError if it exits."""
        import subprocess
        import time

        connection = tiled_file(self.data_root)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([*self.command_prefix, sys.executable, "-m", "beamline.tiled_server",
                                          *self.args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"beamline-tiled exited with status {self.proc.returncode}; see {self.log_path}")
            try:
                info = json.loads(connection.read_text())
                if info.get("pid") == self.proc.pid:
                    self.info = info
                    return self
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"beamline-tiled did not serve within {timeout} s; see {self.log_path}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM by PID (SIGKILL if it lingers); its exit status."""
        if self.proc is None:
            return None
        end_process(self.proc, signal.SIGTERM, timeout)
        return self.proc.returncode

    def __enter__(self) -> TiledProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
