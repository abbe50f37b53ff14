"""Worker threads named for the operating system too, as an EPICS IOC's threads are.

``ps -L``, ``top -H``, ``/proc/PID/task/*/comm`` and ``python -m bench.timeline`` then tell
the IOC's threads apart (``dot-rng``, ``dot-tiff``...); the main thread keeps the process's
name, which tools that find the IOC by name look for.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from concurrent.futures import ThreadPoolExecutor

PR_SET_NAME = 15  # <linux/prctl.h>
NAME_MAX = 15  # bytes the kernel keeps of a thread's name

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None


def name_this_thread(name: str) -> None:
    """Give the calling thread ``name`` (its first 15 bytes) in the OS; nothing where that is not Linux."""
    if _libc is not None:
        _libc.prctl(PR_SET_NAME, name.encode()[:NAME_MAX], 0, 0, 0)


def worker(name: str) -> ThreadPoolExecutor:
    """One thread that runs the jobs given to it in order, named ``name`` for Python and the OS."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=name_this_thread,
                              initargs=(name,))
