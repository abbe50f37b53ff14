"""NDArrayBase.template: the records every areaDetector driver and plugin has (ADCore).

Start-up values are the template's; a driver or plugin states its own at start
(:meth:`NDArrayBase.start`). Records with behaviour are written here only, by the methods
below the declarations, which the driver and the plugins call.
"""

from __future__ import annotations

import numpy as np

from ..records import Macro, RecordGroup, echo_to_readback, sync_readbacks
from ..records.declare import ai, bi, bo, busy, calc, calcout, longin, longout, mbbi, mbbo, stringin, subarray, waveform
from .menus import BAYER_PATTERNS, COLOR_MODES, DATA_TYPES, DISABLE_ENABLE, NO_YES, OK_MINOR
from .ndarray import NUMPY_TYPES, post


class NDArrayBase(RecordGroup):
    """NDArrayBase.template, served under ``prefix`` for the asyn port ``port``.

    ``macros``: the template's, e.g. ``DATATYPE`` (a driver's data type, default Int8).
    """

    asg = "HARDWARE"  # access security group (the ACF's): users on the beamline's hosts run the camera

    ad_core_version_rbv = stringin("ADCoreVersion_RBV", "Unknown", doc="version of ADCore")
    driver_version_rbv = stringin("DriverVersion_RBV", "Unknown", doc="version of the driver or plugin")
    port_name_rbv = stringin("PortName_RBV", "Unknown", doc="asyn port name of this detector/plugin")
    manufacturer_rbv = stringin("Manufacturer_RBV", "Unknown", doc="detector manufacturer")
    model_rbv = stringin("Model_RBV", "Unknown", doc="detector model")
    serial_number_rbv = stringin("SerialNumber_RBV", "Unknown", doc="detector serial number")
    sdk_version_rbv = stringin("SDKVersion_RBV", "Unknown", doc="vendor SDK version")
    firmware_version_rbv = stringin("FirmwareVersion_RBV", "Unknown", doc="detector firmware version")
    acquire = bo("Acquire", "Done", ("Done", "Acquire"),
                 doc="start/stop acquisition (Acquire_RBV menu: Done/Acquiring)")
    acquire_rbv = bi("Acquire_RBV", "Done", ("Done", "Acquiring"), sev=OK_MINOR,
                     doc="start/stop acquisition (Acquire_RBV menu: Done/Acquiring)")
    acquire_busy = busy("AcquireBusy", "Done", ("Done", "Acquiring"), sev=OK_MINOR,
                        doc="busy record: 1 from Acquire until acquisition and plugins are done")
    acquire_busy_cb = bi("AcquireBusyCB", "Done", ("Done", "Acquiring"), sev=OK_MINOR,
                         doc="driver callback that clears AcquireBusy")
    wait_for_plugins = bo("WaitForPlugins", "No", NO_YES, doc="AcquireBusy waits for plugins to finish")
    n_dimensions = longout("NDimensions", doc="number of array dimensions")
    n_dimensions_rbv = longin("NDimensions_RBV", doc="number of array dimensions")
    dimensions = waveform("Dimensions", ftvl="LONG", nelm=10, doc="array dimensions")
    dimensions_rbv = waveform("Dimensions_RBV", ftvl="LONG", nelm=10, doc="array dimensions")
    dim0_sa = subarray("Dim0SA", ftvl="LONG", nelm=1,
                       doc="subArray: element 0 of Dimensions (Dim0SA_RBV: of Dimensions_RBV)")
    dim0_sa_rbv = subarray("Dim0SA_RBV", ftvl="LONG", nelm=1,
                           doc="subArray: element 0 of Dimensions (Dim0SA_RBV: of Dimensions_RBV)")
    array_size0 = longin("ArraySize0", doc="size of array dimension 0 (ArraySize0_RBV: of the last array)")
    array_size0_rbv = longin("ArraySize0_RBV", doc="size of array dimension 0 (ArraySize0_RBV: of the last array)")
    dim1_sa = subarray("Dim1SA", ftvl="LONG", nelm=1,
                       doc="subArray: element 1 of Dimensions (Dim1SA_RBV: of Dimensions_RBV)")
    dim1_sa_rbv = subarray("Dim1SA_RBV", ftvl="LONG", nelm=1,
                           doc="subArray: element 1 of Dimensions (Dim1SA_RBV: of Dimensions_RBV)")
    array_size1 = longin("ArraySize1", doc="size of array dimension 1 (ArraySize1_RBV: of the last array)")
    array_size1_rbv = longin("ArraySize1_RBV", doc="size of array dimension 1 (ArraySize1_RBV: of the last array)")
    dim2_sa = subarray("Dim2SA", ftvl="LONG", nelm=1,
                       doc="subArray: element 2 of Dimensions (Dim2SA_RBV: of Dimensions_RBV)")
    dim2_sa_rbv = subarray("Dim2SA_RBV", ftvl="LONG", nelm=1,
                           doc="subArray: element 2 of Dimensions (Dim2SA_RBV: of Dimensions_RBV)")
    array_size2 = longin("ArraySize2", doc="size of array dimension 2 (ArraySize2_RBV: of the last array)")
    array_size2_rbv = longin("ArraySize2_RBV", doc="size of array dimension 2 (ArraySize2_RBV: of the last array)")
    dim3_sa = subarray("Dim3SA", ftvl="LONG", nelm=1,
                       doc="subArray: element 3 of Dimensions (Dim3SA_RBV: of Dimensions_RBV)")
    dim3_sa_rbv = subarray("Dim3SA_RBV", ftvl="LONG", nelm=1,
                           doc="subArray: element 3 of Dimensions (Dim3SA_RBV: of Dimensions_RBV)")
    array_size3 = longin("ArraySize3", doc="size of array dimension 3 (ArraySize3_RBV: of the last array)")
    array_size3_rbv = longin("ArraySize3_RBV", doc="size of array dimension 3 (ArraySize3_RBV: of the last array)")
    dim4_sa = subarray("Dim4SA", ftvl="LONG", nelm=1,
                       doc="subArray: element 4 of Dimensions (Dim4SA_RBV: of Dimensions_RBV)")
    dim4_sa_rbv = subarray("Dim4SA_RBV", ftvl="LONG", nelm=1,
                           doc="subArray: element 4 of Dimensions (Dim4SA_RBV: of Dimensions_RBV)")
    array_size4 = longin("ArraySize4", doc="size of array dimension 4 (ArraySize4_RBV: of the last array)")
    array_size4_rbv = longin("ArraySize4_RBV", doc="size of array dimension 4 (ArraySize4_RBV: of the last array)")
    dim5_sa = subarray("Dim5SA", ftvl="LONG", nelm=1,
                       doc="subArray: element 5 of Dimensions (Dim5SA_RBV: of Dimensions_RBV)")
    dim5_sa_rbv = subarray("Dim5SA_RBV", ftvl="LONG", nelm=1,
                           doc="subArray: element 5 of Dimensions (Dim5SA_RBV: of Dimensions_RBV)")
    array_size5 = longin("ArraySize5", doc="size of array dimension 5 (ArraySize5_RBV: of the last array)")
    array_size5_rbv = longin("ArraySize5_RBV", doc="size of array dimension 5 (ArraySize5_RBV: of the last array)")
    dim6_sa = subarray("Dim6SA", ftvl="LONG", nelm=1,
                       doc="subArray: element 6 of Dimensions (Dim6SA_RBV: of Dimensions_RBV)")
    dim6_sa_rbv = subarray("Dim6SA_RBV", ftvl="LONG", nelm=1,
                           doc="subArray: element 6 of Dimensions (Dim6SA_RBV: of Dimensions_RBV)")
    array_size6 = longin("ArraySize6", doc="size of array dimension 6 (ArraySize6_RBV: of the last array)")
    array_size6_rbv = longin("ArraySize6_RBV", doc="size of array dimension 6 (ArraySize6_RBV: of the last array)")
    dim7_sa = subarray("Dim7SA", ftvl="LONG", nelm=1,
                       doc="subArray: element 7 of Dimensions (Dim7SA_RBV: of Dimensions_RBV)")
    dim7_sa_rbv = subarray("Dim7SA_RBV", ftvl="LONG", nelm=1,
                           doc="subArray: element 7 of Dimensions (Dim7SA_RBV: of Dimensions_RBV)")
    array_size7 = longin("ArraySize7", doc="size of array dimension 7 (ArraySize7_RBV: of the last array)")
    array_size7_rbv = longin("ArraySize7_RBV", doc="size of array dimension 7 (ArraySize7_RBV: of the last array)")
    dim8_sa = subarray("Dim8SA", ftvl="LONG", nelm=1,
                       doc="subArray: element 8 of Dimensions (Dim8SA_RBV: of Dimensions_RBV)")
    dim8_sa_rbv = subarray("Dim8SA_RBV", ftvl="LONG", nelm=1,
                           doc="subArray: element 8 of Dimensions (Dim8SA_RBV: of Dimensions_RBV)")
    array_size8 = longin("ArraySize8", doc="size of array dimension 8 (ArraySize8_RBV: of the last array)")
    array_size8_rbv = longin("ArraySize8_RBV", doc="size of array dimension 8 (ArraySize8_RBV: of the last array)")
    dim9_sa = subarray("Dim9SA", ftvl="LONG", nelm=1,
                       doc="subArray: element 9 of Dimensions (Dim9SA_RBV: of Dimensions_RBV)")
    dim9_sa_rbv = subarray("Dim9SA_RBV", ftvl="LONG", nelm=1,
                           doc="subArray: element 9 of Dimensions (Dim9SA_RBV: of Dimensions_RBV)")
    array_size9 = longin("ArraySize9", doc="size of array dimension 9 (ArraySize9_RBV: of the last array)")
    array_size9_rbv = longin("ArraySize9_RBV", doc="size of array dimension 9 (ArraySize9_RBV: of the last array)")
    bayer_pattern_rbv = mbbi("BayerPattern_RBV", "RGGB", BAYER_PATTERNS, doc="Bayer pattern of the array")
    array_size_x_rbv = longin("ArraySizeX_RBV", doc="array size X")
    array_size_y_rbv = longin("ArraySizeY_RBV", doc="array size Y")
    array_size_z_rbv = longin("ArraySizeZ_RBV", doc="array size Z")
    array_size_rbv = longin("ArraySize_RBV", doc="array size in bytes")
    codec_rbv = stringin("Codec_RBV", doc="compression codec of the array")
    compressed_size_rbv = longin("CompressedSize_RBV", doc="compressed size in bytes")
    data_type = mbbo("DataType", Macro("DATATYPE", str, "Int8"), DATA_TYPES, doc="data type (VAL is $(DATATYPE=0))")
    data_type_rbv = mbbi("DataType_RBV", Macro("DATATYPE", str, "Int8"), DATA_TYPES, doc="data type (VAL is $(DATATYPE=0))")
    color_mode = mbbo("ColorMode", "Mono", COLOR_MODES, doc="color mode, agrees with NDColorMode_t")
    color_mode_rbv = mbbi("ColorMode_RBV", "Mono", COLOR_MODES, doc="color mode, agrees with NDColorMode_t")
    unique_id_rbv = longin("UniqueId_RBV", doc="uniqueId of the array")
    time_stamp_rbv = ai("TimeStamp_RBV", prec=3, doc="time stamp of the array")
    epics_ts_sec_rbv = longin("EpicsTSSec_RBV", doc="epicsTS.secPastEpoch of the array")
    epics_ts_nsec_rbv = longin("EpicsTSNsec_RBV", doc="epicsTS.nsec of the array")
    array_counter = longout("ArrayCounter", valid=(0, 2**31 - 1, "array counter"), doc="array callback counter")
    array_counter_rbv = longin("ArrayCounter_RBV", doc="array callback counter")
    array_rate_rbv = calc("ArrayRate_RBV", egu="Hz", prec=2, doc="calc record: array callback rate")
    array_callbacks = bo("ArrayCallbacks", "Enable", DISABLE_ENABLE, sev=OK_MINOR, doc="enable NDArray callbacks")
    array_callbacks_rbv = bi("ArrayCallbacks_RBV", "Enable", DISABLE_ENABLE, sev=OK_MINOR,
                             doc="enable NDArray callbacks")
    nd_attributes_macros = waveform("NDAttributesMacros", doc="macro definitions for the attributes file")
    nd_attributes_file = waveform("NDAttributesFile", doc="name of a file defining attributes")
    nd_attributes_status = mbbi("NDAttributesStatus", "Attributes file OK",
                                ("Attributes file OK", "File not found", "XML syntax error", "Macro substitution error"),
                                sev=("NO_ALARM", "MINOR", "MAJOR", "MAJOR"),
                                doc="status of reading the attributes file")
    pool_max_mem = ai("PoolMaxMem", egu="MB", prec=1, doc="NDArrayPool maximum memory")
    pool_max_buffers = longin("PoolMaxBuffers", doc="NDArrayPool maximum buffers (ADCore R2 NDArrayBase.template)")
    pool_poll_stats = bo("PoolPollStats", 0, doc="polls the pool statistics (SCAN 1 second)")
    pool_used_mem = ai("PoolUsedMem", egu="MB", prec=1, doc="NDArrayPool memory used")
    pool_alloc_buffers = longin("PoolAllocBuffers", doc="NDArrayPool buffers allocated")
    pool_free_buffers = longin("PoolFreeBuffers", doc="NDArrayPool buffers free")
    pool_used_buffers = calc("PoolUsedBuffers", doc="calc record: PoolAllocBuffers - PoolFreeBuffers")
    empty_free_list = bo("EmptyFreeList", 0, doc="empty the NDArrayPool free list")
    pre_alloc_buffers = busy("PreAllocBuffers", "Done", ("Done", "Allocate"), doc="busy record: pre-allocate buffers")
    num_pre_alloc_buffers = longout("NumPreAllocBuffers", 100, doc="number of buffers to pre-allocate")
    num_pre_alloc_buffers_rbv = longin("NumPreAllocBuffers_RBV", 100, doc="number of buffers to pre-allocate")
    num_queued_arrays = longin("NumQueuedArrays", doc="arrays queued in plugins")
    set_acquire_busy = calcout("SetAcquireBusy", doc="sets AcquireBusy when Acquire goes to 1")
    clear_acquire_busy = calcout("ClearAcquireBusy", doc="clears AcquireBusy when AcquireBusyCB goes to 0")


    def __init__(self, prefix: str, *, port: str, macros: dict | None = None) -> None:
        self.port = port
        self._dims: tuple[int, ...] | None = None  # the array last described, ADCore's order
        self._dtype: np.dtype | None = None
        super().__init__(prefix, macros=macros)

    # -- start and stop --------------------------------------------------------------

    @port_name_rbv.startup
    async def port_name_rbv(self, instance, async_lib):
        await self.start()

    @port_name_rbv.shutdown
    async def port_name_rbv(self, instance, async_lib):
        await self.stop()

    async def start(self) -> None:
        """When the server starts: the port's name, readbacks equal to their settings."""
        await self.port_name_rbv.write(self.port)
        await sync_readbacks(self)

    async def stop(self) -> None:
        """When the server stops (subclasses release what they hold)."""

    async def identify(self, *, manufacturer: str, model: str, serial_number: str, firmware: str) -> None:
        """What a driver says it is (Manufacturer_RBV, Model_RBV, ...)."""
        await self.manufacturer_rbv.write(manufacturer)
        await self.model_rbv.write(model)
        await self.serial_number_rbv.write(serial_number)
        await self.firmware_version_rbv.write(firmware)

    # -- Acquire ---------------------------------------------------------------------

    @acquire.putter
    async def acquire(self, instance, value):
        return await self.acquire_put(instance, value)

    async def acquire_put(self, instance, value):
        """A put to Acquire: a plugin keeps it; a driver starts or stops acquiring."""
        return await echo_to_readback(self, instance, value)

    async def set_acquiring(self, acquiring: bool) -> None:
        """Acquire, Acquire_RBV and AcquireBusy(CB) for an acquisition that starts or has ended
        (AcquireBusy clears once the plugins are done with the last array)."""
        if acquiring:
            await self.acquire_rbv.write(1)
            await self.acquire_busy.write(1)
            await self.acquire_busy_cb.write(1)
            await self.acquire.write("Acquire", verify_value=False)
        else:
            await self.acquire_rbv.write(0)
            await self.acquire.write("Done", verify_value=False)
            await self.acquire_busy_cb.write(0)
            await self.acquire_busy.write(0)

    @data_type.putter
    async def data_type(self, instance, value):
        return await self.data_type_put(instance, value)

    async def data_type_put(self, instance, value):
        """A put to DataType: a plugin keeps it; a driver reads out in that type from now on."""
        return await echo_to_readback(self, instance, value)

    # -- the arrays ------------------------------------------------------------------

    async def count_array(self) -> None:
        """One more array done: ArrayCounter_RBV."""
        await self.array_counter_rbv.write(self.array_counter_rbv.value + 1)

    async def stamp_array(self, unique_id: int, timestamp: float) -> None:
        """UniqueId_RBV and TimeStamp_RBV of the array last handled."""
        await self.unique_id_rbv.write(unique_id)
        await self.time_stamp_rbv.write(timestamp)

    async def describe_array(self, shape: tuple[int, ...], dtype: np.dtype, color_mode: str = "Mono") -> None:
        """NDimensions/Dimensions/ArraySize0-2/DataType/ColorMode readbacks of the array last received
        (``shape`` numpy's: the dimensions reversed, as ADCore numbers them from the fastest)."""
        dims = tuple(int(n) for n in shape[::-1])
        if dims != self._dims:
            self._dims = dims
            sizes = list(dims) + [0] * (self.dimensions_rbv.max_length - len(dims))
            for chan, size in zip((self.array_size0_rbv, self.array_size1_rbv, self.array_size2_rbv), sizes,
                                  strict=False):
                await post(chan, size)
            await post(self.n_dimensions_rbv, len(dims))
            await self.dimensions_rbv.write(sizes)
        if dtype != self._dtype:
            self._dtype = np.dtype(dtype)
            await post(self.data_type_rbv, next(name for name, t in NUMPY_TYPES.items() if np.dtype(t) == dtype))
        if color_mode != self.color_mode_rbv.value:
            await self.color_mode_rbv.write(color_mode)

    def described_array(self) -> tuple[tuple[int, ...], np.dtype]:
        """numpy shape and dtype of the array last received, as ArraySize*_RBV and DataType_RBV say."""
        dims = self._dims
        if dims is None:
            dims = (int(self.array_size0_rbv.value), int(self.array_size1_rbv.value))
        dtype = self._dtype if self._dtype is not None else np.dtype(NUMPY_TYPES[self.data_type_rbv.value])
        return tuple(dims[::-1]), dtype

    async def describe_readout(self, nx: int, ny: int, itemsize: int) -> None:
        """ArraySizeX/Y/Z_RBV and ArraySize_RBV (bytes) of the arrays a driver reads out."""
        await self.array_size_x_rbv.write(nx)
        await self.array_size_y_rbv.write(ny)
        await self.array_size_z_rbv.write(0)
        await self.array_size_rbv.write(nx * ny * itemsize)
