"""EPICS calc expressions (``postfix.c``/``calcPerform.c`` of epics-base libCom), the part an
access-security ``CALC(...)`` may use: inputs ``A``..``L``, numbers, arithmetic, comparison,
logic, bit operations, ``?:`` and the math functions.

Parsed as epics-base parses them: names and operators in any case, the longest name first
(``ABS`` before ``A``), the same precedence (``?:`` lowest; ``|| | OR XOR``; ``&& & AND << >>
>>>``; comparisons; ``+ -``; ``* / %``; ``^ **``; unary operators and functions bind
tightest, so ``-A^2`` is ``(-A)^2``), all binary operators left-associative (``2^3^2`` is
64). Evaluated as calcPerform does: IEEE doubles (``1/0`` is inf), ``%`` on 32-bit integers
(NaN for a zero divisor), bit operations on 32-bit integers, ``NINT`` rounds half away from
zero, a comparison or logic operation gives 1 or 0; conversions to integers that C leaves
undefined (NaN, out of range) give what epics-base gives on x86-64.

Refused with a reason, where epics-base would accept: ``:=`` (access security refuses stores
too), ``;`` (several expressions; calcPerform fails on them), ``VAL`` (the rule's previous
result: state) and ``RNDM`` (randomness). :func:`compile_calc` raises :class:`CalcError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

INPUTS = "ABCDEFGHIJKL"


class CalcError(ValueError):
    """An expression that is not valid EPICS calc (or uses what access security refuses)."""


Node = Callable[[Sequence[float]], float]


@dataclass(frozen=True)
class Calc:
    """A compiled expression: ``calc(values)`` with ``values[0]`` for A ... ``values[11]`` for L."""

    text: str
    inputs: frozenset[str]  # the input letters it reads
    _node: Node

    def __call__(self, values: Sequence[float] | Mapping[str, float]) -> float:
        if isinstance(values, Mapping):
            values = [float(values.get(letter, 0.0)) for letter in INPUTS]
        return float(self._node(values))


def compile_calc(text: str) -> Calc:
    """Parse ``text`` as an EPICS calc expression; CalcError says what is wrong and where."""
    parser = _Parser(text)
    node = parser.parse()
    return Calc(text, frozenset(parser.inputs), node)


# -- numbers as calcPerform treats them ------------------------------------------------------


_INT_MIN = -(1 << 31)


def _int32(x: float) -> int:
    """C's ``(epicsInt32) x`` as x86-64 does it: truncation toward zero; NaN and values out of
    range give INT_MIN (C leaves those undefined; this is what epics-base does here)."""
    if math.isnan(x) or not (-2147483649.0 < x < 2147483648.0):
        return _INT_MIN
    return int(x)


def _uint32(x: float) -> int:
    """C's ``(epicsUInt32) x`` for x >= 0 as x86-64 compilers do it: through a 64-bit
    conversion, keeping the low 32 bits (0 from 2**63 up, for inf and NaN)."""
    if math.isnan(x) or x >= 9223372036854775808.0:
        return 0
    return int(x) & 0xFFFFFFFF


def _d2i(x: float) -> int:
    """calcPerform's d2i: a double as a signed 32-bit integer (negative via int32, the rest via uint32)."""
    if x < 0:
        return _int32(x)
    n = _uint32(x)
    return n - (1 << 32) if n & 0x80000000 else n


def _wrap32(n: int) -> int:
    """A Python integer as the signed 32-bit integer C keeps of it (its low 32 bits)."""
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n & 0x80000000 else n


def _d2ui(x: float) -> int:
    """calcPerform's d2ui: negative via int32, the rest via uint32."""
    return (_int32(x) & 0xFFFFFFFF) if x < 0 else _uint32(x)


def _div(a: float, b: float) -> float:
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _pow(a: float, b: float) -> float:
    try:
        result = a ** b
    except ZeroDivisionError:  # 0 ** negative
        return math.inf
    except OverflowError:
        return math.inf if a > 0 or float(b).is_integer() and int(b) % 2 == 0 else -math.inf
    if isinstance(result, complex):  # negative base, fractional exponent: C's pow gives NaN
        return math.nan
    return result


