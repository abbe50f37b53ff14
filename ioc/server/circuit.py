"""One client connection: caproto's asyncio ``VirtualCircuit``, subclassed (fixes 1-9 of :mod:`ioc.server`)."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time
from collections import ChainMap, deque

import caproto as ca
import numpy as np
from caproto import ChannelType, apply_arr_filter
from caproto.asyncio.server import VirtualCircuit as _AsyncioCircuit
from caproto.server.common import WRITE_LOCK_TIMEOUT, DisconnectedCircuit, LoopExit
from caproto.server.common import VirtualCircuit as _CommonCircuit

from .access_rights import RightsChecks
from .caproto_internals import LongStringChannelType, ReadNotifyResponseHeader, pad_buffers, parse_metadata
from .encoding import Encoded, EncodedOnce
from .limits import LARGE
from .puts import PutProcessing
from .timeline import flush, mark
from .wire import ECA_NORMAL, EXTENDED_HEADER, WIRE_TYPES, Entry, backlog, gather, read_notify_response

COMMAND_BACKLOG = 16  # requests parsed but not yet processed, per circuit
WRITES_IN_FLIGHT = 32  # puts in progress per circuit (a motor put with callback lasts the whole move)
RECV_BYTES = 4096  # read at a time: what one turn of the request loop may have to parse (~170 puts)
SEND_HIGH_WATER = 1 << 18  # bytes the socket has not taken before the sender waits for the client
IOV_BATCH = 512  # buffers per sendmsg (Linux takes up to 1024)


class Circuit(RightsChecks, PutProcessing, _AsyncioCircuit):
    """One client connection (see the module docstring for what differs from caproto; the
    rights of its channels under access security: :class:`~.access_rights.RightsChecks`)."""

    def __init__(self, circuit, client, context) -> None:
        super().__init__(circuit, client, context)
        self.command_queue = asyncio.Queue(COMMAND_BACKLOG)
        self._writes = asyncio.Semaphore(WRITES_IN_FLIGHT)
        self._idle = False  # the request loop waits for a request (none in progress)
        self._write_tasks: set[asyncio.Task] = set()
        self._sync_writes: set[asyncio.Task] = set()  # puts whose processing the next request waits for
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
        await self.close()

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
            # A malformed put is refused as such first (fix 7); then one without the right (access security).
            refused = self.write_refused(command, chan, db_entry) if self.count_ok(command) else None
            if refused is not None:
                return refused
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
        if (not self.may_read(chan)
                or ca.AccessRights.READ not in db_entry.check_access(self.client_hostname, self.client_username)):
            return False
        metadata, data = await db_entry.read(data_type)  # a getter, if any, runs first, as in caproto
        if not (isinstance(data, np.ndarray) and data.flags.c_contiguous
                and data.dtype == WIRE_TYPES.get(ca.native_type(data_type))):
            return False
        md, payload, pad, size = db_entry.reply_payload(data_type, metadata, data)
        head = EXTENDED_HEADER.pack(ca.ReadNotifyResponse.ID, 0xFFFF, data_type, 0, ECA_NORMAL, command.ioid, size,
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
                read_data_type = LongStringChannelType(read_data_type)
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
                and data.flags.c_contiguous and data.dtype == WIRE_TYPES.get(ca.native_type(data_type))):
            md = parse_metadata(metadata, data_type)
            size, pad = pad_buffers(md, data)
            header = ReadNotifyResponseHeader(size, data_type, data_count, ECA_NORMAL, command.ioid)
            return [read_notify_response(header, md, data, pad)]
        return [chan.read(data=data, data_type=data_type, data_count=data_count, status=1, ioid=command.ioid,
                          metadata=metadata, notify=True)]

    # -- puts --------------------------------------------------------------------------

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
                flush()  # the profiling timeline (ioc.server.timeline), if on
                await asyncio.sleep(0)  # let other circuits send and posts accumulate
        except asyncio.CancelledError:
            pass
        except (OSError, ca.CaprotoNetworkError, RuntimeError):
            await self.close()
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
                if isinstance(entry.command, ca.WriteNotifyResponse):
                    mark("reply_send")
                try:
                    buffers = self.circuit.send(entry.command)
                except ca.CaprotoError as exc:  # e.g. its channel was cleared meanwhile
                    self.log.warning("Circuit %s: reply %r not sent: %s", self, entry.command, exc)
                    continue
                nbytes += gather(buffers, parts, small)
                continue
            if entry.header is None:
                continue  # dropped (subscription cancelled, events off)
            pending = self._pending.get(entry.subscriptionid)
            if pending:
                pending.popleft()
            small.append(entry.header)
            nbytes += len(entry.header) + gather(entry.payload, parts, small)
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
            task = asyncio.get_running_loop().create_task(self.close())
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

    async def _send_buffers(self, *buffers) -> None:
        parts: list = []
        small: list = []
        gather(buffers, parts, small)
        if small:
            parts.append(b"".join(small))
        self._emit(parts)
        if self._out_nbytes > SEND_HIGH_WATER:
            await self._drain()

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
        asyncio.get_running_loop().call_soon(self.context.return_freed_memory)

    async def close(self) -> None:
        if self.connected:
            await self._on_disconnect()
            self.circuit.disconnect()
            await self.context.circuit_disconnected(self)
