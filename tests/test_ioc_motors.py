"""The motor records, driven by stock ophyd.EpicsMotor, pyepics and caproto's client."""

from __future__ import annotations

import threading
import time

import epics
import pytest
from bluesky import RunEngine
from bluesky import plan_stubs as bps
from caproto import AlarmSeverity, ErrorResponseReceived
from ophyd import EpicsMotor
from ophyd.utils import LimitError

from ioc.motion import Move

from .conftest import SESSION_TIME_SCALE, eventually, time_scale


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
    x, y = motors
    RE = RunEngine({})
    t0 = time.monotonic()
    RE(bps.mv(x, 30, y, -20))
    elapsed = time.monotonic() - t0
    assert x.position == pytest.approx(30) and y.position == pytest.approx(-20)
    one = Move(0, 30, 20, 0.2).duration / SESSION_TIME_SCALE
    # Concurrent: well under the two moves back to back.
    assert elapsed < 2 * one + 1.0


def test_motion_takes_the_time_velo_and_accl_give(motors):
    x, _ = motors
    updates = []
    x.user_readback.subscribe(lambda value, **kw: updates.append(value), run=False)
    with time_scale(10):
        expected = Move(0, 40, 20, 0.2).duration / 10  # 0.21 s of wall time
        t0 = time.monotonic()
        x.set(40).wait(10)
        elapsed = time.monotonic() - t0
    assert elapsed == pytest.approx(expected, abs=0.1)
    inside = [v for v in updates if 0 < v < 40]
    assert len(inside) >= 2, f"RBV should update during the move, saw {updates}"
    assert updates == sorted(updates)


def test_dmov_and_movn_toggle_even_for_a_null_move(motors):
    x, _ = motors
    x.set(5).wait(10)
    dmov = []
    x.motor_done_move.subscribe(lambda value, **kw: dmov.append(value), run=False)
    x.set(5).wait(10)  # already there: the record still pulses DMOV
    time.sleep(0.1)
    # (a late DMOV=1 from the previous move may come first)
    assert "01" in "".join(str(int(v)) for v in dmov), dmov


def test_stop_halts_at_the_current_position(motors):
    x, _ = motors
    with time_scale(1):
        status = x.set(-90)
        time.sleep(0.5)
        x.stop()
        t0 = time.monotonic()
        while not status.done and time.monotonic() - t0 < 5:
            time.sleep(0.05)
    assert status.done, "the move's status should end when the motor stops"
    time.sleep(0.2)
    here = x.position
    assert -90 < here < 0
    assert x.motor_done_move.get() == 1 and x.motor_is_moving.get() == 0
    assert x.user_setpoint.get() == pytest.approx(here)  # VAL follows RBV on STOP


def test_ophyd_refuses_a_target_beyond_the_limit(motors):
    x, _ = motors
    with pytest.raises(LimitError, match="motor_dotx"):
        x.set(150)


def test_ioc_refuses_a_target_beyond_the_limit_with_lvio_and_alarm(motors):
    """A put from any client (here pyepics caput) beyond HLM: no motion, LVIO, HIGH alarm."""
    x, _ = motors
    x.set(10).wait(10)
    assert epics.caput("BL:mtr:dotx", 150, wait=True, timeout=5) == 1  # accepted, as a motor record does
    time.sleep(0.1)
    assert epics.caget("BL:mtr:dotx.LVIO") == 1
    assert epics.caget("BL:mtr:dotx.HLS") == 1
    assert epics.caget("BL:mtr:dotx.RBV") == pytest.approx(10)
    assert epics.caget("BL:mtr:dotx") == pytest.approx(10)  # VAL keeps its old value
    pv = epics.PV("BL:mtr:dotx.RBV", form="time")
    pv.wait_for_connection(5)
    pv.get_with_metadata(form="time", use_monitor=False)
    assert pv.severity == AlarmSeverity.MAJOR_ALARM
    # The next good move clears the flags.
    x.set(20).wait(10)
    assert epics.caget("BL:mtr:dotx.LVIO") == 0 and epics.caget("BL:mtr:dotx.HLS") == 0


def test_limit_lowered_on_the_ioc_fails_the_move_with_a_clear_message(motors, caproto_ctx):
    """HLM changed by another client: either ophyd sees the new limit, or the IOC refuses."""
    x, _ = motors
    hlm, = caproto_ctx.get_pvs("BL:mtr:dotx.HLM")
    hlm.write([5.0], wait=True)
    try:
        with pytest.raises(Exception) as info:
            x.set(50).wait(10)
        assert "motor_dotx" in str(info.value)
        assert x.position < 5.0 + 1e-9
    finally:
        hlm.write([100.0], wait=True)


def test_velocity_must_be_positive(ioc):
    from caproto.sync.client import read, write

    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ErrorResponseReceived, match=r"BL:mtr:doty\.VELO: velocity must be a finite number > 0"):
            write("BL:mtr:doty.VELO", bad, notify=True, timeout=5, repeater=False)
    assert read("BL:mtr:doty.VELO", repeater=False).data[0] == 20.0


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
    time.sleep(0.2)
    ctx.disconnect()
    assert min(seen) == pytest.approx(-30) and max(seen) == pytest.approx(30)


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
