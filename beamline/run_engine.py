"""The session's RunEngine: bluesky's, with Resource documents that survive a dropped event,
and no event saved with a reading its own suspenders refuse.

A file-writing device (ophyd's ``FileStoreBase``, ophyd-async's detectors) hands over each
Resource (or StreamResource) once, with the first Datum that refers to it, when the
RunEngine reads it into an event bundle. bluesky 1.15 throws the bundle's documents away
when the event is not saved: a suspension (a beam dump) or a pause between the event's
``read`` and ``save`` rewinds the plan to its checkpoint, and ``Msg('drop')`` drops it.
The Datum documents of that event are rightly gone with it, but so is the Resource, and
every later Datum then refers to a Resource no consumer was given: databroker and tiled
fail the run with event_model's ``UnresolvableForeignKeyError`` ("DatumPage refers to
unknown Resource uid"). Here a dropped bundle's Resource documents are kept and emitted
with the next event that is saved, before its Datum documents.

A suspension between a trigger and its read drops the event after its frame was taken: an
ophyd-async detector then hands over, with the retaken event, a StreamDatum spanning the
dropped event's frame and the new one, which bluesky refuses ("Received multiple indices in
a `stream_datum` document for one event"). After a rewind, such a StreamDatum is narrowed to
its last index: the frame of the trigger that was read.

A suspender (``SuspendFloor(I, 100)``) trips from its signal's monitor, and its request
reaches the RunEngine's loop as a task: an event whose reading of that same signal already
shows the fault (``I`` = 59 mA, read a moment before the monitor arrived) could be saved
before the suspension took effect. Here ``save`` first looks at the event's readings of the
installed suspenders' signals: if one would suspend, it waits (up to ``SUSPENSION_WAIT``)
for the suspension, which drops the event and takes it again once the suspender resumes.

A pause (Ctrl-C) or suspension rewinds to the last checkpoint, which plans put before each
event (``trigger_and_read``), not after it: one that came after an event was saved took that
event again (the run held it twice, under one ``seq_num``), and one after the run had closed
(while its devices were unstaged) replayed the last event's messages outside any run
("IllegalMessageSequence: Cannot bundle readings without an open run"). Here a saved event
and a closed run are checkpoints: what is in the documents is not taken again.

A read that the IOC's going away cut short fails in pyepics with "Get failed; status code:
192", naming neither device nor PV; here it is the session's ``IOCDisconnected``, naming both.

A suspension (or pause) reaches the plan by cancelling the RunEngine's task, after putting the
suspender's own messages on top of the plan stack. On Python 3.11 ``asyncio.wait_for``, which
ophyd-async's signal reads and puts go through, can swallow that cancellation when the read it
waits for completes in the same turn (CPython issue 86296, fixed in 3.12): the command then
returns its reading, which bluesky sends into the suspender's just-started generator, and the
run fails with "TypeError: can't send non-None value to a just-started generator" (a beam dump
landing as an ophyd-async frame is read, one trial in ~120 of ``python -m tools.soak_faults``).
Here every command lets a cancellation that arrived while it ran through, as if nothing below
it had swallowed it.

A suspender checks that the RunEngine is running and requests the suspension, which takes
effect two turns of the RunEngine's loop later. A beam dump in a run's last moment thus
reached the RunEngine after the plan's last message, during its clean-up: the run was
complete, but its cancellation cut the clean-up short (stopping the scan's motor) or bluesky's
final "idle" was refused ("TransitionError: Cannot transit from 'suspending' to 'idle'"), and
every later plan was refused ("The RunEngine is in a suspending state"). Here that run ends as
any other and the RunEngine goes idle; if the suspender is still tripped, the next plan waits
for it from its start, as bluesky does.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

from bluesky import Msg
from bluesky import RunEngine as _RunEngine
from bluesky._vendor.super_state_machine.errors import TransitionError
from bluesky.bundlers import RunBundler

RESOURCE_DOCUMENTS = ("resource", "stream_resource")
SUSPENSION_WAIT = 2.0  # s a save waits for a suspension its readings call for


class ResourceKeepingBundler(RunBundler):
    """bluesky's per-run bundler; after a dropped event, its Resource documents go out with the
    next saved one, and that event's StreamDatum documents name only its own frame."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._kept_resources: list[tuple[str, dict]] = []
        self._rewound = False  # an event was dropped since the last save
        self.readings: dict[str, dict] = {}  # the open event bundle's readings, by data key

    async def create(self, msg) -> None:
        self.readings = {}
        await super().create(msg)

    async def read(self, msg, reading):
        if self.bundling and reading:
            self.readings.update(reading)
        return await super().read(msg, reading)

    def _keep_resources(self) -> None:
        if self.bundling:
            self._kept_resources.extend(item for item in self._asset_docs_cache if item[0] in RESOURCE_DOCUMENTS)
        self._rewound = True

    def rewind(self) -> None:
        self._keep_resources()
        super().rewind()

    async def drop(self, msg) -> None:
        self._keep_resources()
        await super().drop(msg)

    async def save(self, msg) -> None:
        if self._kept_resources:
            self._asset_docs_cache.extendleft(reversed(self._kept_resources))
            self._kept_resources.clear()
        if self._rewound:
            for name, doc in self._asset_docs_cache:
                if name == "stream_datum" and doc["indices"]["stop"] - doc["indices"]["start"] > 1:
                    doc["indices"] = {"start": doc["indices"]["stop"] - 1, "stop": doc["indices"]["stop"]}
        await super().save(msg)
        self._rewound = False


