"""``Stats1:``: NDPluginStats, the frame's statistics and centroid."""

from __future__ import annotations

import asyncio
import functools

from caproto.server import pvproperty

from .. import physics
from ..adcore_records import ND_PLUGIN_BASE, ND_STATS
from ..records import echo_to_readback, records_group
from ..validate import finite
from .common import Frame, index, kw, post
from .plugin import PluginMixin


class Stats(PluginMixin, records_group("NDStatsRecords", ND_PLUGIN_BASE, ND_STATS)):
    """``Stats1:``: NDPluginStats, the frame's statistics and centroid."""

    plugin_type = "NDPluginStats"
    port_name = "STATS1"

    nd_array_port = pvproperty(**kw(ND_PLUGIN_BASE, "NDArrayPort"))
    centroid_threshold = pvproperty(**kw(ND_STATS, "CentroidThreshold"))
    compute_centroid = pvproperty(put=echo_to_readback, **kw(ND_STATS, "ComputeCentroid"))
    compute_statistics = pvproperty(put=echo_to_readback, **kw(ND_STATS, "ComputeStatistics"))

    def readout_work(self):
        if not (self.enabled and (index(self.compute_statistics) or index(self.compute_centroid))):
            return None
        return functools.partial(physics.stats, centroid_threshold=self.centroid_threshold.value)

    async def process(self, frame: Frame) -> str | None:
        if not (index(self.compute_statistics) or index(self.compute_centroid)):
            return None
        s = frame.precomputed.get(self.port_name)
        if s is None:  # settings changed during the exposure, or a frame not from the driver
            loop = asyncio.get_running_loop()
            s = await loop.run_in_executor(None, physics.stats, frame.data, self.centroid_threshold.value)
        ts = frame.timestamp
        if index(self.compute_statistics):
            for chan, key in ((self.total_rbv, "total"), (self.net_rbv, "net"), (self.min_value_rbv, "min"),
                              (self.max_value_rbv, "max"), (self.mean_value_rbv, "mean"),
                              (self.sigma_rbv, "sigma"), (self.min_x_rbv, "min_x"), (self.min_y_rbv, "min_y"),
                              (self.max_x_rbv, "max_x"), (self.max_y_rbv, "max_y")):
                await post(chan, s[key], timestamp=ts)
        if index(self.compute_centroid):
            for chan, key in ((self.centroid_x_rbv, "centroid_x"), (self.centroid_y_rbv, "centroid_y"),
                              (self.sigma_x_rbv, "sigma_x"), (self.sigma_y_rbv, "sigma_y")):
                await post(chan, s[key], timestamp=ts)
        return None

    @nd_array_port.startup
    async def nd_array_port(self, instance, async_lib):
        await self.init_plugin()

    @nd_array_port.putter
    async def nd_array_port(self, instance, value):
        return await self._port_put(instance, value)

    @centroid_threshold.putter
    async def centroid_threshold(self, instance, value):
        value = finite(instance.pvname, value, -1e300, 1e300, "centroid threshold")
        return await echo_to_readback(self, instance, value)

