"""The beamline's physics as pure numpy: storage-ring current and the camera's spot image.

Nothing here knows about EPICS. Times are simulated seconds, currents mA, exposures s,
positions in motor units (one unit moves the spot by one pixel).

The spot follows caproto's ``mini_beamline`` MovingDot::

    X = (col - W/2 + x) / 50,   Y = (row - H/2 + y) / 25
    spot = exp(-(X**2 + Y**2) / 2) * exp(-(x**2 + y**2) / 100**2)
    counts = Poisson(1000) + Poisson(200 * spot * exposure * current)

so a 5 ms exposure at 500 mA peaks at ~500 counts on a 1000 +- 32 background, and
5 s at ~5e5 counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SENSOR_SHAPE = (480, 640)  # rows, columns
BACKGROUND = 1000.0  # counts per pixel per frame (dark + stray light)
PHOTONS_PER_MA_S = 200.0  # peak counts per mA per second of exposure
SIGMA_X = 50.0  # spot width, pixels
SIGMA_Y = 25.0  # spot height, pixels
VIGNETTE = 100.0  # motor offset (units) at which the spot dims to 1/e


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


def spot(x: float, y: float, shape: tuple[int, int] = SENSOR_SHAPE) -> np.ndarray:
    """Relative spot intensity (peak 1 at x = y = 0) on a sensor of ``shape`` (rows, cols).

    ``x``, ``y`` are the motor readbacks; moving x by +1 moves the spot one column left.
    """
    rows, cols = shape
    col = (np.arange(cols, dtype=np.float64) - cols / 2 + x) / SIGMA_X
    row = (np.arange(rows, dtype=np.float64) - rows / 2 + y) / SIGMA_Y
    # Separable Gaussian: an outer product is much cheaper than exp over the full grid.
    gx = np.exp(-(col**2) / 2)
    gy = np.exp(-(row**2) / 2)
    return np.outer(gy, gx) * math.exp(-(x**2 + y**2) / VIGNETTE**2)


def expected_counts(
    x: float, y: float, exposure: float, current: float, shape: tuple[int, int] = SENSOR_SHAPE
) -> np.ndarray:
    """Mean counts per pixel above background for ``exposure`` s at ``current`` mA."""
    return PHOTONS_PER_MA_S * exposure * current * spot(x, y, shape)


# -- exact Poisson sampling, fast ---------------------------------------------------------
#
# numpy's ``Generator.poisson`` costs 12-55 ns a draw (PTRS rejection for lambda >= 10, a
# product of uniforms below). A frame needs 307,200 background draws and up to as many for
# the spot, so the two took ~7 ms and ~5 ms per 480 x 640 frame, on the IOC's one rng
# thread. Two exact rewrites, with the same distribution (see tests/test_physics_stats.py):
#
# * a Poisson of one fixed mean (the background) is drawn by Walker's alias method from a
#   table of its probabilities, built once: one 64-bit random word per pixel gives the
#   cell (low bits) and the coin (the other 48-60 bits): 7.0 -> 2.9 ms per frame;
# * the spot is separable, lambda[r, c] = A * gy[r] * gx[c]. Pixels whose mean is below
#   ``SPARSE_MEAN`` lie in three blocks (core rows x outer columns, outer rows x core
#   columns, outer x outer), on each of which lambda is still a product. Independent
#   Poissons on such a block are exactly "N ~ Poisson(sum of lambda) counts, each put in
#   row r with probability gy[r] / sum(gy) and, independently, column c with probability
#   gx[c] / sum(gx)" (Poisson splitting), which costs O(N), N < SPARSE_MEAN per pixel.
#   Only the core rectangle gets a per-pixel numpy draw; before, every pixel whose mean
#   exceeded 1e-9 did (and the rest were dropped, a small approximation now gone):
#   6.6 -> 3.0 ms for a 0.1 s exposure at 500 mA, 5.7 -> 2.4 ms at 5 ms.

ALIAS_MAX_BITS = 16  # largest alias table: 65,536 cells, means up to ~6e5
ALIAS_TAIL_SIGMAS = 40.0  # the table spans the mean +- this many sigma: the mass outside is < 1e-200
SPARSE_MEAN = 0.5  # counts per pixel below which a block of the spot is drawn by Poisson splitting


@dataclass(frozen=True)
class AliasTable:
    """Walker's alias table of a distribution on ``offset .. offset + 2**bits - 1``.

    Cell ``j`` (uniform) yields ``offset + j`` when the coin (a 64 - ``bits``-bit integer)
    is below ``threshold[j]``, else ``alias_value[j]``.
    """

    bits: int
    offset: int
    threshold: np.ndarray  # uint64, in units of 2**-(64 - bits)
    value: np.ndarray  # uint32, offset + j
    alias_value: np.ndarray  # uint32

    def probabilities(self) -> np.ndarray:
        """The probability of each value ``offset + k`` that this table draws with (float64)."""
        size = 1 << self.bits
        keep = self.threshold.astype(np.float64) / 2.0 ** (64 - self.bits)
        p = keep.copy()
        np.add.at(p, self.alias_value.astype(np.int64) - self.offset, 1.0 - keep)
        return p / size


def poisson_pmf(lam: float, k: np.ndarray) -> np.ndarray:
    """Poisson(``lam``) probabilities of the integers ``k`` (float64), from log-gamma."""
    k = np.asarray(k, dtype=np.float64)
    lgam = np.array([math.lgamma(v + 1.0) for v in k.ravel()]).reshape(k.shape)
    if lam == 0:
        return (k == 0).astype(np.float64)
    return np.exp(k * math.log(lam) - lam - lgam)


@lru_cache(maxsize=16)
def poisson_alias_table(lam: float) -> AliasTable | None:
    """The alias table of Poisson(``lam``), or None if ``lam`` is too large for one."""
    spread = ALIAS_TAIL_SIGMAS * (math.sqrt(lam) + 1.0)
    offset = max(0, math.floor(lam - spread))
    bits = max(4, math.ceil(math.log2(lam + spread + 1 - offset)))
    if bits > ALIAS_MAX_BITS:
        return None
    size = 1 << bits
    p = poisson_pmf(lam, np.arange(offset, offset + size))
    q = p / p.sum() * size
    alias = np.arange(size)
    small = [i for i in range(size) if q[i] < 1.0]
    large = [i for i in range(size) if q[i] >= 1.0]
    while small and large:  # Vose's construction
        s, g = small.pop(), large.pop()
        alias[s] = g
        q[g] -= 1.0 - q[s]
        (small if q[g] < 1.0 else large).append(g)
    for i in small + large:  # what is left is 1 up to rounding
        q[i] = 1.0
    scale = 2.0 ** (64 - bits)
    threshold = np.minimum(np.round(q * scale), scale).astype(np.uint64)
    return AliasTable(bits, offset, threshold, (offset + np.arange(size)).astype(np.uint32),
                      (offset + alias).astype(np.uint32))


def poisson_fixed(rng: np.random.Generator, lam: float, shape: tuple[int, ...]) -> np.ndarray:
    """``shape`` independent Poisson(``lam``) counts as uint32: exact, 2-2.5x faster than numpy's."""
    table = poisson_alias_table(float(lam))
    if table is None:
        return rng.poisson(lam, shape).astype(np.uint32)
    n = math.prod(shape)
    raw = rng.bit_generator.random_raw(n)
    cell = np.bitwise_and(raw, np.uint64((1 << table.bits) - 1)).view(np.int64)
    np.right_shift(raw, np.uint64(table.bits), out=raw)
    keep = raw < np.take(table.threshold, cell)
    out = np.take(table.alias_value, cell)
    np.copyto(out, np.take(table.value, cell), where=keep)
    return out.reshape(shape)


