"""``sim:`` fault controls: beam dumps, camera errors, motor stalls and a frozen server on demand.

Every fault shows up in the PVs a user's tools read on a real beamline (``ring:current``
and its alarm, ``cam1:DetectorState_RBV``/``StatusMessage_RBV``, ``TIFF1:WriteStatus``/
``WriteMessage``, the motor record's ``.MSTA``/``.MISS``/alarm), never in a private channel.
All are off at startup; ``sim:ClearFaults`` turns them all off. None touches a file already
written.

The other modules call in here through a few named hooks:

* the camera driver: :meth:`FaultControls.camera_readout` when an exposure ends;
* the TIFF plugin: :meth:`FaultControls.write_fault` before it writes a frame;
* the motor record: :meth:`FaultControls.motor_move` when the controller starts a run; the
  record ends a :class:`StalledMove` as motorRecord.cc does a stall (MSTA PROBLEM, MISS,
  STATE/MAJOR alarm, DMOV 1).

The beam dump itself is physics (:class:`ioc.physics.StoredBeam`); this module starts it
and posts ``ring:current`` while the beam is disturbed. Unlike a real sensor, a frame whose
exposure was already under way when the beam dumped keeps the current it started with: the
driver draws each frame's photons at the start of its exposure (for speed), from the ring's
current over the exposure as known then. Frames started after the dump have no spot.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from .motion import Move
from .validate import finite

if TYPE_CHECKING:
    from .areadetector.driver import CamDriver
    from .motor import SimMotor

CAM_FAULTS = ("None", "AcquireError", "WriteError", "Stalled")
STALL_AXES = ("None", "dotx", "doty", "All")
MAX_REFILL = 86400.0  # s (simulated): a day without beam is surely a typo
MAX_FREEZE = 600.0  # wall s
STALL_FRACTION = 0.4  # a stalled move stops this far along its way
FRAME_TIMEOUT = 1.0  # simulated s after the exposure that a stalled camera waits before saying so
POST_INTERVAL = 0.05  # wall s between ring:current updates while the beam is disturbed



class CameraFault(Exception):
    """An acquisition that ends in error: the message is the driver's StatusMessage_RBV."""


@dataclass(frozen=True)
class StalledMove(Move):
    """A move that stops at ``target`` (part-way) on its way to ``intended``."""

    intended: float = 0.0


