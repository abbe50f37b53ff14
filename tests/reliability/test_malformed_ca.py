"""Malformed Channel Access, and fuzzing of the parsing the project does itself.

Part 1 sends over 10,000 random and mutated CA messages to an IOC's TCP port (2,000
connections, 80 at a time) and 2,500 to its UDP port: bad headers, wrong and huge payload sizes, truncations, unknown
commands, valid-looking CreateChan/ReadNotify/WriteNotify/EventAdd with bad sids, types
and counts, and mutations of real requests. Meanwhile a well-behaved pyepics client keeps
reading ``ring:current`` and acquiring frames; it must never fail, and the IOC must stay
up and serve normally afterwards.

Part 2 runs hypothesis over the project's own parsers: FileTemplate checking and
formatting, FilePath resolution, Record -> pvproperty kwargs, ``--sensor-shape``, and the
put checks. Each may only raise its documented exception, and no path ever resolves
outside the data root.

Longer soak: ``BEAMLINE_SOAK=N`` multiplies the message counts and hypothesis examples by
20 x N (``BEAMLINE_SOAK=1 pytest -s tests/reliability/test_malformed_ca.py`` sends 250,000
messages; about 1.5 minutes here). It draws other messages than the default run: it found
the DBR_STRING count bomb that ``test_one_message_cannot_stall_the_ioc`` pins down (fixed
in ``ioc/server/``).
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import re
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import caproto
import epics
import numpy as np
import psutil
import pytest
from caproto import ChannelType
from caproto.server import PVGroup, pvproperty
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beamline_shared.launcher import IOCProcess
from ioc.app import _shape
from ioc.areadetector.file_paths import TemplateError, WriteError, check_template, format_template, resolve_directory
from ioc.records import Record, RecordGroup, check_put, pv_kwargs

from ..ca import good_acquisition, send_until_closed
from ..test_ca_server import Raw
from .conftest import RELIABILITY_PORTS, World

SOAK = int(os.environ.get("BEAMLINE_SOAK", "0") or 0)
SCALE = 20 * SOAK if SOAK > 0 else 1
TCP_MESSAGES = 10_000 * SCALE
BATCH = 80  # connections open at once
BURST = 5  # requests per connection after its handshake
UDP_DATAGRAMS = 2500 * SCALE
P = "BM:"
# Channels the valid-looking requests name: read-only ones, and settings no acquisition needs.
NAMES = [P + n for n in ("ring:current", "sim:Time", "dot:cam1:Gain", "dot:Stats1:CentroidThreshold",
                         "mtr:doty.DESC", "dot:cam1:NDAttributesMacros")]

# -- the traffic --------------------------------------------------------------------------------

HEADER = struct.Struct(">HHHHII")  # command, payload size, data type, data count, parameter 1, 2
BOUNDARY16 = [0, 1, 2, 7, 8, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF]
BOUNDARY32 = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**24, 2**16]
UNKNOWN_COMMANDS = [5, 7, 8, 9, 10, 14, 16, 17, 24, 25, 28, 29, 100, 0x7FFF, 0xFFFF]


def real_requests(rng: random.Random) -> list[bytes]:
    """A well-formed session: handshake, channels, then reads, writes, subscriptions, clears."""
    out = [bytes(caproto.VersionRequest(0, 13)), bytes(caproto.HostNameRequest("fuzz")),
           bytes(caproto.ClientNameRequest("fuzz"))]
    out += [bytes(caproto.CreateChanRequest(name, cid, 13)) for cid, name in enumerate(NAMES)]
    for sid in range(len(NAMES)):
        for data_type in (0, 1, 2, 3, 4, 5, 6, 13, 20, 34, 38):  # native, TIME_, CTRL_, ...
            out.append(bytes(caproto.ReadNotifyRequest(data_type=data_type, data_count=rng.choice([0, 1, 2, 40]),
                                                       sid=sid, ioid=rng.randrange(1000))))
        out.append(bytes(caproto.EventAddRequest(data_type=6, data_count=1, sid=sid, subscriptionid=sid,
                                                 low=0, high=0, to=0, mask=1)))
        out.append(bytes(caproto.WriteNotifyRequest(data=[1.5], data_type=6, data_count=1, sid=sid, ioid=7)))
        out.append(bytes(caproto.WriteNotifyRequest(data=[b"fuzz"], data_type=0, data_count=1, sid=sid, ioid=8)))
        out.append(bytes(caproto.WriteRequest(data=[3], data_type=5, data_count=1, sid=sid, ioid=9)))
        out.append(bytes(caproto.EventCancelRequest(data_type=6, sid=sid, subscriptionid=sid)))
        out.append(bytes(caproto.ClearChannelRequest(sid, sid)))
    out += [bytes(caproto.EchoRequest()), bytes(caproto.EventsOffRequest()), bytes(caproto.EventsOnRequest())]
    return out


def with_field(msg: bytes, index: int, value: int) -> bytes:
    fields = list(HEADER.unpack(msg[:16].ljust(16, b"\0")))
    fields[index] = value
    return HEADER.pack(*fields) + msg[16:]


def mutate(msg: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One mutation of a message, and its kind."""
    kind = rng.choice(MUTATIONS)
    m = bytearray(msg)
    if kind == "bit flips":
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(m))
            m[i] ^= 1 << rng.randrange(8)
    elif kind == "truncated":
        m = m[: rng.randrange(len(m))]
    elif kind == "header field at a boundary":
        i = rng.randrange(6)
        m = bytearray(with_field(bytes(m), i, rng.choice(BOUNDARY16 if i < 4 else BOUNDARY32)))
    elif kind == "huge extended payload":
        command = HEADER.unpack(bytes(m[:16]).ljust(16, b"\0"))[0]
        m = bytearray(HEADER.pack(command, 0xFFFF, rng.choice([0, 5, 6]), 0, rng.choice(BOUNDARY32),
                                  rng.choice(BOUNDARY32))
                      + struct.pack(">II", rng.choice(BOUNDARY32), rng.choice(BOUNDARY32))) + m[16:]
    elif kind == "unknown command":
        m = bytearray(with_field(bytes(m), 0, rng.choice(UNKNOWN_COMMANDS)))
    elif kind == "wrong payload size":
        m = bytearray(with_field(bytes(m), 1, rng.randrange(0, 0x10000) & ~7))
    elif kind == "bad sid, type or count":  # data type and count are 16-bit; the sid is parameter 1
        i = rng.choice([2, 3, 4])
        value = rng.choice(BOUNDARY16 + [rng.randrange(40)]) if i < 4 else rng.choice(BOUNDARY32 + [rng.randrange(64)])
        m = bytearray(with_field(bytes(m), i, value))
    elif kind == "garbage inserted":
        i = rng.randrange(len(m) + 1)
        m[i:i] = rng.randbytes(rng.randrange(1, 48))
    else:  # "noise"
        m = bytearray(rng.randbytes(rng.randrange(1, 80)))
    return kind, bytes(m)


