"""Small CA helpers for the tests: pyepics for ordinary gets/puts, caproto's sync client
where the test needs the server's error message (pyepics only prints it)."""

from __future__ import annotations

import os
import time

import epics
import numpy as np
from caproto import CaprotoError, ChannelType, ErrorResponseReceived
from caproto.sync import client as sync


def _sync(call, *args, **kwargs):
    """A caproto sync-client call, retried once over a fresh connection: the client keeps
    its circuits between calls, and one to an IOC since restarted on the same port fails
    once ("Disconnected during initialization") and is dropped."""
    try:
        return call(*args, **kwargs)
    except ErrorResponseReceived:
        raise
    except CaprotoError as exc:
        if "Disconnected during initialization" not in str(exc):
            raise
        return call(*args, **kwargs)


def get(pv: str, **kwargs):
    value = epics.caget(pv, timeout=5, use_monitor=False, **kwargs)
    assert value is not None, f"no answer from {pv}"
    return value


def get_str(pv: str) -> str:
    """A string PV or char waveform as text.

    Read with caproto: pyepics re-requests a char waveform with the element count of its
    last monitor update, which truncates a string that has since grown.
    """
    response = _sync(sync.read, pv, data_type="native", timeout=5, repeater=False)
    if response.data_type == ChannelType.ENUM:
        response = _sync(sync.read, pv, data_type=ChannelType.STRING, timeout=5, repeater=False)
    data = response.data
    if isinstance(data, np.ndarray):
        return bytes(data).split(b"\0", 1)[0].decode("latin-1")
    return data[0].decode("latin-1") if isinstance(data[0], bytes) else str(data[0])


def put(pv: str, value, wait: bool = True, timeout: float = 10.0) -> None:
    assert epics.caput(pv, value, wait=wait, timeout=timeout) == 1, f"put to {pv} failed"


def put_error(pv: str, value) -> str:
    """Put with completion via caproto; the server's error message, or '' if it accepted the put."""
    try:
        _sync(sync.write, pv, value, notify=True, timeout=5, repeater=False)
    except ErrorResponseReceived as exc:
        return exc.args[0].error_message.decode("latin-1").rstrip("\0")
    return ""


def severity(pv: str) -> int:
    return int(_sync(sync.read, pv, data_type="time", timeout=5, repeater=False).metadata.severity)


def acquire(prefix: str = "BL:", timeout: float = 30.0) -> None:
    """One Acquire with put completion: returns once the IOC says the acquisition is done.

    A Continuous acquisition (ImageMode at start-up, as in ADCore) never completes, so the
    camera is switched to Single first; Single and Multiple stay as the test set them.
    """
    if get_str(f"{prefix}dot:cam1:ImageMode") == "Continuous":
        put(f"{prefix}dot:cam1:ImageMode", "Single")
    put(f"{prefix}dot:cam1:Acquire", 1, wait=True, timeout=timeout)


def full_file_name(prefix: str = "BL:") -> str:
    return get_str(f"{prefix}dot:TIFF1:FullFileName_RBV")


def image1(prefix: str = "BL:") -> np.ndarray:
    """The frame on image1:ArrayData, shaped by the plugin's ArraySize readbacks."""
    nx = get(f"{prefix}dot:image1:ArraySize0_RBV")
    ny = get(f"{prefix}dot:image1:ArraySize1_RBV")
    data = get(f"{prefix}dot:image1:ArrayData", count=nx * ny)
    return np.asarray(data).reshape(ny, nx)


def setup_tiff(prefix: str, path: str, name: str, template: str = "%s%s_%6.6d.tiff", auto_save: int = 1) -> None:
    """Point TIFF1 at ``path`` (created by the IOC) and save every frame."""
    put(f"{prefix}dot:TIFF1:CreateDirectory", -5)
    put(f"{prefix}dot:TIFF1:FilePath", path)
    put(f"{prefix}dot:TIFF1:FileName", name)
    put(f"{prefix}dot:TIFF1:FileTemplate", template)
    put(f"{prefix}dot:TIFF1:FileNumber", 0)
    put(f"{prefix}dot:TIFF1:FileWriteMode", "Single")
    put(f"{prefix}dot:TIFF1:AutoSave", auto_save)
    put(f"{prefix}dot:TIFF1:AutoIncrement", 1)
    put(f"{prefix}dot:TIFF1:EnableCallbacks", 1)
    put(f"{prefix}dot:cam1:ImageMode", "Single")
    put(f"{prefix}dot:cam1:ArrayCallbacks", 1)
    assert get(f"{prefix}dot:TIFF1:FilePathExists_RBV") == 1, get_str(f"{prefix}dot:TIFF1:WriteMessage")


def wait_file(path: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.02)
