"""``cam1:``: the camera driver (ADDriver + simDetector records)."""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from caproto.server import pvproperty

from .. import physics
from ..adcore_records import AD_BASE, SIM_DETECTOR
from ..faults import CameraFault
from ..records import echo_to_readback, records_group, sync_readbacks, utf8_fit
from ..validate import finite, integer
from .common import (
    DRIVER_PORT,
    MAX_EXPOSURE,
    MAX_IMAGES,
    NUMPY_TYPES,
    Frame,
    enum_index,
    index,
    kw,
    post,
)

if TYPE_CHECKING:
    from .camera import Camera

CAM_RECORDS = AD_BASE + SIM_DETECTOR  # cam1: loads simDetector.template, which includes ADBase.template


class CamDriver(records_group("ADBaseRecords", CAM_RECORDS)):
    """``cam1:``: the camera driver (ADDriver + simDetector records)."""

    acquire = pvproperty(**kw(CAM_RECORDS, "Acquire"))
    # Deviation: the template sets no limits; the IOC refuses a put outside them (with the
    # reason) rather than take an exposure no simulated camera needs. They show as HOPR/LOPR.
    acquire_time = pvproperty(**kw(CAM_RECORDS, "AcquireTime", lower_ctrl_limit=0.0, upper_ctrl_limit=MAX_EXPOSURE))
    acquire_period = pvproperty(**kw(CAM_RECORDS, "AcquirePeriod", lower_ctrl_limit=0.0,
                                     upper_ctrl_limit=MAX_EXPOSURE))
    num_images = pvproperty(**kw(CAM_RECORDS, "NumImages", lower_ctrl_limit=1, upper_ctrl_limit=MAX_IMAGES))
    num_exposures = pvproperty(**kw(CAM_RECORDS, "NumExposures", lower_ctrl_limit=1, upper_ctrl_limit=1000))
    array_counter = pvproperty(**kw(CAM_RECORDS, "ArrayCounter"))
    min_x = pvproperty(**kw(CAM_RECORDS, "MinX"))
    min_y = pvproperty(**kw(CAM_RECORDS, "MinY"))
    size_x = pvproperty(**kw(CAM_RECORDS, "SizeX"))
    size_y = pvproperty(**kw(CAM_RECORDS, "SizeY"))
    bin_x = pvproperty(**kw(CAM_RECORDS, "BinX"))
    bin_y = pvproperty(**kw(CAM_RECORDS, "BinY"))
    data_type = pvproperty(**kw(CAM_RECORDS, "DataType"))
    color_mode = pvproperty(**kw(CAM_RECORDS, "ColorMode"))
    trigger_mode = pvproperty(**kw(CAM_RECORDS, "TriggerMode"))
    image_mode = pvproperty(**kw(CAM_RECORDS, "ImageMode"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None  # created on the server's loop, at startup
        self._rng_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dot-rng")
        self._bg: Future | None = None  # the next frame's background, drawn on the rng thread
        self._bg_shape: tuple[int, int] | None = None
        # The next frame, made ahead on the rng thread while the client works (see _speculate):
        # (its inputs, its future), used only if the inputs are the same when it is acquired.
        self._next: tuple[tuple, asyncio.Future] | None = None
        self._last_key: tuple | None = None  # the last frame's inputs
        self._steady = False  # the last frame's inputs were its predecessor's
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
        self._next = None

    def _prepare_background(self) -> None:
        """Draw the next frame's background noise on the worker thread while the camera idles."""
        shape = self.sim.sensor_shape
        self._bg = self._rng_pool.submit(physics.background, self.sim.rng, shape)
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

    def _frame_inputs(self, t0: float) -> tuple:
        """What a frame whose exposure starts at ``t0`` (simulated s) is made from:
        (sensor shape, x, y, exposure, exposures, mean current, readout region, dtype, mode)."""
        sim = self.sim
        exposure, n_exp = self.acquire_time.value, self.num_exposures.value
        return (sim.sensor_shape, sim.mtr_dotx.fields.user_readback_value.value,
                sim.mtr_doty.fields.user_readback_value.value, exposure, n_exp,
                sim.ring_model.mean_current(t0, t0 + exposure * n_exp), self._readout_region(),
                NUMPY_TYPES[self.data_type.value], self._frame_mode())

    def _frame_mode(self):
        """What else shapes a frame (SimModeDriver: its SimMode); None: frames may be made ahead."""
        return None

    def _speculate(self, t0: float, work: dict) -> bool:
        """Once an acquisition has ended, start making the next frame on the rng thread, so
        that the client's work between frames (reading this one, saving its documents, the
        next trigger) overlaps its generation, as a real camera's next exposure can run
        while the client works. The frame is used only if its inputs (motors, settings, the
        current, the plugins' work) are the same when it is acquired, else dropped. Only
        while frames repeat their inputs (a count, not a scan that moves a motor every
        point), and the current is steady (a constant ring; with top-up it changes between
        any two exposures). It takes the background drawn for the next frame and draws its
        signal as that frame would: a count's frames are those it would get without this.
        Returns whether it started."""
        inputs = self._frame_inputs(t0)
        later = self._frame_inputs(t0 + 1.0 + 2 * inputs[3] * inputs[4])  # the current, a little later
        if inputs[-1] is not None or inputs[5] != later[5]:
            return False
        bg = self._bg if self._bg is not None and self._bg_shape == inputs[0] else None
        self._bg = None
        try:
            # Submitted now, behind the background on the one rng thread, so the draws keep
            # their order whatever the event loop does meanwhile (seeded runs repeat).
            made = self._rng_pool.submit(self._read_ahead, self.sim.rng, work, bg, *inputs[1:])
        except RuntimeError:  # the pool shut down with the IOC
            return False
        self._next = ((inputs, _work_key(work)), asyncio.wrap_future(made))
        return True

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

    def _read_out(self, work: dict, bg, x, y, exposure, n_exposures, current, region, dtype, _mode=None
                  ) -> tuple[np.ndarray, dict]:
        """Runs on the rng worker thread: the frame, then the plugins' per-frame arithmetic
        (``work``), while the exposure is still running in wall time."""
        img = self._make_frame(bg, x, y, exposure, n_exposures, current, region, dtype)
        return img, {port: func(img) for port, func in work.items()}

    def _read_ahead(self, rng, work: dict, bg: Future | None, *inputs) -> tuple[np.ndarray, dict] | None:
        """Runs on the rng worker thread: a frame made ahead, on the background drawn before it
        (done: the thread runs one job at a time, in order); None if sim:Seed was set meanwhile
        (the new generator's noise goes, in order, to the frames acquired) or it failed."""
        if rng is not self.sim.rng:
            return None
        try:
            return self._read_out(work, bg.result() if bg is not None else None, *inputs)
        except Exception:  # the acquisition makes the frame itself, and reports its failure
            return None

    async def _sleep_or_stop(self, sim_seconds: float, on_tick=None) -> bool:
        """Wait ``sim_seconds`` of simulated time (re-timed if TimeScale changes meanwhile);
        True if a stop request arrived."""
        return await self.sim.clock.sleep(sim_seconds, stop=self._stop, on_tick=on_tick)

    async def _count_down(self, remaining: float) -> None:
        await self.time_remaining_rbv.write(remaining)

    async def _acquire_one(self) -> Frame | None:
        """Expose and read out one frame; None if stopped during the exposure."""
        sim = self.sim
        clock = sim.clock
        t0 = clock.now()
        inputs = self._frame_inputs(t0)
        _, x, y, exposure, n_exp, current, _, _, _ = inputs
        work = self.camera.readout_work()
        key = (inputs, _work_key(work))
        loop = asyncio.get_running_loop()
        ahead, self._next = self._next, None
        if ahead is not None and ahead[0] == key:
            made = ahead[1]  # made while the client worked, from these very inputs
        else:
            if ahead is not None:
                ahead[1].cancel()  # inputs changed (a motor moved, a setting changed): not this frame
            bg = None
            if self._bg is not None and self._bg_shape == sim.sensor_shape:
                bg = await asyncio.wrap_future(self._bg)
            self._bg = None
            # The frame is computed while the exposure elapses, as photons arrive during it.
            made = loop.run_in_executor(self._rng_pool, self._read_out, work, bg, *inputs[1:])
        self._steady, self._last_key = key == self._last_key, key
        # The next frame's background, drawn on the same thread right after this frame, while
        # the exposure still runs (drawn later, it would hold the GIL while frames are served).
        self._prepare_background()
        stopped = await self._sleep_or_stop(exposure * n_exp, on_tick=self._count_down)
        made = await made
        if made is None:  # a frame made ahead that could not be made (sim:Seed set meanwhile)
            made = await loop.run_in_executor(self._rng_pool, self._read_out, work, None, *inputs[1:])
        img, precomputed = made
        await self.time_remaining_rbv.write(0.0)
        if not stopped:
            await sim.faults.camera_readout(self)  # hook: sim:CamFault (may raise CameraFault, or stall)
            stopped = self._stop.is_set()
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
                started = clock.now()
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
                    if await self._sleep_or_stop(self.acquire_period.value - (clock.now() - started)):
                        break
        except CameraFault as exc:  # sim:CamFault AcquireError: its message is the status message
            error = str(exc)
        except Exception as exc:  # never let a frame's failure leave Acquire stuck at 1
            error = f"Acquisition failed: {type(exc).__name__}: {exc}"
        finally:
            if error:
                await self.set_state("Error", error)
            elif self._stop.is_set() and n < total:
                # As simDetector: stopping Continuous acquisition is its normal end (Idle);
                # only Single/Multiple cut short are Aborted.
                continuous = mode == "Continuous"
                await self.set_state("Idle" if continuous else "Aborted",
                                     "Acquisition stopped" if continuous else "Acquisition aborted")
            else:
                await self.set_state("Idle", "Acquisition completed")
            await self.acquire_rbv.write(0)
            await self.acquire.write("Done", verify_value=False)
            # The plugins are done with the last frame: AcquireBusy (a busy record) clears.
            await self.acquire_busy_cb.write(0)
            await self.acquire_busy.write(0)
            if self._steady and not error and not self._stop.is_set():
                self._speculate(clock.now(), self.camera.readout_work())

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
        await self.acquire_rbv.write(1)
        await self.acquire_busy.write(1)
        await self.acquire_busy_cb.write(1)
        await instance.write("Acquire", verify_value=False)
        self._task = asyncio.get_running_loop().create_task(self._acquisition())
        # Busy-record semantics: a put with completion waits for the acquisition to end.
        await asyncio.shield(self._task)
        return "Done"

    @acquire_time.putter
    async def acquire_time(self, instance, value):
        value = finite(instance.pvname, value, 0.0, MAX_EXPOSURE, "exposure time (s)")
        return await echo_to_readback(self, instance, value)

    @acquire_period.putter
    async def acquire_period(self, instance, value):
        value = finite(instance.pvname, value, 0.0, MAX_EXPOSURE, "acquire period (s)")
        return await echo_to_readback(self, instance, value)

    @num_images.putter
    async def num_images(self, instance, value):
        value = integer(instance.pvname, value, 1, MAX_IMAGES, "number of images")
        return await echo_to_readback(self, instance, value)

    @num_exposures.putter
    async def num_exposures(self, instance, value):
        value = integer(instance.pvname, value, 1, 1000, "number of exposures per image")
        return await echo_to_readback(self, instance, value)

    @array_counter.putter
    async def array_counter(self, instance, value):
        value = integer(instance.pvname, value, 0, 2**31 - 1, "array counter")
        return await echo_to_readback(self, instance, value)

    async def _geometry_put(self, instance, value, low: int, high_of: str, what: str) -> int:
        rows, cols = self.sim.sensor_shape
        high = {"cols": cols, "rows": rows, "x0": cols - 1, "y0": rows - 1, "bin": 64}[high_of]
        value = integer(instance.pvname, value, low, high, what)
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


def _work_key(work: dict) -> tuple:
    """The plugins' readout work, comparable: by port, the function and its arguments."""
    return tuple((port, getattr(f, "func", f), getattr(f, "args", ()), tuple(sorted(getattr(f, "keywords", {}).items())))
                 for port, f in sorted(work.items()))
