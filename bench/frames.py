"""Frame generation in the IOC's physics (:mod:`ioc.sim.physics`) against plain numpy Poisson draws.

Both make the same frame, background Poisson(1000) plus the spot's Poisson counts; the
reference is what the physics did before: ``rng.poisson`` on every pixel for both parts.
"""

from __future__ import annotations

import numpy as np

from ioc.sim import physics

from .timing import Stopwatch


def ours_ms(rng: np.random.Generator, exposure: float, shape: tuple[int, int]) -> float:
    """Milliseconds to draw one frame with ioc.sim.physics (background + spot)."""
    with Stopwatch() as sw:
        physics.frame(rng, 0.0, 0.0, exposure, 500.0, shape, bg=physics.background(rng, shape))
    return 1000.0 * sw.seconds


def numpy_ms(rng: np.random.Generator, exposure: float, shape: tuple[int, int]) -> float:
    """Milliseconds to draw the same frame with numpy's Poisson on every pixel."""
    with Stopwatch() as sw:
        lam = physics.expected_counts(0.0, 0.0, exposure, 500.0, shape)
        img = rng.poisson(physics.BACKGROUND, shape).astype(np.uint32)
        img += rng.poisson(lam).astype(np.uint32)
    return 1000.0 * sw.seconds