MUTATIONS = ["bit flips", "truncated", "header field at a boundary", "huge extended payload", "unknown command",
             "wrong payload size", "bad sid, type or count", "garbage inserted", "noise"]


@dataclass
class Tally:
    sent: int = 0  # messages sent while the IOC still had the connection open
    unsent: int = 0  # messages left unsent because the IOC had closed the connection
    connections: dict = field(default_factory=dict)  # how each connection ended
    kinds: dict = field(default_factory=dict)

    def count(self, table: dict, key: str) -> None:
        table[key] = table.get(key, 0) + 1


ECHO = bytes(caproto.EchoRequest())  # the reply is the same 16 bytes


def open_circuit(port: int, handshake: bytes) -> socket.socket | None:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(handshake)
    except OSError:
        return None
    sock.setblocking(False)
    return sock


def endings(socks: list[socket.socket], timeout: float) -> list[str]:
    """How each connection stands after its garbage and a final echo: "answered" (the IOC
    got through all of it), "closed by the IOC" (it must close on garbage it cannot parse),
    or "silent" (it waits for the rest of a message that claimed more bytes, or the circuit
    is stuck)."""
    outcome = {sock: "silent" for sock in socks}
    received = {sock: b"" for sock in socks}
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while selector.get_map() and time.monotonic() < deadline:
            for key, _ in selector.select(max(deadline - time.monotonic(), 0)):
                sock = key.fileobj
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    outcome[sock] = "closed by the IOC"
                    selector.unregister(sock)
                    continue
                received[sock] = (received[sock] + chunk)[-4096:]
                if ECHO in received[sock]:
                    outcome[sock] = "answered"
                    selector.unregister(sock)
    return [outcome[sock] for sock in socks]


