"""Uncaught errors in a terminal IPython session: the message first, the traceback on request.

A plan that fails in ``RE(...)`` raises through the RunEngine, asyncio and ophyd: IPython's
default report is 60-80 lines with the message on the last one, and for a refused set or a
failed move that last line is bluesky's ``FailedStatus`` showing the status's repr, the reason
being its cause. NSLS-II's beamline profiles put such sessions in IPython's ``%xmode Minimal``
(``nslsii.configure_base(tb_minimize=True)``), which shows the last line only. Here, in Minimal
mode, an uncaught exception shows its innermost cause (what went wrong) and a hint::

    PutRefused: dot_exp: the IOC refused -1 for BL:dot:cam1:AcquireTime: Cannot write data -1.0. ...
    (raised as FailedStatus; %tb context prints the traceback)

``%tb context`` prints the last traceback in full, ``%xmode context`` brings back IPython's
full reports for every error. Notebooks (the kernel's shell) and plain ``python`` are left as
they are: a notebook's report of a failing cell is what its tests read.
"""

from __future__ import annotations

import sys

__all__ = ["brief_report", "show_errors_briefly"]

HINT = "%tb context prints the traceback"


def brief_report(exc: BaseException) -> tuple[BaseException, str]:
    """The exception to show (the innermost of its explicit causes or unsuppressed contexts) and the hint line."""
    chain = [exc]
    while True:
        last = chain[-1]
        nxt = last.__cause__ if last.__cause__ is not None else (
            None if last.__suppress_context__ else last.__context__)
        if nxt is None or nxt in chain:
            break
        chain.append(nxt)
    root = chain[-1]
    hint = f"({HINT})" if root is exc else f"(raised as {type(exc).__name__}; {HINT})"
    return root, hint


def _show(shell, etype, value, tb, tb_offset=None):
    """IPython's custom exception handler (``set_custom_exc``): brief in Minimal mode, else IPython's own."""
    if shell.InteractiveTB.mode != "Minimal" or issubclass(etype, SyntaxError):
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    # What %tb shows, as IPython's own report would have set it.
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    if sys.version_info >= (3, 12):
        sys.last_exc = value
    root, hint = brief_report(value)
    lines = shell.InteractiveTB.get_exception_only(type(root), root)
    print(shell.InteractiveTB.stb2text([*lines, hint]))
    return None


def show_errors_briefly() -> bool:
    """In a terminal IPython session: ``%xmode Minimal`` and the handler above; True if installed."""
    if "IPython" not in sys.modules:  # not in IPython
        return False
    from IPython import get_ipython
    from IPython.terminal.interactiveshell import TerminalInteractiveShell

    shell = get_ipython()
    if not isinstance(shell, TerminalInteractiveShell):
        return False
    shell.InteractiveTB.set_mode(mode="Minimal")  # as %xmode Minimal does, without its message
    shell.set_custom_exc((Exception,), _show)
    return True
