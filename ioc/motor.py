"""A motor record (epics-modules/motor's ``motorRecord``) driven by a simulated controller.

Positions in ``.EGU`` (mm here), velocities in EGU/s, ``.ACCL`` in seconds; moves take wall
time divided by the simulation's time scale. What the record does, as motorRecord.cc does it:

* a put to ``.VAL`` (``.DVAL``, ``.RVAL``, ``.RLV``, ``.TWF``/``.TWR``) moves at ``.VELO``
  with ramp ``.ACCL``; ``.DMOV`` drops to 0 and returns to 1 once, when the motor stops
  at the last target written; every put-callback outstanding then completes. A new target
  during a move is taken up as the record does: the running move goes on while the motor
  still heads towards the new target; once that is behind it (at once, or when the motor
  passes it) ``.NTM`` stops the motor, and it then moves to the target; a target beyond
  the running move's is reached after that move ends (the record's retry). (caproto's
  server does not tell a putter whether the client waits for completion, so a second
  put-callback during a move retargets it too; EPICS's dbNotify would hold that put until
  the first completes, then move.);
* a target beyond the soft limits (``.DHLM``/``.DLLM``; both 0 means none) is not moved
  to: ``.LVIO`` = 1 and ``.VAL`` returns to the last target. ``.HLS``/``.LLS`` are the
  hardware limit switches, which this controller does not have;
* ``.VELO`` is clipped to [``.VBAS``, ``.VMAX``], ``.ACCL`` <= 0 becomes 0.1,
  ``.RDBD`` is at least ``|.MRES|``;
* ``.STOP`` and ``.SPMG`` = Stop halt the motor and set ``.VAL`` to where it stopped;
  Pause halts and keeps the target (Go resumes); Move goes once, then pauses;
* ``.SET`` = Set redefines the position without moving: ``.OFF`` changes (``.FOFF`` =
  Variable) or the dial position does (Frozen);
* ``.HOMF``/``.HOMR`` drive to the home switch at dial 0 at ``.HVEL``.

The simulated controller stops at once (no deceleration ramp), needs no retries, keeps its
position in EGU (so a new ``.MRES`` changes the step count, not the position) and has no
amplifier for ``.CNEN`` to switch off (the field is served and kept).
"""

from __future__ import annotations

import asyncio
import time

from caproto import AlarmSeverity, AlarmStatus, SkipWrite
from caproto.server import PVGroup, pvproperty

from . import validate
from .faults import StalledMove
from .motion import Move
from .motor_fields import MotorRecordFields, RecordDouble, publish_metadata

# MSTA bits (motor.h, msta_field)
MSTA_DIRECTION = 1 << 0
MSTA_DONE = 1 << 1
MSTA_PLUS_LS = 1 << 2
MSTA_PROBLEM = 1 << 9
MSTA_MOVING = 1 << 10
MSTA_MINUS_LS = 1 << 13
MSTA_HOMED = 1 << 14
# MIP values (motorRecord.cc)
MIP_DONE, MIP_HOMF, MIP_HOMR, MIP_MOVE = 0x0, 0x8, 0x10, 0x20

TICK = 0.05  # wall seconds between readback updates during a move
FIELD_RANGE = 1e300  # what a DBF_DOUBLE field holds (recGbl's range for DBF_DOUBLE)


def _pvname(fields, instance) -> str:
    """Full PV name of a record field, e.g. ``BL:mtr:dotx.VELO``."""
    return f"{fields.parent.pvname}.{instance.pvspec.name}"


def _number(fields, instance, value, what: str) -> float:
    return validate.finite(_pvname(fields, instance), value, -FIELD_RANGE, FIELD_RANGE, what)


