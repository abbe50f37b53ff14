"""NDPluginROIStat's arithmetic: several regions' min, max, mean, total and net, and time series.

As NDPluginROIStat.cpp computes them, for each region in use of a 1-D or 2-D array (other
arrays are refused and nothing is computed): the offset is clamped to ``[0, n - 1]`` and the
size to ``[1, n - offset]`` (both C ``size_t``: a negative MinX means ``n - 1``, a negative
SizeX the whole remainder), and the clamped values are what MinX_RBV/SizeX_RBV read. In
double precision, in the C loop's order (rows top to bottom, x fastest)::

    total = sum of the region's values        mean = total / (size_x * size_y)
    min, max over the region
    net = total - bgd / n_bgd * (size_x * size_y)   (BgdWidth > 0, else net = total)

where the background sums the top and bottom ``w_y = min(BgdWidth, size_y)`` rows and, of
the rows between them, the left and right ``w_x = min(BgdWidth, size_x)`` columns (strips
that overlap are counted twice, as in the C loops). The array passes on unchanged.

The time series (TSControl: Erase/Start, Start, Stop, Read, Erase) records each region's
min, max, mean, total, net and the array's time stamp while TSAcquiring, up to TSNumPoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE_T = 2**64
TS_CONTROL = ("Erase/Start", "Start", "Stop", "Read", "Erase")
TS_QUANTITIES = ("min", "max", "mean", "total", "net", "timestamp")


@dataclass
class RoiStatRegion:
    """One region's parameters (ROIStat1:N:...), with NDROIStatN.template's start-up values."""

    use: bool = False
    name: str = ""
    min_x: int = 0
    min_y: int = 0
    size_x: int = 1
    size_y: int = 1
    bgd_width: int = 0


@dataclass(frozen=True)
class RoiStatResult:
    """One region's statistics and the readbacks set with them (MinX_RBV ... MaxSizeY_RBV)."""

    min: float
    max: float
    mean: float
    total: float
    net: float
    min_x: int
    min_y: int
    size_x: int
    size_y: int
    max_size_x: int
    max_size_y: int


def _extrema(values: np.ndarray) -> tuple[float, float]:
    """min and max as the C loop finds them: from the first value on, NaNs after it skipped."""
    if values.size == 0:
        return 0.0, 0.0
    first = float(values.flat[0])
    if first != first:
        return first, first
    return float(np.fmin.reduce(values, axis=None)), float(np.fmax.reduce(values, axis=None))


def _c_sum(values: np.ndarray, bound: float) -> float:
    """The sum of ``values`` (row-major order) a C loop accumulating doubles gives.

    ``bound`` is the largest magnitude among them: integer sums that stay below 2**53 are
    exact in double whatever the order, so they are taken exactly in 64-bit integers.
    """
    if values.size == 0:
        return 0.0
    if values.dtype.kind in "iu" and values.size * bound < 2.0**53:
        return float(values.sum(dtype=np.int64 if values.dtype.kind == "i" else np.uint64))
    return float(np.cumsum(values.ravel(), dtype=np.float64)[-1])  # cumsum adds in order


