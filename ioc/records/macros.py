"""Template macros (``$(XSIZE)``): values a record takes from the group that serves it."""

from __future__ import annotations

from collections.abc import Callable


class Macro:
    """A template macro (``$(NAME)``): a value known only to the group serving the record, from
    its ``macros`` (a camera's ``XSIZE``, the ``NELEMENTS`` of its image...), as
    ``dbLoadRecords`` substitutes them."""

    def __init__(self, name: str, convert: Callable = int, default=None) -> None:
        self.name = name
        self.convert = convert
        self.default = default  # $(NAME=default): the value when the group does not set NAME

    def then(self, func: Callable) -> Macro:
        """This macro's value passed through ``func`` as well."""
        convert = self.convert
        return Macro(self.name, lambda value: func(convert(value)), self.default)

    def resolve(self, macros: dict):
        """The value, from a group's ``macros``; KeyError naming the macro if it is not set."""
        if self.name in macros:
            return self.convert(macros[self.name])
        if self.default is not None:
            return self.convert(self.default)
        raise KeyError(f"macro $({self.name}) is not set (macros given: {', '.join(sorted(macros)) or 'none'})")

    def __repr__(self) -> str:
        return f"$({self.name})" if self.default is None else f"$({self.name}={self.default})"
