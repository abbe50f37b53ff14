"""The camera makes a count's next frame ahead while its inputs repeat; a changed input is never
answered with a frame made from the old one.

With a constant ring, once two frames in a row had the same inputs the IOC starts the next
frame as the acquisition ends (ioc/areadetector/driver.py, ``_speculate``). These tests change
an input between acquisitions, after such a run of frames, and check the very next frame
follows the new input (Stats1's total, from the frame's own pixels).
"""

from __future__ import annotations

from ioc.sim.physics import BACKGROUND, SENSOR_SHAPE

from . import ca

P = "FA:"
PIXELS = SENSOR_SHAPE[0] * SENSOR_SHAPE[1]


def _signal(exposure: float) -> float:
    """Acquire one frame of ``exposure`` s; its counts above the background (Stats1:Total_RBV)."""
    ca.put(f"{P}dot:cam1:AcquireTime", exposure)
    ca.acquire(P)
    return ca.get(f"{P}dot:Stats1:Total_RBV") - BACKGROUND * PIXELS


def test_a_changed_exposure_or_position_is_not_answered_with_a_frame_made_ahead(spawn_ioc):
    spawn_ioc(P, time_scale=1000, seed=3, extra_args=["--ring", "Constant"])
    ca.put(f"{P}dot:cam1:ImageMode", "Single")
    ca.put(f"{P}dot:cam1:ArrayCallbacks", 1)
    ca.put(f"{P}dot:Stats1:EnableCallbacks", 1)
    counter = ca.get(f"{P}dot:cam1:ArrayCounter_RBV")
    long = [_signal(0.1) for _ in range(4)]  # steady: the fourth (and a fifth) made ahead
    short = _signal(0.01)
    assert short < 0.2 * min(long), (long, short)
    again = [_signal(0.01) for _ in range(3)]
    back = _signal(0.1)
    assert back > 5 * max(again), (again, back)
    assert ca.get(f"{P}dot:cam1:ArrayCounter_RBV") == counter + 9
    # A motor move between frames: the spot moves 20 columns, its brightest pixel with it.
    centre = ca.get(f"{P}dot:Stats1:MaxX_RBV")
    ca.put(f"{P}mtr:dotx", 20.0, timeout=60)
    _signal(0.1)
    moved = ca.get(f"{P}dot:Stats1:MaxX_RBV")
    assert abs(moved - centre) > 10, (centre, moved)
