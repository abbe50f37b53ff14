"""Fixes to caproto 1.3's asyncio server: two for latency, three for clients that are slow or go away.

1. **TCP_NODELAY.** asyncio sets TCP_NODELAY only on sockets whose ``proto`` is
   ``IPPROTO_TCP``; caproto's listening socket is made with ``proto=0``, so the circuits
   it accepts keep Nagle's algorithm on. A small CA message (a monitor update, a put
   response) sent while an earlier one is still unacknowledged then waits for the
   client's delayed ACK: up to 40 ms on Linux. Measured here (``Acquire`` then a monitor
   of ``Acquire_RBV`` back, pyepics client): 44 ms per frame before, 13 ms after.
   EPICS's own servers (rsrv, PCAS) set TCP_NODELAY on every circuit.
2. **Monitor batching.** caproto holds a monitor update up to ``HIGH_LOAD_TIMEOUT``
   (10 ms) waiting for more to batch with it. A camera posts a burst of a dozen PVs per
   frame, so nearly every update waits the full 10 ms. 1 ms keeps batching under load
   (the deadline still doubles while updates keep coming) without adding a visible delay.
   ``CAPROTO_SERVER_HIGH_LOAD_TIMEOUT_SEC`` in the environment still wins.
3. **One slow client froze every monitor, grew memory without bound, and then killed the
   server.** caproto fans each update out in one server-wide task
   (``Context.subscription_queue_loop``), which puts it on each circuit's queue with
   ``await queue.put()``: an ``asyncio.Queue`` of ``MAX_TOTAL_SUBSCRIPTION_BACKLOG``
   (10,000) entries. (caproto means the put to fail with ``QueueFull`` and then drop the
   circuit's backlog, but asyncio's ``put`` waits instead.) A client that stops reading
   its socket (a frozen viewer, a callback that sleeps, a laptop lid closed) fills its
   circuit's queue, and then that one ``put`` blocks the fan-out for *every* client: all
   monitors stop (0 updates/s), while the camera keeps posting frames into the
   server-wide queue, which has no bound (measured: +1 GB in 25 s at 30 frames/s). When
   the slow client disconnects, its circuit's queue has no reader left, so nothing ever
   resumes. If it was only slow, the fan-out does resume, inside a ``for`` over
   ``Context.subscriptions[spec]`` (a deque) that clients coming and going have changed
   in the meantime: ``RuntimeError: deque mutated during iteration`` escapes the task,
   the server logs ``Server error. Will shut down``, closes its sockets, and the process
   stays alive serving nobody.

   Fix: a circuit's queue never blocks; when it is full the *oldest* entry is dropped, as
   caproto already drops old news for a client that falls behind (the newest value is
   what a monitor wants). The fan-out iterates over a snapshot of the subscriptions and
   skips circuits that have disconnected, and an error while fanning out one update is
   logged and the next update goes on, instead of stopping the server.
4. **Disconnects left circuits behind.** ``VirtualCircuit._on_disconnect`` cancels the
   circuit's monitor task and then ``await``-s it; when the task is busy (batching
   updates under load) this raises ``RuntimeError: await wasn't used with future`` in the
   connection handler, which then dies before it removes the circuit from
   ``Context.circuits``: every busy client that disconnects leaks its circuit. (The task
   also reaches ``_on_disconnect`` itself, and cancelled and awaited itself.) Fix: cancel
   the task without awaiting it, never from inside itself, and do the rest once.
5. **Memory held per subscriber.** Each subscription keeps its last
   ``max_subscription_backlog`` updates (caproto's ``unexpired_updates``, sent or not):
   1000 for a scalar, 48 for ``image1:ArrayData`` (caproto caps 1000 to fit 15 M
   elements), i.e. 59 MB of one 480 x 640 frame for *each* viewer, 1.2 GB for 20; and a
   frozen client with 300 monitors held 300,000 updates (+69 MB). The old ones only
   matter to a client that far behind, and to it they are old news. Fix: a subscription
   keeps at most ``SUBSCRIPTION_BACKLOG`` (100) updates and ``SUBSCRIPTION_BACKLOG_BYTES``
   (1 MB) of them, and at least the newest one: a viewer of a large array holds one frame
   and always gets the newest (what NDPluginStdArrays and rsrv give a slow client).
6. **A malformed request left its client hanging.** A request naming a channel id the
   circuit never made (a KeyError in ``_get_ids_from_command``, also on caproto's own
   error path) or a protocol error ends the circuit's command loop, but the TCP connection
   stays open and the client waits forever. Fix: when that loop ends, close the circuit.
7. **Any declared message size was buffered.** caproto accumulates an incoming message of
   whatever size its header declares (200 MB streamed: +200 MB). Fix: a message larger
   than ``EPICS_CA_MAX_ARRAY_BYTES`` (what the server would accept) is a protocol error
   that closes that circuit.
8. **One 24-byte message froze the IOC.** ``DbrStringArray.frombuffer`` loops over the
   element count the header declares; a WriteNotify declaring 2**31 strings blocked the
   event loop (no client served, memory growing ~14 MB/s). Fix: never count more strings
   than the payload holds.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import deque

import caproto
import caproto._circuit as sans_io_circuit
import caproto.asyncio.server as asyncio_server
import caproto.server.common as server_common

MONITOR_BATCH_TIMEOUT = 0.001  # s
SUBSCRIPTION_BACKLOG = 100  # updates kept per subscription, at most ...
SUBSCRIPTION_BACKLOG_BYTES = 1 << 20  # ... and at most this many bytes of them; at least one update


class NewestQueue(asyncio.Queue):
    """A bounded queue whose ``put`` never waits: when it is full, the oldest item goes."""

    dropped = 0

    def put_nowait(self, item) -> None:
        if self.full():
            try:
                self.get_nowait()
                self.dropped += 1
            except asyncio.QueueEmpty:  # maxsize 0: never full
                pass
        super().put_nowait(item)

    async def put(self, item) -> None:
        self.put_nowait(item)


def _backlog(sub, values) -> int:
    """How many updates of this subscription to keep (see fix 5)."""
    limit = min(SUBSCRIPTION_BACKLOG, sub.db_entry.max_subscription_backlog)
    try:
        count = sub.data_count or len(values)
        itemsize = getattr(values, "itemsize", 8)
    except TypeError:  # a scalar
        return limit
    size = max(1, count * itemsize)
    return max(1, min(limit, SUBSCRIPTION_BACKLOG_BYTES // size))


def _patch_nodelay() -> None:
    wrapper = asyncio_server._TransportWrapper
    original_init = wrapper.__init__

    def __init__(self, reader, writer):
        original_init(self, reader, writer)
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    wrapper.__init__ = __init__


def _patch_circuit() -> None:
    circuit_class = asyncio_server.VirtualCircuit
    original_init = circuit_class.__init__
    common_on_disconnect = server_common.VirtualCircuit._on_disconnect

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.subscription_queue = NewestQueue(self.subscription_queue.maxsize)

    async def _on_disconnect(self):
        # caproto's version: super()._on_disconnect(); client.close(); cancel and await the
        # monitor task (see fix 4 in the module docstring).
        await common_on_disconnect(self)  # returns at once if already disconnected
        self.client.close()
        task, self._sub_task = self._sub_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    original_get = circuit_class.get_from_sub_queue

    async def get_from_sub_queue(self, timeout=None):
        # Python 3.11's wait_for can swallow the cancellation of a task waiting in it, which
        # would leave a disconnected circuit's monitor task looping: make it end here.
        if not self.connected:
            raise asyncio.CancelledError
        return await original_get(self, timeout)

    circuit_class.__init__ = __init__
    circuit_class._on_disconnect = _on_disconnect
    circuit_class.get_from_sub_queue = get_from_sub_queue


def _patch_context() -> None:
    context_class = asyncio_server.Context
    original_send = server_common.Context._subscription_queue_send

    async def _subscription_queue_iteration(self, sub_specs, metadata, values, flags, sub):
        if sub is None:
            targets = [(spec, s) for spec in sub_specs for s in tuple(self.subscriptions.get(spec, ()))]
        else:
            targets = [(sub_specs[0], sub)]
        for spec, target in targets:
            if target.circuit.connected:
                await self._subscription_queue_send(spec, target, metadata=metadata, values=values, flags=flags)

    async def _subscription_queue_send(self, sub_spec, sub, metadata, values, flags):
        updates = sub.circuit.unexpired_updates
        if sub.subscriptionid not in updates:
            updates[sub.subscriptionid] = deque(maxlen=_backlog(sub, values))
        await original_send(self, sub_spec, sub, metadata=metadata, values=values, flags=flags)

    async def subscription_queue_loop(self):
        while True:
            update = await self.subscription_queue.get()
            try:
                await self._subscription_queue_iteration(*update)
            except Exception:
                self.log.exception("Could not send a monitor update; going on with the next one")

    context_class._subscription_queue_iteration = _subscription_queue_iteration
    context_class._subscription_queue_send = _subscription_queue_send
    context_class.subscription_queue_loop = subscription_queue_loop


def apply() -> None:
    """Patch caproto's asyncio server in this process (idempotent)."""
    if not getattr(asyncio_server, "_beamline_tuned", False):
        _patch_nodelay()
        _patch_circuit()
        _patch_context()
        asyncio_server._beamline_tuned = True
    if "CAPROTO_SERVER_HIGH_LOAD_TIMEOUT_SEC" not in os.environ:
        server_common.HIGH_LOAD_TIMEOUT = MONITOR_BATCH_TIMEOUT
    _close_stuck_circuits()
    _limit_message_size()
    _bound_string_counts()


