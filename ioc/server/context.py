"""The server: caproto's asyncio context with our circuits, and a fan-out in place of its subscription queue.

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
"""

from __future__ import annotations

import asyncio
import ctypes
import signal
from collections.abc import Callable

import caproto as ca
from caproto import apply_arr_filter
from caproto.asyncio.server import Context as _AsyncioContext
from caproto.server.common import DisconnectedCircuit, host_endian

from .access_rights import AccessControl
from .caproto_internals import apply_deadband_filter
from .circuit import Circuit
from .encoding import Encoded
from .wire import BoundedWire


class FanOut:
    """Stands where caproto's ``Context.subscription_queue`` is: ``put`` fans an update out at once."""

    def __init__(self, context: Context) -> None:
        self.context = context

    async def put(self, update) -> None:
        self.context.fan_out(*update)

    def put_nowait(self, update) -> None:
        self.context.fan_out(*update)


class Context(_AsyncioContext):
    """The server: caproto's asyncio context with our circuits and fan-out."""

    CircuitClass = Circuit

    def __init__(self, pvdb, interfaces=None, access: AccessControl | None = None) -> None:
        super().__init__(pvdb, interfaces)
        self.access = access  # access security in force (None: caproto's check_access decides)
        self.subscription_queue = FanOut(self)
        self.max_message = max(int(self.environ.get("EPICS_CA_MAX_ARRAY_BYTES", 16384)), 16384) + 24
        # Per db_entry, (value, timestamp, encodings) of its last post: new subscribers share them.
        self._last_encodings: dict[int, tuple] = {}

    async def run(self, *args, **kwargs):
        if self.access is not None:
            await self.access.start(self)
        return await super().run(*args, **kwargs)

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
            await circuit.close()
            self.circuits.discard(circuit)
        self.log.info("Disconnected from client at %s:%d (total: %d).", *addr, len(self.circuits))

    async def _broadcaster_queue_iteration(self, addr, commands) -> None:
        """caproto's answer to a search datagram, with the version header as rsrv sends it.

        libca numbers its search datagrams (the version request's ``m_cid``, flagged valid in
        ``m_dataType``), and rsrv echoes the number in the version header of its reply
        (``cas_send_dg_msg``). libca counts a reply to the datagrams of the current search pass
        as a response, and once all are answered searches the rest at once, sending more
        datagrams per try as replies keep coming (``searchTimer``). caproto answers every
        datagram with sequence number 1: libca then counts no reply after its first pass, and a
        client connecting hundreds of channels (an areaDetector device) finds ~20 every 30 ms.
        """
        self.broadcaster.process_commands(commands)
        if addr in self.ignore_addresses:
            return
        version = None
        replies = []
        for command in commands:
            if isinstance(command, ca.VersionRequest):
                version = command
            elif isinstance(command, ca.SearchRequest):
                try:
                    known = self[command.name] is not None
                except KeyError:
                    known = False
                if known:  # an address of None: the client takes it from the datagram
                    replies.append(ca.SearchResponse(self.port, None, command.cid, ca.DEFAULT_PROTOCOL_VERSION))
        if not replies:
            return
        if version is not None and version.version >= 11:  # CA_V411: the client numbers its datagrams
            header = ca.VersionResponse(ca.DEFAULT_PROTOCOL_VERSION)
            header.header.data_type = 1  # sequenceNoIsValid
            header.header.parameter1 = version.header.parameter1
            replies.insert(0, header)
        data = self.broadcaster.send(*replies)
        for udp_sock in self.udp_socks.values():
            try:
                await udp_sock.sendto(data, addr)
            except OSError as exc:
                host, port = addr
                raise ca.CaprotoNetworkError(f"Failed to send to {host}:{port}") from exc

    def return_freed_memory(self) -> None:
        """Give the heap's free memory back to the OS now (glibc keeps freed frames otherwise, up to
        its dynamic mmap threshold of 32 MB each, until a later trim)."""
        if _MALLOC_TRIM is not None:
            _MALLOC_TRIM(0)


async def start_server(pvdb, *, interfaces=None, log_pv_names=False, startup_hook=None,
                       access: AccessControl | None = None,
                       listening: Callable[[int, int], None] | None = None) -> None:
    """Serve ``pvdb`` until cancelled (as ``caproto.asyncio.server.start_server``); with
    ``access``, under access security, SIGHUP loading its file again. ``listening(tcp, udp)``
    is called with the ports the server bound, once it has (the TCP port differs from the UDP
    one where another server had it)."""
    context = Context(pvdb, interfaces, access)
    if listening is not None:
        then = startup_hook

        async def startup_hook(async_lib):
            listening(context.port, context.ca_server_port)
            if then is not None:
                await then(async_lib)
    if access is not None:
        loop = asyncio.get_running_loop()
        reloads: set[asyncio.Task] = set()

        def reload() -> None:
            task = loop.create_task(access.reload())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, reload)
    return await context.run(log_pv_names=log_pv_names, startup_hook=startup_hook)


def _malloc_trim():
    """glibc's ``malloc_trim``, or None elsewhere."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _malloc_trim()


def run(pvdb, *, module_name: str = "caproto.asyncio.server", interfaces=None, log_pv_names=False,
        startup_hook=None, access: AccessControl | None = None,
        listening: Callable[[int, int], None] | None = None) -> None:
    """Serve ``pvdb`` until interrupted (as ``caproto.server.run``; asyncio is the only library)."""
    if module_name != "caproto.asyncio.server":
        raise ValueError(f"ioc.server serves with asyncio only, not {module_name}")
    try:
        asyncio.run(start_server(pvdb, interfaces=interfaces, log_pv_names=log_pv_names, startup_hook=startup_hook,
                                 access=access, listening=listening))
    except KeyboardInterrupt:
        pass
