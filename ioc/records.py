"""Turn areaDetector record definitions (:mod:`ioc.adcore_records`) into caproto pvproperties
that are EPICS records, and make every served PV refuse bad puts clearly (:func:`harden`).

Each PV is the record type the template declares (``ao``, ``longin``, ``mbbo``, ``busy``,
``waveform``...) and answers that type's fields (``.DESC``, ``.SEVR``, ``.EGU``, ``.NORD``...);
a record's fields are built the first time a client asks for one of them, so ~800 records
cost little at start-up. A setting with a readback (``AcquireTime`` / ``AcquireTime_RBV``)
becomes two records: the setpoint echoes every accepted value into its readback, as
areaDetector's asyn records do. Read-only records (``..._RBV``, inputs) refuse puts. Each PV
has its own alarm state. Text (char waveforms) is UTF-8 on the wire.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Iterator

import numpy as np
from caproto import (
    AccessRights,
    AlarmSeverity,
    AlarmStatus,
    ChannelChar,
    ChannelData,
    ChannelEnum,
    ChannelNumeric,
    ChannelString,
    ChannelType,
    Forbidden,
    native_float_types,
    native_type,
)
from caproto.server import PVGroup, pvproperty
from caproto.server.records import RecordFieldGroup, get_record_registry

from .adcore_records import Record

TEXT_ENCODING = "utf-8"  # of char waveforms (paths, names, messages): what Python and the file system use
# Waveform records whose template reads them from the driver (asyn...ArrayIn, asynOctetRead):
# inputs, so clients cannot write them, though the record type is the same as an output's.
INPUT_WAVEFORMS = frozenset({"ArrayData", "WriteMessage"})

# Output record types: a client may write them (unless INPUT_WAVEFORMS or an _RBV name).
_OUTPUTS = {"ao", "longout", "bo", "busy", "mbbo", "stringout", "waveform", "calcout", "dfanout", "fanout",
            "sseq", "asyn"}
# The input record type of a setpoint's ``_RBV`` readback, where the template does not say.
_INPUT_OF = {"ao": "ai", "longout": "longin", "bo": "bi", "busy": "bi", "mbbo": "mbbi", "stringout": "stringin",
             "waveform": "waveform"}
# The CA type of each record type's VAL (waveforms: their FTVL).
_VALUE_TYPE = {
    "ao": "double", "ai": "double", "calc": "double", "calcout": "double", "dfanout": "double",
    "longout": "long", "longin": "long", "fanout": "long", "sseq": "long", "asyn": "long",
    "bo": "enum", "bi": "enum", "busy": "enum", "mbbo": "enum", "mbbi": "enum",
    "stringout": "string", "stringin": "string", "waveform": "array", "subArray": "array",
}


# -- records and their fields ------------------------------------------------------------

_CAPROTO_FIELDS = get_record_registry()
# Record types caproto has no field set for, served with the fields of the nearest type:
# busy (synApps busy) is a bo with the same fields clients use (ZNAM/ONAM, DESC, SCAN...);
# sseq (synApps calc) is seq with string values, whose fields seq has under the same names.
_FIELDS_LIKE = {"busy": "bo", "sseq": "seq"}


async def _parent_units(group: RecordFieldGroup, instance) -> str:
    return getattr(group.parent, "units", "") or ""


async def _set_parent_units(group: RecordFieldGroup, instance, value) -> None:
    await group.parent.write_metadata(units=str(value))


async def _parent_desc(group: RecordFieldGroup, instance) -> str:
    return getattr(group.parent, "desc", None) or _desc(group.parent.__doc__ or "")


async def _set_parent_desc(group: RecordFieldGroup, instance, value) -> None:
    group.parent.desc = str(value)


_MENU_FIELDS = ("ZRST", "ONST", "TWST", "THST", "FRST", "FVST", "SXST", "SVST", "EIST", "NIST", "TEST", "ELST",
                "TVST", "TTST", "FTST", "FFST")


def _menu_string(index: int):
    async def menu_string(group: RecordFieldGroup, instance) -> str:
        strings = group.parent.enum_strings
        return strings[index] if index < len(strings) else ""
    return menu_string


async def _elements_read(group: RecordFieldGroup, instance) -> int:
    """NORD: the elements the record holds (a char waveform's text with its NUL, as asyn sets)."""
    value = group.parent.value
    if isinstance(value, str):
        return len(value.encode(TEXT_ENCODING)) + 1 if value else 0
    return int(np.size(value))


_FIELD_CLASSES: dict[str, type[RecordFieldGroup]] = {}


def field_class(record_type: str) -> type[RecordFieldGroup]:
    """The fields of an EPICS record type: caproto's set, subclassed so that ``.EGU`` reads
    the value's units, ``.NORD`` the elements held, ``.DESC`` the record's description and
    every menu string (``.ZRST``...) the record's menu (caproto leaves these unset)."""
    if record_type not in _FIELD_CLASSES:
        base = _CAPROTO_FIELDS.get(_FIELDS_LIKE.get(record_type, record_type))
        if base is None:
            raise ValueError(f"unsupported record type {record_type!r}")
        namespace: dict = {"_record_type": record_type, "__doc__": f"Fields of a {record_type} record."}
        for attr, prop in base._pvs_.items():
            name = prop.pvspec.name
            if name == "EGU" and prop.pvspec.get is None:
                namespace[attr] = copy.copy(prop).getter(_parent_units).putter(_set_parent_units)
            elif name == "DESC":
                namespace[attr] = copy.copy(prop).getter(_parent_desc).putter(_set_parent_desc)
            elif name in _MENU_FIELDS and record_type in ("mbbo", "mbbi") and prop.pvspec.get is None:
                namespace[attr] = copy.copy(prop).getter(_menu_string(_MENU_FIELDS.index(name)))
            elif name == "NORD" and record_type in ("waveform", "subArray"):
                namespace[attr] = copy.copy(prop).getter(_elements_read)
        _FIELD_CLASSES[record_type] = type(f"{record_type.capitalize()}RecordFields", (base,), namespace)
    return _FIELD_CLASSES[record_type]


class RecordChannel:
    """Mixin for caproto's pvproperty data classes: the PV is a record of ``record`` type
    whose fields are made on the first request for one (``get_field``), not at start-up.

    ``record_fields`` are field values from the template (``{"SCAN": "I/O Intr"}``);
    ``desc`` is the record's DESC.
    """

    def __init__(self, *args, record=None, record_fields: dict | None = None, desc: str | None = None,
                 state_severities: tuple = (), **kwargs) -> None:
        super().__init__(*args, record=None, **kwargs)
        self._state_severities = state_severities
        if state_severities and self.alarm is not None:  # the start-up state's alarm
            try:
                severity = state_severities[self.enum_strings.index(self.value)]
            except ValueError:
                severity = AlarmSeverity.NO_ALARM
            if severity:  # no client or loop yet: set the alarm's data as its constructor does
                self.alarm._data.update(status=AlarmStatus.STATE, severity=severity)
        self._record_class = field_class(record) if isinstance(record, str) else record
        self._record_fields = dict(record_fields or {})
        if self._record_class is not None:
            self.record_type = self.reported_record_type = self._record_class._record_type
        self.desc = desc  # DESC (caproto sets __doc__ to the full description after this)

    async def write(self, value, *args, **metadata):
        """As a bi/mbbi record with state severities (ZSV/OSV, ZRSV...): each state raises its
        alarm (STATE) unless the writer sets the alarm itself."""
        if self._state_severities and "severity" not in metadata:
            try:
                state = self.enum_strings.index(value) if isinstance(value, str) else int(value)
                severity = self._state_severities[state]
            except (ValueError, TypeError, IndexError):
                pass
            else:
                metadata["severity"] = severity
                metadata.setdefault("status", AlarmStatus.STATE if severity else AlarmStatus.NO_ALARM)
        return await super().write(value, *args, **metadata)

    def get_field(self, field: str) -> ChannelData:
        if field and field != "VAL" and self.field_inst is None and self._record_class is not None:
            self._build_fields()
        return super().get_field(field)

    def _build_fields(self) -> None:
        inst = self._record_class(prefix="", parent=self, name=f"{self.name}.fields")
        for name, value in self._record_fields.items():
            inst.pvdb[name]._data["value"] = value
        # Fields that mirror the record (DESC, EGU, PREC, ZNAM...) hold their value from the
        # start: a client's first monitor update carries the stored value, not the getter's.
        for chan in inst.pvdb.values():
            if chan.pvspec.get is not None:
                value = _run_now(chan.getter(chan))
                if value is not None:
                    chan._data["value"] = value
        # The alarm so far (later changes reach the fields through the alarm's publish).
        inst.alarm_status._data["value"] = inst.alarm_status.enum_strings[int(self.alarm.status)]
        inst.current_alarm_severity._data["value"] = inst.current_alarm_severity.enum_strings[
            int(self.alarm.severity)]
        harden(inst.pvdb)
        self.field_inst = inst
        self.fields = inst.pvdb

    async def update_fields(self, value) -> None:
        """caproto's hook on every write of the record: NORD follows the value."""
        await super().update_fields(value)
        nord = self.fields.get("NORD")
        if nord is not None and nord.pvspec.get is not None:
            count = await nord.getter(nord)
            if count != nord.value:
                await nord.write(count)


def _run_now(coro):
    """The result of a coroutine that never suspends (a field's getter reading its record)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a record field's getter suspended")


def _record_data_classes(type_map: dict) -> dict:
    return {ctype: type(f"Record{cls.__name__}", (RecordChannel, cls), {"__doc__": cls.__doc__})
            for ctype, cls in type_map.items() if isinstance(ctype, ChannelType)}


_RECORD_DATA = {False: _record_data_classes(PVGroup.type_map), True: _record_data_classes(PVGroup.type_map_read_only)}


def record_data_class(ctype: ChannelType, read_only: bool) -> type:
    """The pvproperty data class of a record whose VAL has CA type ``ctype``."""
    return _RECORD_DATA[bool(read_only)][ctype]


def _desc(doc: str) -> str:
    """A DESC (40 characters at most, latin-1 as CA strings are) from a longer description."""
    text = doc.encode("latin-1", "replace").decode("latin-1")
    if len(text) > 40 and len(text.split(" (")[0]) >= 8:  # an aside in parentheses goes first
        text = text.split(" (")[0]
    if len(text) <= 40:
        return text
    cut = text[:40].rsplit(" ", 1)[0].rstrip(",;:(")
    return cut if len(cut) >= 20 else text[:40]


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


_PV_SUFFIX = re.compile(r"[A-Za-z0-9_:\-\[\]<>;]+")  # characters EPICS allows in record names (a dot starts a field)
_MAX_ELEMENTS = 2**24  # a waveform larger than this is surely a mistake in the record table
_INT32 = (-(2**31), 2**31 - 1)


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
    if not (isinstance(rec.suffix, str) and _PV_SUFFIX.fullmatch(rec.suffix)):
        raise ValueError("not a valid PV name suffix")
    if readback:
        rtype = rec.rbv_record or _INPUT_OF.get(rec.record, rec.record)
    else:
        rtype = rec.record
    name = rec.suffix + ("_RBV" if readback else "")
    read_only = (readback or rec.record not in _OUTPUTS or rec.suffix.endswith("_RBV")
                 or rec.suffix in INPUT_WAVEFORMS or (rec.record == "waveform" and rec.suffix.startswith("TS")))
    doc = str(rec.doc or name)
    kind = _VALUE_TYPE.get(rtype)
    fields: dict = {"SCAN": "I/O Intr" if read_only else "Passive"}
    kw: dict = dict(name=name, read_only=read_only, doc=doc, alarm_group=name, desc=_desc(doc))
    units = _text(rec.units or "", "units", 7)  # CA carries 8 bytes with the NUL
    if kind == "double":
        if not (isinstance(rec.precision, int) and 0 <= rec.precision <= 17):
            raise ValueError(f"precision must be a whole number from 0 to 17, not {rec.precision!r}")
        ctype = ChannelType.DOUBLE
        precision = rec.rbv_precision if readback and rec.rbv_precision >= 0 else rec.precision
        kw.update(value=float(rec.value or 0), precision=precision)
    elif kind == "long":
        value = rec.value or 0
        if isinstance(value, float) and value != int(value) or not _INT32[0] <= int(value) <= _INT32[1]:
            raise ValueError(f"value {value!r} is not a 32-bit integer")
        ctype = ChannelType.LONG
        kw.update(value=int(value))
    elif kind == "enum":
        menu = rec.rbv_enum_strings if readback and rec.rbv_enum_strings else rec.enum_strings
        strings = tuple(_text(s, "enum string", 25) for s in menu) or ("0", "1")
        if len(strings) > 16 or (rtype in ("bo", "bi", "busy") and len(strings) > 2):
            raise ValueError(f"{len(strings)} enum strings: a {rtype} record has at most "
                             f"{2 if rtype in ('bo', 'bi', 'busy') else 16}")
        if isinstance(rec.value, str):
            value = rec.value
        elif isinstance(rec.value, (int, np.integer)) or rec.value is None:
            value = strings[int(rec.value or 0)] if 0 <= int(rec.value or 0) < len(strings) else None
        else:
            value = None
        if value not in strings:
            raise ValueError(f"value {rec.value!r} is not one of the enum strings {strings}")
        ctype = ChannelType.ENUM
        kw.update(enum_strings=strings, value=value)
        severities = rec.rbv_severities if readback else rec.severities
        if severities:
            severities = tuple(AlarmSeverity[{"MINOR": "MINOR_ALARM", "MAJOR": "MAJOR_ALARM",
                                              "INVALID": "INVALID_ALARM"}.get(sev, sev)] for sev in severities)
            if len(severities) != len(strings):
                raise ValueError(f"{len(severities)} state severities for {len(strings)} states")
            kw["state_severities"] = severities
            names = [f[:2] + "SV" for f in _MENU_FIELDS] if rtype in ("mbbo", "mbbi") else ["ZSV", "OSV"]
            for name, sev in zip(names[:len(severities)], severities, strict=True):
                fields[name] = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")[int(sev)]
    elif kind == "string":
        ctype = ChannelType.STRING
        kw.update(value=_text(str(rec.value or ""), "value", 39))
    elif kind == "array":
        ftvl = rec.ftvl or "DOUBLE"
        ctype, nptype = _ARRAY_TYPES[ftvl]
        nelm = max(int(rec.nelm or 1), 1)
        if nelm > _MAX_ELEMENTS:
            raise ValueError(f"NELM {nelm} is larger than {_MAX_ELEMENTS}")
        fields["FTVL"] = ftvl
        if ctype is ChannelType.CHAR and ftvl == "CHAR":
            value = _text(str(rec.value or ""), "value", nelm - 1, TEXT_ENCODING)
            kw.update(value=value, max_length=nelm, report_as_string=False, string_encoding=TEXT_ENCODING)
        else:
            kw.update(value=np.zeros(nelm, dtype=nptype), max_length=nelm)
    else:
        raise ValueError(f"unsupported record type {rtype!r}")
    if units and kind in ("double", "long"):
        kw["units"] = units
    kw.update(dtype=record_data_class(ctype, read_only), record=field_class(rtype), record_fields=fields)
    return kw


def _readback_value(setpoint: ChannelData, value):
    """A setpoint's value as its readback takes it: an enum by index, as the readback's menu
    may name the states differently (Capture 'Capture' is Capture_RBV 'Capturing')."""
    if isinstance(setpoint, ChannelEnum) and isinstance(value, str) and value in setpoint.enum_strings:
        return setpoint.enum_strings.index(value)
    return value


async def echo_to_readback(group: PVGroup, instance, value):
    """Default putter: accept the value and mirror it into the ``_RBV`` PV, if there is one."""
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
    """The record with ``suffix`` in ``records``: the last definition, as later templates
    redefine a record (simDetector's ColorMode menu replaces ADBase's)."""
    found = [rec for rec in records if rec.suffix == suffix]
    if not found:
        raise KeyError(suffix)
    return found[-1]


# -- refusing bad puts -------------------------------------------------------------------
#
# caproto converts a client's value to the PV's type before any putter sees it, and a value
# it cannot convert comes back to the client as "CaprotoConversionError" with no message;
# some values convert silently into nonsense (NaN into a long becomes -2147483648, -1 into
# an enum becomes 65535 and then breaks every read of the PV). :func:`harden` makes every
# PV check the value as it arrives, so every refusal names the PV and says why, and sets
# the PV's alarm to WRITE/MAJOR; the next accepted put clears that alarm again, for every
# PV type. Read-only PVs refuse puts with a message naming them.

_INT_RANGES = {
    ChannelType.INT: (-(2**15), 2**15 - 1),
    ChannelType.LONG: (-(2**31), 2**31 - 1),
    ChannelType.CHAR: (-(2**7), 2**8 - 1),  # CA's CHAR is a byte, signed or not
}
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class PutRefused(ValueError):
    """A client's put that the IOC refuses; the message names the PV and says why."""


def _text_from_wire(raw: bytes, encoding: str, max_length: int) -> str:
    """The text a char waveform put carries; ValueError if it is not text that fits."""
    raw = raw.split(b"\0", 1)[0]
    if len(raw) >= max_length:
        raise ValueError(f"text of {len(raw)} bytes is too long: at most {max_length - 1} fit")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ValueError(f"text is not valid {encoding.upper()} (byte 0x{raw[exc.start]:02x} "
                         f"at position {exc.start})") from None
    control = next((c for c in text if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if control is not None:
        raise ValueError(f"text contains the control character {control!r}")
    return text


def _strings(data) -> list[str]:
    """DBR_STRING values as Python strings (latin-1, as CA strings have no encoding)."""
    items = [data] if isinstance(data, (bytes, bytearray, str)) else list(data)  # DbrStringArray
    return [bytes(v).split(b"\0", 1)[0].decode("latin-1") if isinstance(v, (bytes, bytearray)) else str(v)
            for v in items]


def _numbers(data) -> np.ndarray:
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], np.ndarray):
        data = data[0]
    return np.asarray(data).ravel()


def _parse_number(text: str, integer: bool) -> float:
    """A number from a client's string, as caproto will convert it (empty means 0)."""
    if not text:
        return 0
    try:
        return int(text) if integer else float(text)
    except ValueError:
        pass
    try:
        float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    raise ValueError(f"{text!r} is not a whole number")


def _check_number(value: float, target: ChannelType) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    if target in _INT_RANGES:
        low, high = _INT_RANGES[target]
        if value != int(value):
            raise ValueError(f"{value} is not a whole number")
        if not low <= value <= high:
            raise ValueError(f"{value:.0f} is out of range ({low} to {high})")
    elif target == ChannelType.FLOAT and abs(value) > _FLOAT32_MAX:
        raise ValueError(f"{value} is out of range for a 32-bit float")


def _choices(chan: ChannelEnum) -> str:
    return ", ".join(f"{i} = {s!r}" for i, s in enumerate(chan.enum_strings))


def check_put(chan: ChannelData, data, data_type: ChannelType) -> str | None:
    """Raise ValueError (saying why) if a client's put of ``data`` as ``data_type`` is not a
    value ``chan`` can take; pass it otherwise, for caproto to convert. For text sent as
    DBR_CHAR to a char waveform, return the text (caproto cannot convert an empty one)."""
    source = native_type(data_type)
    if isinstance(chan, ChannelEnum):
        strings = chan.enum_strings
        if source == ChannelType.STRING:
            for text in _strings(data):
                if text not in strings:
                    raise ValueError(f"{text!r} is not one of the choices ({_choices(chan)})")
            return
        for value in _numbers(data):
            value = float(value)
            if not (math.isfinite(value) and value == int(value) and 0 <= value < len(strings)):
                raise ValueError(f"{value:g} is not one of the choices ({_choices(chan)})")
        return
    if isinstance(chan, ChannelChar) and chan.string_encoding:
        limit = chan.long_string_max_length
        if source == ChannelType.CHAR:
            raw = _numbers(data).astype(np.uint8).tobytes()
        elif source == ChannelType.STRING:
            if chan.data_type != ChannelType.STRING:
                raise ValueError("text goes to this char waveform as DBR_CHAR (e.g. caput -S), not DBR_STRING")
            raw = _strings(data)[0].encode("latin-1")
        else:
            values = [float(v) for v in _numbers(data)]
            for value in values:
                _check_number(value, ChannelType.CHAR)
            raw = bytes(int(v) % 256 for v in values)
        text = _text_from_wire(raw, chan.string_encoding, limit)
        return text if source == ChannelType.CHAR and chan.data_type == ChannelType.CHAR else None
    if isinstance(chan, ChannelString):
        return  # any CA string fits (40 bytes at most on the wire)
    if isinstance(chan, ChannelNumeric):  # ChannelByte too
        target = chan.data_type
        integer = target not in native_float_types
        if source == ChannelType.STRING:
            values = [_parse_number(text, integer) for text in _strings(data)]
        else:
            values = [float(v) for v in _numbers(data)]
        if not integer and _has_own_checks(chan):
            return  # NaN and inf stay NaN and inf as floats: the PV's putter explains its range
        for value in values:
            _check_number(value, target)


def pv_name(chan: ChannelData) -> str:
    """The name a client uses for ``chan``: ``BL:mtr:dotx.VELO`` for a record field (whose
    own ``pvname`` is just the field's name)."""
    record = getattr(getattr(chan, "group", None), "parent", None)
    if isinstance(record, ChannelData) and getattr(record, "field_inst", None) is chan.group:
        return f"{record.pvname}.{chan.pvspec.name}"
    return chan.pvname


def _has_own_checks(chan: ChannelData) -> bool:
    """True if a putter of this IOC's own validates the PV's values (with a message more
    specific than the generic one), rather than caproto's or :func:`echo_to_readback`."""
    func = getattr(getattr(chan, "putter", None), "__func__", getattr(chan, "putter", None))
    return func is not None and func not in (PVGroup.group_write, echo_to_readback)


def _read_only_reason(chan: ChannelData) -> str:
    name = pv_name(chan)
    group = getattr(chan, "group", None)
    setpoint = name[: -len("_RBV")] if name.endswith("_RBV") else None
    if setpoint and group is not None and setpoint in getattr(group, "pvdb", {}):
        return f"{name} is a read-only readback: put to {setpoint} instead"
    return f"{name} is read-only: the IOC sets it, clients cannot"


async def _auth_write(self, hostname, username, data, data_type, metadata, *, flags=0, user_address=None):
    """A client's put: refused, naming the PV, if the PV is read-only."""
    if AccessRights.WRITE not in self.check_access(hostname, username):
        raise Forbidden(_read_only_reason(self))
    return await self._unchecked.auth_write(self, hostname, username, data, data_type, metadata, flags=flags,
                                            user_address=user_address)


async def _write_from_dbr(self, data, data_type, metadata, *, flags=0):
    """A client's put, checked before caproto converts it; a refusal names the PV and says why."""
    unchecked = self._unchecked.write_from_dbr
    if data_type in (ChannelType.PUT_ACKS, ChannelType.PUT_ACKT):  # alarm acknowledgement
        return await unchecked(self, data, data_type, metadata, flags=flags)
    try:
        text = check_put(self, data, data_type)
        if text is None:
            result = await unchecked(self, data, data_type, metadata, flags=flags)
        else:  # decoded already; caproto's own conversion fails on "" (clearing a file name)
            result = await self.write(text, flags=flags)
    except Exception as exc:
        if self.alarm.status != AlarmStatus.WRITE:  # caproto sets it only when a putter refuses
            await self.alarm.write(status=AlarmStatus.WRITE, severity=AlarmSeverity.MAJOR_ALARM)
        message = str(exc) or type(exc).__name__
        name = pv_name(self)
        if isinstance(exc, PutRefused) or message.startswith(name):
            raise
        raise PutRefused(f"{name}: {message}") from exc
    # An earlier refused put left WRITE/MAJOR; caproto recomputes the alarm of numeric
    # PVs on each put, but not of enums and text, so clear it here for all.
    if self.alarm.status == AlarmStatus.WRITE:
        await self.alarm.write(status=AlarmStatus.NO_ALARM, severity=AlarmSeverity.NO_ALARM)
    return result


_CHECKED: dict[type, type] = {}


def _checked_class(cls: type) -> type:
    """``cls`` with checked client puts (a subclass with the same layout, so that a built
    channel can be switched to it)."""
    if "_unchecked" in cls.__dict__:
        return cls
    if cls not in _CHECKED:
        _CHECKED[cls] = type(f"Checked{cls.__name__}", (cls,), {
            "__doc__": cls.__doc__, "__slots__": (), "_unchecked": cls,
            "auth_write": _auth_write, "write_from_dbr": _write_from_dbr,
        })
    return _CHECKED[cls]


def served_channels(pvdb: dict) -> Iterator[ChannelData]:
    """Every channel a client can reach: the PVs and their record fields (``.VELO``) built so
    far (a :class:`RecordChannel` checks its fields itself when it builds them)."""
    for chan in pvdb.values():
        yield chan
        yield from getattr(chan, "fields", {}).values()


def harden(pvdb: dict) -> None:
    """Give every channel of ``pvdb`` (record fields too) the put checks of :func:`check_put`.

    Done on the built channels, because caproto creates record fields (the motor record's
    ``.VELO``...) from its own classes, which no PVGroup type map reaches.
    """
    for chan in served_channels(pvdb):
        chan.__class__ = _checked_class(type(chan))


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
