"""Settings that survive a restart, as EPICS's autosave module keeps them.

The IOC saves the settings listed in :data:`SETTINGS` (a request list, as autosave's
``*.req`` files are) to ``<data root>/autosave/<prefix>auto_settings.sav`` whenever one of
them changed, at most once per period (5 s by default, as autosave's monitor sets), and once
more on a clean exit; at start it restores them, so that ``FileNumber`` continues where it
stopped and nothing is overwritten by accident. Like autosave it:

* writes the new file beside the old one and renames it into place, keeping the previous
  good file as ``.savB``; a file without its ``<END>`` line (cut off by a crash or a full
  disk) is not trusted, and the backup is used instead;
* restores through the records' own checks: a saved value the IOC now refuses (a FilePath
  that no longer exists, a limit out of range) is reported on one line and skipped;
* restores a motor's dial position without moving it (``DVAL``, autosave's
  ``motor_positions.req``), as a controller that kept its position would report it.

``--no-autosave`` starts from the defaults and saves nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger("beamline.autosave")

PERIOD = 5.0  # wall seconds between checks for changed settings (autosave's default monitor period)

#: Motor fields saved per axis, in restore order (autosave's motor_settings.req, for the fields
#: this motor record has): direction and offset before the limits that depend on them.
MOTOR_SETTINGS = ("DIR", "OFF", "FOFF", "HLM", "LLM", "VBAS", "VMAX", "VELO", "ACCL", "RDBD", "TWV", "DESC",
                  "EGU", "PREC")
MOTOR_POSITION = "DVAL"  # motor_positions.req
CAMERA_SETTINGS = ("AcquireTime", "AcquirePeriod", "NumImages", "NumExposures", "ImageMode", "TriggerMode",
                   "MinX", "MinY", "SizeX", "SizeY", "BinX", "BinY", "ArrayCallbacks")
PLUGIN_SETTINGS = ("EnableCallbacks", "NDArrayPort", "NDArrayAddress", "MinCallbackTime", "BlockingCallbacks")
FILE_SETTINGS = ("FilePath", "FileName", "FileTemplate", "FileNumber", "AutoIncrement", "AutoSave",
                 "FileWriteMode", "NumCapture", "CreateDirectory")
STATS_SETTINGS = ("ComputeStatistics", "ComputeCentroid", "CentroidThreshold")


def settings(motors: Iterable[str], cameras: Iterable[str], plugins: dict[str, tuple[str, ...]]) -> list[str]:
    """The request list: every saved PV name, in restore order.

    ``motors`` are motor record names (``BL:mtr:dotx``), ``cameras`` driver prefixes
    (``BL:dot:cam1:``); ``plugins`` maps a plugin prefix (``BL:dot:TIFF1:``) to the setting
    groups it has beyond the plugin base.
    """
    names = []
    for motor in motors:
        names += [f"{motor}.{field}" for field in MOTOR_SETTINGS + (MOTOR_POSITION,)]
    for camera in cameras:
        names += [f"{camera}{suffix}" for suffix in CAMERA_SETTINGS]
    for plugin, extra in plugins.items():
        names += [f"{plugin}{suffix}" for suffix in PLUGIN_SETTINGS + extra]
    return names


def channel(pvdb: dict, name: str):
    """The channel serving ``name`` (a record, or a record's field such as ``mtr:dotx.VELO``), or None."""
    if name in pvdb:
        return pvdb[name]
    record, _, field = name.rpartition(".")
    try:
        return pvdb[record].get_field(field) if record else None
    except (KeyError, AttributeError):
        return None


def save_file(data_root: Path, prefix: str) -> Path:
    """``<data root>/autosave/<prefix>auto_settings.sav`` (the prefix made file-name safe)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", prefix)
    return Path(data_root) / "autosave" / f"{safe}auto_settings.sav"


def _encode(value) -> str:
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).split(b"\0", 1)[0].decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    return json.dumps(value, ensure_ascii=False)


def read(path: Path) -> dict[str, object] | None:
    """The values of a complete ``.sav`` file (one ending in ``<END>``), or None."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or lines[-1].strip() != "<END>":
        return None
    values = {}
    for line in lines[:-1]:
        if not line.strip() or line.startswith("#"):
            continue
        name, _, text = line.partition(" ")
        try:
            values[name] = json.loads(text)
        except ValueError:
            return None
    return values


def load(path: Path) -> tuple[dict[str, object], Path] | tuple[None, None]:
    """The saved values and the file they came from: the ``.sav``, else its ``.savB`` backup."""
    for candidate in (path, path.with_suffix(".savB")):
        values = read(candidate)
        if values is not None:
            return values, candidate
    return None, None


def write(path: Path, values: dict[str, object]) -> None:
    """Write ``values`` as a complete ``.sav`` file, keeping the previous one as ``.savB``.

    Raises OSError (a full disk, a read-only directory); the files already there stay whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    body = [f"# beamline-sim autosave: {time.strftime('%Y-%m-%d %H:%M:%S')}; name JSON-value per line"]
    body += [f"{name} {_encode(value)}" for name, value in values.items()]
    body.append("<END>\n")
    tmp = path.with_suffix(".sav.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(body))
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if path.exists():
        os.replace(path, path.with_suffix(".savB"))
    os.replace(tmp, path)


class Autosave:
    """Saves and restores the settings of one IOC (its ``pvdb``) in ``path``."""

    def __init__(self, pvdb: dict, names: Iterable[str], path: Path, period: float = PERIOD,
                 restorers: dict[str, Callable[[float], Awaitable[None]]] | None = None) -> None:
        """``restorers``: PVs restored by a call rather than a put (a motor's DVAL sets the
        controller's position without a move)."""
        self.channels = {name: chan for name in names if (chan := channel(pvdb, name)) is not None}
        self.names = list(self.channels)
        self.path = Path(path)
        self.period = period
        self.restorers = dict(restorers or {})
        self._saved: dict[str, object] | None = None

    def snapshot(self) -> dict[str, object]:
        """The current value of every saved PV, as it would be written."""
        values = {}
        for name in self.names:
            value = self.channels[name].value
            if isinstance(value, (bytes, bytearray, np.ndarray, np.generic)):
                value = json.loads(_encode(value))
            values[name] = value
        return values

    async def restore(self) -> int:
        """Put every saved value through its PV's own checks; returns how many were restored."""
        values, source = load(self.path)
        if values is None:
            return 0
        restored = 0
        for name in self.names:
            if name not in values:
                continue
            try:
                if name in self.restorers:
                    await self.restorers[name](values[name])
                else:
                    await self.channels[name].write(values[name])
                restored += 1
            except Exception as exc:  # a value the IOC refuses now: report it, keep the default
                log.warning("autosave: %s: not restored from %s: %s", name, source, exc)
        log.info("autosave: restored %d settings from %s", restored, source)
        self._saved = self.snapshot()
        return restored

    def save(self) -> bool:
        """Write the settings if they changed since the last save; True if a file was written."""
        values = self.snapshot()
        if values == self._saved:
            return False
        try:
            write(self.path, values)
        except OSError as exc:
            log.error("autosave: cannot write %s: %s (the previous file is kept)", self.path,
                      exc.strerror or exc)
            return False
        self._saved = values
        return True

    async def run(self) -> None:
        """Restore, then save changed settings every ``period`` seconds until cancelled."""
        # Let every group's start-up code set its defaults first (their tasks start after this one).
        await asyncio.sleep(0)
        await self.restore()
        while True:
            await asyncio.sleep(self.period)
            self.save()
