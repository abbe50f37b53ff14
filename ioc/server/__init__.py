"""The IOC's network servers: Channel Access (caproto 1.3's asyncio server, subclassed) and PV Access (p4p).

Modules, one job each: :mod:`.circuit` (one client connection), :mod:`.context` (the server
and its monitor fan-out; ``run`` replaces ``caproto.server.run``), :mod:`.encoding` (large
arrays and monitor updates encoded once), :mod:`.wire` (buffers, limits, the FIFO entry),
:mod:`.caproto_internals` (every private caproto name used, and the version check),
:mod:`.pvaccess` (the p4p server for NDPluginPva), :mod:`.autosave` (settings kept across
restarts); EPICS access security: :mod:`.access_security` (the ACF file), :mod:`.access_rules`
(who may read and write), :mod:`.calc` (its CALC expressions), :mod:`.access_rights` (the
rights sent to and enforced on each client; ``Context(pvdb, access=...)``). Nothing here
assigns into caproto's classes or modules.

What our CA server does differently from caproto's, each tested against stock caproto in
``tests/test_ca_server.py``:

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
   subscription holds is bounded (:mod:`.context`). caproto's fan-out awaited a full
   per-circuit queue, so one frozen client stopped every monitor and grew the server-wide
   queue without bound; it kept 1000 updates per subscription and encoded every frame once
   per subscriber.
4. ``Circuit._on_disconnect``: a closed circuit's queued updates, pending writes and
   subscriptions are freed at once, it leaves ``Context.circuits``, and the freed memory
   goes back to the OS (``malloc_trim``). caproto awaited its own monitor task
   (``RuntimeError: await wasn't used with future``) and the circuit and its queued frames
   stayed in memory until a full garbage collection.
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
   each refused one.
9. ``Circuit._emit``, ``EncodedOnce``, ``Circuit._fast_read`` (``tests/test_ca_server_images.py``):
   one ``sendmsg`` per turn and per get, no copy of a large array in Python, no conversion
   of an unchanged one. caproto copied a frame several times per get and sent one message
   per update; a viewer that fell behind was shown its oldest queued frames.
10. ``Context._broadcaster_queue_iteration``: a search reply's version header carries the
   sequence number of the datagram it answers, as rsrv's does. caproto sent 1 in every reply,
   so libca counted none after its first search pass and paced the rest (~20 channels every
   30 ms): an ophyd areaDetector device's 314 channels took 0.45 s to connect, not 0.06 s
   (an EPICS C IOC: 0.05 s), and on a loaded machine a first channel could miss ophyd's 1 s
   lazy-connection timeout.
"""

from .context import Context, run, start_server
from .encoding import EncodedOnce

__all__ = ["Context", "EncodedOnce", "run", "start_server"]
