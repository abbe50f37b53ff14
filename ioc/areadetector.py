"""The ``dot`` camera: an areaDetector driver (``cam1:``) and its plugins, over caproto.

Semantics follow areaDetector's documentation (ADDriver, NDPluginBase, NDPluginFile,
NDFileTIFF, NDPluginStdArrays, NDPluginStats):

* ``cam1:Acquire`` = 1 takes ``NumImages`` frames (1 in Single mode, until stopped in
  Continuous), each exposing ``AcquireTime`` s (x ``NumExposures``), one every
  ``AcquirePeriod`` s at the least; the wall time taken is divided by ``sim:TimeScale``.
  Each frame goes to every enabled plugin wired to the driver's port (``NDArrayPort``),
  and Acquire/Acquire_RBV return to 0 only once the plugins are done with the last one:
  its TIFF file is on disk and ``FullFileName_RBV``/``FileNumber`` and the counters are
  updated. A put with completion callback on Acquire completes then too.
* ``TIFF1:`` writes ``FileTemplate % (FilePath, FileName, FileNumber)`` per frame
  (FileWriteMode Single with AutoSave, or Capture/Stream with Capture), never outside the
  IOC's data root, through a temporary name renamed into place, so no partial file is
  ever visible. Failures are reported in ``WriteStatus``/``WriteMessage`` and on the
  driver's ``StatusMessage_RBV``/``DetectorState_RBV``.
* ``image1:ArrayData`` carries the last frame, posted at most once per ``MinCallbackTime``
  (the latest frame always arrives), so monitors are never flooded.
* ``Stats1:`` publishes total, extrema, mean, sigma and the centroid of each frame.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from caproto import AlarmSeverity, AlarmStatus
from caproto.server import PVGroup, SubGroup, pvproperty

from . import physics
from .adcore_records import AD_BASE, ND_FILE, ND_FILE_TIFF, ND_PLUGIN_BASE, ND_STATS, ND_STD_ARRAYS, SIM_DETECTOR
from .records import echo_to_readback, find, pv_kwargs, records_group, sync_readbacks, utf8_fit
from .tiffwriter import FileTarget, TemplateError, WriteError, check_template, resolve_directory, write_tiff

DRIVER_PORT = "DOT1"
MAX_EXPOSURE = 3600.0  # s; longer is surely a typo (the put is refused)
MAX_IMAGES = 1_000_000

NUMPY_TYPES = {
    "Int8": np.int8, "UInt8": np.uint8, "Int16": np.int16, "UInt16": np.uint16, "Int32": np.int32,
    "UInt32": np.uint32, "Int64": np.int64, "UInt64": np.uint64, "Float32": np.float32, "Float64": np.float64,
}


def index(chan) -> int:
    """The index of an enum PV's current value."""
    value = chan.value
    return chan.enum_strings.index(value) if isinstance(value, str) else int(value)


def enum_index(chan, value) -> int:
    """The index of ``value`` (a string or number) among an enum PV's strings."""
    return chan.enum_strings.index(value) if isinstance(value, str) else int(value)


