"""The fast samplers of ``ioc.physics`` draw exactly the Poisson distributions they replace,
and its copy-free ``stats`` computes what numpy's float64 formulas give.

``physics.background`` draws Poisson(1000) by Walker's alias method and ``physics.frame``
draws the faint parts of the spot by Poisson splitting (see the comment above
``physics.poisson_fixed``). These tests compare them with the exact probabilities and with
numpy's own ``Generator.poisson``: the alias table's probabilities equal the Poisson pmf to
rounding, and the samples pass mean, variance, chi-square and two-sample Kolmogorov-Smirnov
tests at a significance of 1e-4 each (fixed seeds, so the outcome is reproducible).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ioc import physics

ALPHA = 1e-4  # significance of each statistical test


def chi2_sf(x: float, dof: int) -> float:
    """P(chi-square with ``dof`` degrees of freedom > ``x``), Wilson-Hilferty approximation."""
    z = ((x / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


def chi2_binned(observed: np.ndarray, expected: np.ndarray, min_expected: float = 20.0) -> float:
    """The p-value of ``observed`` counts against ``expected`` ones, pooling sparse bins."""
    obs, exp = [], []
    acc_o = acc_e = 0.0
    for o, e in zip(observed, expected, strict=True):
        acc_o, acc_e = acc_o + o, acc_e + e
        if acc_e >= min_expected:
            obs.append(acc_o)
            exp.append(acc_e)
            acc_o = acc_e = 0.0
    obs[-1] += acc_o
    exp[-1] += acc_e
    obs, exp = np.array(obs), np.array(exp)
    return chi2_sf(float(((obs - exp) ** 2 / exp).sum()), len(obs) - 1)


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The two-sample KS statistic of integer samples and its critical value at ALPHA."""
    values = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), values, side="right") / a.size
    fb = np.searchsorted(np.sort(b), values, side="right") / b.size
    critical = math.sqrt(-math.log(ALPHA / 2) / 2) * math.sqrt((a.size + b.size) / (a.size * b.size))
    return float(np.abs(fa - fb).max()), critical


@pytest.mark.parametrize("lam", [0.0, 0.3, 7.5, 1000.0, 2.5e4])
def test_alias_table_holds_the_poisson_probabilities(lam):
    table = physics.poisson_alias_table(lam)
    k = np.arange(table.offset, table.offset + (1 << table.bits))
    pmf = physics.poisson_pmf(lam, k)
    # The table spans all but a negligible tail of the distribution (log-gamma leaves the
    # pmf itself good to ~1e-12 relative)...
    assert pmf.sum() == pytest.approx(1.0, abs=1e-11)
    assert pmf[-1] < 1e-100 and (table.offset == 0 or pmf[0] < 1e-100)
    # ...and draws each value with its Poisson probability, up to float rounding.
    assert np.abs(table.probabilities() - pmf / pmf.sum()).max() < 1e-15
    assert table.probabilities().sum() == pytest.approx(1.0, abs=1e-12)


def test_background_is_poisson_1000_as_numpy_draws_it():
    n = 1_000_000
    ours = physics.background(np.random.default_rng(11), (1000, 1000)).ravel()
    numpy_draws = np.random.default_rng(12).poisson(physics.BACKGROUND, n)
    assert ours.dtype == np.uint32
    lam = physics.BACKGROUND
    # Mean and variance: within 5 standard errors (SE of the variance of a Poisson ~ sqrt(2 lam^2 / n)).
    assert abs(ours.mean() - lam) < 5 * math.sqrt(lam / n)
    assert abs(ours.var(ddof=1) - lam) < 5 * math.sqrt((2 * lam**2 + lam) / n)
    # The histogram against the exact pmf.
    k = np.arange(0, 2001)
    observed = np.bincount(ours, minlength=k.size)[: k.size]
    assert chi2_binned(observed, n * physics.poisson_pmf(lam, k)) > ALPHA
    # And against numpy's sampler.
    stat, critical = ks_two_sample(ours.astype(np.int64), numpy_draws)
    assert stat < critical


