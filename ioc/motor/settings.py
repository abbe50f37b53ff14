"""The motor record's coordinates, speeds and limits, as motorRecord.cc handles them.

Positions in ``.EGU``, velocities in EGU/s, ``.ACCL`` in seconds. User = dial x DIR + OFF;
raw = dial / MRES. ``.VELO`` is clipped to [``.VBAS``, ``.VMAX``], ``.ACCL`` <= 0 becomes 0.1,
``.RDBD`` is at least ``|.MRES|``. HLM/LLM follow DHLM/DLLM, OFF and DIR (``set_userlimits``);
``.SET`` = Set redefines the position without moving: ``.OFF`` changes (``.FOFF`` =
Variable) or the dial position does (Frozen). The simulated controller keeps its position in
EGU, so a new ``.MRES`` changes the step count, not the position.

:class:`MotorSettings` declares these fields and holds what writes them; what they move is the
record's (:class:`~.record.MotorRecord`: ``write_targets``, ``write_readback``,
``update_alarm``, ``dial_now``, ``target``, ``lock``).
"""

from __future__ import annotations

from dataclasses import dataclass

from caproto.server.records import link_parent_attribute

from ..records import validate
from ..records.channels import CheckedChar as Text
from ..records.channels import CheckedDouble as Double
from ..records.channels import CheckedDoubleRO as DoubleRO
from ..records.channels import CheckedEnum as Enum
from ..records.channels import CheckedShort as Short
from ..records.channels import CheckedString as String
from ..records.declare import field
from .fields import DIR, DTYP, MotorFields, OwnRangeDouble, publish_metadata

FIELD_RANGE = 1e300  # what a DBF_DOUBLE field holds (recGbl's range for DBF_DOUBLE)


@dataclass(frozen=True)
class MotorConfig:
    """What a substitution file gives a motor record (asyn_motor.db's macros)."""

    description: str = ""
    egu: str = "mm"
    velocity: float = 20.0  # EGU/s (VELO); VMAX is ten times it
    base_velocity: float = 0.1  # EGU/s (VBAS)
    home_velocity: float | None = None  # EGU/s (HVEL); None: VELO
    acceleration: float = 0.2  # s to full speed
    limits: tuple[float, float] = (-100.0, 100.0)  # dial (DLLM, DHLM)
    resolution: float = 1e-4  # MRES, EGU per step
    precision: int = 3
    tweak: float = 1.0  # TWV
    channel: int = 0  # the controller's axis: OUT @asyn(motorSim,channel)


