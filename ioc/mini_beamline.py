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

* the counts come from :mod:`ioc.beamprofiles` and :mod:`ioc.physics` (the same curves and
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
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from caproto import ChannelType
from caproto.server import PVGroup, SubGroup, pvproperty

from . import beamprofiles, physics
from .validate import finite

MAX_EXPOSURE = 3600.0  # s; the example has no bound, but a Poisson mean must stay finite
DET_PERIOD = 0.5  # s (wall) between point-detector refreshes, as in the example
DOT_PERIOD = 2.0  # s (wall) between image refreshes, as in the example
CURRENT_PERIOD = 0.1  # s (wall)


def _exposure(instance, value) -> float:
    """The example's clip to >= 0, and a refusal of what cannot be an exposure."""
    value = finite(instance.pvname, value, -np.inf, MAX_EXPOSURE, "exposure (s)")
    return max(value, 0.0)


class PointDetector(PVGroup):
    """A point detector behind an aperture on a motor: ``det``, ``mtr``, ``exp``, ``vel``,
    ``mtr_tick_rate``. Subclasses name their transmission profile."""

    profile = "pinhole"

    det = pvproperty(value=0.0, dtype=float, read_only=True, doc="Scalar detector value")
    mtr = pvproperty(value=0.0, dtype=float, precision=3, record="ai", doc="Motor")
    exp = pvproperty(value=1.0, dtype=float, doc="Exponential value")
    vel = pvproperty(value=1.0, dtype=float, doc="Velocity")
    mtr_tick_rate = pvproperty(value=10.0, dtype=float, units="Hz", doc="Update tick rate")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._move_id = 0

    @property
    def beamline(self) -> MiniBeamline:
        return self.parent

    def reading(self, position: float | None = None, exposure: float | None = None) -> float:
        """One reading (counts) at ``position`` for ``exposure`` s (default: the present ones)."""
        m = self.mtr.value if position is None else position
        exposure = self.exp.value if exposure is None else exposure
        transmission = beamprofiles.PROFILES[self.profile](m)
        return float(beamprofiles.point_counts(self.beamline.point_rng, transmission, exposure,
                                               self.beamline.current_now()))

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
        clock = self.beamline.clock
        wall_time = clock.wall(abs(distance) / self.vel.value)
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


class PinHole(PointDetector):
    """A pinhole simulation device."""

    profile = "pinhole"


class Edge(PointDetector):
    """An edge simulation device."""

    profile = "edge"


class Slit(PointDetector):
    """A slit simulation device."""

    profile = "slit"


class MovingDot(PVGroup):
    """The example's camera: the spot image as a float waveform, its sum, exposure, two motors, a shutter."""

    det = pvproperty(value=np.zeros(physics.SENSOR_SHAPE[0] * physics.SENSOR_SHAPE[1]), dtype=float,
                     read_only=True, doc="Detector image (rows x cols, row-major)")
    img_sum = pvproperty(value=0.0, read_only=True, dtype=float, doc="Image sum")
    mtrx = pvproperty(value=0.0, dtype=float, doc="Motor X")
    mtry = pvproperty(value=0.0, dtype=float, doc="Motor Y")
    exp = pvproperty(value=1.0, dtype=float, doc="Exposure (s)")
    shutter_open = pvproperty(value=1, dtype=ChannelType.LONG, doc="Shutter open/close")
    ArraySizeY_RBV = pvproperty(value=physics.SENSOR_SHAPE[0], dtype=ChannelType.LONG, read_only=True,
                                doc="Image array size Y")
    ArraySizeX_RBV = pvproperty(value=physics.SENSOR_SHAPE[1], dtype=ChannelType.LONG, read_only=True,
                                doc="Image array size X")
    ArraySize_RBV = pvproperty(value=list(physics.SENSOR_SHAPE), dtype=ChannelType.LONG, read_only=True,
                               doc="Image array size [Y, X]")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        rows, cols = self.shape = self.parent.shape
        # The sensor size is a command-line option (--sensor-shape): set it before serving.
        self.det._max_length = rows * cols
        self.det._data["value"] = np.zeros(rows * cols)
        self.ArraySizeY_RBV._data["value"] = rows
        self.ArraySizeX_RBV._data["value"] = cols
        self.ArraySize_RBV._data["value"] = [rows, cols]
        # One worker: the image rng is used by one thread only, and frames post in order.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mini-dot")
        self._lock = asyncio.Lock()

    def _image(self, x: float, y: float, exposure: float, current: float, shutter_open: bool) -> np.ndarray:
        """Runs on the worker thread: background, plus the spot if the shutter is open."""
        rng = self.parent.image_rng
        if not shutter_open:
            return physics.background(rng, self.shape)
        return physics.frame(rng, x, y, exposure, current, self.shape)

    async def refresh(self, **override) -> None:
        """Take a new image with the current settings (``override`` replaces some) and post it."""
        async with self._lock:
            settings = dict(x=self.mtrx.value, y=self.mtry.value, exposure=self.exp.value,
                            shutter_open=bool(self.shutter_open.value))
            settings.update(override)
            current = self.parent.current_now()
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


class MiniBeamline(PVGroup):
    """caproto's mini_beamline PVs on this IOC's ring current, clock and physics.

    ``beamline`` is the :class:`ioc.app.BeamlineIOC` whose ring current and clock it shares.
    """

    current = pvproperty(value=500.0, dtype=float, read_only=True, units="mA", precision=3,
                         doc="Storage ring current (mA), shared with ring:current")

    ph = SubGroup(PinHole, doc="Simulated pinhole")
    edge = SubGroup(Edge, doc="Simulated edge")
    slit = SubGroup(Slit, doc="Simulated slit")
    dot = SubGroup(MovingDot, doc="The simulated detector")

    def __init__(self, *args, beamline, seed: int | None = None, **kwargs) -> None:
        self.beamline = beamline
        self.clock = beamline.clock
        self.shape = tuple(beamline.sensor_shape)
        self.reseed(seed)
        super().__init__(*args, **kwargs)

    def reseed(self, seed: int | None) -> None:
        """Restart the noise: one generator for the point detectors, one for the image."""
        point, image = np.random.SeedSequence(seed).spawn(2)
        self.point_rng = np.random.default_rng(point)
        self.image_rng = np.random.default_rng(image)

    def current_now(self) -> float:
        """Ring current in mA now (the beamline's ring)."""
        return self.beamline.ring_current_now()

    @current.getter
    async def current(self, instance):
        return self.current_now()

    @current.scan(period=CURRENT_PERIOD)
    async def current(self, instance, async_lib):
        await instance.write(self.current_now())
