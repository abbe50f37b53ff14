"""Calls made at a deadline unless cancelled first, all from one thread.

``threading.Timer`` starts a thread per call, and ``Thread.start`` waits for the new thread to
run: a device arming a timeout on every trigger paid that on the RunEngine's thread for each
frame. :class:`Deadlines` keeps one daemon thread, started when needed, waiting for the
earliest deadline, and ending after ``IDLE`` seconds with nothing to wait for.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

IDLE = 30.0  # s with nothing to wait for before the thread ends (a device no longer used keeps none)


class Deadline:
    """A call :class:`Deadlines` will make at its deadline unless cancelled."""

    __slots__ = ("callback", "args", "cancelled")

    def __init__(self, callback: Callable, args: tuple) -> None:
        self.callback, self.args, self.cancelled = callback, args, False

    def cancel(self) -> None:
        """Do not make the call (no effect once made)."""
        self.cancelled = True


class Deadlines:
    """``call_later(seconds, callback, *args)`` from any thread; the calls run on this object's thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def call_later(self, seconds: float, callback: Callable, *args) -> Deadline:
        deadline = Deadline(callback, args)
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._cond.notify()  # earlier than what the thread waits for
        return deadline

    def _next_due(self) -> Deadline | None:
        """The next deadline due, once it is; None when none came for ``IDLE`` s (the thread ends)."""
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    if not self._cond.wait(IDLE) and not self._heap:
                        self._thread = None  # the next call_later starts another
                        return None
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(wait)

    def _run(self) -> None:
        while True:
            deadline = self._next_due()
            if deadline is None:
                return
            if deadline.cancelled:
                continue
            try:
                deadline.callback(*deadline.args)
            except Exception:
                logger.exception("%s: a deadline's call failed", self.name)
