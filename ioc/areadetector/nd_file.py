"""NDFile.template: what every file plugin has and does (ADCore NDPluginFile), whatever its format.

Files go to ``FileTemplate % (FilePath, FileName, FileNumber)``, never outside the IOC's
data root, through a temporary name renamed into place, so no partial file is ever visible.
FileWriteMode Single writes each frame (with AutoSave); Capture buffers NumCapture frames
from Capture = 1, then writes them (with AutoSave, or on WriteFile); Stream writes frames as
they arrive until NumCapture (0: until Capture = 0). A format (:mod:`.nd_file_tiff`,
:mod:`.nd_file_hdf5`) says how frames become files (:meth:`NDFile.write_files`,
:meth:`NDFile.stream`). Failures are reported in ``WriteStatus``/``WriteMessage`` and to the
driver (the error returned to it lands on its ``StatusMessage_RBV``/``DetectorState_RBV``).

The start-up FileTemplate is the one NDPluginFile's documentation uses (the template gives
none; beamlines restore one with autosave), or the macro ``FILE_TEMPLATE``. Records of ADCore
R2 that ophyd still references (FileNumber_Sync, FileNumber_write) are served too.
"""

from __future__ import annotations

from pathlib import Path

from caproto import AlarmSeverity, AlarmStatus

from ..records import Macro, echo_to_readback, utf8_fit
from ..records.declare import bi, bo, busy, longin, longout, mbbi, mbbo, stringin, stringout, waveform
from ..records.validate import integer
from ..sim.faults import FaultModel
from .file_paths import FileTarget, TemplateError, WriteError, check_template, resolve_directory
from .menus import NO_YES, OK_MINOR
from .nd_plugin_base import NDPluginBase
from .ndarray import MAX_IMAGES, Frame, enum_index, index, post, text


