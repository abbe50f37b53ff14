"""``Pva1:``: NDPluginPva, each frame as an NTNDArray over PV Access (``<prefix>dot:Pva1:Image``).

Its Channel Access PVs (NDPluginBase + ``PvName_RBV``, NDPva.template) are always served,
as commonPlugins.cmd loads the plugin in every standard areaDetector IOC; the PV Access
server itself runs only when the IOC is started with ``--pva`` (p4p, the ``pva`` extra,
see :mod:`ioc.pva`). Without it ``PvName_RBV`` is empty and frames go nowhere but the
counters, so a client finds out at once that no NTNDArray is served (a real IOC always
serves it; the default install here stays pure Channel Access).

Frames closer together than ``MinCallbackTime`` are skipped, as NDPluginDriver skips
them; each posted NTNDArray carries the frame's unique id, time stamp and
NDAttributes (motor positions, ring current, exposure).
"""

from __future__ import annotations

from caproto.server import pvproperty

from ..adcore_plugin_records import ND_PVA
from ..adcore_records import ND_PLUGIN_BASE
from ..records import echo_to_readback, records_group
from ..validate import finite
from .common import NUMPY_TYPES, Frame, kw, post
from .plugin import PluginMixin


class NDPva(PluginMixin, records_group("NDPvaRecords", ND_PLUGIN_BASE, ND_PVA)):
    """``Pva1:``: NDPluginPva, the last frame as an NTNDArray over PV Access."""

    plugin_type = "NDPluginPva"
    port_name = "PVA1"

    nd_array_port = pvproperty(**kw(ND_PLUGIN_BASE, "NDArrayPort"))
    min_callback_time = pvproperty(**kw(ND_PLUGIN_BASE, "MinCallbackTime"))

    @property
    def image_name(self) -> str:
        """The NTNDArray's PV name: this plugin's prefix + ``Image``."""
        return self.prefix + "Image"

    def _server(self):
        return getattr(self.parent.parent, "pva_server", None)

    async def process(self, frame: Frame) -> str | None:
        server = self._server()
        if server is None:
            return None
        # Posting copies the frame into p4p's Value and wakes its sender thread: ~0.1-2.4 ms.
        server.post(self.image_name, frame.data, frame.unique_id, frame.timestamp, frame.attributes)
        return None

    @nd_array_port.startup
    async def nd_array_port(self, instance, async_lib):
        await self.init_plugin()
        server = self._server()
        if server is not None:
            rows, cols = self.parent.parent.sensor_shape
            server.add_image(self.image_name, (rows, cols), NUMPY_TYPES[self.parent.cam.data_type.value])
            await post(self.pv_name_rbv, self.image_name)

    @nd_array_port.putter
    async def nd_array_port(self, instance, value):
        return await self._port_put(instance, value)

    @min_callback_time.putter
    async def min_callback_time(self, instance, value):
        value = finite(instance.pvname, value, 0.0, 60.0, "minimum time between callbacks (s)")
        return await echo_to_readback(self, instance, value)
