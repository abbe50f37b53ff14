"""``TIFF1:``: NDFileTIFF.template, one TIFF file per frame (ADCore NDFileTIFF), written by :mod:`.tiff_writer`.

Each file carries NDFileTIFF's tags (NDUniqueId 65001, NDTimeStamp 65000, EPICSTSSec/Nsec)
and the frame's NDAttributes.
"""

from __future__ import annotations

import asyncio

from ..records.declare import mbbi, mbbo
from ..server.timeline import mark
from ..threads import worker
from .file_paths import WriteError
from .nd_file import NDFileOnePerFrame
from .ndarray import Frame
from .tiff_writer import nd_tags, write_tiff


class NDFileTIFF(NDFileOnePerFrame):
    """NDFileTIFF.template (NDFile and NDPluginBase templates, with its own FileFormat menu)."""

    plugin_type = "NDFileTIFF"

    file_format = mbbo("FileFormat", "TIFF", ("TIFF", "Invalid"),
                       doc="file data format, replaces NDFile.template (FileFormat_RBV menu: TIFF/Undefined)")
    file_format_rbv = mbbi("FileFormat_RBV", "TIFF", ("TIFF", "Undefined"),
                           doc="file data format, replaces NDFile.template (FileFormat_RBV menu: TIFF/Undefined)")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._io_pool = worker("dot-tiff")

    async def stop(self) -> None:
        self._io_pool.shutdown(wait=True)

    async def write_frame(self, frame: Frame) -> str | None:
        """Write one frame to its TIFF file; returns an error message on failure."""
        target = self.target()
        fault = self.faults.write_error()  # sim:CamFault WriteError
        if fault:
            await self.report(False, fault)
            return f"{self.prefix} {fault}"
        loop = asyncio.get_running_loop()
        try:
            full = await loop.run_in_executor(self._io_pool, write_tiff, target, frame.data,
                                              {"unique_id": frame.unique_id, **frame.attributes},
                                              nd_tags(frame.unique_id, frame.timestamp))
        except WriteError as exc:
            return await self.failed(exc)
        mark("tiff_written", self.port)
        await self.name_file(full)
        await self.advance_number(target.number)
        await self.report(True, "")
        return None