def text(value) -> str:
    """A char-waveform value as a str (caproto hands over str, or bytes: UTF-8 on the wire)."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).split(b"\0", 1)[0].decode("utf-8", errors="replace")
    return str(value)


async def post(chan, value, **metadata) -> None:
    """Write ``value`` to a readback only if it changed, as asyn posts only changed
    parameters: a frame then costs its monitors only what it changed."""
    current = chan.value
    if isinstance(current, np.ndarray) or isinstance(value, np.ndarray) or current != value:
        await chan.write(value, **metadata)
    elif metadata.get("severity") is not None and chan.alarm.severity != metadata["severity"]:
        await chan.write(value, **metadata)


def _kw(records, suffix: str, **extra) -> dict:
    kw = pv_kwargs(find(records, suffix))
    kw.update(extra)
    return kw


def _finite(pvname: str, value, low: float, high: float, what: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{pvname}: {what} must be a number, not {value!r}") from None
    if not math.isfinite(value) or not (low <= value <= high):
        raise ValueError(f"{pvname}: {what} must be between {low:g} and {high:g}, not {value}")
    return value


def _integer(pvname: str, value, low: int, high: int, what: str) -> int:
    number = _finite(pvname, value, low, high, what)
    if number != int(number):
        raise ValueError(f"{pvname}: {what} must be a whole number, not {value}")
    return int(number)


@dataclass
class Frame:
    """An NDArray: one image and its attributes, as the driver hands it to plugins."""

    data: np.ndarray
    unique_id: int
    timestamp: float  # POSIX time of the end of exposure
    attributes: dict = field(default_factory=dict)
    #: Plugins' per-frame work done on the readout thread, by plugin port (see readout_work).
    precomputed: dict = field(default_factory=dict)


_ADBASE = records_group("ADBaseRecords", AD_BASE, SIM_DETECTOR)


class CamDriver(_ADBASE):
    """``cam1:``: the camera driver (ADDriver + simDetector records)."""

    acquire = pvproperty(**_kw(AD_BASE, "Acquire"))
    acquire_time = pvproperty(**_kw(AD_BASE, "AcquireTime", value=0.1, units="s", precision=4,
                                    lower_ctrl_limit=0.0, upper_ctrl_limit=MAX_EXPOSURE))
    acquire_period = pvproperty(**_kw(AD_BASE, "AcquirePeriod", units="s", precision=4,
                                      lower_ctrl_limit=0.0, upper_ctrl_limit=MAX_EXPOSURE))
    num_images = pvproperty(**_kw(AD_BASE, "NumImages", value=1, lower_ctrl_limit=1, upper_ctrl_limit=MAX_IMAGES))
    num_exposures = pvproperty(**_kw(AD_BASE, "NumExposures", value=1, lower_ctrl_limit=1, upper_ctrl_limit=1000))
    array_counter = pvproperty(**_kw(AD_BASE, "ArrayCounter"))
    min_x = pvproperty(**_kw(AD_BASE, "MinX"))
    min_y = pvproperty(**_kw(AD_BASE, "MinY"))
    size_x = pvproperty(**_kw(AD_BASE, "SizeX"))
    size_y = pvproperty(**_kw(AD_BASE, "SizeY"))
    bin_x = pvproperty(**_kw(AD_BASE, "BinX", value=1))
    bin_y = pvproperty(**_kw(AD_BASE, "BinY", value=1))
    data_type = pvproperty(**_kw(AD_BASE, "DataType", value="UInt32"))
    color_mode = pvproperty(**_kw(AD_BASE, "ColorMode", value="Mono"))
    trigger_mode = pvproperty(**_kw(AD_BASE, "TriggerMode"))
    image_mode = pvproperty(**_kw(AD_BASE, "ImageMode", value="Single"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None  # created on the server's loop, at startup
        self._rng_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dot-rng")
        self._bg: asyncio.Future | None = None
        self._bg_shape: tuple[int, int] | None = None
        self._unique_id = 0

    # -- helpers -------------------------------------------------------------------

    @property
    def camera(self) -> Camera:
        return self.parent

    @property
    def sim(self):
        return self.parent.parent

    @property
    def acquiring(self) -> bool:
        return self._task is not None and not self._task.done()

    async def set_state(self, state: str, message: str | None = None) -> None:
        await post(self.detector_state_rbv, state)
        if message is not None:
            await post(self.status_message_rbv, utf8_fit(message, self.status_message_rbv.max_length))

    def discard_prepared_background(self) -> None:
        self._bg = None

    def _prepare_background(self) -> None:
        """Draw the next frame's background noise on the worker thread while the camera idles."""
        shape = self.sim.sensor_shape
        loop = asyncio.get_running_loop()
        self._bg = loop.run_in_executor(self._rng_pool, physics.background, self.sim.rng, shape)
        self._bg_shape = shape

    async def update_geometry(self) -> None:
        """Recompute ArraySize*_RBV from the region of interest and binning."""
        _, _, size_x, size_y, bin_x, bin_y = self._readout_region()
        nx, ny = size_x // bin_x, size_y // bin_y
        nptype = NUMPY_TYPES[self.data_type.value]
        await self.array_size_x_rbv.write(nx)
        await self.array_size_y_rbv.write(ny)
        await self.array_size_z_rbv.write(0)
        await self.array_size_rbv.write(nx * ny * np.dtype(nptype).itemsize)

    def _readout_region(self, **new) -> tuple[int, int, int, int, int, int]:
        """(MinX, MinY, SizeX, SizeY, BinX, BinY) the sensor reads out, the region clipped to the
        sensor as ADDriver does; ``new`` overrides settings (by attribute) to try a put first."""
        rows, cols = self.sim.sensor_shape
        setting = {name: new.get(name, getattr(self, name).value)
                   for name in ("min_x", "min_y", "size_x", "size_y", "bin_x", "bin_y")}
        min_x, min_y = min(setting["min_x"], cols - 1), min(setting["min_y"], rows - 1)
        size_x = min(setting["size_x"], cols - min_x)
        size_y = min(setting["size_y"], rows - min_y)
        return min_x, min_y, size_x, size_y, setting["bin_x"], setting["bin_y"]

    # -- acquisition ---------------------------------------------------------------

    def _make_frame(self, bg, x, y, exposure, n_exposures, current, region, dtype) -> np.ndarray:
        """Runs on the rng worker thread: the physics, then the sensor readout."""
        rng = self.sim.rng
        shape = self.sim.sensor_shape
        if bg is None or n_exposures != 1 or bg.shape != shape:
            bg = rng.poisson(physics.BACKGROUND * n_exposures, shape).astype(np.uint32)
        img = physics.frame(rng, x, y, exposure * n_exposures, current, shape, bg=bg)
        img = physics.roi_bin(img, *region)
        if dtype is not np.uint32:
            info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
            img = np.clip(img, info.min, info.max).astype(dtype) if info else img.astype(dtype)
        return img

    def _read_out(self, work: dict, *args) -> tuple[np.ndarray, dict]:
        """Runs on the rng worker thread: the frame, then the plugins' per-frame arithmetic
        (``work``), while the exposure is still running in wall time."""
        img = self._make_frame(*args)
        return img, {port: func(img) for port, func in work.items()}

    async def _sleep_or_stop(self, seconds: float) -> bool:
        """Wait ``seconds`` of wall time; True if a stop request arrived meanwhile."""
        if seconds <= 0:
            return self._stop.is_set()
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
            return True
        except asyncio.TimeoutError:
            return False

    async def _acquire_one(self) -> Frame | None:
        """Expose and read out one frame; None if stopped during the exposure."""
        sim = self.sim
        clock = sim.clock
        exposure = self.acquire_time.value
        n_exp = self.num_exposures.value
        t0 = clock.now()
        x = sim.mtr_dotx.fields.user_readback_value.value
        y = sim.mtr_doty.fields.user_readback_value.value
        current = sim.ring_model.mean_current(t0, t0 + exposure * n_exp)
        bg = None
        if self._bg is not None and self._bg_shape == sim.sensor_shape:
            bg = await self._bg
        self._bg = None
        loop = asyncio.get_running_loop()
        # The frame is computed while the exposure elapses, as photons arrive during it.
        work = self.camera.readout_work()
        made = loop.run_in_executor(
            self._rng_pool, self._read_out, work, bg, x, y, exposure, n_exp, current,
            self._readout_region(), NUMPY_TYPES[self.data_type.value],
        )
        # The next frame's background, drawn on the same thread right after this frame, while
        # the exposure still runs (drawn later, it would hold the GIL while frames are served).
        self._prepare_background()
        await self.time_remaining_rbv.write(exposure * n_exp)
        stopped = await self._sleep_or_stop(clock.wall(exposure * n_exp))
        img, precomputed = await made
        await self.time_remaining_rbv.write(0.0)
        if stopped:
            return None
        await self.detector_state_rbv.write("Readout")
        self._unique_id += 1
        return Frame(img, self._unique_id, time.time(),
                     {"x": x, "y": y, "current_mA": current, "exposure_s": exposure * n_exp}, precomputed)

    async def _acquisition(self) -> None:
        mode = self.image_mode.value
        total = 1 if mode == "Single" else (math.inf if mode == "Continuous" else self.num_images.value)
        clock = self.sim.clock
        await self.num_images_counter_rbv.write(0)
        n = 0
        error = None
        try:
            while n < total and not self._stop.is_set():
                started = time.monotonic()
                await self.set_state("Acquire", "Acquiring")
                frame = await self._acquire_one()
                if frame is None:
                    break
                n += 1
                await self.array_counter_rbv.write(self.array_counter_rbv.value + 1)
                await self.num_images_counter_rbv.write(n)
                await post(self.num_exposures_counter_rbv, self.num_exposures.value)
                if index(self.array_callbacks):
                    problem = await self.camera.deliver(frame)
                    if problem:
                        error = problem
                        await self.set_state("Error", problem)
                if n < total:
                    await self.set_state("Waiting", "Waiting for acquire period")
                    rest = clock.wall(self.acquire_period.value) - (time.monotonic() - started)
                    if await self._sleep_or_stop(rest):
                        break
        except Exception as exc:  # never let a frame's failure leave Acquire stuck at 1
            error = f"Acquisition failed: {type(exc).__name__}: {exc}"
        finally:
            if error:
                await self.set_state("Error", error)
            elif self._stop.is_set() and n < total:
                await self.set_state("Aborted", "Acquisition aborted")
            else:
                await self.set_state("Idle", "Acquisition completed")
            await self.acquire_rbv.write("Done")
            await self.acquire.write("Done", verify_value=False)

    # -- PV hooks ------------------------------------------------------------------

    @acquire.startup
    async def acquire(self, instance, async_lib):
        self._stop = asyncio.Event()
        rows, cols = self.sim.sensor_shape
        await self.max_size_x_rbv.write(cols)
        await self.max_size_y_rbv.write(rows)
        await self.size_x.write(cols)
        await self.size_y.write(rows)
        await self.port_name_rbv.write(DRIVER_PORT)
        await self.manufacturer_rbv.write("beamline-sim")
        await self.model_rbv.write("Moving dot camera")
        await sync_readbacks(self)
        await self.update_geometry()
        await self.set_state("Idle", "Idle")
        self._prepare_background()

    @acquire.shutdown
    async def acquire(self, instance, async_lib):
        self._rng_pool.shutdown(wait=False, cancel_futures=True)

    @acquire.putter
    async def acquire(self, instance, value):
        if enum_index(instance, value) == 0:
            if self.acquiring:
                self._stop.set()
                await self.set_state("Aborting", "Stopping acquisition")
            return "Done"
        if self.acquiring:
            return "Acquire"  # already acquiring: areaDetector ignores a second start
        self._stop.clear()
        await self.acquire_rbv.write("Acquire")
        await instance.write("Acquire", verify_value=False)
        self._task = asyncio.get_running_loop().create_task(self._acquisition())
        # Busy-record semantics: a put with completion waits for the acquisition to end.
        await asyncio.shield(self._task)
        return "Done"

    @acquire_time.putter
    async def acquire_time(self, instance, value):
        value = _finite(instance.pvname, value, 0.0, MAX_EXPOSURE, "exposure time (s)")
        return await echo_to_readback(self, instance, value)

    @acquire_period.putter
    async def acquire_period(self, instance, value):
        value = _finite(instance.pvname, value, 0.0, MAX_EXPOSURE, "acquire period (s)")
        return await echo_to_readback(self, instance, value)

    @num_images.putter
    async def num_images(self, instance, value):
        value = _integer(instance.pvname, value, 1, MAX_IMAGES, "number of images")
        return await echo_to_readback(self, instance, value)

    @num_exposures.putter
    async def num_exposures(self, instance, value):
        value = _integer(instance.pvname, value, 1, 1000, "number of exposures per image")
        return await echo_to_readback(self, instance, value)

    @array_counter.putter
    async def array_counter(self, instance, value):
        value = _integer(instance.pvname, value, 0, 2**31 - 1, "array counter")
        return await echo_to_readback(self, instance, value)

    async def _geometry_put(self, instance, value, low: int, high_of: str, what: str) -> int:
        rows, cols = self.sim.sensor_shape
        high = {"cols": cols, "rows": rows, "x0": cols - 1, "y0": rows - 1, "bin": 64}[high_of]
        value = _integer(instance.pvname, value, low, high, what)
        _, _, size_x, size_y, bin_x, bin_y = self._readout_region(**{instance.pvspec.attr: value})
        if size_x // bin_x < 1 or size_y // bin_y < 1:
            # An empty frame would break every plugin: refuse, naming what to change.
            raise ValueError(f"{instance.pvname}: {value} leaves no pixels to read out (region "
                             f"{size_x} x {size_y} binned {bin_x} x {bin_y}); reduce the binning or enlarge the region")
        return await self._apply_geometry(instance, value)

    async def _apply_geometry(self, instance, value):
        """Accept a setting that shapes the frame: echo it, then recompute ArraySize*_RBV."""
        await echo_to_readback(self, instance, value)
        await instance.write(value, verify_value=False)
        await self.update_geometry()
        return value

    @min_x.putter
    async def min_x(self, instance, value):
        return await self._geometry_put(instance, value, 0, "x0", "region start x (pixels)")

    @min_y.putter
    async def min_y(self, instance, value):
        return await self._geometry_put(instance, value, 0, "y0", "region start y (pixels)")

    @size_x.putter
    async def size_x(self, instance, value):
        return await self._geometry_put(instance, value, 1, "cols", "region width (pixels)")

    @size_y.putter
    async def size_y(self, instance, value):
        return await self._geometry_put(instance, value, 1, "rows", "region height (pixels)")

    @bin_x.putter
    async def bin_x(self, instance, value):
        return await self._geometry_put(instance, value, 1, "bin", "binning x")

    @bin_y.putter
    async def bin_y(self, instance, value):
        return await self._geometry_put(instance, value, 1, "bin", "binning y")

    @data_type.putter
    async def data_type(self, instance, value):
        return await self._apply_geometry(instance, value)

    @color_mode.putter
    async def color_mode(self, instance, value):
        if enum_index(instance, value) != 0:
            raise ValueError(f"{instance.pvname}: this camera is monochrome; only 'Mono' is supported")
        return await echo_to_readback(self, instance, value)

    @trigger_mode.putter
    async def trigger_mode(self, instance, value):
        if enum_index(instance, value) != 0:
            raise ValueError(f"{instance.pvname}: only 'Internal' triggering is simulated")
        return await echo_to_readback(self, instance, value)

    @image_mode.putter
    async def image_mode(self, instance, value):
        return await echo_to_readback(self, instance, value)


