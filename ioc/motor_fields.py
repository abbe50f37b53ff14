"""The motor record's fields as ``motorRecord.dbd`` (epics-modules/motor) defines them, and the
CA metadata (units, precision, limits) its record support serves for each field.

caproto's ``MotorFields`` was generated from an older dbd: :class:`MotorRecordFields` adds the
fields it lacks and gives every field the CA type an EPICS IOC serves for its DBF type
(DBF_USHORT as DBR_LONG, DBF_ULONG as DBR_DOUBLE). :func:`field_metadata` follows
motorRecord.cc's ``get_units``, ``get_precision``, ``get_graphic_double``,
``get_control_double`` and ``get_alarm_double``.
"""

from __future__ import annotations

import math

from caproto import ChannelDouble, ChannelFloat, ChannelNumeric, ChannelShort
from caproto.server import (
    PvpropertyDouble,
    PvpropertyDoubleRO,
    PvpropertyEnum,
    PvpropertyInteger,
    PvpropertyIntegerRO,
    pvproperty,
)
from caproto.server.records.records import MotorFields

# Device supports this IOC registers for the motor record (the DTYP menu); the simulated
# controller stands where motorSim's asyn driver would.
DTYP_CHOICES = ("Soft Channel", "asynMotor")

# recGblGetGraphicDouble/ControlDouble: a field without limits of its own reports its DBF
# type's range (DBF_DOUBLE: +-1e300, DBF_FLOAT: +-1e30).
_DOUBLE_RANGE = 1e300
_FLOAT_RANGE = 1e30
_SHORT_RANGE = (-32768, 32767)
_LONG_RANGE = (-2147483648, 2147483647)

VELOCITY_FIELDS = ("VELO", "VMAX", "BVEL", "VBAS", "JVEL", "HVEL")
_UNITS = {"JAR": "{egu}/s/s", "ACCL": "sec", "BACC": "sec", "S": "rev/sec", "SBAS": "rev/sec",
          "SBAK": "rev/sec", "SREV": "steps/rev", "UREV": "{egu}/rev",
          **{name: "{egu}/sec" for name in VELOCITY_FIELDS}}


class RecordDouble(PvpropertyDouble):
    """A double field whose range the record enforces itself (VAL, DVAL, VELO: LVIO or
    clipping), so a put outside the control limits it serves reaches the record's putter
    instead of being refused by caproto."""

    async def verify_value(self, value):
        if self.putter is not None:
            return await self.putter(self, value)
        return value


class RecordInteger(PvpropertyInteger):
    """RVAL: as :class:`RecordDouble`, for the raw (step) target."""

    async def verify_value(self, value):
        if self.putter is not None:
            return await self.putter(self, value)
        return value


class MotorRecordFields(MotorFields):
    """caproto's motor record fields, corrected to motorRecord.dbd."""

    # Fields motorRecord.dbd has and caproto's MotorFields lacks.
    move_acceleration = pvproperty(name="ACCS", dtype=PvpropertyDouble, doc="Move Accel. (EGU/s^2)")
    acceleration_used = pvproperty(name="ACCU", dtype=PvpropertyEnum, enum_strings=("Use ACCL", "Use ACCS"),
                                   value="Use ACCL", doc="Acceleration used")
    raw_high_limit = pvproperty(name="RHLM", dtype=PvpropertyDoubleRO, read_only=True, doc="Raw High Limit")
    raw_low_limit = pvproperty(name="RLLM", dtype=PvpropertyDoubleRO, read_only=True, doc="Raw Low Limit")
    restore_mode = pvproperty(name="RSTM", dtype=PvpropertyEnum,
                              enum_strings=("Never", "Always", "NearZero", "Conditional"),
                              value="NearZero", doc="Restore Mode")
    # CA types of an EPICS IOC: DBF_USHORT is served as DBR_LONG, DBF_ULONG as DBR_DOUBLE.
    motion_in_progress = pvproperty(name="MIP", dtype=PvpropertyIntegerRO, read_only=True,
                                    doc="Motion In Progress")
    ntm_deadband_factor = pvproperty(name="NTMF", dtype=PvpropertyInteger, value=2, doc="NTM Deadband Factor")
    motor_status = pvproperty(name="MSTA", dtype=PvpropertyDoubleRO, read_only=True, doc="Motor Status")
    monitor_mask = pvproperty(name="MMAP", dtype=PvpropertyDoubleRO, read_only=True, doc="Monitor Mask")
    monitor_mask_more = pvproperty(name="NMAP", dtype=PvpropertyDoubleRO, read_only=True,
                                   doc="Monitor Mask (more)")
    device_type = pvproperty(name="DTYP", dtype=PvpropertyEnum, enum_strings=DTYP_CHOICES, doc="Device Type")
    # Fields whose puts the record answers by LVIO or clipping, not by a CA error.
    dial_desired_value = pvproperty(name="DVAL", dtype=RecordDouble, doc="Dial Desired Value (EGU")
    raw_desired_value = pvproperty(name="RVAL", dtype=RecordInteger, doc="Raw Desired Value (step")
    velocity = pvproperty(name="VELO", dtype=RecordDouble, doc="Velocity (EGU/s)")
    # Fields of their own in the motor record (caproto links them to VAL's control limits,
    # which are HLM/LLM here).
    high_operating_range = pvproperty(name="HOPR", dtype=PvpropertyDouble, doc="High Operating Range")
    low_operating_range = pvproperty(name="LOPR", dtype=PvpropertyDouble, doc="Low Operating Range")


