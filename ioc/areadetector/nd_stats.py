"""``Stats1:``: NDStats.template, the statistics and centroid of each frame (ADCore NDPluginStats).

Total, net, extrema and their positions, mean and sigma (ComputeStatistics), the centroid,
its widths and higher moments (ComputeCentroid) are computed (:func:`ioc.sim.physics.stats`)
and posted only when they change, as asyn posts parameters. With each frame the 23 numbers
of :data:`TIME_SERIES` go, as a 1-D array, to the plugins wired to this port at address 1:
the time series plugin ``Stats1:TS:`` (:mod:`.nd_time_series`), which shows its series in
this template's ``TSTotal``, ``TSCentroidX``... waveforms. Profiles and the histogram are
served as the template declares them, not computed. Records of ADCore R2 that ophyd's
StatsPlugin still references (TSControl, TSRead, TSNumPoints, TSCurrentPoint, TSAcquiring;
R3 moved them to the NDTimeSeries plugin at ``Stats1:TS:``) are served too, and act on that
plugin's time series (:meth:`NDStats.serve_time_series`).
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING

import numpy as np

from ..records import Macro, echo_to_readback
from ..records.declare import ai, ao, bi, bo, dfanout, longin, longout, mbbo, sseq, waveform
from ..sim import physics
from .compute.time_series import MAX_POINTS
from .menus import NO_YES, OK_MINOR
from .nd_plugin_base import NDPluginBase
from .ndarray import Frame, enum_index, index, post

if TYPE_CHECKING:
    from .nd_time_series import NDTimeSeries

NCHANS = 2048  # $(NCHANS): time-series length (commonPlugins.cmd's default)
HIST_SIZE = 256  # $(HIST_SIZE)
# The statistics NDPluginStats sends for the time series, by address (NDPluginStats.h's
# NDStatsTimeSeriesType): physics.stats' keys, and the frame's time stamp last.
TIME_SERIES = ("min", "min_x", "min_y", "max", "max_x", "max_y", "mean", "sigma", "total", "net", "centroid_total",
               "centroid_x", "centroid_y", "sigma_x", "sigma_y", "sigma_xy", "skew_x", "skew_y", "kurtosis_x",
               "kurtosis_y", "eccentricity", "orientation", "timestamp")
_STATISTICS = TIME_SERIES[:10]
_CENTROID = TIME_SERIES[10:22]


class NDStats(NDPluginBase):
    """NDStats.template (which includes NDPluginBase.template): the frame's statistics and centroid."""

    plugin_type = "NDPluginStats"

    compute_statistics = bo("ComputeStatistics", "Yes", NO_YES, doc="compute the basic statistics")
    compute_statistics_rbv = bi("ComputeStatistics_RBV", "Yes", NO_YES, sev=OK_MINOR,
                                doc="compute the basic statistics")
    bgd_width = longout("BgdWidth", 1, doc="background width")
    bgd_width_rbv = longin("BgdWidth_RBV", 1, doc="background width")
    min_value = ao("MinValue", doc="minimum value")
    min_value_rbv = ai("MinValue_RBV", doc="minimum value")
    max_value = ao("MaxValue", doc="maximum value")
    max_value_rbv = ai("MaxValue_RBV", doc="maximum value")
    mean_value = ao("MeanValue", doc="mean value")
    mean_value_rbv = ai("MeanValue_RBV", doc="mean value")
    sigma_value = ao("SigmaValue", doc="sigma (its readback is Sigma_RBV)")
    sigma_rbv = ai("Sigma_RBV", prec=1, doc="sigma")
    total = ao("Total", doc="total")
    total_rbv = ai("Total_RBV", doc="total")
    net = ao("Net", doc="net (total minus background)")
    net_rbv = ai("Net_RBV", doc="net (total minus background)")
    min_x = ao("MinX", doc="X of the minimum")
    min_x_rbv = ai("MinX_RBV", doc="X of the minimum")
    min_y = ao("MinY", doc="Y of the minimum")
    min_y_rbv = ai("MinY_RBV", doc="Y of the minimum")
    max_x = ao("MaxX", doc="X of the maximum")
    max_x_rbv = ai("MaxX_RBV", doc="X of the maximum")
    max_y = ao("MaxY", doc="Y of the maximum")
    max_y_rbv = ai("MaxY_RBV", doc="Y of the maximum")
    compute_centroid = bo("ComputeCentroid", "No", NO_YES, doc="compute the centroid statistics")
    compute_centroid_rbv = bi("ComputeCentroid_RBV", "No", NO_YES, sev=OK_MINOR, doc="compute the centroid statistics")
    centroid_threshold = ao("CentroidThreshold", 1.0, valid=(-1e300, 1e300, "centroid threshold"),
                            doc="centroid threshold")
    centroid_threshold_rbv = ai("CentroidThreshold_RBV", 1.0, doc="centroid threshold")
    centroid_total = ao("CentroidTotal", doc="total above threshold (R3 series)")
    centroid_total_rbv = ai("CentroidTotal_RBV", doc="total above threshold (R3 series)")
    centroid_x = ao("CentroidX", doc="centroid X")
    centroid_x_rbv = ai("CentroidX_RBV", prec=1, doc="centroid X")
    centroid_y = ao("CentroidY", doc="centroid Y")
    centroid_y_rbv = ai("CentroidY_RBV", prec=1, doc="centroid Y")
    sigma_x = ao("SigmaX", doc="sigma X")
    sigma_x_rbv = ai("SigmaX_RBV", prec=1, doc="sigma X")
    sigma_y = ao("SigmaY", doc="sigma Y")
    sigma_y_rbv = ai("SigmaY_RBV", prec=1, doc="sigma Y")
    sigma_xy = ao("SigmaXY", doc="sigma XY")
    sigma_xy_rbv = ai("SigmaXY_RBV", prec=3, doc="sigma XY")
    skew_x = ao("SkewX", doc="skewness X (R3 series)")
    skew_x_rbv = ai("SkewX_RBV", prec=3, doc="skewness X (R3 series)")
    skew_y = ao("SkewY", doc="skewness Y (R3 series)")
    skew_y_rbv = ai("SkewY_RBV", prec=3, doc="skewness Y (R3 series)")
    kurtosis_x = ao("KurtosisX", doc="kurtosis X (R3 series)")
    kurtosis_x_rbv = ai("KurtosisX_RBV", prec=3, doc="kurtosis X (R3 series)")
    kurtosis_y = ao("KurtosisY", doc="kurtosis Y (R3 series)")
    kurtosis_y_rbv = ai("KurtosisY_RBV", prec=3, doc="kurtosis Y (R3 series)")
    eccentricity = ao("Eccentricity", doc="eccentricity (R3 series)")
    eccentricity_rbv = ai("Eccentricity_RBV", prec=3, doc="eccentricity (R3 series)")
    orientation = ao("Orientation", doc="orientation (R3 series)")
    orientation_rbv = ai("Orientation_RBV", prec=3, doc="orientation (R3 series)")
    ts_control = mbbo("TSControl", "Erase/Start", ("Erase/Start", "Start", "Stop", "Read"),
                      doc="time series control (ADCore R2 NDStats.template)")
    ts_read = longout("TSRead", 3, doc="pokes TSControl with 3 (Read) every second while acquiring (ADCore R2)")
    ts_num_points = longout("TSNumPoints", NCHANS, valid=(1, MAX_POINTS, "number of time-series points"),
                            doc="time series length, VAL/DRVH $(NCHANS) (ADCore R2)")
    ts_current_point = longin("TSCurrentPoint", doc="current time series point (ADCore R2)")
    ts_acquiring = bi("TSAcquiring", "Done", ("Done", "Acquiring"), doc="time series acquiring (ADCore R2)")
    ts_min_value = waveform("TSMinValue", ftvl="DOUBLE", nelm=NCHANS, input=True,
                            doc="MinValue time series (NELM is $(NCHANS))")
    ts_min_x = waveform("TSMinX", ftvl="DOUBLE", nelm=NCHANS, input=True, doc="MinX time series (NELM is $(NCHANS))")
    ts_min_y = waveform("TSMinY", ftvl="DOUBLE", nelm=NCHANS, input=True, doc="MinY time series (NELM is $(NCHANS))")
    ts_max_value = waveform("TSMaxValue", ftvl="DOUBLE", nelm=NCHANS, input=True,
                            doc="MaxValue time series (NELM is $(NCHANS))")
    ts_max_x = waveform("TSMaxX", ftvl="DOUBLE", nelm=NCHANS, input=True, doc="MaxX time series (NELM is $(NCHANS))")
    ts_max_y = waveform("TSMaxY", ftvl="DOUBLE", nelm=NCHANS, input=True, doc="MaxY time series (NELM is $(NCHANS))")
    ts_mean_value = waveform("TSMeanValue", ftvl="DOUBLE", nelm=NCHANS, input=True,
                             doc="MeanValue time series (NELM is $(NCHANS))")
    ts_sigma = waveform("TSSigma", ftvl="DOUBLE", nelm=NCHANS, input=True, doc="Sigma time series (NELM is $(NCHANS))")
    ts_total = waveform("TSTotal", ftvl="DOUBLE", nelm=NCHANS, input=True, doc="Total time series (NELM is $(NCHANS))")
    ts_net = waveform("TSNet", ftvl="DOUBLE", nelm=NCHANS, input=True, doc="Net time series (NELM is $(NCHANS))")
    ts_centroid_total = waveform("TSCentroidTotal", ftvl="DOUBLE", nelm=NCHANS, input=True,
                                 doc="CentroidTotal time series (NELM is $(NCHANS)) (R3 series)")
    ts_centroid_x = waveform("TSCentroidX", ftvl="DOUBLE", nelm=NCHANS, input=True,
                             doc="CentroidX time series (NELM is $(NCHANS))")
    ts_centroid_y = waveform("TSCentroidY", ftvl="DOUBLE", nelm=NCHANS, input=True,
                             doc="CentroidY time series (NELM is $(NCHANS))")
    ts_sigma_x = waveform("TSSigmaX", ftvl="DOUBLE", nelm=NCHANS, input=True,
                          doc="SigmaX time series (NELM is $(NCHANS))")
    ts_sigma_y = waveform("TSSigmaY", ftvl="DOUBLE", nelm=NCHANS, input=True,
                          doc="SigmaY time series (NELM is $(NCHANS))")
    ts_sigma_xy = waveform("TSSigmaXY", ftvl="DOUBLE", nelm=NCHANS, input=True,
                           doc="SigmaXY time series (NELM is $(NCHANS))")
    ts_skew_x = waveform("TSSkewX", ftvl="DOUBLE", nelm=NCHANS, input=True,
                         doc="SkewX time series (NELM is $(NCHANS)) (R3 series)")
    ts_skew_y = waveform("TSSkewY", ftvl="DOUBLE", nelm=NCHANS, input=True,
                         doc="SkewY time series (NELM is $(NCHANS)) (R3 series)")
    ts_kurtosis_x = waveform("TSKurtosisX", ftvl="DOUBLE", nelm=NCHANS, input=True,
                             doc="KurtosisX time series (NELM is $(NCHANS)) (R3 series)")
    ts_kurtosis_y = waveform("TSKurtosisY", ftvl="DOUBLE", nelm=NCHANS, input=True,
                             doc="KurtosisY time series (NELM is $(NCHANS)) (R3 series)")
    ts_eccentricity = waveform("TSEccentricity", ftvl="DOUBLE", nelm=NCHANS, input=True,
                               doc="Eccentricity time series (NELM is $(NCHANS)) (R3 series)")
    ts_orientation = waveform("TSOrientation", ftvl="DOUBLE", nelm=NCHANS, input=True,
                              doc="Orientation time series (NELM is $(NCHANS)) (R3 series)")
    ts_timestamp = waveform("TSTimestamp", ftvl="DOUBLE", nelm=NCHANS, input=True,
                            doc="time stamp time series (NELM is $(NCHANS)) (R3 series)")
    compute_profiles = bo("ComputeProfiles", "No", NO_YES, doc="compute profiles")
    compute_profiles_rbv = bi("ComputeProfiles_RBV", "No", NO_YES, sev=OK_MINOR, doc="compute profiles")
    profile_size_x_rbv = longin("ProfileSizeX_RBV", doc="profile size X")
    profile_size_y_rbv = longin("ProfileSizeY_RBV", doc="profile size Y")
    cursor_x = longout("CursorX", 256, doc="cursor X for the cursor profiles")
    cursor_x_rbv = longin("CursorX_RBV", 256, doc="cursor X for the cursor profiles")
    cursor_y = longout("CursorY", 256, doc="cursor Y for the cursor profiles")
    cursor_y_rbv = longin("CursorY_RBV", 256, doc="cursor Y for the cursor profiles")
    cursor_val = ai("CursorVal", prec=1, doc="value at the cursor")
    profile_average_x_rbv = waveform("ProfileAverageX_RBV", ftvl="DOUBLE", nelm=Macro("XSIZE"),
                                     doc="average X profile (NELM $(XSIZE))")
    profile_average_y_rbv = waveform("ProfileAverageY_RBV", ftvl="DOUBLE", nelm=Macro("YSIZE"),
                                     doc="average Y profile (NELM $(YSIZE))")
    profile_threshold_x_rbv = waveform("ProfileThresholdX_RBV", ftvl="DOUBLE", nelm=Macro("XSIZE"),
                                       doc="thresholded X profile (NELM $(XSIZE))")
    profile_threshold_y_rbv = waveform("ProfileThresholdY_RBV", ftvl="DOUBLE", nelm=Macro("YSIZE"),
                                       doc="thresholded Y profile (NELM $(YSIZE))")
    profile_centroid_x_rbv = waveform("ProfileCentroidX_RBV", ftvl="DOUBLE", nelm=Macro("XSIZE"),
                                      doc="X profile through the centroid (NELM $(XSIZE))")
    profile_centroid_y_rbv = waveform("ProfileCentroidY_RBV", ftvl="DOUBLE", nelm=Macro("YSIZE"),
                                      doc="Y profile through the centroid (NELM $(YSIZE))")
    profile_cursor_x_rbv = waveform("ProfileCursorX_RBV", ftvl="DOUBLE", nelm=Macro("XSIZE"),
                                    doc="X profile through the cursor (NELM $(XSIZE))")
    profile_cursor_y_rbv = waveform("ProfileCursorY_RBV", ftvl="DOUBLE", nelm=Macro("YSIZE"),
                                    doc="Y profile through the cursor (NELM $(YSIZE))")
    compute_histogram = bo("ComputeHistogram", "No", NO_YES, doc="compute the histogram")
    compute_histogram_rbv = bi("ComputeHistogram_RBV", "No", NO_YES, sev=OK_MINOR, doc="compute the histogram")
    hist_size = longout("HistSize", HIST_SIZE, doc="histogram size")
    hist_size_rbv = longin("HistSize_RBV", 256, doc="histogram size")
    hist_min = ao("HistMin", doc="histogram minimum")
    hist_min_rbv = ai("HistMin_RBV", doc="histogram minimum")
    hist_max = ao("HistMax", 255.0, doc="histogram maximum")
    hist_max_rbv = ai("HistMax_RBV", 255.0, doc="histogram maximum")
    hist_below = longout("HistBelow", doc="counts below HistMin (R3 series)")
    hist_below_rbv = longin("HistBelow_RBV", doc="counts below HistMin (R3 series)")
    hist_above = longout("HistAbove", doc="counts above HistMax (R3 series)")
    hist_above_rbv = longin("HistAbove_RBV", doc="counts above HistMax (R3 series)")
    hist_entropy = ao("HistEntropy", doc="histogram entropy")
    hist_entropy_rbv = ai("HistEntropy_RBV", prec=3, doc="histogram entropy")
    histogram_rbv = waveform("Histogram_RBV", ftvl="DOUBLE", nelm=HIST_SIZE, doc="histogram (NELM $(HIST_SIZE))")
    histogram_x_rbv = waveform("HistogramX_RBV", ftvl="DOUBLE", nelm=HIST_SIZE,
                               doc="histogram bin values (NELM $(HIST_SIZE), R3 series)")
    max_size_x = longin("MaxSizeX", doc="ProfileSizeX_RBV, for the cursor HOPR")
    set_xhopr = dfanout("SetXHOPR", doc="dfanout record: copies MaxSizeX to CursorX.HOPR")
    max_size_y = longin("MaxSizeY", doc="ProfileSizeY_RBV, for the cursor HOPR")
    set_yhopr = dfanout("SetYHOPR", doc="dfanout record: copies MaxSizeY to CursorY.HOPR")
    reset = sseq("Reset", doc="sseq record: resets the statistics (placeholder)")
    reset1 = sseq("Reset1", doc="sseq record: resets the statistics (placeholder)")
    reset2 = sseq("Reset2", doc="sseq record: resets the statistics (R3 series, placeholder)")


    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.time_series: NDTimeSeries | None = None

    def time_series_waveforms(self) -> list:
        """The waveforms of the time series (TSMinValue ... TSTimestamp), in address order."""
        return [self.ts_min_value, self.ts_min_x, self.ts_min_y, self.ts_max_value, self.ts_max_x, self.ts_max_y,
                self.ts_mean_value, self.ts_sigma, self.ts_total, self.ts_net, self.ts_centroid_total,
                self.ts_centroid_x, self.ts_centroid_y, self.ts_sigma_x, self.ts_sigma_y, self.ts_sigma_xy,
                self.ts_skew_x, self.ts_skew_y, self.ts_kurtosis_x, self.ts_kurtosis_y, self.ts_eccentricity,
                self.ts_orientation, self.ts_timestamp]

    def serve_time_series(self, plugin: NDTimeSeries) -> None:
        """``plugin`` (on this port, address 1) shows its series in this template's waveforms,
        and the R2 records (TSControl...) act on it and show its state."""
        self.time_series = plugin
        plugin.publish_to(self.time_series_waveforms())
        plugin.watch(self._show_time_series)

    async def _show_time_series(self, acquiring: bool, current_point: int, num_points: int) -> None:
        await post(self.ts_acquiring, "Acquiring" if acquiring else "Done")
        await post(self.ts_current_point, current_point)
        if self.ts_num_points.value != num_points:  # not through its putter, which sets the plugin's
            await self.ts_num_points.write(num_points, verify_value=False)

    def output_array(self, seen: frozenset = frozenset(), address: int = 0):
        """The arrays it passes on: its input at address 0; at address 1 the statistics of
        :data:`TIME_SERIES`, one Float64 each (NDPluginStats' time-series array)."""
        if address == 1:
            return (len(TIME_SERIES),), np.dtype(np.float64)
        return super().output_array(seen, address)

    def readout_work(self):
        if not (self.enabled and (index(self.compute_statistics) or index(self.compute_centroid))):
            return None
        return functools.partial(physics.stats, centroid_threshold=self.centroid_threshold.value)

    async def process(self, frame: Frame) -> str | None:
        statistics, centroid = index(self.compute_statistics), index(self.compute_centroid)
        s: dict = {}
        if statistics or centroid:
            s = frame.precomputed.get(self.port)
            if s is None:  # settings changed during the exposure, or a frame not from the driver
                loop = asyncio.get_running_loop()
                s = await loop.run_in_executor(None, physics.stats, frame.data, self.centroid_threshold.value)
        ts = frame.timestamp
        if statistics:
            for chan, key in ((self.total_rbv, "total"), (self.net_rbv, "net"), (self.min_value_rbv, "min"),
                              (self.max_value_rbv, "max"), (self.mean_value_rbv, "mean"),
                              (self.sigma_rbv, "sigma"), (self.min_x_rbv, "min_x"), (self.min_y_rbv, "min_y"),
                              (self.max_x_rbv, "max_x"), (self.max_y_rbv, "max_y")):
                await post(chan, s[key], timestamp=ts)
        if centroid:
            for chan, key in ((self.centroid_total_rbv, "centroid_total"), (self.centroid_x_rbv, "centroid_x"),
                              (self.centroid_y_rbv, "centroid_y"), (self.sigma_x_rbv, "sigma_x"),
                              (self.sigma_y_rbv, "sigma_y"), (self.sigma_xy_rbv, "sigma_xy"),
                              (self.skew_x_rbv, "skew_x"), (self.skew_y_rbv, "skew_y"),
                              (self.kurtosis_x_rbv, "kurtosis_x"), (self.kurtosis_y_rbv, "kurtosis_y"),
                              (self.eccentricity_rbv, "eccentricity"), (self.orientation_rbv, "orientation")):
                await post(chan, s[key], timestamp=ts)
        if self.ports.wired_to(self.port, 1):
            # What was not computed is 0, as in NDPluginStats (its NDStats_t starts zeroed).
            values = [s[key] if (statistics and key in _STATISTICS) or (centroid and key in _CENTROID) else 0.0
                      for key in TIME_SERIES[:-1]]
            # Sent whatever ArrayCallbacks says, as NDPluginStats' doCallbacksGenericPointer(..., 1).
            vector = Frame(np.array([*values, ts]), frame.unique_id, ts, path=frame.path + (self.port,))
            return await self.ports.deliver(self.port, vector, address=1)
        return None

    # -- ADCore R2's time-series records, acting on Stats1:TS: --------------------------------

    def _time_series(self, instance) -> NDTimeSeries:
        if self.time_series is None:
            raise ValueError(f"{instance.pvname}: this Stats plugin has no time series plugin")
        return self.time_series

    @ts_control.putter
    async def ts_control(self, instance, value):
        plugin = self._time_series(instance)
        command = ("Erase/Start", "Start", "Stop", "Read")[enum_index(instance, value)]
        if command in ("Erase/Start", "Start"):
            await plugin.start_acquiring(erase=command == "Erase/Start")
        elif command == "Stop":
            await plugin.stop_acquiring()
        else:
            await plugin.read()
        return value

    @ts_read.putter
    async def ts_read(self, instance, value):
        plugin = self._time_series(instance)
        if plugin.acquiring:
            await plugin.read()
        return value

    @ts_num_points.putter
    async def ts_num_points(self, instance, value):
        value = await echo_to_readback(self, instance, value)  # checks the range
        await self._time_series(instance).ts_num_points.write(value)
        return value
