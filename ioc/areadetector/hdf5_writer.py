"""Writing frames to HDF5 files as areaDetector's NDFileHDF5 lays them out; no EPICS here.

The HDF1 plugin calls these on one worker thread and reports what they raise
(:class:`.file_paths.WriteError`) through WriteStatus/WriteMessage.

The layout is NDFileHDF5's default (ADCore ``NDFileHDF5LayoutXML.cpp``, DEFAULT_LAYOUT)::

    /entry                          NX_class NXentry
      /instrument                   NXinstrument
        /detector                   NXdetector
          data                      (frames, rows, cols), attribute signal = 1
          /NDAttributes             NXcollection: ColorMode
        /NDAttributes               NXcollection: NDArrayUniqueId, NDArrayTimeStamp,
                                    NDArrayEpicsTSSec, NDArrayEpicsTSnSec and each
                                    attribute of the frames (StoreAttr = Yes)
        /performance                timestamp (StorePerform = Yes)
      /data                         NXdata; data is a hard link to /entry/instrument/detector/data

so area-detector-handlers' ``AD_HDF5`` (``/entry/data/data``) and ophyd-async's HDF
resources (``/entry/data/data``, ``/entry/instrument/NDAttributes/<name>``) read it.

Files are confined to the data root as TIFF files are (:func:`.file_paths.resolve_directory`),
created with O_EXCL (HDF5's ACC_EXCL, so never through a link planted at the name), and
written in place as NDFileHDF5 writes them: readers see the file while it grows, which SWMR
mode makes safe (the file is consistent after every flush). With ``TempSuffix`` the file is
written under FullFileName + suffix and renamed on close, as NDFileHDF5 does. A write that
fails (a full disk) keeps what was flushed before it: the file is closed, not deleted.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .file_paths import FileTarget, TemplateError, WriteError, resolve_directory

COMPRESSIONS = ("None", "N-bit", "szip", "zlib", "Blosc", "BSLZ4", "LZ4", "JPEG")
BLOSC_COMPRESSORS = ("BloscLZ", "LZ4", "LZ4HC", "SNAPPY", "ZLIB", "ZSTD")
BLOSC_SHUFFLES = ("None", "Byte", "Bit")
STANDARD_ATTRIBUTES = ("NDArrayUniqueId", "NDArrayTimeStamp", "NDArrayEpicsTSSec", "NDArrayEpicsTSnSec")
EPICS_EPOCH = 631152000.0  # POSIX seconds at 1990-01-01, where EPICS time stamps start
# Room kept free for the file's metadata (dataset extents, attribute datasets, superblock)
# beyond a frame's bytes: the HDF5 library must never meet a full disk itself (below).
METADATA_ROOM = 256 * 1024


def _hdf5plugin():
    """hdf5plugin if installed (Blosc, bitshuffle-LZ4 and LZ4 filters), else None."""
    try:
        import hdf5plugin
    except ImportError:
        return None
    return hdf5plugin


def compression_problem(name: str) -> str | None:
    """Why the compression ``name`` cannot be used here, or None if it can."""
    if name not in COMPRESSIONS:
        return f"unknown compression {name!r}"
    if name in ("N-bit", "JPEG"):
        # h5py has no high-level N-bit filter and there is no JPEG HDF5 filter in hdf5plugin.
        return f"{name} compression is not available in this IOC; use None, zlib, szip, Blosc, BSLZ4 or LZ4"
    if name in ("Blosc", "BSLZ4", "LZ4") and _hdf5plugin() is None:
        return f"{name} compression needs the hdf5plugin package, which is not installed; use None, zlib or szip"
    if name == "szip" and not h5py.h5z.filter_avail(h5py.h5z.FILTER_SZIP):
        return "szip compression is not available in this HDF5 library"
    return None


@dataclass(frozen=True)
class HDF5Settings:
    """The plugin's settings that shape a file (PV names in brackets)."""

    compression: str = "None"  # [Compression]
    zlevel: int = 6  # [ZLevel], 0-9
    szip_pixels: int = 16  # [SZipNumPixels], even, <= 32
    blosc_compressor: str = "BloscLZ"  # [BloscCompressor]
    blosc_level: int = 5  # [BloscLevel]
    blosc_shuffle: str = "None"  # [BloscShuffle]
    frames_per_chunk: int = 1  # [NumFramesChunks]
    row_chunks: int = 0  # [NumRowChunks]; 0: the frame's rows
    col_chunks: int = 0  # [NumColChunks]; 0: the frame's columns
    swmr: bool = False  # [SWMRMode]
    flush_every: int = 0  # [NumFramesFlush]; 0: at close only (each frame in SWMR mode)
    store_attributes: bool = True  # [StoreAttr]
    store_performance: bool = False  # [StorePerform]
    fill_value: float = 0.0  # [FillValue]
    attribute_chunk: int = 0  # [NDAttributeChunk]; 0: NumCapture frames, at most 16384 (as ADCore)
    expected_frames: int = 0  # frames the file is meant for (NumCapture); 0: unknown

    def attribute_chunks(self) -> tuple[int]:
        """Chunk of the 1-D NDAttribute datasets: NDAttributeChunk, else NumCapture, else 16384."""
        return (max(1, min(self.attribute_chunk or self.expected_frames or 16384, 16384)),)

    def filter_kwargs(self) -> dict:
        """h5py ``create_dataset`` keywords of the compression filter."""
        name = self.compression
        if name == "zlib":
            return {"compression": "gzip", "compression_opts": int(self.zlevel)}
        if name == "szip":
            return {"compression": "szip", "compression_opts": ("nn", int(self.szip_pixels))}
        plugin = _hdf5plugin()
        if name == "Blosc":
            shuffle = {"None": plugin.Blosc.NOSHUFFLE, "Byte": plugin.Blosc.SHUFFLE,
                       "Bit": plugin.Blosc.BITSHUFFLE}[self.blosc_shuffle]
            cname = {"BloscLZ": "blosclz", "LZ4": "lz4", "LZ4HC": "lz4hc", "SNAPPY": "snappy",
                     "ZLIB": "zlib", "ZSTD": "zstd"}[self.blosc_compressor]
            return dict(plugin.Blosc(cname=cname, clevel=int(self.blosc_level), shuffle=shuffle))
        if name == "BSLZ4":
            return dict(plugin.Bitshuffle(cname="lz4"))
        if name == "LZ4":
            return dict(plugin.LZ4())
        return {}


