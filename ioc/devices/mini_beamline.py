"""caproto's ``mini_beamline`` example by its names, driven by this IOC's physics and clock.

``beamline-ioc --mini-beamline`` serves, under ``--mini-prefix`` (default ``mini:``), the PVs of
``caproto/ioc_examples/mini_beamline.py`` that the bluesky tutorials and bluesky-pods
configure ophyd devices against:

==========================  =====================================================================
``current``                 ring current (mA), read-only: this IOC's ring (``ring:current``)
``ph:``, ``edge:``, ``slit:``  point detectors: ``det`` (counts, read-only), ``exp`` (s, clipped
                            to >= 0), on a motor ``mtr`` (a put moves it at ``vel`` units/s,
                            the readback stepping at ``mtr_tick_rate`` Hz; put completion
                            when the move ends)
``dot:``                    the camera of the example: ``det`` (the image, row-major, float),
                            ``img_sum``, ``exp``, ``mtrx``/``mtry`` (moved at once, as in the
                            example), ``shutter_open``, ``ArraySizeX_RBV``/``ArraySizeY_RBV``,
                            ``ArraySize_RBV`` ([rows, cols])
==========================  =====================================================================

Behaviour as in the example (point detectors refresh every 0.5 s, the image every 2 s, the
current every 0.1 s, all wall time), with these differences, each for a reason:

* the counts come from :mod:`ioc.sim.beamprofiles` and :mod:`ioc.sim.physics` (the same curves and
  photon rate as the example; the image is the camera's spot at ``mtrx``/``mtry``) and the
  current from this IOC's ring model (top-up, not a 4 s sine);
* a move takes ``|distance| / vel`` *simulated* seconds (``sim:TimeScale`` divides the wall
  time, as for every motion here); at time scale 1 it is the example's timing;
* a detector's ``det`` (and the spot's ``det``/``img_sum``) is refreshed when its motor's
  move ends and when ``exp`` (or ``shutter_open``) is put, before the put completes: the
  example only refreshes on its scan, so a scan point could read the previous position's
  value (up to 0.5 s, or 2 s for the image, old);
* bad puts are refused with a message naming the PV (a non-finite number, ``vel`` or
  ``mtr_tick_rate`` <= 0, where the example divides by zero); a put to ``mtr`` during a
  move retargets it (the earlier put completes at once, at the position reached).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np
from caproto import ChannelType
from caproto.server import pvproperty

from ..records import Macro, RecordGroup
from ..records.validate import finite
from ..sim import beamprofiles, physics
from ..sim.clock import SimClock
from ..threads import worker

MAX_EXPOSURE = 3600.0  # s; the example has no bound, but a Poisson mean must stay finite
DET_PERIOD = 0.5  # s (wall) between point-detector refreshes, as in the example
DOT_PERIOD = 2.0  # s (wall) between image refreshes, as in the example
CURRENT_PERIOD = 0.1  # s (wall)


def _exposure(instance, value) -> float:
    """The example's clip to >= 0, and a refusal of what cannot be an exposure."""
    value = finite(instance.pvname, value, -np.inf, MAX_EXPOSURE, "exposure (s)")
    return max(value, 0.0)


class MiniNoise:
    """The noise of the example's devices: one generator for the point detectors, one for the
    image, restarted together by :meth:`reseed` (``sim:Seed``)."""

    def __init__(self, seed: int | None = None) -> None:
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        point, image = np.random.SeedSequence(seed).spawn(2)
        self.point_rng = np.random.default_rng(point)
        self.image_rng = np.random.default_rng(image)


