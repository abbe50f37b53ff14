"""NDPluginTimeSeries' arithmetic: each array's signals appended to a time series per signal.

As NDPluginTimeSeries.cpp does it. An input array is 1-D (one time point: a value per signal,
as NDPluginStats sends its 23 statistics on address 1) or 2-D (``[signals, times]``: rows of
signals). While acquiring, each time point is averaged over ``num_average`` arrays and
stored with the time stamp of the last of them:

* **Fixed length** stops when ``num_points`` points are stored (the current point stays at
  ``num_points``); the series read are the first ``current_point`` points;
* **Circular buffer** wraps to point 0 and goes on; the series read are all ``num_points``,
  the oldest first (points not yet written read 0).

``num_average = round(averaging_time / time_per_point)`` (at least 1; 1 if the time per point
is 0), and the averaging time actually used is ``num_average * time_per_point``; the time
axis is ``i * that`` (fixed) or ``-(num_points - 1 - i) * that`` (circular). A new number of
points, a new mode or an input with another number of signals starts the series again.
"""

from __future__ import annotations

import numpy as np

FIXED, CIRCULAR = 0, 1
ACQUIRE_MODES = ("Fixed length", "Circ. buffer")
MAX_POINTS = 100_000  # the IOC refuses longer series: 18 MB for 23 signals (ADCore's DRVH 1e8 would be 18 GB)


class TimeSeries:
    """The time series of up to ``max_signals`` signals, ``num_points`` points each."""

    def __init__(self, num_points: int = 2048, max_signals: int = 1) -> None:
        self.max_signals = max(int(max_signals), 1)
        self.num_signals = self.max_signals
        self.num_signals_in = 0  # signals per time point of the input arrays seen last
        self.num_points = max(int(num_points), 1)
        self.mode = FIXED
        self.time_per_point = 0.0
        self.averaging_time = 1.0  # requested
        self.num_average = 1
        self.averaging_time_actual = 1.0
        self._sum = np.zeros(self.max_signals)
        self._num_summed = 0
        self.allocate()

    # -- configuration --------------------------------------------------------------------

    def allocate(self) -> None:
        """A zeroed buffer of ``num_points`` points per signal, the series started again."""
        self.reset()

    def reset(self) -> None:
        """Erase the series: back to point 0 (acquireReset). New zeroed arrays, whose memory
        the system provides as points are written."""
        self.data = np.zeros((self.num_signals, self.num_points))
        self.timestamps = np.zeros(self.num_points)
        self.current_point = 0

    def set_num_points(self, num_points: int) -> None:
        if num_points < 1:
            raise ValueError(f"the number of points must be at least 1, not {num_points}")
        self.num_points = int(num_points)
        self.allocate()

    def set_mode(self, mode: int) -> None:
        if mode not in (FIXED, CIRCULAR):
            raise ValueError(f"acquire mode {mode!r}: expected {FIXED} ({ACQUIRE_MODES[0]}) or "
                             f"{CIRCULAR} ({ACQUIRE_MODES[1]})")
        self.mode = mode
        self.reset()

    def set_time_per_point(self, seconds: float) -> None:
        self.time_per_point = float(seconds)
        self._compute_num_average()

    def set_averaging_time(self, seconds: float) -> None:
        self.averaging_time = float(seconds)
        self._compute_num_average()

    def _compute_num_average(self) -> None:
        if self.time_per_point == 0:
            self.num_average = 1
            self.averaging_time_actual = self.averaging_time
        else:
            self.num_average = max(int(self.averaging_time / self.time_per_point + 0.5), 1)
            self.averaging_time_actual = self.time_per_point * self.num_average
        self._num_summed = 0

    def time_axis(self) -> np.ndarray:
        """The time of each point, s (TSTimeAxis)."""
        i = np.arange(self.num_points, dtype=np.float64)
        if self.mode == FIXED:
            return i * self.averaging_time_actual
        return -(self.num_points - 1 - i) * self.averaging_time_actual

    # -- acquisition ----------------------------------------------------------------------

    def take_shape(self, array: np.ndarray) -> None:
        """Follow the input's number of signals (processCallbacks): a new number allocates the
        buffer again. Raises ValueError for an array that is neither 1-D nor 2-D."""
        if array.ndim not in (1, 2):
            raise ValueError(f"NDPluginTimeSeries: {array.ndim}-D array; the number of array dimensions "
                             "must be 1 or 2")
        signals_in = array.shape[-1]  # dims[0], the fastest dimension
        if signals_in != self.num_signals_in:
            self.num_signals_in = signals_in
            self.num_signals = min(signals_in, self.max_signals)
            self.allocate()

    def add(self, array: np.ndarray, timestamp: float) -> bool:
        """Append an array's time points; True if a fixed-length series just filled up (the
        acquisition then ends)."""
        rows = array.reshape(-1, self.num_signals_in)[:, :self.num_signals]
        for row in rows:
            if self.current_point >= self.num_points:  # a full fixed-length series takes no more
                return True
            self._sum[:self.num_signals] += row
            self._num_summed += 1
            if self._num_summed < self.num_average:
                continue
            self.data[:, self.current_point] = self._sum[:self.num_signals] / self._num_summed
            self._sum[:] = 0.0
            self._num_summed = 0
            self.timestamps[self.current_point] = timestamp
            self.current_point += 1
            if self.current_point >= self.num_points:
                if self.mode == FIXED:
                    return True
                self.current_point = 0
        return False

    def series(self, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The series as read (doTimeSeriesCallbacks): ``(signals, points)`` values and the time
        stamp of each point; their first ``limit`` points, if given (what a waveform holds)."""
        if self.mode == FIXED:
            n = self.current_point if limit is None else min(self.current_point, limit)
            return self.data[:, :n], self.timestamps[:n]
        n = self.num_points if limit is None else min(self.num_points, limit)
        order = (self.current_point + np.arange(n)) % self.num_points
        return self.data[:, order], self.timestamps[order]
