"""Checks of a client's put before caproto converts it: a refusal names the PV and says why.

caproto converts a client's value to the PV's type before any putter sees it, and a value
it cannot convert comes back to the client as "CaprotoConversionError" with no message;
some values convert silently into nonsense (NaN into a long becomes -2147483648, -1 into
an enum becomes 65535 and then breaks every read of the PV). Our channel classes
(:mod:`.channels`) check each value with :func:`check_put` as it arrives, so every refusal
names the PV and says why, and sets the PV's alarm to WRITE/MAJOR; the next accepted put
clears that alarm again, for every PV type. Read-only PVs refuse puts with a message naming them.
"""

from __future__ import annotations

import math

import numpy as np
from caproto import (
    ChannelChar,
    ChannelData,
    ChannelEnum,
    ChannelNumeric,
    ChannelString,
    ChannelType,
    native_float_types,
    native_type,
)
from caproto.server import PVGroup

_GENERIC_PUTTERS: set = set()
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
        if not integer and has_own_checks(chan):
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


def put_disabled_reason(chan: ChannelData) -> str | None:
    """Why a client's put to ``chan`` is refused because its record's ``.DISP`` is 1 (as dbPut
    refuses a put to any field of such a record but DISP itself), or None."""
    record = getattr(getattr(chan, "group", None), "parent", None)
    if isinstance(record, ChannelData) and getattr(record, "field_inst", None) is chan.group:
        if chan.pvspec.name == "DISP":
            return None
    else:
        record = chan  # the record's VAL
    disp = (getattr(record, "fields", None) or {}).get("DISP")
    if disp is None or not disp.value:
        return None
    return f"{pv_name(chan)}: puts to {record.pvname} are disabled (its .DISP is 1)"


def generic_putter(func):
    """Mark ``func`` as a putter that checks nothing of its own (unless the PV declares a
    range: see :func:`has_own_checks`)."""
    _GENERIC_PUTTERS.add(func)
    return func


def has_own_checks(chan: ChannelData) -> bool:
    """True if the IOC validates the PV's values itself (with a message more specific than the
    generic one): a putter of its own, or a range the PV declares (``valid``)."""
    if getattr(chan, "valid", None) is not None:
        return True
    func = getattr(getattr(chan, "putter", None), "__func__", getattr(chan, "putter", None))
    return func is not None and func is not PVGroup.group_write and func not in _GENERIC_PUTTERS


def read_only_reason(chan: ChannelData) -> str:
    name = pv_name(chan)
    group = getattr(chan, "group", None)
    setpoint = name[: -len("_RBV")] if name.endswith("_RBV") else None
    if setpoint and group is not None and setpoint in getattr(group, "pvdb", {}):
        return f"{name} is a read-only readback: put to {setpoint} instead"
    return f"{name} is read-only: the IOC sets it, clients cannot"
