"""``Proc1:``: NDProcess.template, background, flat field, offset/scale, clipping, recursive filter (ADCore NDPluginProcess).

The arithmetic is :mod:`.compute.process`'s, on the parameters as they are when an array
arrives. ``SaveBackground``/``SaveFlatField`` keep the plugin's last *output* (ADCore's
pArrays[0]: save with the background and flat field disabled, as ADCore's documentation
says); ``ValidBackground_RBV``/``ValidFlatField_RBV`` say whether it fits the arrays coming
in. ``ResetFilter`` resets the filter at the next array; ``AutoOffsetScale`` measures the
next array and writes Offset, Scale, the clip thresholds and the three enables, as ADCore
does. ``FilterType`` (and each preset's ``...Seq`` record, and ``NumFilter`` through
``NumFilterRecip``) writes the filter coefficients its sequence record writes.

Records ADCore R1-9 had and ophyd's ``ProcessPlugin`` still uses: ``HighClip``/``LowClip``
(the threshold and the value in one), served: a put sets ``HighClipThresh`` and
``HighClipValue`` (``LowClip...``) to it. Reading the background or flat field from a TIFF
file (``ReadBackgroundTIFFSeq``, ``ReadFlatFieldTIFFSeq``) is not simulated: the put is refused.
"""

from __future__ import annotations

import asyncio

import numpy as np

from ..records import echo_to_readback
from ..records.declare import ai, ao, bi, bo, busy, calc, longin, longout, mbbi, mbbo, seq, sseq, stringout
from ..records.validate import integer
from .compute import process as compute
from .compute.ndarray import output_dtype
from .menus import DATA_TYPES_OUT, DISABLE_ENABLE, NO_YES, OK_MINOR
from .nd_plugin_base import NDPluginBase
from .ndarray import Frame, enum_index, index, post

VALID = ("Invalid", "Valid")
COEFFICIENTS = ("oc1", "oc2", "oc3", "oc4", "fc1", "fc2", "fc3", "fc4", "rc1", "rc2")
HEAVY = 1 << 16  # elements: an array larger than this is processed on a worker thread
_FINITE = (-1e300, 1e300, "value")


