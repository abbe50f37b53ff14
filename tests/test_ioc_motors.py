"""The motor records, driven by stock ophyd.EpicsMotor, pyepics and caproto's client."""

from __future__ import annotations

import threading

import epics
import pytest
from bluesky import RunEngine
from bluesky import plan_stubs as bps
from caproto import ErrorResponseReceived
from ophyd import EpicsMotor
from ophyd.utils import LimitError

from ioc.sim.motion import Move

from .conftest import eventually, time_scale

# Alone: motion profiles sampled in wall time (1 ms is 0.2 mm here) blur on a loaded machine.
pytestmark = pytest.mark.serial


@pytest.fixture
def motors(ioc):
    x = EpicsMotor("BL:mtr:dotx", name="motor_dotx")
    y = EpicsMotor("BL:mtr:doty", name="motor_doty")
    x.wait_for_connection(timeout=10)
    y.wait_for_connection(timeout=10)
    yield x, y
    for m in (x, y):
        m.set(0).wait(30)


def test_epics_motor_connects_and_reports_record_fields(motors):
    x, _ = motors
    assert x.limits == (-100.0, 100.0)
    assert x.egu == "mm"
    assert x.velocity.get() == 20.0
    assert x.acceleration.get() == pytest.approx(0.2)
    assert x.motor_done_move.get() == 1
    assert x.user_offset.get() == 0.0
    assert x.high_limit_travel.get() == 100.0 and x.low_limit_travel.get() == -100.0


def test_bps_mv_moves_both_motors_at_once(motors):
    """Concurrent: both motors are moving (DMOV 0) before either has arrived."""
    x, y = motors
    events = []
    for m in (x, y):
        m.motor_done_move.subscribe(lambda value, obj, **kw: events.append((obj.parent.name, int(value))), run=False)
    RE = RunEngine({})
    with time_scale(10):  # 0.17 s moves: both have started long before either ends
        RE(bps.mv(x, 30, y, -20))
    assert x.position == pytest.approx(30) and y.position == pytest.approx(-20)
    eventually(lambda: sorted(events) == [("motor_dotx", 0), ("motor_dotx", 1), ("motor_doty", 0), ("motor_doty", 1)])
    first_done = next(i for i, (_, v) in enumerate(events) if v == 1)
    assert {name for name, v in events[:first_done] if v == 0} == {"motor_dotx", "motor_doty"}, events


def test_motion_takes_the_time_velo_and_accl_give(motors):
    """Every RBV update lies on the trapezoid VELO and ACCL give (IOC timestamps), and the
    move lasts at least as long as that profile."""
    x, _ = motors
    samples, dmov = [], []
    x.user_readback.subscribe(lambda value, timestamp, **kw: samples.append((timestamp, value)), run=False)
    x.motor_done_move.subscribe(lambda value, timestamp, **kw: dmov.append((timestamp, int(value))), run=False)
    scale = 10
    move = Move(0, 40, 20, 0.2)  # 2.2 s of simulated time, 0.22 s of wall time
    with time_scale(scale):
        x.set(40).wait(10)
    eventually(lambda: [v for _, v in dmov][-2:] == [0, 1])
    t0, t1 = dmov[-2][0], dmov[-1][0]
    assert t1 - t0 >= move.duration / scale - 0.01
    inside = [(t, v) for t, v in samples if 0 < v < 40]
    assert len(inside) >= 2, f"RBV should update during the move, saw {samples}"
    assert [v for _, v in samples] == sorted(v for _, v in samples)
    for t, v in inside:  # 1 ms of wall time is 0.2 mm at full speed here
        assert v == pytest.approx(move.position((t - t0) * scale), abs=0.5), (t - t0, v)


def test_dmov_and_movn_toggle_even_for_a_null_move(motors):
    x, _ = motors
    x.set(5).wait(10)
    dmov = []
    x.motor_done_move.subscribe(lambda value, **kw: dmov.append(value), run=False)
    x.set(5).wait(10)  # already there: the record still pulses DMOV
    # (a late DMOV=1 from the previous move may come first)
    eventually(lambda: "01" in "".join(str(int(v)) for v in dmov))


def test_stop_halts_at_the_current_position(motors):
    x, _ = motors
    with time_scale(1):
        status = x.set(-90)
        eventually(lambda: x.position < -5)  # under way
        x.stop()
        eventually(lambda: status.done)  # the move's status ends when the motor stops
    eventually(lambda: x.motor_done_move.get() == 1 and x.motor_is_moving.get() == 0)
    here = x.position
    assert -90 < here < -5
    assert x.user_setpoint.get() == pytest.approx(here)  # VAL follows RBV on STOP


def test_ophyd_refuses_a_target_beyond_the_limit(motors):
    x, _ = motors
    with pytest.raises(LimitError, match="motor_dotx"):
        x.set(150)