class PluginMixin:
    """Behaviour common to all plugins (NDPluginBase): enabling, port wiring, array info."""

    plugin_type = ""
    port_name = ""

    async def init_plugin(self) -> None:
        await self.plugin_type_rbv.write(self.plugin_type)
        await self.port_name_rbv.write(self.port_name)
        await self.nd_array_port.write(DRIVER_PORT, verify_value=False)
        await self.nd_array_port_rbv.write(DRIVER_PORT)
        # Plugins start enabled, as a beamline's start-up script leaves them.
        await self.enable_callbacks.write("Enable", verify_value=False)
        await sync_readbacks(self)
        # Until the first frame, describe the array the driver will send (clients size views by it).
        cam = self.parent.cam
        rows, cols = self.parent.parent.sensor_shape
        await self.describe_array((rows, cols), np.dtype(NUMPY_TYPES[cam.data_type.value]))
        self._last_callback = 0.0

    @property
    def enabled(self) -> bool:
        return bool(index(self.enable_callbacks))

    def wired_to(self, port: str) -> bool:
        return text(self.nd_array_port.value) == port

    async def receive(self, frame: Frame) -> str | None:
        """Take a frame from the driver; returns an error message if processing failed."""
        if not self.enabled:
            return None
        min_time = self.min_callback_time.value
        now = time.monotonic()
        if min_time > 0 and now - self._last_callback < min_time and not self.coalesce:
            return None
        self._last_callback = now
        await self.array_counter_rbv.write(self.array_counter_rbv.value + 1)
        await self.describe_array(frame.data.shape, frame.data.dtype)
        await self.unique_id_rbv.write(frame.unique_id)
        await self.time_stamp_rbv.write(frame.timestamp)
        return await self.process(frame)

    coalesce = False

    def readout_work(self):
        """A function of the frame's pixels to run on the readout thread, or None.

        The frame is fully determined when its exposure starts, so a plugin's arithmetic can
        overlap the exposure; its ``process`` then only publishes (``frame.precomputed``).
        """
        return None

    async def describe_array(self, shape: tuple[int, int], dtype: np.dtype) -> None:
        """ArraySize*/NDimensions/DataType readbacks of the array last received."""
        ny, nx = shape
        if self.array_size0_rbv.value != nx or self.array_size1_rbv.value != ny:
            await self.array_size0_rbv.write(nx)
            await self.array_size1_rbv.write(ny)
            await self.array_size2_rbv.write(0)
            await self.n_dimensions_rbv.write(2)
            await self.dimensions_rbv.write([nx, ny] + [0] * (self.dimensions_rbv.max_length - 2))
        type_name = next(name for name, t in NUMPY_TYPES.items() if np.dtype(t) == dtype)
        if self.data_type_rbv.value != type_name:
            await self.data_type_rbv.write(type_name)

    async def process(self, frame: Frame) -> str | None:
        return None

    async def _port_put(self, instance, value):
        port = text(value).strip()
        known = self.parent.port_names()
        if port not in known:
            raise ValueError(f"{instance.pvname}: unknown asyn port {port!r}; known ports: {', '.join(known)}")
        return await echo_to_readback(self, instance, port)


