"""Several users on one ``beamline-tiled``, each with an API key of their own, as tiled's
multi-user mode keeps them: principals with roles in tiled's authentication database
(``<data root>/tiled/authn.db``; API keys stored hashed), the scopes of a role or of a key
checked by tiled on every request.

A user is ``NAME`` (role ``writer``: reads, writes runs, registers the IOC's files, as
bluesky's TiledWriter needs) or ``NAME:reader`` (reads only). Each user's key is written to
``<data root>/tiled/keys/NAME``, mode 0600 (owned by NAME when the server runs as root and
NAME is an account on the machine), and kept across restarts: a key file whose key the
database still knows is reused. The password login tiled offers in this mode is closed (its
``DictionaryAuthenticator`` with no passwords): keys are the only way in.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import pwd
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

PROVIDER = "beamline"  # tiled's identity provider name for these users
ROLES = {  # role -> tiled scopes
    "writer": ["read:metadata", "read:data", "create:node", "write:metadata", "write:data", "register"],
    "reader": ["read:metadata", "read:data"],
}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$")


@dataclass(frozen=True)
class User:
    name: str
    role: str = "writer"


def parse_user(text: str) -> User:
    """``NAME`` or ``NAME:ROLE`` (ROLE: writer or reader); ValueError saying what is wrong."""
    name, _, role = text.partition(":")
    role = role or "writer"
    if not _NAME.match(name):
        raise ValueError(f"{text!r}: a user name is letters, digits and _ . @ - (not starting with . @ -)")
    if role not in ROLES:
        raise ValueError(f"{text!r}: the role must be one of {', '.join(ROLES)}, not {role!r}")
    return User(name, role)


def key_dir(data_root: Path) -> Path:
    return Path(data_root) / "tiled" / "keys"


def key_file(data_root: Path, name: str) -> Path:
    """Where ``name``'s API key is kept."""
    return key_dir(data_root) / name


def authentication():
    """tiled's ``Authentication`` for this mode: one provider refusing every password, fresh
    secrets for the (unused) session tokens."""
    from tiled.config import Authentication

    return Authentication(
        providers=[{"provider": PROVIDER, "authenticator": "tiled.authenticators:DictionaryAuthenticator",
                    "args": {"users_to_passwords": {}}}],
        secret_keys=[secrets.token_hex(32)],
    )


def database_settings(uri: str):
    """tiled's ``Database`` settings for ``server_settings["database"]``."""
    from tiled.config import Database

    return Database(uri=uri)


def provision(uri: str, users: list[User], data_root: Path) -> dict[str, Path]:
    """Make tiled's authentication database at ``uri`` hold ``users`` with their roles and a
    valid key each; write each key file. Returns name -> key file."""
    return asyncio.run(_provision(uri, users, Path(data_root)))


async def _provision(uri: str, users: list[User], data_root: Path) -> dict[str, Path]:
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
    from sqlalchemy.future import select
    from sqlalchemy.orm import selectinload
    from tiled.alembic_utils import UninitializedDatabase, check_database, stamp_head
    from tiled.authn_database import orm
    from tiled.authn_database.alembic_constants import ALEMBIC_DIR, ALEMBIC_INI_TEMPLATE_PATH
    from tiled.authn_database.core import (
        ALL_REVISIONS,
        REQUIRED_REVISION,
        get_or_create_principal,
        initialize_database,
        lookup_valid_api_key,
    )
    from tiled.utils import ensure_specified_sql_driver

    uri = ensure_specified_sql_driver(uri)
    engine = create_async_engine(uri)
    files: dict[str, Path] = {}
    try:
        try:
            await check_database(engine, REQUIRED_REVISION, ALL_REVISIONS)
        except UninitializedDatabase:
            await initialize_database(engine)
            await asyncio.to_thread(stamp_head, ALEMBIC_INI_TEMPLATE_PATH, ALEMBIC_DIR, uri)
        _private_sqlite_file(uri)
        directory = key_dir(data_root)
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o711)  # others may open their own file by name, not list the keys
        async with AsyncSession(engine, expire_on_commit=False) as db:
            roles = {}
            for name, scopes in ROLES.items():
                role_name = f"beamline-{name}"
                role = (await db.execute(select(orm.Role).filter(orm.Role.name == role_name))).scalar()
                if role is None:
                    role = orm.Role(name=role_name, description=f"beamline-tiled {name}", scopes=scopes)
                    db.add(role)
                else:
                    role.scopes = scopes
                roles[name] = role
            await db.commit()
            for user in users:
                principal = await get_or_create_principal(db, PROVIDER, user.name)
                principal = (await db.execute(select(orm.Principal).options(selectinload(orm.Principal.roles))
                                              .filter(orm.Principal.id == principal.id))).scalar()
                principal.roles = [roles[user.role]]  # the role's scopes, not tiled's default "user" role
                await db.commit()
                path = key_file(data_root, user.name)
                key = _read_key(path)
                known = await lookup_valid_api_key(db, bytes.fromhex(key)) if key else None
                if known is None or known.principal_id != principal.id:
                    key = await _new_key(db, orm, principal, user)
                _write_key(path, key, user.name)
                files[user.name] = path
    finally:
        await engine.dispose()
    return files


async def _new_key(db, orm, principal, user: User) -> str:
    """A new API key for ``principal``: the row tiled's ``generate_apikey`` writes (36 random
    bytes, stored as their SHA-256; the first eight hex digits identify it)."""
    secret = secrets.token_bytes(4 + 32)
    db.add(orm.APIKey(principal_id=principal.id, expiration_time=None, note=f"beamline-tiled key of {user.name}",
                      scopes=["inherit"], access_tags=None, first_eight=secret.hex()[:8],
                      hashed_secret=hashlib.sha256(secret).digest()))
    await db.commit()
    return secret.hex()


def _read_key(path: Path) -> str | None:
    try:
        key = path.read_text().strip()
    except OSError:
        return None
    return key if re.fullmatch(r"[0-9a-f]{72}", key) else None


def _write_key(path: Path, key: str, name: str) -> None:
    """Write ``key`` to ``path``, mode 0600 from the start (never briefly readable by others);
    owned by ``name`` when running as root and ``name`` is an account here."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (key + "\n").encode())
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)  # O_CREAT's mode does not apply to a file left by a killed run
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError):
            account = pwd.getpwnam(name)
            os.chown(tmp, account.pw_uid, account.pw_gid)
    os.replace(tmp, path)


def _private_sqlite_file(uri: str) -> None:
    """An SQLite authentication database readable by the server's user only (it holds the keys' hashes)."""
    match = re.match(r"^sqlite(?:\+\w+)?:///(.+)$", uri)
    if match and not match.group(1).startswith(":memory:"):
        with contextlib.suppress(OSError):
            os.chmod(match.group(1), 0o600)


def read_own_key(keys: Path | str, user: str) -> str | None:
    """The key of ``user`` in a server's key directory, if this process may read it."""
    return _read_key(Path(keys) / user)


__all__ = ["PROVIDER", "ROLES", "User", "authentication", "database_settings", "key_dir", "key_file", "parse_user",
           "provision", "read_own_key"]
