"""Two fixes to caproto 1.3's asyncio server that a CA client otherwise pays for on every update.

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
"""

from __future__ import annotations

import os
import socket

import caproto.asyncio.server as asyncio_server
import caproto.server.common as server_common

MONITOR_BATCH_TIMEOUT = 0.001  # s


def apply() -> None:
    """Patch caproto's asyncio server in this process (idempotent)."""
    wrapper = asyncio_server._TransportWrapper
    if not getattr(wrapper, "_beamline_nodelay", False):
        original_init = wrapper.__init__

        def __init__(self, reader, writer):
            original_init(self, reader, writer)
            sock = writer.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        wrapper.__init__ = __init__
        wrapper._beamline_nodelay = True
    if "CAPROTO_SERVER_HIGH_LOAD_TIMEOUT_SEC" not in os.environ:
        server_common.HIGH_LOAD_TIMEOUT = MONITOR_BATCH_TIMEOUT
