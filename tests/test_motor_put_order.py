"""What clients read right after a motor move's put-callback completes: the readbacks of the
finished move. An EPICS IOC posts its monitors before it answers the put-callback, and so does
our CA server (ioc/ca_server.py)."""

from __future__ import annotations

import epics
import pytest

from .test_motor_clients import RE, async_motor, home  # noqa: F401  (fixtures)

MOTOR = "BL:mtr:dotx"


def test_ophyd_async_scan_readings_are_the_points(RE, async_motor):  # noqa: F811
    import bluesky.plans as bp

    seen = []
    RE(bp.scan([], async_motor, -1.25, 1.25, 3), lambda name, doc: seen.append((name, doc)))
    events = [doc["data"]["motor"] for name, doc in seen if name == "event"]
    assert events == [pytest.approx(-1.25), pytest.approx(0.0), pytest.approx(1.25)]


def test_pyepics_motor_reads_the_finished_move(home):  # noqa: F811
    m = epics.Motor(MOTOR)
    for target in (12.5, -3.0, 40.0):
        assert m.move(target, wait=True) == 0
        assert m.get_position(readback=True) == pytest.approx(target)
        assert m.done_moving == 1


def test_pyepics_motor_move_returns_the_soft_limit_code(home):  # noqa: F811
    m = epics.Motor(MOTOR)
    assert m.move(5.0, wait=True) == 0
    assert m.move(150, ignore_limits=True, wait=True) == -4  # move-with-wait finished, soft limit violation
    assert m.move(6.0, wait=True) == 0  # LVIO cleared by the good move