class FileTIFF(PluginMixin, records_group("NDFileTIFFRecords", ND_PLUGIN_BASE, ND_FILE, ND_FILE_TIFF)):
    """``TIFF1:``: NDFileTIFF, one TIFF file per frame."""

    plugin_type = "NDFileTIFF"
    port_name = "FileTIFF1"

    nd_array_port = pvproperty(**_kw(ND_PLUGIN_BASE, "NDArrayPort"))
    file_path = pvproperty(**_kw(ND_FILE, "FilePath"))
    file_name = pvproperty(**_kw(ND_FILE, "FileName"))
    file_template = pvproperty(**_kw(ND_FILE, "FileTemplate", value="%s%s_%3.3d.tif"))
    file_number = pvproperty(**_kw(ND_FILE, "FileNumber"))
    capture = pvproperty(**_kw(ND_FILE, "Capture"))
    num_capture = pvproperty(**_kw(ND_FILE, "NumCapture", value=1))
    write_file = pvproperty(**_kw(ND_FILE, "WriteFile"))
    read_file = pvproperty(**_kw(ND_FILE, "ReadFile"))
    file_write_mode = pvproperty(**_kw(ND_FILE, "FileWriteMode"))
    create_directory = pvproperty(**_kw(ND_FILE, "CreateDirectory"))
    temp_suffix = pvproperty(**_kw(ND_FILE, "TempSuffix"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._buffer: list[Frame] = []
        self._last: Frame | None = None
        self._io_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dot-tiff")

    @property
    def data_root(self) -> Path:
        return self.parent.parent.data_root

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
            path=text(self.file_path.value),
            name=text(self.file_name.value),
            number=self.file_number.value,
            data_root=self.data_root,
            create_depth=self.create_directory.value,
            temp_suffix=text(self.temp_suffix.value),
        )

    async def write_frame(self, frame: Frame) -> str | None:
        """Write one frame to its TIFF file; returns an error message on failure."""
        target = self._target()
        loop = asyncio.get_running_loop()
        try:
            full = await loop.run_in_executor(self._io_pool, write_tiff, target, frame.data,
                                              {"unique_id": frame.unique_id, **frame.attributes})
        except WriteError as exc:
            message = str(exc)
            await self.report(False, message)
            if text(self.file_path.value):
                # The directory may have gone, or turned into a link out of the data root,
                # since FilePath was set: FilePathExists_RBV says so now.
                await self.check_path(text(self.file_path.value))
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

    @file_path.putter
    async def file_path(self, instance, value):
        path = text(value)
        if path and not path.endswith("/"):
            path += "/"
        if len(path.encode()) >= instance.max_length:
            raise ValueError(f"{instance.pvname}: path longer than {instance.max_length - 1} bytes")
        await instance.write(path, verify_value=False)
        # As asynNDArrayDriver does: FilePathExists_RBV is settled before FilePath_RBV
        # echoes, so a client that waits for the echo (ophyd) then reads a current answer.
        ok, message = await self.check_path(path)
        await self.report(ok, message)
        await echo_to_readback(self, instance, path)
        return path

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
        value = _integer(instance.pvname, value, 0, 2**31 - 1, "file number")
        return await echo_to_readback(self, instance, value)

    @num_capture.putter
    async def num_capture(self, instance, value):
        value = _integer(instance.pvname, value, -1, MAX_IMAGES, "number to capture")
        return await echo_to_readback(self, instance, value)

    @create_directory.putter
    async def create_directory(self, instance, value):
        value = _integer(instance.pvname, value, -64, 64, "directory creation depth")
        await echo_to_readback(self, instance, value)
        await instance.write(value, verify_value=False)
        # Re-check: with creation now allowed, the current path may come into being.
        path = text(self.file_path.value)
        if path:
            ok, message = await self.check_path(path)
            await self.report(ok, message)
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


class StdArrays(PluginMixin, records_group("NDStdArraysRecords", ND_PLUGIN_BASE, ND_STD_ARRAYS)):
    """``image1:``: NDPluginStdArrays, the last frame as a waveform for live viewers.

    Posts are rate-limited by ``MinCallbackTime`` (0.1 s by default); a frame that arrives
    sooner is not dropped but replaces the pending one, so the newest frame is always shown.
    """

    plugin_type = "NDPluginStdArrays"
    port_name = "IMAGE1"
    coalesce = True

    nd_array_port = pvproperty(**_kw(ND_PLUGIN_BASE, "NDArrayPort"))
    min_callback_time = pvproperty(**_kw(ND_PLUGIN_BASE, "MinCallbackTime", value=0.1))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pending: Frame | None = None
        self._poster: asyncio.Task | None = None
        self._last_post = 0.0
        # ArrayData's NELM is a macro of the template: the sensor's size, known only now
        # (--sensor-shape), and what clients see as the waveform's element count.
        rows, cols = self.parent.parent.sensor_shape
        self.array_data._max_length = rows * cols
        self.array_data._data["value"] = np.zeros(rows * cols, dtype=np.int32)

    async def _post(self, frame: Frame) -> None:
        flat = frame.data.ravel()
        nelm = self.array_data.max_length
        if flat.size > nelm:
            flat = flat[:nelm]
        # CA has no unsigned 32-bit type; counts stay far below 2**31.
        if flat.dtype == np.uint32:
            flat = flat.view(np.int32)
        await self.array_data.write(flat, timestamp=frame.timestamp)
        self._last_post = time.monotonic()

    async def _post_later(self) -> None:
        while self._pending is not None:
            wait = self.min_callback_time.value - (time.monotonic() - self._last_post)
            if wait > 0:
                await asyncio.sleep(wait)
            frame, self._pending = self._pending, None
            if frame is not None:
                await self._post(frame)

    async def process(self, frame: Frame) -> str | None:
        if time.monotonic() - self._last_post >= self.min_callback_time.value and self._pending is None:
            await self._post(frame)
            return None
        self._pending = frame
        if self._poster is None or self._poster.done():
            self._poster = asyncio.get_running_loop().create_task(self._post_later())
        return None

    @nd_array_port.startup
    async def nd_array_port(self, instance, async_lib):
        await self.init_plugin()

    @nd_array_port.putter
    async def nd_array_port(self, instance, value):
        return await self._port_put(instance, value)

    @min_callback_time.putter
    async def min_callback_time(self, instance, value):
        value = _finite(instance.pvname, value, 0.0, 60.0, "minimum time between callbacks (s)")
        return await echo_to_readback(self, instance, value)


class Stats(PluginMixin, records_group("NDStatsRecords", ND_PLUGIN_BASE, ND_STATS)):
    """``Stats1:``: NDPluginStats, the frame's statistics and centroid."""

    plugin_type = "NDPluginStats"
    port_name = "STATS1"

    nd_array_port = pvproperty(**_kw(ND_PLUGIN_BASE, "NDArrayPort"))
    centroid_threshold = pvproperty(**_kw(ND_STATS, "CentroidThreshold", value=1200.0))
    compute_centroid = pvproperty(put=echo_to_readback, **_kw(ND_STATS, "ComputeCentroid", value="Yes"))
    compute_statistics = pvproperty(put=echo_to_readback, **_kw(ND_STATS, "ComputeStatistics", value="Yes"))

    def readout_work(self):
        if not (self.enabled and (index(self.compute_statistics) or index(self.compute_centroid))):
            return None
        return functools.partial(physics.stats, centroid_threshold=self.centroid_threshold.value)

    async def process(self, frame: Frame) -> str | None:
        if not (index(self.compute_statistics) or index(self.compute_centroid)):
            return None
        s = frame.precomputed.get(self.port_name)
        if s is None:  # settings changed during the exposure, or a frame not from the driver
            loop = asyncio.get_running_loop()
            s = await loop.run_in_executor(None, physics.stats, frame.data, self.centroid_threshold.value)
        ts = frame.timestamp
        if index(self.compute_statistics):
            for chan, key in ((self.total_rbv, "total"), (self.net_rbv, "net"), (self.min_value_rbv, "min"),
                              (self.max_value_rbv, "max"), (self.mean_value_rbv, "mean"),
                              (self.sigma_rbv, "sigma"), (self.min_x_rbv, "min_x"), (self.min_y_rbv, "min_y"),
                              (self.max_x_rbv, "max_x"), (self.max_y_rbv, "max_y")):
                await chan.write(s[key], timestamp=ts)
        if index(self.compute_centroid):
            for chan, key in ((self.centroid_x_rbv, "centroid_x"), (self.centroid_y_rbv, "centroid_y"),
                              (self.sigma_x_rbv, "sigma_x"), (self.sigma_y_rbv, "sigma_y")):
                await chan.write(s[key], timestamp=ts)
        return None

    @nd_array_port.startup
    async def nd_array_port(self, instance, async_lib):
        await self.init_plugin()

    @nd_array_port.putter
    async def nd_array_port(self, instance, value):
        return await self._port_put(instance, value)

    @centroid_threshold.putter
    async def centroid_threshold(self, instance, value):
        value = _finite(instance.pvname, value, -1e300, 1e300, "centroid threshold")
        return await echo_to_readback(self, instance, value)


class Camera(PVGroup):
    """``dot:``: the camera driver and its plugin chain."""

    cam = SubGroup(CamDriver, prefix="cam1:")
    tiff = SubGroup(FileTIFF, prefix="TIFF1:")
    image = SubGroup(StdArrays, prefix="image1:")
    stats = SubGroup(Stats, prefix="Stats1:")

    def plugins(self) -> list[PluginMixin]:
        return [self.tiff, self.image, self.stats]

    def readout_work(self) -> dict:
        """The plugins' per-frame work to do on the readout thread, by plugin port."""
        work = {}
        for plugin in self.plugins():
            func = plugin.readout_work() if plugin.wired_to(DRIVER_PORT) else None
            if func is not None:
                work[plugin.port_name] = func
        return work

    def port_names(self) -> list[str]:
        return [DRIVER_PORT] + [p.port_name for p in self.plugins()]

    async def deliver(self, frame: Frame) -> str | None:
        """Hand a frame to every plugin wired to the driver; the first error, if any."""
        problems = []
        for plugin in self.plugins():
            if plugin.wired_to(DRIVER_PORT):
                try:
                    problem = await plugin.receive(frame)
                except Exception as exc:  # a plugin's bug must not stop the camera
                    problem = f"{plugin.prefix}: {type(exc).__name__}: {exc}"
                if problem:
                    problems.append(problem)
        return problems[0] if problems else None