def keeps_cancellation(command: Callable[..., Awaitable]) -> Callable[..., Awaitable]:
    """A RunEngine command coroutine that raises CancelledError if its task was cancelled while
    it ran, even when something it awaited swallowed the cancellation and returned."""

    @functools.wraps(command)
    async def kept(msg):
        task = asyncio.current_task()
        cancelling = getattr(task, "cancelling", None)  # Python 3.11+
        before = cancelling() if cancelling else 0
        result = await command(msg)
        if cancelling and cancelling() > before:
            # A cancellation still on its way (a pause the command itself requested, Msg('pause'))
            # arrives here, once; one that something below swallowed is raised.
            await asyncio.sleep(0)
            raise asyncio.CancelledError
        return result

    return kept


class RunEngine(_RunEngine):
    """bluesky's ``RunEngine`` with :class:`ResourceKeepingBundler`, whose events wait for
    the suspension their own readings call for, and whose commands keep a cancellation; use
    it as bluesky's."""

    RunBundler = ResourceKeepingBundler

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, command in list(self._command_registry.items()):
            self.register_command(name, keeps_cancellation(command))

    def request_suspend(self, fut, *, pre_plan=None, post_plan=None, justification=None):
        if self._state.is_idle:  # the run ended after the suspender looked (see the module's docstring)
            return
        super().request_suspend(fut, pre_plan=pre_plan, post_plan=post_plan, justification=justification)

    async def _run(self):
        try:
            return await super()._run()
        except (TransitionError, asyncio.CancelledError):
            if self._state != "suspending":
                raise
            # A suspension that arrived after the plan's last message, during bluesky's clean-up
            # (see the module's docstring): its cancellation cut the clean-up short (stopping a
            # motor, say), or bluesky's final 'idle' was refused.
            self.log.warning("A suspension requested as the plan ended was dropped: the run is complete")
            await self._finish_clean_up()
            self._state = "aborting"  # bluesky's states go from 'suspending' to 'idle' only through it
            self._state = "idle"
            return None

    async def _finish_clean_up(self) -> None:
        """What bluesky's ``_run`` does last (its ``finally``), after a cancellation cut it short;
        each step does nothing where bluesky's own had done it."""
        self._pardon_failures.set()
        await self._stop_movable_objects(success=True)
        for bundler in self._run_bundlers.values():
            bundler.clear_monitors()
            await bundler.backstop_collect()
        for obj in list(self._staged):
            try:
                obj.unstage()
            except Exception:
                self.log.exception("Failed to unstage %r.", obj)
            self._staged.remove(obj)
        for key, bundler in self._run_bundlers.items():
            if bundler.run_is_open:
                try:
                    await bundler.close_run(Msg("close_run", exit_status=self._exit_status, reason=self._reason,
                                                run_id=key))
                except Exception:
                    self.log.error("Failed to close run %r.", bundler)
        self._run_bundlers.clear()
        for plan in self._plan_stack:
            try:
                plan.close()
            except RuntimeError:
                pass

    async def _save(self, msg):
        bundler = self._run_bundlers.get(msg.run)
        if isinstance(bundler, ResourceKeepingBundler) and bundler.bundling and self._suspension_due(bundler.readings):
            # The suspension (requested from the suspender's monitor) cancels this wait and
            # the event is taken again after it; if none comes, the event is saved as read.
            await asyncio.sleep(SUSPENSION_WAIT)
        result = await super()._save(msg)
        self._checkpoint_unless_bundling()
        return result

    async def _read(self, msg):
        try:
            return await super()._read(msg)
        except Exception as exc:
            from .devices import lost_connection

            error = lost_connection(getattr(msg.obj, "name", str(msg.obj)), exc)
            if error is None:
                raise
            raise error from exc

    def _checkpoint_unless_bundling(self) -> None:
        """As Msg('checkpoint') would, unless an event is being bundled (in another run)."""
        if not any(bundler.bundling for bundler in self._run_bundlers.values()):
            self._reset_checkpoint_state()

    async def _close_run(self, msg):
        result = await super()._close_run(msg)
        self._checkpoint_unless_bundling()
        return result

    def _suspension_due(self, readings: dict[str, dict]) -> bool:
        """True if a reading of this event would trip an installed suspender."""
        for suspender in self.suspenders:
            signal = getattr(suspender, "_sig", None)  # bluesky's SuspenderBase keeps its signal there
            reading = readings.get(getattr(signal, "name", None))
            if reading is not None:
                try:
                    if suspender._should_suspend(reading["value"]):
                        return True
                except Exception:  # a suspender that cannot judge this value: not ours to decide
                    continue
        return False
