"""``cam1:``: the simDetector driver (simDetector.template over ADBase), acquiring frames of the simulation.

``cam1:Acquire`` = 1 takes ``NumImages`` frames (1 in Single mode, until stopped in
Continuous), each exposing ``AcquireTime`` s (x ``NumExposures``), one every
``AcquirePeriod`` s at the least, in simulated time (the clock's ``TimeScale`` divides the
wall time). Each frame goes to the plugins wired to the driver's port, and Acquire returns
to 0 only once they are done with the last one; a put with completion on Acquire completes
then too.

``SimMode`` has simDetector.template's four states, at their indices (0 LinearRamp, 1 Peaks,
2 Sine, 3 Offset&Noise), and a fifth, 4 ``BeamSpot``, this IOC's own and its start-up
value: the frame of :mod:`ioc.sim.physics`, the spot the motors move, scaled by the exposure
and the ring current, with Poisson noise. A real simDetector has no such mode; it is added as
the template's next free state (FRST) so that clients writing 0-3 or the four strings get
simDetector's behaviour. The patterns are :mod:`ioc.sim.patterns` (simDetector.cpp's
formulas), computed at the full sensor size in DataType and read out through the region
and binning. A put that changes a parameter, DataType or SimMode resets the pattern, as does
a put of 1 to ``Reset``. Colour modes are not simulated (the camera is mono).

What the driver is given (:class:`SimDetector`'s arguments): the simulation's clock, the
stored beam (its mean current over an exposure), where the motors put the spot, the fault
model (``sim:CamFault``), the ports its frames go to, and a seed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from ..records.declare import ai, ao, longin, longout, mbbi, mbbo
from ..records.group import echo_to_readback
from ..records.validate import integer
from ..server.puts import processing_started
from ..server.timeline import mark
from ..sim import physics
from ..sim.clock import SimClock
from ..sim.faults import FRAME_TIMEOUT, CameraFault, FaultModel
from ..sim.patterns import SIM_MODES, SimParams, SimPatterns, Sine
from ..sim.ring import StoredBeam
from ..threads import worker
from .ad_base import ADBase
from .ndarray import NUMPY_TYPES, Frame, enum_index, index
from .ports import NDArrayPorts

BEAM_SPOT = "BeamSpot"
READOUT_STEP = 0.001  # s: the readout's wait step (_read_out_sensor); epoll's timers are whole ms
MAX_PEAKS = 10_000  # PeakNumX x PeakNumY: each peak costs a slice of the frame per frame
MAX_PEAK_WIDTH = 4096


class SimDetector(ADBase):
    """``cam1:``: simDetector.template (which includes ADBase.template), the beam spot or a test pattern."""

    color_mode = mbbo("ColorMode", "Mono", ("Mono", "RGB1", "RGB2", "RGB3"), doc="color mode (simDetector menu)")
    color_mode_rbv = mbbi("ColorMode_RBV", "Mono", ("Mono", "RGB1", "RGB2", "RGB3"),
                          doc="color mode (simDetector menu)")
    gain_x = ao("GainX", 1.0, prec=2, doc="simulation gain X")
    gain_x_rbv = ai("GainX_RBV", 1.0, prec=2, doc="simulation gain X")
    gain_y = ao("GainY", 1.0, prec=2, doc="simulation gain Y")
    gain_y_rbv = ai("GainY_RBV", 1.0, prec=2, doc="simulation gain Y")
    gain_red = ao("GainRed", 1.0, prec=2, doc="simulation gain red")
    gain_red_rbv = ai("GainRed_RBV", 1.0, prec=2, doc="simulation gain red")
    gain_green = ao("GainGreen", 1.0, prec=2, doc="simulation gain green")
    gain_green_rbv = ai("GainGreen_RBV", 1.0, prec=2, doc="simulation gain green")
    gain_blue = ao("GainBlue", 1.0, prec=2, doc="simulation gain blue")
    gain_blue_rbv = ai("GainBlue_RBV", 1.0, prec=2, doc="simulation gain blue")
    reset = longout("Reset", doc="reset the simulated image")
    reset_rbv = longin("Reset_RBV", doc="reset the simulated image")
    offset = ao("Offset", prec=1, doc="simulation offset")
    offset_rbv = ai("Offset_RBV", prec=1, doc="simulation offset")
    noise = ao("Noise", prec=1, doc="simulation noise")
    noise_rbv = ai("Noise_RBV", prec=1, doc="simulation noise")
    sim_mode = mbbo("SimMode", BEAM_SPOT, SIM_MODES + (BEAM_SPOT,),
                    doc="simulation mode; BeamSpot (4) is this IOC's spot, the default")
    sim_mode_rbv = mbbi("SimMode_RBV", BEAM_SPOT, SIM_MODES + (BEAM_SPOT,),
                        doc="simulation mode; BeamSpot (4) is this IOC's spot, the default")
    peak_start_x = longout("PeakStartX", 1, doc="peak mode: first peak X")
    peak_start_x_rbv = longin("PeakStartX_RBV", 1, doc="peak mode: first peak X")
    peak_start_y = longout("PeakStartY", 1, doc="peak mode: first peak Y")
    peak_start_y_rbv = longin("PeakStartY_RBV", 1, doc="peak mode: first peak Y")
    peak_num_x = longout("PeakNumX", 1, doc="peak mode: number of peaks X")
    peak_num_x_rbv = longin("PeakNumX_RBV", 1, doc="peak mode: number of peaks X")
    peak_num_y = longout("PeakNumY", 1, doc="peak mode: number of peaks Y")
    peak_num_y_rbv = longin("PeakNumY_RBV", 1, doc="peak mode: number of peaks Y")
    peak_step_x = longout("PeakStepX", 1, doc="peak mode: peak spacing X")
    peak_step_x_rbv = longin("PeakStepX_RBV", 1, doc="peak mode: peak spacing X")
    peak_step_y = longout("PeakStepY", 1, doc="peak mode: peak spacing Y")
    peak_step_y_rbv = longin("PeakStepY_RBV", 1, doc="peak mode: peak spacing Y")
    peak_width_x = longout("PeakWidthX", 10, valid=(1, MAX_PEAK_WIDTH, "peak width in x (pixels)"),
                           doc="peak mode: peak width X")
    peak_width_x_rbv = longin("PeakWidthX_RBV", 10, doc="peak mode: peak width X")
    peak_width_y = longout("PeakWidthY", 20, valid=(1, MAX_PEAK_WIDTH, "peak width in y (pixels)"),
                           doc="peak mode: peak width Y")
    peak_width_y_rbv = longin("PeakWidthY_RBV", 20, doc="peak mode: peak width Y")
    peak_variation = ao("PeakVariation", prec=1, valid=(0.0, 200.0, "peak height variation (%)"),
                        doc="peak mode: peak height variation")
    peak_variation_rbv = ai("PeakVariation_RBV", prec=1, doc="peak mode: peak height variation")
    x_sine_operation = mbbo("XSineOperation", "Add", ("Add", "Multiply"), doc="sine mode: combine X sines")
    x_sine_operation_rbv = mbbi("XSineOperation_RBV", "Add", ("Add", "Multiply"), doc="sine mode: combine X sines")
    x_sine1_amplitude = ao("XSine1Amplitude", 1.0, prec=2, doc="sine mode: X sine 1 amplitude")
    x_sine1_amplitude_rbv = ai("XSine1Amplitude_RBV", 1.0, prec=2, doc="sine mode: X sine 1 amplitude")
    x_sine1_frequency = ao("XSine1Frequency", 1.0, prec=2, doc="sine mode: X sine 1 frequency")
    x_sine1_frequency_rbv = ai("XSine1Frequency_RBV", 1.0, prec=2, doc="sine mode: X sine 1 frequency")
    x_sine1_phase = ao("XSine1Phase", prec=2, doc="sine mode: X sine 1 phase")
    x_sine1_phase_rbv = ai("XSine1Phase_RBV", prec=2, doc="sine mode: X sine 1 phase")
    x_sine2_amplitude = ao("XSine2Amplitude", 1.0, prec=2, doc="sine mode: X sine 2 amplitude")
    x_sine2_amplitude_rbv = ai("XSine2Amplitude_RBV", 1.0, prec=2, doc="sine mode: X sine 2 amplitude")
    x_sine2_frequency = ao("XSine2Frequency", 2.0, prec=2, doc="sine mode: X sine 2 frequency")
    x_sine2_frequency_rbv = ai("XSine2Frequency_RBV", 2.0, prec=2, doc="sine mode: X sine 2 frequency")
    x_sine2_phase = ao("XSine2Phase", 90.0, prec=2, doc="sine mode: X sine 2 phase")
    x_sine2_phase_rbv = ai("XSine2Phase_RBV", 90.0, prec=2, doc="sine mode: X sine 2 phase")
    y_sine_operation = mbbo("YSineOperation", "Add", ("Add", "Multiply"), doc="sine mode: combine Y sines")
    y_sine_operation_rbv = mbbi("YSineOperation_RBV", "Add", ("Add", "Multiply"), doc="sine mode: combine Y sines")
    y_sine1_amplitude = ao("YSine1Amplitude", 1.0, prec=2, doc="sine mode: Y sine 1 amplitude")
    y_sine1_amplitude_rbv = ai("YSine1Amplitude_RBV", 1.0, prec=2, doc="sine mode: Y sine 1 amplitude")
    y_sine1_frequency = ao("YSine1Frequency", 1.0, prec=2, doc="sine mode: Y sine 1 frequency")
    y_sine1_frequency_rbv = ai("YSine1Frequency_RBV", 1.0, prec=2, doc="sine mode: Y sine 1 frequency")
    y_sine1_phase = ao("YSine1Phase", prec=2, doc="sine mode: Y sine 1 phase")
    y_sine1_phase_rbv = ai("YSine1Phase_RBV", prec=2, doc="sine mode: Y sine 1 phase")
    y_sine2_amplitude = ao("YSine2Amplitude", 1.0, prec=2, doc="sine mode: Y sine 2 amplitude")
    y_sine2_amplitude_rbv = ai("YSine2Amplitude_RBV", 1.0, prec=2, doc="sine mode: Y sine 2 amplitude")
    y_sine2_frequency = ao("YSine2Frequency", 2.0, prec=2, doc="sine mode: Y sine 2 frequency")
    y_sine2_frequency_rbv = ai("YSine2Frequency_RBV", 2.0, prec=2, doc="sine mode: Y sine 2 frequency")
    y_sine2_phase = ao("YSine2Phase", 90.0, prec=2, doc="sine mode: Y sine 2 phase")
    y_sine2_phase_rbv = ai("YSine2Phase_RBV", 90.0, prec=2, doc="sine mode: Y sine 2 phase")

    def __init__(self, prefix: str, *, port: str, macros: dict, clock: SimClock, beam: StoredBeam,
                 spot_position: Callable[[], tuple[float, float]], faults: FaultModel, ports: NDArrayPorts,
                 seed: int | None = None, manufacturer: str = "beamline-sim", model: str = "Moving dot camera",
                 row_time: float = physics.ROW_TIME) -> None:
        super().__init__(prefix, port=port, macros=macros)
        self.clock = clock
        self.row_time = row_time  # s per sensor row read out after each exposure
        self.beam = beam
        self.spot_position = spot_position  # () -> (x, y): the motors' readbacks
        self.faults = faults
        self.ports = ports
        self.identity = {"manufacturer": manufacturer, "model": model, "serial_number": "No serial number",
                         "firmware": "No firmware"}
        self.rng = np.random.default_rng(seed)
        self.patterns = SimPatterns()  # used on the rng worker thread only
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None  # created on the server's loop, at startup
        self._rng_pool = worker("dot-rng")
        self._bg: Future | None = None  # the next frame's background, drawn on the rng thread
        self._bg_shape: tuple[int, int] | None = None
        # The next frame made ahead (see _speculate): (its inputs, its future), used if they still hold.
        self._next: tuple[tuple, asyncio.Future] | None = None
        self._last_key: tuple | None = None  # the last frame's inputs
        self._steady = False  # the last frame's inputs were its predecessor's
        self._unique_id = 0
        faults.subscribe(self._faults_changed)

    # -- helpers -------------------------------------------------------------------

    @property
    def acquiring(self) -> bool:
        return self._task is not None and not self._task.done()

    def reseed(self, seed: int) -> None:
        """Restart the noise from ``seed`` (sim:Seed): frames made ahead or drawn before are dropped."""
        self.rng = np.random.default_rng(seed)
        self.discard_prepared_background()

    def discard_prepared_background(self) -> None:
        self._bg = None
        self._next = None

    def _prepare_background(self) -> None:
        """Draw the next frame's background noise on the worker thread while the camera idles."""
        shape = self.sensor_shape
        self._bg = self._rng_pool.submit(physics.background, self.rng, shape)
        self._bg_shape = shape

    async def start(self) -> None:
        self._stop = asyncio.Event()
        await super().start()
        await self.identify(**self.identity)
        await self.set_state("Idle", "Idle")
        self._prepare_background()

    async def stop(self) -> None:
        self._rng_pool.shutdown(wait=False, cancel_futures=True)

    # -- acquisition ---------------------------------------------------------------

    def _frame_inputs(self, t0: float) -> tuple:
        """What a frame whose exposure starts at ``t0`` (simulated s) is made from:
        (sensor shape, x, y, exposure, exposures, mean current, readout region, dtype, mode)."""
        exposure, n_exp = self.acquire_time.value, self.num_exposures.value
        x, y = self.spot_position()
        return (self.sensor_shape, x, y, exposure, n_exp, self.beam.mean_current(t0, t0 + exposure * n_exp),
                self.readout_region(), NUMPY_TYPES[self.data_type.value], self._frame_mode())

    def _frame_mode(self):
        """What else shapes a frame: a SimMode pattern's own state and PVs (never made ahead);
        None for the beam spot, whose frames may be made ahead."""
        return None if self.sim_mode.value == BEAM_SPOT else self.sim_mode.value

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
            made = self._rng_pool.submit(self._read_ahead, self.rng, work, bg, *inputs[1:])
        except RuntimeError:  # the pool shut down with the IOC
            return False
        self._next = ((inputs, _work_key(work)), asyncio.wrap_future(made))
        return True

    def _make_frame(self, bg, x, y, exposure, n_exposures, current, region, dtype) -> np.ndarray:
        """Runs on the rng worker thread: the physics (or the SimMode pattern), then the sensor readout."""
        rng = self.rng
        shape = self.sensor_shape
        if self.sim_mode.value != BEAM_SPOT:
            return physics.roi_bin(self.patterns.frame(self.sim_params(), rng, shape, dtype), *region)
        if bg is None or n_exposures != 1 or bg.shape != shape:
            bg = physics.background(rng, shape, n_exposures)
        img = physics.frame(rng, x, y, exposure * n_exposures, current, shape, bg=bg)
        img = physics.roi_bin(img, *region)  # the frame's own memory (or a binned copy): ours to change
        if dtype is not np.uint32:
            if np.issubdtype(dtype, np.integer) and np.iinfo(dtype).max < np.iinfo(img.dtype).max:
                np.minimum(img, np.iinfo(dtype).max, out=img)  # saturate (counts are never negative)
            img = img.astype(dtype)
        return img

    def _read_out(self, work: dict, bg, x, y, exposure, n_exposures, current, region, dtype, _mode=None
                  ) -> tuple[np.ndarray, dict]:
        """Runs on the rng worker thread: the frame, then the plugins' per-frame arithmetic
        (``work``), while the exposure is still running in wall time."""
        mark("make_start")
        img = self._make_frame(bg, x, y, exposure, n_exposures, current, region, dtype)
        mark("made")
        return img, {port: func(img) for port, func in work.items()}

    def _read_ahead(self, rng, work: dict, bg: Future | None, *inputs) -> tuple[np.ndarray, dict] | None:
        """Runs on the rng worker thread: a frame made ahead, on the background drawn before it
        (done: the thread runs one job at a time, in order); None if sim:Seed was set meanwhile
        (the new generator's noise goes, in order, to the frames acquired) or it failed."""
        if rng is not self.rng:
            return None
        try:
            return self._read_out(work, bg.result() if bg is not None else None, *inputs)
        except Exception:  # the acquisition makes the frame itself, and reports its failure
            return None

    async def _sleep_or_stop(self, sim_seconds: float, on_tick=None) -> bool:
        """Wait ``sim_seconds`` of simulated time (re-timed if TimeScale changes meanwhile);
        True if a stop request arrived."""
        return await self.clock.sleep(sim_seconds, stop=self._stop, on_tick=on_tick)

    async def _acquire_one(self) -> Frame | None:
        """Expose and read out one frame; None if stopped during the exposure."""
        clock = self.clock
        t0 = clock.now()
        inputs = self._frame_inputs(t0)
        _, x, y, exposure, n_exp, current, _, _, _ = inputs
        work = self.ports.readout_work(self.port)
        key = (inputs, _work_key(work))
        loop = asyncio.get_running_loop()
        ahead, self._next = self._next, None
        if ahead is not None and ahead[0] == key:
            made = ahead[1]  # made while the client worked, from these very inputs
        else:
            if ahead is not None:
                ahead[1].cancel()  # inputs changed (a motor moved, a setting changed): not this frame
            bg = None
            if self._bg is not None and self._bg_shape == self.sensor_shape:
                bg = await asyncio.wrap_future(self._bg)
            self._bg = None
            # The frame is computed while the exposure elapses, as photons arrive during it.
            made = loop.run_in_executor(self._rng_pool, self._read_out, work, bg, *inputs[1:])
        self._steady, self._last_key = key == self._last_key, key
        # The next frame's background, drawn on the same thread right after this frame, while
        # the exposure still runs (drawn later, it would hold the GIL while frames are served).
        self._prepare_background()
        mark("exp_start", "ahead" if ahead is not None and ahead[1] is made else "")
        stopped = await self._sleep_or_stop(exposure * n_exp, on_tick=self.count_down)
        mark("exp_end")
        await self.count_down(0.0)
        if not stopped:
            await self._camera_fault()  # sim:CamFault (may raise CameraFault, or stall)
            stopped = self._stop.is_set()
        if not stopped:
            await self.set_state("Readout")
        # The beam as it really was during the exposure: a dump (or refill) that came after
        # the frame was made changes what the sensor collected, so the frame is made again.
        seen = self.beam.mean_current(t0, t0 + exposure * n_exp)
        if stopped:
            await asyncio.gather(made, return_exceptions=True)  # the rng thread's draws stay in order
            return None
        if await self._read_out_sensor(self.readout_wall_time(inputs[6][3]), made):
            await asyncio.gather(made, return_exceptions=True)
            return None
        mark("readout_end")
        made = made.result()
        if seen != current:
            inputs = inputs[:5] + (seen,) + inputs[6:]
            current, made = seen, None
        if made is None:  # made again, or made ahead but could not be (sim:Seed set meanwhile)
            made = await loop.run_in_executor(self._rng_pool, self._read_out, work, None, *inputs[1:])
        img, precomputed = made
        self._unique_id += 1
        return Frame(img, self._unique_id, time.time(),
                     {"x": x, "y": y, "current_mA": current, "exposure_s": exposure * n_exp}, precomputed)

    async def _read_out_sensor(self, seconds: float, made: asyncio.Future) -> bool:
        """The readout: ``seconds`` of the camera's time (to within half a step, one step at
        least), and the frame ``made`` (computed on the rng thread meanwhile); True if a stop
        request arrived. The camera's time is wall time in which this process ran: a stall of
        the IOC's own (a garbage collection) is not the camera's, and counting it would let a
        client see a frame end as soon as it sees it start."""
        loop = asyncio.get_running_loop()
        left, waited = seconds, False
        while left > READOUT_STEP / 2 or (left > 0 and not waited) or not made.done():
            waited = True
            step = min(max(left, 0.0), READOUT_STEP) or READOUT_STEP
            t0 = loop.time()
            if made.done():
                await asyncio.sleep(step)
            else:
                await asyncio.wait((made,), timeout=step)
            if self._stop.is_set():
                return True
            left -= min(loop.time() - t0, 2 * step)
        return False

    def readout_wall_time(self, rows: int) -> float:
        """Wall seconds the sensor takes to read ``rows`` rows out after an exposure
        (:func:`ioc.sim.physics.readout_time`, ``row_time`` s a row). TimeScale speeds up
        exposures and moves, not the readout: like a real camera's, it is never faster than its
        electronics, which clients that wait for a frame rely on (ophyd's ``SingleTrigger`` must
        see Acquire rise and fall after its ``trigger()`` returns); below 1 it slows with the clock."""
        return physics.readout_time(rows, self.row_time) / min(1.0, self.clock.time_scale)

    async def _acquisition(self) -> None:
        mode = self.image_mode.value
        total = 1 if mode == "Single" else (math.inf if mode == "Continuous" else self.num_images.value)
        clock = self.clock
        await self.count_images(0)
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
                await self.count_array()
                await self.count_images(n, self.num_exposures.value)
                if index(self.array_callbacks):
                    mark("deliver")
                    problem = await self.ports.deliver(self.port, frame) or self.ports.take_problem()
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
            # Acquire returns to 0 once the plugins are done with the last frame (queued ones too).
            drained = await self.ports.drain()
            error = error or drained
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
            # The plugins are done with the last frame: AcquireBusy (a busy record) clears.
            await self.set_acquiring(False)
            mark("acquire0")
            if self._steady and not error and not self._stop.is_set():
                self._speculate(clock.now(), self.ports.readout_work(self.port))

    async def _camera_fault(self) -> None:
        """When an exposure ends, before the frame is read out: sim:CamFault AcquireError raises
        :class:`CameraFault` (the acquisition ends in error); Stalled reports the stall after
        FRAME_TIMEOUT simulated s and waits until the acquisition is stopped, which clears it."""
        message = self.faults.acquire_error()
        if message:
            await self.set_state(None, message)  # the message first: a client that sees Error reads why
            raise CameraFault(message)
        if self.faults.camera_stalled():
            # A real driver waits for a frame that never comes, then says so; Acquire stays 1.
            if not await self._sleep_or_stop(FRAME_TIMEOUT):
                await self.set_state("Error", "Timeout waiting for a frame from the sensor: stalled; stop and "
                                              "restart acquisition (sim:CamFault Stalled)")
                await self._stop.wait()
            # Stopping (and so restarting) the acquisition is what clears a stall.
            await self.faults.end_stall()

    async def _faults_changed(self, event: str) -> None:
        """sim:ClearFaults during a stall: the stalled acquisition ends (Aborted), as a restart would."""
        if event == "cleared" and self.acquiring and self.detector_state_rbv.value == "Error":
            self._stop.set()

    # -- PV hooks ------------------------------------------------------------------

    async def acquire_put(self, instance, value):
        """Acquire = 1 starts acquiring (ignored while acquiring, as areaDetector does); 0 stops."""
        if enum_index(instance, value) == 0:
            if self.acquiring:
                self._stop.set()
                await self.set_state("Aborting", "Stopping acquisition")
            return "Done"
        if self.acquiring:
            return "Acquire"  # already acquiring: areaDetector ignores a second start
        mark("put")
        self._stop.clear()
        await self.set_acquiring(True)
        self._task = asyncio.get_running_loop().create_task(self._acquisition())
        # Busy-record semantics: a put with completion waits for the acquisition to end, and
        # the client's next request is served meanwhile (an asynchronous record's PACT).
        processing_started()
        await asyncio.shield(self._task)
        return "Done"

    @color_mode.putter
    async def color_mode(self, instance, value):
        if enum_index(instance, value) != 0:
            raise ValueError(f"{instance.pvname}: this camera is monochrome; only 'Mono' is supported")
        return await echo_to_readback(self, instance, value)

    def sim_params(self) -> SimParams:
        """The pattern parameters now, from the PVs."""
        def sine(axis: str, n: int) -> Sine:
            return Sine(getattr(self, f"{axis}_sine{n}_amplitude").value,
                        getattr(self, f"{axis}_sine{n}_frequency").value,
                        getattr(self, f"{axis}_sine{n}_phase").value)

        return SimParams(
            mode=self.sim_mode.value, gain=self.gain.value, gain_x=self.gain_x.value, gain_y=self.gain_y.value,
            offset=self.offset.value, noise=self.noise.value,
            peak_start_x=self.peak_start_x.value, peak_start_y=self.peak_start_y.value,
            peak_num_x=self.peak_num_x.value, peak_num_y=self.peak_num_y.value,
            peak_step_x=self.peak_step_x.value, peak_step_y=self.peak_step_y.value,
            peak_width_x=self.peak_width_x.value, peak_width_y=self.peak_width_y.value,
            peak_variation=self.peak_variation.value,
            x_sine_operation=self.x_sine_operation.value, y_sine_operation=self.y_sine_operation.value,
            x_sine1=sine("x", 1), x_sine2=sine("x", 2), y_sine1=sine("y", 1), y_sine2=sine("y", 2),
        )

    @reset.putter
    async def reset(self, instance, value):
        value = integer(instance.pvname, value, -(2**31), 2**31 - 1, "reset")
        if value:
            self.patterns.reset()
        return await echo_to_readback(self, instance, value)

    @peak_num_x.putter
    async def peak_num_x(self, instance, value):
        value = integer(instance.pvname, value, 0, MAX_PEAKS, "number of peaks in x")
        if value * self.peak_num_y.value > MAX_PEAKS:
            raise ValueError(f"{instance.pvname}: PeakNumX x PeakNumY must be at most {MAX_PEAKS}")
        return await echo_to_readback(self, instance, value)

    @peak_num_y.putter
    async def peak_num_y(self, instance, value):
        value = integer(instance.pvname, value, 0, MAX_PEAKS, "number of peaks in y")
        if value * self.peak_num_x.value > MAX_PEAKS:
            raise ValueError(f"{instance.pvname}: PeakNumX x PeakNumY must be at most {MAX_PEAKS}")
        return await echo_to_readback(self, instance, value)


def _work_key(work: dict) -> tuple:
    """The plugins' readout work, comparable: by port, the function and its arguments."""
    return tuple((port, getattr(f, "func", f), getattr(f, "args", ()), tuple(sorted(getattr(f, "keywords", {}).items())))
                 for port, f in sorted(work.items()))
