"""A group of records served under one prefix, and the putter that echoes a setting to its readback."""

from __future__ import annotations

import numpy as np
from caproto import ChannelData, ChannelEnum, ChannelType
from caproto.server import PVGroup

from .channels import TYPE_MAP, TYPE_MAP_READ_ONLY
from .checks import generic_putter
from .validate import finite, integer


class RecordGroup(PVGroup):
    """caproto's ``PVGroup`` whose PVs are our checked channels, under any prefix.

    The prefix is taken as it is: EPICS names such as ``XF:31IDA-OP{Tbl-Ax:X1}Mtr`` hold
    braces, which caproto would read as macros. Values a record takes from the group
    (a :class:`~.macros.Macro`) come from ``macros``.

    ``asg``: the access security group of the group's records (as each EPICS record's ASG
    field; the groups are defined in the IOC's ACF), given to every record of the group and
    of its subgroups that declares none of its own; '' is DEFAULT.
    """

    type_map = TYPE_MAP
    type_map_read_only = TYPE_MAP_READ_ONLY
    asg = ""

    def __init__(self, prefix: str, *, macros: dict | None = None, parent: PVGroup | None = None,
                 name: str | None = None) -> None:
        super().__init__(prefix.replace("{", "{{").replace("}", "}}"), macros=macros, parent=parent, name=name)
        if self.asg:
            for channel in self.pvdb.values():
                if not getattr(channel, "asg", "x"):
                    channel.asg = self.asg


def _readback_value(setpoint: ChannelData, value):
    """A setpoint's value as its readback takes it: an enum by index, as the readback's menu
    may name the states differently (Capture 'Capture' is Capture_RBV 'Capturing')."""
    if isinstance(setpoint, ChannelEnum) and isinstance(value, str) and value in setpoint.enum_strings:
        return setpoint.enum_strings.index(value)
    return value


@generic_putter
async def echo_to_readback(group: PVGroup, instance, value):
    """The putter of a setting: check the range the record declares (``valid``), accept the
    value and mirror it into the ``_RBV`` readback, if there is one, as asyn records do."""
    valid = getattr(instance, "valid", None)
    if valid is not None:
        low, high, what = valid
        check = integer if instance.data_type in (ChannelType.LONG, ChannelType.INT) else finite
        value = check(instance.pvname, value, low, high, what)
    rbv = group.pvdb.get(instance.pvname + "_RBV")
    if rbv is not None:
        await rbv.write(_readback_value(instance, value))
    return value


async def sync_readbacks(group: PVGroup) -> None:
    """Make every ``_RBV`` readback of ``group`` show its setpoint's start-up value."""
    for name, chan in group.pvdb.items():
        rbv = group.pvdb.get(name + "_RBV")
        if rbv is None:
            continue
        value = _readback_value(chan, chan.value)
        if isinstance(rbv, ChannelEnum) and isinstance(value, int):
            value = rbv.enum_strings[value] if value < len(rbv.enum_strings) else rbv.value
        if not np.array_equal(rbv.value, value):
            await rbv.write(value)


def utf8_fit(text: str, max_length: int) -> str:
    """``text`` made to fit a char waveform of ``max_length`` bytes with its NUL.

    A message too long loses its middle, not its end: "cannot write <long path>: File
    name too long" keeps the reason a user needs.
    """
    data = text.encode("utf-8")
    room = max_length - 1
    if len(data) <= room:
        return text
    head = (room - 3) // 2
    tail = room - 3 - head
    return (data[:head].decode("utf-8", errors="ignore") + "..."
            + data[len(data) - tail:].decode("utf-8", errors="ignore"))
