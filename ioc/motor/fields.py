"""The motor record's fields as ``motorRecord.dbd`` (epics-modules/motor) defines them, and the CA
metadata (units, precision, limits) its record support serves for each field.

:class:`MotorFields` declares, one line each, the fields the record keeps as they are set (its
configuration, links, and what this simulated controller does not use); the fields the record
writes or acts on are declared where it does (:mod:`.settings`, :mod:`.record`). Each is served
with the CA type an EPICS IOC serves for its DBF type (DBF_USHORT as DBR_LONG, DBF_ULONG as
DBR_DOUBLE), with motorRecord.dbd's menus and initial values, except: the alarm severities
(HHSV...) start at NO_ALARM, the links empty, and CNEN at Enable (the controller drives its
motors). :func:`field_metadata` follows motorRecord.cc's ``get_units``, ``get_precision``,
``get_graphic_double``, ``get_control_double`` and ``get_alarm_double``.
"""

from __future__ import annotations

import math

from caproto import ChannelDouble, ChannelFloat, ChannelNumeric, ChannelShort
from caproto.server.records import link_parent_attribute

from ..records.channels import CheckedChar as Text
from ..records.channels import CheckedDouble as Double
from ..records.channels import CheckedDoubleRO as DoubleRO
from ..records.channels import CheckedEnum as Enum
from ..records.channels import CheckedFloat as Float
from ..records.channels import CheckedFloatRO as FloatRO
from ..records.channels import CheckedInteger as Long
from ..records.channels import CheckedIntegerRO as LongRO
from ..records.channels import CheckedShort as Short
from ..records.channels import CheckedShortRO as ShortRO
from ..records.channels import CheckedString as String
from ..records.declare import field
from ..records.fields import field_class

# motorRecord.dbd's menus (and epics-base's menuYesNo, menuOmsl, menuAlarmSevr)
NO_YES = ("NO", "YES")
OMSL = ("supervisory", "closed_loop")
ALARM_SEVERITY = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")
ACCU = ("Use ACCL", "Use ACCS")
DIR = ("Pos", "Neg")
FOFF = ("Variable", "Frozen")
RMOD = ("Default", "Arithmetic", "Geometric", "In-Position")
RSTM = ("Never", "Always", "NearZero", "Conditional")
SET = ("Use", "Set")
SPMG = ("Stop", "Pause", "Move", "Go")
STUP = ("OFF", "ON", "BUSY")
TORQ = ("Disable", "Enable")
UEIP = ("No", "Yes")
# Device supports this IOC registers for the motor record (the DTYP menu); the simulated
# controller stands where motorSim's asyn driver would.
DTYP = ("Soft Channel", "asynMotor")

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


class OwnRangeDouble(Double):
    """A double field whose range the record enforces itself (VAL, DVAL, VELO: LVIO or
    clipping), so a put outside the control limits it serves reaches the record's putter
    instead of being refused by caproto."""

    async def verify_value(self, value):
        if self.putter is not None:
            return await self.putter(self, value)
        return value


class OwnRangeLong(Long):
    """RVAL: as :class:`OwnRangeDouble`, for the raw (step) target."""

    async def verify_value(self, value):
        if self.putter is not None:
            return await self.putter(self, value)
        return value