def field_units(name: str, egu: str) -> str:
    """Units the motor record serves with field ``name`` (motorRecord.cc ``get_units``)."""
    return _UNITS.get(name, "{egu}").format(egu=egu)[:7]  # dbr_units_size is 8 with the NUL


def field_metadata(fields) -> dict[str, dict]:
    """CA metadata of every numeric field of a motor record, by field name (VAL included).

    ``fields`` is the record's :class:`MotorRecordFields` instance.
    """
    egu = fields.engineering_units.value
    prec = int(fields.parent.precision)
    hlm, llm = fields.user_high_limit.value, fields.user_low_limit.value
    dhlm, dllm = fields.dial_high_limit.value, fields.dial_low_limit.value
    mres = fields.motor_step_size.value or 1.0
    raw = sorted((dhlm / mres, dllm / mres))
    own_limits = {"VAL": (llm, hlm), "RBV": (llm, hlm), "DVAL": (dllm, dhlm), "DRBV": (dllm, dhlm),
                  "RVAL": (int(raw[0]), int(raw[1])), "RRBV": (int(raw[0]), int(raw[1])),
                  "VELO": (fields.base_velocity.value, fields.max_velocity.value)}
    val = fields.parent  # HIHI/HIGH/LOW/LOLO are caproto-linked to VAL's alarm limits
    alarm = (val.lower_alarm_limit, val.lower_warning_limit, val.upper_warning_limit, val.upper_alarm_limit)
    channels = {"VAL": fields.parent, **fields.pvdb}
    result = {}
    for key, chan in channels.items():
        name = key.rsplit(".", 1)[-1]
        if not isinstance(chan, ChannelNumeric):
            continue
        meta = {"units": field_units(name, egu)}
        floating = isinstance(chan, (ChannelDouble, ChannelFloat))
        if floating:
            meta["precision"] = 2 if name == "VERS" else min(max(prec, 0), 15)
            span = _FLOAT_RANGE if isinstance(chan, ChannelFloat) else _DOUBLE_RANGE
            low, high = own_limits.get(name, (-span, span))
            meta.update(lower_disp_limit=low, upper_disp_limit=high, lower_ctrl_limit=low, upper_ctrl_limit=high)
            lolo, low_, high_, hihi = alarm if name in ("VAL", "DVAL") else (math.nan,) * 4
            meta.update(lower_alarm_limit=lolo, lower_warning_limit=low_, upper_warning_limit=high_,
                        upper_alarm_limit=hihi)
        else:  # integer fields: RVAL/RRBV the dial limits in steps, the others their type's range
            span = _SHORT_RANGE if isinstance(chan, ChannelShort) else _LONG_RANGE
            low, high = own_limits.get(name, span)
            meta.update(lower_disp_limit=low, upper_disp_limit=high, lower_ctrl_limit=low, upper_ctrl_limit=high)
        result[name] = meta
    return result


async def publish_metadata(fields) -> None:
    """Write :func:`field_metadata` into the record's channels, posting only what changed
    (a DBE_PROPERTY event, as a put to a ``prop(YES)`` field of a record posts)."""
    channels = {"VAL": fields.parent, **{k.rsplit(".", 1)[-1]: v for k, v in fields.pvdb.items()}}
    for name, meta in field_metadata(fields).items():
        chan = channels[name]
        changed = {k: v for k, v in meta.items()
                   if k in chan._data and not _same(chan._data[k], v)}
        if changed:
            await chan.write_metadata(**changed)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b
