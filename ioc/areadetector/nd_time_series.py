"""``Stats1:TS:``: NDTimeSeries.template, the time series of Stats1's statistics (ADCore NDPluginTimeSeries).

A plugin of its own (port ``STATS1_TS``) that takes, from ``STATS1`` at address 1, the 23
statistics NDPluginStats sends with each frame (:mod:`.nd_stats`), and while ``TSAcquire``
is 1 appends them to a time series per statistic (:mod:`.compute.time_series`): ``TSNumPoints``
points, ``TSAcquireMode`` Fixed length (stops when full) or Circ. buffer (wraps), each point
averaged over ``TSNumAverage`` frames (``TSAveragingTime`` / ``TSTimePerPoint``). The series are
read into Stats1's ``TSTotal``, ``TSCentroidX``... waveforms (NDStats.template declares them
on this port: :meth:`NDTimeSeries.publish_to`) when ``TSRead`` processes (``SCAN`` 1 second
while ``TSAcquiring``, or a put to ``TSRead``/``TSRead.PROC``), when the acquisition stops, and
when a fixed-length series fills up; ``TSAcquire`` is a busy record, so a put with completion
waits for that.

Differences from ADCore: a ``TSNumPoints`` below 1 or above ``MAX_POINTS`` (100 000 points,
18 MB of buffer) is refused, not clamped to the template's DRVL/DRVH (1 and 1e8: 18 GB here); ``TSTimestamp`` is read with the series
(ADCore's plugin never posts it); the series are not passed on as NDArrays to other plugins.
The waveforms hold $(NCHANS) points: a longer series shows its first (oldest) ones, as in ADCore.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import numpy as np

from ..records import echo_to_readback
from ..records.declare import ai, ao, bi, bo, busy, longin, longout, mbbi, mbbo, waveform
from ..server.puts import processing_started
from .compute.time_series import ACQUIRE_MODES, MAX_POINTS, TimeSeries
from .menus import OK_MINOR
from .nd_plugin_base import NDPluginBase
from .nd_stats import NCHANS
from .ndarray import Frame, enum_index, index

log = logging.getLogger(__name__)
MAX_SIGNALS = 23  # NDTimeSeriesConfigure's maxSignals for a Stats plugin (commonPlugins.cmd)
READ_PERIODS = {"10 second": 10.0, "5 second": 5.0, "2 second": 2.0, "1 second": 1.0, ".5 second": 0.5,
                  ".2 second": 0.2, ".1 second": 0.1}
IDLE_POLL = 0.5  # s between looks at TSRead.SCAN while it is not periodic

#: What a watcher is told after each change: (acquiring, current point, number of points).
Watcher = Callable[[bool, int, int], Awaitable[None]]


class NDTimeSeries(NDPluginBase):
    """NDTimeSeries.template (which includes NDPluginBase.template): time series of the arrays' signals."""

    plugin_type = "NDPluginTimeSeries"
    passes_input_on = False  # its own arrays, the series, are not passed on (see the module's docstring)
    autosave_fields = ("TSNumPoints", "TSAveragingTime", "TSAcquireMode", "TSRead.SCAN")  # NDTimeSeries_settings.req

    ts_acquire = busy("TSAcquire", "Done", ("Done", "Acquire"),
                      doc="busy record: 1 erases and starts the time series, 0 stops it")
    ts_acquiring = bi("TSAcquiring", "Done", ("Done", "Acquiring"), sev=OK_MINOR, doc="time series acquiring")
    ts_read = bo("TSRead", 1, ("Done", "Read"), fields={"SCAN": "1 second", "DISV": 0},
                 doc="reads the time series (SCAN 1 second; disabled while TSAcquiring is 0)")
    ts_num_points = longout("TSNumPoints", NCHANS, valid=(1, MAX_POINTS, "number of time-series points"),
                            fields={"DRVL": 1, "DRVH": 100_000_000},
                            doc="number of time-series points (VAL $(NCHANS); the waveforms show $(NCHANS))")
    ts_current_point = longin("TSCurrentPoint", doc="current time-series point")
    ts_time_per_point_link = ao("TSTimePerPointLink", 0.1, fields={"DOL": "0.1", "OMSL": "closed_loop"},
                                doc="ao record: writes DOL $(TIME_LINK=0.1) to TSTimePerPoint")
    ts_time_per_point = ao("TSTimePerPoint", prec=3, valid=(0.0, 1e9, "time per point (s)"),
                           doc="time per input array, s")
    ts_time_per_point_rbv = ai("TSTimePerPoint_RBV", prec=3, doc="time per input array, s")
    ts_averaging_time = ao("TSAveragingTime", 0.1, prec=3, valid=(0.0, 1e9, "averaging time (s)"),
                           doc="time to average over per point, s")
    ts_averaging_time_rbv = ai("TSAveragingTime_RBV", prec=3, doc="averaging time actually used, s")
    ts_num_average = longin("TSNumAverage", doc="arrays averaged per point")
    ts_elapsed_time = ai("TSElapsedTime", prec=3, doc="time since the time series started, s")
    ts_acquire_mode = mbbo("TSAcquireMode", "Fixed length", ACQUIRE_MODES, doc="time series acquire mode")
    ts_acquire_mode_rbv = mbbi("TSAcquireMode_RBV", "Fixed length", ACQUIRE_MODES, doc="time series acquire mode")
    ts_timestamp = waveform("TSTimestamp", ftvl="DOUBLE", nelm=NCHANS, input=True,
                            doc="time stamp of each point (NELM $(NCHANS))")
    ts_time_axis = waveform("TSTimeAxis", ftvl="DOUBLE", nelm=NCHANS, input=True,
                            doc="time of each point, s (NELM $(NCHANS))")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.series = TimeSeries(int(self.ts_num_points.value), MAX_SIGNALS)
        self._outputs: list = []  # the waveform of each signal, by address (publish_to)
        self._watchers: list[Watcher] = []
        self._done: asyncio.Future | None = None  # set when an acquisition ends (TSAcquire's completion)
        self._started = time.monotonic()
        self._reader: asyncio.Task | None = None

    def publish_to(self, waveforms: list) -> None:
        """The waveform records that show the series, one per signal in address order."""
        self._outputs = list(waveforms)

    def watch(self, watcher: Watcher) -> None:
        """Call ``watcher`` after each change of the acquisition (ADCore R2's Stats1:TS* records show it)."""
        self._watchers.append(watcher)

    # -- start and stop ------------------------------------------------------------------

    async def start(self) -> None:
        await super().start()
        # PINI: the number of points, the mode, the time per point (TSTimePerPointLink), the averaging time.
        self.series.set_num_points(int(self.ts_num_points.value))
        self.series.set_mode(index(self.ts_acquire_mode))
        self.series.set_time_per_point(self.ts_time_per_point_link.value)
        self.series.set_averaging_time(self.ts_averaging_time.value)
        await self.ts_time_per_point.write(self.series.time_per_point, verify_value=False)
        await self._show_averaging()
        await self.ts_read.get_field("SDIS").write(f"{self.prefix}TSAcquiring NPP NMS")  # its link, as dbpr shows it
        self._reader = asyncio.get_running_loop().create_task(self._read_periodically())

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await super().stop()

    def output_array(self, seen: frozenset = frozenset(), address: int = 0):
        """The time series as ADCore passes it on: ``[points, signals]`` of Float64 (address 0)."""
        if address != 0:
            return None
        return (self.series.num_signals, self.series.num_points), np.dtype(np.float64)

    # -- the arrays ----------------------------------------------------------------------

    @property
    def acquiring(self) -> bool:
        return bool(index(self.ts_acquiring))

    async def process(self, frame: Frame) -> str | None:
        try:
            self.series.take_shape(frame.data)
        except ValueError as exc:
            return f"{self.prefix}: {exc}"
        if not self.acquiring:
            return None
        full = self.series.add(frame.data, frame.timestamp)
        await self.ts_current_point.write(self.series.current_point)
        await self.ts_elapsed_time.write(time.monotonic() - self._started)
        if full:
            await self.stop_acquiring()
        else:
            await self._tell_watchers()
        return None

    async def read(self) -> None:
        """Post the series to the waveforms (doTimeSeriesCallbacks): as many points as they hold."""
        values, stamps = self.series.series(limit=NCHANS)
        for chan, row in zip(self._outputs, values, strict=False):
            await chan.write(row[:chan.max_length])
        await self.ts_timestamp.write(stamps[:self.ts_timestamp.max_length])

    async def _read_periodically(self) -> None:
        """TSRead's periodic scan, at the rate its SCAN field says, while acquiring."""
        while True:
            period = READ_PERIODS.get(str(self.ts_read.get_field("SCAN").value))
            await asyncio.sleep(period or IDLE_POLL)
            if period and self.acquiring:
                try:
                    await self.read()
                except Exception:  # the next scan tries again; the IOC goes on
                    log.exception("%s: reading the time series failed", self.prefix)

    # -- the acquisition -----------------------------------------------------------------

    async def start_acquiring(self, erase: bool = True) -> asyncio.Future:
        """Start (after erasing the series, or where it is): the future of its end."""
        if erase:
            self.series.reset()
            self._started = time.monotonic()
            await self.ts_current_point.write(0)
        if self._done is None or self._done.done():
            self._done = asyncio.get_running_loop().create_future()
        await self.ts_acquire.write("Acquire", verify_value=False)
        await self.ts_acquiring.write("Acquiring")
        await self._tell_watchers()
        return self._done

    async def stop_acquiring(self) -> None:
        """Stop, and read the series."""
        await self.ts_acquiring.write("Done")
        await self.ts_acquire.write("Done", verify_value=False)
        await self.read()
        await self._tell_watchers()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    async def set_num_points(self, num_points: int) -> None:
        """A new length: the series starts again (an acquisition goes on into it)."""
        self.series.set_num_points(num_points)
        await self.ts_current_point.write(0)
        await self._show_averaging()
        await self._tell_watchers()

    async def _show_averaging(self) -> None:
        await self.ts_averaging_time_rbv.write(self.series.averaging_time_actual)
        await self.ts_num_average.write(self.series.num_average)
        await self.ts_time_per_point_rbv.write(self.series.time_per_point)
        await self.ts_time_axis.write(self.series.time_axis()[:self.ts_time_axis.max_length])

    async def _tell_watchers(self) -> None:
        for watcher in self._watchers:
            await watcher(self.acquiring, self.series.current_point, self.series.num_points)

    # -- PV hooks ------------------------------------------------------------------------

    @ts_acquire.putter
    async def ts_acquire(self, instance, value):
        if not enum_index(instance, value):
            if self.acquiring:
                await self.stop_acquiring()
            else:
                await self.read()
            return "Done"
        done = await self.start_acquiring(erase=True)
        # A busy record: a put with completion waits until the acquisition ends.
        processing_started()
        await asyncio.shield(done)
        return "Done"

    @ts_read.putter
    async def ts_read(self, instance, value):
        if self.acquiring:  # SDIS: the record does not process while TSAcquiring is 0
            await self.read()
        return value

    @ts_num_points.putter
    async def ts_num_points(self, instance, value):
        value = await echo_to_readback(self, instance, value)  # checks the range
        await self.set_num_points(int(value))
        return value

    @ts_acquire_mode.putter
    async def ts_acquire_mode(self, instance, value):
        value = await echo_to_readback(self, instance, value)
        self.series.set_mode(enum_index(instance, value))
        await self.ts_current_point.write(0)
        await self._show_averaging()
        await self._tell_watchers()
        return value

    @ts_time_per_point_link.putter
    async def ts_time_per_point_link(self, instance, value):
        await self.ts_time_per_point.write(value)  # OUT TSTimePerPoint PP
        return value

    @ts_time_per_point.putter
    async def ts_time_per_point(self, instance, value):
        value = await echo_to_readback(self, instance, value)
        self.series.set_time_per_point(value)
        await self._show_averaging()
        return value

    @ts_averaging_time.putter
    async def ts_averaging_time(self, instance, value):
        value = await echo_to_readback(self, instance, value)
        self.series.set_averaging_time(value)
        await self._show_averaging()
        return value
