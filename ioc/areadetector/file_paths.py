"""Where a file plugin's files go: FileTemplate checked and formatted, FilePath resolved inside the data root.

No EPICS here: the file plugins (:mod:`.nd_file`) and the writers (:mod:`.tiff_writer`,
:mod:`.hdf5_writer`) call these, and report what they raise through WriteStatus/WriteMessage.
"""

from __future__ import annotations

import errno
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

# A printf conversion as epicsSnprintf understands it.
_CONVERSION = re.compile(r"%(?P<flags>[-+ #0]*)(?P<width>\d+|\*)?(?:\.(?P<precision>\d+|\*))?(?P<length>[hlL])?(?P<type>.)")
_ARGUMENT_TYPES = ("s", "s", "d")  # FileTemplate is formatted with (FilePath, FileName, FileNumber)
_INTEGER_TYPES = set("diouxX")
MAX_FIELD = 255  # characters in a file name (NAME_MAX), and in FullFileName's 256-byte waveform


class TemplateError(ValueError):
    """A FileTemplate that cannot be formatted with (FilePath, FileName, FileNumber)."""


class WriteError(OSError):
    """A file that could not be written; the message says which file and why."""

    def __str__(self) -> str:  # the message alone, as WriteMessage shows it: no "[Errno N]"
        return self.strerror or super().__str__()


@functools.lru_cache(maxsize=64)
def check_template(template: str) -> int:
    """Validate an areaDetector FileTemplate; returns how many of the 3 arguments it uses.

    Its conversions must take, in order, a string (FilePath), a string (FileName) and an
    integer (FileNumber), or a leading part of that list, like ``%s%s_%6.6d.tif``.
    Cached by template (a pure function of it): a file write checks it every frame.
    """
    if not template:
        raise TemplateError("template is empty")
    used = 0
    for match in _CONVERSION.finditer(template):
        kind = match.group("type")
        if kind == "%":
            continue
        if "*" in (match.group("width") or "") + (match.group("precision") or ""):
            raise TemplateError(f"'*' widths are not allowed in {template!r}")
        for size in (match.group("width"), match.group("precision")):
            # A file name has at most MAX_FIELD characters; a typo like %999999999d would
            # otherwise have Python build a gigabyte string to find that out.
            if size and int(size) > MAX_FIELD:
                raise TemplateError(f"{match.group(0)!r} in {template!r} is wider than a file name "
                                    f"({MAX_FIELD} characters at most)")
        if used >= len(_ARGUMENT_TYPES):
            raise TemplateError(f"{template!r} has more than 3 conversions (path, name, number)")
        wanted = _ARGUMENT_TYPES[used]
        if wanted == "s" and kind != "s":
            raise TemplateError(f"conversion {used + 1} of {template!r} must be %s (the {('path', 'name')[used]})")
        if wanted == "d" and kind not in _INTEGER_TYPES:
            raise TemplateError(f"conversion 3 of {template!r} must be an integer conversion such as %d")
        used += 1
    stray = template.replace("%%", "")
    if stray.count("%") != used:
        raise TemplateError(f"{template!r} has an incomplete % conversion")
    try:
        template % ("/", "name", 0)[:used]
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"{template!r} cannot be formatted: {exc}") from None
    return used


def format_template(template: str, path: str, name: str, number: int) -> str:
    """``template % (path, name, number)``, using only the arguments the template asks for."""
    used = check_template(template)
    return template % (path, name, number)[:used]


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def resolve_directory(path: str, data_root: Path, create_depth: int = 0) -> Path:
    """The real directory ``path`` names, checked to lie inside ``data_root``.

    ``create_depth`` follows areaDetector's CreateDirectory: 0 creates nothing; -N creates
    up to the last N missing levels; +N creates missing levels below depth N of the path.
    Symlinks are resolved before the check, so no link can lead outside the root.
    Raises WriteError only: a path the file system itself rejects (too long, a link loop,
    no permission to look) is reported as such.
    """
    try:
        return _resolve_directory(path, data_root, create_depth)
    except WriteError:
        raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise WriteError(exc.errno or errno.EIO, f"FilePath {path!r}: {reason}") from None
    except ValueError as exc:  # e.g. a surrogate that cannot name a file
        raise WriteError(errno.EINVAL, f"FilePath {path!r}: {exc}") from None


def _resolve_directory(path: str, data_root: Path, create_depth: int) -> Path:
    if not path:
        raise WriteError(errno.ENOENT, "FilePath is empty")
    if "\0" in path:
        raise WriteError(errno.EINVAL, "FilePath contains a NUL character")
    if not os.path.isabs(path):
        raise WriteError(errno.EINVAL, f"FilePath {path!r} is not absolute")
    root = Path(os.path.realpath(data_root))
    real = Path(os.path.realpath(path))
    if not _inside(real, root):
        raise WriteError(errno.EACCES, f"FilePath {path!r} is outside the data root {str(root)!r}")
    if real.is_dir():
        if not os.access(real, os.W_OK | os.X_OK):
            raise WriteError(errno.EACCES, f"FilePath {path!r} is not writable")
        return real
    if real.exists():
        raise WriteError(errno.ENOTDIR, f"FilePath {path!r} is a file, not a directory")
    missing = []
    probe = real
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        raise WriteError(errno.ENOTDIR, f"FilePath {path!r}: {str(probe)!r} is a file, not a directory")
    allowed = _creatable(real, len(missing), create_depth)
    if not allowed:
        raise WriteError(errno.ENOENT, f"FilePath {path!r} does not exist (CreateDirectory is {create_depth})")
    try:
        os.makedirs(real, exist_ok=True)
    except OSError as exc:
        raise WriteError(exc.errno or errno.EIO, f"cannot create FilePath {path!r}: {exc.strerror}") from None
    if not _inside(Path(os.path.realpath(real)), root):  # a link swapped in meanwhile
        raise WriteError(errno.EACCES, f"FilePath {path!r} is outside the data root {str(root)!r}")
    return real


def _creatable(real: Path, n_missing: int, create_depth: int) -> bool:
    if create_depth == 0:
        return False
    if create_depth < 0:
        return n_missing <= -create_depth
    depth_of_first_missing = len(real.parts) - n_missing  # parts include the leading '/'
    return depth_of_first_missing >= create_depth


@dataclass(frozen=True)
class FileTarget:
    """Where a frame goes: a file plugin's settings at the time of the write."""

    template: str
    path: str
    name: str
    number: int
    data_root: Path
    create_depth: int = 0
    temp_suffix: str = ""

    @property
    def full_name(self) -> str:
        """FullFileName as areaDetector computes it."""
        return format_template(self.template, self.path, self.name, self.number)
