"""The client session: finding the IOC or saying why not, failed plans, the ring current."""

from __future__ import annotations

import time

import epics
import numpy as np
import pytest
from ophyd.utils import LimitError

from ioc.sim.physics import SENSOR_SHAPE

from . import ca
from .conftest import eventually, time_scale


@pytest.fixture(scope="module")
def session(ioc, tmp_path_factory):
    import os

    from beamline.session import make_session

    os.environ["BEAMLINE_DATABROKER_DIR"] = str(tmp_path_factory.mktemp("client-db"))
    return make_session("BL:", live=False, timeout=10)


def test_no_ioc_gives_one_clear_message(ioc):
    from beamline.connection import IOCNotFound
    from beamline.session import make_session

    t0 = time.monotonic()
    with pytest.raises(IOCNotFound) as info:
        make_session("NOPE:", live=False, timeout=1.5)
    assert time.monotonic() - t0 < 5
    message = str(info.value)
    assert "'NOPE:'" in message and "EPICS_CA_ADDR_LIST=" in message
    assert "beamline-ioc --prefix NOPE:" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # one message, not a wall


def test_devices_made_before_their_ioc_answers_connect_once_it_does(spawn_ioc, tmp_path):
    """A session started while the IOC boots (or on a loaded machine, where a first CA search
    can take longer than ophyd's 1 s lazy-connection timeout) waits with its own timeout:
    building the camera (ophyd's SingleTrigger takes cam1:Acquire while it is built) does not
    fail on the way."""
    from beamline.connection import connect_or_explain
    from beamline.devices import make_devices

    devices = make_devices("LATE:", write_path_template=f"{tmp_path}/")
    spawn_ioc("LATE:")
    connect_or_explain("LATE:", devices.values(), timeout=30)
    assert devices["dot"].cam.acquire.get() == 0
    assert devices["dot"].cam.acquire.connected


def test_a_plan_past_a_motor_limit_fails_and_keeps_what_it_recorded(session):
    RE, db, dot, current, mtr = (session[k] for k in ("RE", "db", "dot", "I", "mtr_dotx"))
    import bluesky.plan_stubs as bps
    import bluesky.plans as bp

    RE(bps.mv(dot.exp, 0.005))
    with pytest.raises(LimitError, match="motor_dotx"):
        RE(bp.scan([dot, current], mtr, 90, 110, 3))  # 90 and 100 are in range; 110 is not
    h = db[-1]
    assert h.stop["exit_status"] == "fail"
    assert "motor_dotx" in h.stop["reason"]
    assert list(h.table()["motor_dotx"]) == pytest.approx([90, 100])
    frames = list(h.data("dot_img"))
    assert len(frames) == 2 and frames[0].shape == SENSOR_SHAPE
    RE(bps.mv(mtr, 0))


def test_a_scalar_scan_of_the_spot(session):
    """`bp.scan([dot, I], mtr_dotx, -50, 50, 21)`: Stats1's total over the ring current traces
    the spot's brightness, peaked on axis."""
    RE, db, dot, mtr, current = (session[k] for k in ("RE", "db", "dot", "mtr_dotx", "I"))
    import bluesky.plan_stubs as bps
    import bluesky.plans as bp

    RE(bps.mv(dot.exp, 0.5))
    uid, = RE(bp.scan([dot, current], mtr, -50, 50, 21))
    table = db[uid].table()
    assert dot.hints == {"fields": ["dot_stats1_total"]}
    # The brightness dims 1/e at 100 mm off axis: 2 % at 15 mm, as much as the top-up ripple,
    # so the peak is found from all 21 points normalised by the current, not from the largest.
    brightness = table["dot_stats1_total"].to_numpy() / table[current.name].to_numpy()
    x = table["motor_dotx"].to_numpy()
    a, b, _ = np.polyfit(x, brightness, 2)
    assert a < 0 and abs(-b / (2 * a)) <= 10
    assert brightness[len(x) // 2] > brightness[0] and brightness[len(x) // 2] > brightness[-1]
    RE(bps.mv(mtr, 0))


def test_ring_current_tops_up(ioc):
    """Decay and injections, a few per cent peak to peak, following simulated time."""
    samples: list[float] = []

    def decaying_after_an_injection() -> bool:
        samples.append(ca.get("BL:ring:current"))
        injections = np.flatnonzero(np.diff(samples) > 5)
        return len(injections) > 0 and len(samples) - injections[0] > 20

    with time_scale(100):  # one top-up period (~112 s) in ~1.1 s, sampled every ~10 ms
        eventually(decaying_after_an_injection, timeout=10, interval=0.01)
    samples = np.array(samples)
    assert 484 < samples.min() < 488 and 498 < samples.max() <= 500.001
    jumps = np.diff(samples)
    assert (jumps > 5).sum() >= 1  # an injection
    assert (jumps < 0).mean() > 0.8  # mostly decay


def test_ring_current_is_read_only_with_units(ioc):
    pv = epics.PV("BL:ring:current", form="ctrl")
    pv.wait_for_connection(5)
    assert pv.get_ctrlvars()["units"] == "mA"
    assert pv.write_access is False
    message = ca.put_error("BL:ring:current", 1.0)  # the reason the IOC sends with its refusal
    assert message.endswith(" BL:ring:current is read-only: the IOC sets it, clients cannot"), message
