"""``dot:``: the camera driver and its plugin chain."""

from __future__ import annotations

import asyncio

from caproto.server import PVGroup, SubGroup

from .common import DRIVER_PORT, Frame
from .hdf5 import FileHDF5
from .image import StdArrays
from .plugin import PluginMixin
from .pva import NDPva
from .simmodes import SimModeDriver
from .stats import Stats
from .tiff import FileTIFF


class Camera(PVGroup):
    """``dot:``: the camera driver and its plugin chain."""

    cam = SubGroup(SimModeDriver, prefix="cam1:")  # CamDriver with ADSimDetector's SimMode patterns
    tiff = SubGroup(FileTIFF, prefix="TIFF1:")
    hdf5 = SubGroup(FileHDF5, prefix="HDF1:")
    image = SubGroup(StdArrays, prefix="image1:")
    stats = SubGroup(Stats, prefix="Stats1:")
    pva = SubGroup(NDPva, prefix="Pva1:")

    def plugins(self) -> list[PluginMixin]:
        return [self.tiff, self.hdf5, self.image, self.stats, self.pva]

    def readout_work(self) -> dict:
        """The plugins' per-frame work to do on the readout thread, by plugin port."""
        work = {}
        for plugin in self.plugins():
            func = plugin.readout_work() if plugin.wired_to(DRIVER_PORT) else None
            if func is not None:
                work[plugin.port_name] = func
        return work

    def port_names(self) -> list[str]:
        return [DRIVER_PORT] + [p.port_name for p in self.plugins()]

    async def deliver(self, frame: Frame) -> str | None:
        """Hand a frame to every plugin wired to the driver, all at once (each areaDetector
        plugin has its own thread: TIFF1's file write overlaps Stats1's posts); returns the
        first error in plugin order, if any, once every plugin is done with the frame."""
        wired = [plugin for plugin in self.plugins() if plugin.wired_to(DRIVER_PORT)]
        results = await asyncio.gather(*(plugin.receive(frame) for plugin in wired), return_exceptions=True)
        problems = []
        for plugin, result in zip(wired, results, strict=True):
            if isinstance(result, Exception):  # a plugin's bug must not stop the camera
                result = f"{plugin.prefix}: {type(result).__name__}: {result}"
            elif isinstance(result, BaseException):  # cancelled: the camera stops
                raise result
            if result:
                problems.append(result)
        return problems[0] if problems else None
