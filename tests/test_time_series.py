"""NDPluginTimeSeries' arithmetic (ioc/areadetector/compute/time_series.py) against the series
written out by hand: what NDPluginTimeSeries.cpp stores, in each mode, with averaging."""

from __future__ import annotations

import numpy as np
import pytest

from ioc.areadetector.compute.time_series import CIRCULAR, TimeSeries


def _arrays(n: int, signals: int = 4, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, signals))


def test_fixed_length_stops_when_full():
    ts = TimeSeries(num_points=5, max_signals=23)
    inputs = _arrays(7)
    ts.take_shape(inputs[0])
    full = [ts.add(a, timestamp=100.0 + i) for i, a in enumerate(inputs)]
    assert full == [False] * 4 + [True] * 3  # the 5th fills it; later arrays are not taken
    values, stamps = ts.series()
    np.testing.assert_array_equal(values, inputs[:5].T)
    np.testing.assert_array_equal(stamps, 100.0 + np.arange(5))
    assert ts.current_point == 5 and ts.num_signals == 4


def test_circular_buffer_reads_the_newest_points_oldest_first():
    ts = TimeSeries(num_points=3, max_signals=2)  # two of the four signals kept
    ts.set_mode(CIRCULAR)
    inputs = _arrays(7)
    ts.take_shape(inputs[0])
    assert not any(ts.add(a, timestamp=float(i)) for i, a in enumerate(inputs))
    values, stamps = ts.series()
    np.testing.assert_array_equal(values, inputs[4:, :2].T)
    np.testing.assert_array_equal(stamps, [4.0, 5.0, 6.0])
    assert ts.current_point == 7 % 3
    np.testing.assert_allclose(ts.time_axis(), [-2.0, -1.0, 0.0])  # averaging time 1 s, time per point 0


def test_averaging_and_two_dimensional_input():
    ts = TimeSeries(num_points=10, max_signals=23)
    ts.set_time_per_point(0.1)
    ts.set_averaging_time(0.3)
    assert ts.num_average == 3 and ts.averaging_time_actual == pytest.approx(0.3)
    np.testing.assert_allclose(ts.time_axis()[:3], [0.0, 0.3, 0.6])
    inputs = _arrays(7)
    ts.take_shape(inputs)  # rows of signals: seven time points in one array
    assert not ts.add(inputs, timestamp=5.0)
    values, stamps = ts.series()
    np.testing.assert_allclose(values.T, [inputs[0:3].mean(axis=0), inputs[3:6].mean(axis=0)], rtol=1e-12)
    assert list(stamps) == [5.0, 5.0] and ts.current_point == 2  # the 7th waits for two more
    ts.set_num_points(4)  # a new length starts the series again
    assert ts.current_point == 0 and ts.series()[0].shape == (4, 0)
    ts.set_time_per_point(0.0)
    assert ts.num_average == 1 and ts.averaging_time_actual == pytest.approx(0.3)
    with pytest.raises(ValueError, match="must be 1 or 2"):
        ts.take_shape(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="acquire mode"):
        ts.set_mode(2)
