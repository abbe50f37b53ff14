"""A motor record (caproto's ``motor`` record fields) driven by a simulated controller.

Behaves as EPICS motor records do for the fields ``ophyd.EpicsMotor`` uses:

* a put to ``.VAL`` starts a trapezoidal move at ``.VELO`` with ramp ``.ACCL`` (wall time
  divided by the simulation's time scale); ``.RBV`` updates during the move, ``.DMOV``
  drops to 0 and ``.MOVN`` rises for its duration (DMOV pulses even for a null move);
* a target outside ``.LLM``/``.HLM`` is not moved to: ``.LVIO`` is set, ``.VAL`` keeps its
  old value, and the record goes into HIGH/LOW alarm with severity ``.HLSV`` (MAJOR here),
  so the client's move status fails;
* ``.STOP`` (or ``.SPMG`` = Stop/Pause) halts at the current position;
* ``.SET`` = Set redefines the user position (changes ``.OFF``) without moving;
* ``.HOMF``/``.HOMR`` move to dial 0, ``.TWF``/``.TWR`` tweak by ``.TWV``.

Positions in ``.EGU`` (mm here), velocities in EGU/s, ``.ACCL`` in seconds.
"""

from __future__ import annotations

import asyncio
import math
import time

from caproto import AlarmSeverity, AlarmStatus
from caproto.server import PVGroup, PvpropertyDouble, pvproperty

from .motion import Move

# MSTA bits (motor record documentation, "MSTA")
MSTA_DIRECTION = 1 << 0
MSTA_DONE = 1 << 1
MSTA_PLUS_LS = 1 << 2
MSTA_MOVING = 1 << 10
MSTA_MINUS_LS = 1 << 13

TICK = 0.05  # wall seconds between readback updates during a move


def _pvname(fields, instance) -> str:
    """Full PV name of a record field, e.g. ``BL:mtr:dotx.VELO``."""
    return f"{fields.parent.pvname}.{instance.pvspec.name}"


def _finite(fields, instance, value, what: str, above: float | None = None, at_least: float | None = None) -> float:
    """``value`` as a float, or ValueError naming the field: it must be finite (and in range)."""
    value = float(value)
    if not math.isfinite(value) or (above is not None and value <= above) or (at_least is not None and value < at_least):
        bound = f" > {above:g}" if above is not None else f" >= {at_least:g}" if at_least is not None else ""
        raise ValueError(f"{_pvname(fields, instance)}: {what} must be a finite number{bound}, not {value}")
    return value


class MotorPosition(PvpropertyDouble):
    """``.VAL``: clients see HLM/LLM as its control limits, but refusing a target beyond them
    is the record's job (LVIO and an alarm), not a CA put error, as in the motor record."""

    async def verify_value(self, value):
        if self.putter is not None:
            return await self.putter(self, value)
        return value


