"""The beamline's physics: pure functions, and what the IOC's frames show of them."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest
import tifffile

from ioc.sim import physics
from ioc.sim.motion import Move
from ioc.sim.ring import ConstantRing, TopUp

from . import ca

ROWS, COLS = physics.SENSOR_SHAPE
CENTRE_ROW, CENTRE_COL = ROWS // 2, COLS // 2  # where the spot sits with both motors at 0

# -- pure functions -----------------------------------------------------------------------


def test_spot_sits_where_the_motors_put_it():
    for x, y in ((0, 0), (40, 0), (0, -30), (-25, 20)):
        img = physics.spot(x, y)
        row, col = np.unravel_index(np.argmax(img), img.shape)
        assert (row, col) == (CENTRE_ROW - y, CENTRE_COL - x)
    assert physics.spot(0, 0).max() == pytest.approx(1.0)
    assert physics.spot(60, 80).max() == pytest.approx(np.exp(-1.0))  # dims 1/e at 100 units off axis


def test_counts_scale_with_exposure_and_current():
    base = physics.expected_counts(0, 0, 0.005, 500).max()
    assert base == pytest.approx(500)  # the tutorial's faint spot
    assert physics.expected_counts(0, 0, 5, 500).max() == pytest.approx(500_000)
    assert physics.expected_counts(0, 0, 0.01, 250).max() == pytest.approx(base)


def test_frame_statistics_are_poisson():
    rng = np.random.default_rng(1)
    frames = np.stack([physics.frame(rng, 0, 0, 0.005, 500) for _ in range(40)]).astype(float)
    lam = physics.BACKGROUND + physics.expected_counts(0, 0, 0.005, 500)
    mean, var = frames.mean(axis=0), frames.var(axis=0, ddof=1)
    # Mean and variance both equal lambda, pixel by pixel (averaged over regions).
    assert np.mean(mean / lam) == pytest.approx(1, abs=0.002)
    assert np.mean(var / lam) == pytest.approx(1, abs=0.02)
    assert frames.dtype == float and physics.frame(rng, 0, 0, 1, 500).dtype == np.uint32


def test_top_up_ring_current():
    ring = TopUp()
    t = np.linspace(0, 3 * ring.period, 30001)
    current = ring.current(t)
    assert current.max() == pytest.approx(500, rel=1e-6)
    assert current.min() == pytest.approx(485, rel=1e-4)  # 3 % peak to peak
    decay = ring.current(np.array([10.0, 20.0]))
    assert decay[1] / decay[0] == pytest.approx(np.exp(-10 / ring.lifetime))
    assert ring.mean_current(10, 20) == pytest.approx(ring.current(15.0), rel=1e-5)
    assert ConstantRing().mean_current(0, 100) == 500


def test_trapezoidal_moves():
    move = Move(0, 10, 2, 0.5)
    assert move.duration == pytest.approx(5.5)  # 10 mm at 2 mm/s plus half of each 0.5 s ramp
    assert move.position(move.duration / 2) == pytest.approx(5)
    short = Move(0, 0.1, 2, 0.5)  # never reaches full speed
    assert short.duration == pytest.approx(2 * np.sqrt(0.1 / 4))
    assert Move(3, 3, 1, 1).duration == 0


def test_readout_region_and_binning():
    img = np.arange(48, dtype=np.uint32).reshape(6, 8)
    out = physics.roi_bin(img, 2, 1, 4, 4, 2, 2)
    assert out.shape == (2, 2)
    assert out[0, 0] == img[1:3, 2:4].sum()


def test_stats_find_the_spot():
    rng = np.random.default_rng(2)
    s = physics.stats(physics.frame(rng, 20, -10, 1.0, 500), centroid_threshold=1200)
    assert s["centroid_x"] == pytest.approx(300, abs=0.5)
    assert s["centroid_y"] == pytest.approx(250, abs=0.5)
    assert s["sigma_x"] > s["sigma_y"]  # the spot is 50 x 25 pixels


# -- through the IOC ----------------------------------------------------------------------


def _acquire_files(prefix: str, path: str, n: int, exposure: float) -> list[np.ndarray]:
    ca.setup_tiff(prefix, path, "f")
    ca.put(f"{prefix}dot:cam1:AcquireTime", exposure)
    for _ in range(n):
        ca.acquire(prefix)
    return [tifffile.imread(f) for f in sorted(glob.glob(os.path.join(path, "*.tiff")))]


def test_seeded_runs_are_reproducible(spawn_ioc, tmp_path):
    first = spawn_ioc("SD1:", seed=7, time_scale=100, extra_args=["--ring", "Constant"])
    a = _acquire_files("SD1:", str(first.data_root / "a"), 3, 0.005)
    first.stop()
    second = spawn_ioc("SD2:", seed=7, time_scale=100, extra_args=["--ring", "Constant"])
    b = _acquire_files("SD2:", str(second.data_root / "b"), 3, 0.005)
    ca.put("SD2:sim:Seed", 8)
    c = _acquire_files("SD2:", str(second.data_root / "c"), 1, 0.005)
    assert len(a) == len(b) == 3
    for fa, fb in zip(a, b, strict=True):
        assert np.array_equal(fa, fb)
    assert not np.array_equal(a[0], c[0])


def test_spot_follows_the_motors(ioc):
    ca.put("BL:dot:cam1:AcquireTime", 1.0)
    # ADCore starts with ComputeCentroid No and CentroidThreshold 1: a user sets both, the
    # threshold above the background (1000 counts) so that the centroid is the spot's.
    ca.put("BL:dot:Stats1:ComputeCentroid", "Yes")
    ca.put("BL:dot:Stats1:CentroidThreshold", 1200)
    try:
        for x, y in ((0, 0), (40, -20)):
            ca.put("BL:mtr:dotx", x)
            ca.put("BL:mtr:doty", y)
            ca.acquire()
            assert ca.get("BL:dot:Stats1:CentroidX_RBV") == pytest.approx(CENTRE_COL - x, abs=1)
            assert ca.get("BL:dot:Stats1:CentroidY_RBV") == pytest.approx(CENTRE_ROW - y, abs=1)
    finally:
        ca.put("BL:mtr:dotx", 0)
        ca.put("BL:mtr:doty", 0)
        ca.put("BL:dot:Stats1:ComputeCentroid", "No")
        ca.put("BL:dot:Stats1:CentroidThreshold", 1)


def test_brightness_scales_with_exposure_times_current(ioc, data_root):
    """Signal above background / (exposure x current) is constant, with the ring in top-up."""
    path = str(data_root / "brightness")
    ratios = []
    for exposure in (0.05, 0.2, 0.8):
        ca.setup_tiff("BL:", path, f"e{exposure}")
        ca.put("BL:dot:cam1:AcquireTime", exposure)
        ca.acquire()
        with tifffile.TiffFile(ca.full_file_name()) as tif:
            img = tif.asarray().astype(float)
            meta = tif.shaped_metadata[0]
        signal = img.sum() - physics.BACKGROUND * img.size
        ratios.append(signal / (meta["exposure_s"] * meta["current_mA"]))
    expected = physics.expected_counts(0, 0, 1.0, 1.0).sum()
    assert np.allclose(ratios, expected, rtol=0.02), ratios
