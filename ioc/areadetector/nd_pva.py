"""``Pva1:``: NDPva.template, each frame as an NTNDArray over PV Access (``<prefix>Pva1:Image``; ADCore NDPluginPva).

Its Channel Access PVs (NDPluginBase + ``PvName_RBV``) are always served, as commonPlugins.cmd
loads the plugin in every standard areaDetector IOC; the PV Access server itself runs only
when the IOC is started with ``--pva`` (p4p, the ``pva`` extra, see
:mod:`ioc.server.pvaccess`). Without it ``PvName_RBV`` is empty and frames go nowhere but
the counters, so a client finds out at once that no NTNDArray is served (a real IOC always
serves it; the default install here stays pure Channel Access).

Frames closer together than ``MinCallbackTime`` are skipped, as NDPluginDriver skips
them; each posted NTNDArray carries the frame's unique id, time stamp and
NDAttributes (motor positions, ring current, exposure).
"""

from __future__ import annotations

from ..records.declare import waveform
from ..server.pvaccess import ImageServer
from .nd_plugin_base import NDPluginBase
from .ndarray import Frame, post


class NDPva(NDPluginBase):
    """NDPva.template (which includes NDPluginBase.template): the last frame as an NTNDArray, if ``server`` is given."""

    plugin_type = "NDPluginPva"

    pv_name_rbv = waveform("PvName_RBV", doc="name of the NTNDArray PV")

    def __init__(self, *args, server: ImageServer | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.server = server

    @property
    def image_name(self) -> str:
        """The NTNDArray's PV name: this plugin's prefix + ``Image``."""
        return self.prefix + "Image"

    async def start(self) -> None:
        await super().start()
        if self.server is not None:
            shape, dtype = self.described_array()
            self.server.add_image(self.image_name, shape, dtype)
            await post(self.pv_name_rbv, self.image_name)

    async def process(self, frame: Frame) -> str | None:
        if self.server is None:
            return None
        # Posting copies the frame into p4p's Value and wakes its sender thread.
        self.server.post(self.image_name, frame.data, frame.unique_id, frame.timestamp, frame.attributes)
        return None
