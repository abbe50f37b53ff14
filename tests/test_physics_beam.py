"""The stored beam (ioc.sim.ring.StoredBeam): a dump empties the ring, a refill restores the
ring model's pattern. Pure numpy, no IOC."""

from __future__ import annotations

import numpy as np
import pytest

from ioc.sim.ring import ConstantRing, StoredBeam, TopUp


def test_no_dump_is_the_ring_model_itself():
    ring = TopUp()
    beam = StoredBeam(ring)
    t = np.linspace(0, 3 * ring.period, 1000)
    assert np.array_equal(beam.current(t), ring.current(t))
    assert beam.mean_current(10.0, 12.0) == ring.mean_current(10.0, 12.0)
    assert not beam.disturbed(5.0)


def test_dump_falls_to_zero_within_the_fall_time_stays_down_then_refills():
    ring = TopUp()
    beam = StoredBeam(ring, fall_time=0.5, fill_time=10.0)
    beam.dump(100.0, down_for=60.0)
    assert beam.current(100.0) == pytest.approx(ring.current(100.0))
    assert 0 < beam.current(100.25) < ring.current(100.25)  # falling
    assert beam.current(100.5) == 0.0  # gone within the fall time
    assert np.all(beam.current(np.linspace(100.5, 160.5, 500)) == 0.0)  # down for 60 s
    assert beam.current(165.5) == pytest.approx(0.5 * ring.current(165.5))  # half way through the fill
    t = np.linspace(170.5, 170.5 + 2 * ring.period, 500)
    assert np.allclose(beam.current(t), ring.current(t))  # back on the top-up pattern
    assert beam.disturbed(100.0) and beam.disturbed(170.0) and not beam.disturbed(170.5)


def test_refill_now_and_a_second_dump_continue_from_the_current_level():
    beam = StoredBeam(ConstantRing(500.0), fall_time=1.0, fill_time=10.0)
    beam.dump(0.0, down_for=1000.0)
    beam.refill(20.0)  # injection starts now instead of at 1001
    assert beam.current(25.0) == pytest.approx(250.0)
    beam.dump(25.0, down_for=5.0)  # dumped again half way through the refill: no jump
    assert beam.current(25.0) == pytest.approx(250.0)
    assert beam.current(25.5) == 0.0 and beam.current(30.4) == 0.0
    assert beam.current(35.5) == pytest.approx(250.0)
    # The mean over an exposure straddling the fall is what the exposure integrates.
    beam2 = StoredBeam(ConstantRing(500.0), fall_time=1.0)
    beam2.dump(10.0, down_for=100.0)
    assert beam2.mean_current(9.0, 11.0, samples=2001) == pytest.approx(500.0 * 0.75, rel=1e-3)


def test_changing_the_ring_model_keeps_the_dump():
    beam = StoredBeam(TopUp())
    beam.dump(0.0, down_for=100.0)
    beam.ring = ConstantRing(400.0)
    assert beam.current(50.0) == 0.0
    assert beam.current(200.0) == 400.0