def _close_stuck_circuits() -> None:
    circuit_cls = asyncio_server.VirtualCircuit
    if getattr(circuit_cls, "_beamline_closes_stuck", False):
        return
    original_loop = circuit_cls.command_queue_loop

    async def command_queue_loop(self):
        try:
            await original_loop(self)
        except Exception:  # not CancelledError: that is the server shutting down
            self.log.exception("Circuit command loop failed; closing the circuit")
        if self.connected:
            await self._on_disconnect()
            self.circuit.disconnect()
            await self.context.circuit_disconnected(self)

    circuit_cls.command_queue_loop = command_queue_loop
    circuit_cls._beamline_closes_stuck = True


def _limit_message_size() -> None:
    circuit_cls = sans_io_circuit.VirtualCircuit
    if getattr(circuit_cls, "_beamline_limits_size", False):
        return
    original_recv = circuit_cls.recv
    limit = max(int(os.environ.get("EPICS_CA_MAX_ARRAY_BYTES", "16384")), 16384) + 24  # + extended header

    def recv(self, *buffers):
        commands, needed = original_recv(self, *buffers)
        if self.our_role is caproto.SERVER and len(self._data) + needed > limit:
            raise caproto.RemoteProtocolError(
                f"a message of {len(self._data) + needed} bytes is larger than EPICS_CA_MAX_ARRAY_BYTES ({limit - 24})")
        return commands, needed

    circuit_cls.recv = recv
    circuit_cls._beamline_limits_size = True


def _bound_string_counts() -> None:
    string_array = caproto.DbrStringArray
    if getattr(string_array, "_beamline_bounded", False):
        return
    original = string_array.frombuffer.__func__
    size = caproto.MAX_STRING_SIZE

    def frombuffer(cls, buf, data_count=None):
        if data_count is not None:
            data_count = min(data_count, max(1, -(-len(buf) // size)))
        return original(cls, buf, data_count)

    string_array.frombuffer = classmethod(frombuffer)
    string_array._beamline_bounded = True
