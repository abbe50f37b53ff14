"""Large arrays from our CA server (``ioc/ca_server.py``): what a client sees of an image that
is converted once per value written and sent without copies (``EncodedOnce``, one ``sendmsg``
per reply), and of monitors that cannot keep up (latest wins).

Same small server and raw clients as ``tests/test_ca_server.py``; the server's ``image`` is
served as the beamline IOC serves ``image1:ArrayData``.
"""

from __future__ import annotations

import socket

import caproto as ca
import numpy as np
import pytest

from .ca_server_app import Probe
from .test_ca_server import KINDS, Raw, Server, _values

BASE = Probe.BASE
LONG, DOUBLE, TIME_LONG, CTRL_LONG = (ca.ChannelType.LONG, ca.ChannelType.DOUBLE, ca.ChannelType.TIME_LONG,
                                      ca.ChannelType.CTRL_LONG)


@pytest.fixture(params=["ours", "stock"])
def either_server(request, tmp_path):
    srv = Server(request.param, tmp_path / "server.log")
    yield srv
    srv.stop()


@pytest.fixture(params=KINDS)
def server(request, tmp_path):
    srv = Server(request.param, tmp_path / "server.log")
    yield srv
    srv.stop()


def _put(client: Raw, name: str, value: int) -> None:
    request = client.chans[name].write([value], data_type=LONG, notify=True)
    client.send(request)
    (reply,) = [c for c in client.until(lambda c: isinstance(c, ca.WriteNotifyResponse) and c.ioid == request.ioid, 5)
                if isinstance(c, ca.WriteNotifyResponse)]
    assert reply.status.success, reply


def _get(client: Raw, name: str, data_type=LONG, count: int = 0):
    request = client.chans[name].read(data_type=data_type, data_count=count)
    client.send(request)
    got = client.until(lambda c: isinstance(c, ca.ReadNotifyResponse) and c.ioid == request.ioid, 5)
    return got[-1]


def test_a_get_returns_the_value_last_written_in_every_type_asked_for(either_server):
    """Gets after each write (a new array; the same array changed in place; an alarm alone)
    return what was written, with fresh metadata, whatever DBR type and count are asked."""
    with Raw(either_server.port, ["T:image", "T:frame", "T:frame_in_place", "T:image_severity"]) as client:
        last_stamp = None
        for n in (1, 2, 3):
            _put(client, "T:frame", n)
            for _ in range(2):  # the second get of an unchanged value: the cached conversion in ours
                assert np.array_equal(_get(client, "T:image").data, BASE + n)
            assert np.array_equal(_get(client, "T:image", DOUBLE).data, (BASE + n).astype(float))
            assert list(_get(client, "T:image", LONG, count=5).data) == list(BASE[:5] + n)
            reply = _get(client, "T:image", TIME_LONG)
            assert np.array_equal(reply.data, BASE + n)
            stamp = reply.metadata.stamp.as_datetime()
            assert last_stamp is None or stamp > last_stamp
            last_stamp = stamp
        _put(client, "T:frame_in_place", 7)
        assert np.array_equal(_get(client, "T:image").data, BASE + 7)
        assert np.array_equal(_get(client, "T:image", TIME_LONG).data, BASE + 7)
        _put(client, "T:image_severity", 2)
        reply = _get(client, "T:image", TIME_LONG)
        assert reply.metadata.severity == 2 and np.array_equal(reply.data, BASE + 7)
        assert _get(client, "T:image", CTRL_LONG).metadata.severity == 2
        _put(client, "T:image_severity", 0)
        assert _get(client, "T:image", TIME_LONG).metadata.severity == 0


def test_a_monitor_that_cannot_keep_up_gets_the_newest_frame(server):
    """A viewer that stops reading while 300 frames are posted as fast as the server takes them,
    then reads again, is shown the newest frame after at most a few older ones (those already
    in the sockets): a subscription keeps only its newest pending update. caproto kept the 48
    newest frames per subscription, so such a viewer went on showing old frames for 48 updates."""
    with Raw(server.port, ["T:image"]) as viewer, Raw(server.port, ["T:burst"]) as poster:
        viewer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        (sub,) = viewer.subscribe("T:image")
        viewer.until(lambda c: getattr(c, "subscriptionid", None) == sub and c.payload_size, 5)
        _put(poster, "T:burst", 300)  # the viewer reads nothing meanwhile
        newest = BASE + 300
        got = viewer.until(lambda c: isinstance(c, ca.EventAddResponse) and c.subscriptionid == sub
                           and c.payload_size and np.array_equal(c.data, newest), 10)
        frames = [c for c in got if isinstance(c, ca.EventAddResponse) and c.subscriptionid == sub and c.payload_size]
        firsts = [int(c.data[0] - BASE[0]) for c in frames]
    print(f"\n{server.kind}: the viewer received {len(frames)} of 300 frames: {firsts}")
    assert len(frames) <= 10 and firsts == sorted(firsts)
    assert _values([frames[-1]], sub) == [newest[0]]
