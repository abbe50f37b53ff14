"""Timing helpers: medians of repeats, run side by side in alternation (noisy 2-core machines)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Samples:
    """Repeated measurements of one figure (its unit is the caller's)."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(float(value))

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def p95(self) -> float:
        """The 95th percentile (linear interpolation between the two nearest samples)."""
        if not self.values:
            return float("nan")
        ordered = sorted(self.values)
        pos = 0.95 * (len(ordered) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    @property
    def spread(self) -> float:
        """(max - min) / median: how noisy the repeats were (0 for one sample)."""
        if len(self.values) < 2 or not self.median:
            return 0.0
        return (max(self.values) - min(self.values)) / abs(self.median)


def alternate(repeats: int, ours: Callable[[], float], baseline: Callable[[], float]) -> tuple[Samples, Samples, Samples]:
    """Run ``ours`` and ``baseline`` in turn ``repeats`` times, the order balanced (AB BA BA AB ...).

    Each pair swaps which side goes first in the ABBA pattern, so over 4 repeats each side
    runs first twice and no side is always the one that follows the other (warm caches,
    a load that builds up). Returns the samples of each and of their paired ratio ``ours / baseline``; the median of
    paired ratios is robust against the machine's load drifting between repeats.
    """
    a, b, ratio = Samples(), Samples(), Samples()
    for i in range(repeats):
        if i % 4 in (0, 3):
            x = ours()
            y = baseline()
        else:
            y = baseline()
            x = ours()
        a.add(x)
        b.add(y)
        ratio.add(x / y if y else float("nan"))
    return a, b, ratio


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds`` (perf_counter)."""

    def __enter__(self) -> Stopwatch:
        self._t0 = time.perf_counter()
        self.seconds = float("nan")
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._t0
