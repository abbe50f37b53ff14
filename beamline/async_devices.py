"""The beamline's devices built from ophyd-async (0.21.3) classes, and a session around them.

``make_async_session(prefix)`` returns the same names as :func:`beamline.session.make_session`
(``RE``, ``bec``, ``tiled``, ``dot``, ``I``, ``mtr_dotx``, ``mtr_doty``), built from stock
ophyd-async classes over Channel Access (aioca):

* ``dot``: :class:`DotDetector`, ``SimDetector`` (``cam1:``) with the TIFF writer (``ADWriterFactory.tiff``,
  ``TIFF1:``) and the stats plugin (``NDStatsIO``, ``Stats1:``) whose ``Total_RBV`` is read
  with every frame (data key ``dot-stats-total``); frames are written by the IOC under
  ``<data root>/images/YYYY/MM/DD/dot/`` and the run records StreamResource/StreamDatum
  documents pointing at them (data key ``dot``, shape ``(480, 640)``);
* ``mtr_dotx``, ``mtr_doty``: ``ophyd_async.epics.motor.Motor`` (data keys ``motor_dotx``,
  ``motor_doty``);
* ``I``: the ring current (mA), ``epics_signal_r(float, ...)``.

Runs are stored in tiled (databroker 1.2.5 cannot read StreamResource documents): the
session subscribes bluesky's TiledWriter when a tiled server is found, as the legacy
session does (``BEAMLINE_TILED_URI``, or the ``tiled.json`` of a running
``beamline-tiled`` in the data root). Without one it stores nothing and says so.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from pathlib import PurePosixPath

from .connection import apply_ca_environment, ioc_data_root

logger = logging.getLogger(__name__)

CONNECTED_TIMEOUT = 1.0  # s: a channel that does not connect within this counts as disconnected


def _ca_name(signal) -> str:
    """The CA PV name of an ophyd-async EPICS signal (its source without ``ca://``)."""
    return signal.source.split("://", 1)[-1]


async def _disconnection(pv: str) -> Exception:
    """Returns (never raises) :class:`beamline.devices.IOCDisconnected` once ``pv``'s channel is
    disconnected, or at once if it is not connected within ``CONNECTED_TIMEOUT``.

    Only a monitor is awaited here, never ``aioca.connect``: its ``asyncio.wait_for`` can
    swallow a cancellation that arrives as it completes (Python 3.11), and a task that
    outlived its cancellation would hold up whoever gathers it.
    """
    from aioca import camonitor

    from .devices import IOCDisconnected

    events: asyncio.Queue = asyncio.Queue()
    subscription = camonitor(pv, events.put_nowait, notify_disconnect=True, connect_timeout=CONNECTED_TIMEOUT)
    try:
        while (await events.get()).ok:
            pass
        return IOCDisconnected(f"lost the connection to the IOC ({pv})")
    finally:
        subscription.close()


async def _first(operation, failure: asyncio.Future):
    """``operation``'s result, or ``failure``'s exception raised as soon as ``failure`` is done first.

    A channel access error of a disconnected channel (aioca's ``CANothing``, "Virtual circuit
    disconnect") that ``operation`` raises is raised as :class:`beamline.devices.IOCDisconnected`.
    """
    from aioca import CANothing

    from .devices import IOCDisconnected

    operation = asyncio.ensure_future(operation)
    try:
        await asyncio.wait({operation, failure}, return_when=asyncio.FIRST_COMPLETED)
        if not operation.done():
            operation.cancel()
            await asyncio.gather(operation, return_exceptions=True)
            raise failure.result()
        try:
            return operation.result()
        except CANothing as exc:
            raise IOCDisconnected(f"lost the connection to the IOC ({exc})") from exc
    finally:
        if not operation.done():
            operation.cancel()


async def _watched(updates, failure: asyncio.Future):
    """The watcher updates of ``updates`` (an operation's async iterator), raising ``failure``'s exception
    as soon as ``failure`` is done first."""
    updates = updates.__aiter__()
    try:
        while True:
            try:
                update = await _first(anext(updates), failure)
            except StopAsyncIteration:
                return
            yield update
    finally:
        failure.cancel()
        await asyncio.gather(failure, return_exceptions=True)
        await updates.aclose()


async def _unless_disconnected(operation, pv: str, name: str):
    """Await ``operation``; raise :class:`beamline.devices.IOCDisconnected` at once if ``pv``'s
    channel is (or becomes) disconnected first."""
    from .devices import IOCDisconnected

    failure = asyncio.ensure_future(_disconnection(pv))
    try:
        return await _first(operation, failure)
    except IOCDisconnected as exc:
        raise IOCDisconnected(f"{name}: {exc}") from None
    finally:
        failure.cancel()
        await asyncio.gather(failure, return_exceptions=True)


@functools.cache
def _classes() -> tuple[type, type]:
    """:class:`DotDetector` and :class:`BeamlineMotor`, made on first use (ophyd-async is
    imported only by its sessions)."""
    from ophyd_async.core import AsyncStatus, WatchableAsyncStatus
    from ophyd_async.epics.adsimdetector import SimDetector
    from ophyd_async.epics.motor import Motor

    from .devices import DetectorError, IOCDisconnected, SettingsNotRestored

    class DotDetector(SimDetector):
        """ophyd-async's ``SimDetector`` that fails at once when the frame cannot come.

        The stock detector waits for the file writer's ``NumCaptured_RBV`` to count the
        frame and, when the camera fails (``DetectorState_RBV`` Error) or its IOC goes away,
        times out after 10 s naming that PV (and unstaging waits 10 s more per setting).
        This one's ``trigger`` fails as soon as the driver reports Error, with the driver's
        ``StatusMessage_RBV`` (:class:`beamline.devices.DetectorError`, or ``OSError`` with
        TIFF1's ``WriteMessage`` when the file plugin failed); ``trigger`` and ``stage`` fail
        with :class:`beamline.devices.IOCDisconnected` as soon as the driver's channel is
        disconnected; ``unstage`` then gives up with a :class:`SettingsNotRestored` warning,
        so that the run's own error is the one reported.
        """

        @WatchableAsyncStatus.wrap
        async def trigger(self):
            from aioca import camonitor

            # The driver's state as it is before this acquisition starts, then every change.
            pv = _ca_name(self.driver.detector_state)
            states: asyncio.Queue = asyncio.Queue()
            subscription = camonitor(pv, states.put_nowait, datatype=str, notify_disconnect=True,
                                     all_updates=True, connect_timeout=CONNECTED_TIMEOUT)
            try:
                before = await _unless_disconnected(states.get(), pv, self.name)
                if not before.ok:
                    raise IOCDisconnected(f"{self.name}: not connected to the IOC ({pv})")
                failure = asyncio.ensure_future(self._acquisition_failure(pv, states, before))
                async for update in _watched(SimDetector.trigger.__wrapped__(self), failure):
                    yield update
            finally:
                subscription.close()

        @AsyncStatus.wrap
        async def stage(self) -> None:
            await self._unless_disconnected(SimDetector.stage.__wrapped__(self))

        async def read(self):
            return await self._unless_disconnected(SimDetector.read(self))

        @AsyncStatus.wrap
        async def unstage(self) -> None:
            try:
                await self._unless_disconnected(SimDetector.unstage.__wrapped__(self))
            except IOCDisconnected as exc:
                import warnings

                message = f"{self.name}: unstaged without stopping the camera and its file writer: {exc}"
                logger.warning("%s", message)
                warnings.warn(SettingsNotRestored(message), stacklevel=2)

        async def _unless_disconnected(self, operation):
            return await _unless_disconnected(operation, _ca_name(self.driver.detector_state), self.name)

        async def _acquisition_failure(self, pv: str, states: asyncio.Queue, before) -> Exception:
            """Returns, never raises: the error once the acquisition started after ``before`` (the
            driver's state then) has failed, or the driver's channel disconnected."""
            from aioca import DBR_CHAR_STR, caget

            try:
                acquiring = before.ok and before != "Error"  # an Error left from before is not this one's
                while True:
                    state = await states.get()
                    if not state.ok:
                        return IOCDisconnected(f"{self.name}: lost the connection to the IOC ({pv}) while "
                                               f"acquiring a frame")
                    if state != "Error":
                        acquiring = True
                        continue
                    if not acquiring:
                        continue
                    prefix = pv[: -len("cam1:DetectorState_RBV")]
                    message = await caget(pv.replace("DetectorState_RBV", "StatusMessage_RBV"),
                                          datatype=DBR_CHAR_STR, timeout=2)
                    if message.startswith(prefix + "TIFF1:"):
                        written = await caget(prefix + "TIFF1:WriteMessage", datatype=DBR_CHAR_STR, timeout=2)
                        return OSError(f"{self.name}: the IOC could not save the frame: {written}")
                    return DetectorError(f"{self.name}: the camera reports an error: {message}")
            except Exception as exc:  # the IOC went away while reading why
                return IOCDisconnected(f"{self.name}: could not read the camera's error ({pv}): {exc}")

    class BeamlineMotor(Motor):
        """ophyd-async's ``Motor`` whose move fails at once with
        :class:`beamline.devices.IOCDisconnected` when its IOC goes away (the stock one times
        out after the move's time plus 10 s, naming ``.DMOV``), and whose ``stop`` does not
        wait for an IOC that has gone (there is nothing to stop: it says so in the log)."""

        async def stop(self, success: bool = False) -> None:
            try:
                await _unless_disconnected(Motor.stop(self, success=success), _ca_name(self.motor_done_move),
                                           self.name)
            except IOCDisconnected as exc:
                logger.warning("%s: not stopped: %s", self.name, exc)

        @AsyncStatus.wrap
        async def unstage(self) -> None:
            try:
                await _unless_disconnected(Motor.unstage.__wrapped__(self), _ca_name(self.motor_done_move),
                                           self.name)
            except IOCDisconnected as exc:
                logger.warning("%s: unstaged without stopping it: %s", self.name, exc)

        @WatchableAsyncStatus.wrap
        async def set(self, new_position: float, timeout=None):
            from ophyd_async.core import CALCULATE_TIMEOUT

            failure = asyncio.ensure_future(self._disconnection())
            moving = Motor.set.__wrapped__(self, new_position, CALCULATE_TIMEOUT if timeout is None else timeout)
            async for update in _watched(moving, failure):
                yield update

        async def _disconnection(self) -> Exception:
            exc = await _disconnection(_ca_name(self.motor_done_move))
            return IOCDisconnected(f"{self.name}: {exc} during a move")

    return DotDetector, BeamlineMotor


def make_async_devices(prefix: str, data_root: str) -> dict:
    """ophyd-async ``dot``, ``I``, ``mtr_dotx``, ``mtr_doty`` (named, not yet connected)."""
    from ophyd_async.core import UUIDFilenameProvider, YMDPathProvider
    from ophyd_async.epics.adcore import ADWriterFactory, NDStatsIO, PluginSignalDataLogic
    from ophyd_async.epics.core import epics_signal_r

    # <data root>/images/YYYY/MM/DD/dot/<uuid>_000000.tiff: the IOC creates the five levels.
    path_provider = YMDPathProvider(UUIDFilenameProvider(), PurePosixPath(data_root) / "images",
                                    create_dir_depth=-5, datakey_name_as_base_dir=True)
    stats = NDStatsIO(f"{prefix}dot:Stats1:")
    dot_detector, motor = _classes()
    dot = dot_detector(f"{prefix}dot:", ADWriterFactory.tiff(path_provider, writer_suffix="TIFF1:"),
                      plugins={"stats": stats}, name="dot")
    # Stats1's total with each frame, read once the plugins are done with it.
    dot.add_detector_logics(PluginSignalDataLogic(driver=dot.driver, signal=stats.total))
    return {
        "dot": dot,
        "I": epics_signal_r(float, f"{prefix}ring:current", name="I"),
        "mtr_dotx": motor(f"{prefix}mtr:dotx", name="motor_dotx"),
        "mtr_doty": motor(f"{prefix}mtr:doty", name="motor_doty"),
    }


def connect_async_devices(devices: dict, timeout: float) -> None:
    """Connect ophyd-async devices in bluesky's event loop; raises ``NotConnectedError`` naming what did not."""
    from bluesky.run_engine import call_in_bluesky_event_loop
    from ophyd_async.core import wait_for_connection

    async def connect():
        await wait_for_connection(**{name: device.connect(timeout=timeout) for name, device in devices.items()})

    call_in_bluesky_event_loop(connect())


def make_async_session(prefix: str | None = None, live: bool | None = None, timeout: float | None = None,
                       config: str | None = None) -> dict:
    """The beamline from ophyd-async devices: ``RE``, ``bec``, ``tiled``, ``dot``, ``I``, ``mtr_dotx``, ``mtr_doty``;
    with ``config`` (a configuration file), devices for everything it declares, by its names
    (:mod:`beamline.configured`)."""
    apply_ca_environment(prefix)
    from .live import live_feedback
    from .run_engine import RunEngine
    from .session import LIVE, PREFIX, subscribe_tiled

    prefix = PREFIX if prefix is None else prefix
    live = LIVE if live is None else live
    timeout = float(os.environ.get("BEAMLINE_CONNECT_TIMEOUT", "5")) if timeout is None else timeout
    if config is not None:
        from .configured import connect_configured_async

        RE = RunEngine({})
        devices, data_root = connect_configured_async(config, timeout)
    else:
        data_root = ioc_data_root(prefix, timeout)
        RE = RunEngine({})  # makes bluesky's event loop, in which the devices connect and run
        devices = make_async_devices(prefix, data_root)
        connect_async_devices(devices, timeout)
    bec = live_feedback()
    if live:
        RE.subscribe(bec)
    tiled = subscribe_tiled(RE, data_root)
    if tiled is None:
        logger.warning("No tiled server found (BEAMLINE_TILED_URI, or beamline-tiled's tiled.json in %s): "
                       "runs of the ophyd-async session are not stored", data_root)
    return {"RE": RE, "bec": bec, "tiled": tiled, **devices}


__all__ = ["make_async_devices", "make_async_session"]
