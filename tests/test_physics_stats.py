"""The camera's noise is exactly the distribution it claims, and ``physics.stats`` computes what
numpy's float64 formulas give.

What *exact* means here:

* Fixed means (the background, ``physics.background``; ``physics.poisson_fixed``) are drawn by
  inverse-CDF table lookup (:mod:`ioc.sim.noise`): value ``k`` has probability ``m_k / 2**64`` with
  integer ``m_k``. ``test_tables_hold_the_poisson_probabilities`` proves, for every value of
  every table (means 0.3 to 1e6), that ``m_k / 2**64`` is the Poisson pmf (computed in
  50-digit decimal arithmetic) within ``2**-64`` plus 1e-13 relative (4e-14 at a mean of 1e6,
  4e-15 at 1000), that the values left out each have a probability below ``2**-65`` and
  together below ``2**-57``, and that every table cell returns the value the CDF gives for
  every 64-bit uniform in its bucket. The draws are then exact to that precision if the
  generator's bits are uniform.
* The spot (``physics.frame``): numpy's ``Generator.poisson`` per pixel in the core, and Poisson
  splitting with float64 cumulative sums for the faint rest (probabilities exact to float64
  rounding).

The statistical tests then check that the code draws what it should: over many seeded frames,
per pixel, the means (chi-square of the standardised sums), the variances (mean of s**2 /
lambda and of the third cumulant k3 / lambda, against their exact standard errors) and the
shape of the distribution (a chi-square of the randomised probability integral transform,
uniform on [0, 1) exactly when every observation follows its pixel's Poisson law), in classes
of pixels: the spot's faint edge (means < 0.5, drawn by splitting), low (< 10), medium
(10-1000) and high (>= 1000) means, the background. Each test has significance ALPHA;
``test_the_checks_reject_a_wrong_sampler`` shows they fail a Gaussian approximation, a mean 1 %
off and an over-dispersed sampler. The patterns of ``cam1:SimMode`` with noise (a uniform
background, uniform peak heights) are checked against their uniform laws.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest

from ioc.sim import noise, physics
from ioc.sim.patterns import SimParams, SimPatterns

ALPHA = 1e-4  # significance of each statistical test
PIT_BINS = 20
PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494")


# -- reference probabilities, independent of ioc.sim.noise -------------------------------------

_lgamma_cache = np.zeros(0)


def lgamma1(k: np.ndarray) -> np.ndarray:
    """log(k!) for integer arrays ``k`` (math.lgamma, tabulated)."""
    global _lgamma_cache
    top = int(np.max(k)) + 1 if np.size(k) else 0
    if top > _lgamma_cache.size:
        _lgamma_cache = np.array([math.lgamma(v + 1.0) for v in range(max(top, 2 * _lgamma_cache.size))])
    return _lgamma_cache[k]


def poisson_pmf(lam: np.ndarray | float, k: np.ndarray) -> np.ndarray:
    """Poisson(``lam``) probabilities of the integers ``k`` (broadcasting), from log-gamma."""
    lam = np.asarray(lam, dtype=np.float64)
    k = np.asarray(k)
    with np.errstate(divide="ignore"):
        logp = k * np.log(lam) - lam - lgamma1(k)
    return np.where(lam > 0, np.exp(logp), (k == 0).astype(np.float64))


def decimal_pmf(lam: float, lo: int, hi: int) -> list[Decimal]:
    """Poisson(``lam``) probabilities of lo..hi in 50-digit decimal arithmetic (Stirling's
    series for log(m!) at the mode, ratios lam / k from there)."""
    with localcontext() as ctx:
        ctx.prec = 50
        lam_d = Decimal(lam)  # the float's exact value
        m = min(max(math.floor(lam), lo), hi)
        if m < 200:
            log_fact = sum((Decimal(j).ln() for j in range(2, m + 1)), Decimal(0))
        else:
            md = Decimal(m)
            log_fact = ((md + Decimal("0.5")) * md.ln() - md + (2 * PI).ln() / 2
                        + 1 / (12 * md) - 1 / (360 * md**3) + 1 / (1260 * md**5) - 1 / (1680 * md**7))
        p = {m: (m * lam_d.ln() - lam_d - log_fact).exp()}
        for k in range(m + 1, hi + 1):
            p[k] = p[k - 1] * lam_d / k
        for k in range(m - 1, lo - 1, -1):
            p[k] = p[k + 1] * (k + 1) / lam_d
        return [+p[k] for k in range(lo, hi + 1)]


# -- tests of significance -----------------------------------------------------------------


def chi2_sf(x: float, dof: int) -> float:
    """P(chi-square with ``dof`` degrees of freedom > ``x``), Wilson-Hilferty approximation."""
    z = ((x / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


def two_sided(z: float) -> float:
    """The two-sided p-value of a standard normal ``z``."""
    return math.erfc(abs(z) / math.sqrt(2))


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


def pit_uniforms(rng: np.random.Generator, obs: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Randomised probability integral transform: ``F(x - 1) + V * p(x)`` for each observation
    ``obs[i, j]`` of a Poisson(``lam[j]``) pixel, V uniform; uniform on [0, 1) exactly when every
    observation follows its pixel's law."""
    out = np.empty(obs.shape)
    order = np.argsort(lam)  # pixels of similar means together: narrow windows
    sd = np.sqrt(lam)
    start = 0
    while start < lam.size:
        width = int(np.ceil(24 * sd[order[min(lam.size - 1, start + 63)]] + 80))
        cols = order[start : start + max(64, 2_000_000 // width)]
        start += cols.size
        width = int(np.ceil(24 * sd[cols].max() + 80))
        base = np.maximum(0, np.floor(lam[cols] - 12 * sd[cols] - 20)).astype(np.int64)
        cdf = np.cumsum(poisson_pmf(lam[cols, None], base[:, None] + np.arange(width)), axis=1)  # mass below base < 1e-30
        j = obs[:, cols].astype(np.int64) - base[None, :]
        at = np.arange(cols.size)[None, :]
        hi = np.where(j >= width, 1.0, np.where(j < 0, 0.0, cdf[at, np.clip(j, 0, width - 1)]))
        lo = np.where(j > width, 1.0, np.where(j <= 0, 0.0, cdf[at, np.clip(j - 1, 0, width - 1)]))
        out[:, cols] = lo + rng.random(j.shape) * (hi - lo)
    return out


def poisson_two_sided(x: float, mu: float) -> float:
    """The two-sided p-value of a Poisson(``mu``) count ``x`` (exact below mu = 1000)."""
    if mu > 1000:
        return two_sided((x - mu) / math.sqrt(mu))
    cdf = np.cumsum(poisson_pmf(mu, np.arange(int(max(x, mu) * 2 + 60))))
    x = int(round(x))
    return min(1.0, 2 * min(cdf[x], 1 - (cdf[x - 1] if x > 0 else 0.0)))


class PixelChecks:
    """Frames of independent Poisson pixels with means ``lam``: per-pixel power sums over the
    frames, and the observations of a sample of each class's pixels.

    ``classes`` names boolean masks of ``lam``'s shape; the pixels in none of them are checked
    by their total only, as class ``rest``. :meth:`pvalues` gives, per class, the
    p-values of the means (chi-square of the standardised sums; the total of the faint ones),
    the variances and the third cumulants (Fisher's k-statistics k2, k3, whose mean over the
    pixels, divided by lambda, is 1 with a standard error from their exact variances under
    Poisson, all of whose cumulants are lambda) and the shape (randomised PIT).
    """

    def __init__(self, lam: np.ndarray, classes: dict[str, np.ndarray], seed: int, sample: int = 1500,
                 rest: str = "rest"):
        self.classes = {name: np.flatnonzero(mask) for name, mask in classes.items()}
        self.watched = np.flatnonzero(np.logical_or.reduce(list(classes.values())))  # pixels summed
        self.rest, self.rest_lam, self.rest_sum = rest, float(lam.sum()) - float(lam.reshape(-1)[self.watched].sum()), 0
        self.lam = lam.reshape(-1)[self.watched].astype(np.float64)
        self.centre = np.rint(self.lam).astype(np.int64)  # sums of x - centre stay small and exact
        self.rng = np.random.default_rng(seed)
        self.n = 0
        self.power_sums = [np.zeros(self.watched.size, np.int64) for _ in range(3)]
        self.sampled = {}
        for name, pixels in self.classes.items():  # at most ~2e6 cells of reference CDFs per class
            self.classes[name] = where = np.searchsorted(self.watched, pixels)  # positions among the watched
            width = 24 * math.sqrt(float(self.lam[where].max())) + 80
            self.sampled[name] = self.rng.choice(where, min(sample, where.size, max(100, int(2e6 / width))),
                                                 replace=False)
        self.obs: dict[str, list[np.ndarray]] = {name: [] for name in classes}

    def add(self, frame: np.ndarray) -> None:
        y = frame.reshape(-1)[self.watched].astype(np.int64)
        self.rest_sum += int(frame.sum(dtype=np.int64)) - int(y.sum())
        for name, idx in self.sampled.items():
            self.obs[name].append(y[idx])
        y -= self.centre
        power = y.copy()
        for acc in self.power_sums:
            acc += power
            power *= y
        self.n += 1

    def pvalues(self) -> dict[str, float]:
        n, out = self.n, {}
        if self.rest_lam > 0:  # the total of the pixels in no class: Poisson(n * sum(lambda))
            out[f"{self.rest}: total"] = poisson_two_sided(self.rest_sum, n * self.rest_lam)
        for name, mask in self.classes.items():
            lam = self.lam[mask]
            s1, s2, s3 = (acc[mask].astype(np.float64) for acc in self.power_sums)
            dev = s1 + n * self.centre[mask] - n * lam  # sum of the frames minus n lambda
            big = n * lam >= 20  # pixel sums near normal: chi-square of the standardised sums
            if big.any():
                z2 = (dev[big] ** 2 / (n * lam[big])).sum()
                out[f"{name}: mean (chi-square over {big.sum()} pixels)"] = chi2_sf(float(z2), int(big.sum()))
            if (~big).any():  # the rest: their total is Poisson(n * sum(lambda))
                total = n * lam[~big].sum()
                out[f"{name}: mean (total of {(~big).sum()} faint pixels)"] = poisson_two_sided(
                    dev[~big].sum() + total, total)
            some = lam >= 0.05
            if some.any():
                lam_s, s1, s2, s3 = lam[some], s1[some], s2[some], s3[some]
                k2 = (s2 - s1**2 / n) / (n - 1)
                k3 = (n * n * s3 - 3 * n * s2 * s1 + 2 * s1**3) / (n * (n - 1) * (n - 2))
                var2 = 1 / (n * lam_s) + 2 / (n - 1)
                var3 = 1 / (n * lam_s) + 18 / (n - 1) + 6 * n * lam_s / ((n - 1) * (n - 2))
                for what, k, var in (("variance", k2, var2), ("third cumulant", k3, var3)):
                    z = ((k / lam_s).mean() - 1) / (math.sqrt(float(var.sum())) / lam_s.size)
                    out[f"{name}: {what}"] = two_sided(z)
            idx = self.sampled[name]
            u = pit_uniforms(self.rng, np.stack(self.obs[name]), self.lam[idx])
            hist = np.bincount(np.minimum((u * PIT_BINS).astype(np.int64), PIT_BINS - 1).ravel(), minlength=PIT_BINS)
            out[f"{name}: shape (PIT of {u.size} values)"] = chi2_binned(hist, np.full(PIT_BINS, u.size / PIT_BINS))
        return out


def assert_all_pass(pvalues: dict[str, float]) -> None:
    failed = {k: v for k, v in pvalues.items() if not v > ALPHA}
    assert not failed, f"rejected at {ALPHA}: {failed}"


def spot_classes(lam: np.ndarray) -> dict[str, np.ndarray]:
    """The spot's pixels: its faint edge (outside the rectangle of rows and columns that hold a
    mean >= SPARSE_MEAN, drawn by Poisson splitting), and inside that rectangle low (< 10),
    medium (10-1000) and high (>= 1000) means; the far edge (mean < 1e-3) is left to
    PixelChecks' rest."""
    core = np.outer(lam.max(axis=1) >= physics.SPARSE_MEAN, lam.max(axis=0) >= physics.SPARSE_MEAN)
    masks = {"edge": ~core & (lam >= 1e-3), "low": core & (lam < 10), "medium": core & (lam >= 10) & (lam < 1000),
             "high": core & (lam >= 1000)}
    return {name: m for name, m in masks.items() if m.any()}


# -- the fixed-mean tables -----------------------------------------------------------------


@pytest.mark.parametrize("lam", [0.0, 0.3, 7.5, 1000.0, 2.5e4, 1e6])
def test_tables_hold_the_poisson_probabilities(lam):
    table = noise.poisson_table(lam)
    m = table.weights()
    assert sum(m) == 2**64 and min(m) >= 1
    k0, k1 = table.offset, table.offset + len(m) - 1
    if lam == 0:
        assert (k0, k1) == (0, 0) and not table.lut.any()
        return
    # Every value's probability against the exact pmf: within 2**-64 plus 1e-13 relative.
    exact = decimal_pmf(lam, k0, k1)
    worst = max(abs(Decimal(mk) / 2**64 - p) / (Decimal(2) ** -64 + p * Decimal("1e-13")) for mk, p in zip(m, exact, strict=True))
    assert worst <= 1, worst
    # The values never drawn: each below 2**-65, and all of them together below 2**-57.
    left_out = 1 - sum(exact, Decimal(0))
    assert 0 <= left_out < Decimal(2) ** -57
    below = decimal_pmf(lam, max(0, k0 - 1), k0)[0] if k0 > 0 else Decimal(0)
    above = decimal_pmf(lam, k1 + 1, k1 + 1)[0]
    assert below < Decimal(2) ** -65 and above < Decimal(2) ** -65
    # Every cell not marked STEP returns, for all 2**48 uniforms of its bucket, the value
    # k with C[k - 1] <= U < C[k] (C[-1] = 0, C[last] = 2**64).
    cells = np.flatnonzero(table.lut != noise.STEP)
    k = table.lut[cells].astype(np.int64) - table.offset
    start = cells.astype(np.uint64) << np.uint64(48)
    end = start | np.uint64(2**48 - 1)
    below_k = np.where(k > 0, table.cdf[np.clip(k - 1, 0, max(table.cdf.size - 1, 0))], 0)
    assert np.all(below_k <= start)
    has_next = k < table.cdf.size
    assert np.all(end[has_next] < table.cdf[k[has_next]])
    # ...and a STEP cell's bucket does hold a step of the CDF (the fast path is not missed).
    steps = np.flatnonzero(table.lut == noise.STEP).astype(np.uint64) << np.uint64(48)
    assert np.all(np.searchsorted(table.cdf, steps, side="right")
                  != np.searchsorted(table.cdf, steps | np.uint64(2**48 - 1), side="right"))
    if lam == 1000.0:
        assert (table.lut == noise.STEP).mean() < 0.005  # 0.4 % of draws take the slow path


@pytest.mark.parametrize("lam", [0.5, 12.0, 250.0, 1000.0, 2.5e4])
def test_poisson_fixed_draws_its_table(lam):
    """Low, medium and high means (2.5e4: 25 exposures' background, many draws on the slow path)."""
    n = 600_000
    ours = physics.poisson_fixed(np.random.default_rng(3), lam, (600, 1000)).ravel()
    assert ours.dtype == np.uint32
    assert abs(ours.mean() - lam) < 5 * math.sqrt(lam / n)
    assert abs(ours.var(ddof=1) - lam) < 5 * math.sqrt((2 * lam**2 + lam) / n)
    k = np.arange(0, int(lam + 12 * math.sqrt(lam) + 30))
    observed = np.bincount(ours, minlength=k.size)[: k.size]
    assert observed.sum() == n
    assert chi2_binned(observed, n * poisson_pmf(lam, k)) > ALPHA


def test_background_is_poisson_1000_pixel_by_pixel():
    """Per pixel over 60 frames, and the shape of all 18 million draws."""
    shape = (480, 640)
    lam = np.full(shape, physics.BACKGROUND)
    checks = PixelChecks(lam, {"background": np.ones(shape, bool)}, seed=11, sample=20_000)
    rng = np.random.default_rng(12)
    hist = np.zeros(2001, np.int64)
    for _ in range(60):
        frame = physics.background(rng, shape)
        checks.add(frame)
        hist += np.bincount(frame.ravel(), minlength=hist.size)[: hist.size]
    pvalues = checks.pvalues()
    pvalues["histogram of all draws"] = chi2_binned(hist, hist.sum() * poisson_pmf(physics.BACKGROUND, np.arange(hist.size)))
    assert_all_pass(pvalues)
    many = physics.background(np.random.default_rng(13), (25, 2000), exposures=25)  # a 25-exposure frame
    assert abs(many.mean() - 25_000) < 5 * math.sqrt(25_000 / many.size)


# -- the spot --------------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "y", "exposure", "frames"), [(0, 0, 0.005, 250), (30, -20, 0.1, 100), (5, 5, 2.0, 50)])
def test_spot_is_independent_poisson_per_pixel(x, y, exposure, frames):
    """The spot alone (a zero background): every class of pixel, the faint edge included."""
    lam = physics.expected_counts(x, y, exposure, 500.0)
    checks = PixelChecks(lam, spot_classes(lam), seed=21, rest="far (< 1e-3)")
    rng = np.random.default_rng(22)
    for _ in range(frames):
        checks.add(physics.frame(rng, x, y, exposure, 500.0, bg=np.zeros(lam.shape, np.uint32)))
    pvalues = checks.pvalues()
    assert any(key.startswith("edge") for key in pvalues) and any(key.startswith("medium") for key in pvalues)
    assert_all_pass(pvalues)


def test_frames_with_background_are_poisson_per_pixel():
    """Background and spot together, as the camera makes them, at 960 x 1280 (the spot's
    core drawn in two row blocks, from two streams)."""
    shape = (960, 1280)
    lam = physics.BACKGROUND + physics.expected_counts(10, 0, 0.005, 500.0, shape)
    spot = lam - physics.BACKGROUND
    some = np.random.default_rng(30).random(shape) < 0.1  # a tenth of the background, pixel by pixel
    classes = {"background": (spot < 1e-3) & some, "spot on background": spot >= 1e-3}
    checks = PixelChecks(lam, classes, seed=31, sample=3000, rest="the other background pixels")
    rng = np.random.default_rng(32)
    for _ in range(20):
        checks.add(physics.frame(rng, 10, 0, 0.005, 500.0, shape))
    assert_all_pass(checks.pvalues())


WRONG_SAMPLERS = {
    "Gaussian approximation": lambda rng, lam: np.maximum(np.rint(rng.normal(lam, np.sqrt(lam))), 0),
    "mean 1 % high": lambda rng, lam: rng.poisson(1.01 * lam),
    "over-dispersed 2 %": lambda rng, lam: rng.poisson(rng.gamma(2500.0, lam / 2500.0)),  # var = lam + lam^2 / 2500
}


def sampler_pvalues(sampler, frames: int = 100) -> dict[str, float]:
    """The per-pixel checks of ``sampler(rng, lam)`` over means in every class."""
    lam = np.concatenate([np.geomspace(1e-3, 0.5, 4000), np.geomspace(0.5, 10, 4000),
                          np.geomspace(10, 1000, 4000), np.geomspace(1000, 3000, 4000)]).reshape(80, 200)
    checks = PixelChecks(lam, spot_classes(lam), seed=41, rest="far (< 1e-3)")
    rng = np.random.default_rng(42)
    for _ in range(frames):
        checks.add(sampler(rng, lam).astype(np.uint32))
    return checks.pvalues()


def test_the_checks_pass_numpy_poisson():
    assert_all_pass(sampler_pvalues(lambda rng, lam: rng.poisson(lam)))


@pytest.mark.parametrize("wrong", list(WRONG_SAMPLERS))
def test_the_checks_reject_a_wrong_sampler(wrong):
    """The per-pixel checks above, fed a sampler that is not Poisson, reject it (numpy's
    Poisson passes the same checks, above)."""
    pvalues = sampler_pvalues(WRONG_SAMPLERS[wrong])
    assert min(pvalues.values()) < ALPHA / 1000, pvalues


def test_frame_is_reproducible_and_handles_a_spot_off_the_sensor():
    a = physics.frame(np.random.default_rng(5), 0, 0, 0.05, 500)
    b = physics.frame(np.random.default_rng(5), 0, 0, 0.05, 500)
    assert np.array_equal(a, b) and a.dtype == np.uint32 and a.shape == physics.SENSOR_SHAPE
    c = physics.frame(np.random.default_rng(6), 0, 0, 0.05, 500)
    assert not np.array_equal(a, c)
    far = physics.frame(np.random.default_rng(6), 900, -700, 5.0, 500, shape=(32, 48))
    assert far.shape == (32, 48)
    assert physics.frame(np.random.default_rng(7), 0, 0, 0.0, 500, shape=(8, 8)).shape == (8, 8)


def test_frames_do_not_depend_on_the_threads(monkeypatch):
    """The row blocks draw from their own streams: one thread or two, the same frame."""
    frames = []
    for threads in (1, 2):
        monkeypatch.setattr(noise, "THREADS", threads)
        assert (noise._helper() is None) == (threads == 1)
        frames.append(physics.frame(np.random.default_rng(8), 3, -4, 0.1, 500, shape=(960, 1280)))
    assert np.array_equal(*frames)


def test_a_bad_thread_count_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("BEAMLINE_NOISE_THREADS", "4")
    with pytest.raises(ValueError, match="BEAMLINE_NOISE_THREADS must be 1 or 2"):
        noise._threads()


# -- cam1:SimMode patterns with noise --------------------------------------------------------


@pytest.mark.parametrize("mode", ["Offset&Noise", "LinearRamp", "Sine", "Peaks"])
def test_pattern_noise_is_uniform(mode):
    """Any mode with Noise set adds simDetector's background, Offset + Noise * uniform(0, 1),
    truncated: 100 .. 149 equally likely, every pixel independent."""
    shape = (240, 320)
    params = SimParams(mode=mode, offset=100.0, noise=50.0, gain=0.0)  # gain 0: the pattern adds nothing
    frame = SimPatterns().frame(params, np.random.default_rng(51), shape, np.uint16)
    counts = np.bincount(frame.ravel().astype(np.int64) - 100, minlength=50)
    assert counts.size == 50 and counts.sum() == frame.size
    assert chi2_binned(counts, np.full(50, frame.size / 50)) > ALPHA
    # Neighbours independent: the pairs (left, right) fill the 50 x 50 grid evenly.
    pairs = np.bincount(((frame[:, :-1].astype(np.int64) - 100) * 50 + frame[:, 1:] - 100).ravel(), minlength=2500)
    assert chi2_binned(pairs, np.full(2500, pairs.sum() / 2500)) > ALPHA


def test_pattern_background_rolls_by_a_uniform_offset():
    """Each frame starts the stored background at a uniformly random pixel (simDetector)."""
    shape = (16, 25)
    p = SimPatterns()
    params = SimParams(mode="Offset&Noise", offset=0.0, noise=1.0)
    rng = np.random.default_rng(52)
    first = p.frame(params, rng, shape, np.float64).ravel()  # distinct values: the roll is visible
    starts = []
    for _ in range(4000):
        f = p.frame(params, rng, shape, np.float64).ravel()
        starts.append(int(np.flatnonzero(first == f[0])[0]))
    counts = np.bincount(np.array(starts) * 20 // first.size, minlength=20)
    assert chi2_binned(counts, np.full(20, len(starts) / 20)) > ALPHA


def test_peak_heights_vary_uniformly():
    """PeakVariation 20 %: each frame's peak height is Gain * (1 + 0.2 * (uniform - 0.5))."""
    p = SimPatterns()
    params = SimParams(mode="Peaks", gain=10_000.0, peak_start_x=30, peak_start_y=24, peak_variation=20.0)
    rng = np.random.default_rng(53)
    heights = np.array([p.frame(params, rng, (48, 64), np.float64)[24, 30] for _ in range(3000)])
    u = (heights / 10_000.0 - 0.9) / 0.2
    assert u.min() >= 0 and u.max() < 1
    counts = np.bincount((u * 20).astype(np.int64), minlength=20)
    assert chi2_binned(counts, np.full(20, u.size / 20)) > ALPHA


# -- NDPluginStats' numbers ------------------------------------------------------------------


def reference_stats(img: np.ndarray, threshold: float) -> dict[str, float]:
    """NDPluginStats' numbers the plain way: a float64 copy and numpy's own mean, std and sums;
    the centroid's from raw moments over every pixel, with NDPluginStats.cpp's formulas."""
    f = img.astype(np.float64)
    imax, imin = int(np.argmax(img)), int(np.argmin(img))
    out = {"total": f.sum(), "min": f.flat[imin], "max": f.flat[imax], "min_x": imin % img.shape[1],
           "min_y": imin // img.shape[1], "max_x": imax % img.shape[1], "max_y": imax // img.shape[1],
           "mean": f.mean(), "sigma": f.std()}
    keys = ("centroid_total", "centroid_x", "centroid_y", "sigma_x", "sigma_y", "sigma_xy", "skew_x", "skew_y",
            "kurtosis_x", "kurtosis_y", "eccentricity", "orientation")
    out.update(dict.fromkeys(keys, 0.0))
    w = np.where(f >= threshold, f, 0.0)
    y, x = np.mgrid[:img.shape[0], :img.shape[1]].astype(np.float64)
    m = {(p, q): float((w * x**p * y**q).sum()) for p in range(5) for q in range(5) if p + q <= 4}
    m00 = m[0, 0]
    if m00 > 0:  # doComputeCentroidT, term by term
        mu20 = m[2, 0] - m[1, 0] ** 2 / m00
        mu02 = m[0, 2] - m[0, 1] ** 2 / m00
        mu11 = m[1, 1] - m[1, 0] * m[0, 1] / m00
        mu30 = m[3, 0] - 3 * m[1, 0] * m[2, 0] / m00 + 2 * m[1, 0] ** 3 / m00**2
        mu03 = m[0, 3] - 3 * m[0, 1] * m[0, 2] / m00 + 2 * m[0, 1] ** 3 / m00**2
        mu40 = m[4, 0] - 4 * m[3, 0] * m[1, 0] / m00 + 6 * m[2, 0] * m[1, 0] ** 2 / m00**2 - 3 * m[1, 0] ** 4 / m00**3
        mu04 = m[0, 4] - 4 * m[0, 3] * m[0, 1] / m00 + 6 * m[0, 2] * m[0, 1] ** 2 / m00**2 - 3 * m[0, 1] ** 4 / m00**3
        var_x, var_y, var_xy = mu20 / m00, mu02 / m00, mu11 / m00
        sx, sy = math.sqrt(max(var_x, 0.0)), math.sqrt(max(var_y, 0.0))
        out.update(centroid_total=m00, centroid_x=m[1, 0] / m00, centroid_y=m[0, 1] / m00, sigma_x=sx, sigma_y=sy,
                   orientation=0.5 * math.atan2(2 * var_xy, var_x - var_y) * 180 / math.pi)
        if sx and sy:
            out["sigma_xy"] = var_xy / (sx * sy)
        if var_x:
            out.update(skew_x=mu30 / (m00 * var_x**1.5), kurtosis_x=mu40 / (m00 * var_x**2) - 3)
        if var_y:
            out.update(skew_y=mu03 / (m00 * var_y**1.5), kurtosis_y=mu04 / (m00 * var_y**2) - 3)
        if mu20 + mu02:
            out["eccentricity"] = ((mu20 - mu02) ** 2 - 4 * mu11**2) / (mu20 + mu02) ** 2
    return out


PLAIN = {"total", "min", "max", "min_x", "min_y", "max_x", "max_y", "mean", "sigma", "centroid_x", "centroid_y",
         "centroid_total"}


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
                # The raw-moment formulas lose digits to cancellation; the higher moments less exactly.
                rel, tol = (1e-9, 1e-9) if key in PLAIN else (1e-6, 1e-6)
                assert ours[key] == pytest.approx(value, rel=rel, abs=tol), (img.dtype, threshold, key)
