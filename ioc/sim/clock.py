"""The simulation's clock: simulated seconds run ``time_scale`` times faster than the wall clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

TICK = 0.1  # wall seconds: how often a wait in simulated time looks at the clock again


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

    async def sleep(
        self,
        sim_seconds: float,
        stop: asyncio.Event | None = None,
        on_tick: Callable[[float], Awaitable[None]] | None = None,
    ) -> bool:
        """Wait ``sim_seconds`` of simulated time; True if ``stop`` was set meanwhile.

        The wait follows the clock, so a change of time scale re-times what is left of it from
        that instant (within ``TICK`` wall seconds). ``on_tick(remaining)`` is awaited with the
        simulated seconds left, at the start and every ``TICK``.
        """
        end = self.now() + sim_seconds
        while True:
            if stop is not None and stop.is_set():
                return True
            remaining = end - self.now()
            if remaining <= 0:
                return False
            if on_tick is not None:
                await on_tick(remaining)
            wait = min(TICK, self.wall(remaining))
            if stop is None:
                await asyncio.sleep(wait)
                continue
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass
