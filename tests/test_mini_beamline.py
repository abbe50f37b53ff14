"""caproto's mini_beamline names (``beamline-ioc --mini-beamline``), driven as the bluesky
tutorials configure them: ophyd ``Device``s of ``EpicsSignal``s, the motors as
``EpicsSignal(..., put_complete=True)``, scanned by a RunEngine."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky import plans as bp
from ophyd import Component, Device, EpicsSignal, EpicsSignalRO

from beamline_shared.launcher import IOCProcess
from ioc.sim import beamprofiles
from ioc.sim.physics import PHOTONS_PER_MA_S

from . import ca
from .conftest import PORTS, eventually


class Det(Device):
    """A point detector as the tutorials' configuration declares it."""

    det = Component(EpicsSignal, ":det", kind="hinted")
    exp = Component(EpicsSignal, ":exp", kind="config")


class Spot(Device):
    """The tutorials' spot: the image, its sum, the exposure and the shutter."""

    img = Component(EpicsSignalRO, ":det")
    roi = Component(EpicsSignal, ":img_sum", kind="hinted")
    exp = Component(EpicsSignal, ":exp", kind="config")
    shutter_open = Component(EpicsSignal, ":shutter_open", kind="config")
    size = Component(EpicsSignalRO, ":ArraySize_RBV")


@pytest.fixture(scope="module", params=["--mini-beamline", "--config mini_beamline"])
def mini(request, tmp_path_factory):
    """The mini_beamline names under mini:, at time scale 100: served beside a beamline (prefix MB:)
    by the shorthand, or alone from the shipped configuration (what the tutorials' IOC serves)."""
    root = tmp_path_factory.mktemp("mini")
    options = dict(prefix="MB:", extra_args=["--mini-beamline", "--ring", "Constant"])
    if request.param.startswith("--config"):
        options = dict(config="mini_beamline", extra_args=["--ring", "Constant"])
    proc = IOCProcess(data_root=root / "data", port=PORTS[3], time_scale=100.0, seed=7, log_path=root / "ioc.log",
                      **options)
    proc.start()
    yield proc
    proc.stop()


def test_names_and_types_are_the_examples():
    """Every PV of caproto's example, with its CA type and element count, and no other."""
    from caproto.ioc_examples.mini_beamline import MiniBeamline as Example

    from ioc.beamline import BeamlineIOC

    example = Example(prefix="mini:").pvdb
    ours = BeamlineIOC(prefix="BL:", data_root=Path("/tmp"))
    served = ours.add_mini_beamline("mini:")
    assert sorted(served) == sorted(example)
    for name, chan in example.items():
        assert (served[name].data_type, served[name].max_length) == (chan.data_type, chan.max_length), name
        assert bool(served[name].pvspec.read_only) == bool(chan.pvspec.read_only), name


def _expected(profile, m, exposure, current):
    return PHOTONS_PER_MA_S * current * exposure * beamprofiles.PROFILES[profile](m)


@pytest.mark.parametrize("name, profile", [("ph", "pinhole"), ("edge", "edge"), ("slit", "slit")])
def test_tutorial_scan_of_a_point_detector(mini, name, profile):
    det = Det(f"mini:{name}", name=name)
    motor = EpicsSignal(f"mini:{name}:mtr", name=f"motor_{name}", put_complete=True)
    current = EpicsSignalRO("mini:current", name="I")
    for sig in (det, motor, current):
        sig.wait_for_connection(timeout=10)
    det.exp.put(0.1)
    RE = RunEngine({})
    docs = []
    RE(bp.scan([det, current], motor, -12, 12, 13), lambda kind, doc: docs.append((kind, doc)))
    events = [doc for kind, doc in docs if kind == "event"]
    assert len(events) == 13
    for ev in events:
        m = ev["data"][f"motor_{name}"]
        mean = _expected(profile, m, 0.1, ev["data"]["I"])
        # Counts at the position the motor reached (the put completed after the move and
        # the detector's refresh): within 6 sigma of the Poisson mean.
        assert abs(ev["data"][f"{name}_det"] - mean) <= 6 * math.sqrt(mean) + 1, (m, ev["data"])
    assert motor.get() == 12


def test_a_move_takes_distance_over_velocity_and_put_completes_then(mini):
    ca.put("mini:ph:vel", 0.2)
    ca.put("mini:ph:mtr", 0.0)
    seen = []
    import epics

    pv = epics.PV("mini:ph:mtr", callback=lambda value, **kw: seen.append(value), auto_monitor=True)
    pv.wait_for_connection(5)
    motor = EpicsSignal("mini:ph:mtr", name="m", put_complete=True)
    motor.wait_for_connection(5)


    t0 = time.monotonic()
    motor.set(10.0).wait(10)  # 50 simulated s at time scale 100: 0.5 s, the readback ticking at 10 Hz
    took = time.monotonic() - t0
    assert 0.5 <= took < 5.0
    assert motor.get() == 10.0
    eventually(lambda: seen and seen[-1] == 10.0)
    assert any(0 < v < 10 for v in seen), seen  # the readback stepped through the move
    pv.disconnect()
    ca.put("mini:ph:vel", 1.0)


