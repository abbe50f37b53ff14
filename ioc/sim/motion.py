"""Trapezoidal move profiles, as a motor controller runs them. Pure functions, no EPICS.

Distances in motor units, velocities in units/s, accelerations given as the motor record
gives them: ACCL, the seconds taken to reach full speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Move:
    """One point-to-point move from ``start`` to ``target`` at ``velocity`` with ramp time ``accel_time``."""

    start: float
    target: float
    velocity: float  # units/s, > 0
    accel_time: float  # s to reach velocity, >= 0

    @property
    def distance(self) -> float:
        return abs(self.target - self.start)

    @property
    def _ramp(self) -> tuple[float, float]:
        """(time spent ramping up, peak velocity reached)."""
        if self.accel_time <= 0:
            return 0.0, self.velocity
        accel = self.velocity / self.accel_time
        ramp_distance = self.velocity * self.accel_time / 2  # distance covered ramping up
        if 2 * ramp_distance <= self.distance:
            return self.accel_time, self.velocity
        # Triangular profile: never reaches full speed.
        t_ramp = math.sqrt(self.distance / accel)
        return t_ramp, accel * t_ramp

    @property
    def duration(self) -> float:
        """Seconds the move takes."""
        if self.distance == 0:
            return 0.0
        t_ramp, v_peak = self._ramp
        cruise = self.distance - v_peak * t_ramp  # both ramps together cover v_peak * t_ramp
        return 2 * t_ramp + cruise / v_peak

    def position(self, t: float) -> float:
        """Position ``t`` seconds after the move started."""
        total = self.duration
        if t >= total:
            return self.target
        if t <= 0:
            return self.start
        t_ramp, v_peak = self._ramp
        accel = v_peak / t_ramp if t_ramp > 0 else math.inf
        if t < t_ramp:
            d = 0.5 * accel * t * t
        elif t <= total - t_ramp:
            d = 0.5 * v_peak * t_ramp + v_peak * (t - t_ramp)
        else:
            left = total - t
            d = self.distance - 0.5 * accel * left * left
        return self.start + math.copysign(d, self.target - self.start)
