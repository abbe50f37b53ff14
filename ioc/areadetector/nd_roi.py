"""``ROI1:``-``ROI4:``: NDROI.template, a region of the array, binned, reversed, scaled, converted (ADCore NDPluginROI).

The arithmetic is :mod:`.compute.roi`'s. MinX/SizeX/BinX... are read when an array arrives;
after it, MinX_RBV, SizeX_RBV and BinX_RBV show the region used (clamped to the array, as
ADCore clamps it; a clamped binning is also what the next array uses), MaxSizeX_RBV...
the input's size and ArraySizeX/Y/Z_RBV the output's. The output keeps the input's unique
id, time stamp and attributes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import numpy as np

from ..records import echo_to_readback
from ..records.declare import ai, ao, bi, bo, dfanout, longin, longout, mbbi, mbbo, stringin, stringout
from ..records.validate import integer
from .compute import roi as compute
from .compute.ndarray import output_dtype
from .menus import DATA_TYPES_OUT, DISABLE_ENABLE, NO_YES, OK_MINOR
from .nd_plugin_base import NDPluginBase
from .ndarray import Frame, index, post

AXES = "xyz"


class NDROI(NDPluginBase):
    """NDROI.template (which includes NDPluginBase.template)."""

    plugin_type = "NDPluginROI"
    passes_input_on = False
    autosave_fields = tuple(f"{what}{axis}" for axis in "XYZ" for what in (
        "Min", "Size", "Bin", "Reverse", "Enable", "AutoSize")) + ("DataTypeOut", "EnableScale", "Scale",
                                                                    "CollapseDims", "Name")

    name_ = stringout("Name", doc="name of this ROI")
    name_rbv = stringin("Name_RBV", doc="name of this ROI")
    enable_x = bo("EnableX", "Enable", DISABLE_ENABLE, doc="ROI in X: off takes the whole dimension unbinned")
    enable_x_rbv = bi("EnableX_RBV", "Enable", DISABLE_ENABLE, sev=OK_MINOR,
                      doc="ROI in X: off takes the whole dimension unbinned")
    enable_y = bo("EnableY", "Enable", DISABLE_ENABLE, doc="ROI in Y: off takes the whole dimension unbinned")
    enable_y_rbv = bi("EnableY_RBV", "Enable", DISABLE_ENABLE, sev=OK_MINOR,
                      doc="ROI in Y: off takes the whole dimension unbinned")
    enable_z = bo("EnableZ", "Enable", DISABLE_ENABLE, doc="ROI in Z: off takes the whole dimension unbinned")
    enable_z_rbv = bi("EnableZ_RBV", "Enable", DISABLE_ENABLE, sev=OK_MINOR,
                      doc="ROI in Z: off takes the whole dimension unbinned")
    bin_x = longout("BinX", 1, doc="binning in the X dimension (clamped to SizeX)")
    bin_x_rbv = longin("BinX_RBV", 1, doc="binning in the X dimension (clamped to SizeX)")
    bin_y = longout("BinY", 1, doc="binning in the Y dimension (clamped to SizeY)")
    bin_y_rbv = longin("BinY_RBV", 1, doc="binning in the Y dimension (clamped to SizeY)")
    bin_z = longout("BinZ", 1, doc="binning in the Z dimension (clamped to SizeZ)")
    bin_z_rbv = longin("BinZ_RBV", 1, doc="binning in the Z dimension (clamped to SizeZ)")
    min_x = longout("MinX", doc="first pixel of the ROI in X (0 is the first of the array)")
    min_x_rbv = longin("MinX_RBV", doc="first pixel of the ROI in X, as used")
    min_y = longout("MinY", doc="first pixel of the ROI in Y (0 is the first of the array)")
    min_y_rbv = longin("MinY_RBV", doc="first pixel of the ROI in Y, as used")
    min_z = longout("MinZ", doc="first pixel of the ROI in Z (0 is the first of the array)")
    min_z_rbv = longin("MinZ_RBV", doc="first pixel of the ROI in Z, as used")
    size_x = longout("SizeX", 1000000, doc="size of the ROI in X (pixels, before binning)")
    size_x_rbv = longin("SizeX_RBV", 1000000, doc="size of the ROI in X, as used")
    size_y = longout("SizeY", 1000000, doc="size of the ROI in Y (pixels, before binning)")
    size_y_rbv = longin("SizeY_RBV", 1000000, doc="size of the ROI in Y, as used")
    size_z = longout("SizeZ", 1000000, doc="size of the ROI in Z (pixels, before binning)")
    size_z_rbv = longin("SizeZ_RBV", 1000000, doc="size of the ROI in Z, as used")
    auto_size_x = bo("AutoSizeX", "No", NO_YES, doc="SizeX is the input's size minus MinX")
    auto_size_x_rbv = bi("AutoSizeX_RBV", "No", NO_YES, doc="SizeX is the input's size minus MinX")
    auto_size_y = bo("AutoSizeY", "No", NO_YES, doc="SizeY is the input's size minus MinY")
    auto_size_y_rbv = bi("AutoSizeY_RBV", "No", NO_YES, doc="SizeY is the input's size minus MinY")
    auto_size_z = bo("AutoSizeZ", "No", NO_YES, doc="SizeZ is the input's size minus MinZ")
    auto_size_z_rbv = bi("AutoSizeZ_RBV", "No", NO_YES, doc="SizeZ is the input's size minus MinZ")
    max_size_x_rbv = longin("MaxSizeX_RBV", doc="size of the input array in X")
    max_size_y_rbv = longin("MaxSizeY_RBV", doc="size of the input array in Y")
    max_size_z_rbv = longin("MaxSizeZ_RBV", doc="size of the input array in Z")
    max_x = longin("MaxX", doc="MaxSizeX_RBV, for the sliders' HOPR")
    set_xhopr = dfanout("SetXHOPR", doc="dfanout record: copies MaxX to MinX.HOPR and SizeX.HOPR")
    max_y = longin("MaxY", doc="MaxSizeY_RBV, for the sliders' HOPR")
    set_yhopr = dfanout("SetYHOPR", doc="dfanout record: copies MaxY to MinY.HOPR and SizeY.HOPR")
    reverse_x = bo("ReverseX", "No", NO_YES, doc="reverse the ROI in the X dimension")
    reverse_x_rbv = bi("ReverseX_RBV", "No", NO_YES, doc="reverse the ROI in the X dimension")
    reverse_y = bo("ReverseY", "No", NO_YES, doc="reverse the ROI in the Y dimension")
    reverse_y_rbv = bi("ReverseY_RBV", "No", NO_YES, doc="reverse the ROI in the Y dimension")
    reverse_z = bo("ReverseZ", "No", NO_YES, doc="reverse the ROI in the Z dimension")
    reverse_z_rbv = bi("ReverseZ_RBV", "No", NO_YES, doc="reverse the ROI in the Z dimension")
    data_type_out = mbbo("DataTypeOut", "Automatic", DATA_TYPES_OUT,
                         doc="data type of the output (Automatic: the input's)")
    data_type_out_rbv = mbbi("DataTypeOut_RBV", "Automatic", DATA_TYPES_OUT,
                             doc="data type of the output (Automatic: the input's)")
    enable_scale = bo("EnableScale", "Disable", DISABLE_ENABLE, doc="divide the binned sums by Scale")
    enable_scale_rbv = bi("EnableScale_RBV", "Disable", DISABLE_ENABLE, sev=OK_MINOR,
                          doc="divide the binned sums by Scale")
    scale = ao("Scale", 1.0, valid=(-1e300, 1e300, "scale"), doc="the value to divide by with EnableScale")
    scale_rbv = ai("Scale_RBV", 1.0, doc="the value to divide by with EnableScale")
    collapse_dims = bo("CollapseDims", "Disable", DISABLE_ENABLE, doc="remove output dimensions of size 1")
    collapse_dims_rbv = bi("CollapseDims_RBV", "Disable", DISABLE_ENABLE, sev=OK_MINOR,
                           doc="remove output dimensions of size 1")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bins = [1, 1, 1]  # the binning parameters: as written, then as clamped by the last array
        #: Called with (MinX_RBV, MinY_RBV, SizeX_RBV, SizeY_RBV) when they change (records linked to them).
        self.region_listeners: list[Callable[[int, int, int, int], Awaitable[None]]] = []
        self._region: tuple[int, int, int, int] | None = None

    async def region_changed(self) -> None:
        """Tell the listeners where the region is now, if that changed."""
        region = (self.min_x_rbv.value, self.min_y_rbv.value, self.size_x_rbv.value, self.size_y_rbv.value)
        if region != self._region:
            self._region = region
            for listener in self.region_listeners:
                await listener(*region)

    def settings(self) -> compute.RoiSettings:
        """The ROI's parameters now (a copy: the arithmetic may run while they change)."""
        dims = []
        for n, axis in enumerate(AXES):
            dims.append(compute.RoiDim(
                min=int(getattr(self, f"min_{axis}").value), size=int(getattr(self, f"size_{axis}").value),
                bin=int(self.bins[n]),
                reverse=bool(index(getattr(self, f"reverse_{axis}"))),
                enable=bool(index(getattr(self, f"enable_{axis}"))),
                auto_size=bool(index(getattr(self, f"auto_size_{axis}")))))
        return compute.RoiSettings(*dims, data_type=self.data_type_out.value,
                                   enable_scale=bool(index(self.enable_scale)), scale=float(self.scale.value),
                                   collapse_dims=bool(index(self.collapse_dims)))

    def output_of(self, shape, dtype):
        settings = self.settings()
        regions = compute.regions(shape, settings)
        out = [r.out_size for r in regions[::-1]]
        if settings.collapse_dims and len(out) > 1:
            out = [n for n in out if n != 1] or [1]
        return tuple(out), output_dtype(settings.data_type, np.dtype(dtype))

    async def process(self, frame: Frame) -> str | None:
        settings = self.settings()
        result = compute.roi(frame.data, settings, frame.color_mode)
        for n, region in enumerate(result.regions):
            axis = AXES[n]
            if getattr(settings, axis).enable:
                self.bins[n] = region.bin
                await post(getattr(self, f"min_{axis}_rbv"), region.min)
                await post(getattr(self, f"size_{axis}_rbv"), region.size)
                await post(getattr(self, f"bin_{axis}_rbv"), region.bin)
        await self.region_changed()
        for axis, size in zip(AXES, result.max_size, strict=True):
            if size != getattr(self, f"max_size_{axis}_rbv").value:
                await getattr(self, f"max_size_{axis}_rbv").write(size)
                if axis != "z":
                    await getattr(self, f"max_{axis}").write(size)
                    await getattr(self, f"set_{axis}hopr").write(float(size))
        for chan, size in zip((self.array_size_x_rbv, self.array_size_y_rbv, self.array_size_z_rbv),
                              result.array_size, strict=True):
            await post(chan, size)
        return await self.pass_on(frame.derived(result.data, result.color_mode))

    # -- PV hooks ------------------------------------------------------------------------

    async def _put_region(self, instance, value):
        value = await echo_to_readback(self, instance, value)
        await self.region_changed()
        return value

    @min_x.putter
    async def min_x(self, instance, value):
        return await self._put_region(instance, value)

    @min_y.putter
    async def min_y(self, instance, value):
        return await self._put_region(instance, value)

    @size_x.putter
    async def size_x(self, instance, value):
        return await self._put_region(instance, value)

    @size_y.putter
    async def size_y(self, instance, value):
        return await self._put_region(instance, value)

    async def _put_bin(self, instance, value, n: int):
        value = integer(instance.pvname, value, -(2**31), 2**31 - 1, "binning")
        self.bins[n] = value
        return await echo_to_readback(self, instance, value)

    @bin_x.putter
    async def bin_x(self, instance, value):
        return await self._put_bin(instance, value, 0)

    @bin_y.putter
    async def bin_y(self, instance, value):
        return await self._put_bin(instance, value, 1)

    @bin_z.putter
    async def bin_z(self, instance, value):
        return await self._put_bin(instance, value, 2)
