"""Turn areaDetector record definitions (:mod:`ioc.adcore_records`) into caproto pvproperties.

A setting with a readback (``AcquireTime`` / ``AcquireTime_RBV``) becomes two PVs: the
setpoint echoes every accepted value into its readback, as areaDetector's asyn records do.
Read-only records (``..._RBV``, inputs) refuse puts. Each PV has its own alarm state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
from caproto import ChannelType
from caproto.server import PVGroup, pvproperty

from .adcore_records import Record

_OUTPUTS = {"ao", "longout", "bo", "mbbo", "stringout", "waveform"}
_INPUT_OF = {"ao": "ai", "longout": "longin", "bo": "bi", "mbbo": "mbbi", "stringout": "stringin",
             "waveform": "waveform"}
_ARRAY_TYPES = {
    "DOUBLE": (ChannelType.DOUBLE, np.float64),
    "FLOAT": (ChannelType.FLOAT, np.float32),
    "LONG": (ChannelType.LONG, np.int32),
    "ULONG": (ChannelType.LONG, np.int32),
    "INT64": (ChannelType.DOUBLE, np.float64),  # CA has no 64-bit integers
    "UINT64": (ChannelType.DOUBLE, np.float64),
    "SHORT": (ChannelType.INT, np.int16),
    "USHORT": (ChannelType.LONG, np.int32),
    "CHAR": (ChannelType.CHAR, np.uint8),
    "UCHAR": (ChannelType.CHAR, np.uint8),
    "ENUM": (ChannelType.INT, np.int16),
    "STRING": (ChannelType.STRING, str),
}


def attr_name(suffix: str) -> str:
    """Python attribute for a PV suffix: ``AcquireTime_RBV`` -> ``acquire_time_rbv``."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", suffix.replace(".", "_"))
    return name.lower().replace("__", "_")


def pv_kwargs(rec: Record, readback: bool = False) -> dict:
    """Keyword arguments of ``pvproperty`` for a record, or for its ``_RBV`` readback."""
    rtype = _INPUT_OF.get(rec.record, rec.record) if readback else rec.record
    name = rec.suffix + ("_RBV" if readback else "")
    read_only = readback or rec.record not in _OUTPUTS or rec.suffix.endswith("_RBV")
    kw: dict = dict(name=name, read_only=read_only, doc=rec.doc or name, alarm_group=name)
    if rtype in ("ao", "ai"):
        kw.update(dtype=ChannelType.DOUBLE, value=float(rec.value or 0), precision=rec.precision)
        if rec.units:
            kw["units"] = rec.units
    elif rtype in ("longout", "longin"):
        kw.update(dtype=ChannelType.LONG, value=int(rec.value or 0))
        if rec.units:
            kw["units"] = rec.units
    elif rtype in ("bo", "bi", "mbbo", "mbbi"):
        strings = tuple(rec.enum_strings) or ("0", "1")
        value = rec.value if isinstance(rec.value, str) else strings[int(rec.value or 0)]
        kw.update(dtype=ChannelType.ENUM, enum_strings=strings, value=value)
    elif rtype in ("stringout", "stringin"):
        kw.update(dtype=ChannelType.STRING, value=str(rec.value or ""))
    elif rtype == "waveform":
        ctype, nptype = _ARRAY_TYPES[rec.ftvl or "DOUBLE"]
        nelm = max(int(rec.nelm or 1), 1)
        if ctype is ChannelType.CHAR and rec.ftvl == "CHAR":
            kw.update(dtype=ChannelType.CHAR, value=str(rec.value or ""), max_length=nelm, report_as_string=False)
        else:
            kw.update(dtype=ctype, value=np.zeros(nelm, dtype=nptype), max_length=nelm)
    else:
        raise ValueError(f"{rec.suffix}: unsupported record type {rtype!r}")
    if rtype == "mbbi" and name.startswith("DataType"):
        kw["record"] = "mbbi"  # ophyd reads DataType_RBV.DISA
    return kw


async def echo_to_readback(group: PVGroup, instance, value):
    """Default putter: accept the value and mirror it into the ``_RBV`` PV, if there is one."""
    rbv = group.pvdb.get(instance.pvname + "_RBV")
    if rbv is not None:
        await rbv.write(value)
    return value


async def sync_readbacks(group: PVGroup) -> None:
    """Make every ``_RBV`` readback of ``group`` show its setpoint's start-up value."""
    for name, chan in group.pvdb.items():
        rbv = group.pvdb.get(name + "_RBV")
        if rbv is not None and not np.array_equal(rbv.value, chan.value):
            await rbv.write(chan.value)


def record_properties(records: Iterable[Record], skip: Iterable[str] = ()) -> dict[str, pvproperty]:
    """pvproperties (attribute -> property) for ``records``, settings echoing to their readbacks."""
    skip = set(skip)
    props: dict[str, pvproperty] = {}
    for rec in records:
        if rec.suffix in skip:
            continue
        kw = pv_kwargs(rec)
        put = None if kw["read_only"] else echo_to_readback
        props[attr_name(rec.suffix)] = pvproperty(put=put, **kw)
        if rec.rbv and rec.suffix + "_RBV" not in skip:
            props[attr_name(rec.suffix + "_RBV")] = pvproperty(**pv_kwargs(rec, readback=True))
    return props


def records_group(name: str, *record_sets: Iterable[Record], skip: Iterable[str] = ()) -> type[PVGroup]:
    """A PVGroup class serving the given records; later sets override earlier ones by suffix.

    Subclass it and redefine the attributes (see :func:`attr_name`) of the PVs that need
    behaviour beyond echoing a setting.
    """
    merged: dict[str, Record] = {}
    for records in record_sets:
        for rec in records:
            merged[rec.suffix] = rec
    return type(name, (PVGroup,), record_properties(merged.values(), skip=skip))


def find(records: Iterable[Record], suffix: str) -> Record:
    """The record with ``suffix`` in ``records``."""
    for rec in records:
        if rec.suffix == suffix:
            return rec
    raise KeyError(suffix)