class MotorFields(field_class("base")):
    """The motor record's fields it keeps as set (motorRecord.dbd), and every record's (DESC, SEVR...)."""

    _record_type = "motor"

    acceleration_used = field("ACCU", Enum, "Acceleration used", menu=ACCU, value="Use ACCL")
    archive_deadband = field("ADEL", Double, "Archive Deadband")
    last_value_archived = field("ALST", DoubleRO, "Last Value Archived")
    at_home = field("ATHM", ShortRO, "At HOME")
    bl_seconds_to_velocity = field("BACC", Double, "BL Seconds to Velocity", value=0.5)
    bl_distance = field("BDST", Double, "BL Distance (EGU)")
    bl_velocity = field("BVEL", Double, "BL Velocity (EGU/s)")
    card_number = field("CARD", ShortRO, "Card Number")
    enable_control = field("CNEN", Enum, "Enable control", menu=TORQ, value="Enable")  # the controller drives its motors
    derivative_gain = field("DCOF", Double, "Derivative Gain", value=0)
    dmov_input_link = field("DINP", String, "DMOV Input Link", value="")
    readback_settle_time = field("DLY", Double, "Readback settle time (s)")
    desired_output_loc = field("DOL", String, "Desired Output Loc", value="")
    encoder_step_size = field("ERES", Double, "Encoder Step Size (EGU)")
    freeze_offset = field("FOF", Short, "Freeze Offset")
    offset_freeze_switch = field("FOFF", Enum, "Offset-Freeze Switch", menu=FOFF)
    move_fraction = field("FRAC", Float, "Move Fraction", value=1)
    hihi_severity = field("HHSV", Enum, "Hihi Severity", menu=ALARM_SEVERITY, value="NO_ALARM")
    high_alarm_limit = field("HIGH", Double, "High Alarm Limit")
    hihi_alarm_limit = field("HIHI", Double, "Hihi Alarm Limit")
    user_high_limit_switch = field("HLS", ShortRO, "User High Limit Switch")
    hw_limit_violation_svr = field("HLSV", Enum, "HW Limit Violation Svr", menu=ALARM_SEVERITY)
    high_operating_range = field("HOPR", Double, "High Operating Range")
    high_severity = field("HSV", Enum, "High Severity", menu=ALARM_SEVERITY, value="NO_ALARM")
    integral_gain = field("ICOF", Double, "Integral Gain", value=0)
    ignore_set_field = field("IGSET", Short, "Ignore SET field")
    startup_commands = field("INIT", Text, "Startup commands", value="", size=40)
    jog_accel = field("JAR", Double, "Jog Accel. (EGU/s^2)")
    jog_motor_forward = field("JOGF", Short, "Jog motor Forward")
    jog_motor_reverse = field("JOGR", Short, "Jog motor Reverse")
    jog_velocity = field("JVEL", Double, "Jog Velocity (EGU/s)")
    user_low_limit_switch = field("LLS", ShortRO, "User Low Limit Switch")
    lolo_severity = field("LLSV", Enum, "Lolo Severity", menu=ALARM_SEVERITY, value="NO_ALARM")
    soft_channel_position_lock = field("LOCK", Enum, "Soft Channel Position Lock", menu=NO_YES, value="NO")
    lolo_alarm_limit = field("LOLO", Double, "Lolo Alarm Limit")
    low_operating_range = field("LOPR", Double, "Low Operating Range")
    low_alarm_limit = field("LOW", Double, "Low Alarm Limit")
    last_rel_value = field("LRLV", DoubleRO, "Last Rel Value (EGU)")
    low_severity = field("LSV", Enum, "Low Severity", menu=ALARM_SEVERITY, value="NO_ALARM")
    monitor_deadband = field("MDEL", Double, "Monitor Deadband")
    last_val_monitored = field("MLST", DoubleRO, "Last Val Monitored")
    monitor_mask = field("MMAP", DoubleRO, "Monitor Mask")
    monitor_mask_more = field("NMAP", DoubleRO, "Monitor Mask (more)")
    new_target_monitor = field("NTM", Enum, "New Target Monitor", menu=NO_YES, value="YES")
    ntm_deadband_factor = field("NTMF", Long, "NTM Deadband Factor", value=2)
    output_mode_select = field("OMSL", Enum, "Output Mode Select", menu=OMSL)
    proportional_gain = field("PCOF", Double, "Proportional Gain", value=0)
    post_move_commands = field("POST", Text, "Post-move commands", value="", size=40)
    post_process_command = field("PP", ShortRO, "Post process command", value=0)
    pre_move_commands = field("PREM", Text, "Pre-move commands", value="", size=40)
    readback_location = field("RDBL", String, "Readback Location", value="")
    raw_encoder_position = field("REP", LongRO, "Raw Encoder Position")
    raw_high_limit_switch = field("RHLS", ShortRO, "Raw High Limit Switch")
    rmp_input_link = field("RINP", String, "RMP Input Link", value="")
    raw_low_limit_switch = field("RLLS", ShortRO, "Raw Low Limit Switch")
    readback_outlink = field("RLNK", String, "Readback OutLink", value="")
    retry_mode = field("RMOD", Enum, "Retry Mode", menu=RMOD, value="Default")
    readback_step_size = field("RRES", Double, "Readback Step Size (EGU")
    restore_mode = field("RSTM", Enum, "Restore Mode", menu=RSTM, value="NearZero")
    max_retry_count = field("RTRY", Short, "Max retry count", value=10)
    raw_velocity = field("RVEL", LongRO, "Raw Velocity")
    bl_speed = field("SBAK", Double, "BL Speed (RPS)")
    set_use_switch = field("SET", Enum, "Set/Use Switch", menu=SET)
    setpoint_deadband = field("SPDB", Double, "Setpoint Deadband (EGU)")
    steps_per_revolution = field("SREV", Long, "Steps per Revolution", value=200)
    set_set_mode = field("SSET", Short, "Set SET Mode")
    stop_outlink = field("STOO", String, "STOP OutLink", value="")
    status_update = field("STUP", Enum, "Status Update", menu=STUP, value="OFF")
    set_use_mode = field("SUSE", Short, "Set USE Mode")
    sync_position = field("SYNC", Short, "Sync position")
    use_encoder_if_present = field("UEIP", Enum, "Use Encoder If Present", menu=UEIP)
    use_rdbl_link_if_presen = field("URIP", Enum, "Use RDBL Link If Presen", menu=UEIP)
    code_version = field("VERS", FloatRO, "Code Version", value=1)
    variable_offset = field("VOF", Short, "Variable Offset")

    link_parent_attribute(hihi_alarm_limit, "upper_alarm_limit")
    link_parent_attribute(high_alarm_limit, "upper_warning_limit")
    link_parent_attribute(low_alarm_limit, "lower_warning_limit")
    link_parent_attribute(lolo_alarm_limit, "lower_alarm_limit")
    link_parent_attribute(archive_deadband, "log_atol", use_setattr=True)
    link_parent_attribute(monitor_deadband, "value_atol", use_setattr=True)


def field_units(name: str, egu: str) -> str:
    """Units the motor record serves with field ``name`` (motorRecord.cc ``get_units``)."""
    return _UNITS.get(name, "{egu}").format(egu=egu)[:7]  # dbr_units_size is 8 with the NUL


def field_metadata(fields) -> dict[str, dict]:
    """CA metadata of every numeric field of a motor record, by field name (VAL included).

    ``fields`` is the record's fields (a :class:`MotorFields`).
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
        changed = {k: v for k, v in meta.items() if hasattr(chan, k) and not _same(getattr(chan, k), v)}
        if changed:
            await chan.write_metadata(**changed)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b
