"""``HDF1:``: NDFileHDF5.template, frames into HDF5 files (ADCore NDFileHDF5), written by :mod:`.hdf5_writer`.

As NDFileHDF5 (ADCore NDPluginFile + NDFileHDF5):

* FileWriteMode Single: each frame its own file (with AutoSave); Capture: frames are
  buffered from Capture = 1 until NumCapture, then written to one file (with AutoSave, or
  on WriteFile); Stream: the file is opened at Capture = 1 (at the first frame with
  LazyOpen = Yes) and each frame appended as it arrives, until NumCapture (0: until
  Capture = 0). FileNumber advances when a file is opened (AutoIncrement), so
  ``FileNumber - 1`` names the open file, as ophyd's FileStoreHDF5 expects.
* SWMRMode = On writes a single-writer-multiple-readers file flushed after every frame
  (NumFramesFlush frames, if set), so readers see each frame as it lands; FlushNow flushes
  at once; SWMRActive_RBV and SWMRCbCounter_RBV report it.
* NumFramesChunks (0 on a fresh IOC, as in ADCore, then 1 at the first capture),
  NumRowChunks/NumColChunks (ChunkSizeAuto = Yes: one frame), Compression (None, zlib,
  szip; Blosc, BSLZ4, LZ4 with hdf5plugin), StoreAttr, StorePerform, FillValue shape
  the file.
* Paths, templates, CreateDirectory, TempSuffix, confinement to the data root and error
  reporting are every file plugin's (:class:`~.nd_file.NDFile`), as TIFF1's.

Differences, each for a reason: without LazyOpen, Capture = 1 opens the file with the
array size the plugin advertises (ArraySize0/1_RBV, DataType_RBV), where ADCore needs a
frame seen first ("must collect an array to get dimensions first"): the plugin describes
the driver's array from start-up, so there is always one. NumExtraDims other than 0
(multi-dimensional scans of frames) and custom XML layouts are not simulated: a put of
NumExtraDims > 0 is refused, and an XMLFileName is accepted but reported in
XMLValid_RBV/XMLErrorMsg_RBV, the default layout being used. N-bit and JPEG compression are
refused (no filter in h5py/hdf5plugin). PositionMode is stored but frames are written in
arrival order.
"""

from __future__ import annotations

import asyncio
import time

import h5py
import numpy as np

from ..records import echo_to_readback
from ..records.declare import ai, ao, bi, bo, busy, longin, longout, mbbi, mbbo, stringin, stringout, waveform
from ..records.validate import integer
from ..threads import worker
from .hdf5_writer import HDF5File, HDF5Settings, WriteError, compression_problem, write_file
from .menus import BLOSC_COMPRESSORS, BLOSC_SHUFFLES, COMPRESSIONS, NO_YES, OFF_ON
from .nd_file import NDFile
from .ndarray import Frame, enum_index, index, post, text

MAX_CHUNK = 1 << 20
DEFAULT_TEMPLATE = "%s%s_%6.6d.h5"  # what ophyd's FileStoreHDF5 sets


