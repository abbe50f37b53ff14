"""The simulation's clock: simulated seconds run ``time_scale`` times faster than the wall clock."""

from __future__ import annotations

import time


class SimClock:
    """Simulated time that advances ``time_scale`` simulated seconds per wall second.

    Changing the scale re-anchors the clock, so simulated time never jumps.
    """

    def __init__(self, time_scale: float = 1.0, start: float = 0.0) -> None:
        self._scale = float(time_scale)
        self._wall0 = time.monotonic()
        self._sim0 = float(start)

    @property
    def time_scale(self) -> float:
        return self._scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        now = self.now()
        self._wall0 = time.monotonic()
        self._sim0 = now
        self._scale = float(value)

    def now(self) -> float:
        """Simulated seconds since the clock started."""
        return self._sim0 + (time.monotonic() - self._wall0) * self._scale

    def wall(self, sim_seconds: float) -> float:
        """Wall seconds that ``sim_seconds`` of simulated time take."""
        return sim_seconds / self._scale