def _modulo(a: float, b: float) -> float:
    divisor = _int32(b)
    if divisor == 0:
        return math.nan
    dividend = _int32(a)
    if divisor == -1:
        return 0.0  # (INT_MIN % -1 traps in C; every other dividend gives 0)
    return float(int(math.fmod(dividend, divisor)))  # C's %: the sign of the dividend


def _nint(x: float) -> float:
    return float(_int32(x + 0.5 if x >= 0 else x - 0.5))


def _safe(fn: Callable[[float], float], overflow: Callable[[float], float] = lambda x: math.inf,
          at_zero: float = math.nan) -> Callable[[float], float]:
    """A libm function as C calls it: a domain error gives NaN (``at_zero`` at 0), an overflow
    ``overflow(x)``, never an exception."""
    def call(x: float) -> float:
        try:
            return float(fn(x))
        except ValueError:
            return at_zero if x == 0.0 else math.nan
        except OverflowError:
            return overflow(x)
    return call


def _rounding(fn: Callable[[float], int]) -> Callable[[float], float]:
    """ceil/floor as C's: infinities and NaN pass through."""
    return lambda x: float(fn(x)) if math.isfinite(x) else x


def _signed_inf(x: float) -> float:
    return math.copysign(math.inf, x)


def _fmod(a: float, b: float) -> float:
    try:
        return math.fmod(a, b)
    except ValueError:
        return math.nan


def _max(args: Sequence[float]) -> float:
    """calcPerform's MAX: from the last argument back; a NaN anywhere after the first wins."""
    result = args[-1]
    for value in reversed(args[:-1]):
        if not (value < result or math.isnan(result)):
            result = value
    return result


def _min(args: Sequence[float]) -> float:
    result = args[-1]
    for value in reversed(args[:-1]):
        if not (value > result or math.isnan(result)):
            result = value
    return result


_UNARY_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "ABS": abs, "ACOS": _safe(math.acos), "ASIN": _safe(math.asin), "ATAN": math.atan,
    "CEIL": _rounding(math.ceil), "COS": _safe(math.cos), "COSH": _safe(math.cosh), "EXP": _safe(math.exp),
    "FLOOR": _rounding(math.floor), "ISINF": lambda x: float(math.isinf(x)),
    "LN": _safe(math.log, at_zero=-math.inf), "LOG": _safe(math.log10, at_zero=-math.inf),
    "LOGE": _safe(math.log, at_zero=-math.inf), "NINT": _nint, "SIN": _safe(math.sin),
    "SINH": _safe(math.sinh, overflow=_signed_inf), "SQR": _safe(math.sqrt), "SQRT": _safe(math.sqrt),
    "TAN": _safe(math.tan), "TANH": math.tanh,
}
_BINARY_FUNCTIONS: dict[str, Callable[[float, float], float]] = {
    "ATAN2": lambda a, b: math.atan2(b, a),  # calcPerform: atan2(top, next) -- the arguments swapped
    "FMOD": _fmod,
}
_VARARG_FUNCTIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "MAX": _max, "MIN": _min,
    "FINITE": lambda args: float(all(math.isfinite(v) for v in args)),
    "ISNAN": lambda args: float(any(math.isnan(v) for v in args)),
}
_CONSTANTS = {"PI": math.pi, "D2R": math.pi / 180.0, "R2D": 180.0 / math.pi, "INF": math.inf, "NAN": math.nan}
_REFUSED = {
    "VAL": "VAL (the rule's previous result) is not supported: an access rule must not depend on its own history",
    "RNDM": "RNDM (a random number) is not supported in an access rule",
}


def _truth(x: float) -> bool:
    return x != 0.0  # C: NaN is true


