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


def background(rng: np.random.Generator, shape: tuple[int, int] = SENSOR_SHAPE) -> np.ndarray:
    """One frame of background counts, Poisson(BACKGROUND) per pixel, as uint32."""
    return rng.poisson(BACKGROUND, shape).astype(np.uint32)


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
    """
    if bg is None:
        bg = background(rng, shape)
    lam = expected_counts(x, y, exposure, current, shape)
    # Far from the spot the mean is so small that a draw is almost surely 0: only draw
    # where it is not, which keeps short exposures cheap without changing the statistics
    # (the pixels skipped expect fewer than 1e-6 counts in total).
    rows = np.flatnonzero(lam.max(axis=1) > 1e-9)
    cols = np.flatnonzero(lam.max(axis=0) > 1e-9)
    if rows.size and cols.size:
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        bg[r0:r1, c0:c1] += rng.poisson(lam[r0:r1, c0:c1]).astype(np.uint32)
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
    """
    img64 = img.astype(np.float64)
    total = float(img64.sum())
    imax = int(np.argmax(img))
    imin = int(np.argmin(img))
    out = {
        "total": total,
        "net": total,
        "min": float(img.flat[imin]),
        "max": float(img.flat[imax]),
        "min_x": float(imin % img.shape[1]),
        "min_y": float(imin // img.shape[1]),
        "max_x": float(imax % img.shape[1]),
        "max_y": float(imax // img.shape[1]),
        "mean": float(img64.mean()),
        "sigma": float(img64.std()),
    }
    weights = np.where(img64 >= centroid_threshold, img64, 0.0)
    wsum = float(weights.sum())
    if wsum > 0:
        px = weights.sum(axis=0) / wsum
        py = weights.sum(axis=1) / wsum
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
