"""``netCDF1:``: NDFileNetCDF.template (ADCore NDFileNetCDF): its records, no netCDF files.

The records are served (clients stage it, read its configuration, set paths and names);
writing a netCDF-3 file is not simulated: a write ends with WriteStatus "Write error" and
WriteMessage saying so, as a failed write does.
"""

from __future__ import annotations

import errno

from ..records.declare import mbbi, mbbo
from .file_paths import WriteError
from .nd_file import NDFile
from .ndarray import Frame

NOT_SIMULATED = "netCDF files are not simulated by this IOC (use TIFF1 or HDF1)"


class NDFileNetCDF(NDFile):
    """NDFileNetCDF.template (NDFile and NDPluginBase templates, its FileFormat menu)."""

    plugin_type = "NDFileNetCDF"

    file_format = mbbo("FileFormat", "netCDF", ("netCDF", "Invalid"),
                       doc="file data format, replaces NDFile.template (FileFormat_RBV menu: netCDF/Undefined)")
    file_format_rbv = mbbi("FileFormat_RBV", "netCDF", ("netCDF", "Undefined"),
                           doc="file data format, replaces NDFile.template (FileFormat_RBV menu: netCDF/Undefined)")

    async def write_files(self, frames: list[Frame]) -> str | None:
        return await self.failed(WriteError(errno.ENOTSUP, NOT_SIMULATED))

    async def stream(self, frame: Frame) -> str | None:
        problem = await self.failed(WriteError(errno.ENOTSUP, NOT_SIMULATED))
        await self.end_capture()
        return problem
