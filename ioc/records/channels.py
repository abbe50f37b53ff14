"""Our channel classes: caproto's, subclassed, so that every PV refuses bad puts clearly, takes
its start-up value from the group that builds it, and (the record classes) is an EPICS record.

:class:`Channel` is mixed into each of caproto's ``Pvproperty*`` classes below (one class
each, named ``Checked...``); :class:`RecordChannel` on top makes ``Record...`` classes, whose
PVs answer their record type's fields (``.DESC``, ``.SEVR``, ``.EGU``, ``.NORD``...), built
the first time a client asks for one, so that a thousand records cost little at start-up.
Groups use these classes through :mod:`.group`'s type maps, record declarations through
:mod:`.spec`, and record field groups through :mod:`.fields`.
"""

from __future__ import annotations

from caproto import AccessRights, AlarmSeverity, AlarmStatus, ChannelAlarm, ChannelEnum, ChannelType, Forbidden
from caproto.server import (
    PVGroup,
    PvpropertyBoolEnum,
    PvpropertyBoolEnumRO,
    PvpropertyByte,
    PvpropertyByteRO,
    PvpropertyChar,
    PvpropertyCharRO,
    PvpropertyData,
    PvpropertyDouble,
    PvpropertyDoubleRO,
    PvpropertyEnum,
    PvpropertyEnumRO,
    PvpropertyFloat,
    PvpropertyFloatRO,
    PvpropertyInteger,
    PvpropertyIntegerRO,
    PvpropertyReadOnlyData,
    PvpropertyShort,
    PvpropertyShortRO,
    PvpropertyString,
    PvpropertyStringRO,
    menus,
)

from .checks import PutRefused, check_put, put_disabled_reason, pv_name, read_only_reason
from .macros import Macro

_ALARM_STATUS = menus.menuAlarmStat.get_string_tuple()
_ALARM_SEVERITY = menus.menuAlarmSevr.get_string_tuple()


def _state_severity(severities: tuple, strings: tuple, value) -> AlarmSeverity:
    """The alarm severity of state ``value`` (a menu string or index), NO_ALARM if none."""
    try:
        state = list(strings).index(value) if isinstance(value, str) else int(value)
        return severities[state]
    except (ValueError, TypeError, IndexError):
        return AlarmSeverity.NO_ALARM


def run_now(coro):
    """The result of a coroutine that never suspends (a field's getter reading its record)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("a record field's getter suspended")


class Channel:
    """Mixin of every channel class of the IOC.

    At construction: a :class:`~.macros.Macro` value or length is resolved from the group's
    ``macros``; in a record's field group (which has ``initial_values``), a field takes the
    value the record gives it, or its getter's (``.EGU``, ``.PREC``, ``.ZNAM`` mirror the
    record), so a client's first monitor update carries it.

    On a client's put: refused, naming the PV, if the PV is read-only; checked by
    :func:`~.checks.check_put` before caproto converts it; a refusal sets WRITE/MAJOR, and the
    next accepted put clears it.

    ``asg`` is the access security group of the record the channel belongs to ('' is
    DEFAULT), for the rights a client gets (``check_access``) once access security is enforced.
    """

    asg = ""

    def __init__(self, *args, value=None, max_length=None, group=None, pvspec=None, **kwargs) -> None:
        macros = getattr(group, "macros", None) or {}
        if isinstance(value, Macro):
            value = value.resolve(macros)
        if isinstance(max_length, Macro):
            max_length = max_length.resolve(macros)
        initial = getattr(group, "initial_values", None)
        if initial is not None and pvspec is not None:
            if pvspec.name in initial:
                value = initial[pvspec.name]
            elif pvspec.get is not None:
                got = run_now(pvspec.get(group, None))
                if got is not None:
                    value = got
        super().__init__(*args, value=value, max_length=max_length, group=group, pvspec=pvspec, **kwargs)

    async def auth_write(self, hostname, username, data, data_type, metadata, *, flags=0, user_address=None):
        """A client's put: refused, naming the PV, if the PV is read-only."""
        if AccessRights.WRITE not in self.check_access(hostname, username):
            raise Forbidden(read_only_reason(self))
        return await super().auth_write(hostname, username, data, data_type, metadata, flags=flags,
                                        user_address=user_address)

    async def write_from_dbr(self, data, data_type, metadata, *, flags=0):
        """A client's put, checked before caproto converts it; a refusal names the PV and says why."""
        if data_type in (ChannelType.PUT_ACKS, ChannelType.PUT_ACKT):  # alarm acknowledgement
            return await super().write_from_dbr(data, data_type, metadata, flags=flags)
        disabled = put_disabled_reason(self)
        if disabled:  # dbPut's S_db_putDisabled: no alarm, the record is untouched
            raise PutRefused(disabled)
        try:
            text = check_put(self, data, data_type)
            if text is None:
                result = await super().write_from_dbr(data, data_type, metadata, flags=flags)
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
        # PVs on each put, but not of enums and text, so clear it here for all. WRITE/INVALID
        # is a putter's own (an asyn write that failed, as devAsynOctet flags it) and stays.
        if self.alarm.status == AlarmStatus.WRITE and self.alarm.severity == AlarmSeverity.MAJOR_ALARM:
            await self.alarm.write(status=AlarmStatus.NO_ALARM, severity=AlarmSeverity.NO_ALARM)
        return result


