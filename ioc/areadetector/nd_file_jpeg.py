"""``JPEG1:``: NDFileJPEG.template, one JPEG file per 8-bit frame (ADCore NDFileJPEG), encoded by Pillow.

As NDFileJPEG.cpp: 8-bit data only (Int8/UInt8; another type is a write error saying so),
JPEGQuality 0-100 (default 50).
"""

from __future__ import annotations

import asyncio
import errno

import numpy as np

from ..records.declare import longin, longout, mbbi, mbbo
from ..threads import worker
from .file_paths import FileTarget, WriteError
from .nd_file import NDFileOnePerFrame
from .ndarray import Frame
from .tiff_writer import write_new_file


def write_jpeg(target: FileTarget, data: np.ndarray, quality: int) -> str:
    """Write a 2-D 8-bit frame as a grey-scale JPEG file; returns FullFileName. Raises WriteError."""
    if data.dtype not in (np.uint8, np.int8):
        raise WriteError(errno.EINVAL, f"only 8-bit data is supported, not {data.dtype}")
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(data.view(np.uint8)), mode="L")
    return write_new_file(target, lambda fh: image.save(fh, format="JPEG", quality=int(quality)))


class NDFileJPEG(NDFileOnePerFrame):
    """NDFileJPEG.template (NDFile and NDPluginBase templates, its FileFormat menu, JPEGQuality)."""

    plugin_type = "NDFileJPEG"

    file_format = mbbo("FileFormat", "JPEG", ("JPEG", "Invalid"),
                       doc="file data format, replaces NDFile.template (FileFormat_RBV menu: JPEG/Undefined)")
    file_format_rbv = mbbi("FileFormat_RBV", "JPEG", ("JPEG", "Undefined"),
                           doc="file data format, replaces NDFile.template (FileFormat_RBV menu: JPEG/Undefined)")
    jpeg_quality = longout("JPEGQuality", 50, valid=(0, 100, "JPEG quality"), doc="file quality (0-100)")
    jpeg_quality_rbv = longin("JPEGQuality_RBV", 50, doc="file quality (0-100)")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._io_pool = worker("jpeg")

    async def stop(self) -> None:
        self._io_pool.shutdown(wait=True)

    async def write_frame(self, frame: Frame) -> str | None:
        """Write one frame to its JPEG file; returns an error message on failure."""
        target = self.target()
        loop = asyncio.get_running_loop()
        try:
            full = await loop.run_in_executor(self._io_pool, write_jpeg, target, frame.data, self.jpeg_quality.value)
        except WriteError as exc:
            return await self.failed(exc)
        await self.name_file(full)
        await self.advance_number(target.number)
        await self.report(True, "")
        return None