def test_spot_image_sum_exposure_and_shutter(mini):
    spot = Spot("mini:dot", name="spot")
    mtrx = EpicsSignal("mini:dot:mtrx", name="motor_spotx", put_complete=True)
    spot.wait_for_connection(timeout=10)
    mtrx.wait_for_connection(timeout=10)
    rows, cols = (int(v) for v in spot.size.get())
    assert (rows, cols) == (480, 640)
    spot.exp.set(0.05).wait(5)
    mtrx.set(20.0).wait(5)  # completes after the new image is posted
    img = spot.img.get(use_monitor=False).reshape(rows, cols)
    assert img.dtype == np.float64
    assert spot.roi.get() == img.sum()
    signal = img - 1000.0
    # mtrx = +20 moves the spot 20 columns left. Its centre is the centroid of the columns' counts
    # (std ~0.1 column at this exposure); the brightest column sum is not: over a spot 50 columns
    # wide its noise puts it 2 columns off (std), more than 3 in 5 % of frames.
    profile = signal.sum(axis=0)
    centre = float((np.arange(cols) * profile).sum() / profile.sum())
    assert abs(centre - (cols / 2 - 20)) < 1, (centre, np.argmax(profile))
    peak_col = round(centre)
    expected_peak = PHOTONS_PER_MA_S * 0.05 * 500 * math.exp(-(20.0**2) / 100.0**2)
    assert abs(signal[rows // 2 - 2: rows // 2 + 3, peak_col - 2: peak_col + 3].mean() - expected_peak) < 0.1 * expected_peak
    spot.shutter_open.set(0).wait(5)
    dark = spot.img.get(use_monitor=False)
    assert abs(dark.mean() - 1000.0) < 1.0 and dark.max() < 1000 + 8 * math.sqrt(1000)
    spot.shutter_open.set(1).wait(5)
    mtrx.set(0.0).wait(5)


def test_current_is_the_beamlines_ring(mini):
    if mini.config is None:  # beside the beamline: the same ring
        assert ca.get("mini:current") == pytest.approx(ca.get("MB:ring:current"))
    assert ca.get("mini:current") == pytest.approx(500.0)


def test_the_tutorials_configuration_by_its_names(mini, tmp_path):
    """The bluesky tutorials' beamline_configuration.py names (tests/data/proofs/bluesky_tutorials.json):
    make_session(config=...) builds devices of exactly those names, each connects, and a tutorial
    scan of a point detector against the ring current runs."""
    import json
    import os

    from beamline.session import make_session

    tutorial = json.loads((Path(__file__).parent / "data" / "proofs" / "bluesky_tutorials.json").read_text())
    os.environ["BEAMLINE_DATABROKER_DIR"] = str(tmp_path / "db")
    session = make_session(live=False, timeout=10, config="mini_beamline")
    assert set(tutorial["devices"]) <= set(session)
    for name, device in tutorial["devices"].items():
        for pv in device["pvs"]:
            assert ca.get(pv) is not None, (name, pv)
    RE, ph, motor, current = (session[k] for k in ("RE", "ph", "motor_ph", "I"))
    ph.exp.set(0.1).wait(5)
    (uid,) = RE(bp.scan([ph, current], motor, -1, 1, 3))
    table = session["db"][uid].table()
    assert list(table["motor_ph"]) == [-1.0, 0.0, 1.0]
    assert (table["ph_det"] > 0).all() and list(table["I"]) == pytest.approx([500.0] * 3)


def test_bad_puts_are_refused_naming_the_pv(mini):
    assert "mini:ph:vel: velocity (units/s) must be between" in ca.put_error("mini:ph:vel", 0)
    assert "mini:edge:exp" in ca.put_error("mini:edge:exp", float("nan"))
    assert "mini:dot:mtrx" in ca.put_error("mini:dot:mtrx", float("inf"))
    assert "read-only" in ca.put_error("mini:dot:det", [1.0, 2.0])
    assert "read-only" in ca.put_error("mini:current", 1.0)
    # As in the example, a negative exposure is clipped to 0.
    ca.put("mini:slit:exp", -1.0)
    assert ca.get("mini:slit:exp") == 0.0
    eventually(lambda: ca.get("mini:slit:det") == 0.0)
    ca.put("mini:slit:exp", 1.0)


def test_a_new_target_retargets_the_move(mini):
    """A put during a move takes over: the earlier put completes at once, the motor goes to the new target."""
    ca.put("mini:edge:vel", 0.5)
    motor = EpicsSignal("mini:edge:mtr", name="m", put_complete=True)
    motor.wait_for_connection(5)
    first = motor.set(30.0)  # 60 simulated s: 0.6 s
    eventually(lambda: 0 < ca.get("mini:edge:mtr") < 30)
    motor.set(1.0).wait(5)
    first.wait(5)
    assert ca.get("mini:edge:mtr") == 1.0
    ca.put("mini:edge:vel", 1.0)