def fuzz_tcp(port: int, rng: random.Random, tally: Tally) -> None:
    """Batches of concurrent connections: each opens the channels properly (so that what
    follows reaches the channel handling, not only the header parser), then sends a burst
    of mutated and valid requests and an echo."""
    real = real_requests(rng)
    handshake = b"".join(real[: 3 + len(NAMES)])
    while tally.sent < TCP_MESSAGES:
        socks = [sock for sock in (open_circuit(port, handshake) for _ in range(BATCH)) if sock is not None]
        assert socks, f"the IOC stopped accepting connections after {tally.sent} messages"
        tally.connections["opened"] = tally.connections.get("opened", 0) + len(socks)
        for sock in socks:
            burst = [mutate(rng.choice(real), rng) if rng.random() < 0.9 else ("valid", rng.choice(real))
                     for _ in range(BURST)]
            for i, (kind, msg) in enumerate(burst + [("echo", ECHO)]):
                try:
                    sock.sendall(msg)
                except OSError:  # BlockingIOError too: the IOC stopped reading this one
                    tally.unsent += len(burst) + 1 - i
                    break
                if kind != "echo":
                    tally.sent += 1
                    tally.count(tally.kinds, kind)
        for result in endings(socks, timeout=0.1):
            tally.count(tally.connections, result)
        for sock in socks:
            sock.close()


def fuzz_udp(port: int, rng: random.Random, tally: Tally) -> None:
    searches = [bytes(caproto.VersionRequest(0, 13)) + bytes(caproto.SearchRequest(name, i, 13))
                for i, name in enumerate(NAMES + [P + "no:such:pv"])]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.setblocking(False)
        for i in range(UDP_DATAGRAMS):
            kind, msg = mutate(rng.choice(searches), rng) if rng.random() < 0.9 else ("valid", rng.choice(searches))
            try:
                udp.sendto(msg or b"\0", ("127.0.0.1", port))
                tally.sent += 1
                tally.count(tally.kinds, "udp " + kind)
            except OSError:
                tally.unsent += 1
            if i % 50 == 0:
                time.sleep(0.001)  # a datagram flood only fills buffers; keep it to what is processed
            try:
                while udp.recv(65536):
                    pass
            except OSError:
                pass