class NDProcess(NDPluginBase):
    """NDProcess.template (which includes NDPluginBase.template), plus ADCore R1-9's HighClip/LowClip."""

    plugin_type = "NDPluginProcess"
    passes_input_on = False
    autosave_fields = ("DataTypeOut", "EnableBackground", "EnableFlatField", "ScaleFlatField", "EnableOffsetScale",
                       "Offset", "Scale", "EnableLowClip", "LowClipThresh", "LowClipValue", "EnableHighClip",
                       "HighClipThresh", "HighClipValue", "EnableFilter", "FilterType", "NumFilter",
                       "AutoResetFilter", "FilterCallbacks", "OOffset", "OScale", "OC1", "OC2", "OC3", "OC4",
                       "FOffset", "FScale", "FC1", "FC2", "FC3", "FC4", "ROffset", "RC1", "RC2")

    data_type_out = mbbo("DataTypeOut", "Automatic", DATA_TYPES_OUT,
                         doc="data type of the output (Automatic: the input's)")
    data_type_out_rbv = mbbi("DataTypeOut_RBV", "Automatic", DATA_TYPES_OUT,
                             doc="data type of the output (Automatic: the input's)")
    save_background = bo("SaveBackground", "Yes", NO_YES, doc="keep the last output array as the background")
    save_background_rbv = bi("SaveBackground_RBV", "Yes", NO_YES, doc="keep the last output array as the background")
    enable_background = bo("EnableBackground", "Disable", DISABLE_ENABLE, doc="subtract the background")
    enable_background_rbv = bi("EnableBackground_RBV", "Disable", DISABLE_ENABLE, sev=OK_MINOR,
                               doc="subtract the background")
    valid_background_rbv = bi("ValidBackground_RBV", "Invalid", VALID,
                              doc="a background of the input's size was saved")
    read_background_tiff_seq = sseq("ReadBackgroundTIFFSeq",
                                    doc="sseq record: read the background from a TIFF file (not simulated)")
    save_flat_field = bo("SaveFlatField", "Yes", NO_YES, doc="keep the last output array as the flat field")
    save_flat_field_rbv = bi("SaveFlatField_RBV", "Yes", NO_YES, doc="keep the last output array as the flat field")
    enable_flat_field = bo("EnableFlatField", "Disable", DISABLE_ENABLE,
                           doc="divide by the flat field, times ScaleFlatField")
    enable_flat_field_rbv = bi("EnableFlatField_RBV", "Disable", DISABLE_ENABLE, sev=OK_MINOR,
                               doc="divide by the flat field, times ScaleFlatField")
    valid_flat_field_rbv = bi("ValidFlatField_RBV", "Invalid", VALID,
                              doc="a flat field of the input's size was saved")
    read_flat_field_tiff_seq = sseq("ReadFlatFieldTIFFSeq",
                                    doc="sseq record: read the flat field from a TIFF file (not simulated)")
    scale_flat_field = ao("ScaleFlatField", 255.0, valid=_FINITE, doc="multiplies the array divided by the flat field")
    scale_flat_field_rbv = ai("ScaleFlatField_RBV", 255.0, doc="multiplies the array divided by the flat field")
    enable_offset_scale = bo("EnableOffsetScale", "Disable", DISABLE_ENABLE, doc="add Offset, then multiply by Scale")
    enable_offset_scale_rbv = bi("EnableOffsetScale_RBV", "Disable", DISABLE_ENABLE, sev=OK_MINOR,
                                 doc="add Offset, then multiply by Scale")
    auto_offset_scale = busy("AutoOffsetScale", "Done", ("Done", "Calculating"),
                             doc="busy record: Offset and Scale from the next array's min and max")
    offset = ao("Offset", prec=2, valid=_FINITE, doc="the offset to add")
    offset_rbv = ai("Offset_RBV", prec=2, doc="the offset to add")
    scale = ao("Scale", 1.0, prec=2, valid=_FINITE, doc="the scale factor to multiply by")
    scale_rbv = ai("Scale_RBV", 1.0, prec=2, doc="the scale factor to multiply by")
    enable_low_clip = bo("EnableLowClip", "Disable", DISABLE_ENABLE,
                         doc="values below LowClipThresh become LowClipValue")
    enable_low_clip_rbv = bi("EnableLowClip_RBV", "Disable", DISABLE_ENABLE, sev=OK_MINOR,
                             doc="values below LowClipThresh become LowClipValue")
    low_clip_thresh = ao("LowClipThresh", valid=_FINITE, doc="the low clipping threshold")
    low_clip_thresh_rbv = ai("LowClipThresh_RBV", doc="the low clipping threshold")
    low_clip_value = ao("LowClipValue", valid=_FINITE, doc="the low clipping replacement value")
    low_clip_value_rbv = ai("LowClipValue_RBV", doc="the low clipping replacement value")
    low_clip = ao("LowClip", valid=_FINITE, doc="threshold and value of the low clip (ADCore R1-9)")
    low_clip_rbv = ai("LowClip_RBV", doc="threshold and value of the low clip (ADCore R1-9)")
    enable_high_clip = bo("EnableHighClip", "Disable", DISABLE_ENABLE,
                          doc="values above HighClipThresh become HighClipValue")
    enable_high_clip_rbv = bi("EnableHighClip_RBV", "Disable", DISABLE_ENABLE, sev=OK_MINOR,
                              doc="values above HighClipThresh become HighClipValue")
    high_clip_thresh = ao("HighClipThresh", 100.0, valid=_FINITE, doc="the high clipping threshold")
    high_clip_thresh_rbv = ai("HighClipThresh_RBV", 100.0, doc="the high clipping threshold")
    high_clip_value = ao("HighClipValue", 100.0, valid=_FINITE, doc="the high clipping replacement value")
    high_clip_value_rbv = ai("HighClipValue_RBV", 100.0, doc="the high clipping replacement value")
    high_clip = ao("HighClip", 100.0, valid=_FINITE, doc="threshold and value of the high clip (ADCore R1-9)")
    high_clip_rbv = ai("HighClip_RBV", 100.0, doc="threshold and value of the high clip (ADCore R1-9)")
    enable_filter = bo("EnableFilter", "Disable", DISABLE_ENABLE, doc="process the arrays with the recursive filter")
    enable_filter_rbv = bi("EnableFilter_RBV", "Disable", DISABLE_ENABLE, sev=OK_MINOR,
                           doc="process the arrays with the recursive filter")
    reset_filter = bo("ResetFilter", "Yes", NO_YES, doc="reset the filter at the next array")
    reset_filter_rbv = bi("ResetFilter_RBV", "Yes", NO_YES, doc="reset the filter at the next array")
    auto_reset_filter = bo("AutoResetFilter", "No", NO_YES, doc="reset the filter when NumFiltered reaches NumFilter")
    auto_reset_filter_rbv = bi("AutoResetFilter_RBV", "No", NO_YES,
                               doc="reset the filter when NumFiltered reaches NumFilter")
    filter_callbacks = bo("FilterCallbacks", "Every array", compute.FILTER_CALLBACKS,
                          doc="pass on every array, or only the NumFilter'th")
    filter_callbacks_rbv = bi("FilterCallbacks_RBV", "Every array", compute.FILTER_CALLBACKS,
                              doc="pass on every array, or only the NumFilter'th")
    num_filter = longout("NumFilter", 1, doc="the characteristic number of arrays of the filter")
    num_filter_rbv = longin("NumFilter_RBV", 1, doc="the characteristic number of arrays of the filter")
    num_filter_recip = calc("NumFilterRecip", 1.0, doc="calc record: 1/NumFilter, for the Average preset")
    num_filtered_rbv = longin("NumFiltered_RBV", doc="arrays filtered since the filter was last reset")
    filter_type = mbbo("FilterType", "RecursiveAve", compute.FILTER_TYPES,
                       doc="writes the preset coefficients of a filter type")
    filter_type_seq = seq("FilterTypeSeq", doc="seq record: processes the sequence of FilterType")
    recursive_ave_seq = seq("RecursiveAveSeq", doc="seq record: writes the RecursiveAve coefficients")
    average_seq = seq("AverageSeq", doc="seq record: writes the Average coefficients")
    sum_seq = seq("SumSeq", doc="seq record: writes the Sum coefficients")
    difference_seq = seq("DifferenceSeq", doc="seq record: writes the Difference coefficients")
    recursive_ave_diff_seq = seq("RecursiveAveDiffSeq", doc="seq record: writes the RecursiveAveDiff coefficients")
    copy_to_filter_seq = seq("CopyToFilterSeq", doc="seq record: writes the CopyToFilter coefficients")
    o_offset = ao("OOffset", prec=2, valid=_FINITE, doc="output offset coefficient")
    o_offset_rbv = ai("OOffset_RBV", prec=2, doc="output offset coefficient")
    o_scale = ao("OScale", 1.0, prec=2, valid=_FINITE, doc="output scale coefficient")
    o_scale_rbv = ai("OScale_RBV", 1.0, prec=2, doc="output scale coefficient")
    oc1 = ao("OC1", 1.0, prec=2, valid=_FINITE, doc="output coefficient #1")
    oc1_rbv = ai("OC1_RBV", 1.0, prec=2, doc="output coefficient #1")
    oc2 = ao("OC2", -1.0, prec=2, valid=_FINITE, doc="output coefficient #2")
    oc2_rbv = ai("OC2_RBV", -1.0, prec=2, doc="output coefficient #2")
    oc3 = ao("OC3", prec=2, valid=_FINITE, doc="output coefficient #3")
    oc3_rbv = ai("OC3_RBV", prec=2, doc="output coefficient #3")
    oc4 = ao("OC4", 1.0, prec=2, valid=_FINITE, doc="output coefficient #4")
    oc4_rbv = ai("OC4_RBV", 1.0, prec=2, doc="output coefficient #4")
    f_offset = ao("FOffset", prec=2, valid=_FINITE, doc="filter offset coefficient")
    f_offset_rbv = ai("FOffset_RBV", prec=2, doc="filter offset coefficient")
    f_scale = ao("FScale", 1.0, prec=2, valid=_FINITE, doc="filter scale coefficient")
    f_scale_rbv = ai("FScale_RBV", 1.0, prec=2, doc="filter scale coefficient")
    fc1 = ao("FC1", 1.0, prec=2, valid=_FINITE, doc="filter coefficient #1")
    fc1_rbv = ai("FC1_RBV", 1.0, prec=2, doc="filter coefficient #1")
    fc2 = ao("FC2", -1.0, prec=2, valid=_FINITE, doc="filter coefficient #2")
    fc2_rbv = ai("FC2_RBV", -1.0, prec=2, doc="filter coefficient #2")
    fc3 = ao("FC3", prec=2, valid=_FINITE, doc="filter coefficient #3")
    fc3_rbv = ai("FC3_RBV", prec=2, doc="filter coefficient #3")
    fc4 = ao("FC4", 1.0, prec=2, valid=_FINITE, doc="filter coefficient #4")
    fc4_rbv = ai("FC4_RBV", 1.0, prec=2, doc="filter coefficient #4")
    r_offset = ao("ROffset", prec=2, valid=_FINITE, doc="reset offset coefficient")
    r_offset_rbv = ai("ROffset_RBV", prec=2, doc="reset offset coefficient")
    rc1 = ao("RC1", 1.0, prec=2, valid=_FINITE, doc="reset coefficient #1")
    rc1_rbv = ai("RC1_RBV", 1.0, prec=2, doc="reset coefficient #1")
    rc2 = ao("RC2", 1.0, prec=2, valid=_FINITE, doc="reset coefficient #2")
    rc2_rbv = ai("RC2_RBV", 1.0, prec=2, doc="reset coefficient #2")
    port_backup = stringout("PortBackup", doc="NDArrayPort kept while a TIFF file is read (not simulated)")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.proc = compute.Process()
        self._reset_filter = False  # ResetFilter written: the next array resets the filter
        self._auto_offset_scale = False

    async def start(self) -> None:
        await super().start()
        # The command records' VAL is 1 in the template, but nothing was done yet.
        for chan in (self.save_background_rbv, self.save_flat_field_rbv, self.reset_filter_rbv):
            await chan.write(0)

    def settings(self) -> compute.ProcessSettings:
        """The parameters now, as a fresh object (the arithmetic may run while they change)."""
        s = compute.ProcessSettings(
            data_type=self.data_type_out.value, enable_background=bool(index(self.enable_background)),
            enable_flat_field=bool(index(self.enable_flat_field)), scale_flat_field=self.scale_flat_field.value,
            enable_offset_scale=bool(index(self.enable_offset_scale)), auto_offset_scale=self._auto_offset_scale,
            offset=self.offset.value, scale=self.scale.value, enable_low_clip=bool(index(self.enable_low_clip)),
            low_clip_thresh=self.low_clip_thresh.value, low_clip_value=self.low_clip_value.value,
            enable_high_clip=bool(index(self.enable_high_clip)), high_clip_thresh=self.high_clip_thresh.value,
            high_clip_value=self.high_clip_value.value, enable_filter=bool(index(self.enable_filter)),
            reset_filter=self._reset_filter, auto_reset_filter=bool(index(self.auto_reset_filter)),
            filter_callbacks=self.filter_callbacks.value, num_filter=self.num_filter.value)
        for name in ("o_offset", "o_scale", "f_offset", "f_scale", "r_offset") + COEFFICIENTS:
            setattr(s, name, getattr(self, name).value)
        return s

    def output_of(self, shape, dtype):
        return shape, output_dtype(self.data_type_out.value, np.dtype(dtype))

    async def process(self, frame: Frame) -> str | None:
        before = self.settings()
        self.proc.settings = after = before.copy()
        self._reset_filter = self._auto_offset_scale = False
        if frame.data.size > HEAVY and (after.enable_filter or after.enable_flat_field or after.auto_offset_scale):
            out = await asyncio.get_running_loop().run_in_executor(None, self.proc.process, frame.data)
        else:
            out = self.proc.process(frame.data)
        await self._write_back(before, after)
        n = frame.data.size
        await post(self.valid_background_rbv, int(self.proc.valid_background(n)))
        await post(self.valid_flat_field_rbv, int(self.proc.valid_flat_field(n)))
        await post(self.num_filtered_rbv, self.proc.num_filtered)
        if out is None:  # FilterCallbacks "Array N only", and this is not the N'th
            return None
        return await self.pass_on(frame.derived(out))

    async def _write_back(self, before: compute.ProcessSettings, after: compute.ProcessSettings) -> None:
        """What the arithmetic wrote into the parameters (ResetFilter, AutoOffsetScale's results)."""
        if before.reset_filter:
            await self.reset_filter_rbv.write(0)
        if before.auto_offset_scale:
            for name in ("offset", "scale", "low_clip_thresh", "high_clip_thresh"):
                await self._set(name, getattr(after, name))
            for name in ("enable_offset_scale", "enable_low_clip", "enable_high_clip"):
                await self._set(name, int(getattr(after, name)))
            await self.auto_offset_scale.write("Done", verify_value=False)

    async def _set(self, name: str, value) -> None:
        """A setting and its readback written by the plugin itself."""
        await getattr(self, name).write(value, verify_value=False)
        await getattr(self, name + "_rbv").write(value)

    async def apply_filter_type(self, filter_type: str) -> None:
        """The coefficients FilterType's sequence record writes (for NumFilter now)."""
        for name, value in compute.filter_preset(filter_type, self.num_filter.value).items():
            await self._set(name, value)

    # -- PV hooks ------------------------------------------------------------------------

    @save_background.putter
    async def save_background(self, instance, value):
        if enum_index(instance, value):
            async with self.array_lock():
                valid = self.proc.save_background()
            await self.save_background_rbv.write(0)
            await self.valid_background_rbv.write(int(valid))
        return value

    @save_flat_field.putter
    async def save_flat_field(self, instance, value):
        if enum_index(instance, value):
            async with self.array_lock():
                valid = self.proc.save_flat_field()
            await self.save_flat_field_rbv.write(0)
            await self.valid_flat_field_rbv.write(int(valid))
        return value

    @reset_filter.putter
    async def reset_filter(self, instance, value):
        self._reset_filter = bool(enum_index(instance, value))
        return await echo_to_readback(self, instance, value)

    @auto_offset_scale.putter
    async def auto_offset_scale(self, instance, value):
        self._auto_offset_scale = bool(enum_index(instance, value))
        return value

    @filter_type.putter
    async def filter_type(self, instance, value):
        await self.apply_filter_type(instance.enum_strings[enum_index(instance, value)])
        return value

    @num_filter.putter
    async def num_filter(self, instance, value):
        value = integer(instance.pvname, value, 0, 2**31 - 1, "number of arrays to filter")
        await echo_to_readback(self, instance, value)
        await instance.write(value, verify_value=False)
        await self.num_filter_recip.write(1.0 / value if value else float("inf"))
        await self.apply_filter_type(self.filter_type.value)  # NumFilterRecip's FLNK processes FilterType
        return value

    async def _seq(self, filter_type: str, value):
        await self.apply_filter_type(filter_type)
        return value

    @filter_type_seq.putter
    async def filter_type_seq(self, instance, value):
        return await self._seq(self.filter_type.value, value)

    @recursive_ave_seq.putter
    async def recursive_ave_seq(self, instance, value):
        return await self._seq("RecursiveAve", value)

    @average_seq.putter
    async def average_seq(self, instance, value):
        return await self._seq("Average", value)

    @sum_seq.putter
    async def sum_seq(self, instance, value):
        return await self._seq("Sum", value)

    @difference_seq.putter
    async def difference_seq(self, instance, value):
        return await self._seq("Difference", value)

    @recursive_ave_diff_seq.putter
    async def recursive_ave_diff_seq(self, instance, value):
        return await self._seq("RecursiveAveDiff", value)

    @copy_to_filter_seq.putter
    async def copy_to_filter_seq(self, instance, value):
        return await self._seq("CopyToFilter", value)

    @high_clip.putter
    async def high_clip(self, instance, value):
        value = await echo_to_readback(self, instance, value)
        await self._set("high_clip_thresh", value)
        await self._set("high_clip_value", value)
        return value

    @low_clip.putter
    async def low_clip(self, instance, value):
        value = await echo_to_readback(self, instance, value)
        await self._set("low_clip_thresh", value)
        await self._set("low_clip_value", value)
        return value

    async def _refuse_tiff(self, instance, value):
        if value:
            raise ValueError(f"{instance.pvname}: reading a background or flat field from a TIFF file is not "
                             "simulated (SaveBackground/SaveFlatField keep the last output array)")
        return value

    @read_background_tiff_seq.putter
    async def read_background_tiff_seq(self, instance, value):
        return await self._refuse_tiff(instance, value)

    @read_flat_field_tiff_seq.putter
    async def read_flat_field_tiff_seq(self, instance, value):
        return await self._refuse_tiff(instance, value)
