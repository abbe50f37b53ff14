"""What one EPICS record is (:class:`Record`), and the caproto ``pvproperty`` arguments that serve it.

A :class:`Record` holds what a database template says of one record: its name after the
prefix, record type, start-up value, menu and alarm severities, EGU, PREC, FTVL, NELM and a
description. :func:`pv_kwargs` turns it into ``pvproperty`` keyword arguments whose data
class is one of :mod:`.channels`' record classes, refusing, with the record's name, anything
CA cannot carry. A value or NELM given by a macro of the template (``$(XSIZE)``) is a
:class:`Macro`, resolved from the ``macros`` of the group that serves the record.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from caproto import AlarmSeverity, ChannelType

from .channels import record_data_class
from .fields import MENU_FIELDS, TEXT_ENCODING, desc_of, field_class
from .macros import Macro

# Output record types: a client may write them (unless declared an input, or an _RBV name).
_OUTPUTS = {"ao", "longout", "bo", "busy", "mbbo", "stringout", "waveform", "calcout", "dfanout", "fanout",
            "seq", "sseq", "asyn"}
# The input record type of a setpoint's ``_RBV`` readback.
_INPUT_OF = {"ao": "ai", "longout": "longin", "bo": "bi", "busy": "bi", "mbbo": "mbbi", "stringout": "stringin",
             "waveform": "waveform"}
# The CA type of each record type's VAL (waveforms: their FTVL).
_VALUE_TYPE = {
    "ao": "double", "ai": "double", "calc": "double", "calcout": "double", "dfanout": "double",
    "longout": "long", "longin": "long", "fanout": "long", "seq": "long", "sseq": "long", "asyn": "long",
    "bo": "enum", "bi": "enum", "busy": "enum", "mbbo": "enum", "mbbi": "enum",
    "stringout": "string", "stringin": "string", "waveform": "array", "subArray": "array",
}
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
_SEVERITIES = {"NO_ALARM": AlarmSeverity.NO_ALARM, "MINOR": AlarmSeverity.MINOR_ALARM,
               "MAJOR": AlarmSeverity.MAJOR_ALARM, "INVALID": AlarmSeverity.INVALID_ALARM}
_PV_SUFFIX = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:-[]<>;")
_MAX_ELEMENTS = 2**24  # a waveform larger than this is surely a mistake in a declaration
_INT32 = (-(2**31), 2**31 - 1)


class Record(NamedTuple):
    """One EPICS record as a database template declares it."""

    suffix: str            # PV name after the group's prefix, e.g. 'AcquireTime'
    record: str            # record type: 'ao', 'ai', 'longout', 'longin', 'bo', 'bi', 'mbbo', 'mbbi', 'stringout', ...
    value: object = 0      # start-up value: the template's VAL, or what the driver sets (enums: a string or index)
    rbv: bool = False      # pv_kwargs(readback=True) serves suffix + '_RBV', the input record of this type
    enum_strings: tuple = ()  # ZNAM/ONAM of bo/bi/busy, ZRST... of mbbo/mbbi, in order
    units: str = ''        # EGU
    precision: int = 0     # PREC of ao/ai/calc
    ftvl: str = ''         # waveforms: 'CHAR' (text), 'DOUBLE', 'LONG', 'ULONG', 'SHORT', 'FLOAT', 'INT64' ...
    nelm: object = 0       # waveforms: NELM (an int or a Macro)
    doc: str = ''          # one short phrase from the template (the record's DESC is made from it)
    severities: tuple = ()  # alarm severity of each state (ZSV/OSV, ZRSV...) of bo/bi/busy/mbbo/mbbi
    input: bool = False    # a waveform the driver fills (asyn...In): clients cannot write it
    asg: str = ''          # access security group (ASG); '' is DEFAULT


def pv_kwargs(rec: Record, readback: bool = False) -> dict:
    """Keyword arguments of ``pvproperty`` for a record, or for its ``_RBV`` readback.

    Raises ValueError, naming the record, for a record that cannot be served over CA
    (unknown type, a value that does not fit, enum strings CA cannot carry, ...).
    """
    suffix = rec.suffix if isinstance(rec.suffix, str) else repr(rec.suffix)
    try:
        return _pv_kwargs(rec, readback)
    except ValueError as exc:
        raise ValueError(f"record {suffix!r}: {exc}") from None
    except (TypeError, IndexError, KeyError, OverflowError) as exc:
        raise ValueError(f"record {suffix!r}: {type(exc).__name__}: {exc}") from None


def _text(value, what: str, max_bytes: int, encoding: str = "latin-1") -> str:
    """``value`` if it is text that CA can carry in ``max_bytes`` (caproto sends CA strings,
    units and enum strings as latin-1, char waveforms as :data:`TEXT_ENCODING`)."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {value!r}")
    try:
        size = len(value.encode(encoding))
    except UnicodeEncodeError:
        raise ValueError(f"{what} {value!r} cannot be sent as {encoding}") from None
    if size > max_bytes or "\0" in value:
        raise ValueError(f"{what} {value!r} is longer than {max_bytes} bytes or holds a NUL")
    return value


