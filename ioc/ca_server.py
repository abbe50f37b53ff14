"""Our Channel Access server: caproto 1.3's asyncio server, subclassed.

:class:`Context` and :class:`Circuit` subclass caproto's asyncio ``Context`` and
``VirtualCircuit`` (the context makes circuits of its ``CircuitClass``); each difference
from caproto is an overriding method, named below with the defect it removes. Nothing here
assigns into caproto's classes or modules. ``run(pvdb, ...)`` replaces
``caproto.server.run``.

How a monitor update travels. ``ChannelData.publish`` hands each update to
``Context.subscription_queue``; caproto's is an unbounded queue read by one server-wide
task that awaits each circuit's queue in turn. Ours (:class:`FanOut`) fans the update out
at once, without waiting: it encodes the payload once per post (per data type, count and
array filter), not once per subscriber, and appends a 16/24-byte header plus a reference to
that payload to each subscribing circuit's FIFO. A subscription holds at most
``backlog(nbytes)`` pending updates (100 small ones, one large array); when full, its
newest pending update is replaced in place, as the C server's event queue does, so a
client that cannot keep up gets the newest values at the rate it reads. Each circuit's
sender task hands everything pending in its FIFO to the socket in one ``sendmsg`` per turn
of the event loop, and waits for the socket to drain when the client does not read.

How bytes leave. Everything a circuit sends (monitor updates, replies) goes through
``Circuit._emit``: ``sendmsg`` of a list of buffers on a second handle of the circuit's
socket, in order; what the socket does not take waits in ``Circuit._out`` until it is
writable. Large arrays go as memoryviews, never joined or copied (asyncio's transport in
Python 3.11 has no vectored write and copies what the socket does not take).

Large arrays. A pvproperty whose ChannelData class has :class:`EncodedOnce` (``dtype=
encoded_once(cls)``; the IOC's ``image1:ArrayData``) converts its value to the wire's
big-endian type once per value written, not once per get and post; gets of that value are
answered from the cached conversion and metadata (``Circuit._fast_read``) without a copy.

The differences, each tested against stock caproto in ``tests/test_ca_server.py``:

1. ``Circuit.__init__``: TCP_NODELAY on every circuit, as rsrv sets it (asyncio sets it only
   on sockets made with ``IPPROTO_TCP``; caproto's are not, so each small message waited
   up to 40 ms for the client's delayed ACK). Monitor updates are sent as soon as the
   sender task runs (caproto held them up to 10 ms to batch).
2. ``Circuit._reply_after_monitors``: the reply to a WRITE_NOTIFY (or a refused put) leaves
   after every monitor update the put posted: on the writer's circuit it is queued behind
   them in the same FIFO; on every other circuit the writer waits until they have been
   handed to the socket (a circuit whose client is not reading counts as done once they
   are queued, as in rsrv's event queue: a frozen client must not hold up everyone's puts).
   caproto sent the reply first: ``caput(..., wait=True)`` then saw stale monitored
   ``.RBV``/``.DMOV``/``.LVIO``.
3. ``FanOut`` and ``Circuit.enqueue_event``: posting never waits for a client, and what a
   subscription holds is bounded (see above). caproto's fan-out awaited a full per-circuit
   queue, so one frozen client stopped every monitor and grew the server-wide queue
   without bound; it kept 1000 updates per subscription (48 frames for an image viewer)
   and encoded every frame once per subscriber (1,000 image subscriptions: +1.2 GB).
4. ``Circuit._on_disconnect``: a closed circuit's queued updates, pending writes and
   subscriptions are freed at once, it leaves ``Context.circuits``, and the freed memory
   goes back to the OS (``malloc_trim``). caproto awaited its own monitor task
   (``RuntimeError: await wasn't used with future``) and the circuit and its queued frames
   leaked until a full garbage collection.
5. ``Circuit.command_queue_loop``: when a circuit's request loop ends (a protocol error,
   a request on an unknown channel), the connection is closed, not left open and silent.
6. ``BoundedWire.recv``: a message declaring more than ``EPICS_CA_MAX_ARRAY_BYTES`` is a
   protocol error that closes the circuit (caproto buffered any declared size).
7. ``Circuit._checked_write``: a DBR_STRING put declaring more strings than its payload
   holds is refused at once (caproto's decoder looped over the declared count: one
   24-byte message declaring 2**31 strings froze the event loop).
8. ``Circuit.recv``/``command_queue_loop``/``_start_write``: the socket is read only as
   fast as its requests are processed (a short request queue, at most
   ``WRITES_IN_FLIGHT`` puts in progress per circuit, one request per turn of the event
   loop), so one client flooding puts slows itself, not the others; a refused put logs
   one line. caproto made every put its own task with no bound and logged a traceback for
   each refused one (a flood of 166k puts: the camera stopped, other clients' reads took
   9 s, 4,821 tracebacks).
9. ``Circuit._emit``, ``EncodedOnce``, ``Circuit._fast_read`` (``tests/test_ca_server_images.py``):
   one ``sendmsg`` per turn and per get, no copy of a large array in Python, no conversion
   of an unchanged one. caproto copied a 1.2 MB frame about three times per get and sent
   one message per update; a viewer that fell behind was shown its 48 oldest queued frames.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import os
import socket
import struct
import time
from collections import ChainMap, deque

import caproto as ca
import numpy as np
from caproto import ChannelType, apply_arr_filter
from caproto._commands import ensure_eca_value, pad_buffers, parse_metadata
from caproto._dbr import _LongStringChannelType
from caproto._headers import EventAddResponseHeader, ReadNotifyResponseHeader
from caproto._numpy_backend import type_map
from caproto._utils import apply_deadband_filter
from caproto.asyncio.server import Context as _AsyncioContext
from caproto.asyncio.server import VirtualCircuit as _AsyncioCircuit
from caproto.server.common import WRITE_LOCK_TIMEOUT, DisconnectedCircuit, LoopExit, host_endian
from caproto.server.common import VirtualCircuit as _CommonCircuit

WRITTEN_FOR = (1, 3)  # caproto major.minor these overrides were written against
_version = tuple(int(x) for x in ca.__version__.split(".")[:2] if x.isdigit())
if _version != WRITTEN_FOR:
    raise ImportError(f"ioc.ca_server overrides private methods of caproto {'.'.join(map(str, WRITTEN_FOR))}; "
                      f"caproto {ca.__version__} is installed: check each override against its source first")

SUBSCRIPTION_BACKLOG = 100  # pending updates per subscription, at most ...
SUBSCRIPTION_BACKLOG_BYTES = 1 << 20  # ... and at most this many bytes of them; always at least one
LARGE = 1 << 16  # bytes: a payload this size or more is written on its own, as a memoryview
COMMAND_BACKLOG = 16  # requests parsed but not yet processed, per circuit
WRITES_IN_FLIGHT = 32  # puts in progress per circuit (a motor put with callback lasts the whole move)
RECV_BYTES = 4096  # read at a time: what one turn of the request loop may have to parse (~170 puts)
INLINE_WRITE = 0.01  # s: a put is processed before the next request unless it takes longer (a move)
SEND_HIGH_WATER = 1 << 18  # bytes the socket has not taken before the sender waits for the client
IOV_BATCH = 512  # buffers per sendmsg (Linux takes up to 1024)


_WIRE_TYPES = {ChannelType(t): np.dtype(d) for t, d in type_map.items()}
_ECA_NORMAL = ensure_eca_value(1)
_EXTENDED_HEADER = struct.Struct(">HHHHIIII")  # command, 0xFFFF, data type, 0, parameter 1 and 2, size, count
_NUMERIC = (ChannelType.INT, ChannelType.FLOAT, ChannelType.LONG, ChannelType.DOUBLE)


def backlog(nbytes: int) -> int:
    """How many pending updates of ``nbytes`` each a subscription may hold."""
    return max(1, min(SUBSCRIPTION_BACKLOG, SUBSCRIPTION_BACKLOG_BYTES // max(1, nbytes)))


def _wire(buffer):
    """A payload buffer as the socket takes it: a byte memoryview, no copy for arrays."""
    if isinstance(buffer, np.ndarray):
        return memoryview(np.ascontiguousarray(buffer).view(np.uint8)).cast("B")
    if isinstance(buffer, (bytes, bytearray)):
        return buffer
    if isinstance(buffer, memoryview) and buffer.format == "B" and buffer.c_contiguous:
        return buffer
    return bytes(buffer)  # a ctypes metadata struct, a memoryview of one


def _gather(buffers, parts: list, small: list) -> int:
    """Append ``buffers`` to ``parts`` for one ``sendmsg``: a large one as it is (after the small
    ones before it, joined), small ones into ``small`` to be joined. Returns their size in bytes."""
    nbytes = 0
    for buffer in buffers:
        part = _wire(buffer)
        nbytes += len(part)
        if len(part) >= LARGE:
            if small:
                parts.append(b"".join(small))
                small.clear()
            parts.append(part)
        elif part:
            small.append(part)
    return nbytes


class Encoded:
    """One EventAddResponse's payload, shared by every subscriber it goes to."""

    __slots__ = ("header", "payload", "nbytes")

    @classmethod
    def update(cls, channel, values, metadata, data_type, data_count: int) -> Encoded:
        """The update as caproto's ``channel.subscribe`` makes it, but a large array that ``_read``
        already converted to the wire's big-endian type is used as it is (caproto copies it again)."""
        if (isinstance(values, np.ndarray) and values.nbytes >= LARGE and isinstance(data_type, ChannelType)
                and values.flags.c_contiguous and values.dtype == _WIRE_TYPES.get(ca.native_type(data_type))):
            md = parse_metadata(metadata, data_type)
            size, pad = pad_buffers(md, values)
            header = EventAddResponseHeader(size, data_type, data_count, _ECA_NORMAL, 0)
            return cls(header, (md, values, pad))
        command = channel.subscribe(data=values, metadata=metadata, data_type=data_type, data_count=data_count,
                                    subscriptionid=0, status=1)
        return cls(command.header, command.buffers)

    def __init__(self, header, buffers) -> None:
        self.header = header
        parts = [_wire(b) for b in buffers]
        self.nbytes = sum(len(p) for p in parts)
        if self.nbytes < LARGE or len(parts) != 2 and len(parts) != 3:
            self.payload = [b"".join(parts)]
        else:
            self.payload = [p for p in parts if len(p)]

    def header_for(self, subscriptionid: int) -> bytes:
        header = type(self.header).from_buffer_copy(self.header)
        header.parameter2 = subscriptionid
        return bytes(header)