class MotorSettings(MotorFields):
    """The motor record's coordinate, speed and limit fields, and what writes them."""

    device_type = field("DTYP", Enum, "Device Type", menu=DTYP)
    output_specification = field("OUT", String, "Output Specification")
    engineering_units = field("EGU", Text, "Engineering Units", value="", size=16)
    display_precision = field("PREC", Short, "Display Precision")
    user_offset = field("OFF", Double, "User Offset (EGU)")
    user_direction = field("DIR", Enum, "User Direction", menu=DIR)
    motor_step_size = field("MRES", Double, "Motor Step Size (EGU)")
    retry_deadband = field("RDBD", Double, "Retry Deadband (EGU)")
    tweak_step_size = field("TWV", Double, "Tweak Step Size (EGU)")
    velocity = field("VELO", OwnRangeDouble, "Velocity (EGU/s)")
    base_velocity = field("VBAS", Double, "Base Velocity (EGU/s)")
    max_velocity = field("VMAX", Double, "Max. Velocity (EGU/s)")
    home_velocity = field("HVEL", Double, "Home Velocity (EGU/s)")
    seconds_to_velocity = field("ACCL", Double, "Seconds to Velocity", value=0.2)
    move_acceleration = field("ACCS", Double, "Move Accel. (EGU/s^2)")
    speed = field("S", Double, "Speed (revolutions/sec)")
    base_speed = field("SBAS", Double, "Base Speed (RPS)")
    max_speed = field("SMAX", Double, "Max. Speed (RPS)")
    egu_s_per_revolution = field("UREV", Double, "EGU's per Revolution")
    user_high_limit = field("HLM", Double, "User High Limit")
    user_low_limit = field("LLM", Double, "User Low Limit")
    dial_high_limit = field("DHLM", Double, "Dial High Limit")
    dial_low_limit = field("DLLM", Double, "Dial Low Limit")
    raw_high_limit = field("RHLM", DoubleRO, "Raw High Limit")
    raw_low_limit = field("RLLM", DoubleRO, "Raw Low Limit")
    link_parent_attribute(display_precision, "precision")  # PREC reads the record's precision

    async def configure(self, config: MotorConfig) -> None:
        """The record as its substitution file sets it, at start (before any client)."""
        self.parent.desc = config.description
        await self.description.write(config.description, verify_value=False)
        await self.device_type.write("asynMotor", verify_value=False)
        await self.output_specification.write(f"@asyn(motorSim,{config.channel})", verify_value=False)
        await self.engineering_units.write(config.egu, verify_value=False)
        await self.parent.write_metadata(precision=config.precision)
        for chan, value in ((self.velocity, config.velocity), (self.base_velocity, config.base_velocity),
                            (self.max_velocity, 10 * config.velocity),
                            (self.home_velocity, config.velocity if config.home_velocity is None
                             else config.home_velocity),
                            (self.seconds_to_velocity, config.acceleration), (self.motor_step_size, config.resolution),
                            (self.retry_deadband, abs(config.resolution)), (self.dial_high_limit, config.limits[1]),
                            (self.dial_low_limit, config.limits[0]), (self.tweak_step_size, config.tweak)):
            await chan.write(value, verify_value=False)
        await self.sync_speeds()
        await self.set_user_limits()

    # -- coordinates -------------------------------------------------------------------

    def field_name(self, instance) -> str:
        """Full PV name of a field, e.g. ``BL:mtr:dotx.VELO``."""
        return f"{self.parent.pvname}.{instance.pvspec.name}"

    def number(self, instance, value, what: str) -> float:
        return validate.finite(self.field_name(instance), value, -FIELD_RANGE, FIELD_RANGE, what)

    def direction(self) -> float:
        return -1.0 if self.user_direction.value in ("Neg", 1) else 1.0

    def user_of(self, dial: float) -> float:
        return dial * self.direction() + self.user_offset.value

    def dial_of(self, user: float) -> float:
        return (user - self.user_offset.value) * self.direction()

    def step(self) -> float:
        """MRES, or 1 if it is 0."""
        return self.motor_step_size.value or 1.0

    async def set_offset(self, offset: float) -> None:
        """OFF, as SET = Set with FOFF Variable changes it."""
        await self.user_offset.write(offset, verify_value=False)

    # -- limits and metadata -----------------------------------------------------------

    async def set_user_limits(self) -> None:
        """HLM/LLM from DHLM/DLLM, OFF and DIR (motorRecord.cc set_userlimits), then the
        CA metadata every field serves."""
        dhlm, dllm = self.dial_high_limit.value, self.dial_low_limit.value
        if self.direction() > 0:
            hlm, llm = dhlm + self.user_offset.value, dllm + self.user_offset.value
        else:
            hlm, llm = -dllm + self.user_offset.value, -dhlm + self.user_offset.value
        await self.user_high_limit.write(hlm, verify_value=False)
        await self.user_low_limit.write(llm, verify_value=False)
        mres = self.step()
        await self.raw_high_limit.write(dhlm / mres, verify_value=False)
        await self.raw_low_limit.write(dllm / mres, verify_value=False)
        await publish_metadata(self)

    async def sync_speeds(self) -> None:
        """S, SBAS, SMAX, UREV and ACCS agree with VELO, VBAS, VMAX, MRES and ACCL."""
        urev = abs(self.motor_step_size.value * self.steps_per_revolution.value)
        await self.egu_s_per_revolution.write(urev, verify_value=False)
        if urev:
            await self.speed.write(self.velocity.value / urev, verify_value=False)
            await self.base_speed.write(self.base_velocity.value / urev, verify_value=False)
            await self.max_speed.write(self.max_velocity.value / urev, verify_value=False)
        accl = self.seconds_to_velocity.value
        await self.move_acceleration.write((self.velocity.value - self.base_velocity.value) / accl, verify_value=False)

    # -- PV hooks ----------------------------------------------------------------------

    @velocity.putter
    async def velocity(self, instance, value):
        value = self.number(instance, value, "velocity")
        vbas, vmax = self.base_velocity.value, self.max_velocity.value
        value = max(value, vbas)  # motorRecord.cc range_check: clipped to [VBAS, VMAX]
        if vmax != 0.0:
            value = min(value, vmax)
        await instance.write(value, verify_value=False)
        await self.sync_speeds()
        return value

    @home_velocity.putter
    async def home_velocity(self, instance, value):
        value = max(self.number(instance, value, "home velocity"), self.base_velocity.value)
        vmax = self.max_velocity.value
        return min(value, vmax) if vmax else value

    async def _velocity_limit(self, instance, value):
        value = max(self.number(instance, value, "velocity limit"), 0.0)  # special(): < 0 becomes 0
        await instance.write(value, verify_value=False)
        await self.sync_speeds()
        await publish_metadata(self)
        return value

    base_velocity.putter(_velocity_limit)
    max_velocity.putter(_velocity_limit)

    @seconds_to_velocity.putter
    async def seconds_to_velocity(self, instance, value):
        value = self.number(instance, value, "acceleration time")
        value = value if value > 0 else 0.1  # special(): ACCL <= 0 becomes 0.1
        await instance.write(value, verify_value=False)
        await self.sync_speeds()
        return value

    @motor_step_size.putter
    async def motor_step_size(self, instance, value):
        value = self.number(instance, value, "motor step size")
        if value == 0.0:
            raise ValueError(f"{self.field_name(instance)}: the motor step size cannot be 0")
        await instance.write(value, verify_value=False)
        if self.retry_deadband.value < abs(value):
            await self.retry_deadband.write(abs(value), verify_value=False)
        await self.write_readback(self.dial_now())
        await self.sync_speeds()
        await self.set_user_limits()
        return value

    @retry_deadband.putter
    async def retry_deadband(self, instance, value):
        value = self.number(instance, value, "retry deadband")
        return max(value, abs(self.motor_step_size.value))  # enforceMinRetryDeadband

    async def _user_limit(self, instance, value):
        value = self.number(instance, value, "limit")
        dial = (value - self.user_offset.value) * self.direction()
        high = instance.pvspec.name == "HLM"
        dial_field = self.dial_high_limit if high == (self.direction() > 0) else self.dial_low_limit
        await dial_field.write(dial, verify_value=False)
        await self.set_user_limits()
        await self.update_alarm()
        return instance.value

    user_high_limit.putter(_user_limit)
    user_low_limit.putter(_user_limit)

    async def _dial_limit(self, instance, value):
        value = self.number(instance, value, "dial limit")
        await instance.write(value, verify_value=False)
        await self.set_user_limits()
        await self.update_alarm()
        return value

    dial_high_limit.putter(_dial_limit)
    dial_low_limit.putter(_dial_limit)

    @user_offset.putter
    async def user_offset(self, instance, value):
        value = self.number(instance, value, "offset")
        await instance.write(value, verify_value=False)
        async with self.lock:
            await self.write_targets(self.target)
            await self.write_readback(self.dial_now())
            await self.set_user_limits()
        return value

    @user_direction.putter
    async def user_direction(self, instance, value):
        old_val = self.parent.value
        await instance.write(value, verify_value=False)
        if self.offset_freeze_switch.value in ("Variable", 0):  # VAL stays: OFF follows
            await self.user_offset.write(old_val - self.target * self.direction(), verify_value=False)
        async with self.lock:
            await self.write_targets(self.target)
            await self.write_readback(self.dial_now())
            await self.set_user_limits()
        return value

    @engineering_units.putter
    async def engineering_units(self, instance, value):
        await instance.write(value, verify_value=False)
        await publish_metadata(self)
        return value

    @display_precision.putter
    async def display_precision(self, instance, value):
        value = validate.integer(self.field_name(instance), value, 0, 15, "precision")
        await self.parent.write_metadata(precision=value)
        await publish_metadata(self)
        return value
