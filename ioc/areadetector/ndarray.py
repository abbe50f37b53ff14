"""The NDArray a driver hands its plugins, and small helpers the areaDetector classes share."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

MAX_EXPOSURE = 3600.0  # s; longer is surely a typo (the put is refused)
MAX_IMAGES = 1_000_000

NUMPY_TYPES = {
    "Int8": np.int8, "UInt8": np.uint8, "Int16": np.int16, "UInt16": np.uint16, "Int32": np.int32,
    "UInt32": np.uint32, "Int64": np.int64, "UInt64": np.uint64, "Float32": np.float32, "Float64": np.float64,
}


def index(chan) -> int:
    """The index of an enum PV's current value."""
    value = chan.value
    return chan.enum_strings.index(value) if isinstance(value, str) else int(value)


def enum_index(chan, value) -> int:
    """The index of ``value`` (a string or number) among an enum PV's strings."""
    return chan.enum_strings.index(value) if isinstance(value, str) else int(value)


def text(value) -> str:
    """A char-waveform value as a str (caproto hands over str, or bytes: UTF-8 on the wire)."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).split(b"\0", 1)[0].decode("utf-8", errors="replace")
    return str(value)


async def post(chan, value, **metadata) -> None:
    """Write ``value`` to a readback only if it changed, as asyn posts only changed
    parameters: a frame then costs its monitors only what it changed."""
    current = chan.value
    if isinstance(current, np.ndarray) or isinstance(value, np.ndarray) or current != value:
        await chan.write(value, **metadata)
    elif metadata.get("severity") is not None and chan.alarm.severity != metadata["severity"]:
        await chan.write(value, **metadata)


@dataclass
class Frame:
    """An NDArray: one image and its attributes, as a driver hands it to plugins.

    Its ``data`` is never changed once made: a plugin that computes makes a new frame
    (:meth:`derived`), and the same frame may reach several plugins at once.
    """

    data: np.ndarray
    unique_id: int
    timestamp: float  # POSIX time of the end of exposure
    attributes: dict = field(default_factory=dict)
    #: Plugins' per-frame work done on the readout thread, by plugin port (see NDPluginBase.readout_work).
    precomputed: dict = field(default_factory=dict)
    color_mode: str = "Mono"  # the ColorMode attribute (NDColorMode_t name)
    #: The ports of the plugins that passed this frame on, in order (a frame never passes one twice).
    path: tuple = ()

    def derived(self, data: np.ndarray, color_mode: str | None = None) -> Frame:
        """A plugin's output made from this frame: other pixels, the same id, time stamp and attributes."""
        return dataclasses.replace(self, data=data, precomputed={},
                                   color_mode=self.color_mode if color_mode is None else color_mode)

    def passed_by(self, port: str) -> Frame:
        """This frame as the plugin at ``port`` passes it on (the same pixels and work done on them)."""
        return dataclasses.replace(self, path=self.path + (port,))
