"""EPICS access security's rules: who may read and write a PV, as epics-base's asLib decides
it (``modules/libcom/src/as/asLibRoutines.c``: asComputePvt, asComputeAsgPvt; the Application
Developer's Guide, "IOC Access Security"). Pure Python: the CA server asks
(:mod:`ioc.server.access_rights`), this module answers; :mod:`ioc.server.access_security`
reads the file into an :class:`AccessConfig`.

A client's rights on a PV in group G at field level ``asl`` (0: the fields operators change,
e.g. VAL; 1: the others): the highest access of G's rules that apply, a rule applying when
``asl <= level``, the user is in one of its UAGs (if it names any), the host in one of its
HAGs (if any) and its CALC (if any) is true. TRAPWRITE comes from the first WRITE rule that
applies. An INP that is disconnected or in INVALID alarm makes every CALC reading it false;
a CALC reading no declared INP is never true (base never evaluates it); an undeclared letter
next to declared ones reads 0 (base's zeroed input). Unknown group names mean DEFAULT; an
ACF without ``ASG(DEFAULT)`` gives DEFAULT no rules: no access at all, as in base.

Hosts. rsrv matches the host name the client sends, unless ``asCheckClientIP`` is set: then
each HAG entry is resolved to its IPv4 address when the file is loaded, and the client's
own IP address is matched. The name a client sends is its own claim (any client can send
``localhost``; every network namespace on one machine shares the machine's name), so the
IOC resolves by default (``check_client_ip=True``): HAG entries become addresses (all IPv4
addresses of a name, where base takes the first; a name that does not resolve matches
nobody and is reported in ``warnings``), and :meth:`AccessConfig.rights` takes the client's
address. With ``check_client_ip=False`` entries stay lower-cased names, matched against the
lower-cased name the client sent.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from .calc import INPUTS, Calc

DEFAULT = "DEFAULT"
NONE, READ, WRITE = 0, 1, 2  # asAccessRights
ACCESS_NAMES = {"NONE": NONE, "READ": READ, "WRITE": WRITE}
LEVELS = (0, 1)  # ASL0, ASL1


class ACFError(ValueError):
    """A refused access-security file: ``source:line: reason``."""

    def __init__(self, reason: str, line: int, source: str = "<acf>") -> None:
        super().__init__(f"{source}:{line}: {reason}")
        self.reason = reason
        self.line = line
        self.source = source


class Rights(NamedTuple):
    """What a client may do on one PV. ``trapwrite``: its writes are trapped (logged)."""

    read: bool
    write: bool
    trapwrite: bool


NO_ACCESS = Rights(False, False, False)


@dataclass(frozen=True)
class Rule:
    """``RULE(level, access[, TRAPWRITE]) { UAG(...) HAG(...) CALC(...) }``."""

    level: int
    access: int  # NONE, READ or WRITE
    trapwrite: bool = False
    uags: tuple[str, ...] = ()
    hags: tuple[str, ...] = ()
    calc: Calc | None = None
    line: int = 0


@dataclass(frozen=True)
class Group:
    """``ASG(name) { INPx(pv) ... RULE ... }``: ``inputs`` maps a letter A..L to its PV."""

    name: str
    inputs: Mapping[str, str] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()

    def values_from(self, pv_values: Mapping[str, float | None]) -> dict[str, float | None]:
        """``{"INPA": value, ...}`` for :meth:`AccessConfig.rights` from values by PV name."""
        return {f"INP{letter}": pv_values.get(pv) for letter, pv in self.inputs.items()}


def resolve_ipv4(host: str) -> frozenset[str]:
    """Every IPv4 address of ``host`` (a name or dotted address); empty if it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET)
    except (OSError, UnicodeError):
        return frozenset()
    return frozenset(info[4][0] for info in infos)


@dataclass(frozen=True)
class AccessConfig:
    """A loaded access-security file. ``hags`` holds addresses when ``check_client_ip``, else
    lower-cased host names; ``hag_entries`` the names as the file gave them."""

    uags: Mapping[str, frozenset[str]]
    hags: Mapping[str, frozenset[str]]
    groups: Mapping[str, Group]
    check_client_ip: bool = True
    hag_entries: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    source: str = "<acf>"

    def group(self, name: str | None) -> Group:
        """The group ``name``, or DEFAULT when it is empty or not in the file (as base)."""
        return self.groups.get(name or DEFAULT) or self.groups[DEFAULT]

    def inputs(self, name: str | None) -> dict[str, str]:
        """The INP PVs group ``name`` reads (letter -> PV): the server monitors these."""
        return dict(self.group(name).inputs)

    def input_pvs(self) -> set[str]:
        """Every PV some group's INP names."""
        return {pv for group in self.groups.values() for pv in group.inputs.values()}

    def groups_reading(self, pvname: str) -> list[str]:
        """The groups whose rights may change when ``pvname``'s value does."""
        return [g.name for g in self.groups.values() if pvname in g.inputs.values()]

    def rights(self, asg: str | None, user: str, host: str, asl: int = 0,
               values: Mapping[str, float | None] | None = None) -> Rights:
        """What ``user`` at ``host`` (an IPv4 address when ``check_client_ip``, else the name
        the client sent) may do on a field of level ``asl`` of a PV in group ``asg``.

        ``values``: ``{"INPA": 1.0, ...}``; a letter missing or None is an input that is
        disconnected or INVALID (base's ``inpBad``)."""
        group = self.group(asg)
        host = host.lower() if not self.check_client_ip else host
        values = values or {}
        access, trap = NONE, False
        for rule in group.rules:  # asComputePvt
            if access == WRITE:
                break
            if access >= rule.access or asl > rule.level:
                continue
            if rule.uags and not any(user in self.uags[name] for name in rule.uags):
                continue
            if rule.hags and not any(host in self.hags[name] for name in rule.hags):
                continue
            if rule.calc is None or _calc_true(rule.calc, group, values):
                access, trap = rule.access, rule.trapwrite
        return Rights(access >= READ, access >= WRITE, trap and access == WRITE)

    def with_users(self, uag: str, *users: str) -> AccessConfig:
        """This configuration with ``users`` added to UAG ``uag`` (which must exist)."""
        if uag not in self.uags:
            raise KeyError(f"{self.source}: no UAG named {uag!r}")
        uags = dict(self.uags)
        uags[uag] = uags[uag] | frozenset(users)
        return AccessConfig(uags, self.hags, self.groups, self.check_client_ip, self.hag_entries,
                            self.warnings, self.source)


def _calc_true(calc: Calc, group: Group, values: Mapping[str, float | None]) -> bool:
    """A rule's CALC as base evaluates it (asComputeAsgPvt/asComputePvt)."""
    declared = [letter for letter in calc.inputs if letter in group.inputs]
    if not declared:
        return False  # never evaluated: no declared input of it ever changes
    args = []
    for letter in INPUTS:
        value = values.get(f"INP{letter}") if letter in group.inputs else 0.0
        if value is None:
            if letter in calc.inputs:
                return False  # inpBad & inpUsed
            value = 0.0
        args.append(float(value))
    result = calc(args)
    return 0.99 < result < 1.01


__all__ = ["ACCESS_NAMES", "DEFAULT", "LEVELS", "NONE", "NO_ACCESS", "READ", "WRITE", "ACFError", "AccessConfig",
           "Group", "Rights", "Rule", "resolve_ipv4"]