class WellBehavedClient(threading.Thread):
    """A pyepics user reading the ring current and acquiring, throughout the fuzzing."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.reads = self.acquisitions = 0
        self.failures: list[str] = []

    def run(self) -> None:
        last_acquire = 0.0
        while not self.stop.is_set():
            value = epics.caget(P + "ring:current", timeout=5, use_monitor=False)
            if value is None or not 0 < value < 600:
                self.failures.append(f"read ring:current -> {value!r}")
            self.reads += 1
            if time.monotonic() - last_acquire > 0.2:
                if epics.caput(P + "dot:cam1:Acquire", 1, wait=True, timeout=10) != 1:
                    self.failures.append("Acquire did not complete")
                self.acquisitions += 1
                last_acquire = time.monotonic()
            self.stop.wait(0.01)


@pytest.fixture
def fuzzed_ioc(own_ioc, tmp_path):
    world = World(tmp_path / "world")
    proc = own_ioc(P, world)
    good_acquisition(P, world.root / "frames")
    return proc, world


def test_ioc_survives_malformed_channel_access(fuzzed_ioc):
    proc, world = fuzzed_ioc
    rss_before = psutil.Process(proc.pid).memory_info().rss
    client = WellBehavedClient()
    client.start()
    tally = Tally()
    rng = random.Random(20240607 + SOAK)
    t0 = time.monotonic()
    try:
        fuzz_tcp(proc.port, rng, tally)
        fuzz_udp(proc.port, rng, tally)
    finally:
        client.stop.set()
        client.join(30)
    elapsed = time.monotonic() - t0
    print(f"\nmalformed CA: {tally.sent} messages sent in {elapsed:.1f} s ({tally.unsent} more not sent: "
          f"connection closed by the IOC); TCP connections: {tally.connections}; well-behaved client: "
          f"{client.reads} reads, {client.acquisitions} acquisitions, {len(client.failures)} failures")
    print("by kind:", ", ".join(f"{k}: {n}" for k, n in sorted(tally.kinds.items())))

    assert tally.sent >= 10_000 * SCALE
    assert proc.alive(), f"the IOC died; see {proc.log_path}"
    assert client.failures == []
    assert client.reads > 0 and client.acquisitions > 0
    # Afterwards it serves as before: new clients, searches, acquisition with its file.
    written = good_acquisition(P, world.root / "after")
    assert written.is_file()
    assert epics.caget(P + "ring:current", timeout=5, use_monitor=False) is not None
    rss_after = psutil.Process(proc.pid).memory_info().rss
    assert rss_after - rss_before < 200e6, "the garbage left memory behind"
    world.assert_outside_untouched()


def drain_blocking(sock: socket.socket, seconds: float) -> tuple[bytes, bool]:
    """What arrives within ``seconds``, and whether the IOC closed the connection."""
    sock.settimeout(seconds)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except TimeoutError:
        return data, False
    except ConnectionResetError:
        return data, True


def test_a_request_on_an_unknown_channel_gets_an_answer_or_a_closed_connection(own_ioc, tmp_path):
    """A client that sends a request with a sid it never got (a bug, or a race with
    ClearChannel) must learn of it: an error, or the circuit closed. Not silence."""
    proc = own_ioc("BZ:", World(tmp_path / "world"))
    with Raw(proc.port, ["BZ:ring:current"]) as client:
        client.sock.sendall(bytes(caproto.ReadNotifyRequest(data_type=6, data_count=1, sid=999, ioid=1)) + ECHO)
        data, closed = drain_blocking(client.sock, 3.0)
    # Ours closes the circuit (the request loop cannot go on without the channel); an error
    # response naming the request would do too. Only silence is wrong.
    assert closed or caproto.ErrorResponse.ID in [struct.unpack(">H", data[i:i + 2])[0]
                                                  for i in range(0, len(data) - 1, 2)], \
        "the IOC neither answered nor closed the connection"
    assert proc.alive()


def test_a_client_cannot_make_the_ioc_buffer_a_huge_message(own_ioc, tmp_path):
    """A header may claim a 4 GB payload; a client streaming it must not grow the IOC's
    memory without bound: past EPICS_CA_MAX_ARRAY_BYTES (64 MiB here) the circuit closes."""
    proc = own_ioc("BY:", World(tmp_path / "world"))
    ioc = psutil.Process(proc.pid)
    rss_before = ioc.memory_info().rss
    with socket.create_connection(("127.0.0.1", proc.port), timeout=5) as sock:
        sock.sendall(HEADER.pack(19, 0xFFFF, 6, 0, 0, 1) + struct.pack(">II", 2**30, 2**27))  # WriteNotify, 1 GiB
        streamed = send_until_closed(sock)  # until the IOC closes the circuit: what it should do
        growth = ioc.memory_info().rss - rss_before
    assert proc.alive()
    assert streamed < 100 * 2**20, "the IOC took 100 MB of one message without closing the circuit"
    assert growth < 80 * 2**20


def echo_answered(port: int, timeout: float) -> bool:
    """Does the IOC answer a new client's echo within ``timeout``?"""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        sock.sendall(bytes(caproto.VersionRequest(0, 13)) + ECHO)
    except OSError:
        return False
    with sock:
        sock.setblocking(False)
        return endings([sock], timeout) == ["answered"]


# WriteNotify with an extended header: DBR_STRING, 2**31 elements, no payload at all.
STALLER = HEADER.pack(19, 0xFFFF, 0, 0, 0, 1) + struct.pack(">II", 0, 2**31)


