"""YAML read into plain Python data, with the line of every key and list item kept beside it,
so that a problem found later can name where in the file it is.

Uses ruamel.yaml's round-trip loader (YAML 1.2: ``yes``/``no`` are strings, only ``true``/``false``
are booleans), which refuses duplicate keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

Path_ = tuple[str | int, ...]


class YAMLSyntaxError(ValueError):
    """The text is not YAML; ``line`` (1-based) and ``column`` say where the parser stopped."""

    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class Document:
    """Plain data (dicts, lists, str, int, float, bool, None) and where each part of it starts."""

    data: Any
    lines: dict[Path_, int]  # path of a key or list item -> its 1-based line

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path``, or of the nearest enclosing key that exists in the file."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def existing(self, path: Path_) -> Path_:
        """The longest beginning of ``path`` that names something in the file."""
        path = tuple(path)
        for n in range(len(path), 0, -1):
            if path[:n] in self.lines:
                return path[:n]
        return ()


def load(text: str) -> Document:
    """Parse ``text``; raises :class:`YAMLSyntaxError` (with its line) if it is not YAML."""
    yaml = YAML(typ="rt", pure=True)
    try:
        node = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        raise YAMLSyntaxError(problem or str(exc), line, column) from None
    except Exception as exc:  # ruamel's other errors (e.g. duplicate keys on some paths) carry no mark
        raise YAMLSyntaxError(str(exc).strip().splitlines()[0], None, None) from None
    lines: dict[Path_, int] = {(): 1}
    data = _plain(node, (), lines)
    return Document(data, lines)


def _plain(node: Any, path: Path_, lines: dict[Path_, int]) -> Any:
    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            key_text = str(key)
            line, _ = node.lc.key(key)
            lines[(*path, key_text)] = line + 1
            out[key_text] = _plain(value, (*path, key_text), lines)
        return out
    if isinstance(node, CommentedSeq):
        out = []
        for i, value in enumerate(node):
            line, _ = node.lc.item(i)
            lines[(*path, i)] = line + 1
            out.append(_plain(value, (*path, i), lines))
        return out
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node