class EncodedOnce:
    """A ChannelData mixin: a large array value is converted to the wire's type once per value
    written, not once per get and post (caproto's ``_read`` converts, i.e. copies, it each time).

    The converted array is kept until the next write, for each wire type asked for, and so is
    the DBR metadata, until the next write of metadata or alarm; gets and monitor posts of the
    same value send that one copy (see ``Encoded.update``, ``Circuit._fast_read``).
    """

    _encoded: tuple | None = None  # (the value converted, {native type: wire array}, {DBR type: (key, metadata)})
    _metadata_generation = 0
    _wire: tuple | None = None  # (metadata, values, DBR type, their reply payload): the last get's

    def reply_payload(self, data_type, metadata, values: np.ndarray) -> tuple[bytes, memoryview, bytes, int]:
        """(metadata bytes, the array's bytes, padding, payload size) of a reply carrying what
        ``_read`` returned; kept while ``_read`` returns the same objects."""
        wire = self._wire
        if wire is None or wire[0] is not metadata or wire[1] is not values or wire[2] != data_type:
            md = bytes(parse_metadata(metadata, data_type))
            size, pad = pad_buffers(md, values)
            wire = self._wire = (metadata, values, data_type, (md, memoryview(values.view(np.uint8)), bytes(pad), size))
        return wire[3]

    async def write(self, *args, **kwargs):
        self._encoded = self._wire = None  # also when the same array object is written again, changed in place
        return await super().write(*args, **kwargs)

    async def write_metadata(self, *args, **kwargs):
        self._metadata_generation += 1
        return await super().write_metadata(*args, **kwargs)

    async def _read(self, data_type):
        value = self._data["value"]
        if (not isinstance(value, np.ndarray) or value.nbytes < LARGE or data_type in _LongStringChannelType
                or data_type in (ChannelType.STSACK_STRING, ChannelType.CLASS_NAME)):
            return await super()._read(data_type)
        native_to = ca.native_type(data_type)
        if self.data_type not in _NUMERIC or native_to not in _NUMERIC:
            return await super()._read(data_type)  # strings, enums, chars: caproto's conversions
        cached = self._encoded
        if cached is None or cached[0] is not value:
            cached = self._encoded = (value, {}, {})
        values = cached[1].get(native_to)
        if values is None:
            values = np.ascontiguousarray(value).astype(_WIRE_TYPES[native_to])
            values.flags.writeable = False  # shared by every get and post of this value
            cached[1][native_to] = values
        if data_type in ca.native_types:
            return b"", values
        alarm = self.alarm
        key = (self._metadata_generation, self._data["timestamp"], alarm.status, alarm.severity)
        known = cached[2].get(data_type)
        if known is not None and known[0] == key:
            return known[1], values
        metadata = ca.DBR_TYPES[data_type]()
        self._read_metadata(metadata)
        alarm_dbr = await alarm.read()
        for field, _ in alarm_dbr._fields_:
            if hasattr(metadata, field):
                setattr(metadata, field, getattr(alarm_dbr, field))
        cached[2][data_type] = (key, metadata)
        return metadata, values


