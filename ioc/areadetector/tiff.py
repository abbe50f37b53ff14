"""``TIFF1:``: NDFileTIFF, one TIFF file per frame."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from caproto import AlarmSeverity, AlarmStatus
from caproto.server import pvproperty

from ..adcore_records import ND_FILE, ND_FILE_TIFF, ND_PLUGIN_BASE
from ..records import echo_to_readback, records_group, utf8_fit
from ..tiffwriter import FileTarget, TemplateError, WriteError, check_template, nd_tags, resolve_directory, write_tiff
from ..validate import integer
from .common import MAX_IMAGES, Frame, enum_index, index, kw, post, text
from .plugin import PluginMixin


class FileTIFF(PluginMixin, records_group("NDFileTIFFRecords", ND_PLUGIN_BASE, ND_FILE, ND_FILE_TIFF)):
    """``TIFF1:``: NDFileTIFF, one TIFF file per frame."""

    plugin_type = "NDFileTIFF"
    port_name = "FileTIFF1"

    nd_array_port = pvproperty(**kw(ND_PLUGIN_BASE, "NDArrayPort"))
    file_path = pvproperty(**kw(ND_FILE, "FilePath"))
    file_name = pvproperty(**kw(ND_FILE, "FileName"))
    file_template = pvproperty(**kw(ND_FILE, "FileTemplate"))
    file_number = pvproperty(**kw(ND_FILE, "FileNumber"))
    capture = pvproperty(**kw(ND_FILE, "Capture"))
    num_capture = pvproperty(**kw(ND_FILE, "NumCapture"))
    write_file = pvproperty(**kw(ND_FILE, "WriteFile"))
    read_file = pvproperty(**kw(ND_FILE, "ReadFile"))
    file_write_mode = pvproperty(**kw(ND_FILE, "FileWriteMode"))
    create_directory = pvproperty(**kw(ND_FILE, "CreateDirectory"))
    temp_suffix = pvproperty(**kw(ND_FILE, "TempSuffix"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._buffer: list[Frame] = []
        self._last: Frame | None = None
        self._io_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dot-tiff")

    @property
    def data_root(self) -> Path:
        return self.parent.parent.data_root

    @property
    def path(self) -> str:
        """The directory files go to: FilePath_RBV (FilePath as written, with the separator added)."""
        return text(self.file_path_rbv.value)

    async def report(self, ok: bool, message: str) -> None:
        """Set WriteStatus/WriteMessage (and their alarms) as NDPluginFile does."""
        await post(self.write_status, "Write OK" if ok else "Write error",
                   status=AlarmStatus.NO_ALARM if ok else AlarmStatus.WRITE,
                   severity=AlarmSeverity.NO_ALARM if ok else AlarmSeverity.MAJOR_ALARM)
        await post(self.write_message, utf8_fit(message, self.write_message.max_length))

    async def check_path(self, path: str) -> tuple[bool, str]:
        """Validate FilePath (creating it per CreateDirectory); update FilePathExists_RBV."""
        try:
            resolve_directory(path, self.data_root, create_depth=self.create_directory.value)
        except WriteError as exc:
            await self.file_path_exists_rbv.write("No", status=AlarmStatus.STATE,
                                                  severity=AlarmSeverity.MAJOR_ALARM)
            return False, str(exc)
        await self.file_path_exists_rbv.write("Yes", status=AlarmStatus.NO_ALARM,
                                              severity=AlarmSeverity.NO_ALARM)
        return True, ""

    def _target(self) -> FileTarget:
        return FileTarget(
            template=text(self.file_template.value),
            path=self.path,
            name=text(self.file_name.value),
            number=self.file_number.value,
            data_root=self.data_root,
            create_depth=self.create_directory.value,
            temp_suffix=text(self.temp_suffix.value),
        )

    async def write_frame(self, frame: Frame) -> str | None:
        """Write one frame to its TIFF file; returns an error message on failure."""
        target = self._target()
        fault = self.parent.parent.faults.write_fault()  # hook: sim:CamFault WriteError
        if fault:
            await self.report(False, fault)
            return f"{self.prefix} {fault}"
        loop = asyncio.get_running_loop()
        try:
            full = await loop.run_in_executor(self._io_pool, write_tiff, target, frame.data,
                                              {"unique_id": frame.unique_id, **frame.attributes},
                                              nd_tags(frame.unique_id, frame.timestamp))
        except WriteError as exc:
            message = str(exc)
            await self.report(False, message)
            if self.path:
                # The directory may have gone, or turned into a link out of the data root,
                # since FilePath was set: FilePathExists_RBV says so now.
                await self.check_path(self.path)
            return f"{self.prefix} {message}"
        await self.full_file_name_rbv.write(utf8_fit(full, self.full_file_name_rbv.max_length))
        if index(self.auto_increment):
            await self.file_number.write(target.number + 1, verify_value=False)
            await self.file_number_rbv.write(target.number + 1)
        await self.report(True, "")
        return None

    async def _flush_buffer(self) -> str | None:
        problem = None
        while self._buffer:
            problem = await self.write_frame(self._buffer.pop(0)) or problem
        return problem

    async def _captured(self, n: int) -> None:
        await self.num_captured_rbv.write(n)

    async def process(self, frame: Frame) -> str | None:
        self._last = frame
        mode = self.file_write_mode.value
        if mode == "Single":
            return await self.write_frame(frame) if index(self.auto_save) else None
        if not index(self.capture):
            return None
        limit = self.num_capture.value
        if mode == "Capture":
            self._buffer.append(frame)
            await self._captured(len(self._buffer))
            if limit > 0 and len(self._buffer) >= limit:
                await self._end_capture()
                return await self._flush_buffer() if index(self.auto_save) else None
            return None
        # Stream: each frame to its own file as it arrives (TIFF holds one image per file).
        problem = await self.write_frame(frame)
        captured = self.num_captured_rbv.value + 1
        await self._captured(captured)
        if limit > 0 and captured >= limit:
            await self._end_capture()
        return problem

    async def _end_capture(self) -> None:
        await self.capture.write("Done", verify_value=False)
        await self.capture_rbv.write("Done")

    # -- PV hooks ------------------------------------------------------------------

    @nd_array_port.startup
    async def nd_array_port(self, instance, async_lib):
        await self.init_plugin()
        await self.file_path_exists_rbv.write("No")
        await self.report(True, "")

    @nd_array_port.shutdown
    async def nd_array_port(self, instance, async_lib):
        self._io_pool.shutdown(wait=True)

    @nd_array_port.putter
    async def nd_array_port(self, instance, value):
        return await self._port_put(instance, value)

    async def report_bad_path(self, path: str) -> None:
        """Check ``path`` (FilePathExists_RBV); if it is refused, say why on WriteStatus/WriteMessage.

        Deviation: ADCore has no message for a refused path (FilePathExists_RBV alone says
        No); this IOC also refuses paths outside its data root, so it says why. A good
        path clears nothing: the last write's error stays until the next write attempt.
        """
        ok, message = await self.check_path(path)
        if not ok:
            await self.report(False, message)

    @file_path.putter
    async def file_path(self, instance, value):
        written = text(value)
        # As asynNDArrayDriver: the setpoint stays as written, the separator is added in
        # the driver's parameter, which FilePath_RBV shows and files go to.
        path = written + "/" if written and not written.endswith("/") else written
        if len(path.encode()) >= instance.max_length:
            raise ValueError(f"{instance.pvname}: path longer than {instance.max_length - 2} bytes")
        # FilePathExists_RBV is settled before FilePath_RBV echoes, so a client that waits
        # for the echo (ophyd) then reads a current answer.
        await self.report_bad_path(path)
        await self.file_path_rbv.write(path)
        return written

    @file_name.putter
    async def file_name(self, instance, value):
        name = text(value)
        if "/" in name or "\0" in name:
            raise ValueError(f"{instance.pvname}: a file name cannot contain '/' or NUL: {name!r}")
        return await echo_to_readback(self, instance, name)

    @temp_suffix.putter
    async def temp_suffix(self, instance, value):
        suffix = text(value)
        if "/" in suffix or "\0" in suffix:
            # The temporary file is FullFileName + TempSuffix: a '/' would put it elsewhere.
            raise ValueError(f"{instance.pvname}: a file name suffix cannot contain '/' or NUL: {suffix!r}")
        return await echo_to_readback(self, instance, suffix)

    @file_template.putter
    async def file_template(self, instance, value):
        template = text(value)
        try:
            check_template(template)
        except TemplateError as exc:
            raise ValueError(f"{instance.pvname}: {exc}") from None
        return await echo_to_readback(self, instance, template)

    @file_number.putter
    async def file_number(self, instance, value):
        value = integer(instance.pvname, value, 0, 2**31 - 1, "file number")
        return await echo_to_readback(self, instance, value)

    @num_capture.putter
    async def num_capture(self, instance, value):
        value = integer(instance.pvname, value, -1, MAX_IMAGES, "number to capture")
        return await echo_to_readback(self, instance, value)

    @create_directory.putter
    async def create_directory(self, instance, value):
        value = integer(instance.pvname, value, -64, 64, "directory creation depth")
        await echo_to_readback(self, instance, value)
        await instance.write(value, verify_value=False)
        # Re-check: with creation now allowed, the current path may come into being.
        if self.path:
            await self.report_bad_path(self.path)
        return value

    @file_write_mode.putter
    async def file_write_mode(self, instance, value):
        return await echo_to_readback(self, instance, value)

    @capture.putter
    async def capture(self, instance, value):
        start = enum_index(instance, value) == 1
        if start:
            if self.file_write_mode.value == "Single":
                raise ValueError(f"{instance.pvname}: Capture needs FileWriteMode Capture or Stream, not Single")
            self._buffer.clear()
            await self._captured(0)
            await self.capture_rbv.write(1)
            return "Capture"
        await self.capture_rbv.write("Done")
        if self.file_write_mode.value == "Capture" and self._buffer and index(self.auto_save):
            await instance.write("Done", verify_value=False)
            await self._flush_buffer()
        return "Done"

    @write_file.putter
    async def write_file(self, instance, value):
        if enum_index(instance, value) != 1:
            return value
        await self.write_file_rbv.write(1)
        try:
            if self.file_write_mode.value == "Capture" and self._buffer:
                await self._flush_buffer()
            elif self._last is not None:
                await self.write_frame(self._last)
            else:
                await self.report(False, "No frame to write: acquire one first")
        finally:
            await self.write_file_rbv.write(0)
        return 0

    @read_file.putter
    async def read_file(self, instance, value):
        if enum_index(instance, value) == 1:
            raise ValueError(f"{instance.pvname}: reading files back into the IOC is not supported")
        return value

