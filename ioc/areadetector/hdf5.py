"""``HDF1:``: NDFileHDF5, frames into HDF5 files (:mod:`ioc.hdf5writer` does the writing).

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
  reporting are TIFF1's (the class below extends :class:`FileTIFF`).

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
from caproto.server import pvproperty

from ..adcore_plugin_records import ND_FILE_HDF5
from ..adcore_records import ND_FILE, ND_PLUGIN_BASE
from ..hdf5writer import HDF5File, HDF5Settings, WriteError, compression_problem, write_file
from ..records import echo_to_readback, find, pv_kwargs, records_group, utf8_fit
from ..validate import integer
from .common import NUMPY_TYPES, Frame, enum_index, index, kw, post, text
from .tiff import FileTIFF

_MAX_CHUNK = 1 << 20
DEFAULT_TEMPLATE = "%s%s_%6.6d.h5"  # what ophyd's FileStoreHDF5 sets


class FileHDF5(FileTIFF, records_group("NDFileHDF5Records", ND_FILE_HDF5)):
    """``HDF1:``: NDFileHDF5, frames into HDF5 files."""

    plugin_type = f"NDFileHDF5 ver{h5py.version.hdf5_version}"
    port_name = "FileHDF1"

    nd_array_port = pvproperty(**kw(ND_PLUGIN_BASE, "NDArrayPort"))
    file_format = pvproperty(put=echo_to_readback, **kw(ND_FILE_HDF5, "FileFormat"))
    file_format_rbv = pvproperty(**pv_kwargs(find(ND_FILE_HDF5, "FileFormat"), readback=True))
    capture = pvproperty(**kw(ND_FILE, "Capture"))
    flush_now = pvproperty(**kw(ND_FILE_HDF5, "FlushNow"))
    compression = pvproperty(**kw(ND_FILE_HDF5, "Compression"))
    z_level = pvproperty(**kw(ND_FILE_HDF5, "ZLevel"))
    s_zip_num_pixels = pvproperty(**kw(ND_FILE_HDF5, "SZipNumPixels"))
    blosc_level = pvproperty(**kw(ND_FILE_HDF5, "BloscLevel"))
    num_frames_chunks = pvproperty(**kw(ND_FILE_HDF5, "NumFramesChunks"))
    num_row_chunks = pvproperty(**kw(ND_FILE_HDF5, "NumRowChunks"))
    num_col_chunks = pvproperty(**kw(ND_FILE_HDF5, "NumColChunks"))
    num_frames_flush = pvproperty(**kw(ND_FILE_HDF5, "NumFramesFlush"))
    num_extra_dims = pvproperty(**kw(ND_FILE_HDF5, "NumExtraDims"))
    xml_file_name = pvproperty(**kw(ND_FILE_HDF5, "XMLFileName"))
    fill_value = pvproperty(**kw(ND_FILE_HDF5, "FillValue"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
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

    def _advertised_array(self) -> tuple[tuple[int, int], np.dtype]:
        """(rows, cols) and dtype of the array the plugin describes (last received, or the driver's)."""
        shape = (int(self.array_size1_rbv.value), int(self.array_size0_rbv.value))
        return shape, np.dtype(NUMPY_TYPES[self.data_type_rbv.value])

    async def _settle_chunks(self) -> None:
        """NumFramesChunks 0 (a fresh IOC) becomes 1 at the first capture, as in ADCore."""
        if self.num_frames_chunks.value < 1:
            await self.num_frames_chunks.write(1, verify_value=False)
            await self.num_frames_chunks_rbv.write(1)
        if index(self.chunk_size_auto):
            rows, cols = self._advertised_array()[0]
            await post(self.num_row_chunks_rbv, rows)
            await post(self.num_col_chunks_rbv, cols)

    # -- files ---------------------------------------------------------------------

    async def _run(self, func, *args):
        return await asyncio.get_running_loop().run_in_executor(self._io_pool, func, *args)

    async def _file_done(self, full: str, frames: int, started: float, nbytes: int) -> None:
        """Readbacks after a file is closed: FullFileName, RunTime, IOSpeed, WriteStatus."""
        took = time.monotonic() - started
        await self.full_file_name_rbv.write(utf8_fit(full, self.full_file_name_rbv.max_length))
        await self.run_time.write(took)
        await self.io_speed.write(nbytes * 8 / 1e6 / took if took > 0 else 0.0)
        await self.report(True, "")

    async def _advance_number(self, number: int) -> None:
        if index(self.auto_increment):
            await self.file_number.write(number + 1, verify_value=False)
            await self.file_number_rbv.write(number + 1)

    async def _failed(self, exc: WriteError) -> str:
        message = str(exc)
        await self.report(False, message)
        if text(self.file_path.value):
            await self.check_path(text(self.file_path.value))
        return f"{self.prefix} {message}"

    async def write_frames(self, frames: list[Frame]) -> str | None:
        """Single and Capture modes: ``frames`` into one new file; an error message on failure."""
        target = self._target()
        started = time.monotonic()
        items = [(f.data, f.unique_id, f.timestamp, f.attributes) for f in frames]
        try:
            full = await self._run(write_file, target, self.settings(), items)
        except WriteError as exc:
            return await self._failed(exc)
        await self._advance_number(target.number)
        await self._file_done(full, len(frames), started, sum(f.data.nbytes for f in frames))
        return None

    async def write_frame(self, frame: Frame) -> str | None:
        return await self.write_frames([frame])

    async def _open_stream(self, shape: tuple[int, int], dtype: np.dtype, attribute_names: tuple[str, ...]) -> str | None:
        target = self._target()
        stream = HDF5File(target, self.settings(), shape, dtype, attribute_names)
        try:
            full = await self._run(stream.open)
        except WriteError as exc:
            return await self._failed(exc)
        self._stream = stream
        self._opened_at = time.monotonic()
        await self._advance_number(target.number)
        await self.full_file_name_rbv.write(utf8_fit(full, self.full_file_name_rbv.max_length))
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
            return await self._failed(exc)
        await self._file_done(full, stream.frames, self._opened_at,
                              stream.frames * int(np.prod(stream.frame_shape)) * stream.dtype.itemsize)
        return None

    async def _stream_frame(self, frame: Frame) -> str | None:
        if self._stream is None:  # LazyOpen: the first frame gives the dimensions
            problem = await self._open_stream(frame.data.shape, frame.data.dtype, tuple(frame.attributes))
            if problem:
                await self._end_capture()
                return problem
        stream = self._stream
        flushes = stream.flushes
        try:
            n = await self._run(stream.append, frame.data, frame.unique_id, frame.timestamp, frame.attributes)
        except WriteError as exc:
            if exc.errno in (22,):  # EINVAL: this frame does not fit (ROI/type changed); the file goes on
                return await self._failed(exc)
            # The disk is full or the file is gone: close it with the frames it holds, end the capture.
            self._stream = None
            await self._run(stream.finish_after_error)
            await post(self.swmr_active_rbv, "Off")
            await self._end_capture()
            return await self._failed(exc)
        if stream.flushes != flushes:
            await self.swmr_cb_counter_rbv.write(self.swmr_cb_counter_rbv.value + stream.flushes - flushes)
        await self._captured(n)
        limit = self.num_capture.value
        if limit > 0 and n >= limit:
            problem = await self._close_stream()
            await self._end_capture()
            return problem
        return None

    async def process(self, frame: Frame) -> str | None:
        self._last = frame
        mode = self.file_write_mode.value
        if mode == "Single":
            return await self.write_frame(frame) if index(self.auto_save) else None
        if not index(self.capture):
            return None
        if mode == "Capture":
            self._buffer.append(frame)
            await self._captured(len(self._buffer))
            limit = self.num_capture.value
            if len(self._buffer) >= limit:
                await self._end_capture()
                if index(self.auto_save):
                    return await self._flush_buffer()
            return None
        return await self._stream_frame(frame)

    async def _flush_buffer(self) -> str | None:
        """All captured frames into one file (TIFF1's writes one file each); TIFF1's WriteFile
        putter calls this too."""
        frames, self._buffer = self._buffer, []
        return await self.write_frames(frames) if frames else None

    # -- PV hooks ------------------------------------------------------------------

    @nd_array_port.startup
    async def nd_array_port(self, instance, async_lib):
        await self.init_plugin()
        await self.file_path_exists_rbv.write("No")
        await self.report(True, "")
        await self.file_template.write(DEFAULT_TEMPLATE)  # through TIFF1's checking putter, echoed

    @nd_array_port.shutdown
    async def nd_array_port(self, instance, async_lib):
        # The IOC is stopping: close an open file so every frame in it stays readable.
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except WriteError:
                stream.abort()
        self._io_pool.shutdown(wait=True)

    @nd_array_port.putter
    async def nd_array_port(self, instance, value):
        return await self._port_put(instance, value)

    @capture.putter
    async def capture(self, instance, value):
        start = enum_index(instance, value) == 1
        mode = self.file_write_mode.value
        if start:
            if index(self.capture_rbv):
                return "Capture"  # already capturing
            if mode == "Single":
                raise ValueError(f"{instance.pvname}: Capture needs FileWriteMode Capture or Stream, not Single")
            if mode == "Capture" and self.num_capture.value < 1:
                raise ValueError(f"{instance.pvname}: Capture mode buffers NumCapture frames: set NumCapture >= 1")
            await self._settle_chunks()
            self._buffer.clear()
            await self._captured(0)
            if mode == "Stream" and not index(self.lazy_open):
                shape, dtype = self._advertised_array()
                names = tuple(self._last.attributes) if self._last is not None else ()
                problem = await self._open_stream(shape, dtype, names)
                if problem:
                    raise ValueError(f"{instance.pvname}: capture not started: {text(self.write_message.value)}")
            await self.capture_rbv.write(1)
            return "Capture"
        # Capture_RBV drops only once the file is closed, as in NDPluginFile: a client that
        # waits for it (ophyd's unstage) may then open the file.
        if mode == "Stream":
            await self._close_stream()
        elif mode == "Capture" and self._buffer and index(self.auto_save):
            await instance.write("Done", verify_value=False)
            await self._flush_buffer()
        await self.capture_rbv.write("Done")
        return "Done"

    @flush_now.putter
    async def flush_now(self, instance, value):
        if enum_index(instance, value) == 1 and self._stream is not None:
            stream = self._stream
            try:
                await self._run(stream.flush)
            except WriteError as exc:
                await self._failed(exc)
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

    @z_level.putter
    async def z_level(self, instance, value):
        return await echo_to_readback(self, instance, integer(instance.pvname, value, 0, 9, "zlib level"))

    @blosc_level.putter
    async def blosc_level(self, instance, value):
        return await echo_to_readback(self, instance, integer(instance.pvname, value, 0, 9, "Blosc level"))

    @s_zip_num_pixels.putter
    async def s_zip_num_pixels(self, instance, value):
        value = integer(instance.pvname, value, 2, 32, "szip pixels per block")
        if value % 2:
            raise ValueError(f"{instance.pvname}: szip pixels per block must be even, not {value}")
        return await echo_to_readback(self, instance, value)

    @num_frames_chunks.putter
    async def num_frames_chunks(self, instance, value):
        return await echo_to_readback(self, instance, integer(instance.pvname, value, 0, _MAX_CHUNK, "frames per chunk"))

    @num_row_chunks.putter
    async def num_row_chunks(self, instance, value):
        return await echo_to_readback(self, instance, integer(instance.pvname, value, 0, _MAX_CHUNK, "rows per chunk"))

    @num_col_chunks.putter
    async def num_col_chunks(self, instance, value):
        return await echo_to_readback(self, instance, integer(instance.pvname, value, 0, _MAX_CHUNK, "columns per chunk"))

    @num_frames_flush.putter
    async def num_frames_flush(self, instance, value):
        return await echo_to_readback(self, instance, integer(instance.pvname, value, 0, 2**31 - 1, "frames per flush"))

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