def test_one_message_cannot_stall_the_ioc(tmp_path):
    world = World(tmp_path / "world")
    # Not own_ioc: should the stall come back, this IOC has to be killed, which own_ioc
    # would count as a crash rather than the failure it is.
    proc = IOCProcess(prefix="BK:", data_root=world.root, port=RELIABILITY_PORTS[2], time_scale=100,
                      log_path=tmp_path / "ioc.log").start()
    try:
        rss_before = psutil.Process(proc.pid).memory_info().rss
        with Raw(proc.port, ["BK:ring:current"]) as client:
            client.sock.sendall(STALLER)
            # The put is refused at once (an error response), and a new client is served.
            try:
                refused = client.until(lambda c: isinstance(c, caproto.ErrorResponse), 3.0)[-1]
            except (TimeoutError, ConnectionError):
                refused = None
            answered = echo_answered(proc.port, 3.0)
        growth = psutil.Process(proc.pid).memory_info().rss - rss_before
    finally:
        proc.stop(timeout=3)  # SIGINT, then SIGKILL if the loop is stuck
    assert refused is not None and refused.status.name == "ECA_PUTFAIL", refused
    assert b"strings declared" in refused.error_message  # the reason, in the error the client gets
    assert answered, "one message stopped the IOC serving anyone"
    assert growth < 50e6


# -- part 2: hypothesis over the project's own parsers ------------------------------------------

EXAMPLES = 300 * SCALE
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

templates = st.lists(st.sampled_from(list("%sdiouxXnc*.-+ #0123456789lh_/tif(){}x") + ["%%", "%s", "%d", "%6.6d",
                                                                                      "%999999999d", "%.300s"]),
                     max_size=16).map("".join)


@FUZZ
@given(template=templates)
def test_check_template_accepts_or_raises_template_error(template: str):
    try:
        used = check_template(template)
    except TemplateError:
        return
    assert 0 <= used <= 3
    name = template % ("/data/", "frame", 12)[:used]
    assert len(name) < 10_000


@FUZZ
@given(template=templates, path=st.text(max_size=30), name=st.text(max_size=30),
       number=st.integers(min_value=-(2**63), max_value=2**63))
def test_format_template_formats_or_raises_template_error(template, path, name, number):
    try:
        full = format_template(template, path, name, number)
    except TemplateError:
        return
    assert isinstance(full, str)


PARTS = ["..", ".", "", "a", "b", "new", "link-out", "link-in", "loop", "file", "ü", "x" * 300, "\0", "%s", " "]


@pytest.fixture(scope="module")
def maze(tmp_path_factory) -> World:
    """A data root with links out, links in, a link loop and a file, inside a watched outside."""
    world = World(tmp_path_factory.mktemp("maze"))
    (world.root / "a" / "b").mkdir(parents=True)
    (world.root / "file").write_text("x")
    (world.root / "link-out").symlink_to(world.outside)
    (world.root / "a" / "link-in").symlink_to(world.root / "a" / "b")
    (world.root / "loop").symlink_to(world.root / "loop")
    world.baseline = world.outside_tree()
    return world


@FUZZ
@given(parts=st.lists(st.sampled_from(PARTS), max_size=8), start=st.sampled_from(["root", "/", "", "top"]),
       depth=st.integers(min_value=-70, max_value=70))
def test_resolve_directory_never_leaves_the_root(maze: World, parts, start, depth):
    base = {"root": str(maze.root), "/": "/", "": "", "top": str(maze.top)}[start]
    path = "/".join([base, *parts]) if base else "/".join(parts)
    try:
        real = resolve_directory(path, maze.root, depth)
    except WriteError as exc:
        # Refused with a real errno for the reason, and a message saying it is about FilePath.
        assert exc.errno in errno.errorcode, exc
        assert "FilePath" in str(exc), exc
    else:
        root = Path(os.path.realpath(maze.root))
        assert real == root or root in real.parents, f"{path!r} resolved to {real}, outside {root}"
        assert real.is_dir()
    assert maze.outside_tree() == maze.baseline, f"{path!r} (depth {depth}) changed the outside"


RECORD_TYPES = ["ao", "ai", "longout", "longin", "bo", "bi", "mbbo", "mbbi", "stringout", "stringin", "waveform",
                "calc", "", "motor"]
values = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.text(max_size=50),
                   st.booleans(), st.just(()), st.lists(st.integers(), max_size=3))
records = st.builds(
    Record,
    suffix=st.one_of(st.sampled_from(["AcquireTime", "X_RBV", "Gain", "A:B.C"]), st.text(max_size=12)),
    record=st.sampled_from(RECORD_TYPES),
    value=values,
    rbv=st.booleans(),
    enum_strings=st.lists(st.text(max_size=30), max_size=18).map(tuple),
    units=st.text(max_size=10),
    precision=st.one_of(st.integers(min_value=-5, max_value=30), st.none()),
    ftvl=st.sampled_from(["", "CHAR", "UCHAR", "DOUBLE", "LONG", "FLOAT", "SHORT", "STRING", "INT64", "BOGUS"]),
    nelm=st.one_of(st.integers(min_value=-5, max_value=3000), st.just(2**40)),
    doc=st.text(max_size=20),
)


