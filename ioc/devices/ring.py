"""The storage-ring current in mA (``ring:current`` by default), following the simulated clock and the stored beam."""

from __future__ import annotations

from ..records import RecordGroup
from ..records.declare import ai
from ..sim.clock import SimClock
from ..sim.ring import StoredBeam

SCAN_PERIOD = 0.2  # wall s between posts of the current


class RingCurrent(RecordGroup):
    """An ai record, read-only, named ``pv`` in full: the current of ``beam`` at the clock's time."""

    # An ai record serves HOPR/LOPR as both display and control range.
    current = ai("", 500.0, egu="mA", prec=3, doc="Storage ring current (mA)", lower_disp_limit=0.0,
                 upper_disp_limit=550.0, lower_ctrl_limit=0.0, upper_ctrl_limit=550.0, lower_warning_limit=450.0,
                 lower_alarm_limit=100.0, upper_warning_limit=520.0, upper_alarm_limit=540.0)

    def __init__(self, pv: str, *, clock: SimClock, beam: StoredBeam) -> None:
        super().__init__(pv)
        self.clock = clock
        self.beam = beam

    def now(self) -> float:
        """Ring current in mA at this instant of simulated time."""
        return float(self.beam.current(self.clock.now()))

    async def post(self) -> None:
        """Post the current now (its scan is slower than a beam dump)."""
        await self.current.write(self.now())

    @current.getter
    async def current(self, instance):
        # A read gets the current at this instant, not at the last scan.
        return self.now()

    @current.scan(period=SCAN_PERIOD)
    async def current(self, instance, async_lib):
        await instance.write(self.now())
