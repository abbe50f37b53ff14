"""``sim:``: controls of the simulation itself, and faults on demand (not of any real hardware).

Time (TimeScale, Time), noise (Seed), the ring model (RingMode), where files may go
(DataRoot), and the faults a user can make happen: a beam dump (BeamDump, RefillTime), a
camera fault (CamFault), a stalled motor (MotorStall), a frozen server (Freeze), all off
again (ClearFaults). Every fault shows in the PVs a user's tools read on a real beamline
(``ring:current`` and its alarm, ``cam1:DetectorState_RBV``/``StatusMessage_RBV``,
``TIFF1:WriteStatus``/``WriteMessage``, the motor record's ``.MSTA``/``.MISS``/alarm), never in a
private channel. None touches a file already written.

The beam dump is the stored beam's (:class:`ioc.sim.ring.StoredBeam`); this group starts it
and posts ``ring:current`` while the beam is disturbed. A frame whose exposure was already
under way when the beam dumped keeps the current it started with (the driver draws a frame's
photons when its exposure starts); frames started after the dump have no spot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ..records import Macro, RecordGroup, validate
from ..records.declare import ai, ao, bo, longout, mbbo, waveform
from ..sim.clock import SimClock
from ..sim.faults import CAM_FAULTS, STALL_AXES, FaultModel
from ..sim.ring import ConstantRing, StoredBeam, TopUp

RING_MODES = ("TopUp", "Constant")
MAX_REFILL = 86400.0  # s (simulated): a day without beam is surely a typo
MAX_FREEZE = 600.0  # wall s
POST_INTERVAL = 0.05  # wall s between ring:current updates while the beam is disturbed


class SimControls(RecordGroup):
    """``sim:``. ``macros``: TIME_SCALE, SEED, RING_MODE and DATA_ROOT as the command line set them."""

    asg = "SIMULATION"  # access security group (the ACF's): staff only change the simulation and its faults

    time_scale = ao("TimeScale", Macro("TIME_SCALE", float), prec=3,
                    doc="Simulated seconds per wall second: exposures and moves take 1/TimeScale of their time")
    time = ai("Time", egu="s", prec=3, doc="Simulated seconds since the IOC started")
    seed = longout("Seed", Macro("SEED"), doc="Seed of the noise generator; writing it restarts the noise sequence")
    ring_mode = mbbo("RingMode", Macro("RING_MODE", str), RING_MODES,
                     doc="TopUp: decay and injections; Constant: ring held at its set point")
    data_root = waveform("DataRoot", Macro("DATA_ROOT", str), nelm=1024, input=True,
                         doc="The only tree the camera writes into")
    beam_dump = bo("BeamDump", "No", ("No", "Yes"),
                   doc="Put 1: the stored beam is lost (ring:current to 0 within 0.5 s, LOLO/MAJOR), stays down "
                       "RefillTime s, then refills to the top-up pattern; reads 1 until the beam is back. "
                       "A put with completion completes once the beam has gone; put 0 starts the refill now")
    refill_time = ao("RefillTime", 60.0, egu="s", prec=1, limits=(0.0, MAX_REFILL),
                     valid=(0.0, MAX_REFILL, "time without beam (simulated s)"),
                     doc="Simulated seconds the ring stays empty after a beam dump before injection refills it")
    cam_fault = mbbo("CamFault", "None", CAM_FAULTS,
                     doc="AcquireError: every acquisition ends with DetectorState_RBV Error and StatusMessage_RBV "
                         "why; WriteError: TIFF1 fails every write (WriteStatus, WriteMessage); Stalled: the next "
                         "frame never arrives (Acquire stays 1, DetectorState_RBV Error) until acquisition is "
                         "stopped, which also clears this fault. None: the camera works")
    motor_stall = mbbo("MotorStall", "None", STALL_AXES,
                       doc="dotx, doty or All: each move of that motor stops 40 % of the way, with .MSTA PROBLEM, "
                           ".MISS 1, STATE/MAJOR alarm and DMOV 1, until set back to None")
    freeze = ao("Freeze", egu="s", prec=1, limits=(0.0, MAX_FREEZE),
                doc="Put N: for N wall seconds the IOC answers nothing (connections stay open, as under "
                    "kill -STOP); reads 0 again once it answers")
    clear_faults = longout("ClearFaults",
                           doc="Put 1: every fault off (the beam refills now, the camera and the motors work again)")

    def __init__(self, prefix: str, *, macros: dict, clock: SimClock, beam: StoredBeam,
                 post_current: Callable[[], Awaitable[None]], faults: FaultModel,
                 reseed: Callable[[int], None]) -> None:
        super().__init__(prefix, macros=macros)
        self.clock = clock
        self.beam = beam
        self.post_current = post_current  # posts the ring current PVs now (a dump is faster than their scan)
        self.faults = faults
        self.reseed = reseed  # sim:Seed: every part with noise restarts it
        self._beam_task: asyncio.Task | None = None
        faults.subscribe(self._faults_changed)

    # -- simulation ------------------------------------------------------------------------

    @time_scale.putter
    async def time_scale(self, instance, value):
        value = validate.finite(instance.pvname, value, 1e-3, 1e6, "time scale")
        self.clock.time_scale = value
        return value

    @time.getter
    async def time(self, instance):
        return self.clock.now()

    @seed.putter
    async def seed(self, instance, value):
        value = validate.integer(instance.pvname, value, 0, 2**31 - 1, "seed")
        self.reseed(value)
        return value

    @ring_mode.putter
    async def ring_mode(self, instance, value):
        self.beam.ring = TopUp() if value == "TopUp" else ConstantRing()
        return value

    # -- beam dump -------------------------------------------------------------------------

    async def _follow_beam(self) -> None:
        """Post ring:current often while the beam is disturbed (its scan is slower), then
        BeamDump back to 0 once the ring model's current is back."""
        clock, beam = self.clock, self.beam
        while beam.disturbed(clock.now()):
            await self.post_current()
            await asyncio.sleep(min(POST_INTERVAL, clock.wall(0.1)))
        await self.post_current()
        await self.beam_dump.write("No", verify_value=False)

    def _start_following(self) -> None:
        if self._beam_task is None or self._beam_task.done():
            self._beam_task = asyncio.get_running_loop().create_task(self._follow_beam())

    @beam_dump.putter
    async def beam_dump(self, instance, value):
        clock, beam = self.clock, self.beam
        if value in ("No", 0):
            beam.refill(clock.now())
            return "Yes" if beam.disturbed(clock.now()) else "No"
        beam.dump(clock.now(), self.refill_time.value)
        await instance.write("Yes", verify_value=False)
        self._start_following()
        # A put with completion completes once the beam has gone (ring:current posted at 0).
        await asyncio.sleep(clock.wall(max(0.0, beam.dumped_at + beam.fall_time - clock.now())))
        await self.post_current()
        return "Yes"

    # -- faults ----------------------------------------------------------------------------

    @cam_fault.putter
    async def cam_fault(self, instance, value):
        await self.faults.set_camera(value)
        return value

    @motor_stall.putter
    async def motor_stall(self, instance, value):
        await self.faults.set_motor_stall(value)
        return value

    async def _faults_changed(self, event: str) -> None:
        """CamFault and MotorStall show the fault model's state (a stall ends when it is stopped)."""
        for chan, value in ((self.cam_fault, self.faults.camera), (self.motor_stall, self.faults.motor_stall)):
            if chan.value != value:
                await chan.write(value, verify_value=False)

    def _frozen(self, seconds: float) -> None:
        # The server's event loop does nothing for this long: no CA request (search, get,
        # put, monitor) is answered, while the kernel keeps every TCP connection open.
        time.sleep(seconds)

    async def _thaw(self) -> None:
        await self.freeze.write(0.0, verify_value=False)

    @freeze.putter
    async def freeze(self, instance, value):
        seconds = validate.finite(instance.pvname, value, 0.0, MAX_FREEZE, "freeze time (wall s)")
        if seconds > 0:
            loop = asyncio.get_running_loop()
            # Freeze just after this put is answered, so that caput itself returns.
            loop.call_later(0.05, self._frozen, seconds)
            loop.call_later(0.06, lambda: loop.create_task(self._thaw()))
        return seconds

    @clear_faults.putter
    async def clear_faults(self, instance, value):
        if value:
            self.beam.refill(self.clock.now())
            await self.faults.clear()  # a stalled acquisition ends (Aborted), as a restart would
        return 0
