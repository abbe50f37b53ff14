"""motorUtil.db: the records of the motor module's motorUtil task, for every motor of the IOC.

As motorUtil.cc does it, watching each motor record's DMOV: ``moving`` counts the motors in
motion (DMOV 0), ``alldone`` is done when none is, ``movingDiff`` names the motor whose change
last changed the count (``+BL:mtr:dotx`` as it starts, ``-BL:mtr:dotx`` as it stops), and
``alldoneBlink`` (a calc scanned every 0.5 s) blinks while any moves. A put of ``stop`` to
``allstop`` stops every motor in motion (a put to its STOP, not waited for) and returns
``allstop`` to ``release``.
"""

from __future__ import annotations

from ..records import RecordGroup
from ..records.declare import bi, bo, calc, longout, waveform
from .motor_db import Motor

RELEASE_STOP = ("release", "stop")
BLINK_PERIOD = 0.5  # s: alldoneBlink's SCAN


class MotorUtil(RecordGroup):
    """motorUtil.db at ``prefix`` (the motors' prefix, ``BL:mtr:``) for ``motors``."""

    asg = "HARDWARE"  # access security group (the ACF's): users on the beamline's hosts stop motors

    allstop = bo("allstop", "release", RELEASE_STOP, doc="Stop All IOC motors.")
    alldone = bi("alldone", "done", ("moving", "done"), doc="All IOC motors done moving.")
    moving = longout("moving", doc="Motors moving count.")
    alldone_blink = calc("alldoneBlink", doc="calc record: blinks while a motor moves (A?0:!B, SCAN .5 second)")
    moving_diff = waveform("movingDiff", nelm=62, doc="Motor w/ last dmov change")

    def __init__(self, prefix: str, motors: list[Motor]) -> None:
        super().__init__(prefix)
        self.motors = list(motors)
        self._in_motion: set[str] = set()
        for motor in self.motors:
            motor.record.watch_done(self._watcher(motor))

    def _watcher(self, motor: Motor):
        name = motor.prefix

        async def done_changed(done: bool) -> None:
            count = len(self._in_motion)
            (self._in_motion.discard if done else self._in_motion.add)(name)
            if len(self._in_motion) != count:
                await self.moving.write(len(self._in_motion), verify_value=False)
                await self.moving_diff.write(("-" if done else "+") + name, verify_value=False)
            alldone = "moving" if self._in_motion else "done"
            if self.alldone.value != alldone:
                await self.alldone.write(alldone)
        return done_changed

    @allstop.putter
    async def allstop(self, instance, value):
        if (RELEASE_STOP.index(value) if isinstance(value, str) else int(value)) == 0:
            return "release"
        await instance.write("stop", verify_value=False)
        for motor in self.motors:
            if not motor.record.done_moving:  # motorUtil stops only the motors in motion
                await motor.record.stop_motion()
        return "release"  # motorUtil resets it, so that it may be used again

    @alldone_blink.scan(period=BLINK_PERIOD)
    async def alldone_blink(self, instance, async_lib):
        value = 0.0 if self.alldone.value == "done" else float(not instance.value)
        if instance.value != value:
            await instance.write(value)