class HDF5File:
    """One HDF5 file being written: :meth:`open`, :meth:`append` frames, :meth:`close`.

    ``frame_shape`` is (rows, cols), ``attribute_names`` the frames' own NDAttributes
    (datasets must exist before SWMR writing starts, so they are fixed at open).
    """

    def __init__(self, target: FileTarget, settings: HDF5Settings, frame_shape: tuple[int, int],
                 dtype: np.dtype, attribute_names: tuple[str, ...] = ()) -> None:
        self.target = target
        self.settings = settings
        self.frame_shape = tuple(int(n) for n in frame_shape)
        self.dtype = np.dtype(dtype)
        self.attribute_names = tuple(a for a in attribute_names if a not in STANDARD_ATTRIBUTES)
        self.full_name = ""
        self.frames = 0
        self.flushes = 0
        self._file: h5py.File | None = None
        self._path: Path | None = None
        self._final: Path | None = None
        self._since_flush = 0

    @property
    def is_open(self) -> bool:
        return self._file is not None

    @property
    def swmr_active(self) -> bool:
        return self._file is not None and self.settings.swmr

    def chunks(self) -> tuple[int, int, int]:
        rows, cols = self.frame_shape
        s = self.settings
        return (max(1, s.frames_per_chunk), min(s.row_chunks or rows, rows), min(s.col_chunks or cols, cols))

    def open(self) -> str:
        """Create the file and its datasets; returns FullFileName. Raises WriteError."""
        problem = compression_problem(self.settings.compression)
        if problem:
            raise WriteError(errno.EINVAL, problem)
        try:
            full = self.target.full_name
        except TemplateError as exc:
            raise WriteError(errno.EINVAL, f"bad FileTemplate: {exc}") from None
        directory = resolve_directory(os.path.dirname(full) or self.target.path, self.target.data_root,
                                      self.target.create_depth)
        base = os.path.basename(full)
        if base in ("", ".", ".."):
            raise WriteError(errno.EINVAL, f"FullFileName {full!r} names a directory, not a file")
        suffix = self.target.temp_suffix
        if "/" in suffix or "\0" in suffix:
            raise WriteError(errno.EINVAL, f"TempSuffix {suffix!r} cannot contain '/' or NUL")
        self._final = directory / base
        self._path = directory / (base + suffix) if suffix else self._final
        self.full_name = full
        try:
            if self._path.is_dir() and not self._path.is_symlink():
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
            _remove_quietly(self._path)  # NDFileHDF5 overwrites; a planted link is removed, not followed
            self.check_room(0, f"cannot create {full}")
            self._file = h5py.File(self._path, "x", libver="latest" if self.settings.swmr else None)
            self._layout()
            if self.settings.swmr:
                self._file.swmr_mode = True
        except Exception as exc:
            self._abandon()
            raise _error(f"cannot create {full}", exc) from None
        return full

    def _layout(self) -> None:
        f = self._file
        rows, cols = self.frame_shape
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        instrument = entry.create_group("instrument")
        instrument.attrs["NX_class"] = "NXinstrument"
        detector = instrument.create_group("detector")
        detector.attrs["NX_class"] = "NXdetector"
        fill = self.settings.fill_value
        self._data = detector.create_dataset(
            "data", shape=(0, rows, cols), maxshape=(None, rows, cols), dtype=self.dtype,
            chunks=self.chunks(), fillvalue=np.array(fill).astype(self.dtype) if math.isfinite(fill) else None,
            **self.settings.filter_kwargs())
        self._data.attrs["signal"] = np.int32(1)
        det_attrs = detector.create_group("NDAttributes")
        det_attrs.attrs["NX_class"] = "NXcollection"
        self._color = det_attrs.create_dataset("ColorMode", shape=(0,), maxshape=(None,), dtype=np.int32,
                                               chunks=self.settings.attribute_chunks())
        attrs = instrument.create_group("NDAttributes")
        attrs.attrs["NX_class"] = "NXcollection"
        self._attrs: dict[str, h5py.Dataset] = {}
        if self.settings.store_attributes:
            kinds = {"NDArrayUniqueId": np.int32, "NDArrayTimeStamp": np.float64,
                     "NDArrayEpicsTSSec": np.uint32, "NDArrayEpicsTSnSec": np.uint32}
            for name in STANDARD_ATTRIBUTES + self.attribute_names:
                self._attrs[name] = attrs.create_dataset(name, shape=(0,), maxshape=(None,),
                                                         dtype=kinds.get(name, np.float64),
                                                         chunks=self.settings.attribute_chunks())
        self._perf = None
        if self.settings.store_performance:
            perf = instrument.create_group("performance")
            self._perf = perf.create_dataset("timestamp", shape=(0, 5), maxshape=(None, 5), dtype=np.float64,
                                             chunks=(1024, 5))
        data_group = entry.create_group("data")
        data_group.attrs["NX_class"] = "NXdata"
        data_group["data"] = self._data  # a hard link, as the layout's <hardlink>
        self._t0 = time.monotonic()

    def append(self, data: np.ndarray, unique_id: int, timestamp: float, attributes: dict | None = None) -> int:
        """Add one frame (rows x cols); returns the number of frames in the file. Raises WriteError."""
        if self._file is None:
            raise WriteError(errno.EBADF, "no HDF5 file is open")
        if tuple(data.shape) != self.frame_shape:
            raise WriteError(errno.EINVAL, f"frame {data.shape[::-1]} does not fit the file's {self.frame_shape[::-1]} "
                             f"(ROI or binning changed during capture)")
        if data.dtype != self.dtype:
            # HDF5 converts a frame of another DataType on writing, saturating at the file type's range.
            data = _convert(data, self.dtype)
        n = self.frames
        self.check_room(data.size * self.dtype.itemsize, f"cannot write frame {n + 1} to {self.full_name}")
        try:
            self._data.resize(n + 1, axis=0)
            self._data[n] = data
            _append(self._color, n, 0)  # Mono
            values = {"NDArrayUniqueId": unique_id, "NDArrayTimeStamp": timestamp - EPICS_EPOCH,
                      "NDArrayEpicsTSSec": int(timestamp - EPICS_EPOCH),
                      "NDArrayEpicsTSnSec": int(round((timestamp % 1.0) * 1e9)) % 1_000_000_000}
            for name in self.attribute_names:
                value = (attributes or {}).get(name, math.nan)
                values[name] = float(value) if isinstance(value, (int, float, np.number)) else math.nan
            for name, dset in self._attrs.items():
                _append(dset, n, values[name])
            if self._perf is not None:
                _append(self._perf, n, [time.monotonic() - self._t0, 0.0, 0.0, 0.0, 0.0])
            self.frames = n + 1
            self._since_flush += 1
            every = self.settings.flush_every or (1 if self.settings.swmr else 0)
            if every and self._since_flush >= every:
                self.flush()
        except WriteError:
            raise
        except Exception as exc:
            self._truncate(n)
            raise _error(f"cannot write frame {n + 1} to {self.full_name}", exc) from None
        return self.frames

    def check_room(self, nbytes: int, what: str) -> None:
        """Raise WriteError (ENOSPC or EFBIG) unless ``nbytes`` more, and room for the
        metadata, fit on the disk and under the process's file size limit.

        The HDF5 library is never left to find out: a write it cannot complete leaves its
        file open in the library with metadata it cannot flush (h5py then fails to close
        it, and the process crashes at exit), while a frame refused here leaves a file that
        closes cleanly with every earlier frame.
        """
        needed = nbytes + METADATA_ROOM
        path = self._path
        try:
            stat = os.statvfs(path.parent)
            size = os.path.getsize(path) if path.exists() else 0
        except OSError as exc:
            raise _error(what, exc) from None
        if stat.f_bavail * stat.f_frsize < needed:
            raise WriteError(errno.ENOSPC, f"{what}: {os.strerror(errno.ENOSPC)}")
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and size + needed > limit:
            raise WriteError(errno.EFBIG, f"{what}: {os.strerror(errno.EFBIG)}")

    def _truncate(self, n: int) -> None:
        """After a failed append: back to ``n`` frames, so that closing the file does not
        record a frame (or attribute) that never reached the disk."""
        for dset in (self._data, self._color, *self._attrs.values(), *([self._perf] if self._perf else [])):
            try:
                if dset.shape[0] > n:
                    dset.resize(n, axis=0)
            except Exception:
                pass
        self.frames = n

    def flush(self) -> None:
        """Make every frame appended so far readable (FlushNow, NumFramesFlush, SWMR)."""
        if self._file is None:
            return
        try:
            self._file.flush()
        except Exception as exc:
            raise _error(f"cannot flush {self.full_name}", exc) from None
        self._since_flush = 0
        self.flushes += 1

    def close(self) -> str:
        """Close the file (renaming it from its temporary name); returns FullFileName."""
        if self._file is None:
            return self.full_name
        f, self._file = self._file, None
        try:
            f.close()
        except Exception as exc:
            raise _error(f"cannot close {self.full_name}", exc) from None
        if self._path != self._final:
            try:
                os.replace(self._path, self._final)
            except OSError as exc:
                raise _error(f"cannot rename {self._path} to {self._final}", exc) from None
        return self.full_name

    def finish_after_error(self) -> None:
        """After a refused or failed frame: close the file with the frames written so far
        (a file that holds none is removed, as no partial TIFF is left either)."""
        try:
            self.close()
        except WriteError:
            self.abort()
        if self.frames == 0 and self._path is not None:
            _remove_quietly(self._path)

    def abort(self) -> None:
        """Close after a failure, keeping what was written (errors now are not news)."""
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except Exception:
                pass

    def _abandon(self) -> None:
        """Creating the file failed: close and remove the empty remains."""
        self.abort()
        if self._path is not None:
            _remove_quietly(self._path)


