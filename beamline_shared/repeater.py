"""A CA repeater on loopback for one client process: ``python -m beamline_shared.repeater PARENT_PID``.

libca registers with a repeater on ``EPICS_CA_REPEATER_PORT`` 10 s after a client starts,
then every second until one confirms; after 50 tries it prints "CA client library is
unable to contact CA repeater after 50 tries" (and it tries to spawn ``caRepeater`` from
PATH, which binds every interface). EPICS base's ``caRepeater`` binds every interface too,
and caproto's repeater does not confirm the zero-length registration libca sends. This
one binds 127.0.0.1 on the port it is given, confirms both forms of registration (as
``caRepeater`` does), forwards beacons to its registered clients, and exits when its
parent process does. ``caRepeater`` forwards every datagram; this one forwards beacons only,
so that a search request sent to its port (a client whose address list names that port)
never comes back to clients looking like a server's answer: caproto's client takes the
echoed request's cid for a server address and tries to connect there. :func:`beamline_shared.launcher.start_repeater`
starts it.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

import caproto


def serve(sock: socket.socket) -> None:
    """Run the repeater on a bound UDP socket until the process ends."""
    clients: dict[tuple[str, int], None] = {}
    broadcaster = caproto.Broadcaster(our_role=caproto.SERVER)

    def register(address: tuple[str, int]) -> None:
        clients[address] = None
        try:
            sock.sendto(bytes(caproto.RepeaterConfirmResponse(address[0])), address)
        except OSError:
            clients.pop(address, None)

    while True:
        try:
            message, address = sock.recvfrom(65536)
        except OSError:  # e.g. ECONNREFUSED left by a send to a client that has gone
            continue
        if not address[0].startswith("127."):
            continue  # local clients and servers only
        if not message:  # libca's registration is a zero-length datagram
            register(address)
            continue
        try:
            commands = broadcaster.recv(message, address)
        except Exception:
            continue
        forward = []
        for command in commands:
            if isinstance(command, caproto.RepeaterRegisterRequest):
                register(address)
            elif isinstance(command, caproto.Beacon):
                if command.header.parameter2 == 0:
                    command.header.parameter2 = caproto.ipv4_to_int32(address[0])
                forward.append(command)
        if not forward:
            continue
        data = b"".join(bytes(command) for command in forward)
        for client in list(clients):
            if client != address:
                try:
                    sock.sendto(data, client)
                except OSError:
                    clients.pop(client, None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    port, parent = int(argv[0]), int(argv[1])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    threading.Thread(target=serve, args=(sock,), daemon=True).start()
    while os.getppid() == parent:
        time.sleep(1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