def _pv_kwargs(rec: Record, readback: bool) -> dict:
    # An empty suffix: the record is named by its group's prefix alone (ring:current).
    if not (isinstance(rec.suffix, str) and set(rec.suffix) <= _PV_SUFFIX):
        raise ValueError("not a valid PV name suffix")
    rtype = _INPUT_OF.get(rec.record, rec.record) if readback else rec.record
    name = rec.suffix + ("_RBV" if readback else "")
    read_only = readback or rec.record not in _OUTPUTS or rec.suffix.endswith("_RBV") or rec.input
    doc = str(rec.doc or name)
    kind = _VALUE_TYPE.get(rtype)
    fields: dict = {"SCAN": "I/O Intr" if read_only else "Passive"}
    kw: dict = dict(name=name, read_only=read_only, doc=doc, alarm_group=name, desc=desc_of(doc))
    units = _text(rec.units or "", "units", 7)  # CA carries 8 bytes with the NUL
    indexed = False  # an enum whose states share a name
    if kind == "double":
        if not (isinstance(rec.precision, int) and 0 <= rec.precision <= 17):
            raise ValueError(f"precision must be a whole number from 0 to 17, not {rec.precision!r}")
        ctype = ChannelType.DOUBLE
        value = rec.value if isinstance(rec.value, Macro) else float(rec.value or 0)
        kw.update(value=value, precision=rec.precision)
    elif kind == "long":
        value = rec.value or 0
        if not isinstance(value, Macro) and (isinstance(value, float) and value != int(value)
                                             or not _INT32[0] <= int(value) <= _INT32[1]):
            raise ValueError(f"value {value!r} is not a 32-bit integer")
        ctype = ChannelType.LONG
        kw.update(value=value if isinstance(value, Macro) else int(value))
    elif kind == "enum":
        # A bo/bi with no ZNAM/ONAM serves two empty strings, as EPICS does.
        strings = tuple(_text(s, "enum string", 25) for s in rec.enum_strings) or ("", "")
        indexed = len(set(strings)) < len(strings)  # states that share a name are kept as an index
        if len(strings) > 16 or (rtype in ("bo", "bi", "busy") and len(strings) > 2):
            raise ValueError(f"{len(strings)} enum strings: a {rtype} record has at most "
                             f"{2 if rtype in ('bo', 'bi', 'busy') else 16}")
        if isinstance(rec.value, (str, Macro)):
            value = rec.value
        elif isinstance(rec.value, (int, np.integer)) or rec.value is None:
            value = strings[int(rec.value or 0)] if 0 <= int(rec.value or 0) < len(strings) else None
        else:
            value = None
        if value not in strings and not isinstance(value, Macro):
            raise ValueError(f"value {rec.value!r} is not one of the enum strings {strings}")
        if indexed:
            if isinstance(value, Macro) or isinstance(rec.value, str):
                raise ValueError(f"the states {strings} share a name: give the start-up state as an index")
            value = int(rec.value or 0)
        ctype = ChannelType.ENUM
        kw.update(enum_strings=strings, value=value)
        if rec.severities:
            severities = tuple(_SEVERITIES[sev] for sev in rec.severities)
            if len(severities) != len(strings):
                raise ValueError(f"{len(severities)} state severities for {len(strings)} states")
            kw["state_severities"] = severities
            names = [f[:2] + "SV" for f in MENU_FIELDS] if rtype in ("mbbo", "mbbi") else ["ZSV", "OSV"]
            for field, sev in zip(names[:len(severities)], severities, strict=True):
                fields[field] = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")[int(sev)]
    elif kind == "string":
        ctype = ChannelType.STRING
        kw.update(value=rec.value if isinstance(rec.value, Macro) else _text(str(rec.value or ""), "value", 39))
    elif kind == "array":
        ftvl = rec.ftvl or "DOUBLE"
        ctype, nptype = _ARRAY_TYPES[ftvl]
        fields["FTVL"] = ftvl
        if isinstance(rec.nelm, Macro):
            kw.update(value=rec.nelm.then(lambda n: np.zeros(max(int(n), 1), dtype=nptype)),
                      max_length=rec.nelm.then(lambda n: max(int(n), 1)))
        else:
            nelm = max(int(rec.nelm or 1), 1)
            if nelm > _MAX_ELEMENTS:
                raise ValueError(f"NELM {nelm} is larger than {_MAX_ELEMENTS}")
            if ctype is ChannelType.CHAR and ftvl == "CHAR":
                value = rec.value if isinstance(rec.value, Macro) else _text(str(rec.value or ""), "value", nelm - 1,
                                                                             TEXT_ENCODING)
                kw.update(value=value, max_length=nelm, report_as_string=False, string_encoding=TEXT_ENCODING)
            else:
                kw.update(value=np.zeros(nelm, dtype=nptype), max_length=nelm)
    else:
        raise ValueError(f"unsupported record type {rtype!r}")
    if units and kind in ("double", "long"):
        kw["units"] = units
    if rec.asg:
        kw["asg"] = _text(rec.asg, "ASG", 28)
    kw.update(dtype=record_data_class(ctype, read_only, indexed), record=field_class(rtype), record_fields=fields)
    return kw
