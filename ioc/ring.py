"""The storage-ring current PV and the simulation controls (``sim:``)."""

from __future__ import annotations

from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from . import validate
from .physics import ConstantRing, TopUp

RING_MODES = ("TopUp", "Constant")


class RingCurrent(PVGroup):
    """``ring:current``: storage-ring current in mA, following the simulated clock."""

    current = pvproperty(
        name="current",
        value=500.0,
        dtype=ChannelType.DOUBLE,
        read_only=True,
        units="mA",
        precision=3,
        lower_disp_limit=0.0,  # an ai record serves HOPR/LOPR as both display and control range
        upper_disp_limit=550.0,
        lower_ctrl_limit=0.0,
        upper_ctrl_limit=550.0,
        lower_warning_limit=450.0,
        lower_alarm_limit=100.0,
        upper_warning_limit=520.0,
        upper_alarm_limit=540.0,
        doc="Storage ring current (mA)",
        record="ai",
    )

    @current.startup
    async def current(self, instance, async_lib):
        await instance.field_inst.engineering_units.write(instance.units)  # .EGU says what the metadata says

    @current.getter
    async def current(self, instance):
        # A read gets the current at this instant, not at the last scan.
        return self.parent.ring_current_now()

    @current.scan(period=0.2)
    async def current(self, instance, async_lib):
        await instance.write(self.parent.ring_current_now())


class SimControls(PVGroup):
    """``sim:``: controls of the simulation itself (not of any real hardware)."""

    time_scale = pvproperty(
        name="TimeScale", alarm_group="TimeScale", value=1.0, dtype=ChannelType.DOUBLE, precision=3,
        doc="Simulated seconds per wall second: exposures and moves take 1/TimeScale of their time",
    )
    time = pvproperty(name="Time", alarm_group="Time", value=0.0, dtype=ChannelType.DOUBLE, read_only=True, units="s", precision=3,
                      doc="Simulated seconds since the IOC started")
    seed = pvproperty(name="Seed", alarm_group="Seed", value=0, dtype=ChannelType.LONG,
                      doc="Seed of the noise generator; writing it restarts the noise sequence")
    ring_mode = pvproperty(name="RingMode", alarm_group="RingMode", value="TopUp", dtype=ChannelType.ENUM, enum_strings=RING_MODES,
                           doc="TopUp: decay and injections; Constant: ring held at its set point")
    data_root = pvproperty(name="DataRoot", alarm_group="DataRoot", value="", dtype=ChannelType.CHAR, max_length=1024,
                           string_encoding="utf-8", read_only=True, doc="The only tree the camera writes into")

    @time_scale.putter
    async def time_scale(self, instance, value):
        value = validate.finite(instance.pvname, value, 1e-3, 1e6, "time scale")
        self.parent.clock.time_scale = value
        return value

    @time.getter
    async def time(self, instance):
        return self.parent.clock.now()

    @seed.putter
    async def seed(self, instance, value):
        value = validate.integer(instance.pvname, value, 0, 2**31 - 1, "seed")
        self.parent.reseed(value)
        return value

    @ring_mode.putter
    async def ring_mode(self, instance, value):
        self.parent.ring_model = TopUp() if value == "TopUp" else ConstantRing()
        return value
