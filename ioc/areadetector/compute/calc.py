"""EPICS calc expressions (the calc record's language), evaluated by EPICS's own libCom.

NDPluginCircularBuff's TriggerCalc is compiled with libCom's ``postfix()`` and evaluated
with ``calcPerform()``, from the libCom Channel Access uses in this process (:func:`_libcom_path`),
so the expression means here exactly what it means in an IOC: operators, functions,
precedence, error messages. The library is loaded on first use.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

ARGS = "ABCDEFGHIJKL"  # CALCPERFORM_NARGS of the library (12 in EPICS 3.16: A..L)
MAX_INFIX_SIZE = 100  # characters of an expression NDPluginCircularBuff keeps, with the NUL


def _libcom_path() -> str:
    """The libCom that Channel Access in this process uses (epicscorelibs' versioned file).

    Not pyepics' ``find_libCom()``: it names ``libCom.so``, which in the wheel is a copy of
    ``libCom.so.<version>`` (wheels hold no symbolic links), and loading that second copy
    beside the one libca uses gave the process two libComs whose exit handlers corrupted
    the heap when it ended (glibc's "double free or corruption").
    """
    try:
        from epicscorelibs.path import get_lib
    except ImportError:  # pyepics' own libraries only: its one libCom
        from epics.ca import find_libCom

        return find_libCom()
    return get_lib("Com")


@lru_cache(maxsize=1)
def _libcom() -> ctypes.CDLL:
    lib = ctypes.CDLL(_libcom_path())
    lib.postfix.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_short)]
    lib.postfix.restype = ctypes.c_long
    lib.calcPerform.argtypes = [ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double),
                                ctypes.c_char_p]
    lib.calcPerform.restype = ctypes.c_long
    lib.calcErrorStr.argtypes = [ctypes.c_short]
    lib.calcErrorStr.restype = ctypes.c_char_p
    return lib


class CalcError(ValueError):
    """An expression libCom's postfix() rejects; the message is calcErrorStr's."""


class Calc:
    """One compiled expression. ``Calc("A>B")(A=2, B=1)`` is 1.0."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        infix = expression.encode()
        self._postfix = ctypes.create_string_buffer(len(infix) * 21 // 6 + 64)
        error = ctypes.c_short(0)
        if _libcom().postfix(infix, self._postfix, ctypes.byref(error)):
            message = _libcom().calcErrorStr(error.value).decode()
            raise CalcError(f"calc expression {expression!r}: {message}")

    def __call__(self, **args: float) -> float | None:
        """The expression's value for arguments A..L (others 0); None if calcPerform fails."""
        values = (ctypes.c_double * 21)()
        for name, value in args.items():
            values[ARGS.index(name)] = value
        result = ctypes.c_double(0.0)
        if _libcom().calcPerform(values, ctypes.byref(result), self._postfix):
            return None
        return result.value