def background(rng: np.random.Generator, shape: tuple[int, int] = SENSOR_SHAPE) -> np.ndarray:
    """One frame of background counts, Poisson(BACKGROUND) per pixel, as uint32."""
    return poisson_fixed(rng, BACKGROUND, shape)


def _split_poisson(rng: np.random.Generator, out: np.ndarray, rows: np.ndarray, gy: np.ndarray,
                   cols: np.ndarray, gx: np.ndarray, amplitude: float) -> None:
    """Add independent Poisson(``amplitude * gy[i] * gx[j]``) counts to ``out[rows[i], cols[j]]``.

    Exactly, by splitting: the block's total is Poisson(amplitude * sum(gy) * sum(gx)), and
    each count falls in row i and column j with probabilities gy[i]/sum(gy), gx[j]/sum(gx).
    """
    if rows.size == 0 or cols.size == 0:
        return
    cy, cx = np.cumsum(gy), np.cumsum(gx)
    if cy[-1] <= 0 or cx[-1] <= 0:
        return
    n = int(rng.poisson(amplitude * cy[-1] * cx[-1]))
    if n == 0:
        return
    cy /= cy[-1]
    cx /= cx[-1]
    r = rows[np.minimum(np.searchsorted(cy, rng.random(n), side="right"), rows.size - 1)]
    c = cols[np.minimum(np.searchsorted(cx, rng.random(n), side="right"), cols.size - 1)]
    np.add.at(out, (r, c), np.uint32(1))


