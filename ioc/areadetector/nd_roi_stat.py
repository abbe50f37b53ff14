"""``ROIStat1:``: NDROIStat.template and its regions ``1:``-``8:`` (NDROIStatN.template) (ADCore NDPluginROIStat).

The arithmetic is :mod:`.compute.roi_stat`'s: for each region in ``Use``, the total, min,
max, mean and net (less a background ``BgdWidth`` pixels wide) of that part of a 1-D or
2-D array, posted on the region's ``Total_RBV``... at each array, with the region as used
(clamped to the array) on ``MinX_RBV``/``SizeX_RBV``. The time series (``TSControl``)
records each region's numbers array by array, up to ``TSNumPoints``, on ``TSTotal``...
The array passes on unchanged.
"""

from __future__ import annotations

from ..records import Macro, RecordGroup, echo_to_readback
from ..records.declare import ai, bi, bo, longin, longout, mbbo, stringout, waveform
from ..records.validate import integer
from .compute import roi_stat as compute
from .menus import NO_YES, OK_MINOR
from .nd_plugin_base import NDPluginBase
from .ndarray import Frame, enum_index, post, text

REGIONS = 8  # NDROIStatConfigure's maxROIs in ADCore's example IOC
NCHANS = 2048  # time-series points ($(NCHANS) of EXAMPLE_commonPlugins.cmd)
RESULTS = (("min_value_rbv", "min"), ("max_value_rbv", "max"), ("mean_value_rbv", "mean"), ("total_rbv", "total"),
           ("net_rbv", "net"))
SERIES = (("ts_min_value", "min"), ("ts_max_value", "max"), ("ts_mean_value", "mean"), ("ts_total", "total"),
          ("ts_net", "net"), ("ts_timestamp", "timestamp"))


class NDROIStatN(RecordGroup):
    """NDROIStatN.template: one region of an NDROIStat plugin, ``region`` its parameters."""

    asg = "HARDWARE"  # access security group (the ACF's): its plugin's (a standalone group, not a subgroup)

    use = bo("Use", "No", NO_YES, doc="compute this region's statistics")
    use_rbv = bi("Use_RBV", "No", NO_YES, doc="compute this region's statistics")
    name_ = stringout("Name", doc="the name of this region")
    reset = bo("Reset", doc="set this region's statistics to 0")
    bgd_width = longout("BgdWidth", doc="width of the border for the background of Net (pixels; 0: none)")
    bgd_width_rbv = longin("BgdWidth_RBV", doc="width of the border for the background of Net (pixels; 0: none)")
    min_x = longout("MinX", doc="first pixel of the region in X")
    min_x_rbv = longin("MinX_RBV", doc="first pixel of the region in X, as used")
    min_y = longout("MinY", doc="first pixel of the region in Y")
    min_y_rbv = longin("MinY_RBV", doc="first pixel of the region in Y, as used")
    size_x = longout("SizeX", 1, doc="size of the region in X (pixels)")
    size_x_rbv = longin("SizeX_RBV", 1, doc="size of the region in X, as used")
    size_y = longout("SizeY", 1, doc="size of the region in Y (pixels)")
    size_y_rbv = longin("SizeY_RBV", 1, doc="size of the region in Y, as used")
    max_size_x_rbv = longin("MaxSizeX_RBV", doc="size of the input array in X")
    max_size_y_rbv = longin("MaxSizeY_RBV", doc="size of the input array in Y")
    min_value_rbv = ai("MinValue_RBV", doc="minimum value in the region")
    max_value_rbv = ai("MaxValue_RBV", doc="maximum value in the region")
    mean_value_rbv = ai("MeanValue_RBV", doc="mean value in the region")
    total_rbv = ai("Total_RBV", doc="sum of the values in the region")
    net_rbv = ai("Net_RBV", doc="total less the background of the border BgdWidth wide")
    ts_min_value = waveform("TSMinValue", ftvl="DOUBLE", nelm=Macro("NCHANS"), input=True,
                            doc="time series of MinValue")
    ts_max_value = waveform("TSMaxValue", ftvl="DOUBLE", nelm=Macro("NCHANS"), input=True,
                            doc="time series of MaxValue")
    ts_mean_value = waveform("TSMeanValue", ftvl="DOUBLE", nelm=Macro("NCHANS"), input=True,
                             doc="time series of MeanValue")
    ts_total = waveform("TSTotal", ftvl="DOUBLE", nelm=Macro("NCHANS"), input=True, doc="time series of Total")
    ts_net = waveform("TSNet", ftvl="DOUBLE", nelm=Macro("NCHANS"), input=True, doc="time series of Net")
    ts_timestamp = waveform("TSTimestamp", ftvl="DOUBLE", nelm=Macro("NCHANS"), input=True,
                            doc="time series of the arrays' time stamps")

    def __init__(self, prefix: str, *, region: compute.RoiStatRegion, macros: dict | None = None) -> None:
        super().__init__(prefix, macros=macros)
        self.region = region

    async def publish(self, result: compute.RoiStatResult) -> None:
        """One array's numbers for this region."""
        for attr, key in RESULTS:
            await post(getattr(self, attr), getattr(result, key))
        for attr in ("min_x", "min_y", "size_x", "size_y", "max_size_x", "max_size_y"):
            await post(getattr(self, attr + "_rbv"), getattr(result, attr))

    async def clear(self) -> None:
        for attr, _ in RESULTS:
            await post(getattr(self, attr), 0.0)

    async def publish_series(self, series: dict) -> None:
        for attr, key in SERIES:
            await getattr(self, attr).write(series[key])

    async def _setting(self, instance, value, attr: str):
        value = integer(instance.pvname, value, -(2**31), 2**31 - 1, instance.pvspec.doc)
        setattr(self.region, attr, int(value))
        return await echo_to_readback(self, instance, value)

    @use.putter
    async def use(self, instance, value):
        self.region.use = bool(enum_index(instance, value))
        return await echo_to_readback(self, instance, value)

    @name_.putter
    async def name_(self, instance, value):
        self.region.name = text(value)
        return value

    @reset.putter
    async def reset(self, instance, value):
        await self.clear()
        return value

    @bgd_width.putter
    async def bgd_width(self, instance, value):
        return await self._setting(instance, value, "bgd_width")

    @min_x.putter
    async def min_x(self, instance, value):
        return await self._setting(instance, value, "min_x")

    @min_y.putter
    async def min_y(self, instance, value):
        return await self._setting(instance, value, "min_y")

    @size_x.putter
    async def size_x(self, instance, value):
        return await self._setting(instance, value, "size_x")

    @size_y.putter
    async def size_y(self, instance, value):
        return await self._setting(instance, value, "size_y")


