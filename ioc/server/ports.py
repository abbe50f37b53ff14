"""The Channel Access port a server takes, as rsrv takes it, and what happens when it is taken.

rsrv serves on ``EPICS_CAS_SERVER_PORT``, else ``EPICS_CA_SERVER_PORT``, else 5064: UDP for
searches and, if it is free, TCP for circuits (another TCP port if not). Several IOCs on one
host share the UDP port, which works where clients broadcast their searches: every server on
the port receives a broadcast. On loopback clients search by unicast, which the kernel hands
to one of the sockets sharing the port: each IOC then misses some searches, and a client finds
one IOC's PVs or the other's, or neither. So a server on loopback does not share a taken port.
"""

from __future__ import annotations

import errno
import json
import socket
from pathlib import Path

from beamline_shared.paths import pid_alive

DEFAULT_PORT = 5064


class PortTaken(RuntimeError):
    """The port the environment names for this server is another server's."""


def requested_port(environ: dict[str, str]) -> tuple[int, str]:
    """(port, the variable that named it) as rsrv reads them; (5064, "") if none does."""
    for name in ("EPICS_CAS_SERVER_PORT", "EPICS_CA_SERVER_PORT"):
        if environ.get(name, "").strip():
            try:
                port = int(environ[name])
            except ValueError:
                raise PortTaken(f"{name}={environ[name]!r} is not a port number") from None
            if not 0 < port < 65536:
                raise PortTaken(f"{name}={port} is not a port number (1-65535)")
            return port, name
    return DEFAULT_PORT, ""


def tcp_port_taken(port: int, interfaces: list[str]) -> bool:
    """Whether a server already listens on TCP ``port`` on one of ``interfaces``."""
    for interface in interfaces:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as caproto binds: TIME_WAIT is no owner
            try:
                sock.bind((interface, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
                raise
    return False


def free_port(interfaces: list[str]) -> int:
    """A port free for TCP and UDP on every one of ``interfaces``."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((interfaces[0], 0))
            port = probe.getsockname()[1]
            try:
                for interface in interfaces:
                    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                        if interface == interfaces[0] and kind == socket.SOCK_STREAM:
                            continue
                        with socket.socket(socket.AF_INET, kind) as sock:
                            sock.bind((interface, port))
            except OSError:
                continue
            return port
    raise OSError(f"no port free for TCP and UDP on {', '.join(interfaces)}")


def owner(port: int, data_root: Path) -> str:
    """Who serves ``port``, as far as the connection files in ``data_root`` say."""
    for path in sorted(data_root.glob("ioc-*.json")):
        try:
            info = json.loads(path.read_text())
            if int(info["port"]) == port and pid_alive(int(info["pid"])):
                return f"the IOC serving {info['prefix']!r} (PID {info['pid']}, {path})"
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return "another CA server"


def choose_port(environ: dict[str, str], interfaces: list[str], data_root: Path) -> tuple[int, str | None]:
    """The port to serve on, and a note to print if it is not the one asked for.

    On loopback a taken port named by ``EPICS_CAS_SERVER_PORT`` (the server's own setting) is
    refused with :class:`PortTaken`; one named by ``EPICS_CA_SERVER_PORT`` (a client's setting,
    which a shell that talks to another IOC has) or the default is left for a free one.
    """
    port, name = requested_port(environ)
    if not all(i.startswith("127.") for i in interfaces) or not tcp_port_taken(port, interfaces):
        return port, None
    who = owner(port, data_root)
    why = (f"port {port} ({name or 'the default'}) is taken by {who}; on loopback two CA servers "
           f"on one port each miss searches meant for the other")
    if name == "EPICS_CAS_SERVER_PORT":
        raise PortTaken(f"{why}: set EPICS_CAS_SERVER_PORT to a free port, or unset it to have one chosen")
    new = free_port(interfaces)
    return new, f"{why}, so this IOC serves on port {new}"
