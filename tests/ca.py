"""The tests' CA helpers: pyepics for ordinary gets and puts and Acquire, as a user would;
caproto where a test needs more than pyepics gives (the server's error message, alarms,
whole strings, a value sent as another type).

Reads go through one long-lived caproto threading client, which searches once per PV and
retries. caproto's sync client, used only by :func:`put_error` (the threading client drops
the server's error message), opens a new UDP socket per call: on a busy machine Linux can
hand it a port another such socket holds, so the search reply goes elsewhere and the call
times out; and it keeps its circuits between calls, so a call to an IOC since restarted on
the same port fails once. put_error retries both: nothing was written before they happen.

ophyd is imported here, before any PV is made: pyepics caches PVs by name and ophyd takes
its PVs from that cache, so a plain PV made by ``epics.caget`` before ophyd set up its own
PV class would break every ophyd device on that PV later in the run.
"""

from __future__ import annotations

from pathlib import Path

import epics
import numpy as np
import ophyd  # noqa: F401  (sets up the PV class pyepics makes, see above)
from caproto import CaprotoError, CaprotoTimeoutError, ChannelType, ErrorResponseReceived
from caproto.sync import client as sync
from caproto.threading.client import Context

TEMPLATE = "%s%s_%6.6d.tiff"  # areaDetector's usual FileTemplate

_CONTEXT: list[Context] = []
_PVS: dict[str, object] = {}
SEARCH_LOST = "Timed out while awaiting a response from the search"
RESTARTED = "Disconnected during initialization"


# -- reads ----------------------------------------------------------------------------------


def channel(name: str):
    """A connected caproto threading-client PV for ``name``."""
    if name not in _PVS:
        if not _CONTEXT:
            _CONTEXT.append(Context(timeout=10))
        (_PVS[name],) = _CONTEXT[0].get_pvs(name, timeout=10)
    _PVS[name].wait_for_connection(timeout=10)
    return _PVS[name]


def send_until_closed(sock, limit: int = 100 * 2**20) -> int:
    """Stream zeros on a raw CA socket, 1 MiB at a time, until the server closes it or ``limit``
    bytes went; the bytes sent."""
    chunk = b"\0" * 2**20
    sent = 0
    try:
        while sent < limit:
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass  # closed by the server
    return sent


def get(pv: str, **kwargs):
    """A PV's value read by pyepics (not from its monitor cache)."""
    value = epics.caget(pv, timeout=5, use_monitor=False, **kwargs)
    assert value is not None, f"no answer from {pv}"
    return value


def get_str(pv: str) -> str:
    """A string, enum or char-waveform PV as text (UTF-8 in a char waveform).

    Read with caproto: pyepics re-requests a char waveform with the element count of its
    last monitor update, which truncates a string that has since grown.
    """
    pv_ = channel(pv)
    native = pv_.channel.native_data_type
    data = pv_.read(data_type=ChannelType.STRING if native == ChannelType.ENUM else "native", timeout=10).data
    if native == ChannelType.CHAR:
        return bytes(data).split(b"\0", 1)[0].decode("utf-8", errors="replace")
    return data[0].decode("latin-1") if isinstance(data[0], bytes) else str(data[0])


def raw(pv: str) -> list:
    """A PV's value as served, for before/after comparisons."""
    data = channel(pv).read(data_type="native", timeout=10).data
    return data.tolist() if hasattr(data, "tolist") else list(data)


def alarm(pv: str) -> tuple[int, int]:
    """(status, severity) of a PV's alarm."""
    md = channel(pv).read(data_type="time", timeout=10).metadata
    return int(md.status), int(md.severity)


def answers(prefix: str) -> bool:
    """True if the IOC serving ``prefix`` answers a CA read."""
    try:
        channel(f"{prefix}dot:cam1:Acquire_RBV").read(timeout=10)
        return True
    except Exception:
        return False


# -- writes ---------------------------------------------------------------------------------


def put(pv: str, value, wait: bool = True, timeout: float = 10.0) -> None:
    """A pyepics put, with completion unless ``wait`` is False; asserts that it succeeded."""
    assert epics.caput(pv, value, wait=wait, timeout=timeout) == 1, f"put to {pv} failed"


def put_error(pv: str, value, data_type: ChannelType | None = None) -> str:
    """Put with completion, sent as ``data_type`` (default: the PV's own, as a client with a
    wrong idea of the PV would send another); the server's error message, or '' if it
    accepted the put."""
    for attempt in range(4):
        try:
            sync.write(pv, value, notify=True, timeout=5, data_type=data_type, repeater=False)
            return ""
        except ErrorResponseReceived as exc:
            return exc.args[0].error_message.decode("latin-1").rstrip("\0")
        except CaprotoTimeoutError as exc:
            if not str(exc).startswith(SEARCH_LOST) or attempt == 3:
                raise
        except CaprotoError as exc:
            if RESTARTED not in str(exc) or attempt == 3:
                raise
    raise AssertionError("unreachable")


# -- the camera -----------------------------------------------------------------------------


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


def setup_tiff(prefix: str, path: str | Path, name: str, template: str = TEMPLATE, auto_save: int = 1,
               number: int | None = 0) -> None:
    """Point TIFF1 at ``path`` (created by the IOC) and save every frame of single-image
    acquisitions, numbered from ``number`` (None: on from where the plugin is)."""
    put(f"{prefix}dot:TIFF1:CreateDirectory", -5)
    put(f"{prefix}dot:TIFF1:FilePath", str(path))
    put(f"{prefix}dot:TIFF1:FileName", name)
    put(f"{prefix}dot:TIFF1:FileTemplate", template)
    if number is not None:
        put(f"{prefix}dot:TIFF1:FileNumber", number)
    put(f"{prefix}dot:TIFF1:FileWriteMode", "Single")
    put(f"{prefix}dot:TIFF1:AutoSave", auto_save)
    put(f"{prefix}dot:TIFF1:AutoIncrement", 1)
    put(f"{prefix}dot:TIFF1:EnableCallbacks", 1)
    put(f"{prefix}dot:cam1:ImageMode", "Single")
    put(f"{prefix}dot:cam1:ArrayCallbacks", 1)
    assert get(f"{prefix}dot:TIFF1:FilePathExists_RBV") == 1, get_str(f"{prefix}dot:TIFF1:WriteMessage")


def good_acquisition(prefix: str, directory: Path, name: str = "good") -> Path:
    """What a user does after a mistake: point TIFF1 at a good directory and Acquire (1 ms)
    with put completion. Returns the file, checked to be written, whole, and reported OK;
    numbering goes on from where the plugin was."""
    setup_tiff(prefix, directory, name, number=None)
    put(f"{prefix}dot:cam1:AcquireTime", 0.001)
    acquire(prefix, timeout=30)
    assert get_str(f"{prefix}dot:TIFF1:WriteStatus") == "Write OK", get_str(f"{prefix}dot:TIFF1:WriteMessage")
    assert get(f"{prefix}dot:cam1:Acquire_RBV") == 0
    written = Path(get_str(f"{prefix}dot:TIFF1:FullFileName_RBV"))
    assert written.parent == directory and written.is_file()
    assert not any(p.name.endswith(".partial") for p in directory.iterdir())
    return written
