"""Following runs while they are taken: tiled's streaming of new data, from any host.

``beamline-up`` has the worker write each event to tiled as it is taken
(``BEAMLINE_TILED_BATCH_SIZE=1``) and tiled keep its stream of updates in Redis. A client
subscribes to the catalog (``tiled.client`` ``subscribe()``, a websocket): it is told of each
new run, of the run's streams and of each new row of a stream's table and each new frame
of an image array, and reads what it needs over HTTP, as it would read a finished run.

>>> with LiveRuns(tiled, on_update=print) as live:   # (uid, stream, key, n) per update
...     ...                                          # runs taken meanwhile are followed

Why tiled and not bluesky's 0MQ proxy (``bluesky-0MQ-proxy`` + ``RemoteDispatcher``): the
documents would have to be published by the worker, the proxy run as one more server, and a
late client would miss what was published before it connected; tiled's stream is served by
the server that stores the runs anyway, replays a node's updates from its start (``start=1``)
to a client that subscribes late, and needs only the HTTP address and key users already have.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

Update = tuple[str, str, str, int]  # (run uid, stream, key, number of rows/frames now)


class LiveRuns:
    """Subscribe to ``client`` (the catalog's root) and to every run created after, its streams
    and their tables and arrays; call ``on_update(uid, stream, key, n)`` for each new row
    (``key`` ``"internal"``: the scalar columns) or frame (``key`` the image, e.g. ``dot_img``)."""

    def __init__(self, client, on_update: Callable[[str, str, str, int], None]) -> None:
        self.client = client
        self.on_update = on_update
        self.updates: list[Update] = []  # what was seen, in order
        self._subscriptions: list = []
        self._callbacks: list = []  # tiled keeps only weak references to callbacks
        self._lock = threading.Lock()

    def start(self) -> LiveRuns:
        self._follow(self.client, ())
        return self

    def _follow(self, node, path: tuple[str, ...], replay: bool = False) -> None:
        sub = node.subscribe()
        if node.structure_family in ("container", "composite"):
            def created(update, path=path):
                self._follow(update.child(), (*path, update.key), replay=True)

            sub.child_created.add_callback(created)
            callback = created
        else:
            def new_data(update, path=path):
                self._seen(path, update)

            sub.new_data.add_callback(new_data)
            callback = new_data
        with self._lock:
            self._callbacks.append(callback)
            self._subscriptions.append(sub)
        # A node made a moment ago may have had updates before this subscription connected:
        # replay them from its first (the root: only what comes from now on).
        sub.start_in_thread(start=1 if replay else None)

    def _seen(self, path: tuple[str, ...], update) -> None:
        if len(path) < 3:
            return
        uid, stream, key = path[0], path[1], path[-1]
        shape = getattr(update, "shape", None)
        if shape:  # an array: its length along the events' axis
            n = int(shape[0])
        else:  # a table's new rows
            n = len(update.data())
        entry = (uid, stream, key, n)
        with self._lock:
            self.updates.append(entry)
        self.on_update(*entry)

    def stop(self) -> None:
        with self._lock:
            subscriptions, self._subscriptions = self._subscriptions, []
        for sub in subscriptions:
            sub.disconnect(wait=False)

    def __enter__(self) -> LiveRuns:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
