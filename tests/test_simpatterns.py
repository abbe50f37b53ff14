"""ADSimDetector's patterns (ioc.sim.patterns) against simDetector.cpp's formulas, pixel by pixel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ioc.sim.patterns import SimParams, SimPatterns, Sine, peak_kernel, to_type

SHAPE = (48, 64)


def test_linear_ramp_starts_at_the_gradient_and_adds_gain_per_frame():
    p = SimPatterns()
    rng = np.random.default_rng(1)
    params = SimParams(gain=2.0, gain_x=3.0, gain_y=0.5)
    first = p.frame(params, rng, SHAPE, np.uint16)
    i, j = np.indices(SHAPE)
    assert np.array_equal(first, np.trunc(2.0 * (3.0 * j + 0.5 * i)).astype(np.uint16))
    second = p.frame(params, rng, SHAPE, np.uint16)
    assert np.array_equal(second, first + 2)
    p.reset()  # the Reset PV: back to the first frame
    assert np.array_equal(p.frame(params, rng, SHAPE, np.uint16), first)


def test_ramp_wraps_like_c_integers():
    p = SimPatterns()
    rng = np.random.default_rng(1)
    frame = p.frame(SimParams(gain_x=10.0, gain_y=0.0), rng, SHAPE, np.uint8)
    assert frame[0, 30] == (300 % 256)


def test_peaks_grid_heights_and_cut():
    p = SimPatterns()
    rng = np.random.default_rng(1)
    params = SimParams(mode="Peaks", gain=1000.0, peak_start_x=10, peak_start_y=12, peak_num_x=2,
                       peak_num_y=2, peak_step_x=30, peak_step_y=20, peak_width_x=2, peak_width_y=3)
    frame = p.frame(params, rng, SHAPE, np.uint32)
    for y in (12, 32):
        for x in (10, 40):
            assert frame[y, x] == 1000
    assert frame[12, 10 + 2] == math.trunc(1000 * math.exp(-0.5))
    assert frame[12, 10 + 4 * 2 + 1] == 0  # beyond 4 widths: cut
    kernel = peak_kernel(2, 3, 1000.0, SHAPE, np.uint32)
    assert kernel.shape == (25, 17) and frame.sum() == 4 * kernel.sum()


def test_peak_variation_is_uniform_within_its_percent():
    p = SimPatterns()
    rng = np.random.default_rng(2)
    params = SimParams(mode="Peaks", gain=10000.0, peak_start_x=30, peak_start_y=24, peak_variation=20.0)
    heights = [p.frame(params, rng, SHAPE, np.float64)[24, 30] for _ in range(200)]
    assert 9000 <= min(heights) < 9200 and 10800 < max(heights) <= 11000


def test_sine_moves_from_frame_to_frame():
    p = SimPatterns()
    rng = np.random.default_rng(3)
    params = SimParams(mode="Sine", gain=100.0, x_sine2=Sine(0.0, 1.0, 0.0), y_sine1=Sine(0.0, 1.0, 0.0),
                       y_sine2=Sine(0.0, 1.0, 0.0))
    first = p.frame(params, rng, SHAPE, np.float64)
    cols = SHAPE[1]
    assert np.allclose(first[0], 100.0 * np.sin(np.arange(cols) / cols * 2 * math.pi))
    second = p.frame(params, rng, SHAPE, np.float64)
    assert np.allclose(second[0], 100.0 * np.sin((cols + np.arange(cols)) / cols * 2 * math.pi))


def test_sine_multiply():
    p = SimPatterns()
    rng = np.random.default_rng(3)
    params = SimParams(mode="Sine", x_sine_operation="Multiply", y_sine1=Sine(0.0), y_sine2=Sine(0.0))
    frame = p.frame(params, rng, SHAPE, np.float64)
    t = np.arange(SHAPE[1]) / SHAPE[1]
    expected = np.sin(t * 2 * math.pi) * np.sin((t * 2 + 0.25) * 2 * math.pi)
    assert np.allclose(frame[5], expected)


@pytest.mark.parametrize("noise", [0.0, 50.0])
def test_offset_and_noise(noise):
    p = SimPatterns()
    rng = np.random.default_rng(4)
    params = SimParams(mode="Offset&Noise", offset=100.0, noise=noise)
    a = p.frame(params, rng, SHAPE, np.uint16)
    b = p.frame(params, rng, SHAPE, np.uint16)
    assert a.min() >= 100 and a.max() <= 100 + noise
    # The same background, rolled: the same multiset of values.
    assert np.array_equal(np.sort(a.ravel()), np.sort(b.ravel()))
    if noise:
        assert abs(a.mean() - (100 + noise / 2 - 0.5)) < 1.0


def test_to_type_truncates_toward_zero_and_wraps():
    assert to_type(np.array([-1.7, 2.9]), np.uint8).tolist() == [255, 2]
    assert to_type(np.array([-1.7, 2.9]), np.int16).tolist() == [-1, 2]
    assert to_type(np.array([70000.0]), np.uint16).tolist() == [70000 - 65536]


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64])
def test_to_type_casts_as_c_whatever_the_range(dtype):
    """The one-cast paths give what truncation and wrapping modulo 2**bits give."""
    bits = np.dtype(dtype).itemsize * 8
    rng = np.random.default_rng(9)
    for scale in (100.0, 2.0 ** (bits - 1), 2.0**bits, 3.0 * 2.0**bits):
        values = rng.uniform(-scale, scale, 500)
        if bits == 64:  # beyond 2**63 doubles saturate (checked above for the small types only)
            values = np.clip(values, -(2.0**63), 2.0**63 - 1024)
            expected = np.trunc(values).astype(np.int64).astype(dtype)
        else:
            expected = np.array([int(np.trunc(v)) % 2**bits for v in values], dtype=np.uint64).astype(dtype)
        assert np.array_equal(to_type(values, dtype), expected), scale
        if bits < 64:
            assert np.array_equal(to_type(np.abs(values), dtype), expected_abs(values, dtype)), scale


def expected_abs(values: np.ndarray, dtype) -> np.ndarray:
    bits = np.dtype(dtype).itemsize * 8
    return np.array([int(np.trunc(abs(v))) % 2**bits for v in values], dtype=np.uint64).astype(dtype)