class PointDetector(RecordGroup):
    """A point detector behind an aperture (``profile``: pinhole, edge or slit) on a motor:
    ``det``, ``mtr``, ``exp``, ``vel``, ``mtr_tick_rate``; counts follow ``current()`` (mA)."""

    asg = "HARDWARE"  # access security group (the ACF's): a detector and its motor, as the beamline's hardware

    det = pvproperty(value=0.0, dtype=float, read_only=True, doc="Scalar detector value")
    mtr = pvproperty(value=0.0, dtype=float, precision=3, record="ai", doc="Motor")
    exp = pvproperty(value=1.0, dtype=float, doc="Exponential value")
    vel = pvproperty(value=1.0, dtype=float, doc="Velocity")
    mtr_tick_rate = pvproperty(value=10.0, dtype=float, units="Hz", doc="Update tick rate")

    def __init__(self, prefix: str, *, profile: str, clock: SimClock, current: Callable[[], float],
                 noise: MiniNoise, aperture: Callable[[], float | None] | None = None) -> None:
        if profile not in beamprofiles.PROFILES:
            raise ValueError(f"{prefix}: no aperture profile {profile!r}; there are {', '.join(beamprofiles.PROFILES)}")
        super().__init__(prefix)
        self.profile = profile
        self.clock = clock
        self.current = current
        self.noise = noise
        self.aperture = aperture  # the position of a motor record moving the aperture (None: ``mtr``)
        self._move_id = 0

    def reading(self, position: float | None = None, exposure: float | None = None) -> float:
        """One reading (counts) at ``position`` for ``exposure`` s (default: the present ones)."""
        moved = self.aperture() if self.aperture is not None and position is None else None
        m = position if position is not None else self.mtr.value if moved is None else moved
        exposure = self.exp.value if exposure is None else exposure
        transmission = beamprofiles.PROFILES[self.profile](m)
        return float(beamprofiles.point_counts(self.noise.point_rng, transmission, exposure, self.current()))

    @det.scan(period=DET_PERIOD)
    async def det(self, instance, async_lib):
        await instance.write(self.reading())

    @exp.putter
    async def exp(self, instance, value):
        value = _exposure(instance, value)
        await self.det.write(self.reading(exposure=value))
        return value

    @vel.putter
    async def vel(self, instance, value):
        return finite(instance.pvname, value, 1e-9, 1e9, "velocity (units/s)")

    @mtr_tick_rate.putter
    async def mtr_tick_rate(self, instance, value):
        return finite(instance.pvname, value, 1e-3, 1000.0, "update tick rate (Hz)")

    @mtr.putter
    async def mtr(self, instance, value):
        target = finite(instance.pvname, value, -np.inf, np.inf, "motor position")
        self._move_id += 1
        move_id = self._move_id
        start = float(instance.value)
        distance = target - start
        wall_time = self.clock.wall(abs(distance) / self.vel.value)
        dwell = 1.0 / self.mtr_tick_rate.value
        t0 = time.monotonic()
        # The readback steps at the tick rate (wall) along a move lasting |distance|/vel
        # simulated seconds, as the example's loop of N = total_time // dwell steps does.
        while True:
            await asyncio.sleep(min(dwell, max(wall_time - (time.monotonic() - t0), 0.0)))
            if move_id != self._move_id:  # retargeted by a newer put: stop where we are
                return instance.value
            elapsed = time.monotonic() - t0
            if elapsed >= wall_time:
                break
            await instance.write(start + distance * elapsed / wall_time, verify_value=False)
        await instance.write(target, verify_value=False)
        await self.det.write(self.reading(target))
        return target