class NDFile(NDPluginBase):
    """NDFile.template over NDPluginBase.template: paths, names, numbers, capture, status; files in ``data_root``."""

    file_path = waveform("FilePath", doc="file path")
    file_path_rbv = waveform("FilePath_RBV", doc="file path")
    file_path_exists_rbv = bi("FilePathExists_RBV", "No", NO_YES, sev=("MAJOR", "NO_ALARM"),
                              doc="file path exists (No is a MAJOR alarm)")
    create_directory = longout("CreateDirectory",
                               doc="directories to create: 0 none, <0 at most |n|, >0 at least n must exist")
    create_directory_rbv = longin("CreateDirectory_RBV",
                                  doc="directories to create: 0 none, <0 at most |n|, >0 at least n must exist")
    file_name = waveform("FileName", doc="file name")
    file_name_rbv = waveform("FileName_RBV", doc="file name")
    file_number = longout("FileNumber", 1, valid=(0, 2**31 - 1, "file number"), doc="file number")
    file_number_rbv = longin("FileNumber_RBV", 1, doc="file number")
    file_number_sync = longout("FileNumber_Sync", 1,
                               doc="copies FileNumber_RBV to FileNumber (ADCore R2 NDFile.template)")
    file_number_write = longout("FileNumber_write", 1,
                                doc="writes FileNumber to the driver (ADCore R2 NDFile.template)")
    auto_increment = bo("AutoIncrement", "Yes", NO_YES, doc="auto-increment the file number")
    auto_increment_rbv = bi("AutoIncrement_RBV", "Yes", NO_YES, doc="auto-increment the file number")
    file_template = waveform("FileTemplate", Macro("FILE_TEMPLATE", str, "%s%s_%3.3d.tif"),
                             doc="file name template (C format of path, name, number)")
    file_template_rbv = waveform("FileTemplate_RBV", Macro("FILE_TEMPLATE", str, "%s%s_%3.3d.tif"),
                                 doc="file name template (C format of path, name, number)")
    full_file_name_rbv = waveform("FullFileName_RBV", nelm=512, doc="full file name, including path")
    auto_save = bo("AutoSave", "No", NO_YES, doc="save each array")
    auto_save_rbv = bi("AutoSave_RBV", "No", NO_YES, doc="save each array")
    write_file = busy("WriteFile", "Done", ("Done", "Write"),
                      doc="busy record: write file (WriteFile_RBV menu: Done/Writing)")
    write_file_rbv = bi("WriteFile_RBV", "Done", ("Done", "Writing"), sev=OK_MINOR,
                        doc="busy record: write file (WriteFile_RBV menu: Done/Writing)")
    read_file = busy("ReadFile", "Done", ("Done", "Read"),
                     doc="busy record: read file (ReadFile_RBV menu: Done/Reading)")
    read_file_rbv = bi("ReadFile_RBV", "Done", ("Done", "Reading"), sev=OK_MINOR,
                       doc="busy record: read file (ReadFile_RBV menu: Done/Reading)")
    file_format = mbbo("FileFormat", "Undefined", ("Undefined", "Invalid"),
                       doc="file data format (FileFormat_RBV menu: netCDF/Undefined)")
    file_format_rbv = mbbi("FileFormat_RBV", "netCDF", ("netCDF", "Undefined"),
                           doc="file data format (FileFormat_RBV menu: netCDF/Undefined)")
    file_write_mode = mbbo("FileWriteMode", "Single", ("Single", "Capture", "Stream"), doc="file save mode")
    file_write_mode_rbv = mbbi("FileWriteMode_RBV", "Single", ("Single", "Capture", "Stream"), doc="file save mode")
    capture = busy("Capture", "Done", ("Done", "Capture"),
                   doc="busy record: capture data (Capture_RBV menu: Done/Capturing)")
    capture_rbv = bi("Capture_RBV", "Done", ("Done", "Capturing"), sev=OK_MINOR,
                     doc="busy record: capture data (Capture_RBV menu: Done/Capturing)")
    num_capture = longout("NumCapture", 1, valid=(-1, MAX_IMAGES, "number to capture"),
                          doc="number of arrays to capture")
    num_capture_rbv = longin("NumCapture_RBV", 1, doc="number of arrays to capture")
    num_captured_rbv = longin("NumCaptured_RBV", doc="number of arrays captured")
    free_capture = bo("FreeCapture", "Done", ("Done", "Free"), doc="free the capture buffer")
    delete_driver_file = bo("DeleteDriverFile", "No", NO_YES, doc="delete the driver's original file")
    delete_driver_file_rbv = bi("DeleteDriverFile_RBV", "No", NO_YES, doc="delete the driver's original file")
    write_status = bi("WriteStatus", "Write OK", ("Write OK", "Write error"), sev=("NO_ALARM", "MAJOR"),
                      doc="status of the last write (error is a MAJOR alarm)")
    write_message = waveform("WriteMessage", input=True, doc="message of the last write")
    lazy_open = bo("LazyOpen", "No", NO_YES, doc="defer opening the file to the first array")
    lazy_open_rbv = bi("LazyOpen_RBV", "No", NO_YES, doc="defer opening the file to the first array")
    temp_suffix = stringout("TempSuffix", doc="temporary file name suffix")
    temp_suffix_rbv = stringin("TempSuffix_RBV", doc="temporary file name suffix")


    def __init__(self, *args, data_root: Path, faults: FaultModel, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.data_root = Path(data_root)
        self.faults = faults
        self._buffer: list[Frame] = []
        self._last: Frame | None = None

    async def start(self) -> None:
        await super().start()
        await self.file_path_exists_rbv.write("No")
        await self.report(True, "")

    @property
    def path(self) -> str:
        """The directory files go to: FilePath_RBV (FilePath as written, with the separator added)."""
        return text(self.file_path_rbv.value)

    def target(self) -> FileTarget:
        """Where the next file goes, from the settings now."""
        return FileTarget(
            template=text(self.file_template.value),
            path=self.path,
            name=text(self.file_name.value),
            number=self.file_number.value,
            data_root=self.data_root,
            create_depth=self.create_directory.value,
            temp_suffix=text(self.temp_suffix.value),
        )

    # -- what a write did --------------------------------------------------------------

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

    async def report_bad_path(self, path: str) -> None:
        """Check ``path`` (FilePathExists_RBV); if it is refused, say why on WriteStatus/WriteMessage.

        Deviation: ADCore has no message for a refused path (FilePathExists_RBV alone says
        No); this IOC also refuses paths outside its data root, so it says why. A good
        path clears nothing: the last write's error stays until the next write attempt.
        """
        ok, message = await self.check_path(path)
        if not ok:
            await self.report(False, message)

    async def failed(self, exc: WriteError) -> str:
        """A write that failed: WriteStatus/WriteMessage say why, FilePathExists_RBV is checked
        again (the directory may have gone, or turned into a link out of the data root); the
        message for the driver."""
        message = str(exc)
        await self.report(False, message)
        if self.path:
            await self.check_path(self.path)
        return f"{self.prefix} {message}"

    async def name_file(self, full: str) -> None:
        """FullFileName_RBV: the file last written (or opened, to stream into)."""
        await self.full_file_name_rbv.write(utf8_fit(full, self.full_file_name_rbv.max_length))

    async def advance_number(self, number: int) -> None:
        """A file with FileNumber ``number`` was made: the next number, with AutoIncrement."""
        if index(self.auto_increment):
            await self.file_number.write(number + 1, verify_value=False)
            await self.file_number_rbv.write(number + 1)

    async def count_captured(self, n: int) -> None:
        await self.num_captured_rbv.write(n)

    async def end_capture(self) -> None:
        await self.capture.write("Done", verify_value=False)
        await self.capture_rbv.write("Done")

    # -- frames ------------------------------------------------------------------------

    async def write_files(self, frames: list[Frame]) -> str | None:
        """Write ``frames`` (Single: one; Capture: those buffered) as the format does; an error message or None."""
        raise NotImplementedError

    async def stream(self, frame: Frame) -> str | None:
        """Stream mode: ``frame`` into the capture's file(s), ending the capture at NumCapture."""
        raise NotImplementedError

    async def capture_starting(self, instance) -> None:
        """Capture = 1, before the capture starts: a format may check settings or open a file (ValueError refuses)."""

    async def capture_stopping(self) -> None:
        """Capture = 0: a format may close its file."""

    async def flush_buffer(self) -> str | None:
        """The frames captured so far, written (TIFF: a file each; HDF5: one file)."""
        frames, self._buffer = self._buffer, []
        return await self.write_files(frames) if frames else None

    async def process(self, frame: Frame) -> str | None:
        self._last = frame
        mode = self.file_write_mode.value
        if mode == "Single":
            return await self.write_files([frame]) if index(self.auto_save) else None
        if not index(self.capture):
            return None
        if mode == "Capture":
            self._buffer.append(frame)
            await self.count_captured(len(self._buffer))
            limit = self.num_capture.value
            if limit > 0 and len(self._buffer) >= limit:
                await self.end_capture()
                return await self.flush_buffer() if index(self.auto_save) else None
            return None
        return await self.stream(frame)

    # -- PV hooks ----------------------------------------------------------------------

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

    @create_directory.putter
    async def create_directory(self, instance, value):
        value = integer(instance.pvname, value, -64, 64, "directory creation depth")
        await echo_to_readback(self, instance, value)
        await instance.write(value, verify_value=False)
        # Re-check: with creation now allowed, the current path may come into being.
        if self.path:
            await self.report_bad_path(self.path)
        return value

    @capture.putter
    async def capture(self, instance, value):
        mode = self.file_write_mode.value
        if enum_index(instance, value) == 1:
            if index(self.capture_rbv):
                return "Capture"  # already capturing
            if mode == "Single":
                raise ValueError(f"{instance.pvname}: Capture needs FileWriteMode Capture or Stream, not Single")
            await self.capture_starting(instance)
            self._buffer.clear()
            await self.count_captured(0)
            await self.capture_rbv.write(1)
            return "Capture"
        # Capture_RBV drops only once the file is closed, as in NDPluginFile: a client that
        # waits for it (ophyd's unstage) may then open the file.
        if mode == "Stream":
            await self.capture_stopping()
        elif mode == "Capture" and self._buffer and index(self.auto_save):
            await instance.write("Done", verify_value=False)
            await self.flush_buffer()
        await self.capture_rbv.write("Done")
        return "Done"

    @write_file.putter
    async def write_file(self, instance, value):
        if enum_index(instance, value) != 1:
            return value
        await self.write_file_rbv.write(1)
        try:
            if self.file_write_mode.value == "Capture" and self._buffer:
                await self.flush_buffer()
            elif self._last is not None:
                await self.write_files([self._last])
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


class NDFileOnePerFrame(NDFile):
    """A format whose file holds one image (TIFF, JPEG): :meth:`write_frame` writes it, and a
    capture or a stream is a file per frame."""

    async def write_frame(self, frame: Frame) -> str | None:
        """Write ``frame`` to its own file; an error message or None."""
        raise NotImplementedError

    async def write_files(self, frames: list[Frame]) -> str | None:
        problem = None
        for frame in frames:
            problem = await self.write_frame(frame) or problem
        return problem

    async def stream(self, frame: Frame) -> str | None:
        problem = await self.write_frame(frame)
        captured = self.num_captured_rbv.value + 1
        await self.count_captured(captured)
        limit = self.num_capture.value
        if limit > 0 and captured >= limit:
            await self.end_capture()
        return problem
