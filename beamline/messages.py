"""How values appear in the messages users read: numbers as they are written, whatever their type."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["shown"]


def shown(value: object) -> str:
    """``value`` for a message: a number as a user writes it (``1000``, ``-1``, ``0.005``, ``nan``),
    numpy's scalars too (not ``np.float64(-1000.0)``); anything else as its repr (strings quoted)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if number.is_integer() and abs(number) < 1e16:
            return str(int(number))
        # numpy's str is the shortest text that reads back as the same value of its own precision
        return str(value) if isinstance(value, np.floating) else repr(number)
    return repr(value)