class NDROIStat(NDPluginBase):
    """NDROIStat.template (which includes NDPluginBase.template), with ``REGIONS`` regions at ``1:``...``8:``."""

    plugin_type = "NDPluginROIStat"
    autosave_fields = ("TSNumPoints",) + tuple(f"{n}:{name}" for n in range(1, REGIONS + 1) for name in (
        "Use", "Name", "MinX", "MinY", "SizeX", "SizeY", "BgdWidth"))

    reset_all = bo("ResetAll", doc="set every region's statistics to 0")
    ts_control = mbbo("TSControl", "Erase/Start", compute.TS_CONTROL, doc="time series: erase, start, stop, read")
    ts_read = longout("TSRead", 3, doc="writes Read to TSControl while the time series is acquiring")
    ts_num_points = longout("TSNumPoints", Macro("NCHANS"), doc="points of the time series (at most $(NCHANS))")
    ts_current_point = longin("TSCurrentPoint", doc="the time series' next point")
    ts_acquiring = bi("TSAcquiring", "Done", ("Done", "Acquiring"), sev=OK_MINOR,
                      doc="the time series is being recorded")

    def __init__(self, prefix: str, *, macros: dict | None = None, **kwargs) -> None:
        macros = {"NCHANS": NCHANS, **(macros or {})}
        super().__init__(prefix, macros=macros, **kwargs)
        self.stats = compute.RoiStat(REGIONS, int(self.ts_num_points.value))
        self.regions = [NDROIStatN(f"{prefix}{n + 1}:", region=region, macros=self.macros)
                        for n, region in enumerate(self.stats.regions)]
        for region in self.regions:
            self.pvdb.update(region.pvdb)

    async def process(self, frame: Frame) -> str | None:
        if frame.data.ndim not in (1, 2):
            return None  # NDPluginROIStat computes nothing for other arrays, and says nothing
        results, publish = self.stats.process(frame.data, frame.timestamp)
        for group, result in zip(self.regions, results, strict=True):
            if result is not None:
                await group.publish(result)
        await post(self.ts_current_point, min(self.stats.ts_current_point, self.stats.ts_num_points))
        if publish:
            await self.publish_series()
        return None

    async def publish_series(self) -> None:
        await post(self.ts_acquiring, int(self.stats.ts_acquiring))
        for n, group in enumerate(self.regions):
            await group.publish_series({key: self.stats.series(n, key) for key in compute.TS_QUANTITIES})

    @reset_all.putter
    async def reset_all(self, instance, value):
        for group in self.regions:
            await group.clear()
        return value

    @ts_control.putter
    async def ts_control(self, instance, value):
        command = instance.enum_strings[enum_index(instance, value)]
        async with self.array_lock():
            publish = self.stats.ts_control(command)
            await post(self.ts_acquiring, int(self.stats.ts_acquiring))
            await post(self.ts_current_point, min(self.stats.ts_current_point, self.stats.ts_num_points))
            if publish:
                await self.publish_series()
        return value

    @ts_read.putter
    async def ts_read(self, instance, value):
        if self.stats.ts_acquiring:  # SDIS: TSAcquiring; disabled (does nothing) while it is Done
            await self.ts_control.write("Read")
        return value

    @ts_num_points.putter
    async def ts_num_points(self, instance, value):
        value = integer(instance.pvname, value, 0, self.regions[0].ts_total.max_length, "time series points")
        async with self.array_lock():
            self.stats.set_ts_num_points(value)
        return value
