"""Changing ``sim:TimeScale`` re-times exposures and moves already under way: simulated time is
continuous, so what is left of them runs at the new scale from that instant."""

from __future__ import annotations

import time

import epics

from . import ca
from .conftest import eventually, time_scale

CAM = "BL:dot:cam1:"


def test_an_exposure_started_slow_finishes_at_once_when_time_speeds_up(ioc):
    ca.put(f"{CAM}ImageMode", "Single")
    ca.put(f"{CAM}AcquireTime", 0.5)
    try:
        with time_scale(1e-3):  # 0.5 s of exposure is 500 s of wall time at this scale
            ca.put(f"{CAM}Acquire", 1, wait=False)
            eventually(lambda: ca.get(f"{CAM}DetectorState_RBV", as_string=True) == "Acquire")
            # TimeRemaining_RBV counts down in simulated seconds.
            first = eventually(lambda: 0 < (r := ca.get(f"{CAM}TimeRemaining_RBV")) < 0.5 and r)
            eventually(lambda: ca.get(f"{CAM}TimeRemaining_RBV") < first)
            ca.put("BL:sim:TimeScale", 1e6)
            t0 = time.monotonic()
            eventually(lambda: ca.get(f"{CAM}Acquire_RBV") == 0, timeout=5)
            assert time.monotonic() - t0 < 2.0
            assert ca.get(f"{CAM}TimeRemaining_RBV") == 0
            assert ca.get(f"{CAM}DetectorState_RBV", as_string=True) == "Idle"
    finally:
        ca.put(f"{CAM}AcquireTime", 0.005)


def test_a_move_started_slow_finishes_at_once_when_time_speeds_up(ioc):
    motor = "BL:mtr:doty"
    start = ca.get(f"{motor}.RBV")
    with time_scale(1e-3):
        ca.put(motor, start + 5.0, wait=False)  # 5 mm at 20 mm/s: about 4 min of wall time
        eventually(lambda: ca.get(f"{motor}.DMOV") == 0)
        moved = eventually(lambda: (p := ca.get(f"{motor}.RBV")) != start and p)
        assert abs(moved - start) < 1.0
        ca.put("BL:sim:TimeScale", 1e6)
        t0 = time.monotonic()
        eventually(lambda: ca.get(f"{motor}.DMOV") == 1, timeout=5)
        assert time.monotonic() - t0 < 2.0
        assert abs(epics.caget(f"{motor}.RBV", use_monitor=False) - (start + 5.0)) < 1e-9
    ca.put(motor, start)