def frame(
    rng: np.random.Generator,
    x: float,
    y: float,
    exposure: float,
    current: float,
    shape: tuple[int, int] = SENSOR_SHAPE,
    bg: np.ndarray | None = None,
) -> np.ndarray:
    """One detector frame (uint32 counts): background plus Poisson signal of the spot.

    ``bg`` may be a background frame drawn earlier from :func:`background` (the IOC
    draws it ahead of time, while the camera is idle); it is consumed (added to in place).
    Every pixel's signal is an exact, independent Poisson(:func:`expected_counts`).
    """
    if bg is None:
        bg = background(rng, shape)
    rows, cols = shape
    # expected_counts(), kept separable: lambda[r, c] = amplitude * gy[r] * gx[c].
    gx = np.exp(-(((np.arange(cols, dtype=np.float64) - cols / 2 + x) / SIGMA_X) ** 2) / 2)
    gy = np.exp(-(((np.arange(rows, dtype=np.float64) - rows / 2 + y) / SIGMA_Y) ** 2) / 2)
    amplitude = PHOTONS_PER_MA_S * exposure * current * math.exp(-(x**2 + y**2) / VIGNETTE**2)
    if not amplitude > 0:
        return bg
    # The core: rows and columns holding a pixel whose mean reaches SPARSE_MEAN (contiguous:
    # the spot is unimodal). Outside it, every pixel's mean is below SPARSE_MEAN.
    core_rows = np.flatnonzero(amplitude * gy * gx.max() >= SPARSE_MEAN)
    core_cols = np.flatnonzero(amplitude * gx * gy.max() >= SPARSE_MEAN)
    if core_rows.size and core_cols.size:
        r0, r1, c0, c1 = core_rows[0], core_rows[-1] + 1, core_cols[0], core_cols[-1] + 1
        core = bg[r0:r1, c0:c1]
        np.add(core, rng.poisson(np.outer(amplitude * gy[r0:r1], gx[c0:c1])), out=core, casting="unsafe")
    else:
        r0 = r1 = c0 = c1 = 0
    all_rows, all_cols = np.arange(rows), np.arange(cols)
    in_rows, in_cols = all_rows[r0:r1], all_cols[c0:c1]
    out_rows = np.concatenate([all_rows[:r0], all_rows[r1:]])
    out_cols = np.concatenate([all_cols[:c0], all_cols[c1:]])
    for rr, cc in ((in_rows, out_cols), (out_rows, in_cols), (out_rows, out_cols)):
        _split_poisson(rng, bg, rr, gy[rr], cc, gx[cc], amplitude)
    return bg