_BINARY: dict[str, tuple[int, Callable[[float, float], float]]] = {
    "||": (1, lambda a, b: float(_truth(a) or _truth(b))),
    "|": (1, lambda a, b: float(_d2i(a) | _d2i(b))),
    "OR": (1, lambda a, b: float(_d2i(a) | _d2i(b))),
    "XOR": (1, lambda a, b: float(_d2i(a) ^ _d2i(b))),
    "&&": (2, lambda a, b: float(_truth(a) and _truth(b))),
    "&": (2, lambda a, b: float(_d2i(a) & _d2i(b))),
    "AND": (2, lambda a, b: float(_d2i(a) & _d2i(b))),
    "<<": (2, lambda a, b: float(_wrap32(_d2i(a) << (_d2i(b) & 31)))),
    ">>": (2, lambda a, b: float(_d2i(a) >> (_d2i(b) & 31))),
    ">>>": (2, lambda a, b: float(_d2ui(a) >> (_d2ui(b) & 31))),
    "=": (3, lambda a, b: float(a == b)),
    "==": (3, lambda a, b: float(a == b)),
    "!=": (3, lambda a, b: float(a != b)),
    "#": (3, lambda a, b: float(a != b)),
    "<": (3, lambda a, b: float(a < b)),
    "<=": (3, lambda a, b: float(a <= b)),
    ">": (3, lambda a, b: float(a > b)),
    ">=": (3, lambda a, b: float(a >= b)),
    "+": (4, lambda a, b: a + b),
    "-": (4, lambda a, b: a - b),
    "*": (5, lambda a, b: a * b),
    "/": (5, _div),
    "%": (5, _modulo),
    "^": (6, _pow),
    "**": (6, _pow),
}
_PREFIX: dict[str, Callable[[float], float]] = {
    "-": lambda x: -x,
    "!": lambda x: float(not _truth(x)),
    "~": lambda x: float(~_d2i(x)),
    "NOT": lambda x: float(~_d2i(x)),
}
# Longest first: where two names share a beginning the longer is tried first, as postfix.c does.
_OPERATOR_NAMES = sorted([*_BINARY, "?", ":", ":=", ";", ")", ","], key=len, reverse=True)
_OPERAND_NAMES = sorted([*_PREFIX, *_UNARY_FUNCTIONS, *_BINARY_FUNCTIONS, *_VARARG_FUNCTIONS, *_CONSTANTS,
                         *_REFUSED, *INPUTS, "("], key=len, reverse=True)


def _apply2(fn: Callable[[float, float], float], a: Node, b: Node) -> Node:
    return lambda v: fn(a(v), b(v))