class MovingDot(RecordGroup):
    """The example's camera: the spot image as a float waveform, its sum, exposure, two motors, a shutter."""

    asg = "HARDWARE"  # access security group (the ACF's): a camera and its motors, as the beamline's hardware

    # The sensor size is the configuration's (or --sensor-shape): macros of the group.
    det = pvproperty(value=Macro("NELEMENTS").then(np.zeros), max_length=Macro("NELEMENTS"), dtype=float,
                     read_only=True, doc="Detector image (rows x cols, row-major)")
    img_sum = pvproperty(value=0.0, read_only=True, dtype=float, doc="Image sum")
    mtrx = pvproperty(value=0.0, dtype=float, doc="Motor X")
    mtry = pvproperty(value=0.0, dtype=float, doc="Motor Y")
    exp = pvproperty(value=1.0, dtype=float, doc="Exposure (s)")
    shutter_open = pvproperty(value=1, dtype=ChannelType.LONG, doc="Shutter open/close")
    ArraySizeY_RBV = pvproperty(value=Macro("YSIZE"), dtype=ChannelType.LONG, read_only=True,
                                doc="Image array size Y")
    ArraySizeX_RBV = pvproperty(value=Macro("XSIZE"), dtype=ChannelType.LONG, read_only=True,
                                doc="Image array size X")
    ArraySize_RBV = pvproperty(value=Macro("SHAPE", list), max_length=2,
                               dtype=ChannelType.LONG, read_only=True, doc="Image array size [Y, X]")

    def __init__(self, prefix: str, *, sensor_shape: tuple[int, int], current: Callable[[], float],
                 noise: MiniNoise) -> None:
        rows, cols = self.shape = tuple(sensor_shape)
        super().__init__(prefix, macros={"YSIZE": rows, "XSIZE": cols, "NELEMENTS": rows * cols,
                                         "SHAPE": [rows, cols]})
        self.current = current
        self.noise = noise
        # One worker: the image rng is used by one thread only, and frames post in order.
        self._pool = worker("mini-dot")
        self._lock = asyncio.Lock()

    def _image(self, x: float, y: float, exposure: float, current: float, shutter_open: bool) -> np.ndarray:
        """Runs on the worker thread: background, plus the spot if the shutter is open."""
        rng = self.noise.image_rng
        if not shutter_open:
            return physics.background(rng, self.shape)
        return physics.frame(rng, x, y, exposure, current, self.shape)

    async def refresh(self, **override) -> None:
        """Take a new image with the current settings (``override`` replaces some) and post it."""
        async with self._lock:
            settings = dict(x=self.mtrx.value, y=self.mtry.value, exposure=self.exp.value,
                            shutter_open=bool(self.shutter_open.value))
            settings.update(override)
            current = self.current()
            loop = asyncio.get_running_loop()
            img = await loop.run_in_executor(self._pool, lambda: self._image(current=current, **settings))
            await self.img_sum.write(float(img.sum(dtype=np.uint64)))
            await self.det.write(img.ravel().astype(np.float64))

    @det.scan(period=DOT_PERIOD)
    async def det(self, instance, async_lib):
        await self.refresh()

    @mtrx.putter
    async def mtrx(self, instance, value):
        value = finite(instance.pvname, value, -np.inf, np.inf, "spot x position")
        await self.refresh(x=value)
        return value

    @mtry.putter
    async def mtry(self, instance, value):
        value = finite(instance.pvname, value, -np.inf, np.inf, "spot y position")
        await self.refresh(y=value)
        return value

    @exp.putter
    async def exp(self, instance, value):
        value = _exposure(instance, value)
        await self.refresh(exposure=value)
        return value

    @shutter_open.putter
    async def shutter_open(self, instance, value):
        await self.refresh(shutter_open=bool(value))
        return value

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class MiniCurrent(RecordGroup):
    """The example's ring current: a plain read-only PV (mA) at ``prefix``, following ``current()``."""

    asg = "HARDWARE"  # access security group (the ACF's): the example's devices, as the beamline's hardware

    current = pvproperty(value=500.0, name="", dtype=float, read_only=True, units="mA", precision=3,
                         doc="Storage ring current (mA)")

    def __init__(self, prefix: str, *, current: Callable[[], float]) -> None:
        super().__init__(prefix)
        self.now = current

    async def post(self) -> None:
        """Post the current now (its scan is slower than a beam dump)."""
        await self.current.write(self.now())

    @current.getter
    async def current(self, instance):
        return self.now()

    @current.scan(period=CURRENT_PERIOD)
    async def current(self, instance, async_lib):
        await instance.write(self.now())