def roi_bin(img: np.ndarray, min_x: int, min_y: int, size_x: int, size_y: int, bin_x: int, bin_y: int) -> np.ndarray:
    """Crop a region of interest and sum-bin it, as an areaDetector driver reads out a sensor.

    Sizes are in unbinned pixels; the result has ``size_y // bin_y`` rows and
    ``size_x // bin_x`` columns (a partial bin at the edge is dropped).
    """
    sub = img[min_y : min_y + size_y, min_x : min_x + size_x]
    ny, nx = sub.shape[0] // bin_y, sub.shape[1] // bin_x
    if bin_x == 1 and bin_y == 1:
        return np.ascontiguousarray(sub[:ny, :nx])
    sub = sub[: ny * bin_y, : nx * bin_x]
    return sub.reshape(ny, bin_y, nx, bin_x).sum(axis=(1, 3), dtype=img.dtype)


def stats(img: np.ndarray, centroid_threshold: float = 0.0) -> dict[str, float]:
    """The numbers NDPluginStats publishes for a frame: total, extrema, mean, sigma, centroid.

    Centroid and sigmas are the intensity-weighted first and second moments in pixels of
    the pixels at or above ``centroid_threshold`` counts (the others count as 0, as in
    NDPluginStats), so a threshold above the background finds the spot.

    No copy of the frame: for integer frames the sums of values and of squares are exact
    64-bit integer reductions (float64 otherwise), and the centroid sums are masked
    reductions: 1.3 -> 0.7 ms for a 480 x 640 frame (it was 4 float64 temporaries).
    """
    n = img.size
    flat = img.reshape(-1)
    imax = int(np.argmax(flat))
    imin = int(np.argmin(flat))
    lo, hi = flat[imin].item(), flat[imax].item()
    if img.dtype.kind in "ui" and n * max(abs(lo), abs(hi)) ** 2 < 2**63:
        acc = np.uint64 if img.dtype.kind == "u" else np.int64
        s1 = int(flat.sum(dtype=acc))
        s2 = int(np.einsum("i,i->", flat, flat, dtype=acc))
        total = float(s1)
        mean = s1 / n
        variance = (n * s2 - s1 * s1) / (n * n)  # exact integers, one rounding
    else:
        total = float(flat.sum(dtype=np.float64))
        mean = total / n
        shifted = flat.astype(np.float64)
        shifted -= math.floor(mean) if math.isfinite(mean) else 0.0
        offset = float(shifted.sum()) / n  # mean - shift, without the rounding of a large total
        variance = float(np.dot(shifted, shifted)) / n - offset**2
    out = {
        "total": total,
        "net": total,
        "min": float(lo),
        "max": float(hi),
        "min_x": float(imin % img.shape[1]),
        "min_y": float(imin // img.shape[1]),
        "max_x": float(imax % img.shape[1]),
        "max_y": float(imax // img.shape[1]),
        "mean": mean,
        "sigma": math.sqrt(max(variance, 0.0)),
    }
    wsum = 0.0
    if centroid_threshold <= lo:  # every pixel counts
        px = img.sum(axis=0, dtype=np.float64)
        py = img.sum(axis=1, dtype=np.float64)
        wsum = float(px.sum())
    elif centroid_threshold <= hi:
        mask = img >= centroid_threshold
        px = np.add.reduce(img, axis=0, where=mask, dtype=np.float64)
        py = np.add.reduce(img, axis=1, where=mask, dtype=np.float64)
        wsum = float(px.sum())
    if wsum > 0:
        px /= wsum
        py /= wsum
        xs = np.arange(img.shape[1])
        ys = np.arange(img.shape[0])
        cx = float(px @ xs)
        cy = float(py @ ys)
        out.update(
            centroid_x=cx,
            centroid_y=cy,
            sigma_x=float(math.sqrt(max(px @ (xs - cx) ** 2, 0.0))),
            sigma_y=float(math.sqrt(max(py @ (ys - cy) ** 2, 0.0))),
        )
    else:
        out.update(centroid_x=0.0, centroid_y=0.0, sigma_x=0.0, sigma_y=0.0)
    return out
