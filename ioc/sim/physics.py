"""The beamline's physics as pure numpy: the camera's spot image, its noise, and its statistics.

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

import numpy as np

from . import noise

SENSOR_SHAPE = (480, 640)  # rows, columns
BACKGROUND = 1000.0  # counts per pixel per frame (dark + stray light)
PHOTONS_PER_MA_S = 200.0  # peak counts per mA per second of exposure
SIGMA_X = 50.0  # spot width, pixels
SIGMA_Y = 25.0  # spot height, pixels
VIGNETTE = 100.0  # motor offset (units) at which the spot dims to 1/e
ROW_TIME = 4.9e-6  # s per sensor row read out: a rolling-shutter sCMOS reads 2048 rows in 10 ms


def readout_time(rows: int, row_time: float = ROW_TIME) -> float:
    """Seconds to read ``rows`` sensor rows out after an exposure (the region's rows, before
    binning), ``row_time`` s each: 2.4 ms for 480 rows of an sCMOS. Rows are read in turn, so
    the time follows the height."""
    return rows * row_time


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
# the spot. What is done instead, with the same distribution (tests/test_physics_stats.py):
#
# * a Poisson of one fixed mean (the background) is an inverse-CDF table lookup of 16 random
#   bits, exact to 2**-64 (:mod:`ioc.sim.noise`);
# * the spot is separable, lambda[r, c] = A * gy[r] * gx[c]. Pixels whose mean is below
#   ``SPARSE_MEAN`` lie in three blocks (core rows x outer columns, outer rows x core
#   columns, outer x outer), on each of which lambda is still a product. Independent
#   Poissons on such a block are exactly "N ~ Poisson(sum of lambda) counts, each put in
#   row r with probability gy[r] / sum(gy) and, independently, column c with probability
#   gx[c] / sum(gx)" (Poisson splitting), which costs O(N), N < SPARSE_MEAN per pixel.
#   Only the core rectangle gets a per-pixel numpy draw: most of a frame's cost;
# * the background and the spot's core are drawn in two blocks of rows, each from a random
#   stream of its own, on two threads where there are cores to spare (numpy releases the GIL
#   for these draws); a seed gives the same frame on any machine (:func:`ioc.sim.noise.in_blocks`).

SPARSE_MEAN = 0.5  # counts per pixel below which a block of the spot is drawn by Poisson splitting


def poisson_fixed(rng: np.random.Generator, lam: float, shape: tuple[int, ...]) -> np.ndarray:
    """``shape`` independent Poisson(``lam``) counts as uint32, exact (see :mod:`ioc.sim.noise`)."""
    return noise.poisson(rng, float(lam), np.empty(shape, np.uint32))


def background(rng: np.random.Generator, shape: tuple[int, int] = SENSOR_SHAPE, exposures: int = 1) -> np.ndarray:
    """One frame of background counts as uint32: Poisson(BACKGROUND) per pixel and exposure."""
    return poisson_fixed(rng, BACKGROUND * exposures, shape)


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
    # Binary searches of sorted uniforms are several times faster; the columns are then
    # shuffled, so that each count's column is independent of its row.
    r = rows[np.minimum(np.searchsorted(cy, np.sort(rng.random(n)), side="right"), rows.size - 1)]
    c = cols[np.minimum(np.searchsorted(cx, np.sort(rng.random(n)), side="right"), cols.size - 1)]
    rng.shuffle(c)
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
    else:
        r0 = r1 = c0 = c1 = 0
    core, ay, bx = bg[r0:r1, c0:c1], amplitude * gy[r0:r1], gx[c0:c1]
    all_rows, all_cols = np.arange(rows), np.arange(cols)
    in_rows, in_cols = all_rows[r0:r1], all_cols[c0:c1]
    out_rows = np.concatenate([all_rows[:r0], all_rows[r1:]])
    out_cols = np.concatenate([all_cols[:c0], all_cols[c1:]])

    def draw(g: np.random.Generator, a: int, b: int) -> None:
        """Rows a..b of the core; the last block also draws the faint rest by splitting."""
        block = core[a:b]
        if block.size:
            np.add(block, g.poisson(np.outer(ay[a:b], bx)), out=block, casting="unsafe")
        if b == core.shape[0]:
            for rr, cc in ((in_rows, out_cols), (out_rows, in_cols), (out_rows, out_cols)):
                _split_poisson(g, bg, rr, gy[rr], cc, gx[cc], amplitude)

    noise.in_blocks(rng, core.shape[0], draw, core.shape[1])
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

    The centroid's numbers are NDPluginStats.cpp's (doComputeCentroidT), from the moments of
    the pixels at or above ``centroid_threshold`` counts (the others count as 0), so a
    threshold above the background finds the spot: ``centroid_total`` (their sum, M00), the
    centroid and its widths ``sigma_x``/``sigma_y`` in pixels, ``sigma_xy`` (the covariance
    over sigma_x * sigma_y), ``skew_x``/``skew_y`` (third central moment over sigma**3),
    ``kurtosis_x``/``kurtosis_y`` (fourth over sigma**4, minus 3), ``eccentricity``
    ((mu20 - mu02)**2 - 4 mu11**2) / (mu20 + mu02)**2 and ``orientation`` (degrees,
    0.5 atan2(2 var_xy, var_x - var_y)); each 0 where ADCore leaves it unset (no pixel at the
    threshold, or a zero width). The central moments are taken about the centroid, not from
    raw moments as the C++ does: the same numbers without its cancellation.

    No float64 copy of the frame: for integer frames the sums of values and of squares are
    exact 64-bit integer reductions (float64 otherwise); the centroid works on the
    thresholded frame (the frame itself when every pixel counts) through its profiles and
    one row-weighted sum.
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
    if centroid_threshold <= lo:  # every pixel counts
        weights = img
    elif centroid_threshold <= hi:
        weights = np.where(img >= centroid_threshold, img, 0)
    else:
        weights = None
    out.update(centroid_moments(weights))
    return out


_CENTROID_KEYS = ("centroid_total", "centroid_x", "centroid_y", "sigma_x", "sigma_y", "sigma_xy", "skew_x",
                  "skew_y", "kurtosis_x", "kurtosis_y", "eccentricity", "orientation")


def centroid_moments(weights: np.ndarray | None) -> dict[str, float]:
    """NDPluginStats' centroid numbers (see :func:`stats`) of a thresholded frame (None: no pixel counts)."""
    out = dict.fromkeys(_CENTROID_KEYS, 0.0)
    if weights is None:
        return out
    # The thresholded profiles (ADCore's, before averaging); exact integer sums when they fit.
    acc = {"u": np.uint64, "i": np.int64}.get(weights.dtype.kind) if weights.dtype.itemsize <= 4 else None
    px = weights.sum(axis=0, dtype=acc or np.float64).astype(np.float64, copy=False)
    py = weights.sum(axis=1, dtype=acc or np.float64).astype(np.float64, copy=False)
    m00 = float(px.sum())
    if not m00 > 0:
        return out
    xs = np.arange(weights.shape[1], dtype=np.float64)
    ys = np.arange(weights.shape[0], dtype=np.float64)
    cx, cy = float(px @ xs) / m00, float(py @ ys) / m00
    dx, dy = xs - cx, ys - cy
    var_x, var_y = float(px @ dx**2) / m00, float(py @ dy**2) / m00
    mu11 = float(dy @ np.einsum("ij,j->i", weights, dx))  # sum of w (x - cx) (y - cy)
    var_xy = mu11 / m00
    sigma_x, sigma_y = math.sqrt(max(var_x, 0.0)), math.sqrt(max(var_y, 0.0))
    out.update(centroid_total=m00, centroid_x=cx, centroid_y=cy, sigma_x=sigma_x, sigma_y=sigma_y,
               orientation=math.degrees(0.5 * math.atan2(2.0 * var_xy, var_x - var_y)))
    if sigma_x != 0 and sigma_y != 0:
        out["sigma_xy"] = var_xy / (sigma_x * sigma_y)
    if var_x != 0:
        out["skew_x"] = float(px @ dx**3) / m00 / var_x**1.5
        out["kurtosis_x"] = float(px @ dx**4) / m00 / var_x**2 - 3.0
    if var_y != 0:
        out["skew_y"] = float(py @ dy**3) / m00 / var_y**1.5
        out["kurtosis_y"] = float(py @ dy**4) / m00 / var_y**2 - 3.0
    mu20, mu02 = var_x * m00, var_y * m00
    if mu20 + mu02 != 0:
        out["eccentricity"] = ((mu20 - mu02) ** 2 - 4.0 * mu11**2) / (mu20 + mu02) ** 2
    return out
