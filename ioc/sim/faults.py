"""Faults on demand, as state: what is broken now. No EPICS here.

The ``sim:`` PVs (:mod:`ioc.devices.sim_controls`) set the faults; the parts ask:

* the camera driver, when an exposure ends: :meth:`FaultModel.acquire_error`,
  :meth:`FaultModel.camera_stalled`, and :meth:`FaultModel.end_stall` once the stalled
  acquisition has been stopped;
* the file plugins, before a write: :meth:`FaultModel.write_error`;
* a motor record, when its controller starts a run: :meth:`FaultModel.motor_move` (a
  :class:`StalledMove` stops part-way, which the record ends as motorRecord.cc does a stall).

Listeners (:meth:`FaultModel.subscribe`) hear of each change: ``"camera"``, ``"motor"``, or
``"cleared"`` when every fault is turned off. The beam dump is the stored beam's
(:class:`ioc.sim.ring.StoredBeam`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .motion import Move

CAM_FAULTS = ("None", "AcquireError", "WriteError", "Stalled")
STALL_AXES = ("None", "dotx", "doty", "All")
STALL_FRACTION = 0.4  # a stalled move stops this far along its way
FRAME_TIMEOUT = 1.0  # simulated s after the exposure that a stalled camera waits before saying so


class CameraFault(Exception):
    """An acquisition that ends in error: the message is the driver's StatusMessage_RBV."""


@dataclass(frozen=True)
class StalledMove(Move):
    """A move that stops at ``target`` (part-way) on its way to ``intended``."""

    intended: float = 0.0


class FaultModel:
    """The faults now: the camera's (one of :data:`CAM_FAULTS`) and the stalled motors (:data:`STALL_AXES`)."""

    def __init__(self) -> None:
        self.camera = "None"
        self.motor_stall = "None"
        self._listeners: list[Callable[[str], Awaitable[None]]] = []

    def subscribe(self, listener: Callable[[str], Awaitable[None]]) -> None:
        """Await ``listener(event)`` after each change (``"camera"``, ``"motor"``, ``"cleared"``)."""
        self._listeners.append(listener)

    async def _changed(self, event: str) -> None:
        for listener in self._listeners:
            await listener(event)

    async def set_camera(self, fault: str) -> None:
        if fault not in CAM_FAULTS:
            raise ValueError(f"camera fault {fault!r} is not one of {', '.join(CAM_FAULTS)}")
        self.camera = fault
        await self._changed("camera")

    async def set_motor_stall(self, axes: str) -> None:
        if axes not in STALL_AXES:
            raise ValueError(f"motor stall {axes!r} is not one of {', '.join(STALL_AXES)}")
        self.motor_stall = axes
        await self._changed("motor")

    async def clear(self) -> None:
        """Every fault off."""
        self.camera = self.motor_stall = "None"
        await self._changed("cleared")

    # -- what the parts ask -----------------------------------------------------------

    def acquire_error(self) -> str | None:
        """The message an acquisition ends with (AcquireError), or None."""
        if self.camera == "AcquireError":
            return "Error reading the frame from the sensor: readout failed (sim:CamFault AcquireError)"
        return None

    def camera_stalled(self) -> bool:
        """True while the next frame never arrives (Stalled)."""
        return self.camera == "Stalled"

    async def end_stall(self) -> None:
        """A stalled acquisition was stopped: stopping (and so restarting) is what clears a stall."""
        if self.camera == "Stalled":
            await self.set_camera("None")

    def write_error(self) -> str | None:
        """The write error a file plugin reports instead of writing (WriteError), or None."""
        if self.camera == "WriteError":
            return "Error writing file: [Errno 5] Input/output error (sim:CamFault WriteError)"
        return None

    def motor_move(self, axis: str, move: Move) -> Move:
        """The move motor ``axis`` really makes when its controller starts ``move``."""
        if self.motor_stall not in ("All", axis) or move.distance == 0:
            return move
        stop = move.start + STALL_FRACTION * (move.target - move.start)
        return StalledMove(move.start, stop, move.velocity, move.accel_time, intended=move.target)