_ENCODED_ONCE: dict[type, type] = {}


def encoded_once(cls: type) -> type:
    """``cls`` (a ChannelData class) with :class:`EncodedOnce`: for a pvproperty of a large array."""
    if cls not in _ENCODED_ONCE:
        _ENCODED_ONCE[cls] = type(f"EncodedOnce{cls.__name__}", (EncodedOnce, cls), {})
    return _ENCODED_ONCE[cls]


class Entry:
    """A place in a circuit's send FIFO: a monitor update (header + shared payload) or a command."""

    __slots__ = ("ticket", "subscriptionid", "header", "payload", "command")

    def __init__(self, ticket: int, subscriptionid, header, payload, command=None) -> None:
        self.ticket = ticket
        self.subscriptionid = subscriptionid
        self.header = header
        self.payload = payload
        self.command = command


class FanOut:
    """Stands where caproto's ``Context.subscription_queue`` is: ``put`` fans an update out at once."""

    def __init__(self, context: Context) -> None:
        self.context = context

    async def put(self, update) -> None:
        self.context.fan_out(*update)

    def put_nowait(self, update) -> None:
        self.context.fan_out(*update)


def _read_notify_response(header, *buffers) -> ca.ReadNotifyResponse:
    """A ReadNotifyResponse from a ready header and payload buffers (no conversion, no copy).
    Not a subclass: caproto's channel state machine accepts its own message types only."""
    response = ca.ReadNotifyResponse.__new__(ca.ReadNotifyResponse)
    ca.Message.__init__(response, header, *buffers)
    return response