class CheckedChar(Channel, PvpropertyChar):
    """Text (a char array) with checked puts."""


class CheckedCharRO(Channel, PvpropertyCharRO):
    """Read-only text (a char array)."""


class CheckedByte(Channel, PvpropertyByte):
    """Bytes (a char array) with checked puts."""


class CheckedByteRO(Channel, PvpropertyByteRO):
    """Read-only bytes."""


class CheckedShort(Channel, PvpropertyShort):
    """A 16-bit integer (DBR_INT) with checked puts."""


class CheckedShortRO(Channel, PvpropertyShortRO):
    """A read-only 16-bit integer."""


class CheckedInteger(Channel, PvpropertyInteger):
    """A 32-bit integer (DBR_LONG) with checked puts."""


class CheckedIntegerRO(Channel, PvpropertyIntegerRO):
    """A read-only 32-bit integer."""


class CheckedFloat(Channel, PvpropertyFloat):
    """A 32-bit float with checked puts."""


class CheckedFloatRO(Channel, PvpropertyFloatRO):
    """A read-only 32-bit float."""


class CheckedDouble(Channel, PvpropertyDouble):
    """A 64-bit float with checked puts."""


class CheckedDoubleRO(Channel, PvpropertyDoubleRO):
    """A read-only 64-bit float."""


class CheckedString(Channel, PvpropertyString):
    """A CA string (40 bytes) with checked puts."""


class CheckedStringRO(Channel, PvpropertyStringRO):
    """A read-only CA string."""


class CheckedEnum(Channel, PvpropertyEnum):
    """An enum with checked puts."""


class CheckedEnumRO(Channel, PvpropertyEnumRO):
    """A read-only enum."""


class CheckedBoolEnum(Channel, PvpropertyBoolEnum):
    """A two-state enum with checked puts."""


class CheckedBoolEnumRO(Channel, PvpropertyBoolEnumRO):
    """A read-only two-state enum."""


class _IndexedEnumData(ChannelEnum):
    """An enum that keeps its state as an index: caproto keeps an enum's value as its string,
    which cannot tell apart states of the same name."""

    async def verify_value(self, data):
        return self.enum_strings.index(data) if isinstance(data, str) else int(data)


class CheckedIndexedEnum(Channel, PvpropertyData, _IndexedEnumData):
    """An enum whose states share a name (a bo with no ZNAM/ONAM serves two empty strings, as
    EPICS does), its state kept as an index, with checked puts."""


class CheckedIndexedEnumRO(Channel, PvpropertyReadOnlyData, _IndexedEnumData):
    """A read-only enum whose states share a name."""


#: caproto's channel class -> ours (record fields name caproto's classes).
CHECKED = {
    PvpropertyChar: CheckedChar, PvpropertyCharRO: CheckedCharRO, PvpropertyByte: CheckedByte,
    PvpropertyByteRO: CheckedByteRO, PvpropertyShort: CheckedShort, PvpropertyShortRO: CheckedShortRO,
    PvpropertyInteger: CheckedInteger, PvpropertyIntegerRO: CheckedIntegerRO, PvpropertyFloat: CheckedFloat,
    PvpropertyFloatRO: CheckedFloatRO, PvpropertyDouble: CheckedDouble, PvpropertyDoubleRO: CheckedDoubleRO,
    PvpropertyString: CheckedString, PvpropertyStringRO: CheckedStringRO, PvpropertyEnum: CheckedEnum,
    PvpropertyEnumRO: CheckedEnumRO, PvpropertyBoolEnum: CheckedBoolEnum, PvpropertyBoolEnumRO: CheckedBoolEnumRO,
}
#: pvproperty ``dtype`` -> our class, as caproto's ``PVGroup.type_map`` (and its read-only map).
TYPE_MAP = {key: CHECKED[cls] for key, cls in PVGroup.type_map.items()}
TYPE_MAP_READ_ONLY = {key: CHECKED[cls] for key, cls in PVGroup.type_map_read_only.items()}


