"""beamline-tiled for several users: a key of their own each, scopes by role, key files only
their owner reads (the one-user key's file mode: tests/test_tiled.py)."""

from __future__ import annotations

import getpass
import os
import pwd
import stat
import subprocess
import sys

import numpy as np
import pytest
from tiled.client.utils import ClientError

from beamline.tiled_connection import read_tiled_file, tiled_file
from beamline.tiled_server import TiledProcess
from beamline.tiled_storage import tiled_client


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_several_users_each_with_a_key_and_the_scopes_of_their_role(ioc, data_root, tmp_path, monkeypatch):
    from bluesky import plans as bp

    from beamline.session import make_session, subscribe_tiled

    me = getpass.getuser()
    other = "nobody" if os.geteuid() == 0 and _account("nobody") else None  # a second account, as root
    users = ["bob:reader"] + ([f"{other}:reader"] if other else [])
    with TiledProcess(data_root, users=users, log_path=tmp_path / "tiled.log") as server:
        keys = data_root / "tiled" / "keys"
        assert sorted(p.name for p in keys.iterdir()) == sorted({"bob", me} | ({other} if other else set()))
        for path in keys.iterdir():
            assert _mode(path) == 0o600, path
        assert _mode(keys) == 0o711  # a user opens their own file by name; nobody lists the others
        assert _mode(data_root / "tiled" / "authn.db") == 0o600
        assert "api_key" not in tiled_file(data_root).read_text()  # no key in the shared file
        if other:
            assert (keys / other).stat().st_uid == pwd.getpwnam(other).pw_uid  # theirs, not root's
        keys_in_use = {name: server.key_of(name) for name in ("bob", me)}
        assert keys_in_use["bob"] != keys_in_use[me]

        # The user who started the server: a session finds the server and their own key, and
        # its runs go in, frames registered from the IOC's files (the writer role's scopes).
        session = make_session(ioc.prefix, live=False)
        assert read_tiled_file(data_root)["api_key"] == keys_in_use[me]
        session["dot"].exp.set(0.005).wait(5)
        (uid,) = session["RE"](bp.count([session["dot"]], num=2))
        assert session["tiled"][uid]["primary"]["dot_img"].shape == (2, 480, 640)
        # A reader reads the run and may not write.
        bob = tiled_client(server.uri, keys_in_use["bob"])
        assert bob[uid]["primary"]["dot_img"][1].shape == (480, 640)
        with pytest.raises(ClientError, match="Not enough permissions"):
            bob.write_array(np.arange(3), key="bobs")
        with pytest.raises(ClientError, match="Invalid API key"):
            tiled_client(server.uri, "0" * 72)
        with monkeypatch.context() as env:  # a user the server has no key for: told so, not prompted
            env.setenv("LOGNAME", "carol")
            with pytest.raises(ConnectionError, match="has no key for 'carol' .* started with --user carol"):
                subscribe_tiled(session["RE"], data_root)
    with TiledProcess(data_root, users=users, log_path=tmp_path / "tiled.log") as server:
        # restarted: the same keys still work
        assert {name: server.key_of(name) for name in keys_in_use} == keys_in_use
        assert uid in tiled_client(server.uri, keys_in_use["bob"])


@pytest.mark.parametrize(("args", "message"), [
    (["--user", "al ice"], "--user 'al ice': a user name is"),
    (["--user", "alice:admin"], "the role must be one of writer, reader, not 'admin'"),
    (["--user", "alice", "--api-key", "abc"], "--api-key serves one user"),
])
def test_bad_users_are_refused_at_once(tmp_path, args, message):
    result = subprocess.run([sys.executable, "-m", "beamline.tiled_server", "--data-root", str(tmp_path), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not tiled_file(tmp_path).exists()


def _account(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
