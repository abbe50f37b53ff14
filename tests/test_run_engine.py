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
import pytest
from bluesky import Msg
from bluesky.suspenders import SuspendBoolHigh
from ophyd import Signal
from ophyd.status import Status

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


def _trip_at_the_end(RE, null_messages: int) -> None:
    """Run a plan whose suspender trips as its last messages are processed (the beam comes back 0.3 s later)."""
    beam_down = Signal(name="beam_down", value=0)
    RE.install_suspender(SuspendBoolHigh(beam_down, sleep=0))

    async def trip(msg) -> None:
        beam_down.put(1)  # its monitor runs here, on the RunEngine's loop, as a CA monitor's would
        threading.Timer(0.3, beam_down.put, args=(0,)).start()

    RE.register_command("trip", trip)

    def plan():
        yield Msg("trip")
        yield Msg("checkpoint")  # a suspension does not take the trip again
        for _ in range(null_messages):
            yield Msg("null")

    try:
        RE(plan())
    finally:
        time.sleep(0.4)  # the beam is back before the next plan


def test_premise_stock_bluesky_is_left_suspending_by_a_suspension_as_the_plan_ends():
    from bluesky import RunEngine as StockRunEngine
    from bluesky._vendor.super_state_machine.errors import TransitionError

    RE = StockRunEngine({})
    with pytest.raises(TransitionError):
        _trip_at_the_end(RE, 0)
    assert RE.state == "suspending"  # every later plan: "The RunEngine is in a suspending state"


@pytest.mark.parametrize("null_messages", range(4))
def test_a_suspension_as_the_plan_ends_leaves_the_run_engine_ready(null_messages):
    RE = RunEngine({})
    _trip_at_the_end(RE, null_messages)  # completes (suspended and resumed, or the request dropped)
    assert RE.state == "idle"
    names = []
    RE(bp.count([Signal(name="x", value=1)], num=1), lambda name, doc: names.append(name))
    assert names == ["start", "descriptor", "event", "stop"]


class SlowToStop:
    """A movable whose stop() takes 0.2 s, as a motor's stop put over CA takes some time."""

    name = "slow_to_stop"
    parent = None

    def __init__(self) -> None:
        self.stops = 0

    def set(self, value) -> Status:
        status = Status()
        status.set_finished()
        return status

    async def stop(self, success: bool = False) -> None:
        await asyncio.sleep(0.2)
        self.stops += 1


def _trip_while_cleaning_up(RE) -> SlowToStop:
    """A plan that moved something, whose suspender trips with its last message: the suspension
    reaches the RunEngine while it stops what the plan moved."""
    beam_down = Signal(name="beam_down", value=0)
    RE.install_suspender(SuspendBoolHigh(beam_down, sleep=0))
    mover = SlowToStop()

    async def trip(msg) -> None:
        beam_down.put(1)
        threading.Timer(0.5, beam_down.put, args=(0,)).start()

    RE.register_command("trip", trip)
    try:
        RE([Msg("set", mover, 1, group="g"), Msg("wait", None, group="g"), Msg("checkpoint"), Msg("trip")])
    finally:
        time.sleep(0.6)  # the beam is back before the next plan
    return mover


def test_premise_stock_bluesky_is_left_suspending_by_a_suspension_during_its_clean_up():
    from bluesky import RunEngine as StockRunEngine

    RE = StockRunEngine({})
    mover = _trip_while_cleaning_up(RE)  # returns as if all went well
    assert RE.state == "suspending"
    assert mover.stops == 0  # the clean-up's stop() of what the plan moved was cut short


def test_a_suspension_during_the_clean_up_leaves_the_run_engine_ready_and_stops_what_moved():
    RE = RunEngine({})
    mover = _trip_while_cleaning_up(RE)
    assert RE.state == "idle"
    assert mover.stops >= 1
    names = []
    RE(bp.count([Signal(name="x", value=1)], num=1), lambda name, doc: names.append(name))
    assert names == ["start", "descriptor", "event", "stop"]


def test_a_plan_that_pauses_itself_pauses_once_and_resumes():
    """Msg('pause') cancels the RunEngine's own task from inside a command: that cancellation is
    on its way, not swallowed, and must pause the run once."""
    from bluesky.utils import RunEngineInterrupted

    RE = RunEngine({})
    det = Signal(name="x", value=1)
    names = []

    def plan():
        yield Msg("open_run")
        yield Msg("checkpoint")
        yield Msg("pause", defer=False)
        yield Msg("create", name="primary")
        yield Msg("read", det)
        yield Msg("save")
        yield Msg("close_run")

    with pytest.raises(RunEngineInterrupted):
        RE(plan(), lambda name, doc: names.append(name))
    assert RE.state == "paused"
    RE.resume()
    assert RE.state == "idle"
    assert names == ["start", "descriptor", "event", "stop"]