@pytest.mark.parametrize("lam", [0.5, 12.0, 250.0])
def test_poisson_fixed_other_means(lam):
    n = 400_000
    ours = physics.poisson_fixed(np.random.default_rng(3), lam, (n,))
    k = np.arange(0, int(lam + 20 * math.sqrt(lam) + 30))
    observed = np.bincount(ours, minlength=k.size)[: k.size]
    assert observed.sum() == n
    assert chi2_binned(observed, n * physics.poisson_pmf(lam, k)) > ALPHA
    stat, critical = ks_two_sample(ours.astype(np.int64), np.random.default_rng(4).poisson(lam, n))
    assert stat < critical


@pytest.mark.parametrize(("x", "y", "exposure"), [(0, 0, 0.005), (30, -20, 0.1), (5, 5, 2.0)])
def test_frame_signal_is_independent_poisson_per_pixel(x, y, exposure):
    """The spot alone (a zero background), summed over frames: Poisson(n_frames x lambda) per pixel."""
    rng = np.random.default_rng(21)
    lam = physics.expected_counts(x, y, exposure, 500.0)
    n = 150
    total = np.zeros(lam.shape)
    squares = np.zeros(lam.shape)
    faint = (lam < physics.SPARSE_MEAN) & (lam > 1e-3)  # drawn by splitting
    hist = np.zeros(3)
    for _ in range(n):
        f = physics.frame(rng, x, y, exposure, 500.0, bg=np.zeros(lam.shape, np.uint32)).astype(np.float64)
        total += f
        squares += f * f
        values = f[faint]
        hist += [(values == 0).sum(), (values == 1).sum(), (values >= 2).sum()]
    expected = n * lam
    # Each pixel's sum over the frames is Poisson(n lambda): a chi-square over the pixels
    # where that is large enough for the normal limit, and the total count elsewhere.
    big = expected > 50
    stat = float((((total - expected) ** 2) / expected)[big].sum())
    assert chi2_sf(stat, int(big.sum())) > ALPHA
    rest = expected[~big].sum()
    assert abs(total[~big].sum() - rest) < 5 * math.sqrt(rest) + 1
    # Each of the three blocks drawn by splitting gets its share (counts by row and column band).
    for rows, cols in (("core", "out"), ("out", "core"), ("out", "out")):
        r = np.flatnonzero((lam.max(axis=1) >= physics.SPARSE_MEAN) == (rows == "core"))
        c = np.flatnonzero((lam.max(axis=0) >= physics.SPARSE_MEAN) == (cols == "core"))
        block_expected = expected[np.ix_(r, c)].sum()
        assert abs(total[np.ix_(r, c)].sum() - block_expected) < 5 * math.sqrt(block_expected) + 1
    # Variance = mean, pixel by pixel, where the mean is not tiny.
    var = (squares - total**2 / n) / (n - 1)
    some = lam > 1
    assert np.mean(var[some] / lam[some]) == pytest.approx(1, abs=0.03)
    # In the faint pixels, the numbers of 0, 1 and 2+ counts.
    p0 = np.exp(-lam[faint])
    p1 = lam[faint] * p0
    expected_bins = n * np.array([p0.sum(), p1.sum(), (1 - p0 - p1).sum()])
    assert faint.sum() > 1000
    assert chi2_binned(hist, expected_bins) > ALPHA
    # The faint pixels' sums over the frames: their spread is Poisson's, not more.
    z2 = ((total[faint] - expected[faint]) ** 2 / expected[faint]).mean()
    assert z2 == pytest.approx(1, abs=6 * math.sqrt(2 / faint.sum()) + 0.02)


