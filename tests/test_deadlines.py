"""beamline.deadlines: the trigger timeouts' one thread (threading.Timer started one per trigger)."""

from __future__ import annotations

import threading
import time

from beamline.deadlines import Deadlines

from .conftest import eventually


def test_calls_come_at_their_deadlines_in_order_and_a_cancelled_one_never():
    deadlines = Deadlines("test-deadlines")
    calls: list[tuple[str, float]] = []
    last = threading.Event()
    t0 = time.monotonic()
    deadlines.call_later(0.4, lambda: (calls.append(("late", time.monotonic() - t0)), last.set()))
    deadlines.call_later(0.2, calls.append, ("cancelled", 0.0)).cancel()
    deadlines.call_later(0.1, lambda: calls.append(("early", time.monotonic() - t0)))  # before the one waited for
    assert last.wait(10)
    assert [name for name, _ in calls] == ["early", "late"]
    assert calls[0][1] >= 0.1 and calls[1][1] >= 0.4  # never before its deadline
    threads = [t for t in threading.enumerate() if t.name == "test-deadlines"]
    assert len(threads) == 1  # one thread for all of them


def test_a_failing_call_does_not_stop_the_later_ones():
    deadlines = Deadlines("test-deadlines-failing")
    done = threading.Event()
    deadlines.call_later(0.0, lambda: 1 / 0)
    deadlines.call_later(0.05, done.set)
    assert done.wait(10)


def test_the_thread_ends_when_idle_and_a_later_call_starts_another(monkeypatch):
    from beamline import deadlines as module

    monkeypatch.setattr(module, "IDLE", 0.1)
    deadlines = Deadlines("test-deadlines-idle")
    first, second = threading.Event(), threading.Event()
    deadlines.call_later(0.0, first.set)
    assert first.wait(10)
    assert eventually(lambda: not any(t.name == "test-deadlines-idle" for t in threading.enumerate()))
    deadlines.call_later(0.0, second.set)
    assert second.wait(10)

