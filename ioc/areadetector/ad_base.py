"""ADBase.template: the records of every areaDetector driver (ADCore), and what they do.

The exposure, period and image counts, the detector's state and status message, and the
region of the sensor read out (MinX/Y, SizeX/Y, BinX/Y, clipped to the sensor as ADDriver
does; ArraySizeX/Y_RBV follow). Start-up values are the template's, with the full sensor
as the region (macros ``XSIZE``, ``YSIZE``). A driver (:mod:`.driver`) acquires through the
methods below the declarations.
"""

from __future__ import annotations

import numpy as np

from ..records import Macro, echo_to_readback, utf8_fit
from ..records.declare import ai, ao, asyn, bi, bo, calcout, fanout, longin, longout, mbbi, mbbo, waveform
from ..records.validate import integer
from .menus import DETECTOR_STATE_SEVERITIES, DETECTOR_STATES, NO_YES, OK_MINOR
from .nd_array_base import NDArrayBase
from .ndarray import MAX_EXPOSURE, MAX_IMAGES, NUMPY_TYPES, enum_index, post


class ADBase(NDArrayBase):
    """ADBase.template (which includes NDArrayBase.template) for a sensor of ``YSIZE`` x ``XSIZE`` pixels."""

    max_size_x_rbv = longin("MaxSizeX_RBV", Macro("XSIZE"), doc="maximum image width (driver)")
    max_size_y_rbv = longin("MaxSizeY_RBV", Macro("YSIZE"), doc="maximum image height (driver)")
    bin_x = longout("BinX", 1, doc="binning X")
    bin_x_rbv = longin("BinX_RBV", 1, doc="binning X")
    bin_y = longout("BinY", 1, doc="binning Y")
    bin_y_rbv = longin("BinY_RBV", 1, doc="binning Y")
    min_x = longout("MinX", doc="region start X")
    min_x_rbv = longin("MinX_RBV", doc="region start X")
    min_y = longout("MinY", doc="region start Y")
    min_y_rbv = longin("MinY_RBV", doc="region start Y")
    size_x = longout("SizeX", Macro("XSIZE"),
                     doc="region size X (template VAL 1; full frame as the driver and autosave set)")
    size_x_rbv = longin("SizeX_RBV", Macro("XSIZE"),
                        doc="region size X (template VAL 1; full frame as the driver and autosave set)")
    size_y = longout("SizeY", Macro("YSIZE"),
                     doc="region size Y (template VAL 1; full frame as the driver and autosave set)")
    size_y_rbv = longin("SizeY_RBV", Macro("YSIZE"),
                        doc="region size Y (template VAL 1; full frame as the driver and autosave set)")
    reverse_x = bo("ReverseX", "No", NO_YES, doc="reverse image in X")
    reverse_x_rbv = bi("ReverseX_RBV", "No", NO_YES, doc="reverse image in X")
    reverse_y = bo("ReverseY", "No", NO_YES, doc="reverse image in Y")
    reverse_y_rbv = bi("ReverseY_RBV", "No", NO_YES, doc="reverse image in Y")
    acquire_time = ao("AcquireTime", 1.0, prec=3,
                      limits=(0.0, MAX_EXPOSURE), valid=(0.0, MAX_EXPOSURE, "exposure time (s)"),
                      doc="acquisition (exposure) time, s")
    acquire_time_rbv = ai("AcquireTime_RBV", 1.0, prec=3, doc="acquisition (exposure) time, s")
    acquire_period = ao("AcquirePeriod", prec=3,
                        limits=(0.0, MAX_EXPOSURE), valid=(0.0, MAX_EXPOSURE, "acquire period (s)"),
                        doc="acquisition period, s")
    acquire_period_rbv = ai("AcquirePeriod_RBV", prec=3, doc="acquisition period, s")
    time_remaining_rbv = ai("TimeRemaining_RBV", prec=3, doc="time remaining in acquisition")
    gain = ao("Gain", 1.0, prec=3, doc="detector gain")
    gain_rbv = ai("Gain_RBV", 1.0, prec=3, doc="detector gain")
    frame_type = mbbo("FrameType", "Normal", ("Normal", "Background", "FlatField", "DblCorrelation"), doc="frame type")
    frame_type_rbv = mbbi("FrameType_RBV", "Normal", ("Normal", "Background", "FlatField", "DblCorrelation"),
                          doc="frame type")
    image_mode = mbbo("ImageMode", "Continuous", ("Single", "Multiple", "Continuous"), doc="acquisition mode")
    image_mode_rbv = mbbi("ImageMode_RBV", "Continuous", ("Single", "Multiple", "Continuous"), doc="acquisition mode")
    trigger_mode = mbbo("TriggerMode", "Internal", ("Internal", "External"), doc="trigger mode")
    trigger_mode_rbv = mbbi("TriggerMode_RBV", "Internal", ("Internal", "External"), doc="trigger mode")
    num_exposures = longout("NumExposures", 1, limits=(1, 1000), valid=(1, 1000, "number of exposures per image"),
                            doc="number of exposures per image")
    num_exposures_rbv = longin("NumExposures_RBV", 1, doc="number of exposures per image")
    num_exposures_counter_rbv = longin("NumExposuresCounter_RBV", doc="exposures acquired in this image")
    num_images = longout("NumImages", 1, limits=(1, MAX_IMAGES), valid=(1, MAX_IMAGES, "number of images"),
                         doc="number of images (Multiple mode)")
    num_images_rbv = longin("NumImages_RBV", 1, doc="number of images (Multiple mode)")
    num_images_counter_rbv = longin("NumImagesCounter_RBV", doc="images acquired")
    detector_state_rbv = mbbi("DetectorState_RBV", "Idle", DETECTOR_STATES,
                              sev=DETECTOR_STATE_SEVERITIES,
                              doc="detector state")
    status_message_rbv = waveform("StatusMessage_RBV", doc="status message")
    string_to_server_rbv = waveform("StringToServer_RBV", doc="last string sent to a detector server")
    string_from_server_rbv = waveform("StringFromServer_RBV", doc="last string received from a detector server")
    read_status = bo("ReadStatus", 1, doc="force a read of the detector status")
    shutter_mode = mbbo("ShutterMode", "None", ("None", "EPICS PV", "Detector output"),
                        doc="shutter mode (ShutterMode_RBV state 2 reads 'Camera output')")
    shutter_mode_rbv = mbbi("ShutterMode_RBV", "None", ("None", "EPICS PV", "Camera output"),
                            doc="shutter mode (ShutterMode_RBV state 2 reads 'Camera output')")
    shutter_control = bo("ShutterControl", "Close", ("Close", "Open"), doc="open/close the shutter")
    shutter_control_rbv = bi("ShutterControl_RBV", "Close", ("Close", "Open"), doc="open/close the shutter")
    shutter_status_rbv = bi("ShutterStatus_RBV", "Closed", ("Closed", "Open"), sev=OK_MINOR,
                            doc="shutter status from the detector")
    shutter_open_delay = ao("ShutterOpenDelay", prec=3, doc="shutter open delay")
    shutter_open_delay_rbv = ai("ShutterOpenDelay_RBV", prec=3, doc="shutter open delay")
    shutter_close_delay = ao("ShutterCloseDelay", prec=3, doc="shutter close delay")
    shutter_close_delay_rbv = ai("ShutterCloseDelay_RBV", prec=3, doc="shutter close delay")
    shutter_control_epics = bi("ShutterControlEPICS", "Closed", ("Closed", "Open"), sev=OK_MINOR,
                               doc="changes state when the driver opens/closes an EPICS shutter")
    shutter_fanout = fanout("ShutterFanout", doc="fanout record: processes ShutterOpenEPICS and ShutterCloseEPICS")
    shutter_open_epics = calcout("ShutterOpenEPICS", 1.0, doc="calcout record: writes OCAL=1 to the shutter PV in OUT")
    shutter_close_epics = calcout("ShutterCloseEPICS", doc="calcout record: writes OCAL=0 to the shutter PV in OUT")
    shutter_status_epics_rbv = mbbi("ShutterStatusEPICS_RBV", "Closed", ("Closed", "Open"), sev=OK_MINOR,
                                    doc="EPICS shutter status, read from the PV in INP")
    temperature = ao("Temperature", 25.0, egu="C", prec=1, doc="detector temperature setpoint")
    temperature_rbv = ai("Temperature_RBV", 25.0, egu="C", prec=1, doc="detector temperature setpoint")
    temperature_actual = ai("TemperatureActual", 25.0, egu="C", prec=1, doc="actual detector temperature")
    asyn_io = asyn("AsynIO", doc="asyn record (placeholder)")


    def __init__(self, prefix: str, *, port: str, macros: dict) -> None:
        super().__init__(prefix, port=port, macros=macros)
        self.sensor_shape = (int(macros["YSIZE"]), int(macros["XSIZE"]))  # rows, columns

    async def start(self) -> None:
        await super().start()
        await self.update_geometry()

    def output_array(self, seen: frozenset = frozenset(), address: int = 0) -> tuple[tuple[int, int], np.dtype] | None:
        """(rows, cols) and dtype of the arrays the driver hands its plugins, as they expect them at
        start; None at an address other than 0, where it sends none."""
        if address != 0:
            return None
        return self.sensor_shape, np.dtype(NUMPY_TYPES[self.data_type.value])

    # -- state -----------------------------------------------------------------------

    async def set_state(self, state: str | None, message: str | None = None) -> None:
        """DetectorState_RBV and StatusMessage_RBV, each if given (the message first: a client
        that sees Error reads why)."""
        if message is not None:
            await post(self.status_message_rbv, utf8_fit(message, self.status_message_rbv.max_length))
        if state is not None:
            await post(self.detector_state_rbv, state)

    async def count_down(self, remaining: float) -> None:
        """TimeRemaining_RBV: simulated seconds left in the exposure."""
        await self.time_remaining_rbv.write(remaining)

    async def count_images(self, images: int, exposures: int | None = None) -> None:
        """NumImagesCounter_RBV (and NumExposuresCounter_RBV) of the acquisition under way."""
        await self.num_images_counter_rbv.write(images)
        if exposures is not None:
            await post(self.num_exposures_counter_rbv, exposures)

    # -- the region read out ---------------------------------------------------------

    def readout_region(self, **new) -> tuple[int, int, int, int, int, int]:
        """(MinX, MinY, SizeX, SizeY, BinX, BinY) the sensor reads out, the region clipped to the
        sensor as ADDriver does; ``new`` overrides settings (by attribute) to try a put first."""
        rows, cols = self.sensor_shape
        setting = {name: new.get(name, getattr(self, name).value)
                   for name in ("min_x", "min_y", "size_x", "size_y", "bin_x", "bin_y")}
        min_x, min_y = min(setting["min_x"], cols - 1), min(setting["min_y"], rows - 1)
        size_x = min(setting["size_x"], cols - min_x)
        size_y = min(setting["size_y"], rows - min_y)
        return min_x, min_y, size_x, size_y, setting["bin_x"], setting["bin_y"]

    async def update_geometry(self) -> None:
        """Recompute ArraySize*_RBV from the region of interest and binning."""
        _, _, size_x, size_y, bin_x, bin_y = self.readout_region()
        await self.describe_readout(size_x // bin_x, size_y // bin_y, np.dtype(NUMPY_TYPES[self.data_type.value]).itemsize)

    async def _geometry_put(self, instance, value, low: int, high_of: str, what: str) -> int:
        rows, cols = self.sensor_shape
        high = {"cols": cols, "rows": rows, "x0": cols - 1, "y0": rows - 1, "bin": 64}[high_of]
        value = integer(instance.pvname, value, low, high, what)
        _, _, size_x, size_y, bin_x, bin_y = self.readout_region(**{instance.pvspec.attr: value})
        if size_x // bin_x < 1 or size_y // bin_y < 1:
            # An empty frame would break every plugin: refuse, naming what to change.
            raise ValueError(f"{instance.pvname}: {value} leaves no pixels to read out (region "
                             f"{size_x} x {size_y} binned {bin_x} x {bin_y}); reduce the binning or enlarge the region")
        return await self._apply_geometry(instance, value)

    async def _apply_geometry(self, instance, value):
        """Accept a setting that shapes the frame: echo it, then recompute ArraySize*_RBV."""
        await echo_to_readback(self, instance, value)
        await instance.write(value, verify_value=False)
        await self.update_geometry()
        return value

    async def data_type_put(self, instance, value):
        return await self._apply_geometry(instance, value)

    @min_x.putter
    async def min_x(self, instance, value):
        return await self._geometry_put(instance, value, 0, "x0", "region start x (pixels)")

    @min_y.putter
    async def min_y(self, instance, value):
        return await self._geometry_put(instance, value, 0, "y0", "region start y (pixels)")

    @size_x.putter
    async def size_x(self, instance, value):
        return await self._geometry_put(instance, value, 1, "cols", "region width (pixels)")

    @size_y.putter
    async def size_y(self, instance, value):
        return await self._geometry_put(instance, value, 1, "rows", "region height (pixels)")

    @bin_x.putter
    async def bin_x(self, instance, value):
        return await self._geometry_put(instance, value, 1, "bin", "binning x")

    @bin_y.putter
    async def bin_y(self, instance, value):
        return await self._geometry_put(instance, value, 1, "bin", "binning y")

    @trigger_mode.putter
    async def trigger_mode(self, instance, value):
        if enum_index(instance, value) != 0:
            raise ValueError(f"{instance.pvname}: only 'Internal' triggering is simulated")
        return await echo_to_readback(self, instance, value)
