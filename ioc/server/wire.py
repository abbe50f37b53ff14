"""How bytes leave a circuit, and what a circuit accepts: buffer handling shared by the server's modules.

Everything a circuit sends (monitor updates, replies) goes out through ``Circuit._emit``:
``sendmsg`` of a list of buffers on a second handle of the circuit's socket, in order. Large
arrays go as memoryviews, never joined or copied (asyncio's transport in Python 3.11 has no
vectored write and copies what the socket does not take): :func:`gather` prepares them.
"""

from __future__ import annotations

import struct

import caproto as ca
import numpy as np
from caproto import ChannelType

from .caproto_internals import ensure_eca_value, type_map
from .limits import LARGE, SUBSCRIPTION_BACKLOG, SUBSCRIPTION_BACKLOG_BYTES

WIRE_TYPES = {ChannelType(t): np.dtype(d) for t, d in type_map.items()}
ECA_NORMAL = ensure_eca_value(1)
EXTENDED_HEADER = struct.Struct(">HHHHIIII")  # command, 0xFFFF, data type, 0, parameter 1 and 2, size, count
NUMERIC = (ChannelType.INT, ChannelType.FLOAT, ChannelType.LONG, ChannelType.DOUBLE)


def backlog(nbytes: int) -> int:
    """How many pending updates of ``nbytes`` each a subscription may hold."""
    return max(1, min(SUBSCRIPTION_BACKLOG, SUBSCRIPTION_BACKLOG_BYTES // max(1, nbytes)))


def as_wire(buffer):
    """A payload buffer as the socket takes it: a byte memoryview, no copy for arrays."""
    if isinstance(buffer, np.ndarray):
        return memoryview(np.ascontiguousarray(buffer).view(np.uint8)).cast("B")
    if isinstance(buffer, (bytes, bytearray)):
        return buffer
    if isinstance(buffer, memoryview) and buffer.format == "B" and buffer.c_contiguous:
        return buffer
    return bytes(buffer)  # a ctypes metadata struct, a memoryview of one


def gather(buffers, parts: list, small: list) -> int:
    """Append ``buffers`` to ``parts`` for one ``sendmsg``: a large one as it is (after the small
    ones before it, joined), small ones into ``small`` to be joined. Returns their size in bytes."""
    nbytes = 0
    for buffer in buffers:
        part = as_wire(buffer)
        nbytes += len(part)
        if len(part) >= LARGE:
            if small:
                parts.append(b"".join(small))
                small.clear()
            parts.append(part)
        elif part:
            small.append(part)
    return nbytes


class Entry:
    """A place in a circuit's send FIFO: a monitor update (header + shared payload) or a command."""

    __slots__ = ("ticket", "subscriptionid", "header", "payload", "command")

    def __init__(self, ticket: int, subscriptionid, header, payload, command=None) -> None:
        self.ticket = ticket
        self.subscriptionid = subscriptionid
        self.header = header
        self.payload = payload
        self.command = command


def read_notify_response(header, *buffers) -> ca.ReadNotifyResponse:
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