def write_file(target: FileTarget, settings: HDF5Settings, frames: list[tuple[np.ndarray, int, float, dict]]) -> str:
    """Write ``frames`` ((data, unique id, POSIX time stamp, attributes) each) to one new
    file (Single and Capture modes); returns FullFileName. Raises WriteError."""
    first = frames[0][0]
    names = tuple(frames[0][3].keys())
    settings = dataclasses.replace(settings, expected_frames=len(frames))
    h5 = HDF5File(target, settings, first.shape, first.dtype, names)
    h5.open()
    try:
        for data, uid, stamp, attrs in frames:
            h5.append(data, uid, stamp, attrs)
        return h5.close()
    except WriteError:
        h5.finish_after_error()
        raise


def read_frames(path: str | Path, swmr: bool = False) -> np.ndarray:
    """All frames of an NDFileHDF5 file (``/entry/data/data``), for checks and tools."""
    with h5py.File(path, "r", libver="latest", swmr=swmr) as f:
        return f["entry/data/data"][()]


def _convert(data: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``data`` as ``dtype``, saturating as HDF5's numeric conversion does."""
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return np.clip(data, info.min, info.max).astype(dtype)
    return data.astype(dtype)


def _append(dset: h5py.Dataset, n: int, value) -> None:
    dset.resize(n + 1, axis=0)
    dset[n] = value


def _error(what: str, exc: BaseException) -> WriteError:
    """A WriteError saying ``what`` failed and why, with the errno when the OS gave one."""
    code = getattr(exc, "errno", None)
    if not code:
        # HDF5 wraps the OS error in its own text: find the errno it names, if any.
        message = str(exc)
        code = next((c for c in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EACCES, errno.EROFS)
                     if os.strerror(c).lower() in message.lower() or f"errno = {c}" in message), None)
    reason = os.strerror(code) if code else f"{type(exc).__name__}: {exc}"
    return WriteError(code or errno.EIO, f"{what}: {reason}")


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