class BoundedWire(ca.VirtualCircuit):
    """caproto's sans-I/O server circuit that refuses messages larger than the server accepts."""

    def __init__(self, *args, max_message: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_message = max_message

    def recv(self, *buffers):
        commands, needed = super().recv(*buffers)
        if len(self._data) + needed > self.max_message:
            raise ca.RemoteProtocolError(f"a message of {len(self._data) + needed} bytes is larger than "
                                         f"EPICS_CA_MAX_ARRAY_BYTES allows ({self.max_message - 24})")
        return commands, needed


class Circuit(_AsyncioCircuit):
    """One client connection (see the module docstring for what differs from caproto)."""

    def __init__(self, circuit, client, context) -> None:
        super().__init__(circuit, client, context)
        self.command_queue = asyncio.Queue(COMMAND_BACKLOG)
        self._writes = asyncio.Semaphore(WRITES_IN_FLIGHT)
        self._idle = False  # the request loop waits for a request (none in progress)
        self._write_tasks: set[asyncio.Task] = set()
        self._fifo: deque[Entry] = deque()
        self._pending: dict[int, deque[Entry]] = {}  # subscriptionid -> its entries in the FIFO
        self._ticket = 0  # last ticket given to an entry
        self._sent_ticket = 0  # last ticket handed to the socket
        self._blocked = False  # the sender waits for the client to read
        self._waiters: list[asyncio.Future] = []  # wait_sent and _drain: woken on progress
        self._wakeup = asyncio.Event()
        sock = client.writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Everything this circuit sends goes out through a second handle on its socket, by
        # ``sendmsg`` of many buffers at once (asyncio's transport in Python 3.11 has no
        # vectored write, and copies whatever the socket did not take); the transport only reads.
        self._sock = None
        if sock is not None:
            self._sock = socket.socket(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
            self._sock.setblocking(False)
        self._out: deque = deque()  # buffers handed to the socket, not yet taken by it
        self._out_nbytes = 0
        self._writable_watch = False  # the loop calls _flush when the socket takes more
        self._send_error: str | None = None  # why the socket refused a send (no traceback: it would hold frames)

    # -- receiving ---------------------------------------------------------------------

    async def recv(self) -> None:
        try:
            data = await self.client.recv(RECV_BYTES)
        except OSError:
            data = b""
        commands, _ = self.circuit.recv(data)
        if (len(commands) == 1 and self._idle and self.command_queue.empty()
                and type(commands[0]) is ca.ReadNotifyRequest and await self._fast_read(commands[0])):
            return  # a lone get, nothing before it pending: answered here, without a turn through the queue
        for command in commands:
            await self.command_queue.put(command)  # waits while the queue is full: back-pressure
        if not data:
            await self._on_disconnect()
            raise DisconnectedCircuit()

    async def command_queue_loop(self) -> None:
        self.write_event.set()
        try:
            while True:
                self._idle = True
                command = await self.command_queue.get()
                self._idle = False
                response = await self._command_queue_iteration(command)
                if response:
                    await self.send(*response)
                if not self.command_queue.empty():
                    await asyncio.sleep(0)  # one request per turn of the loop: a flood cannot starve others
        except (DisconnectedCircuit, LoopExit):
            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.error("Circuit %s: request loop failed (%s: %s); closing it", self, type(exc).__name__, exc)
        await self._close()

    async def _command_queue_iteration(self, command):
        if type(command) is ca.ReadNotifyRequest and await self._fast_read(command):
            return None
        try:
            self.circuit.process_command(command)
        except ca.RemoteProtocolError as exc:
            try:
                cid, sid = self._get_ids_from_command(command)
            except Exception:
                cid = None
            if cid is None:
                self.log.warning("Circuit %s: protocol error (%s); closing it", self, exc)
                raise LoopExit("Unrecoverable protocol error") from None
            self.log.warning("Circuit %s: protocol error on channel cid=%d (%s); disconnecting the channel",
                             self, cid, exc)
            await self.send(ca.ServerDisconnResponse(cid=cid))
            return None
        if command is ca.DISCONNECTED:
            raise DisconnectedCircuit
        try:
            return await self._process_command(command)
        except (DisconnectedCircuit, LoopExit):
            raise
        except Exception as exc:
            if not self.connected:
                raise LoopExit("Server error after client disconnection") from None
            try:
                cid, _ = self._get_ids_from_command(command)
            except Exception:
                cid = None
            self.log.warning("Circuit %s: request %r failed: %s: %s", self, type(command).__name__,
                             type(exc).__name__, exc)
            if cid is None:
                return None
            return [ca.ErrorResponse(command, cid, status=ca.CAStatus.ECA_INTERNAL,
                                     error_message=f"Python exception: {type(exc).__name__} {exc}")]

    async def _process_command(self, command):
        if isinstance(command, (ca.WriteRequest, ca.WriteNotifyRequest)):
            chan, db_entry = self._get_db_entry_from_command(command)
            await self._start_write(command, chan, db_entry)
            return []
        if isinstance(command, ca.ReadNotifyRequest):
            return await self._read_notify(command)
        response = await super()._process_command(command)
        if isinstance(command, ca.EventsOffRequest):
            self._drop_pending_events()  # the client said it cannot catch up (caproto: unexpired_updates)
        return response

    async def _fast_read(self, command) -> bool:
        """Answer a get of a large :class:`EncodedOnce` array (an image viewer's, a client's
        polling) from the value's cached wire array, in one ``sendmsg``; False if it is not one
        (unknown channel, a filter, puts in progress: caproto's path handles it).

        caproto's sans-I/O circuit does not see this request and its reply: its state
        machine keeps the channel as it was (CONNECTED), which is what it would conclude."""
        chan = self.circuit.channels_sid.get(command.sid)
        if chan is None or chan.name.endswith("$") or not self.write_event.is_set():
            return False
        db_entry = self.context.pvdb.get(chan.name)
        value = getattr(db_entry, "_data", {}).get("value")
        if (not isinstance(db_entry, EncodedOnce) or not isinstance(value, np.ndarray)
                or value.nbytes < LARGE or chan.channel_filter.arr is not None or chan.channel_filter.ts
                or self.circuit.protocol_version < 13 or command.data_count not in (0, len(value))):
            return False
        try:
            data_type = ChannelType(command.data_type)
        except ValueError:
            return False
        if ca.AccessRights.READ not in db_entry.check_access(self.client_hostname, self.client_username):
            return False
        metadata, data = await db_entry.read(data_type)  # a getter, if any, runs first, as in caproto
        if not (isinstance(data, np.ndarray) and data.flags.c_contiguous
                and data.dtype == _WIRE_TYPES.get(ca.native_type(data_type))):
            return False
        md, payload, pad, size = db_entry.reply_payload(data_type, metadata, data)
        head = _EXTENDED_HEADER.pack(ca.ReadNotifyResponse.ID, 0xFFFF, data_type, 0, _ECA_NORMAL, command.ioid, size,
                                     len(data))
        self._emit([head + md, payload, pad] if pad else [head + md, payload])
        if self._out_nbytes > SEND_HIGH_WATER:
            await self._drain()
        return True

    async def _read_notify(self, command):
        """caproto's ReadNotify, but a large array is sent as ``_read`` converted it (see ``Encoded.update``)."""
        chan, db_entry = self._get_db_entry_from_command(command)
        try:
            data_type = command.data_type
        except ValueError:
            raise ca.RemoteProtocolError("Invalid data type") from None
        if not self.write_event.is_set():  # (caproto's wait makes a task even when it is set)
            await self.write_event.wait(timeout=WRITE_LOCK_TIMEOUT)
        read_data_type = data_type
        if chan.name.endswith("$"):
            try:
                read_data_type = _LongStringChannelType(read_data_type)
            except ValueError:
                pass
        metadata, data = await db_entry.auth_read(self.client_hostname, self.client_username, read_data_type,
                                                  user_address=self.circuit.address)
        if command.data_count > 0 or self.circuit.protocol_version < 13:
            data = data[:command.data_count]
        data = apply_arr_filter(chan.channel_filter.arr, data)
        if chan.channel_filter.ts and data_type in ca.time_types:
            time_type = type(metadata)
            now = ca.TimeStamp.from_unix_timestamp(time.time())
            metadata = time_type(**ChainMap({"stamp": now}, {field: getattr(metadata, field)
                                                             for field, _ in time_type._fields_}))
        data_count = db_entry.calculate_length(data)
        if (isinstance(data, np.ndarray) and data.nbytes >= LARGE and read_data_type is data_type
                and data.flags.c_contiguous and data.dtype == _WIRE_TYPES.get(ca.native_type(data_type))):
            md = parse_metadata(metadata, data_type)
            size, pad = pad_buffers(md, data)
            header = ReadNotifyResponseHeader(size, data_type, data_count, _ECA_NORMAL, command.ioid)
            return [_read_notify_response(header, md, data, pad)]
        return [chan.read(data=data, data_type=data_type, data_count=data_count, status=1, ioid=command.ioid,
                          metadata=metadata, notify=True)]

    # -- puts --------------------------------------------------------------------------

    async def _start_write(self, command, chan, db_entry) -> None:
        await self._writes.acquire()  # at most WRITES_IN_FLIGHT: the request loop, and so recv, waits
        self.write_event.clear()
        task = asyncio.get_running_loop().create_task(self._checked_write(command, chan, db_entry))
        self._write_tasks.add(task)
        task.add_done_callback(self._write_done)
        # One put at a time per circuit, as rsrv: the next request waits for this one unless it
        # lasts (a put with completion on a motor lasts the whole move), then it goes on aside.
        await asyncio.wait((task,), timeout=INLINE_WRITE)

    def _write_done(self, task: asyncio.Task) -> None:
        self._write_tasks.discard(task)
        self._writes.release()
        if not self._write_tasks:
            self.write_event.set()

    async def _checked_write(self, command, chan, db_entry) -> None:
        notify = isinstance(command, ca.WriteNotifyRequest)
        try:
            self._check_count(command)
            status = await db_entry.auth_write(self.client_hostname, self.client_username, command.data,
                                               command.data_type, command.metadata,
                                               user_address=self.circuit.address)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.warning("Put to %s refused: %s: %s", chan.name, type(exc).__name__, exc)
            reply = ca.ErrorResponse(command, chan.cid, status=ca.CAStatus.ECA_PUTFAIL,
                                     error_message=f"Python exception: {type(exc).__name__} {exc}")
        else:
            if not notify:
                return
            reply = chan.write(ioid=command.ioid, status=True if status is None else status,
                               data_count=db_entry.length)
        if self.connected:
            await self._reply_after_monitors(reply)

    @staticmethod
    def _check_count(command) -> None:
        """A string put may not declare more strings than its payload holds (see fix 7)."""
        data_type = command.data_type
        if ca.native_type(data_type) == ChannelType.STRING:
            payload = command.header.payload_size
            if command.data_count > max(1, -(-payload // ca.MAX_STRING_SIZE)):
                raise ValueError(f"{command.data_count} strings declared in a payload of {payload} bytes")

    async def _reply_after_monitors(self, reply) -> None:
        """Send ``reply`` after every update already posted, here and on the other circuits (fix 2)."""
        others = [(circuit, circuit._ticket) for circuit in tuple(self.context.circuits)
                  if circuit is not self and isinstance(circuit, Circuit)]
        for circuit, ticket in others:
            await circuit.wait_sent(ticket)
        self._append(Entry(0, None, None, None, command=reply))

    async def wait_sent(self, ticket: int) -> None:
        """Until the FIFO is written up to ``ticket``, the client stops reading, or the circuit closes."""
        loop = asyncio.get_running_loop()
        while self.connected and self._sent_ticket < ticket and not self._blocked:
            waiter = loop.create_future()
            self._waiters.append(waiter)
            await waiter

    def _progress(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- monitor updates ---------------------------------------------------------------

    def _append(self, entry: Entry) -> None:
        self._ticket += 1
        entry.ticket = self._ticket
        self._fifo.append(entry)
        self._wakeup.set()

    def enqueue_event(self, subscriptionid: int, encoded: Encoded) -> None:
        """Queue one update of a subscription; when it holds its backlog, the newest pending one is replaced."""
        pending = self._pending.get(subscriptionid)
        if pending is None:
            pending = self._pending[subscriptionid] = deque()
        if pending and len(pending) >= backlog(encoded.nbytes):
            entry = pending[-1]
            entry.header = encoded.header_for(subscriptionid)
            entry.payload = encoded.payload
            return
        entry = Entry(0, subscriptionid, encoded.header_for(subscriptionid), encoded.payload)
        pending.append(entry)
        self._append(entry)

    def _drop_pending_events(self, subscriptionids=None) -> None:
        ids = list(self._pending) if subscriptionids is None else subscriptionids
        for subscriptionid in ids:
            for entry in self._pending.pop(subscriptionid, ()):
                entry.payload = entry.header = None  # skipped by the sender, memory freed now

    async def _cull_subscriptions(self, db_entry, func):
        removed = await super()._cull_subscriptions(db_entry, func)
        self._drop_pending_events([sub.subscriptionid for _, sub in removed])
        return removed

    async def subscription_queue_loop(self) -> None:
        """The sender: hands the FIFO to the socket, all that is pending in one ``sendmsg`` per turn
        of the event loop; while the client does not read, it waits and the FIFO's entries stay
        replaceable (latest wins)."""
        self.events_on.set()
        try:
            while True:
                if not self._fifo:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    await asyncio.sleep(0)  # the updates other tasks post in this turn go in the same send
                    continue
                if self._out_nbytes > SEND_HIGH_WATER:
                    self._blocked = True
                    self._progress()
                    try:
                        await self._drain()
                    finally:
                        self._blocked = False
                    continue
                self._emit(self._collect())
                self._progress()
                await asyncio.sleep(0)  # let other circuits send and posts accumulate
        except asyncio.CancelledError:
            pass
        except (OSError, ca.CaprotoNetworkError, RuntimeError):
            await self._close()
        finally:
            self._progress()

    def _collect(self) -> list:
        """Take entries off the FIFO (up to ``SEND_HIGH_WATER`` bytes): their buffers, small ones joined."""
        parts: list = []
        small: list = []
        nbytes = 0
        while self._fifo and nbytes < SEND_HIGH_WATER and len(parts) < IOV_BATCH:
            entry = self._fifo.popleft()
            self._sent_ticket = entry.ticket
            if entry.command is not None:
                try:
                    buffers = self.circuit.send(entry.command)
                except ca.CaprotoError as exc:  # e.g. its channel was cleared meanwhile
                    self.log.warning("Circuit %s: reply %r not sent: %s", self, entry.command, exc)
                    continue
                nbytes += _gather(buffers, parts, small)
                continue
            if entry.header is None:
                continue  # dropped (subscription cancelled, events off)
            pending = self._pending.get(entry.subscriptionid)
            if pending:
                pending.popleft()
            small.append(entry.header)
            nbytes += len(entry.header) + _gather(entry.payload, parts, small)
        if small:
            parts.append(b"".join(small))
        return parts

    def _emit(self, parts: list) -> None:
        """Hand ``parts`` to the socket after whatever it has not taken yet; never waits."""
        if self._send_error is not None or self._sock is None:
            raise ConnectionResetError(self._send_error or "circuit closed")
        if not parts:
            return
        self._out.extend(parts)
        self._out_nbytes += sum(len(p) for p in parts)
        if not self._writable_watch:
            self._flush()
            if self._send_error is not None:
                raise ConnectionResetError(self._send_error)

    def _flush(self) -> None:
        """Send what the socket takes now; watch for it to take more if it did not take all."""
        out = self._out
        while out:
            batch = list(itertools.islice(out, IOV_BATCH))
            try:
                sent = self._sock.sendmsg(batch)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                message = f"{type(exc).__name__}: {exc}"
                del batch, exc
                self._send_failed(message)
                return
            self._out_nbytes -= sent
            for part in batch:
                if sent >= len(part):
                    sent -= len(part)
                    out.popleft()
                else:
                    out[0] = memoryview(part)[sent:]
                    break
            else:
                continue
            break  # the socket took part of a buffer: it is full
        loop = asyncio.get_running_loop()
        if out and not self._writable_watch:
            loop.add_writer(self._sock.fileno(), self._flush)
            self._writable_watch = True
        elif not out and self._writable_watch:
            loop.remove_writer(self._sock.fileno())
            self._writable_watch = False
        if self._out_nbytes <= SEND_HIGH_WATER:
            self._progress()

    def _send_failed(self, message: str) -> None:
        self._send_error = message
        self._stop_watching()
        self._out.clear()
        self._out_nbytes = 0
        self._progress()
        if self.connected:
            task = asyncio.get_running_loop().create_task(self._close())
            self._write_tasks.add(task)
            task.add_done_callback(self._write_tasks.discard)

    def _stop_watching(self) -> None:
        if self._writable_watch and self._sock is not None:
            asyncio.get_running_loop().remove_writer(self._sock.fileno())
        self._writable_watch = False

    async def _drain(self) -> None:
        """Until the socket has taken all but ``SEND_HIGH_WATER`` bytes, or the circuit closes."""
        loop = asyncio.get_running_loop()
        while self.connected and self._send_error is None and self._out_nbytes > SEND_HIGH_WATER:
            waiter = loop.create_future()
            self._waiters.append(waiter)
            await waiter
        if self._send_error is not None:
            raise ConnectionResetError(self._send_error)

    # -- sending replies ---------------------------------------------------------------

    async def _send_buffers(self, *buffers) -> None:
        parts: list = []
        small: list = []
        _gather(buffers, parts, small)
        if small:
            parts.append(b"".join(small))
        self._emit(parts)
        if self._out_nbytes > SEND_HIGH_WATER:
            await self._drain()

    # -- closing -----------------------------------------------------------------------

    async def _on_disconnect(self) -> None:
        if not self.connected:
            return
        await _CommonCircuit._on_disconnect(self)  # subscriptions out of the context; connected = False
        self.client.close()
        self._stop_watching()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._out.clear()
        self._out_nbytes = 0
        self._fifo.clear()
        self._pending.clear()
        self._progress()
        while not self.command_queue.empty():
            self.command_queue.get_nowait()
        current = asyncio.current_task()
        for task in list(self._write_tasks):
            if task is not current:
                task.cancel()
        self._sub_task = None
        for task in list(self.tasks.tasks):  # the sender and the request loop
            if task is not current:
                task.cancel()
        for sub in [s for s in self.context.last_dead_band if s.circuit is self]:
            self.context.last_dead_band.pop(sub, None)
        for sub in [s for s in self.context.last_sync_edge_update if s.circuit is self]:
            self.context.last_sync_edge_update.pop(sub, None)
        self.context.circuits.discard(self)
        # A closed client's queued frames are freed now: give their memory back at once.
        asyncio.get_running_loop().call_soon(return_freed_memory)

    async def _close(self) -> None:
        if self.connected:
            await self._on_disconnect()
            self.circuit.disconnect()
            await self.context.circuit_disconnected(self)


class Context(_AsyncioContext):
    """The server: caproto's asyncio context with our circuits and fan-out."""

    CircuitClass = Circuit

    def __init__(self, pvdb, interfaces=None) -> None:
        super().__init__(pvdb, interfaces)
        self.subscription_queue = FanOut(self)
        self.max_message = max(int(self.environ.get("EPICS_CA_MAX_ARRAY_BYTES", 16384)), 16384) + 24
        # Per db_entry, (value, timestamp, encodings) of its last post: new subscribers share them.
        self._last_encodings: dict[int, tuple] = {}

    async def subscription_queue_loop(self) -> None:
        """Nothing to do: :class:`FanOut` delivers each update as it is posted."""

    def fan_out(self, sub_specs, metadata, values, flags, sub) -> None:
        """Queue one posted update on every circuit subscribed to it (``sub``: only that one)."""
        if sub is None:  # a post: the value changed
            encodings: dict = {}
            for spec in sub_specs:
                db_entry = spec.db_entry
                self._last_encodings[id(db_entry)] = (db_entry.value, db_entry.timestamp, encodings)
            targets = [(spec, s) for spec in sub_specs for s in tuple(self.subscriptions.get(spec, ()))]
        else:  # a new subscription's first update: share the encodings if the value is still the one posted
            spec = sub_specs[0]
            db_entry = spec.db_entry
            value, stamp, encodings = self._last_encodings.get(id(db_entry), (None, None, None))
            if encodings is None or value is not db_entry.value or stamp != db_entry.timestamp:
                encodings = {}  # written while nobody subscribed (no post reached us), or never posted
                self._last_encodings[id(db_entry)] = (db_entry.value, db_entry.timestamp, encodings)
            targets = [(spec, sub)]
        for spec, target in targets:
            circuit = target.circuit
            if not circuit.connected or not isinstance(circuit, Circuit):
                continue
            if not circuit.events_on.is_set():
                resend = circuit.subscriptions_to_resend.setdefault(spec, [])
                if target not in resend:
                    resend.append(target)
                continue
            try:
                encoded = self._encode(spec, target, metadata, values, flags, encodings)
            except Exception as exc:
                self.log.warning("Could not encode an update of %s: %s: %s", target.channel.name,
                                 type(exc).__name__, exc)
                continue
            if encoded is not None:
                circuit.enqueue_event(target.subscriptionid, encoded)

    def _encode(self, spec, sub, metadata, values, flags, encodings: dict) -> Encoded | None:
        """The update as ``sub`` wants it (array filter, count, deadband, sync), encoded once per kind."""
        filt = spec.channel_filter
        values = apply_arr_filter(filt.arr, values)
        data_count = sub.data_count or len(values)
        if data_count != len(values):
            values = values[:data_count]
        if filt.dbnd is not None:
            tracking = apply_deadband_filter(previous_value=self.last_dead_band.get(sub), new_value=values,
                                             sub=sub, flags=flags, host_endian=host_endian)
            if tracking is None:
                return None
            self.last_dead_band[sub] = tracking
        if filt.sync is not None:
            command = sub.channel.subscribe(data=values, metadata=metadata, data_type=sub.data_type,
                                            data_count=data_count, subscriptionid=sub.subscriptionid, status=1)
            last = self.last_sync_edge_update[sub][filt.sync.s].get(filt.sync.m)
            if last and last == command:
                return None
            self.last_sync_edge_update[sub][filt.sync.s][filt.sync.m] = command
            return Encoded(command.header, command.buffers)
        key = (sub.data_type, data_count, filt.arr)
        encoded = encodings.get(key)
        if encoded is None:
            encoded = encodings[key] = Encoded.update(sub.channel, values, metadata, sub.data_type, data_count)
        return encoded

    async def tcp_handler(self, client, addr) -> None:
        """caproto's, with a size-bounded sans-I/O circuit and one log line for a broken circuit."""
        wire = BoundedWire(ca.SERVER, addr, None, max_message=self.max_message)
        circuit = self.CircuitClass(wire, client, self)
        self.circuits.add(circuit)
        self.log.info("Connected to new client at %s:%d (total: %d).", *addr, len(self.circuits))
        await circuit.run()
        try:
            while circuit.connected:
                await circuit.recv()
        except DisconnectedCircuit:
            pass
        except Exception as exc:
            self.log.warning("Client at %s:%d: %s: %s; closing the circuit", *addr, type(exc).__name__, exc)
        finally:
            await circuit._close()
            self.circuits.discard(circuit)
        self.log.info("Disconnected from client at %s:%d (total: %d).", *addr, len(self.circuits))


async def start_server(pvdb, *, interfaces=None, log_pv_names=False, startup_hook=None) -> None:
    """Serve ``pvdb`` until cancelled (as ``caproto.asyncio.server.start_server``)."""
    context = Context(pvdb, interfaces)
    return await context.run(log_pv_names=log_pv_names, startup_hook=startup_hook)


def _malloc_trim():
    """glibc's ``malloc_trim``, or None elsewhere."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


def return_freed_memory() -> None:
    """Give the heap's free memory back to the OS now (glibc keeps freed frames otherwise, up to
    its dynamic mmap threshold of 32 MB each, until a later trim)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def run(pvdb, *, module_name: str = "caproto.asyncio.server", interfaces=None, log_pv_names=False,
        startup_hook=None) -> None:
    """Serve ``pvdb`` until interrupted (as ``caproto.server.run``; asyncio is the only library)."""
    if module_name != "caproto.asyncio.server":
        raise ValueError(f"ioc.ca_server serves with asyncio only, not {module_name}")
    try:
        asyncio.run(start_server(pvdb, interfaces=interfaces, log_pv_names=log_pv_names, startup_hook=startup_hook))
    except KeyboardInterrupt:
        pass


__all__ = ["Circuit", "Context", "EncodedOnce", "FanOut", "backlog", "encoded_once", "run", "start_server"]