@FUZZ
@given(rec=records, readback=st.booleans())
def test_record_kwargs_build_a_servable_pv_or_raise_value_error(rec: Record, readback: bool):
    try:
        kwargs = pv_kwargs(rec, readback=readback)
    except ValueError:
        return
    group = type("Fuzzed", (PVGroup,), {"pv": pvproperty(**kwargs)})(prefix="FZ:")
    chan = group.pv
    # caproto can serve it: every read a client may make, with metadata.
    for data_type in ("native", ChannelType.STRING, caproto.field_types["control"][chan.data_type]):
        asyncio.run(chan.read(data_type if data_type != "native" else chan.data_type))


@FUZZ
@given(text=st.one_of(st.text(max_size=20), st.from_regex(r"-?[0-9]{1,5} ?[xX] ?-?[0-9]{1,5}", fullmatch=True)))
def test_sensor_shape_parses_or_exits_with_a_message(text: str):
    try:
        rows, cols = _shape(text)
    except SystemExit as exc:
        assert "--sensor-shape" in str(exc)
    else:
        assert 8 <= rows <= 8192 and 8 <= cols <= 8192


def _channels() -> dict:
    """One served channel of each class a client can put to, checks installed as in the IOC."""

    class Kinds(RecordGroup):
        double = pvproperty(value=0.0, dtype=ChannelType.DOUBLE)
        long = pvproperty(value=0, dtype=ChannelType.LONG)
        enum = pvproperty(value="a", dtype=ChannelType.ENUM, enum_strings=("a", "b", "c"))
        text = pvproperty(value="", dtype=ChannelType.CHAR, max_length=32, string_encoding="utf-8",
                          report_as_string=False)
        string = pvproperty(value="", dtype=ChannelType.STRING)

    group = Kinds(prefix="CK:")
    return {name.split(":")[1]: chan for name, chan in group.pvdb.items()}


CHANNELS = _channels()
WIRE_TYPES = [ChannelType.STRING, ChannelType.INT, ChannelType.FLOAT, ChannelType.ENUM, ChannelType.CHAR,
              ChannelType.LONG, ChannelType.DOUBLE]
NUMPY = {ChannelType.INT: ">i2", ChannelType.FLOAT: ">f4", ChannelType.ENUM: ">u2", ChannelType.CHAR: "u1",
         ChannelType.LONG: ">i4", ChannelType.DOUBLE: ">f8"}


REFUSALS = {"enum": r"is not one of the choices",
            "text": r"^text (of \d+ bytes is too long|is not valid|contains the control character|goes to this char)"
                    r"|is not a (finite |whole )?number|is out of range",
            "double": r"is not a (finite |whole )?number|is out of range",
            "long": r"is not a (finite |whole )?number|is out of range"}


@st.composite
def wire_values(draw):
    """A value as it arrives from a client: decoded from wire bytes of some CA type."""
    data_type = draw(st.sampled_from(WIRE_TYPES))
    count = draw(st.integers(min_value=0, max_value=40))
    raw_bytes = draw(st.binary(min_size=count * 8, max_size=count * 8))
    if data_type == ChannelType.STRING:
        return data_type, [raw_bytes[i:i + 8] for i in range(0, len(raw_bytes), 8)] or [b""]
    return data_type, np.frombuffer(raw_bytes, dtype=NUMPY[data_type])[:count]


@FUZZ
@given(kind=st.sampled_from(sorted(CHANNELS)), wire=wire_values())
def test_put_checks_accept_or_explain(kind: str, wire):
    data_type, data = wire
    try:
        result = check_put(CHANNELS[kind], data, data_type)
    except ValueError as exc:
        # The refusal says which rule the value broke, for the kind of channel it was put to.
        assert kind != "string", f"a DBR string always fits a string PV, refused: {exc}"
        assert re.search(REFUSALS[kind], str(exc)), f"{kind}: {exc}"
    else:
        assert result is None or isinstance(result, str)