class NDFileHDF5(NDFile):
    """NDFileHDF5.template (with the NDFile and NDPluginBase templates): frames into HDF5 files."""

    plugin_type = f"NDFileHDF5 ver{h5py.version.hdf5_version}"

    flush_now = busy("FlushNow", "Done", ("Done", "Flush"), doc="flush the open file now (SWMR)")
    file_format = mbbo("FileFormat", "HDF5", ("HDF5", "Invalid"),
                       doc="file data format (FileFormat_RBV menu: HDF5/Undefined)")
    file_format_rbv = mbbi("FileFormat_RBV", "HDF5", ("HDF5", "Invalid"),
                           doc="file data format (FileFormat_RBV menu: HDF5/Undefined)")
    chunk_size_auto = bo("ChunkSizeAuto", "Yes", NO_YES, doc="chunk = one frame of rows x columns")
    chunk_size_auto_rbv = bi("ChunkSizeAuto_RBV", "Yes", NO_YES, doc="chunk = one frame of rows x columns")
    num_row_chunks = longout("NumRowChunks", valid=(0, MAX_CHUNK, "rows per chunk"),
                             doc="chunk size, rows (dimension 0)")
    num_row_chunks_rbv = longin("NumRowChunks_RBV", doc="chunk size, rows (dimension 0)")
    num_col_chunks = longout("NumColChunks", valid=(0, MAX_CHUNK, "columns per chunk"),
                             doc="chunk size, columns (dimension 1)")
    num_col_chunks_rbv = longin("NumColChunks_RBV", doc="chunk size, columns (dimension 1)")
    chunk_size2 = longout("ChunkSize2", doc="chunk size, dimension 2")
    chunk_size2_rbv = longin("ChunkSize2_RBV", doc="chunk size, dimension 2")
    chunk_size3 = longout("ChunkSize3", doc="chunk size, dimension 3")
    chunk_size3_rbv = longin("ChunkSize3_RBV", doc="chunk size, dimension 3")
    chunk_size4 = longout("ChunkSize4", doc="chunk size, dimension 4")
    chunk_size4_rbv = longin("ChunkSize4_RBV", doc="chunk size, dimension 4")
    chunk_size5 = longout("ChunkSize5", doc="chunk size, dimension 5")
    chunk_size5_rbv = longin("ChunkSize5_RBV", doc="chunk size, dimension 5")
    chunk_size6 = longout("ChunkSize6", doc="chunk size, dimension 6")
    chunk_size6_rbv = longin("ChunkSize6_RBV", doc="chunk size, dimension 6")
    chunk_size7 = longout("ChunkSize7", doc="chunk size, dimension 7")
    chunk_size7_rbv = longin("ChunkSize7_RBV", doc="chunk size, dimension 7")
    chunk_size8 = longout("ChunkSize8", doc="chunk size, dimension 8")
    chunk_size8_rbv = longin("ChunkSize8_RBV", doc="chunk size, dimension 8")
    chunk_size9 = longout("ChunkSize9", doc="chunk size, dimension 9")
    chunk_size9_rbv = longin("ChunkSize9_RBV", doc="chunk size, dimension 9")
    num_frames_chunks = longout("NumFramesChunks", valid=(0, MAX_CHUNK, "frames per chunk"), doc="frames per chunk")
    num_frames_chunks_rbv = longin("NumFramesChunks_RBV", doc="frames per chunk")
    nd_attribute_chunk = longout("NDAttributeChunk", doc="NDAttribute dataset chunk size")
    nd_attribute_chunk_rbv = longin("NDAttributeChunk_RBV", doc="NDAttribute dataset chunk size")
    boundary_align = longout("BoundaryAlign", egu="bytes", doc="chunk boundary alignment")
    boundary_align_rbv = longin("BoundaryAlign_RBV", egu="bytes", doc="chunk boundary alignment")
    boundary_threshold = longout("BoundaryThreshold", 65536, egu="bytes", doc="alignment threshold")
    boundary_threshold_rbv = longin("BoundaryThreshold_RBV", 65536, egu="bytes", doc="alignment threshold")
    num_extra_dims = longout("NumExtraDims", doc="number of extra dimensions")
    num_extra_dims_rbv = longin("NumExtraDims_RBV", doc="number of extra dimensions")
    extra_dim_size_n = longout("ExtraDimSizeN", 1, doc="size of extra dimension N")
    extra_dim_size_n_rbv = longin("ExtraDimSizeN_RBV", 1, doc="size of extra dimension N")
    extra_dim_name_n_rbv = stringin("ExtraDimNameN_RBV", "frame number n", doc="name of extra dimension N")
    extra_dim_size_x = longout("ExtraDimSizeX", 1, doc="size of extra dimension X")
    extra_dim_size_x_rbv = longin("ExtraDimSizeX_RBV", 1, doc="size of extra dimension X")
    extra_dim_name_x_rbv = stringin("ExtraDimNameX_RBV", "scan dimension X", doc="name of extra dimension X")
    extra_dim_size_y = longout("ExtraDimSizeY", 1, doc="size of extra dimension Y")
    extra_dim_size_y_rbv = longin("ExtraDimSizeY_RBV", 1, doc="size of extra dimension Y")
    extra_dim_name_y_rbv = stringin("ExtraDimNameY_RBV", "scan dimension Y", doc="name of extra dimension Y")
    extra_dim_size3 = longout("ExtraDimSize3", 1, doc="size of extra dimension 3")
    extra_dim_size3_rbv = longin("ExtraDimSize3_RBV", 1, doc="size of extra dimension 3")
    extra_dim_name3_rbv = stringin("ExtraDimName3_RBV", "scan dimension 2", doc="name of extra dimension 3")
    extra_dim_size4 = longout("ExtraDimSize4", 1, doc="size of extra dimension 4")
    extra_dim_size4_rbv = longin("ExtraDimSize4_RBV", 1, doc="size of extra dimension 4")
    extra_dim_name4_rbv = stringin("ExtraDimName4_RBV", "scan dimension 3", doc="name of extra dimension 4")
    extra_dim_size5 = longout("ExtraDimSize5", 1, doc="size of extra dimension 5")
    extra_dim_size5_rbv = longin("ExtraDimSize5_RBV", 1, doc="size of extra dimension 5")
    extra_dim_name5_rbv = stringin("ExtraDimName5_RBV", "scan dimension 4", doc="name of extra dimension 5")
    extra_dim_size6 = longout("ExtraDimSize6", 1, doc="size of extra dimension 6")
    extra_dim_size6_rbv = longin("ExtraDimSize6_RBV", 1, doc="size of extra dimension 6")
    extra_dim_name6_rbv = stringin("ExtraDimName6_RBV", "scan dimension 5", doc="name of extra dimension 6")
    extra_dim_size7 = longout("ExtraDimSize7", 1, doc="size of extra dimension 7")
    extra_dim_size7_rbv = longin("ExtraDimSize7_RBV", 1, doc="size of extra dimension 7")
    extra_dim_name7_rbv = stringin("ExtraDimName7_RBV", "scan dimension 6", doc="name of extra dimension 7")
    extra_dim_size8 = longout("ExtraDimSize8", 1, doc="size of extra dimension 8")
    extra_dim_size8_rbv = longin("ExtraDimSize8_RBV", 1, doc="size of extra dimension 8")
    extra_dim_name8_rbv = stringin("ExtraDimName8_RBV", "scan dimension 7", doc="name of extra dimension 8")
    extra_dim_size9 = longout("ExtraDimSize9", 1, doc="size of extra dimension 9")
    extra_dim_size9_rbv = longin("ExtraDimSize9_RBV", 1, doc="size of extra dimension 9")
    extra_dim_name9_rbv = stringin("ExtraDimName9_RBV", "scan dimension 8", doc="name of extra dimension 9")
    store_attr = bo("StoreAttr", "Yes", NO_YES, doc="store NDAttributes")
    store_attr_rbv = bi("StoreAttr_RBV", "Yes", NO_YES, doc="store NDAttributes")
    store_perform = bo("StorePerform", "Yes", NO_YES, doc="store performance data")
    store_perform_rbv = bi("StorePerform_RBV", "Yes", NO_YES, doc="store performance data")
    run_time = ai("RunTime", egu="s", prec=3, doc="time to write the last file")
    io_speed = ai("IOSpeed", egu="Mbit/s", prec=1, doc="write speed of the last file")
    num_frames_flush = longout("NumFramesFlush", valid=(0, 2**31 - 1, "frames per flush"),
                               doc="flush every N frames (0: at close)")
    num_frames_flush_rbv = longin("NumFramesFlush_RBV", doc="flush every N frames (0: at close)")
    compression = mbbo("Compression", "None", COMPRESSIONS, doc="compression filter")
    compression_rbv = mbbi("Compression_RBV", "None", COMPRESSIONS, doc="compression filter")
    num_data_bits = longout("NumDataBits", 8, egu="bit", doc="N-bit filter: data bits")
    num_data_bits_rbv = longin("NumDataBits_RBV", 8, egu="bit", doc="N-bit filter: data bits")
    data_bits_offset = longout("DataBitsOffset", egu="bit", doc="N-bit filter: bit offset")
    data_bits_offset_rbv = longin("DataBitsOffset_RBV", egu="bit", doc="N-bit filter: bit offset")
    s_zip_num_pixels = longout("SZipNumPixels", 16, egu="bit", doc="szip filter: pixels per block")
    s_zip_num_pixels_rbv = longin("SZipNumPixels_RBV", 16, egu="bit", doc="szip filter: pixels per block")
    z_level = longout("ZLevel", 6, valid=(0, 9, "zlib level"), doc="zlib compression level")
    z_level_rbv = longin("ZLevel_RBV", 6, doc="zlib compression level")
    blosc_shuffle = mbbo("BloscShuffle", "Byte", BLOSC_SHUFFLES, doc="Blosc shuffle")
    blosc_shuffle_rbv = mbbi("BloscShuffle_RBV", "Byte", BLOSC_SHUFFLES, doc="Blosc shuffle")
    blosc_compressor = mbbo("BloscCompressor", "BloscLZ", BLOSC_COMPRESSORS, doc="Blosc compressor")
    blosc_compressor_rbv = mbbi("BloscCompressor_RBV", "BloscLZ", BLOSC_COMPRESSORS, doc="Blosc compressor")
    blosc_level = longout("BloscLevel", 5, valid=(0, 9, "Blosc level"), doc="Blosc compression level")
    blosc_level_rbv = longin("BloscLevel_RBV", 5, doc="Blosc compression level")
    jpeg_quality = longout("JPEGQuality", 90, doc="JPEG filter quality")
    jpeg_quality_rbv = longin("JPEGQuality_RBV", 90, doc="JPEG filter quality")
    dim_att_datasets = bo("DimAttDatasets", "No", NO_YES, doc="store dimension attributes")
    dim_att_datasets_rbv = bi("DimAttDatasets_RBV", "No", NO_YES, doc="store dimension attributes")
    xml_error_msg_rbv = waveform("XMLErrorMsg_RBV", doc="layout XML error message")
    xml_valid_rbv = bi("XMLValid_RBV", "Yes", NO_YES, doc="layout XML valid")
    xml_file_name = waveform("XMLFileName", nelm=2048, doc="layout XML file (empty: the default layout)")
    xml_file_name_rbv = waveform("XMLFileName_RBV", nelm=2048, doc="layout XML file (empty: the default layout)")
    swmr_supported_rbv = bi("SWMRSupported_RBV", "Supported", ("Not Supported", "Supported"), doc="SWMR supported")
    swmr_mode = bo("SWMRMode", "Off", OFF_ON, doc="single writer, multiple readers")
    swmr_mode_rbv = bi("SWMRMode_RBV", "Off", OFF_ON, doc="single writer, multiple readers")
    swmr_active_rbv = bi("SWMRActive_RBV", "Off", ("Off", "Active"), doc="SWMR file open")
    swmr_cb_counter_rbv = longin("SWMRCbCounter_RBV", doc="SWMR flushes")
    position_mode = bo("PositionMode", "Off", OFF_ON, doc="position frames by NDAttributes")
    position_mode_rbv = bi("PositionMode_RBV", "Off", OFF_ON, doc="position frames by NDAttributes")
    pos_name_dim_n = stringout("PosNameDimN", doc="position attribute name, dimension N")
    pos_name_dim_n_rbv = stringin("PosNameDimN_RBV", doc="position attribute name, dimension N")
    pos_name_dim_x = stringout("PosNameDimX", doc="position attribute name, dimension X")
    pos_name_dim_x_rbv = stringin("PosNameDimX_RBV", doc="position attribute name, dimension X")
    pos_name_dim_y = stringout("PosNameDimY", doc="position attribute name, dimension Y")
    pos_name_dim_y_rbv = stringin("PosNameDimY_RBV", doc="position attribute name, dimension Y")
    pos_name_dim3 = stringout("PosNameDim3", doc="position attribute name, dimension 3")
    pos_name_dim3_rbv = stringin("PosNameDim3_RBV", doc="position attribute name, dimension 3")
    pos_name_dim4 = stringout("PosNameDim4", doc="position attribute name, dimension 4")
    pos_name_dim4_rbv = stringin("PosNameDim4_RBV", doc="position attribute name, dimension 4")
    pos_name_dim5 = stringout("PosNameDim5", doc="position attribute name, dimension 5")
    pos_name_dim5_rbv = stringin("PosNameDim5_RBV", doc="position attribute name, dimension 5")
    pos_name_dim6 = stringout("PosNameDim6", doc="position attribute name, dimension 6")
    pos_name_dim6_rbv = stringin("PosNameDim6_RBV", doc="position attribute name, dimension 6")
    pos_name_dim7 = stringout("PosNameDim7", doc="position attribute name, dimension 7")
    pos_name_dim7_rbv = stringin("PosNameDim7_RBV", doc="position attribute name, dimension 7")
    pos_name_dim8 = stringout("PosNameDim8", doc="position attribute name, dimension 8")
    pos_name_dim8_rbv = stringin("PosNameDim8_RBV", doc="position attribute name, dimension 8")
    pos_name_dim9 = stringout("PosNameDim9", doc="position attribute name, dimension 9")
    pos_name_dim9_rbv = stringin("PosNameDim9_RBV", doc="position attribute name, dimension 9")
    pos_index_dim_n = stringout("PosIndexDimN", doc="position index attribute, dimension N")
    pos_index_dim_n_rbv = stringin("PosIndexDimN_RBV", doc="position index attribute, dimension N")
    pos_index_dim_x = stringout("PosIndexDimX", doc="position index attribute, dimension X")
    pos_index_dim_x_rbv = stringin("PosIndexDimX_RBV", doc="position index attribute, dimension X")
    pos_index_dim_y = stringout("PosIndexDimY", doc="position index attribute, dimension Y")
    pos_index_dim_y_rbv = stringin("PosIndexDimY_RBV", doc="position index attribute, dimension Y")
    pos_index_dim3 = stringout("PosIndexDim3", doc="position index attribute, dimension 3")
    pos_index_dim3_rbv = stringin("PosIndexDim3_RBV", doc="position index attribute, dimension 3")
    pos_index_dim4 = stringout("PosIndexDim4", doc="position index attribute, dimension 4")
    pos_index_dim4_rbv = stringin("PosIndexDim4_RBV", doc="position index attribute, dimension 4")
    pos_index_dim5 = stringout("PosIndexDim5", doc="position index attribute, dimension 5")
    pos_index_dim5_rbv = stringin("PosIndexDim5_RBV", doc="position index attribute, dimension 5")
    pos_index_dim6 = stringout("PosIndexDim6", doc="position index attribute, dimension 6")
    pos_index_dim6_rbv = stringin("PosIndexDim6_RBV", doc="position index attribute, dimension 6")
    pos_index_dim7 = stringout("PosIndexDim7", doc="position index attribute, dimension 7")
    pos_index_dim7_rbv = stringin("PosIndexDim7_RBV", doc="position index attribute, dimension 7")
    pos_index_dim8 = stringout("PosIndexDim8", doc="position index attribute, dimension 8")
    pos_index_dim8_rbv = stringin("PosIndexDim8_RBV", doc="position index attribute, dimension 8")
    pos_index_dim9 = stringout("PosIndexDim9", doc="position index attribute, dimension 9")
    pos_index_dim9_rbv = stringin("PosIndexDim9_RBV", doc="position index attribute, dimension 9")
    fill_value = ao("FillValue", prec=1, doc="fill value of the dataset")
    fill_value_rbv = ai("FillValue_RBV", prec=1, doc="fill value of the dataset")
    extra_dim_chunk_x = longout("ExtraDimChunkX", doc="chunk size, extra dimension X")
    extra_dim_chunk_x_rbv = longin("ExtraDimChunkX_RBV", doc="chunk size, extra dimension X")
    extra_dim_chunk_y = longout("ExtraDimChunkY", doc="chunk size, extra dimension Y")
    extra_dim_chunk_y_rbv = longin("ExtraDimChunkY_RBV", doc="chunk size, extra dimension Y")
    extra_dim_chunk3 = longout("ExtraDimChunk3", doc="chunk size, extra dimension 3")
    extra_dim_chunk3_rbv = longin("ExtraDimChunk3_RBV", doc="chunk size, extra dimension 3")
    extra_dim_chunk4 = longout("ExtraDimChunk4", doc="chunk size, extra dimension 4")
    extra_dim_chunk4_rbv = longin("ExtraDimChunk4_RBV", doc="chunk size, extra dimension 4")
    extra_dim_chunk5 = longout("ExtraDimChunk5", doc="chunk size, extra dimension 5")
    extra_dim_chunk5_rbv = longin("ExtraDimChunk5_RBV", doc="chunk size, extra dimension 5")
    extra_dim_chunk6 = longout("ExtraDimChunk6", doc="chunk size, extra dimension 6")
    extra_dim_chunk6_rbv = longin("ExtraDimChunk6_RBV", doc="chunk size, extra dimension 6")
    extra_dim_chunk7 = longout("ExtraDimChunk7", doc="chunk size, extra dimension 7")
    extra_dim_chunk7_rbv = longin("ExtraDimChunk7_RBV", doc="chunk size, extra dimension 7")
    extra_dim_chunk8 = longout("ExtraDimChunk8", doc="chunk size, extra dimension 8")
    extra_dim_chunk8_rbv = longin("ExtraDimChunk8_RBV", doc="chunk size, extra dimension 8")
    extra_dim_chunk9 = longout("ExtraDimChunk9", doc="chunk size, extra dimension 9")
    extra_dim_chunk9_rbv = longin("ExtraDimChunk9_RBV", doc="chunk size, extra dimension 9")


    def __init__(self, *args, macros: dict | None = None, **kwargs) -> None:
        super().__init__(*args, macros={"FILE_TEMPLATE": DEFAULT_TEMPLATE, **(macros or {})}, **kwargs)
        self._io_pool = worker("dot-hdf5")
        self._stream: HDF5File | None = None
        self._opened_at = 0.0

    # -- settings ------------------------------------------------------------------

    def settings(self) -> HDF5Settings:
        """The file-shaping settings now (snapshotted when a file opens)."""
        auto = bool(index(self.chunk_size_auto))
        return HDF5Settings(
            compression=self.compression.value,
            zlevel=self.z_level.value,
            szip_pixels=self.s_zip_num_pixels.value,
            blosc_compressor=self.blosc_compressor.value,
            blosc_level=self.blosc_level.value,
            blosc_shuffle=self.blosc_shuffle.value,
            frames_per_chunk=max(1, self.num_frames_chunks.value),
            row_chunks=0 if auto else self.num_row_chunks.value,
            col_chunks=0 if auto else self.num_col_chunks.value,
            swmr=bool(index(self.swmr_mode)),
            flush_every=self.num_frames_flush.value,
            store_attributes=bool(index(self.store_attr)),
            store_performance=bool(index(self.store_perform)),
            fill_value=self.fill_value.value,
            attribute_chunk=self.nd_attribute_chunk.value,
            expected_frames=max(self.num_capture.value, 0),
        )

    async def _settle_chunks(self) -> None:
        """NumFramesChunks 0 (a fresh IOC) becomes 1 at the first capture, as in ADCore."""
        if self.num_frames_chunks.value < 1:
            await self.num_frames_chunks.write(1, verify_value=False)
            await self.num_frames_chunks_rbv.write(1)
        if index(self.chunk_size_auto):
            rows, cols = self.described_array()[0]
            await post(self.num_row_chunks_rbv, rows)
            await post(self.num_col_chunks_rbv, cols)

    # -- files ---------------------------------------------------------------------

    async def _run(self, func, *args):
        return await asyncio.get_running_loop().run_in_executor(self._io_pool, func, *args)

    async def _file_done(self, full: str, frames: int, started: float, nbytes: int) -> None:
        """Readbacks after a file is closed: FullFileName, RunTime, IOSpeed, WriteStatus."""
        took = time.monotonic() - started
        await self.name_file(full)
        await self.run_time.write(took)
        await self.io_speed.write(nbytes * 8 / 1e6 / took if took > 0 else 0.0)
        await self.report(True, "")

    async def write_files(self, frames: list[Frame]) -> str | None:
        """Single and Capture modes: ``frames`` into one new file; an error message on failure."""
        target = self.target()
        started = time.monotonic()
        items = [(f.data, f.unique_id, f.timestamp, f.attributes) for f in frames]
        try:
            full = await self._run(write_file, target, self.settings(), items)
        except WriteError as exc:
            return await self.failed(exc)
        await self.advance_number(target.number)
        await self._file_done(full, len(frames), started, sum(f.data.nbytes for f in frames))
        return None

    async def _open_stream(self, shape: tuple[int, int], dtype: np.dtype, attribute_names: tuple[str, ...]) -> str | None:
        target = self.target()
        stream = HDF5File(target, self.settings(), shape, dtype, attribute_names)
        try:
            full = await self._run(stream.open)
        except WriteError as exc:
            return await self.failed(exc)
        self._stream = stream
        self._opened_at = time.monotonic()
        await self.advance_number(target.number)
        await self.name_file(full)
        await post(self.swmr_active_rbv, "Active" if stream.swmr_active else "Off")
        await self.report(True, "")
        return None

    async def _close_stream(self) -> str | None:
        stream, self._stream = self._stream, None
        if stream is None:
            return None
        await post(self.swmr_active_rbv, "Off")
        try:
            full = await self._run(stream.close)
        except WriteError as exc:
            await self._run(stream.abort)
            return await self.failed(exc)
        await self._file_done(full, stream.frames, self._opened_at,
                              stream.frames * int(np.prod(stream.frame_shape)) * stream.dtype.itemsize)
        return None

    async def stream(self, frame: Frame) -> str | None:
        if self._stream is None:  # LazyOpen: the first frame gives the dimensions
            problem = await self._open_stream(frame.data.shape, frame.data.dtype, tuple(frame.attributes))
            if problem:
                await self.end_capture()
                return problem
        stream = self._stream
        flushes = stream.flushes
        try:
            n = await self._run(stream.append, frame.data, frame.unique_id, frame.timestamp, frame.attributes)
        except WriteError as exc:
            if exc.errno in (22,):  # EINVAL: this frame does not fit (ROI/type changed); the file goes on
                return await self.failed(exc)
            # The disk is full or the file is gone: close it with the frames it holds, end the capture.
            self._stream = None
            await self._run(stream.finish_after_error)
            await post(self.swmr_active_rbv, "Off")
            await self.end_capture()
            return await self.failed(exc)
        if stream.flushes != flushes:
            await self.swmr_cb_counter_rbv.write(self.swmr_cb_counter_rbv.value + stream.flushes - flushes)
        await self.count_captured(n)
        limit = self.num_capture.value
        if limit > 0 and n >= limit:
            problem = await self._close_stream()
            await self.end_capture()
            return problem
        return None

    # -- PV hooks ------------------------------------------------------------------

    async def stop(self) -> None:
        # The IOC is stopping: close an open file so every frame in it stays readable.
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except WriteError:
                stream.abort()
        self._io_pool.shutdown(wait=True)

    async def capture_starting(self, instance) -> None:
        if self.file_write_mode.value == "Capture" and self.num_capture.value < 1:
            raise ValueError(f"{instance.pvname}: Capture mode buffers NumCapture frames: set NumCapture >= 1")
        await self._settle_chunks()
        if self.file_write_mode.value == "Stream" and not index(self.lazy_open):
            shape, dtype = self.described_array()
            names = tuple(self._last.attributes) if self._last is not None else ()
            problem = await self._open_stream(shape, dtype, names)
            if problem:
                raise ValueError(f"{instance.pvname}: capture not started: {text(self.write_message.value)}")

    async def capture_stopping(self) -> None:
        await self._close_stream()

    @flush_now.putter
    async def flush_now(self, instance, value):
        if enum_index(instance, value) == 1 and self._stream is not None:
            stream = self._stream
            try:
                await self._run(stream.flush)
            except WriteError as exc:
                await self.failed(exc)
            else:
                await self.swmr_cb_counter_rbv.write(self.swmr_cb_counter_rbv.value + 1)
        return "Done"

    @compression.putter
    async def compression(self, instance, value):
        name = instance.enum_strings[enum_index(instance, value)]
        problem = compression_problem(name)
        if problem:
            raise ValueError(f"{instance.pvname}: {problem}")
        return await echo_to_readback(self, instance, name)

    @s_zip_num_pixels.putter
    async def s_zip_num_pixels(self, instance, value):
        value = integer(instance.pvname, value, 2, 32, "szip pixels per block")
        if value % 2:
            raise ValueError(f"{instance.pvname}: szip pixels per block must be even, not {value}")
        return await echo_to_readback(self, instance, value)

    @num_extra_dims.putter
    async def num_extra_dims(self, instance, value):
        value = integer(instance.pvname, value, 0, 9, "number of extra dimensions")
        if value:
            raise ValueError(f"{instance.pvname}: extra dimensions are not simulated; only 0 (frames along one "
                             f"dimension) is supported, not {value}")
        return await echo_to_readback(self, instance, value)

    @xml_file_name.putter
    async def xml_file_name(self, instance, value):
        name = text(value)
        await echo_to_readback(self, instance, name)
        if name:
            await post(self.xml_valid_rbv, "No")
            await post(self.xml_error_msg_rbv, "custom layout XML is not simulated: the default layout is used")
        else:
            await post(self.xml_valid_rbv, "Yes")
            await post(self.xml_error_msg_rbv, "")
        return name

    @fill_value.putter
    async def fill_value(self, instance, value):
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"{instance.pvname}: the fill value must be a finite number, not {value}")
        return await echo_to_readback(self, instance, value)
