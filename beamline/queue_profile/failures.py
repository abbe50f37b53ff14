"""Why a queued plan failed, in the history: the device's own error rather than its status.

When a device's status fails (a trigger, a move), bluesky throws ``FailedStatus`` into the
plan; its text is the status (``ADTriggerStatus(device=dot, done=True, success=False)``) and the
reason (``IOCNotAnswering: dot: the IOC stopped answering ...``, ``PutRefused: ...``) is the
status's exception. The queue server records ``str()`` of what the plan raised, so
:func:`explain_failures`, a RunEngine preprocessor, raises that reason instead, chained to the
``FailedStatus``; a session at the terminal shows both anyway.
"""

from __future__ import annotations

from bluesky.utils import FailedStatus


def reason(exc: FailedStatus) -> BaseException | None:
    """The exception behind a ``FailedStatus``, if the status holds one."""
    if exc.__cause__ is not None:
        return exc.__cause__
    status = exc.args[0] if exc.args else None
    try:
        return status.exception() if status is not None else None
    except Exception:
        return None


def explain_failures(plan):
    """Run ``plan``; a ``FailedStatus`` leaves it as its reason (``raise reason from failed``)."""
    try:
        return (yield from plan)
    except FailedStatus as failed:
        cause = reason(failed)
        if cause is None or cause is failed:
            raise
        raise cause from failed