class MotorValue(RecordDouble):
    """``.VAL``: reports itself as a ``motor`` record (its fields are :class:`MotorRecordFields`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reported_record_type = "motor"


class SimMotor(PVGroup):
    """One motor record at ``prefix``; the simulation (clock) comes from the parent group."""

    motor = pvproperty(value=0.0, name="", record=MotorRecordFields, dtype=MotorValue, precision=3,
                       doc="motor")

    def __init__(
        self,
        *args,
        velocity: float = 20.0,
        acceleration: float = 0.2,
        limits: tuple[float, float] = (-100.0, 100.0),
        egu: str = "mm",
        description: str = "",
        precision: int = 3,
        channel: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        # What a substitution file would give the record (asyn_motor.db's macros).
        self._config = dict(
            VELO=velocity, VBAS=0.1, VMAX=10 * velocity, HVEL=velocity, ACCL=acceleration, MRES=1e-4,
            DHLM=limits[1], DLLM=limits[0], EGU=egu, DESC=description, PREC=precision, TWV=1.0,
            DTYP="asynMotor", OUT=f"@asyn(motorSim,{channel})",
        )
        self._dial = 0.0  # dial position while no move runs
        self._run: Move | None = None  # the move the controller is running (dial coordinates)
        self._run_t0 = 0.0
        self._target = 0.0  # dial target (DVAL)
        self._mover: asyncio.Task | None = None
        self._cycle: asyncio.Future | None = None  # done when DMOV returns to 1
        self._lock = asyncio.Lock()
        self._stop = False  # STOP or SPMG=Stop asked: stop and make VAL agree with RBV
        self._homing = 0  # MIP_HOMF / MIP_HOMR while homing
        self._homed = False
        self._problem = False  # the controller reports a problem (a stalled run): MSTA bit 9

    # -- state -------------------------------------------------------------------------

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

    def _user(self, dial: float) -> float:
        return dial * self._dir() + self.fields.user_offset.value

    def _dial_of(self, user: float) -> float:
        return (user - self.fields.user_offset.value) * self._dir()

    def _mres(self) -> float:
        return self.fields.motor_step_size.value or 1.0

    def _dial_now(self) -> float:
        if self._run is None:
            return self._dial
        return self._run.position(self.clock.now() - self._run_t0)

    def _spmg(self) -> str:
        value = self.fields.stop_pause_move_go.value
        return ("Stop", "Pause", "Move", "Go")[value] if isinstance(value, int) else value

    def _halted(self) -> bool:
        return self._stop or self._spmg() in ("Stop", "Pause")

    def _soft_limit_violated(self, dial: float) -> bool:
        """motorRecord.cc do_work: DHLM = DLLM = 0 disables the check, DLLM > DHLM always
        violates it, and a move from beyond a limit back towards the range is allowed."""
        f = self.fields
        dhlm, dllm = f.dial_high_limit.value, f.dial_low_limit.value
        if dhlm == dllm == 0.0:
            return False
        if dllm > dhlm:
            return True
        last = self._target
        if (dial > dhlm and dial < last) or (dial < dllm and dial > last):
            return False
        return dial > dhlm or dial < dllm

    # -- field writes ------------------------------------------------------------------

    async def _write_readback(self, dial: float) -> None:
        f = self.fields
        ts = time.time()
        await f.user_readback_value.write(self._user(dial), timestamp=ts, verify_value=False)
        await f.dial_readback_value.write(dial, timestamp=ts, verify_value=False)
        await f.raw_readback_value.write(int(round(dial / self._mres())), timestamp=ts, verify_value=False)
        await f.raw_motor_position.write(int(round(dial / self._mres())), timestamp=ts, verify_value=False)
        diff = f.dial_desired_value.value - dial
        await f.difference_dval_drbv.write(diff, verify_value=False)
        await f.difference_rval_rrbv.write(int(round(diff / self._mres())), verify_value=False)

    async def _write_targets(self, dial: float) -> None:
        """VAL, DVAL, RVAL and their last-value fields for the dial target ``dial``."""
        f = self.fields
        user = self._user(dial)
        raw = int(round(dial / self._mres()))
        await self.motor.write(user, verify_value=False)
        await f.dial_desired_value.write(dial, verify_value=False)
        await f.raw_desired_value.write(raw, verify_value=False)
        await f.last_user_des_val.write(user, verify_value=False)
        await f.last_dial_des_val.write(dial, verify_value=False)
        await f.last_raw_des_val.write(raw, verify_value=False)

    async def _set_moving(self, moving: bool, direction: int | None = None) -> None:
        f = self.fields
        if direction is not None:
            await f.direction_of_travel.write(direction, verify_value=False)
            await f.raw_cmnd_direction.write(direction, verify_value=False)
        msta = MSTA_DIRECTION if f.direction_of_travel.value else 0
        msta |= MSTA_MOVING if moving else MSTA_DONE
        msta |= MSTA_HOMED if self._homed else 0
        msta |= MSTA_PROBLEM if self._problem else 0
        await f.motor_status.write(float(msta), verify_value=False)
        await f.motor_is_moving.write(int(moving), verify_value=False)
        mip = (self._homing or MIP_MOVE) if moving or self._cycle is not None else MIP_DONE
        await f.motion_in_progress.write(mip, verify_value=False)

    async def _set_dmov(self, done: bool) -> None:
        if self.fields.done_moving_to_value.value != int(done):
            await self.fields.done_moving_to_value.write(int(done), verify_value=False)

    async def _alarm_sub(self) -> None:
        """motorRecord.cc alarm_sub: HIGH/LOW with severity HLSV on a limit switch or a
        target beyond a dial limit; the record's one alarm state shows on every field."""
        f = self.fields
        sevr = f.hw_limit_violation_svr.value
        sevr = ["NO_ALARM", "MINOR", "MAJOR", "INVALID"].index(sevr) if isinstance(sevr, str) else int(sevr)
        dval = f.dial_desired_value.value
        status, severity = AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM
        if sevr and (f.user_high_limit_switch.value or dval > f.dial_high_limit.value):
            status, severity = AlarmStatus.HIGH, AlarmSeverity(sevr)
        elif sevr and (f.user_low_limit_switch.value or dval < f.dial_low_limit.value):
            status, severity = AlarmStatus.LOW, AlarmSeverity(sevr)
        elif self._problem:  # MSTA PROBLEM (or SLIP_STALL): STATE, MAJOR
            status, severity = AlarmStatus.STATE, AlarmSeverity.MAJOR_ALARM
        # caproto keeps one alarm for VAL and one shared by the fields: set both.
        for alarm in (self.motor.alarm, f.user_readback_value.alarm):
            if (alarm.status, alarm.severity) != (status, severity):
                await alarm.write(status=status, severity=severity)

    async def restore_dial_position(self, dial: float) -> None:
        """Set the controller's position to ``dial`` without a move (autosave's DVAL at start)."""
        dial = validate.finite(f"{self.motor.pvname}.DVAL", dial, -FIELD_RANGE, FIELD_RANGE, "position")
        self._dial = self._target = dial
        await self._write_targets(dial)
        await self._write_readback(dial)
        await self._set_user_limits()

    # -- motion ------------------------------------------------------------------------

    async def _request(self, dial: float, home: int = 0) -> None:
        """A new dial target from VAL, DVAL, RVAL, RLV, TWF/TWR or HOMF/HOMR (lock held)."""
        f = self.fields
        if not home and self._soft_limit_violated(dial):
            await f.limit_violation.write(1, verify_value=False)
            await self._write_targets(self._target)  # VAL returns to the last target
            if self._cycle is None:  # DMOV blinks (special() then do_work)
                await f.done_moving_to_value.write(0, verify_value=False)
                await f.done_moving_to_value.write(1, verify_value=False)
            await self._alarm_sub()
            return
        if f.limit_violation.value:
            await f.limit_violation.write(0, verify_value=False)
        self._target = dial
        self._homing = home
        await self._write_targets(dial)
        await f.difference_dval_drbv.write(dial - self._dial_now(), verify_value=False)
        await self._alarm_sub()
        if self._cycle is None:
            self._cycle = asyncio.get_running_loop().create_future()
            await self._set_dmov(False)
        self._start_mover()

    def _start_mover(self) -> None:
        if not self._halted() and (self._mover is None or self._mover.done()):
            self._mover = asyncio.get_running_loop().create_task(self._motion())

    def _velocity(self) -> float:
        f = self.fields
        velo = f.home_velocity.value if self._homing else f.velocity.value
        return max(velo, f.base_velocity.value, 1e-9)

    async def _motion(self) -> None:
        """Run moves until the motor is at the target, then end the cycle (DMOV 0 -> 1)."""
        while True:
            while not self._halted():
                start = self._dial_now()
                if abs(self._target - start) < self._mres() / 2:
                    break
                run = Move(start, self._target, self._velocity(), self.fields.seconds_to_velocity.value)
                run = self.parent.faults.motor_move(self, run)  # hook: sim:MotorStall may cut it short
                self._run, self._run_t0 = run, self.clock.now()
                self._problem = False
                await self._set_moving(True, direction=int(run.target > run.start))
                await self._follow(run)
                if isinstance(run, StalledMove) and self._dial == run.target:
                    self._problem = True  # stalled: retries get no further; the cycle ends here
                    break
            async with self._lock:
                if (not self._problem and not self._halted()
                        and abs(self._target - self._dial_now()) >= self._mres() / 2):
                    continue  # a new target came while the last move ended
                self._mover = None
                if self._spmg() == "Pause" and not self._stop:
                    await self._set_moving(False)
                    return  # DMOV stays 0: Go resumes the move
                await self._end_cycle()
                return

    async def _follow(self, run: Move) -> None:
        """Update the readbacks until ``run`` ends, is stopped, or is cut short by a target
        behind the motor (NTM)."""
        direction = 1.0 if run.target > run.start else -1.0
        f = self.fields
        while self._run is run:
            elapsed = self.clock.now() - self._run_t0
            if elapsed >= run.duration:
                self._dial, self._run = run.target, None
                break
            here = run.position(elapsed)
            ntm_deadband = f.ntm_deadband_factor.value * (abs(f.bl_distance.value) + f.retry_deadband.value)
            if (self._target != run.target and f.new_target_monitor.value in ("YES", 1)
                    and (self._target - here) * direction < 0 and abs(self._target - here) > ntm_deadband):
                self._dial, self._run = here, None  # new target behind us: stop, then go there
                break
            await self._write_readback(here)
            await asyncio.sleep(min(TICK, self.clock.wall(run.duration - elapsed)))
        await self._write_readback(self._dial)

    def _freeze(self) -> None:
        """Stop the controller where it is now."""
        self._dial = self._dial_now()
        self._run = None

    async def _end_cycle(self) -> None:
        """The motor has stopped for good (lock held): post DMOV=1, complete the puts."""
        if self._stop or self._homing:
            self._target = self._dial  # STOP: the drive fields agree with the readback
            await self._write_targets(self._dial)
        if self._homing:
            self._homed = True
            await self.fields.home_forward.write(0, verify_value=False)
            await self.fields.home_reverse.write(0, verify_value=False)
        self._stop, self._homing = False, 0
        await self._write_readback(self._dial)
        cycle, self._cycle = self._cycle, None
        # MISS: the motor did not land on the target (stalled) after RTRY retries; reset when
        # a motion next ends on target.
        f = self.fields
        await f.retry_count.write(f.max_retry_count.value if self._problem else 0, verify_value=False)
        await f.ran_out_of_retries.write(int(self._problem), verify_value=False)
        await self._set_moving(False)
        # motorRecord.cc process(): alarm_sub() before monitor() posts DMOV, so a client that
        # looks at the alarm when DMOV rises (ophyd's EpicsMotor) sees this motion's.
        await self._alarm_sub()
        await self._set_dmov(True)
        if self._spmg() == "Move":
            await self.fields.stop_pause_move_go.write("Pause", verify_value=False)
            await self.fields.last_spmg.write("Pause", verify_value=False)
        if cycle is not None and not cycle.done():
            cycle.set_result(None)

    async def _await_cycle(self, cycle: asyncio.Future | None) -> None:
        """A put with completion completes when the motion it belongs to ends."""
        if cycle is not None:
            await asyncio.shield(cycle)

    async def _move_to_user(self, user: float) -> None:
        """A user-coordinate target as a put to VAL gives it; returns when DMOV is 1 again."""
        async with self._lock:
            await self._request(self._dial_of(user))
            cycle = self._cycle
        await self._await_cycle(cycle)

    async def _move_to_dial(self, dial: float) -> None:
        async with self._lock:
            await self._request(dial)
            cycle = self._cycle
        await self._await_cycle(cycle)

    async def _halt(self, stop: bool) -> asyncio.Future | None:
        """STOP / SPMG (lock held): halt the motor; with ``stop`` VAL then follows RBV."""
        self._freeze()
        if self._mover is not None and not self._mover.done():
            self._stop = self._stop or stop  # the mover ends the cycle when it sees the halt
        elif stop and self._cycle is not None:
            self._stop = True  # paused with a move pending: Stop ends it
            await self._end_cycle()
        elif stop:
            self._target = self._dial  # syncTargetPosition
            await self._write_targets(self._dial)
        return self._cycle

    async def _redefine(self, user: float | None = None, dial: float | None = None) -> None:
        """SET = Set: make the current position read ``user`` (or ``dial``) without moving."""
        f = self.fields
        if user is not None and f.offset_freeze_switch.value in ("Variable", 0):
            await f.user_offset.write(user - self._dial * self._dir(), verify_value=False)
        else:
            new_dial = dial if dial is not None else self._dial_of(user)
            self._dial = self._target = new_dial
        await self._write_targets(self._dial)
        await self._write_readback(self._dial)
        await self._set_user_limits()
        await f.done_moving_to_value.write(0, verify_value=False)
        await f.done_moving_to_value.write(1, verify_value=False)

    # -- limits and metadata -----------------------------------------------------------

    async def _set_user_limits(self) -> None:
        """HLM/LLM from DHLM/DLLM, OFF and DIR (motorRecord.cc set_userlimits), then the
        CA metadata every field serves."""
        f = self.fields
        dhlm, dllm = f.dial_high_limit.value, f.dial_low_limit.value
        if self._dir() > 0:
            hlm, llm = dhlm + f.user_offset.value, dllm + f.user_offset.value
        else:
            hlm, llm = -dllm + f.user_offset.value, -dhlm + f.user_offset.value
        await f.user_high_limit.write(hlm, verify_value=False)
        await f.user_low_limit.write(llm, verify_value=False)
        mres = self._mres()
        await f.raw_high_limit.write(dhlm / mres, verify_value=False)
        await f.raw_low_limit.write(dllm / mres, verify_value=False)
        await publish_metadata(f)

    async def _sync_speeds(self) -> None:
        """S, SBAS, SMAX, UREV and ACCS agree with VELO, VBAS, VMAX, MRES and ACCL."""
        f = self.fields
        urev = abs(f.motor_step_size.value * f.steps_per_revolution.value)
        await f.egu_s_per_revolution.write(urev, verify_value=False)
        if urev:
            await f.speed.write(f.velocity.value / urev, verify_value=False)
            await f.base_speed.write(f.base_velocity.value / urev, verify_value=False)
            await f.max_speed.write(f.max_velocity.value / urev, verify_value=False)
        accl = f.seconds_to_velocity.value
        await f.move_acceleration.write((f.velocity.value - f.base_velocity.value) / accl, verify_value=False)

    # -- PV hooks ----------------------------------------------------------------------

    @motor.startup
    async def motor(self, instance, async_lib):
        f = self.fields
        c = self._config
        instance.__doc__ = c["DESC"]  # caproto serves .DESC from the channel's __doc__
        await f.description.write(c["DESC"], verify_value=False)
        await f.device_type.write(c["DTYP"], verify_value=False)
        await f.output_specification.write(c["OUT"], verify_value=False)
        await f.engineering_units.write(c["EGU"], verify_value=False)
        await instance.write_metadata(precision=c["PREC"])
        for attr, key in (("velocity", "VELO"), ("base_velocity", "VBAS"), ("max_velocity", "VMAX"),
                          ("home_velocity", "HVEL"), ("seconds_to_velocity", "ACCL"),
                          ("motor_step_size", "MRES"), ("retry_deadband", "MRES"),
                          ("dial_high_limit", "DHLM"), ("dial_low_limit", "DLLM"), ("tweak_step_size", "TWV")):
            await getattr(f, attr).write(abs(c[key]) if attr == "retry_deadband" else c[key], verify_value=False)
        await f.limit_violation.write(0, verify_value=False)  # init_record clears LVIO
        # dbd defaults caproto's field set does not have: empty links, alarm severities NO_ALARM
        for link in (f.desired_output_loc, f.readback_location, f.readback_outlink, f.stop_outlink,
                     f.dmov_input_link, f.rmp_input_link):
            await link.write("", verify_value=False)
        for severity in (f.hihi_severity, f.high_severity, f.low_severity, f.lolo_severity):
            await severity.write("NO_ALARM", verify_value=False)
        await f.enable_control.write("Enable", verify_value=False)  # the controller drives its motors
        await self._sync_speeds()
        await self._set_user_limits()
        await self._write_targets(0.0)
        await self._write_readback(0.0)
        await self._set_moving(False, direction=1)

    @motor.putter
    async def motor(self, instance, value):
        value = validate.finite(instance.pvname, value, -FIELD_RANGE, FIELD_RANGE, "target")
        if self.fields.set_use_switch.value in ("Set", 1):
            async with self._lock:
                await self._redefine(user=value)
            raise SkipWrite
        await self._move_to_user(value)
        raise SkipWrite  # the record has written VAL itself (the last target, or LVAL after LVIO)

    @motor.fields.dial_desired_value.putter
    async def _dval_put(fields, instance, value):
        group = fields.parent.group
        value = _number(fields, instance, value, "dial target")
        if fields.set_use_switch.value in ("Set", 1):
            async with group._lock:
                await group._redefine(dial=value)
        else:
            await group._move_to_dial(value)
        raise SkipWrite

    @motor.fields.raw_desired_value.putter
    async def _rval_put(fields, instance, value):
        group = fields.parent.group
        await group._move_to_dial(int(value) * group._mres())
        raise SkipWrite

    @motor.fields.relative_value.putter
    async def _rlv_put(fields, instance, value):
        group = fields.parent.group
        value = _number(fields, instance, value, "relative move")
        await fields.relative_value.write(0.0, verify_value=False)
        await group._move_to_user(group.motor.value + value)
        return 0.0

    async def _tweak_put(fields, instance, value):
        if value:
            group = fields.parent.group
            step = fields.tweak_step_size.value * (1 if instance.pvspec.name == "TWF" else -1)
            await instance.write(0, verify_value=False)  # do_work clears the button at once
            await group._move_to_user(group.motor.value + step)
        return 0

    motor.fields.tweak_motor_forward.putter(_tweak_put)
    motor.fields.tweak_motor_reverse.putter(_tweak_put)

    async def _home_put(fields, instance, value):
        # HOMF and HOMR alike: this controller's home switch is at dial 0.
        if not value:
            return 0
        group = fields.parent.group
        mip = MIP_HOMF if instance.pvspec.name == "HOMF" else MIP_HOMR
        async with group._lock:
            if group._homing:
                raise ValueError(f"{_pvname(fields, instance)}: a home search is already in progress")
            await instance.write(1, verify_value=False)
            await group._request(0.0, home=mip)
            cycle = group._cycle
        await group._await_cycle(cycle)
        return 0

    motor.fields.home_forward.putter(_home_put)
    motor.fields.home_reverse.putter(_home_put)

    @motor.fields.stop.putter
    async def _stop_put(fields, instance, value):
        group = fields.parent.group
        if value:
            async with group._lock:
                cycle = await group._halt(stop=True)
            await group._await_cycle(cycle)
        return 0

    @motor.fields.stop_pause_move_go.putter
    async def _spmg_put(fields, instance, value):
        group = fields.parent.group
        choice = ("Stop", "Pause", "Move", "Go")[value] if isinstance(value, int) else value
        async with group._lock:
            await fields.stop_pause_move_go.write(choice, verify_value=False)
            await fields.last_spmg.write(choice, verify_value=False)
            if choice in ("Stop", "Pause"):
                await group._halt(stop=choice == "Stop")
            elif group._cycle is not None:
                group._start_mover()  # Go / Move: resume what Pause held
        return choice

    @motor.fields.velocity.putter
    async def _velo_put(fields, instance, value):
        value = _number(fields, instance, value, "velocity")
        vbas, vmax = fields.base_velocity.value, fields.max_velocity.value
        value = max(value, vbas)  # motorRecord.cc range_check: clipped to [VBAS, VMAX]
        if vmax != 0.0:
            value = min(value, vmax)
        await instance.write(value, verify_value=False)
        await fields.parent.group._sync_speeds()
        return value

    @motor.fields.home_velocity.putter
    async def _hvel_put(fields, instance, value):
        value = max(_number(fields, instance, value, "home velocity"), fields.base_velocity.value)
        vmax = fields.max_velocity.value
        return min(value, vmax) if vmax else value

    async def _vlimit_put(fields, instance, value):
        value = max(_number(fields, instance, value, "velocity limit"), 0.0)  # special(): < 0 becomes 0
        await instance.write(value, verify_value=False)
        group = fields.parent.group
        await group._sync_speeds()
        await publish_metadata(fields)
        return value

    motor.fields.base_velocity.putter(_vlimit_put)
    motor.fields.max_velocity.putter(_vlimit_put)

    @motor.fields.seconds_to_velocity.putter
    async def _accl_put(fields, instance, value):
        value = _number(fields, instance, value, "acceleration time")
        value = value if value > 0 else 0.1  # special(): ACCL <= 0 becomes 0.1
        await instance.write(value, verify_value=False)
        await fields.parent.group._sync_speeds()
        return value

    @motor.fields.motor_step_size.putter
    async def _mres_put(fields, instance, value):
        value = _number(fields, instance, value, "motor step size")
        if value == 0.0:
            raise ValueError(f"{_pvname(fields, instance)}: the motor step size cannot be 0")
        group = fields.parent.group
        await instance.write(value, verify_value=False)
        if fields.retry_deadband.value < abs(value):
            await fields.retry_deadband.write(abs(value), verify_value=False)
        await group._write_readback(group._dial_now())
        await group._sync_speeds()
        await group._set_user_limits()
        return value

    @motor.fields.retry_deadband.putter
    async def _rdbd_put(fields, instance, value):
        value = _number(fields, instance, value, "retry deadband")
        return max(value, abs(fields.motor_step_size.value))  # enforceMinRetryDeadband

    async def _user_limit_put(fields, instance, value):
        value = _number(fields, instance, value, "limit")
        group = fields.parent.group
        dial = (value - fields.user_offset.value) * group._dir()
        high = instance.pvspec.name == "HLM"
        dial_field = fields.dial_high_limit if high == (group._dir() > 0) else fields.dial_low_limit
        await dial_field.write(dial, verify_value=False)
        await group._set_user_limits()
        await group._alarm_sub()
        return instance.value

    motor.fields.user_high_limit.putter(_user_limit_put)
    motor.fields.user_low_limit.putter(_user_limit_put)

    async def _dial_limit_put(fields, instance, value):
        value = _number(fields, instance, value, "dial limit")
        await instance.write(value, verify_value=False)
        group = fields.parent.group
        await group._set_user_limits()
        await group._alarm_sub()
        return value

    motor.fields.dial_high_limit.putter(_dial_limit_put)
    motor.fields.dial_low_limit.putter(_dial_limit_put)

    @motor.fields.user_offset.putter
    async def _off_put(fields, instance, value):
        value = _number(fields, instance, value, "offset")
        group = fields.parent.group
        await instance.write(value, verify_value=False)
        async with group._lock:
            await group._write_targets(group._target)
            await group._write_readback(group._dial_now())
            await group._set_user_limits()
        return value

    @motor.fields.user_direction.putter
    async def _dir_put(fields, instance, value):
        group = fields.parent.group
        old_val = group.motor.value
        await instance.write(value, verify_value=False)
        if fields.offset_freeze_switch.value in ("Variable", 0):  # VAL stays: OFF follows
            await fields.user_offset.write(old_val - group._target * group._dir(), verify_value=False)
        async with group._lock:
            await group._write_targets(group._target)
            await group._write_readback(group._dial_now())
            await group._set_user_limits()
        return value

    @motor.fields.engineering_units.putter
    async def _egu_put(fields, instance, value):
        await instance.write(value, verify_value=False)
        await publish_metadata(fields)
        return value

    @motor.fields.display_precision.putter
    async def _prec_put(fields, instance, value):
        value = validate.integer(_pvname(fields, instance), value, 0, 15, "precision")
        await fields.parent.write_metadata(precision=value)
        await publish_metadata(fields)
        return value