def test_frame_matches_numpy_reference_in_distribution():
    """Per-frame totals of the spot region: ours against numpy's per-pixel ``poisson`` (KS)."""
    shape = (96, 128)
    lam = physics.BACKGROUND + physics.expected_counts(10, 0, 0.005, 500.0, shape)
    ref_rng, rng = np.random.default_rng(31), np.random.default_rng(32)
    window = (slice(20, 60), slice(20, 100))
    ours = np.array([physics.frame(rng, 10, 0, 0.005, 500.0, shape)[window].sum() for _ in range(2000)])
    ref = np.array([ref_rng.poisson(lam)[window].sum() for _ in range(2000)])
    stat, critical = ks_two_sample(ours.astype(np.int64), ref)
    assert stat < critical
    # A pixel-wise check of one region where the draws come from the splitting path.
    edge = (slice(0, 4), slice(0, 128))
    ours_edge = np.stack([physics.frame(rng, 10, 0, 0.005, 500.0, shape)[edge] for _ in range(500)])
    assert ours_edge.mean() == pytest.approx(lam[edge].mean(), rel=0.002)


def test_frame_is_reproducible_and_handles_a_spot_off_the_sensor():
    a = physics.frame(np.random.default_rng(5), 0, 0, 0.05, 500)
    b = physics.frame(np.random.default_rng(5), 0, 0, 0.05, 500)
    assert np.array_equal(a, b) and a.dtype == np.uint32 and a.shape == physics.SENSOR_SHAPE
    far = physics.frame(np.random.default_rng(6), 900, -700, 5.0, 500, shape=(32, 48))
    assert far.shape == (32, 48)
    assert physics.frame(np.random.default_rng(7), 0, 0, 0.0, 500, shape=(8, 8)).shape == (8, 8)


def reference_stats(img: np.ndarray, threshold: float) -> dict[str, float]:
    """NDPluginStats' numbers the plain way: a float64 copy and numpy's own mean, std and sums."""
    f = img.astype(np.float64)
    imax, imin = int(np.argmax(img)), int(np.argmin(img))
    out = {"total": f.sum(), "min": f.flat[imin], "max": f.flat[imax], "min_x": imin % img.shape[1],
           "min_y": imin // img.shape[1], "max_x": imax % img.shape[1], "max_y": imax // img.shape[1],
           "mean": f.mean(), "sigma": f.std()}
    w = np.where(f >= threshold, f, 0.0)
    if w.sum() > 0:
        px, py = w.sum(axis=0) / w.sum(), w.sum(axis=1) / w.sum()
        xs, ys = np.arange(img.shape[1]), np.arange(img.shape[0])
        cx, cy = px @ xs, py @ ys
        out.update(centroid_x=cx, centroid_y=cy, sigma_x=math.sqrt(max(px @ (xs - cx) ** 2, 0.0)),
                   sigma_y=math.sqrt(max(py @ (ys - cy) ** 2, 0.0)))
    else:
        out.update(centroid_x=0.0, centroid_y=0.0, sigma_x=0.0, sigma_y=0.0)
    return out


def test_stats_match_the_float64_formulas():
    rng = np.random.default_rng(8)
    frames = [
        physics.frame(rng, 0, 0, 0.1, 500), physics.frame(rng, 20, -10, 5.0, 500),
        physics.frame(rng, 0, 0, 0.1, 500)[100:200, 50:300],  # not contiguous
        rng.integers(-100, 100, (48, 64)).astype(np.int8), rng.integers(0, 255, (20, 30), dtype=np.uint8),
        rng.integers(-(2**31), 2**31 - 1, (40, 30), dtype=np.int32),
        rng.integers(0, 2**32 - 1, (48, 64), dtype=np.uint32),  # squares overflow 64 bits: float path
        rng.normal(5, 1, (48, 64)).astype(np.float32), rng.normal(1e9, 1, (50, 50)),
        np.zeros((8, 8), np.uint32), np.full((8, 8), 7, np.uint16),
    ]
    for img in frames:
        for threshold in (1200.0, 0.0, -1e300, 1e300, 7.0):
            ours, ref = physics.stats(img, threshold), reference_stats(img, threshold)
            assert set(ours) >= set(ref)
            for key, value in ref.items():
                assert ours[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (img.dtype, threshold, key)