class SimMotor(PVGroup):
    """One motor record at ``prefix``; the simulation (clock) comes from the parent group."""

    motor = pvproperty(value=0.0, name="", record="motor", dtype=MotorPosition, precision=3,
                       doc="User desired value (VAL)")

    def __init__(
        self,
        *args,
        velocity: float = 20.0,
        acceleration: float = 0.2,
        limits: tuple[float, float] = (-100.0, 100.0),
        egu: str = "mm",
        description: str = "",
        precision: int = 3,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._defaults = dict(
            velocity=velocity, acceleration=acceleration, limits=limits, egu=egu, description=description,
            precision=precision,
        )
        self._move_task: asyncio.Task | None = None
        self._move: Move | None = None
        self._move_t0 = 0.0

    # -- helpers ---------------------------------------------------------------------

    # Field updates below skip caproto's value verification: they are the record's own
    # state, and verification would recompute (and so clear) the record's alarm.

    @property
    def fields(self):
        return self.motor.field_inst

    @property
    def clock(self):
        return self.parent.clock

    def _dir(self) -> float:
        return -1.0 if self.fields.user_direction.value in ("Neg", 1) else 1.0

    def _user_from_dial(self, dial: float) -> float:
        return dial * self._dir() + self.fields.user_offset.value

    def _dial_from_user(self, user: float) -> float:
        return (user - self.fields.user_offset.value) * self._dir()

    async def _publish_limits(self) -> None:
        """Mirror HLM/LLM into VAL's control limits (what CA clients see as the range)."""
        f = self.fields
        hlm, llm = f.user_high_limit.value, f.user_low_limit.value
        for chan in (self.motor, f.user_readback_value):
            await chan.write_metadata(upper_ctrl_limit=hlm, lower_ctrl_limit=llm,
                                      upper_disp_limit=hlm, lower_disp_limit=llm)
        dial_limits = sorted((self._dial_from_user(hlm), self._dial_from_user(llm)))
        await f.dial_low_limit.write(dial_limits[0], verify_value=False)
        await f.dial_high_limit.write(dial_limits[1], verify_value=False)

    async def _set_alarm(self, status: AlarmStatus, severity: AlarmSeverity) -> None:
        # A record has one alarm state, reported with every field: caproto keeps one for
        # VAL and one shared by the fields, so set both.
        for alarm in (self.motor.alarm, self.fields.user_readback_value.alarm):
            await alarm.write(status=status, severity=severity)

    async def _write_readback(self, user: float) -> None:
        f = self.fields
        dial = self._dial_from_user(user)
        ts = time.time()
        await f.user_readback_value.write(user, timestamp=ts, verify_value=False)
        await f.dial_readback_value.write(dial, timestamp=ts, verify_value=False)
        mres = f.motor_step_size.value or 1.0
        await f.raw_readback_value.write(int(round(dial / mres)), timestamp=ts, verify_value=False)
        await f.difference_dval_drbv.write(f.dial_desired_value.value - dial, verify_value=False)

    async def _set_moving(self, moving: bool, direction: int | None = None) -> None:
        f = self.fields
        msta = 0
        if direction is not None:
            await f.direction_of_travel.write(direction, verify_value=False)
        if f.direction_of_travel.value:
            msta |= MSTA_DIRECTION
        if f.user_high_limit_switch.value:
            msta |= MSTA_PLUS_LS
        if f.user_low_limit_switch.value:
            msta |= MSTA_MINUS_LS
        msta |= MSTA_MOVING if moving else MSTA_DONE
        await f.motor_status.write(msta, verify_value=False)
        if moving:
            await f.done_moving_to_value.write(0, verify_value=False)
            await f.motor_is_moving.write(1, verify_value=False)
            await f.motion_in_progress.write(1, verify_value=False)
        else:
            await f.motor_is_moving.write(0, verify_value=False)
            await f.motion_in_progress.write(0, verify_value=False)
            await f.done_moving_to_value.write(1, verify_value=False)

    def _position_now(self) -> float:
        if self._move is None:
            return self.fields.user_readback_value.value
        return self._move.position(self.clock.now() - self._move_t0)

    # -- motion ------------------------------------------------------------------------

    async def _run_move(self, move: Move) -> None:
        try:
            await self._set_moving(True, direction=int(move.target >= move.start))
            while True:
                elapsed = self.clock.now() - self._move_t0
                if elapsed >= move.duration:
                    break
                await self._write_readback(move.position(elapsed))
                await asyncio.sleep(min(TICK, self.clock.wall(move.duration - elapsed)))
            await self._write_readback(move.target)
            self._move = None
            await self._set_moving(False)
        except asyncio.CancelledError:
            self._move = None
            raise

    async def _halt(self) -> None:
        """Stop at the current position: VAL follows RBV, DMOV returns to 1."""
        if self._move_task is None or self._move_task.done():
            return
        here = self._position_now()
        self._move_task.cancel()
        try:
            await self._move_task
        except asyncio.CancelledError:
            pass
        await self._write_readback(here)
        await self.motor.write(here, verify_value=False)
        await self.fields.dial_desired_value.write(self._dial_from_user(here), verify_value=False)
        await self._set_moving(False)

    async def _start_move(self, target: float) -> None:
        f = self.fields
        start = self._position_now()
        if self._move_task is not None and not self._move_task.done():
            # Retarget from where we are, as a controller does on a new VAL mid-move.
            self._move_task.cancel()
            try:
                await self._move_task
            except asyncio.CancelledError:
                pass
        await f.limit_violation.write(0, verify_value=False)
        await f.user_high_limit_switch.write(0, verify_value=False)
        await f.user_low_limit_switch.write(0, verify_value=False)
        await self._set_alarm(AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM)
        await f.last_user_des_val.write(target, verify_value=False)
        await f.dial_desired_value.write(self._dial_from_user(target), verify_value=False)
        self._move = Move(start, target, f.velocity.value, f.seconds_to_velocity.value)
        self._move_t0 = self.clock.now()
        self._move_task = asyncio.get_running_loop().create_task(self._run_move(self._move))

    async def _refuse(self, target: float) -> None:
        """A target beyond a soft limit: flag it, raise the alarm, do not move."""
        f = self.fields
        high = target > f.user_high_limit.value
        await f.limit_violation.write(1, verify_value=False)
        if high:
            await f.user_high_limit_switch.write(1, verify_value=False)
        else:
            await f.user_low_limit_switch.write(1, verify_value=False)
        severity = AlarmSeverity(self._hw_limit_severity())
        await self._set_alarm(AlarmStatus.HIGH if high else AlarmStatus.LOW, severity)
        # The move "ends at once": DMOV pulses so clients waiting on it are released.
        await self._set_moving(True, direction=int(high))
        await self._set_moving(False)

    def _hw_limit_severity(self) -> int:
        value = self.fields.hw_limit_violation_svr.value
        if isinstance(value, str):
            return ["NO_ALARM", "MINOR", "MAJOR", "INVALID"].index(value)
        return int(value)

    def _within_limits(self, target: float) -> bool:
        f = self.fields
        hlm, llm = f.user_high_limit.value, f.user_low_limit.value
        return hlm <= llm or llm <= target <= hlm  # HLM <= LLM disables the soft limits

    # -- PV hooks ----------------------------------------------------------------------

    @motor.startup
    async def motor(self, instance, async_lib):
        f = self.fields
        d = self._defaults
        await f.velocity.write(d["velocity"], verify_value=False)
        await f.max_velocity.write(10 * d["velocity"], verify_value=False)
        await f.base_velocity.write(0.0, verify_value=False)
        await f.seconds_to_velocity.write(d["acceleration"], verify_value=False)
        await f.motor_step_size.write(1e-4, verify_value=False)
        await f.engineering_units.write(d["egu"], verify_value=False)
        await f.description.write(d["description"], verify_value=False)
        await f.display_precision.write(d["precision"], verify_value=False)
        await f.hw_limit_violation_svr.write("MAJOR", verify_value=False)
        await f.user_high_limit.write(d["limits"][1], verify_value=False)
        await f.user_low_limit.write(d["limits"][0], verify_value=False)
        await f.tweak_step_size.write(1.0, verify_value=False)
        await f.stop_pause_move_go.write("Go", verify_value=False)
        await self._publish_limits()
        await self._write_readback(instance.value)
        await self._set_moving(False, direction=1)

    @motor.putter
    async def motor(self, instance, value):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{instance.pvname}: target must be a finite number, not {value}")
        f = self.fields
        if f.set_use_switch.value in ("Set", 1):
            # Redefine the user coordinate so that the current position reads `value`.
            await f.user_offset.write(value - f.dial_readback_value.value * self._dir(), verify_value=False)
            await self._write_readback(value)
            await self._publish_limits()
            return value
        if not self._within_limits(value):
            await self._refuse(value)
            return instance.value  # VAL keeps its old value, as the motor record does
        if f.stop_pause_move_go.value in ("Stop", "Pause", 0, 1):
            return value  # accepted, but motion is inhibited until SPMG = Move/Go
        await self._start_move(value)
        # A put with completion (caput -c, ca_put_callback) completes when the move ends,
        # as with the motor record; VAL shows the new target meanwhile.
        await instance.write(value, verify_value=False)
        task = self._move_task
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # this put itself was cancelled (client gone): let caproto clean up
            return instance.value  # stopped or retargeted: VAL already says where to
        return value

    @motor.fields.stop.putter
    async def _stop_put(fields, instance, value):
        if value:
            await fields.parent.group._halt()
        return 0

    @motor.fields.stop_pause_move_go.putter
    async def _spmg_put(fields, instance, value):
        if value in ("Stop", "Pause"):
            await fields.parent.group._halt()
        return value

    @motor.fields.velocity.putter
    async def _velo_put(fields, instance, value):
        value = _finite(fields, instance, value, "velocity", above=0.0)
        vmax = fields.max_velocity.value
        if vmax > 0 and value > vmax:
            raise ValueError(f"{_pvname(fields, instance)}: velocity {value} exceeds VMAX {vmax}")
        return value

    @motor.fields.seconds_to_velocity.putter
    async def _accl_put(fields, instance, value):
        return _finite(fields, instance, value, "acceleration time", at_least=0.0)

    async def _limit_put(fields, instance, value):
        value = _finite(fields, instance, value, "limit")
        await instance.write(value, verify_value=False)
        await fields.parent.group._publish_limits()
        return value

    motor.fields.user_high_limit.putter(_limit_put)
    motor.fields.user_low_limit.putter(_limit_put)

    @motor.fields.user_offset.putter
    async def _off_put(fields, instance, value):
        value = _finite(fields, instance, value, "offset")
        group = fields.parent.group
        await instance.write(value, verify_value=False)
        await group._write_readback(group._user_from_dial(fields.dial_readback_value.value))
        await group._publish_limits()
        return value

    async def _home_put(fields, instance, value):
        # HOMF and HOMR alike: this controller's home switch is at dial 0.
        if value:
            group = fields.parent.group
            await group._start_move(group._user_from_dial(0.0))
        return 0

    motor.fields.home_forward.putter(_home_put)
    motor.fields.home_reverse.putter(_home_put)

    async def _tweak_put(fields, instance, value):
        if value:
            group = fields.parent.group
            step = fields.tweak_step_size.value * (1 if instance.pvspec.name == "TWF" else -1)
            await group.motor.write(group.motor.value + step)
        return 0

    motor.fields.tweak_motor_forward.putter(_tweak_put)
    motor.fields.tweak_motor_reverse.putter(_tweak_put)
