"""motor.db's records for one motor: the motor record (its VAL; :mod:`.record`) and ``<motor>_able``.

``<motor>_able`` (bo Enable/Disable, PINI YES) writes the record's ``.DISP``: Disable makes the
record refuse every client's put to it but to DISP itself, as dbPut does (the refusal names
the field), Enable takes puts again. motor.db also points the record's SDIS at it, so that a
real IOC's disabled record stops processing; here a move already under way ends as it would
have, its readbacks posted. motor.db's ``_vCh`` and ``_twCh`` calcouts are not served.
"""

from __future__ import annotations

from caproto.server import pvproperty

from ..records import RecordGroup
from ..records.declare import bo
from ..sim.clock import SimClock
from ..sim.faults import FaultModel
from .record import MotorRecord, MotorValue
from .settings import MotorConfig

ENABLE_DISABLE = ("Enable", "Disable")


class Motor(RecordGroup):
    """One motor record at ``prefix`` (its VAL; its fields are a :class:`MotorRecord`), the axis
    ``axis`` of the simulated controller, configured by ``config``; and its ``_able`` record."""

    asg = "HARDWARE"  # access security group (the ACF's): users on the beamline's hosts move motors

    motor = pvproperty(value=0.0, name="", record=MotorRecord, dtype=MotorValue, precision=3, doc="motor")
    able = bo("_able", "Enable", ENABLE_DISABLE, doc="motor enable (OUT: the motor's .DISP; PINI YES)")

    def __init__(self, prefix: str, *, clock: SimClock, faults: FaultModel, axis: str,
                 config: MotorConfig | None = None) -> None:
        super().__init__(prefix)
        self.config = config or MotorConfig()
        self.record: MotorRecord = self.motor.field_inst
        self.record.attach(clock=clock, faults=faults, axis=axis)

    def readback(self) -> float:
        """Where the motor is now (.RBV, user coordinates)."""
        return self.record.user_readback_value.value

    async def restore_dial_position(self, dial: float) -> None:
        """Set the controller's position to ``dial`` without a move (autosave's DVAL at start)."""
        await self.record.restore_dial_position(dial)

    @motor.startup
    async def motor(self, instance, async_lib):
        await self.record.start(self.config)
        await self._write_disp(self.able.value)  # _able's PINI

    @motor.putter
    async def motor(self, instance, value):
        return await self.record.put_value(instance, value)

    async def _write_disp(self, state) -> None:
        disabled = ENABLE_DISABLE.index(state) if isinstance(state, str) else int(state)
        await self.motor.get_field("DISP").write(disabled)

    @able.putter
    async def able(self, instance, value):
        await self._write_disp(value)
        return value
