"""Puts the IOC refuses, with its reason, delivered to whoever waits on them.

An IOC refuses a put (a value out of range, not a number, a read-only PV) with a CA error
message that carries its reason, e.g. ``BL:dot:cam1:AcquireTime: exposure time (s) must
be between 0 and 3600, not -1.0``. libca passes that message to the client's exception
handler (``ca_add_exception_event``) for a plain put; for a put with callback it passes
only the status (``ECA_PUTFAIL``), not the reason. pyepics installs no handler, so libca's
default one prints the message to stderr and ophyd, waiting for a readback that never
comes, does not know.

:func:`watch` lets a signal wait on its channel's refusals: this module installs one
exception handler in pyepics' CA context that hands a refused put's reason to the
watchers of its channel, and prints every other CA exception (and refusals nobody waits
for) as libca's default handler does.
"""

from __future__ import annotations

import atexit
import ctypes
import re
import sys
import threading
import time
from collections.abc import Callable

from .messages import shown

CA_OP_PUT = 1  # cadef.h: CA_OP_GET 0, CA_OP_PUT 1, ...


class PutRefused(ValueError):
    """The IOC refused a put; the message names the PV and says why."""


class _ExceptionArgs(ctypes.Structure):
    # struct exception_handler_args of cadef.h, passed by value.
    _fields_ = [
        ("usr", ctypes.c_void_p),
        ("chid", ctypes.c_void_p),
        ("type", ctypes.c_long),
        ("count", ctypes.c_long),
        ("addr", ctypes.c_void_p),
        ("stat", ctypes.c_long),
        ("op", ctypes.c_long),
        ("ctx", ctypes.c_char_p),
        ("pFile", ctypes.c_char_p),
        ("lineNo", ctypes.c_uint),
    ]


_HANDLER_TYPE = ctypes.CFUNCTYPE(None, _ExceptionArgs)
_lock = threading.Lock()
_watchers: dict[int, list[Callable[[str], None]]] = {}
_installed_handler = None  # the ctypes callback, kept alive while libca holds it


def reason(context: str, pvname: str) -> str:
    """The IOC's reason from libca's context string (caproto prefixes ``Python exception: PutRefused <PV>:``)."""
    text = re.sub(r"^Python exception:\s*\w+\s+", "", context.strip())
    return text[len(pvname) + 1:].strip() if text.startswith(pvname + ":") else text


def _handle(args: _ExceptionArgs) -> None:
    try:
        context = (args.ctx or b"").decode("utf-8", "replace")
        callbacks = []
        if args.op == CA_OP_PUT and args.chid:
            with _lock:
                callbacks = list(_watchers.get(int(args.chid), ()))
        for callback in callbacks:
            callback(context)
        if not callbacks:
            _print_like_libca(args, context)
    except Exception as exc:  # never let an exception unwind into libca
        print(f"beamline: error in the CA exception handler: {exc!r}", file=sys.stderr)


def _print_like_libca(args: _ExceptionArgs, context: str) -> None:
    from epics import ca

    channel = ""
    if args.chid:
        try:
            channel = f" (channel {ca.name(args.chid)})"
        except Exception:
            pass
    print(f'CA.Client.Exception: "{ca.message(args.stat)}"{channel}\n    Context: "{context}"\n'
          f"    Current Time: {time.strftime('%a %b %d %Y %H:%M:%S')}", file=sys.stderr, flush=True)


def install() -> None:
    """Install the handler in pyepics' CA context (once; the calling thread is attached to that context)."""
    global _installed_handler
    from epics import ca

    with _lock:
        if _installed_handler is not None:
            return
        ca.initialize_libca()
        ca.use_initial_context()
        handler = _HANDLER_TYPE(_handle)
        ca.PySEVCHK("add_exception_event", ca.libca.ca_add_exception_event(handler, None))
        _installed_handler = handler
        # Registered after pyepics' exit hook (initialize_libca above), so it runs before it.
        atexit.register(_close_aioca_channels)


def _close_aioca_channels() -> None:
    """Close ophyd-async's (aioca's) channels before pyepics destroys its CA context at exit.

    aioca shares the context of a thread that already has one; if pyepics' exit hook runs
    first, aioca's own then clears channels of a destroyed context and the process aborts
    (epicsMutex::invalidMutex), as a session that used both ophyd and ophyd-async did.
    """
    aioca = sys.modules.get("aioca")
    if aioca is not None:
        try:
            aioca.purge_channel_caches()
        except Exception:  # nothing worth failing an exit for
            pass


def channel_id(pv) -> int:
    """The integer chid of a connected pyepics PV."""
    chid = pv.chid
    return int(getattr(chid, "value", chid))


def watch(pv, callback: Callable[[str], None]) -> Callable[[], None]:
    """Call ``callback(context)`` when a put to ``pv`` (a connected pyepics PV) is refused; returns the unwatch."""
    install()
    key = channel_id(pv)
    with _lock:
        _watchers.setdefault(key, []).append(callback)

    def unwatch() -> None:
        with _lock:
            callbacks = _watchers.get(key, [])
            if callback in callbacks:
                callbacks.remove(callback)
            if not callbacks:
                _watchers.pop(key, None)

    return unwatch


class Refusal:
    """Watches for one put's refusal: ``with Refusal(pv) as refusal: put ...; if refusal.refused: ...``."""

    def __init__(self, pv) -> None:
        self.pv = pv
        self.value = None  #: the value put, for the message
        self.context: str | None = None
        self._event = threading.Event()
        self._unwatch: Callable[[], None] | None = None

    def _refused(self, context: str) -> None:
        self.context = context
        self._event.set()

    def __enter__(self) -> Refusal:
        self._unwatch = watch(self.pv, self._refused)
        return self

    def __exit__(self, *exc) -> None:
        if self._unwatch is not None:
            self._unwatch()

    @property
    def refused(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """True if the put was refused (within ``timeout`` s)."""
        return self._event.wait(timeout)

    def error(self, name: str) -> PutRefused:
        pvname = self.pv.pvname
        return PutRefused(f"{name}: the IOC refused {shown(self.value)} for {pvname}: {reason(self.context or '', pvname)}")
