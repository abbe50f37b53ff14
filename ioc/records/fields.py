"""The fields of each record type: caproto's field sets, subclassed so that every field is checked
as our channels are, and reads what the record holds.

caproto ships a field group per record type (``AoFields``...) generated from EPICS base's
dbd files. :func:`field_class` subclasses it once per type: every field becomes one of our
checked channel classes (caproto names its own classes there, which no type map reaches),
``.EGU`` reads the record's units, ``.NORD`` the elements it holds, ``.DESC`` its
description and every menu string (``.ZRST``...) its menu, which caproto leaves unset.
"""

from __future__ import annotations

import numpy as np
from caproto.server.records import RecordFieldGroup, get_record_registry
from caproto.server.records.utils import copy_pvproperties

from .channels import CHECKED, TYPE_MAP, TYPE_MAP_READ_ONLY
from .checks import PutRefused

TEXT_ENCODING = "utf-8"  # of char waveforms (paths, names, messages): what Python and the file system use
MENU_FIELDS = ("ZRST", "ONST", "TWST", "THST", "FRST", "FVST", "SXST", "SVST", "EIST", "NIST", "TEST", "ELST",
               "TVST", "TTST", "FTST", "FFST")

_CAPROTO_FIELDS = get_record_registry()
# Record types caproto has no field set for, served with the fields of the nearest type:
# busy (synApps busy) is a bo with the same fields clients use (ZNAM/ONAM, DESC, SCAN...);
# sseq (synApps calc) is seq with string values, whose fields seq has under the same names.
_FIELDS_LIKE = {"busy": "bo", "sseq": "seq"}


class FieldGroup(RecordFieldGroup):
    """A record's fields. Built by the record on first use with ``initial_values`` (the
    template's field values, the record's alarm), its fields start with those, or with what
    their getters read from the record."""

    _record_type = ""  # caproto's field groups name their type so (it serves it as .RTYP)
    type_map = TYPE_MAP
    type_map_read_only = TYPE_MAP_READ_ONLY

    def __init__(self, *args, initial_values: dict | None = None, **kwargs) -> None:
        self.initial_values = initial_values
        super().__init__(*args, **kwargs)


def desc_of(doc: str) -> str:
    """A DESC (40 characters at most, latin-1 as CA strings are) from a longer description."""
    text = doc.encode("latin-1", "replace").decode("latin-1")
    if len(text) > 40 and len(text.split(" (")[0]) >= 8:  # an aside in parentheses goes first
        text = text.split(" (")[0]
    if len(text) <= 40:
        return text
    cut = text[:40].rsplit(" ", 1)[0].rstrip(",;:(")
    return cut if len(cut) >= 20 else text[:40]


async def _parent_units(group: RecordFieldGroup, instance) -> str:
    return getattr(group.parent, "units", "") or ""


async def _set_parent_units(group: RecordFieldGroup, instance, value) -> None:
    await group.parent.write_metadata(units=str(value))


async def _parent_desc(group: RecordFieldGroup, instance) -> str:
    return getattr(group.parent, "desc", None) or desc_of(group.parent.__doc__ or "")


async def _set_parent_desc(group: RecordFieldGroup, instance, value) -> None:
    group.parent.desc = str(value)


async def _parent_asg(group: RecordFieldGroup, instance) -> str:
    return getattr(group.parent, "asg", "") or ""


async def _refuse_asg(group: RecordFieldGroup, instance, value) -> str:
    """.ASG: the record's group (caproto writes what the getter read through here); a client's other value refused."""
    if value == (getattr(group.parent, "asg", "") or ""):
        return value
    raise PutRefused(f"{instance.pvname}: a record's access security group is the IOC's to set "
                     "(the groups' rules are in its ACF, beamline-ioc --acf)")


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


def _checked(prop):
    """``prop`` (a copy of caproto's field) served by our checked class of the same kind."""
    dtype = prop.pvspec.dtype
    if dtype in CHECKED:
        # As caproto itself customises a record's fields (PvpropertyData.__init__): a new PVSpec.
        prop.pvspec = prop.pvspec._replace(dtype=CHECKED[dtype])
    return prop


_FIELD_CLASSES: dict[str, type[FieldGroup]] = {}


def field_class(record_type: str) -> type[FieldGroup]:
    """The fields of an EPICS record type (a subclass of caproto's, made once per type);
    ``"base"``: the fields every record has (DESC, SEVR, SCAN...), for a record type of our own."""
    if record_type not in _FIELD_CLASSES:
        base = RecordFieldGroup if record_type == "base" else _CAPROTO_FIELDS.get(_FIELDS_LIKE.get(record_type,
                                                                                                  record_type))
        if base is None:
            raise ValueError(f"unsupported record type {record_type!r}")
        fields: dict = {}
        copy_pvproperties(fields, base)
        namespace: dict = {"_record_type": record_type, "__doc__": f"Fields of a {record_type} record."}
        for attr, prop in fields.items():
            name = prop.pvspec.name
            prop = _checked(prop)
            if name == "EGU" and prop.pvspec.get is None:
                prop = prop.getter(_parent_units).putter(_set_parent_units)
            elif name == "DESC":
                prop = prop.getter(_parent_desc).putter(_set_parent_desc)
            elif name == "ASG":
                prop = prop.getter(_parent_asg).putter(_refuse_asg)
            elif name in MENU_FIELDS and record_type in ("mbbo", "mbbi") and prop.pvspec.get is None:
                prop = prop.getter(_menu_string(MENU_FIELDS.index(name)))
            elif name == "NORD" and record_type in ("waveform", "subArray"):
                prop = prop.getter(_elements_read)
            namespace[attr] = prop
        # A subclass made by the class statement's own machinery (caproto's PVGroupMeta).
        _FIELD_CLASSES[record_type] = type(base)(f"{record_type.capitalize()}RecordFields", (FieldGroup, base),
                                                 namespace)
    return _FIELD_CLASSES[record_type]
