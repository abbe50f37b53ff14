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
* ``.STOP`` and ``.SPMG`` = Stop halt the motor, ``.VAL`` set to where it stopped; Pause
  halts and keeps the target (Go resumes); Move goes once, then pauses;
* ``.SET`` = Set redefines the position without moving (:mod:`.settings`);
* ``.HOMF``/``.HOMR`` drive to the home switch at dial 0 at ``.HVEL``.

The simulated controller stops at once (no deceleration ramp), needs no retries, and has
no amplifier for ``.CNEN`` to switch off (the field is served and kept). Coordinates, speeds
and limits are :mod:`.settings`'; the fields kept as set, :mod:`.fields`'. A move the fault
model stalls (``sim:MotorStall``) ends as a stall does: MSTA PROBLEM, MISS, STATE/MAJOR
alarm, DMOV 1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from caproto import AlarmSeverity, AlarmStatus, SkipWrite

from ..records import validate
from ..records.channels import CheckedDouble as Double
from ..records.channels import CheckedDoubleRO as DoubleRO
from ..records.channels import CheckedEnum as Enum
from ..records.channels import CheckedEnumRO as EnumRO
from ..records.channels import CheckedIntegerRO as LongRO
from ..records.channels import CheckedShort as Short
from ..records.channels import CheckedShortRO as ShortRO
from ..records.declare import field
from ..server.puts import processing_started
from ..sim.clock import SimClock
from ..sim.faults import FaultModel, StalledMove
from ..sim.motion import Move
from .fields import SPMG, OwnRangeDouble, OwnRangeLong
from .settings import FIELD_RANGE, MotorConfig, MotorSettings

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


