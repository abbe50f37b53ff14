"""One line per record: ``acquire_time = ao("AcquireTime", 1.0, prec=3, doc=...)`` in a group's class body.

Each function declares one EPICS record of its type as a caproto ``pvproperty``: its name
after the group's prefix, start-up value, menu (``bo``/``mbbo``...), alarm severity of each
state (``sev``), EGU, PREC, FTVL and NELM, and a short description (its ``.DESC``). A
setting's readback is a record of its own, declared on the next line
(``acquire_time_rbv = ai("AcquireTime_RBV", ...)``); a setting's putter echoes each accepted
value into it (:func:`~.group.echo_to_readback`) and first checks the range ``valid`` gives
(low, high, what the value is). ``limits`` are served as the record's control limits
(HOPR/LOPR) and enforced by caproto. ``fields`` are values the template gives other fields
(``{"SCAN": "1 second"}``). Other keyword arguments go to ``pvproperty``.
"""

from __future__ import annotations

from caproto.server import pvproperty

from .group import echo_to_readback
from .spec import Record, pv_kwargs


def record(rtype: str, name: str, value=0, menu: tuple = (), *, egu: str = "", prec: int = 0, ftvl: str = "",
           nelm=0, sev: tuple = (), doc: str = "", input: bool = False, limits: tuple | None = None,
           valid: tuple | None = None, asg: str = "", fields: dict | None = None, **extra) -> pvproperty:
    """A record of type ``rtype`` (the functions below name it)."""
    kw = pv_kwargs(Record(name, rtype, value, enum_strings=tuple(menu), units=egu, precision=prec, ftvl=ftvl,
                          nelm=nelm, doc=doc, severities=tuple(sev), input=input, asg=asg))
    if fields:
        kw["record_fields"] = {**kw["record_fields"], **fields}
    if limits is not None:
        kw.update(lower_ctrl_limit=limits[0], upper_ctrl_limit=limits[1])
    if valid is not None:
        kw["valid"] = valid
    kw.update(extra)
    if not kw["read_only"]:
        kw.setdefault("put", echo_to_readback)
    return pvproperty(**kw)


def ao(name: str, value=0.0, **kw) -> pvproperty:
    """An analog output (a setting, DBR_DOUBLE)."""
    return record("ao", name, value, **kw)


def ai(name: str, value=0.0, **kw) -> pvproperty:
    """An analog input (a readback, DBR_DOUBLE)."""
    return record("ai", name, value, **kw)


def longout(name: str, value=0, **kw) -> pvproperty:
    """A long output (a setting, DBR_LONG)."""
    return record("longout", name, value, **kw)


def longin(name: str, value=0, **kw) -> pvproperty:
    """A long input (a readback, DBR_LONG)."""
    return record("longin", name, value, **kw)


def bo(name: str, value=0, menu: tuple = (), **kw) -> pvproperty:
    """A binary output: two states, ZNAM and ONAM."""
    return record("bo", name, value, menu, **kw)


def bi(name: str, value=0, menu: tuple = (), **kw) -> pvproperty:
    """A binary input."""
    return record("bi", name, value, menu, **kw)


def busy(name: str, value=0, menu: tuple = (), **kw) -> pvproperty:
    """A busy record (synApps): a bo whose put with completion waits for the work it starts."""
    return record("busy", name, value, menu, **kw)


def mbbo(name: str, value=0, menu: tuple = (), **kw) -> pvproperty:
    """A multi-bit binary output: up to 16 states, ZRST...FFST."""
    return record("mbbo", name, value, menu, **kw)


def mbbi(name: str, value=0, menu: tuple = (), **kw) -> pvproperty:
    """A multi-bit binary input."""
    return record("mbbi", name, value, menu, **kw)


def stringout(name: str, value: str = "", **kw) -> pvproperty:
    """A string output (40 characters)."""
    return record("stringout", name, value, **kw)


def stringin(name: str, value: str = "", **kw) -> pvproperty:
    """A string input."""
    return record("stringin", name, value, **kw)


def waveform(name: str, value="", *, ftvl: str = "CHAR", nelm=256, **kw) -> pvproperty:
    """A waveform: text (FTVL CHAR, UTF-8 on the wire) or an array of numbers."""
    return record("waveform", name, value, ftvl=ftvl, nelm=nelm, **kw)


def subarray(name: str, *, ftvl: str, nelm, **kw) -> pvproperty:
    """A subArray record: part of another waveform."""
    return record("subArray", name, (), ftvl=ftvl, nelm=nelm, **kw)


def calc(name: str, value=0.0, **kw) -> pvproperty:
    """A calc record: a value computed from others (served as the IOC posts it)."""
    return record("calc", name, value, **kw)


def calcout(name: str, value=0.0, **kw) -> pvproperty:
    """A calcout record: computes and writes a value elsewhere (holds its value here)."""
    return record("calcout", name, value, **kw)


def dfanout(name: str, value=0.0, **kw) -> pvproperty:
    """A dfanout record: copies its value to other records (holds its value here)."""
    return record("dfanout", name, value, **kw)


def fanout(name: str, value=0, **kw) -> pvproperty:
    """A fanout record: processes other records (holds its value here)."""
    return record("fanout", name, value, **kw)


def seq(name: str, value=0, **kw) -> pvproperty:
    """A seq record: writes a sequence of values to other records (holds its value here)."""
    return record("seq", name, value, **kw)


def sseq(name: str, value=0, **kw) -> pvproperty:
    """An sseq record (synApps calc): a sequence of writes (holds its value here)."""
    return record("sseq", name, value, **kw)


# What an asyn record shows for a port that is enabled, auto-connects and is connected.
_PORT_UP = {"CNCT": "Connect", "PCNCT": "Connect", "ENBL": "Enable", "AUCT": "autoConnect"}


def asyn(name: str, value=0, **kw) -> pvproperty:
    """An asyn record (a placeholder: it talks to no port here), showing its port connected."""
    return record("asyn", name, value, fields={**_PORT_UP, **kw.pop("fields", {})}, **kw)


def field(name: str, dtype: type, doc: str, *, value=None, menu: tuple = (), size: int | None = None) -> pvproperty:
    """One field of a record type's field group (``.VELO`` of a motor record), served by our
    channel class ``dtype`` (:mod:`.channels`; read-only if its name ends in RO)."""
    kw: dict = {}
    if menu:
        kw["enum_strings"] = tuple(menu)
    if size:
        kw.update(max_length=size, report_as_string=True)
    return pvproperty(name=name, dtype=dtype, doc=doc, value=value, read_only=dtype.__name__.endswith("RO") or None,
                      **kw)