class RecordChannel:
    """Mixin: the PV is a record of ``record`` type (a field group class of :mod:`.fields`)
    whose fields are made on the first request for one (``get_field``), not at start-up.

    ``record_fields`` are field values from the template (``{"SCAN": "I/O Intr"}``); ``desc``
    is the record's DESC; ``state_severities`` the alarm severity of each state of a
    bi/mbbi-like record; ``valid`` a range the record's putter checks (low, high, what);
    ``asg`` its access security group.
    """

    def __init__(self, *args, record=None, record_fields: dict | None = None, desc: str | None = None,
                 state_severities: tuple = (), valid: tuple | None = None, asg: str = "", **kwargs) -> None:
        self._state_severities = state_severities
        severity = _state_severity(state_severities, kwargs.get("enum_strings") or (), kwargs.get("value"))
        if severity:  # the start-up state's alarm, given to caproto as the channel's alarm
            kwargs["alarm"] = ChannelAlarm(status=AlarmStatus.STATE, severity=severity)
        super().__init__(*args, record=None, **kwargs)
        self._record_class = record
        self._record_fields = dict(record_fields or {})
        if self._record_class is not None:
            self.record_type = self.reported_record_type = self._record_class._record_type
        self.desc = desc  # DESC (caproto sets __doc__ to the full description after this)
        self.valid = valid
        self.asg = asg

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

    def get_field(self, field: str):
        if field and field != "VAL" and self.field_inst is None and self._record_class is not None:
            self._build_fields()
        return super().get_field(field)

    def _build_fields(self) -> None:
        # The alarm so far (later changes reach the fields through the alarm's publish).
        initial = dict(self._record_fields, STAT=_ALARM_STATUS[int(self.alarm.status)],
                       SEVR=_ALARM_SEVERITY[int(self.alarm.severity)])
        self.field_inst = self._record_class(prefix="", parent=self, name=f"{self.name}.fields",
                                             initial_values=initial)
        self.fields = self.field_inst.pvdb

    async def update_fields(self, value) -> None:
        """caproto's hook on every write of the record: NORD follows the value."""
        await super().update_fields(value)
        nord = self.fields.get("NORD")
        if nord is not None and nord.pvspec.get is not None:
            count = await nord.getter(nord)
            if count != nord.value:
                await nord.write(count)


class RecordString(RecordChannel, CheckedString):
    """A stringout record."""


class RecordStringRO(RecordChannel, CheckedStringRO):
    """A stringin record."""


class RecordShort(RecordChannel, CheckedShort):
    """A record of 16-bit integers (a waveform of FTVL SHORT or ENUM)."""


class RecordShortRO(RecordChannel, CheckedShortRO):
    """A read-only record of 16-bit integers."""


class RecordLong(RecordChannel, CheckedInteger):
    """A longout record (or a waveform of FTVL LONG)."""


class RecordLongRO(RecordChannel, CheckedIntegerRO):
    """A longin record."""


class RecordDouble(RecordChannel, CheckedDouble):
    """An ao record (or calcout, dfanout; a waveform of FTVL DOUBLE)."""


class RecordDoubleRO(RecordChannel, CheckedDoubleRO):
    """An ai record (or calc)."""


class RecordFloat(RecordChannel, CheckedFloat):
    """A waveform of FTVL FLOAT."""


class RecordFloatRO(RecordChannel, CheckedFloatRO):
    """A read-only waveform of FTVL FLOAT."""


class RecordEnum(RecordChannel, CheckedEnum):
    """A bo, busy or mbbo record."""


class RecordEnumRO(RecordChannel, CheckedEnumRO):
    """A bi or mbbi record."""


class RecordChar(RecordChannel, CheckedChar):
    """A waveform of FTVL CHAR (text, UTF-8 on the wire)."""


class RecordCharRO(RecordChannel, CheckedCharRO):
    """A read-only waveform of FTVL CHAR."""


class RecordIndexedEnum(RecordChannel, CheckedIndexedEnum):
    """A bo or busy record whose states share a name (no ZNAM/ONAM)."""


class RecordIndexedEnumRO(RecordChannel, CheckedIndexedEnumRO):
    """A bi record whose states share a name."""


_RECORD_CLASSES = {
    (ChannelType.STRING, False): RecordString, (ChannelType.STRING, True): RecordStringRO,
    (ChannelType.INT, False): RecordShort, (ChannelType.INT, True): RecordShortRO,
    (ChannelType.LONG, False): RecordLong, (ChannelType.LONG, True): RecordLongRO,
    (ChannelType.DOUBLE, False): RecordDouble, (ChannelType.DOUBLE, True): RecordDoubleRO,
    (ChannelType.FLOAT, False): RecordFloat, (ChannelType.FLOAT, True): RecordFloatRO,
    (ChannelType.ENUM, False): RecordEnum, (ChannelType.ENUM, True): RecordEnumRO,
    (ChannelType.CHAR, False): RecordChar, (ChannelType.CHAR, True): RecordCharRO,
}


def record_data_class(ctype: ChannelType, read_only: bool, indexed: bool = False) -> type:
    """The pvproperty data class of a record whose VAL has CA type ``ctype`` (``indexed``: an
    enum whose states share a name, kept as an index)."""
    if indexed:
        return RecordIndexedEnumRO if read_only else RecordIndexedEnum
    return _RECORD_CLASSES[(ctype, bool(read_only))]