class MotorValue(OwnRangeDouble):
    """``.VAL``: reports itself as a ``motor`` record (its fields are :class:`MotorRecord`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reported_record_type = "motor"


class MotorRecord(MotorSettings):
    """A motor record's fields and what it does: targets, readbacks, motion, stop and pause, homing.

    Built by its VAL (caproto makes a record's fields); :meth:`attach` gives it the clock, the
    fault model and its axis name before the server starts.
    """

    dial_desired_value = field("DVAL", OwnRangeDouble, "Dial Desired Value (EGU")
    raw_desired_value = field("RVAL", OwnRangeLong, "Raw Desired Value (step")
    relative_value = field("RLV", Double, "Relative Value (EGU)")
    last_user_des_val = field("LVAL", DoubleRO, "Last User Des Val (EGU)")
    last_dial_des_val = field("LDVL", DoubleRO, "Last Dial Des Val (EGU)")
    last_raw_des_val = field("LRVL", LongRO, "Last Raw Des Val (steps")
    user_readback_value = field("RBV", DoubleRO, "User Readback Value")
    dial_readback_value = field("DRBV", DoubleRO, "Dial Readback Value")
    raw_readback_value = field("RRBV", LongRO, "Raw Readback Value")
    raw_motor_position = field("RMP", LongRO, "Raw Motor Position")
    difference_dval_drbv = field("DIFF", DoubleRO, "Difference dval-drbv")
    difference_rval_rrbv = field("RDIF", LongRO, "Difference rval-rrbv")
    done_moving_to_value = field("DMOV", ShortRO, "Done moving to value", value=1)
    motor_is_moving = field("MOVN", ShortRO, "Motor is moving")
    motion_in_progress = field("MIP", LongRO, "Motion In Progress")
    motor_status = field("MSTA", DoubleRO, "Motor Status")
    direction_of_travel = field("TDIR", ShortRO, "Direction of Travel")
    raw_cmnd_direction = field("CDIR", ShortRO, "Raw cmnd direction")
    limit_violation = field("LVIO", ShortRO, "Limit violation", value=0)  # init_record clears LVIO
    ran_out_of_retries = field("MISS", ShortRO, "Ran out of retries")
    retry_count = field("RCNT", ShortRO, "Retry count")
    stop = field("STOP", Short, "Stop")
    stop_pause_move_go = field("SPMG", Enum, "Stop/Pause/Move/Go", menu=SPMG, value="Go")
    last_spmg = field("LSPG", EnumRO, "Last SPMG", menu=SPMG, value="Go")
    tweak_motor_forward = field("TWF", Short, "Tweak motor Forward")
    tweak_motor_reverse = field("TWR", Short, "Tweak motor Reverse")
    home_forward = field("HOMF", Short, "Home Forward")
    home_reverse = field("HOMR", Short, "Home Reverse")

    def __init__(self, *args, **kwargs) -> None:
        self.clock: SimClock | None = None
        self.faults: FaultModel | None = None
        self.axis = ""
        self._dial = 0.0  # dial position while no move runs
        self._run: Move | None = None  # the move the controller is running (dial coordinates)
        self._run_t0 = 0.0
        self.target = 0.0  # dial target (DVAL)
        self._mover: asyncio.Task | None = None
        self._cycle: asyncio.Future | None = None  # done when DMOV returns to 1
        self.lock = asyncio.Lock()
        self._stop = False  # STOP or SPMG=Stop asked: stop and make VAL agree with RBV
        self._homing = 0  # MIP_HOMF / MIP_HOMR while homing
        self._homed = False
        self._problem = False  # the controller reports a problem (a stalled run): MSTA bit 9
        self._done_watchers: list[Callable[[bool], Awaitable[None]]] = []
        super().__init__(*args, **kwargs)

    def attach(self, *, clock: SimClock, faults: FaultModel, axis: str) -> None:
        """What the record works with: the simulation's clock, the fault model, its axis name there."""
        self.clock, self.faults, self.axis = clock, faults, axis

    async def start(self, config: MotorConfig) -> None:
        """At start: configured, at dial 0, not moving."""
        await self.configure(config)
        await self.write_targets(0.0)
        await self.write_readback(0.0)
        await self._set_moving(False, direction=1)

    # -- state -------------------------------------------------------------------------

    # Field updates below skip caproto's value verification (it would clear the record's alarm).

    def dial_now(self) -> float:
        if self._run is None:
            return self._dial
        return self._run.position(self.clock.now() - self._run_t0)

    def _spmg(self) -> str:
        value = self.stop_pause_move_go.value
        return ("Stop", "Pause", "Move", "Go")[value] if isinstance(value, int) else value

    def _halted(self) -> bool:
        return self._stop or self._spmg() in ("Stop", "Pause")

    def _soft_limit_violated(self, dial: float) -> bool:
        """motorRecord.cc do_work: DHLM = DLLM = 0 disables the check, DLLM > DHLM always
        violates it, and a move from beyond a limit back towards the range is allowed."""
        dhlm, dllm = self.dial_high_limit.value, self.dial_low_limit.value
        if dhlm == dllm == 0.0:
            return False
        if dllm > dhlm:
            return True
        last = self.target
        if (dial > dhlm and dial < last) or (dial < dllm and dial > last):
            return False
        return dial > dhlm or dial < dllm

    # -- field writes ------------------------------------------------------------------

    async def write_readback(self, dial: float) -> None:
        ts = time.time()
        await self.user_readback_value.write(self.user_of(dial), timestamp=ts, verify_value=False)
        await self.dial_readback_value.write(dial, timestamp=ts, verify_value=False)
        await self.raw_readback_value.write(int(round(dial / self.step())), timestamp=ts, verify_value=False)
        await self.raw_motor_position.write(int(round(dial / self.step())), timestamp=ts, verify_value=False)
        diff = self.dial_desired_value.value - dial
        await self.difference_dval_drbv.write(diff, verify_value=False)
        await self.difference_rval_rrbv.write(int(round(diff / self.step())), verify_value=False)

    async def write_targets(self, dial: float) -> None:
        """VAL, DVAL, RVAL and their last-value fields for the dial target ``dial``."""
        user = self.user_of(dial)
        raw = int(round(dial / self.step()))
        await self.parent.write(user, verify_value=False)
        await self.dial_desired_value.write(dial, verify_value=False)
        await self.raw_desired_value.write(raw, verify_value=False)
        await self.last_user_des_val.write(user, verify_value=False)
        await self.last_dial_des_val.write(dial, verify_value=False)
        await self.last_raw_des_val.write(raw, verify_value=False)

    async def _set_moving(self, moving: bool, direction: int | None = None) -> None:
        if direction is not None:
            await self.direction_of_travel.write(direction, verify_value=False)
            await self.raw_cmnd_direction.write(direction, verify_value=False)
        msta = MSTA_DIRECTION if self.direction_of_travel.value else 0
        msta |= MSTA_MOVING if moving else MSTA_DONE
        msta |= MSTA_HOMED if self._homed else 0
        msta |= MSTA_PROBLEM if self._problem else 0
        await self.motor_status.write(float(msta), verify_value=False)
        await self.motor_is_moving.write(int(moving), verify_value=False)
        mip = (self._homing or MIP_MOVE) if moving or self._cycle is not None else MIP_DONE
        await self.motion_in_progress.write(mip, verify_value=False)

    async def _set_dmov(self, done: bool) -> None:
        if self.done_moving_to_value.value != int(done):
            await self.done_moving_to_value.write(int(done), verify_value=False)
            for watcher in self._done_watchers:
                await watcher(done)

    def watch_done(self, watcher: Callable[[bool], Awaitable[None]]) -> None:
        """Call ``watcher(done)`` each time DMOV changes (as motorUtil's monitor of it)."""
        self._done_watchers.append(watcher)

    @property
    def done_moving(self) -> bool:
        """DMOV: no motion is under way."""
        return bool(self.done_moving_to_value.value)

    async def update_alarm(self) -> None:
        """motorRecord.cc alarm_sub: HIGH/LOW with severity HLSV on a limit switch or a
        target beyond a dial limit; the record's one alarm state shows on every field."""
        sevr = self.hw_limit_violation_svr.value
        sevr = ["NO_ALARM", "MINOR", "MAJOR", "INVALID"].index(sevr) if isinstance(sevr, str) else int(sevr)
        dval = self.dial_desired_value.value
        status, severity = AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM
        if sevr and (self.user_high_limit_switch.value or dval > self.dial_high_limit.value):
            status, severity = AlarmStatus.HIGH, AlarmSeverity(sevr)
        elif sevr and (self.user_low_limit_switch.value or dval < self.dial_low_limit.value):
            status, severity = AlarmStatus.LOW, AlarmSeverity(sevr)
        elif self._problem:  # MSTA PROBLEM (or SLIP_STALL): STATE, MAJOR
            status, severity = AlarmStatus.STATE, AlarmSeverity.MAJOR_ALARM
        # caproto keeps one alarm for VAL and one shared by the fields: set both.
        for alarm in (self.parent.alarm, self.user_readback_value.alarm):
            if (alarm.status, alarm.severity) != (status, severity):
                await alarm.write(status=status, severity=severity)

    async def restore_dial_position(self, dial: float) -> None:
        """Set the controller's position to ``dial`` without a move (autosave's DVAL at start)."""
        dial = validate.finite(f"{self.parent.pvname}.DVAL", dial, -FIELD_RANGE, FIELD_RANGE, "position")
        self._dial = self.target = dial
        await self.write_targets(dial)
        await self.write_readback(dial)
        await self.set_user_limits()

    # -- motion ------------------------------------------------------------------------

    async def _request(self, dial: float, home: int = 0) -> None:
        """A new dial target from VAL, DVAL, RVAL, RLV, TWF/TWR or HOMF/HOMR (lock held)."""
        if not home and self._soft_limit_violated(dial):
            await self.limit_violation.write(1, verify_value=False)
            await self.write_targets(self.target)  # VAL returns to the last target
            if self._cycle is None:  # DMOV blinks (special() then do_work)
                await self.done_moving_to_value.write(0, verify_value=False)
                await self.done_moving_to_value.write(1, verify_value=False)
            await self.update_alarm()
            return
        if self.limit_violation.value:
            await self.limit_violation.write(0, verify_value=False)
        self.target = dial
        self._homing = home
        await self.write_targets(dial)
        await self.difference_dval_drbv.write(dial - self.dial_now(), verify_value=False)
        await self.update_alarm()
        if self._cycle is None:
            self._cycle = asyncio.get_running_loop().create_future()
            await self._set_dmov(False)
        self._start_mover()

    def _start_mover(self) -> None:
        if not self._halted() and (self._mover is None or self._mover.done()):
            self._mover = asyncio.get_running_loop().create_task(self._motion())

    def _velocity(self) -> float:
        velo = self.home_velocity.value if self._homing else self.velocity.value
        return max(velo, self.base_velocity.value, 1e-9)

    async def _motion(self) -> None:
        """Run moves until the motor is at the target, then end the cycle (DMOV 0 -> 1)."""
        while True:
            while not self._halted():
                start = self.dial_now()
                if abs(self.target - start) < self.step() / 2:
                    break
                run = Move(start, self.target, self._velocity(), self.seconds_to_velocity.value)
                run = self.faults.motor_move(self.axis, run)  # sim:MotorStall may cut it short
                self._run, self._run_t0 = run, self.clock.now()
                self._problem = False
                await self._set_moving(True, direction=int(run.target > run.start))
                await self._follow(run)
                if isinstance(run, StalledMove) and self._dial == run.target:
                    self._problem = True  # stalled: retries get no further; the cycle ends here
                    break
            async with self.lock:
                if (not self._problem and not self._halted()
                        and abs(self.target - self.dial_now()) >= self.step() / 2):
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
        while self._run is run:
            elapsed = self.clock.now() - self._run_t0
            if elapsed >= run.duration:
                self._dial, self._run = run.target, None
                break
            here = run.position(elapsed)
            ntm_deadband = self.ntm_deadband_factor.value * (abs(self.bl_distance.value) + self.retry_deadband.value)
            if (self.target != run.target and self.new_target_monitor.value in ("YES", 1)
                    and (self.target - here) * direction < 0 and abs(self.target - here) > ntm_deadband):
                self._dial, self._run = here, None  # new target behind us: stop, then go there
                break
            await self.write_readback(here)
            await asyncio.sleep(min(TICK, self.clock.wall(run.duration - elapsed)))
        await self.write_readback(self._dial)

    def _freeze(self) -> None:
        """Stop the controller where it is now."""
        self._dial = self.dial_now()
        self._run = None

    async def _end_cycle(self) -> None:
        """The motor has stopped for good (lock held): post DMOV=1, complete the puts."""
        if self._stop or self._homing:
            self.target = self._dial  # STOP: the drive fields agree with the readback
            await self.write_targets(self._dial)
        if self._homing:
            self._homed = True
            await self.home_forward.write(0, verify_value=False)
            await self.home_reverse.write(0, verify_value=False)
        self._stop, self._homing = False, 0
        await self.write_readback(self._dial)
        cycle, self._cycle = self._cycle, None
        # MISS: the motor did not land on the target (stalled) after RTRY retries; reset when
        # a motion next ends on target.
        await self.retry_count.write(self.max_retry_count.value if self._problem else 0, verify_value=False)
        await self.ran_out_of_retries.write(int(self._problem), verify_value=False)
        await self._set_moving(False)
        # motorRecord.cc process(): alarm_sub() before monitor() posts DMOV, so a client that
        # looks at the alarm when DMOV rises (ophyd's EpicsMotor) sees this motion's.
        await self.update_alarm()
        await self._set_dmov(True)
        if self._spmg() == "Move":
            await self.stop_pause_move_go.write("Pause", verify_value=False)
            await self.last_spmg.write("Pause", verify_value=False)
        if cycle is not None and not cycle.done():
            cycle.set_result(None)

    async def _await_cycle(self, cycle: asyncio.Future | None) -> None:
        """A put with completion completes when its motion ends (asynchronously, as with PACT)."""
        if cycle is not None:
            processing_started()
            await asyncio.shield(cycle)

    async def move_to_user(self, user: float) -> None:
        """A user-coordinate target as a put to VAL gives it; returns when DMOV is 1 again."""
        async with self.lock:
            await self._request(self.dial_of(user))
            cycle = self._cycle
        await self._await_cycle(cycle)

    async def move_to_dial(self, dial: float) -> None:
        async with self.lock:
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
            self.target = self._dial  # syncTargetPosition
            await self.write_targets(self._dial)
        return self._cycle

    async def stop_motion(self) -> None:
        """A put of 1 to STOP that does not wait for the motor to stop."""
        async with self.lock:
            await self._halt(stop=True)

    async def redefine(self, user: float | None = None, dial: float | None = None) -> None:
        """SET = Set: make the current position read ``user`` (or ``dial``) without moving."""
        if user is not None and self.offset_freeze_switch.value in ("Variable", 0):
            await self.user_offset.write(user - self._dial * self.direction(), verify_value=False)
        else:
            new_dial = dial if dial is not None else self.dial_of(user)
            self._dial = self.target = new_dial
        await self.write_targets(self._dial)
        await self.write_readback(self._dial)
        await self.set_user_limits()
        await self.done_moving_to_value.write(0, verify_value=False)
        await self.done_moving_to_value.write(1, verify_value=False)

    # -- PV hooks ----------------------------------------------------------------------

    async def put_value(self, instance, value):
        """A put to VAL: a move to ``value`` (or, with SET = Set, a new position without a move)."""
        value = validate.finite(instance.pvname, value, -FIELD_RANGE, FIELD_RANGE, "target")
        if self.set_use_switch.value in ("Set", 1):
            async with self.lock:
                await self.redefine(user=value)
            raise SkipWrite
        await self.move_to_user(value)
        raise SkipWrite  # the record has written VAL itself (the last target, or LVAL after LVIO)

    @dial_desired_value.putter
    async def dial_desired_value(self, instance, value):
        value = self.number(instance, value, "dial target")
        if self.set_use_switch.value in ("Set", 1):
            async with self.lock:
                await self.redefine(dial=value)
        else:
            await self.move_to_dial(value)
        raise SkipWrite

    @raw_desired_value.putter
    async def raw_desired_value(self, instance, value):
        await self.move_to_dial(int(value) * self.step())
        raise SkipWrite

    @relative_value.putter
    async def relative_value(self, instance, value):
        value = self.number(instance, value, "relative move")
        await self.relative_value.write(0.0, verify_value=False)
        await self.move_to_user(self.parent.value + value)
        return 0.0

    async def _tweak(self, instance, value):
        if value:
            step = self.tweak_step_size.value * (1 if instance.pvspec.name == "TWF" else -1)
            await instance.write(0, verify_value=False)  # do_work clears the button at once
            await self.move_to_user(self.parent.value + step)
        return 0

    tweak_motor_forward.putter(_tweak)
    tweak_motor_reverse.putter(_tweak)

    async def _home(self, instance, value):
        # HOMF and HOMR alike: this controller's home switch is at dial 0.
        if not value:
            return 0
        mip = MIP_HOMF if instance.pvspec.name == "HOMF" else MIP_HOMR
        async with self.lock:
            if self._homing:
                raise ValueError(f"{self.field_name(instance)}: a home search is already in progress")
            await instance.write(1, verify_value=False)
            await self._request(0.0, home=mip)
            cycle = self._cycle
        await self._await_cycle(cycle)
        return 0

    home_forward.putter(_home)
    home_reverse.putter(_home)

    @stop.putter
    async def stop(self, instance, value):
        if value:
            async with self.lock:
                cycle = await self._halt(stop=True)
            await self._await_cycle(cycle)
        return 0

    @stop_pause_move_go.putter
    async def stop_pause_move_go(self, instance, value):
        choice = ("Stop", "Pause", "Move", "Go")[value] if isinstance(value, int) else value
        async with self.lock:
            await self.stop_pause_move_go.write(choice, verify_value=False)
            await self.last_spmg.write(choice, verify_value=False)
            if choice in ("Stop", "Pause"):
                await self._halt(stop=choice == "Stop")
            elif self._cycle is not None:
                self._start_mover()  # Go / Move: resume what Pause held
        return choice