def test_ioc_refuses_a_target_beyond_the_limit_with_lvio(motors):
    """A put from any client (here pyepics caput) beyond HLM: no motion, LVIO set, VAL back
    to the last target; HLS/LLS are the hardware switches and stay 0, and with the dbd's
    HLSV (NO_ALARM) there is no alarm (motorRecord.cc alarm_sub)."""
    x, _ = motors
    x.set(10).wait(10)
    assert epics.caput("BL:mtr:dotx", 150, wait=True, timeout=5) == 1  # accepted, as a motor record does
    eventually(lambda: epics.caget("BL:mtr:dotx.LVIO", use_monitor=False) == 1)
    assert epics.caget("BL:mtr:dotx.HLS", use_monitor=False) == 0
    assert epics.caget("BL:mtr:dotx.LLS", use_monitor=False) == 0
    assert epics.caget("BL:mtr:dotx.RBV", use_monitor=False) == pytest.approx(10)
    assert epics.caget("BL:mtr:dotx", use_monitor=False) == pytest.approx(10)  # VAL keeps its old value
    assert epics.caget("BL:mtr:dotx.SEVR", use_monitor=False) == 0
    # The next good move clears the flag.
    x.set(20).wait(10)
    eventually(lambda: epics.caget("BL:mtr:dotx.LVIO", use_monitor=False) == 0)


def test_limit_lowered_elsewhere_is_enforced_by_the_record(motors, caproto_ctx):
    """HLM lowered by another client: ophyd keeps the limits it read at connection (it does
    not monitor DBE_PROPERTY), so it sends the put; the record refuses it as a motor record
    does: no motion, LVIO = 1, DMOV blinks so ophyd's status ends (without an error, on a
    real IOC too, since HLSV defaults to NO_ALARM)."""
    x, _ = motors
    x.set(2).wait(10)
    hlm, = caproto_ctx.get_pvs("BL:mtr:dotx.HLM")
    hlm.write([5.0], wait=True)
    try:
        x.set(50).wait(10)
        assert x.position == pytest.approx(2)
        assert epics.caget("BL:mtr:dotx.LVIO", use_monitor=False) == 1
        assert epics.caget("BL:mtr:dotx", use_monitor=False) == pytest.approx(2)
    finally:
        hlm.write([100.0], wait=True)


def test_velocity_is_clipped_to_vbas_vmax_and_nan_refused(ioc):
    from caproto.sync.client import read, write

    def velo():
        return read("BL:mtr:doty.VELO", repeater=False).data[0]

    try:
        for put, expected in ((0.0, 0.1), (-1.0, 0.1), (1e-300, 0.1), (1e6, 200.0), (5.0, 5.0)):
            write("BL:mtr:doty.VELO", put, notify=True, timeout=5, repeater=False)
            assert velo() == pytest.approx(expected), put
        with pytest.raises(ErrorResponseReceived, match=r"BL:mtr:doty\.VELO: velocity must be between"):
            write("BL:mtr:doty.VELO", float("nan"), notify=True, timeout=5, repeater=False)
        assert velo() == 5.0
    finally:
        write("BL:mtr:doty.VELO", 20.0, notify=True, timeout=5, repeater=False)


def test_set_use_switch_redefines_position_without_moving(motors):
    _, y = motors
    y.set(10).wait(10)
    y.set_current_position(0.0)
    try:
        eventually(lambda: y.position == pytest.approx(0.0))
        eventually(lambda: y.user_offset.get() == pytest.approx(-10.0))
        assert epics.caget("BL:mtr:doty.DRBV") == pytest.approx(10.0)
    finally:
        y.set_current_position(10.0)  # restore OFF = 0
        eventually(lambda: y.user_offset.get() == pytest.approx(0.0))


def test_many_clients_moving_and_watching(motors):
    """Monitors from pyepics and caproto at once while ophyd drives both motors."""
    from caproto.threading.client import Context

    x, y = motors
    ctx = Context()
    seen = []
    rbv, = ctx.get_pvs("BL:mtr:dotx.RBV")
    rbv.wait_for_connection(timeout=5)
    sub = rbv.subscribe()

    def on_update(sub, response):
        seen.append(response.data[0])

    sub.add_callback(on_update)  # caproto holds callbacks weakly: keep a name for it
    done = threading.Event()

    def wiggle():
        for target in (10, -10, 25, 0):
            y.set(target).wait(10)
        done.set()

    threading.Thread(target=wiggle).start()
    for target in (-30, 30, 0):
        x.set(target).wait(10)
    assert done.wait(20)
    eventually(lambda: min(seen) == pytest.approx(-30) and max(seen) == pytest.approx(30) and seen[-1] == 0)
    ctx.disconnect()


def test_tweak_and_home(motors):
    x, _ = motors
    x.set(10).wait(10)
    epics.caput("BL:mtr:dotx.TWV", 2.5, wait=True)
    epics.caput("BL:mtr:dotx.TWF", 1, wait=True)
    eventually(lambda: x.position == pytest.approx(12.5) and x.motor_done_move.get() == 1)
    epics.caput("BL:mtr:dotx.TWR", 1, wait=True)
    eventually(lambda: x.position == pytest.approx(10.0) and x.motor_done_move.get() == 1)
    epics.caput("BL:mtr:dotx.HOMR", 1, wait=True)
    eventually(lambda: x.position == pytest.approx(0.0) and x.motor_done_move.get() == 1)
