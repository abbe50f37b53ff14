"""The storage ring's current as pure numpy: top-up, a constant ring, and a stored beam that can be dumped.

Nothing here knows about EPICS. Times are simulated seconds, currents mA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TopUp:
    """A storage ring in top-up: the beam decays with a lifetime and is refilled by injections.

    The current falls from ``setpoint`` as ``exp(-t / lifetime)`` until it reaches
    ``setpoint * (1 - band)``, then an injection restores it within ``injection_time``.
    """

    setpoint: float = 500.0  # mA
    lifetime: float = 3600.0  # s, beam lifetime between injections
    band: float = 0.03  # fractional drop that triggers an injection (3 % peak to peak)
    injection_time: float = 2.0  # s, time for the injector to refill

    @property
    def decay_time(self) -> float:
        """Seconds of decay between two injections."""
        return -self.lifetime * math.log(1.0 - self.band)

    @property
    def period(self) -> float:
        """Seconds from one injection to the next."""
        return self.decay_time + self.injection_time

    def current(self, t: float | np.ndarray) -> float | np.ndarray:
        """Ring current in mA at simulated time ``t`` (s)."""
        phase = np.mod(t, self.period)
        low = self.setpoint * (1.0 - self.band)
        decaying = self.setpoint * np.exp(-np.minimum(phase, self.decay_time) / self.lifetime)
        refill = low + (self.setpoint - low) * (phase - self.decay_time) / self.injection_time
        out = np.where(phase < self.decay_time, decaying, refill)
        return float(out) if np.ndim(out) == 0 else out

    def mean_current(self, t0: float, t1: float, samples: int = 16) -> float:
        """Average current in mA over [t0, t1] s: what an exposure integrates."""
        if t1 <= t0:
            return float(self.current(t0))
        return float(np.mean(self.current(np.linspace(t0, t1, samples))))


@dataclass(frozen=True)
class ConstantRing:
    """A ring held at a fixed current: for reproducible frames in tests."""

    setpoint: float = 500.0  # mA

    def current(self, t: float | np.ndarray) -> float | np.ndarray:
        """Ring current in mA (independent of ``t``)."""
        return self.setpoint if np.ndim(t) == 0 else np.full(np.shape(t), self.setpoint)

    def mean_current(self, t0: float, t1: float, samples: int = 16) -> float:
        """Average current in mA over [t0, t1]: the set point."""
        return self.setpoint


@dataclass
class StoredBeam:
    """The stored beam of a ring model (:class:`TopUp` or :class:`ConstantRing`), which can be
    dumped and refilled.

    After :meth:`dump` at ``t``, the current falls linearly to 0 within ``fall_time`` s,
    stays at 0 for the given time, then injection ramps it back to the ring model's
    pattern over ``fill_time`` s (the envelope multiplies the model's current, so the
    refilled beam rejoins the top-up cycle where it is). Times are simulated seconds.
    """

    ring: TopUp | ConstantRing
    fall_time: float = 0.5  # s: the stored beam is lost within this (as the DCCT shows it)
    fill_time: float = 10.0  # s: injection from empty back to the ring model's current
    dumped_at: float | None = None
    refill_at: float | None = None  # when injection starts again

    def dump(self, t: float, down_for: float) -> None:
        """Lose the beam at ``t``; injection restarts ``down_for`` s after it has gone.

        A dump while the beam is already down (or refilling) starts a new one from
        whatever current there is at ``t``.
        """
        level = float(self.envelope(t))
        self.dumped_at = t - (1.0 - level) * self.fall_time  # continue from the current level
        self.refill_at = self.dumped_at + self.fall_time + max(0.0, down_for)

    def refill(self, t: float) -> None:
        """Start injecting at ``t`` (if the beam is down and injection is later than that)."""
        if self.refill_at is not None and self.refill_at > t:
            self.refill_at = t

    def envelope(self, t: float | np.ndarray) -> float | np.ndarray:
        """Fraction (0..1) of the ring model's current stored at ``t``."""
        if self.dumped_at is None or self.refill_at is None:
            return 1.0 if np.ndim(t) == 0 else np.ones(np.shape(t))
        t = np.asarray(t, dtype=np.float64)
        falling = np.clip(1.0 - (t - self.dumped_at) / self.fall_time, 0.0, 1.0)
        filling = np.clip((t - self.refill_at) / self.fill_time, 0.0, 1.0)
        out = np.maximum(falling, filling)
        return float(out) if out.ndim == 0 else out

    def disturbed(self, t: float) -> bool:
        """True from the dump until the refill has brought the ring model's current back."""
        return self.refill_at is not None and self.dumped_at is not None and \
            self.dumped_at <= t < self.refill_at + self.fill_time

    def current(self, t: float | np.ndarray) -> float | np.ndarray:
        """Ring current in mA at simulated time ``t`` (s)."""
        out = np.asarray(self.ring.current(t)) * self.envelope(t)
        return float(out) if np.ndim(out) == 0 else out

    def mean_current(self, t0: float, t1: float, samples: int = 16) -> float:
        """Average current in mA over [t0, t1] s: what an exposure integrates."""
        if t1 <= t0:
            return float(self.current(t0))
        return float(np.mean(self.current(np.linspace(t0, t1, samples))))
