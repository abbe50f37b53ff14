"""The CA repeater clients register with: confirms, forwards beacons, never echoes a search."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import caproto
import pytest

from beamline_shared.launcher import free_port


@pytest.fixture
def repeater():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "beamline_shared.repeater", str(port), str(os.getpid())])
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(0.2)
    try:
        for _ in range(100):  # until it confirms: it binds soon after starting
            client.sendto(b"", ("127.0.0.1", port))
            try:
                reply = client.recv(1024)
                break
            except TimeoutError:
                continue
        else:
            pytest.fail("the repeater never confirmed a registration")
        assert caproto.Broadcaster(our_role=caproto.CLIENT).recv(reply, ("127.0.0.1", port))[0].__class__ \
            is caproto.RepeaterConfirmResponse
        yield port, client
    finally:
        client.close()
        proc.terminate()
        proc.wait(5)


def test_a_beacon_reaches_a_registered_client(repeater):
    port, client = repeater
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.sendto(bytes(caproto.Beacon(13, 5064, 1, "127.0.0.1")), ("127.0.0.1", port))
    client.settimeout(5)
    commands = caproto.Broadcaster(our_role=caproto.CLIENT).recv(client.recv(1024), ("127.0.0.1", port))
    assert [type(c) for c in commands] == [caproto.Beacon]


def test_a_search_sent_to_the_repeater_does_not_come_back_as_an_answer(repeater):
    """A client whose address list names the repeater's port must not get its search echoed:
    caproto's client reads the echo as a server at address <cid> and port 5."""
    port, client = repeater
    search = caproto.VersionRequest(0, 13), caproto.SearchRequest("BL:mtr:dotx.RBV", 8851, 13)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("127.0.0.1", 0))
        other.sendto(b"".join(map(bytes, search)), ("127.0.0.1", port))
        # then a beacon, which does come through: anything before it would have been the echo
        other.sendto(bytes(caproto.Beacon(13, 5064, 2, "127.0.0.1")), ("127.0.0.1", port))
    client.settimeout(5)
    commands = caproto.Broadcaster(our_role=caproto.CLIENT).recv(client.recv(1024), ("127.0.0.1", port))
    assert [type(c) for c in commands] == [caproto.Beacon]