class _Parser:
    """Recursive descent over the text, the expected kind of element (operand or operator)
    deciding how the next characters are read, as postfix.c's ``get_element`` does."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.inputs: set[str] = set()

    # -- reading elements ----------------------------------------------------------------

    def _fail(self, message: str, at: int | None = None) -> CalcError:
        at = self.pos if at is None else at
        return CalcError(f"{message} at character {at + 1} of {self.text!r}")

    def _after_space(self) -> int:
        pos = self.pos
        while pos < len(self.text) and self.text[pos].isspace():
            pos += 1
        return pos

    def _skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek_operator(self) -> str | None:
        self._skip_space()
        upper = self.text[self.pos:self.pos + 3].upper()
        for name in _OPERATOR_NAMES:
            if upper.startswith(name):
                return name
        return None

    def _take_operator(self, name: str) -> None:
        self._skip_space()
        self.pos += len(name)

    def _number(self) -> float | None:
        """A numeric literal at the position (decimal, exponent, 0x hex), or None."""
        text, start = self.text, self.pos
        if text[start:start + 2].upper() == "0X":
            end = start + 2
            while end < len(text) and text[end] in "0123456789abcdefABCDEF":
                end += 1
            if end == start + 2:
                raise self._fail("bad hexadecimal literal", start)
            value = int(text[start + 2:end], 16)
            if value > 0xFFFFFFFF:
                raise self._fail("hexadecimal literal beyond 32 bits", start)
            self.pos = end
            return float(value - (1 << 32) if value & 0x80000000 else value)
        end = start
        while end < len(text) and text[end].isdigit():
            end += 1
        if end < len(text) and text[end] == ".":
            end += 1
            while end < len(text) and text[end].isdigit():
                end += 1
        if end == start or text[start:end] == ".":
            return None
        if end < len(text) and text[end] in "eE":
            exp = end + 1
            if exp < len(text) and text[exp] in "+-":
                exp += 1
            if exp < len(text) and text[exp].isdigit():
                while exp < len(text) and text[exp].isdigit():
                    exp += 1
                end = exp
        self.pos = end
        return float(text[start:end])

    # -- grammar -------------------------------------------------------------------------

    def parse(self) -> Node:
        self._skip_space()
        if self.pos >= len(self.text):
            raise CalcError("empty expression")
        node = self._conditional()
        self._skip_space()
        if self.pos < len(self.text):
            op = self._peek_operator()
            if op == ":=":
                raise self._fail("assignment (:=) is not allowed in an access-security CALC")
            if op == ";":
                raise self._fail("';' separates several expressions; an access rule takes one")
            if op == ")":
                raise self._fail("')' without '('")
            if op in (":", ","):
                raise self._fail(f"unexpected {op!r}")
            raise self._fail(f"syntax error: {self.text[self.pos:]!r} is not an operator")
        return node

    def _conditional(self) -> Node:
        condition = self._binary(1)
        if self._peek_operator() != "?":
            return condition
        self._take_operator("?")
        if_true = self._conditional()
        if self._peek_operator() != ":":
            raise self._fail("'?' without its ':'")
        self._take_operator(":")
        if_false = self._conditional()
        return lambda v: if_true(v) if condition(v) != 0.0 else if_false(v)

    def _binary(self, level: int) -> Node:
        if level > 6:
            return self._unary()
        left = self._binary(level + 1)
        while True:
            op = self._peek_operator()
            if op is None or op not in _BINARY or _BINARY[op][0] != level:
                return left
            self._take_operator(op)
            right = self._binary(level + 1)
            left = _apply2(_BINARY[op][1], left, right)

    def _operand_name(self) -> str | None:
        upper = self.text[self.pos:self.pos + 6].upper()
        for name in _OPERAND_NAMES:
            if upper.startswith(name):
                return name
        return None

    def _unary(self) -> Node:
        self._skip_space()
        start = self.pos
        if self.pos >= len(self.text):
            raise self._fail("expected an operand, found the end")
        number = self._number()
        if number is not None:
            return lambda v, number=number: number
        name = self._operand_name()
        if name is None:
            raise self._fail(f"expected an operand, found {self.text[self.pos:]!r}")
        self.pos += len(name)
        if name in _REFUSED:
            raise self._fail(_REFUSED[name], start)
        if name in INPUTS:
            self.inputs.add(name)
            index = INPUTS.index(name)
            return lambda v: v[index]
        if name in _CONSTANTS:
            value = _CONSTANTS[name]
            return lambda v: value
        if name == "(":
            inner = self._conditional()
            if self._peek_operator() != ")":
                raise self._fail("'(' without ')'", start)
            self._take_operator(")")
            return inner
        if name in _PREFIX:
            fn = _PREFIX[name]
            operand = self._unary()
            return lambda v: fn(operand(v))
        if name in _UNARY_FUNCTIONS:
            fn1 = _UNARY_FUNCTIONS[name]
            operand = self._unary()
            return lambda v: fn1(operand(v))
        if name in _VARARG_FUNCTIONS and not self.text.startswith("(", self._after_space()):
            fnv1, operand = _VARARG_FUNCTIONS[name], self._unary()  # MAX A: one argument, as postfix takes it
            return lambda v: fnv1([operand(v)])
        args = self._arguments(name, start)
        if name in _BINARY_FUNCTIONS:
            if len(args) != 2:
                raise self._fail(f"{name} takes 2 arguments, not {len(args)}", start)
            fn2, a, b = _BINARY_FUNCTIONS[name], args[0], args[1]
            return lambda v: fn2(a(v), b(v))
        fnv = _VARARG_FUNCTIONS[name]
        return lambda v: fnv([arg(v) for arg in args])

    def _arguments(self, name: str, start: int) -> list[Node]:
        self._skip_space()
        if not self.text.startswith("(", self.pos):
            raise self._fail(f"{name} needs its arguments in parentheses", start)
        self.pos += 1
        self._skip_space()
        if self.text.startswith(")", self.pos):
            raise self._fail(f"{name}() needs at least one argument", start)
        args = [self._conditional()]
        while self._peek_operator() == ",":
            self._take_operator(",")
            args.append(self._conditional())
        if self._peek_operator() != ")":
            raise self._fail(f"{name}( without ')'", start)
        self._take_operator(")")
        return args


__all__ = ["INPUTS", "Calc", "CalcError", "compile_calc"]
