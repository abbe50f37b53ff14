"""The motor records against the motor record's source of truth: motorRecord.dbd (field
names, CA types, menus, defaults), motorRecord.cc (metadata, LVIO, retargeting, clipping)."""

from __future__ import annotations

import math
import threading

import pytest
from caproto import ChannelType

from .conftest import eventually, time_scale
from .motor_record_dbd import CA_TYPE, FIELDS, MENUS

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
    pvs = dict(zip(served, caproto_module_ctx.get_pvs(*(f"{MOTOR}.{f}" for f in served), timeout=5)))
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
