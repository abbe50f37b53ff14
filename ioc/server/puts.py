"""Puts, as rsrv processes them: one at a time per circuit, and puts that complete later.

A put is processed before the circuit takes the client's next request, as rsrv does, unless
it lasts: a putter that has started what completes later (an acquisition, a move) calls
:func:`processing_started`, as an asynchronous record sets PACT, and the circuit serves the
next request at once while the put's completion (its WRITE_NOTIFY reply) waits for the
putter to return. A putter that never calls it holds the next request until it returns, up
to ``INLINE_WRITE``. The circuit sets :data:`PUT_STARTED` (a future) in each put's task.
"""

from __future__ import annotations

import asyncio
import contextvars

import caproto as ca
from caproto import ChannelType

from .timeline import mark

INLINE_WRITE = 0.01  # s: a put is processed before the next request unless it takes longer (a move)

PUT_STARTED: contextvars.ContextVar[asyncio.Future | None] = contextvars.ContextVar("put_started", default=None)


def processing_started() -> None:
    """The put being processed in this task goes on asynchronously (see the module docstring)."""
    started = PUT_STARTED.get()
    if started is not None and not started.done():
        started.set_result(None)


class PutProcessing:
    """The put half of :class:`ioc.server.circuit.Circuit` (a mixin of it: it uses the
    circuit's ``_writes`` semaphore, ``_write_tasks``, ``write_event`` and ``_reply_after_monitors``)."""

    async def _start_write(self, command, chan, db_entry) -> None:
        await self._writes.acquire()  # at most WRITES_IN_FLIGHT: the request loop, and so recv, waits
        self.write_event.clear()
        started = asyncio.get_running_loop().create_future()
        task = asyncio.get_running_loop().create_task(self._checked_write(command, chan, db_entry, started))
        self._write_tasks.add(task)
        self._sync_writes.add(task)
        task.add_done_callback(self._write_done)
        # One put at a time per circuit, as rsrv: the next request waits until this one is
        # processed, or has gone on asynchronously (processing_started: an acquisition, a
        # move), or lasts longer than INLINE_WRITE; then it goes on aside.
        await asyncio.wait((task, started), timeout=INLINE_WRITE, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            self._goes_on(task)

    def _goes_on(self, task: asyncio.Task) -> None:
        """``task``'s put completes later: reads no longer wait for it (caproto's write_event)."""
        self._sync_writes.discard(task)
        if not self._sync_writes:
            self.write_event.set()

    def _write_done(self, task: asyncio.Task) -> None:
        self._write_tasks.discard(task)
        self._writes.release()
        self._goes_on(task)

    async def _checked_write(self, command, chan, db_entry, started: asyncio.Future) -> None:
        PUT_STARTED.set(started)  # this task's own context: its putter may call processing_started()
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
            mark("put_done", chan.name)
            reply = chan.write(ioid=command.ioid, status=True if status is None else status,
                               data_count=db_entry.length)
        if self.connected:
            await self._reply_after_monitors(reply)

    @classmethod
    def count_ok(cls, command) -> bool:
        """Whether a put's declared count fits its payload (else its put is refused, see fix 7)."""
        try:
            cls._check_count(command)
        except ValueError:
            return False
        return True

    @staticmethod
    def _check_count(command) -> None:
        """A string put may not declare more strings than its payload holds (see fix 7)."""
        data_type = command.data_type
        if ca.native_type(data_type) == ChannelType.STRING:
            payload = command.header.payload_size
            if command.data_count > max(1, -(-payload // ca.MAX_STRING_SIZE)):
                raise ValueError(f"{command.data_count} strings declared in a payload of {payload} bytes")
