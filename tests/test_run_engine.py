"""The session's RunEngine (beamline/run_engine.py) against a cancellation swallowed below a command.

On Python 3.11, ``asyncio.wait_for`` (under every ophyd-async signal read) can return its result
instead of raising the cancellation that a suspension sends, when both land in one turn
(CPython issue 86296). Here a readable does that deterministically: its read swallows the
cancellation and returns a reading, as wait_for does in that race.
"""

from __future__ import annotations

import asyncio
import threading
import time

import bluesky.plans as bp
from bluesky.suspenders import SuspendBoolHigh
from ophyd import Signal

from beamline.run_engine import RunEngine


class SwallowingReadable:
    """Its first read trips the suspender, then swallows the suspension's cancellation."""

    name = "swallowing"
    parent = None

    def __init__(self, trip) -> None:
        self.trip = trip
        self.reads = 0

    async def read(self) -> dict:
        self.reads += 1
        if self.reads == 1:
            self.trip()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass  # as asyncio.wait_for on Python 3.11, when its read completes in the same turn
        return {self.name: {"value": self.reads, "timestamp": time.time()}}

    def describe(self) -> dict:
        return {self.name: {"source": "test", "dtype": "number", "shape": []}}


def test_a_suspension_swallowed_below_a_read_still_suspends_and_the_run_completes():
    RE = RunEngine({})
    beam_down = Signal(name="beam_down", value=0)
    RE.install_suspender(SuspendBoolHigh(beam_down, sleep=0.05))

    def dump_and_recover() -> None:
        beam_down.put(1)
        threading.Timer(0.2, beam_down.put, args=(0,)).start()

    det = SwallowingReadable(dump_and_recover)
    names = []
    t0 = time.monotonic()
    RE(bp.count([det], num=2), lambda name, doc: names.append(name))
    assert names.count("event") == 2  # the interrupted event was taken again after the suspension
    assert names[-1] == "stop"
    assert det.reads == 3  # read, suspended (its reading dropped), read again, then the second event
    assert time.monotonic() - t0 < 10  # the swallowed cancellation did not leave the read waiting