class FaultControls(PVGroup):
    """``sim:`` faults on demand (composed under the same ``sim:`` prefix as the simulation controls)."""

    beam_dump = pvproperty(
        name="BeamDump", value="No", dtype=ChannelType.ENUM, enum_strings=("No", "Yes"), record="bo",
        doc="Put 1: the stored beam is lost (ring:current to 0 within 0.5 s, LOLO/MAJOR), stays down "
            "RefillTime s, then refills to the top-up pattern; reads 1 until the beam is back. "
            "A put with completion completes once the beam has gone; put 0 starts the refill now",
    )
    refill_time = pvproperty(
        name="RefillTime", value=60.0, dtype=ChannelType.DOUBLE, units="s", precision=1,
        lower_ctrl_limit=0.0, upper_ctrl_limit=MAX_REFILL,
        doc="Simulated seconds the ring stays empty after a beam dump before injection refills it",
    )
    cam_fault = pvproperty(
        name="CamFault", value="None", dtype=ChannelType.ENUM, enum_strings=CAM_FAULTS, record="mbbo",
        doc="AcquireError: every acquisition ends with DetectorState_RBV Error and StatusMessage_RBV why; "
            "WriteError: TIFF1 fails every write (WriteStatus, WriteMessage); Stalled: the next frame "
            "never arrives (Acquire stays 1, DetectorState_RBV Error) until acquisition is stopped, "
            "which also clears this fault. None: the camera works",
    )
    motor_stall = pvproperty(
        name="MotorStall", value="None", dtype=ChannelType.ENUM, enum_strings=STALL_AXES, record="mbbo",
        doc="dotx, doty or All: each move of that motor stops 40 % of the way, with .MSTA PROBLEM, "
            ".MISS 1, STATE/MAJOR alarm and DMOV 1, until set back to None",
    )
    freeze = pvproperty(
        name="Freeze", value=0.0, dtype=ChannelType.DOUBLE, units="s", precision=1,
        lower_ctrl_limit=0.0, upper_ctrl_limit=MAX_FREEZE,
        doc="Put N: for N wall seconds the IOC answers nothing (connections stay open, as under "
            "kill -STOP); reads 0 again once it answers",
    )
    clear_faults = pvproperty(
        name="ClearFaults", value=0, dtype=ChannelType.LONG,
        doc="Put 1: every fault off (the beam refills now, the camera and the motors work again)",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._beam_task: asyncio.Task | None = None

    @property
    def ioc(self):
        return self.parent

    # -- hooks called by the camera, the TIFF plugin and the motor record --------------

    async def camera_readout(self, driver: CamDriver) -> None:
        """Called when an exposure ends, before the frame is read out.

        Raises :class:`CameraFault` (the acquisition ends in error) for AcquireError; for
        Stalled, reports the stall and waits until the acquisition is stopped (then returns).
        """
        fault = self.cam_fault.value
        if fault == "AcquireError":
            message = "Error reading the frame from the sensor: readout failed (sim:CamFault AcquireError)"
            # The message first, then the state: a client that sees Error reads why.
            await driver.status_message_rbv.write(message)
            raise CameraFault(message)
        if fault == "Stalled":
            # A real driver waits for a frame that never comes, then says so; Acquire stays 1.
            if not await driver._sleep_or_stop(FRAME_TIMEOUT):
                await driver.status_message_rbv.write(
                    "Timeout waiting for a frame from the sensor: stalled; stop and restart acquisition "
                    "(sim:CamFault Stalled)")
                await driver.detector_state_rbv.write("Error")
                await driver._stop.wait()
            # Stopping (and so restarting) the acquisition is what clears a stall.
            await self.cam_fault.write("None")

    def write_fault(self) -> str | None:
        """Called by TIFF1 before writing a frame: the write error to report, or None."""
        if self.cam_fault.value == "WriteError":
            return "Error writing file: [Errno 5] Input/output error (sim:CamFault WriteError)"
        return None

    def motor_move(self, motor: SimMotor, move: Move) -> Move:
        """Called when ``motor`` starts ``move``: the move it will really make."""
        axis = motor.prefix.rstrip(":").rsplit(":", 1)[-1]
        if self.motor_stall.value not in ("All", axis) or move.distance == 0:
            return move
        stop = move.start + STALL_FRACTION * (move.target - move.start)
        return StalledMove(move.start, stop, move.velocity, move.accel_time, intended=move.target)

    # -- beam dump -------------------------------------------------------------------------

    async def _post_current(self) -> None:
        await self.ioc.ring.current.write(self.ioc.ring_current_now())

    async def _follow_beam(self) -> None:
        """Post ring:current often while the beam is disturbed (its scan is slower), then
        BeamDump back to 0 once the ring model's current is back."""
        clock, beam = self.ioc.clock, self.ioc.beam
        while beam.disturbed(clock.now()):
            await self._post_current()
            await asyncio.sleep(min(POST_INTERVAL, clock.wall(0.1)))
        await self._post_current()
        await self.beam_dump.write("No", verify_value=False)

    def _start_following(self) -> None:
        if self._beam_task is None or self._beam_task.done():
            self._beam_task = asyncio.get_running_loop().create_task(self._follow_beam())

    @beam_dump.putter
    async def beam_dump(self, instance, value):
        clock, beam = self.ioc.clock, self.ioc.beam
        if value in ("No", 0):
            beam.refill(clock.now())
            return "Yes" if beam.disturbed(clock.now()) else "No"
        beam.dump(clock.now(), self.refill_time.value)
        await instance.write("Yes", verify_value=False)
        self._start_following()
        # A put with completion completes once the beam has gone (ring:current posted at 0).
        await asyncio.sleep(clock.wall(max(0.0, beam.dumped_at + beam.fall_time - clock.now())))
        await self._post_current()
        return "Yes"

    @refill_time.putter
    async def refill_time(self, instance, value):
        return finite(instance.pvname, value, 0.0, MAX_REFILL, "time without beam (simulated s)")

    # -- freeze ----------------------------------------------------------------------------

    def _frozen(self, seconds: float) -> None:
        # The server's event loop does nothing for this long: no CA request (search, get,
        # put, monitor) is answered, while the kernel keeps every TCP connection open.
        time.sleep(seconds)

    async def _thaw(self) -> None:
        await self.freeze.write(0.0, verify_value=False)

    @freeze.putter
    async def freeze(self, instance, value):
        seconds = finite(instance.pvname, value, 0.0, MAX_FREEZE, "freeze time (wall s)")
        if seconds > 0:
            loop = asyncio.get_running_loop()
            # Freeze just after this put is answered, so that caput itself returns.
            loop.call_later(0.05, self._frozen, seconds)
            loop.call_later(0.06, lambda: loop.create_task(self._thaw()))
        return seconds

    @clear_faults.putter
    async def clear_faults(self, instance, value):
        if value:
            beam = self.ioc.beam
            beam.refill(self.ioc.clock.now())
            await self.cam_fault.write("None")
            await self.motor_stall.write("None")
            driver = self.ioc.dot.cam
            if driver.acquiring and driver.detector_state_rbv.value == "Error":
                driver._stop.set()  # a stalled acquisition ends (Aborted), as a restart would
        return 0