def region_stats(data: np.ndarray, region: RoiStatRegion) -> RoiStatResult:
    """The statistics of one region of a 1-D or 2-D array (``data`` is (y, x) when 2-D)."""
    if data.ndim not in (1, 2):
        raise ValueError(f"NDPluginROIStat: {data.ndim}-D array; it computes on 1-D and 2-D arrays only")
    dims = data.shape[::-1]
    offset = [region.min_x, region.min_y]
    size = [region.size_x, region.size_y]
    for d in range(data.ndim):
        offset[d] = min(max(offset[d] % SIZE_T, 0), dims[d] - 1)
        size[d] = min(max(size[d] % SIZE_T, 1), dims[d] - offset[d])
    x0, nx = offset[0], size[0]
    bgd_total, n_bgd = 0.0, 0
    if data.ndim == 1:
        values = data[x0:x0 + nx]
        n_elements = nx
        if region.bgd_width > 0:
            wx = min(region.bgd_width, nx)
            strips = [values[:wx], values[nx - wx:]]
    else:
        y0, ny = offset[1], size[1]
        values = data[y0:y0 + ny, x0:x0 + nx]
        n_elements = nx * ny
        if region.bgd_width > 0:
            wx, wy = min(region.bgd_width, nx), min(region.bgd_width, ny)
            middle = values[wy:ny - wy]
            strips = [values[:wy], values[ny - wy:]]
            if middle.size:  # row by row: left strip, then right strip
                strips.append(np.concatenate([middle[:, :wx], middle[:, nx - wx:]], axis=1))
    lo, hi = _extrema(values)
    bound = max(abs(lo), abs(hi))
    total = _c_sum(values, bound)
    if region.bgd_width > 0:
        bgd_total = _c_sum(np.concatenate([s.ravel() for s in strips]), bound)
        n_bgd = sum(s.size for s in strips)
    bgd = bgd_total / n_bgd * n_elements if n_bgd else bgd_total
    return RoiStatResult(
        min=lo, max=hi, mean=total / n_elements if n_elements else 0.0, total=total, net=total - bgd,
        min_x=offset[0], min_y=offset[1] if data.ndim > 1 else region.min_y,
        size_x=size[0], size_y=size[1] if data.ndim > 1 else region.size_y,
        max_size_x=dims[0], max_size_y=dims[1] if data.ndim > 1 else 0,
    )


class RoiStat:
    """One NDPluginROIStat: its regions (8 in ADCore's example IOC) and their time series."""

    def __init__(self, regions: int = 8, ts_num_points: int = 2048) -> None:
        self.regions = [RoiStatRegion() for _ in range(regions)]
        self.ts_acquiring = False
        self.ts_current_point = 0
        self.ts_num_points = ts_num_points
        self.time_series = np.zeros((regions, len(TS_QUANTITIES), ts_num_points))

    def process(self, data: np.ndarray, timestamp: float = 0.0) -> tuple[list[RoiStatResult | None], bool]:
        """Each region's result (None if not in use) and whether the time series is to be
        published (it just filled up). Refuses (ValueError) arrays other than 1-D and 2-D."""
        results = [region_stats(data, r) if r.use else None for r in self.regions]
        publish = False
        if self.ts_acquiring:
            if self.ts_current_point < self.ts_num_points:
                for n, res in enumerate(results):
                    if res is not None:
                        self.time_series[n, :, self.ts_current_point] = (
                            res.min, res.max, res.mean, res.total, res.net, timestamp)
            self.ts_current_point += 1
            if self.ts_current_point >= self.ts_num_points:
                self.ts_acquiring = False
                publish = True
        return results, publish

    def ts_control(self, command: str) -> bool:
        """TSControl; returns whether the time series arrays are to be published now."""
        if command == "Erase/Start":
            self.erase_time_series()
            self.ts_acquiring = True
            return False
        if command == "Start":
            if self.ts_current_point < self.ts_num_points:
                self.ts_acquiring = True
            return False
        if command == "Stop":
            self.ts_acquiring = False
            return True
        if command == "Read":
            return True
        if command == "Erase":
            self.erase_time_series()
            return True
        raise ValueError(f"TSControl {command!r}: expected one of {', '.join(TS_CONTROL)}")

    def set_ts_num_points(self, value: int) -> None:
        """TSNumPoints: a new, zeroed time series (the current point is kept, as in ADCore)."""
        self.ts_num_points = max(int(value), 0)
        self.time_series = np.zeros((len(self.regions), len(TS_QUANTITIES), self.ts_num_points))

    def erase_time_series(self) -> None:
        self.ts_current_point = 0
        self.time_series[:] = 0.0

    def series(self, region: int, quantity: str) -> np.ndarray:
        """TS<quantity> of a region as published: its first TSCurrentPoint points."""
        return self.time_series[region, TS_QUANTITIES.index(quantity), :min(self.ts_current_point, self.ts_num_points)]
