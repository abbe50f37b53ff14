"""Checks of values clients put, shared by the motor, the camera and the simulation controls.

Each raises ValueError naming the PV and saying what was expected; caproto turns it into the
CA put error the client sees.
"""

from __future__ import annotations

import math


def finite(pvname: str, value, low: float, high: float, what: str) -> float:
    """``value`` as a float in [low, high], or ValueError naming ``pvname``."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{pvname}: {what} must be a number, not {value!r}") from None
    if not math.isfinite(value) or not (low <= value <= high):
        raise ValueError(f"{pvname}: {what} must be between {low:g} and {high:g}, not {value}")
    return value


def integer(pvname: str, value, low: int, high: int, what: str) -> int:
    """``value`` as a whole number in [low, high], or ValueError naming ``pvname``."""
    number = finite(pvname, value, low, high, what)
    if number != int(number):
        raise ValueError(f"{pvname}: {what} must be a whole number, not {value}")
    return int(number)
