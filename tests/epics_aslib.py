"""epics-base's own asLib and calc engine (libCom from ``epicscorelibs``, which p4p brings in
the test extra), through ctypes: the reference :mod:`ioc.server.access_security` and
:mod:`ioc.server.calc` are checked against.

asLib keeps one configuration per process (``asInitMem`` replaces it); CALC inputs are set
in the group's structure and ``asComputeAsg`` recomputes it, as ``asCa`` does when an INP's
monitor reports.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Mapping

import epicscorelibs.path

# The libCom libca uses (the versioned file), not the wheel's libCom.so: that is a second copy
# (wheels hold no symbolic links), and two libComs in one process corrupt the heap at exit.
_lib = ctypes.CDLL(epicscorelibs.path.get_lib("Com"))


class _Node(ctypes.Structure):
    pass


_Node._fields_ = [("next", ctypes.POINTER(_Node)), ("previous", ctypes.POINTER(_Node))]


class _List(ctypes.Structure):
    _fields_ = [("node", _Node), ("count", ctypes.c_int)]


class _Base(ctypes.Structure):
    _fields_ = [("uagList", _List), ("hagList", _List), ("asgList", _List), ("phash", ctypes.c_void_p)]


class _Asg(ctypes.Structure):
    _fields_ = [("node", _Node), ("name", ctypes.c_char_p), ("inpList", _List), ("ruleList", _List),
                ("memberList", _List), ("pavalue", ctypes.POINTER(ctypes.c_double)),
                ("inpBad", ctypes.c_ulong), ("inpChanged", ctypes.c_ulong)]


class _Client(ctypes.Structure):
    _fields_ = [("node", _Node), ("pasgMember", ctypes.c_void_p), ("user", ctypes.c_char_p),
                ("host", ctypes.c_char_p), ("userPvt", ctypes.c_void_p), ("pcallback", ctypes.c_void_p),
                ("level", ctypes.c_int), ("access", ctypes.c_int), ("trapMask", ctypes.c_int)]


_lib.asInitMem.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
_lib.asInitMem.restype = ctypes.c_long
_lib.asAddMember.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p]
_lib.asAddMember.restype = ctypes.c_long
_lib.asRemoveMember.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
_lib.asAddClient.argtypes = [ctypes.POINTER(ctypes.POINTER(_Client)), ctypes.c_void_p, ctypes.c_int,
                             ctypes.c_char_p, ctypes.c_char_p]
_lib.asAddClient.restype = ctypes.c_long
_lib.asRemoveClient.argtypes = [ctypes.POINTER(ctypes.POINTER(_Client))]
_lib.asComputeAsg.argtypes = [ctypes.POINTER(_Asg)]
_lib.postfix.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_short)]
_lib.postfix.restype = ctypes.c_long
_lib.calcPerform.argtypes = [ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double), ctypes.c_char_p]
_lib.calcPerform.restype = ctypes.c_long
_lib.errlogFlush.argtypes = []
_lib.eltc.argtypes = [ctypes.c_int]

_check_client_ip = ctypes.c_int.in_dll(_lib, "asCheckClientIP")
_pasbase = ctypes.POINTER(_Base).in_dll(_lib, "pasbase")


def load(text: str, check_client_ip: bool = False) -> bool:
    """Load an ACF text into asLib; False if asLib refuses it (its messages are silenced)."""
    _check_client_ip.value = int(check_client_ip)
    _lib.eltc(0)  # errlog to the console off: refusals are expected
    try:
        return _lib.asInitMem(text.encode(), None) == 0
    finally:
        _lib.errlogFlush()


def _group(name: str) -> _Asg:
    node = _pasbase.contents.asgList.node.next
    while node:
        asg = ctypes.cast(node, ctypes.POINTER(_Asg)).contents
        if asg.name.decode() == name:
            return asg
        node = node.contents.next
    raise KeyError(name)


def set_inputs(asg: str, values: Mapping[str, float | None]) -> None:
    """Give group ``asg``'s inputs these values (``{"A": 1.0, "B": None}``; None: INVALID or
    disconnected) and recompute its rules, as asCa's monitor callback does."""
    group = _group(asg)
    bad = changed = 0
    for letter, value in values.items():
        bit = 1 << (ord(letter) - ord("A"))
        changed |= bit
        if value is None:
            bad |= bit
        else:
            group.pavalue[ord(letter) - ord("A")] = value
    group.inpBad = bad
    group.inpChanged = changed
    _lib.asComputeAsg(ctypes.byref(group))


def rights(asg: str, user: str, host: str, asl: int = 0) -> tuple[bool, bool, bool]:
    """(read, write, trapwrite) as asLib computes them for a client of a member of ``asg``."""
    member = ctypes.c_void_p()
    status = _lib.asAddMember(ctypes.byref(member), asg.encode())
    assert status == 0, status
    client = ctypes.POINTER(_Client)()
    host_buffer = ctypes.create_string_buffer(host.encode())  # asAddClient lower-cases it in place
    user_buffer = ctypes.create_string_buffer(user.encode())
    try:
        status = _lib.asAddClient(ctypes.byref(client), member, asl, ctypes.cast(user_buffer, ctypes.c_char_p),
                                  ctypes.cast(host_buffer, ctypes.c_char_p))
        assert status == 0, status
        access, trap = client.contents.access, client.contents.trapMask
        return access >= 1, access >= 2, bool(trap) and access >= 2
    finally:
        if client:
            _lib.asRemoveClient(ctypes.byref(client))
        _lib.asRemoveMember(ctypes.byref(member))


def calc(expression: str, args: list[float]) -> float | None:
    """The value of ``expression`` by postfix + calcPerform, or None if either refuses it."""
    out = ctypes.create_string_buffer(max(256, 30 * len(expression)))
    error = ctypes.c_short()
    if _lib.postfix(expression.encode(), out, ctypes.byref(error)) != 0:
        return None
    values = (ctypes.c_double * 21)(*args, *([0.0] * (21 - len(args))))
    result = ctypes.c_double(0.0)
    if _lib.calcPerform(values, ctypes.byref(result), out) != 0:
        return None
    return result.value


def same(a: float, b: float) -> bool:
    """Equal, NaN equal to NaN."""
    return a == b or (math.isnan(a) and math.isnan(b))
