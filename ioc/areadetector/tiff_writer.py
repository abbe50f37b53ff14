"""Writing frames to TIFF files safely: inside the data root, atomically, with clear errors.

No EPICS here: the TIFF plugin (:mod:`.nd_file_tiff`) calls these functions on a worker
thread and reports what they raise through its WriteStatus/WriteMessage PVs.
"""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile

from .file_paths import FileTarget, TemplateError, WriteError, resolve_directory

# NDFileTIFF's private tags (ADCore NDFileTIFF.cpp): the NDArray's time stamp and unique id.
TAG_ND_TIMESTAMP = 65000
TAG_UNIQUE_ID = 65001
TAG_EPICS_TS_SEC = 65002
TAG_EPICS_TS_NSEC = 65003
EPICS_EPOCH = 631152000  # POSIX time of 1990-01-01, where EPICS time stamps start


def nd_tags(unique_id: int, timestamp: float) -> list[tuple]:
    """The tags NDFileTIFF writes into every file, as tifffile ``extratags``."""
    sec = int(timestamp)
    return [
        (TAG_ND_TIMESTAMP, "d", 1, timestamp - EPICS_EPOCH, True),
        (TAG_UNIQUE_ID, "I", 1, unique_id & 0xFFFFFFFF, True),
        (TAG_EPICS_TS_SEC, "I", 1, max(sec - EPICS_EPOCH, 0), True),
        (TAG_EPICS_TS_NSEC, "I", 1, int(round((timestamp - sec) * 1e9)) % 1_000_000_000, True),
    ]


def write_tiff(target: FileTarget, data: np.ndarray, metadata: dict | None = None,
               extratags: list[tuple] = ()) -> str:
    """Write ``data`` to ``target``'s file; returns FullFileName. Raises WriteError."""
    return write_new_file(target, lambda fh: _write_image(fh, data, metadata, extratags))


def write_new_file(target: FileTarget, write: Callable[[io.BufferedWriter], None]) -> str:
    """Write ``target``'s file with ``write(fh)``; returns FullFileName. Raises WriteError.

    The file is written under a temporary name in the same directory first and renamed into
    place once complete, so readers never see a partial file, even on a full disk.
    """
    try:
        full = target.full_name
    except TemplateError as exc:
        raise WriteError(errno.EINVAL, f"bad FileTemplate: {exc}") from None
    directory = resolve_directory(os.path.dirname(full) or target.path, target.data_root, target.create_depth)
    base = os.path.basename(full)
    if base in ("", ".", ".."):
        raise WriteError(errno.EINVAL, f"FullFileName {full!r} names a directory, not a file")
    if "/" in target.temp_suffix or "\0" in target.temp_suffix:
        raise WriteError(errno.EINVAL, f"TempSuffix {target.temp_suffix!r} cannot contain '/' or NUL")
    final = directory / base
    temp = directory / (base + target.temp_suffix if target.temp_suffix else f".{base}.partial")
    try:
        with _create_new(temp) as fh:
            write(fh)
        os.replace(temp, final)
    except OSError as exc:
        _remove_quietly(temp)
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise WriteError(exc.errno or errno.EIO, f"cannot write {full}: {reason}") from None
    except Exception as exc:  # tifffile (or another encoder) raises ValueError/TypeError on odd input
        _remove_quietly(temp)
        raise WriteError(errno.EIO, f"cannot write {full}: {type(exc).__name__}: {exc}") from None
    return full


def _write_image(fh: io.BufferedWriter, data: np.ndarray, metadata: dict | None, extratags=()) -> None:
    """One grey-scale image: tifffile lays the file out in memory without the pixels, then
    the header, the pixels from the frame's own memory and what follows them go to ``fh`` in
    three writes. The bytes are the same as ``tifffile.imwrite``'s. tifffile writing to the file
    itself seeks and writes a dozen times, and on a thread each call that releases the GIL
    waits to get it back from the event loop (3-5 ms a frame in the IOC, against 0.5 alone)."""
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    data = np.ascontiguousarray(data)
    layout = io.BytesIO()
    offset, _ = tifffile.imwrite(layout, shape=data.shape, dtype=data.dtype, photometric="minisblack",
                                 metadata=metadata or None, extratags=extratags, returnoffset=True)
    whole = layout.getbuffer()
    try:
        fh.write(whole[:offset])
        fh.write(memoryview(data).cast("B"))
        fh.write(whole[offset + data.nbytes:])
    finally:
        whole.release()


class _Writer(io.BufferedWriter):
    """A file an encoder writes through Python's own I/O, without its file number.

    Given a file number, encoders write around Python (numpy's ``tofile`` through C stdio,
    which reports a full disk as "307200 requested and 32592 written", without errno);
    Python's writes raise OSError with the errno, so WriteMessage can say "No space left
    on device".
    """

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")


def _create_new(path: Path) -> _Writer:
    """Open ``path`` as a new file of this writer's own, never through a link.

    O_EXCL | O_NOFOLLOW refuse whatever sits at the temporary name (a leftover, or a symlink
    or hard link someone planted to make the IOC write outside the data root); it is then
    unlinked (which removes the name, not what it points to) and the name created once more,
    with the same flags, so anything that reappears there meanwhile is refused again.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        _remove_quietly(path)
        fd = os.open(path, flags, 0o644)
    return _Writer(io.FileIO(fd, "wb"))


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
