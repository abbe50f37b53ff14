"""sscan's scanParms.db for a motor: a ``scanparm`` record (``BL:mtr:dotx:scanParms``), whose LOAD and GO
load its scan's parameters into an sscan record and start it, from the motor module's screens.

The record and its fields are served as scanparmRecord.dbd defines them, with scanParms.db's
values (PREC 6, PRE 4, AR RELATIVE, AFT PRIOR POS, SP -1, EP 1, NP 21, SC 1, PPV/RPV the
motor's VAL/RBV), and STEP = (EP - SP) / (NP - 1) recomputed as the record processes (NP at
least 2). This IOC has no sscan record (scans are bluesky's): the output links are empty, MP
and ACT read 0, and a put of a non-zero LOAD or GO is refused, saying so.
"""

from __future__ import annotations

from caproto.server import pvproperty
from caproto.server.records import link_parent_attribute

from ..records import RecordGroup, validate
from ..records.channels import CheckedDouble as Double
from ..records.channels import CheckedDoubleRO as DoubleRO
from ..records.channels import CheckedEnum as Enum
from ..records.channels import CheckedFloatRO as FloatRO
from ..records.channels import CheckedInteger as Long
from ..records.channels import CheckedIntegerRO as LongRO
from ..records.channels import CheckedShort as Short
from ..records.channels import CheckedShortRO as ShortRO
from ..records.channels import CheckedString as String
from ..records.channels import CheckedStringRO as StringRO
from ..records.checks import pv_name
from ..records.declare import field
from ..records.fields import field_class

# sscan's menuSscan.dbd
STEP_MODES = ("LINEAR", "TABLE", "FLY")  # sscanP1SM
ABS_REL = ("ABSOLUTE", "RELATIVE")  # sscanP1AR
AFTER = ("STAY", "START POS", "PRIOR POS", "PEAK POS", "VALLEY POS", "+EDGE POS", "-EDGE POS",
         "CNTR OF MASS")  # sscanPASM
NO_SSCAN = ("this IOC has no sscan record to load the scan parameters into and start "
            "(scan with bluesky instead, e.g. bluesky.plans.scan)")


class ScanparmFields(field_class("base")):
    """The scanparm record's fields (scanparmRecord.dbd), and every record's (DESC, SEVR...)."""

    _record_type = "scanparm"

    code_version = field("VERS", FloatRO, "Code Version", value=1)
    display_precision = field("PREC", Short, "Display Precision", value=6)
    pre_write_command = field("PRE", Short, "PRE-write command", value=4)
    pre_write_outlink = field("OPRE", StringRO, "PRE-write OutLink", value="")
    step_mode = field("SM", Enum, "StepMode", menu=STEP_MODES, value="LINEAR")
    step_mode_outlink = field("OSM", StringRO, "SM OutLink", value="")
    abs_rel = field("AR", Enum, "absRel", menu=ABS_REL, value="RELATIVE")
    abs_rel_outlink = field("OAR", StringRO, "AR OutLink", value="")
    after = field("AFT", Enum, "After", menu=AFTER, value="PRIOR POS")
    after_outlink = field("OAFT", StringRO, "AFT OutLink", value="")
    positioner_pv_name = field("PPV", String, "PositionerPVName", value="")
    readback_pv_name = field("RPV", String, "ReadbackPVName", value="")
    det_pv_name = field("DPV", String, "DetPVName", value="")
    trig_pv_name = field("TPV", String, "TrigPVName", value="")
    p1pv_outlink = field("OPPV", StringRO, "P1PV OutLink", value="")
    r1pv_outlink = field("ORPV", StringRO, "R1PV OutLink", value="")
    d1pv_outlink = field("ODPV", StringRO, "D1PV OutLink", value="")
    t1pv_outlink = field("OTPV", StringRO, "T1PV OutLink", value="")
    start_pos = field("SP", Double, "StartPos", value=-1.0)
    start_pos_outlink = field("OSP", StringRO, "SP OutLink", value="")
    end_pos = field("EP", Double, "EndPos", value=1.0)
    end_pos_outlink = field("OEP", StringRO, "EP OutLink", value="")
    n_pts = field("NP", Long, "nPts", value=21)
    n_pts_outlink = field("ONP", StringRO, "NP OutLink", value="")
    start_cmd = field("SC", Short, "StartCmd", value=1)
    start_cmd_outlink = field("OSC", StringRO, "SC OutLink", value="")
    acquire_time = field("AQT", Double, "Acquire time", value=0.0)
    acquire_time_outlink = field("OAQT", StringRO, "AQT OutLink", value="")
    max_pts = field("MP", LongRO, "MaxPts", value=0)
    max_pts_inlink = field("IMP", StringRO, "MP InLink", value="")
    scan_active = field("ACT", ShortRO, "ScanActive", value=0)
    scan_active_inlink = field("IACT", StringRO, "InLink", value="")
    load = field("LOAD", Short, "Load", value=0)
    load_outlink = field("OLOAD", StringRO, "LOAD OutLink", value="")
    go = field("GO", Short, "Go", value=0)
    go_outlink = field("OGO", StringRO, "GO OutLink", value="")
    step_size = field("STEP", DoubleRO, "StepSize", value=0.1)
    last_step_size = field("LSTP", DoubleRO, "Last stepSize", value=0.0)
    link_parent_attribute(display_precision, "precision")

    async def _process(self, start: float, end: float, n_pts: int) -> None:
        """What process() computes without an sscan record: STEP, for NP of at least 2."""
        await self.step_size.write((end - start) / (n_pts - 1), verify_value=False)

    @start_pos.putter
    async def start_pos(self, instance, value):
        value = validate.finite(pv_name(instance), value, -1e300, 1e300, "start position")
        await self._process(value, self.end_pos.value, self.n_pts.value)
        return value

    @end_pos.putter
    async def end_pos(self, instance, value):
        value = validate.finite(pv_name(instance), value, -1e300, 1e300, "end position")
        await self._process(self.start_pos.value, value, self.n_pts.value)
        return value

    @n_pts.putter
    async def n_pts(self, instance, value):
        value = max(int(value), 2)
        await self._process(self.start_pos.value, self.end_pos.value, value)
        return value

    async def _command(self, instance, value):
        if value:
            raise ValueError(NO_SSCAN)
        return 0

    load.putter(_command)
    go.putter(_command)


class ScanParms(RecordGroup):
    """scanParms.db at ``prefix`` (``BL:mtr:dotx:scanParms``) for the positioner ``positioner`` (``BL:mtr:dotx``)."""

    asg = "HARDWARE"  # access security group (the ACF's): the motors', for users on the beamline's hosts

    scanparm = pvproperty(value=0.0, name="", record=ScanparmFields, dtype=DoubleRO, precision=6,
                          doc="scan parameters")

    def __init__(self, prefix: str, *, positioner: str) -> None:
        super().__init__(prefix)
        self.positioner = positioner

    @scanparm.startup
    async def scanparm(self, instance, async_lib):
        fields = instance.field_inst
        await fields.positioner_pv_name.write(f"{self.positioner}.VAL", verify_value=False)
        await fields.readback_pv_name.write(f"{self.positioner}.RBV", verify_value=False)
