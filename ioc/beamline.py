"""A beamline's IOC parts, made from its configuration (:mod:`beamline_shared.config`) and wired.

:class:`BeamlineIOC` makes every device one or more configured IOCs declare, with the PV names
the file gives, on one simulation: one clock, one stored beam, one fault model. It hands each
part what it needs: the motors' positions to the camera whose spot they move (or to the point
detector whose aperture they move), the ports of each camera's plugin chain, the ring current
to whatever counts photons. No part looks another up.

A camera's plugins are made from the list the configuration gives, as a list of
:class:`~.areadetector.plugin_set.PluginSpec` (class, suffix, asyn port, upstream port, enabled,
upstream address) for :func:`~.areadetector.plugin_set.make_plugins`: the class is
:func:`~.areadetector.plugin_set.plugin_class` (type); a type the IOC does not simulate is
refused when the file is loaded (:func:`load`), with the file's line and key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from beamline_shared import config

from .areadetector import NDArrayPorts, NDPluginBase, NDStats, NDTimeSeries, SimDetector
from .areadetector.nd_file import NDFile
from .areadetector.plugin_set import PLUGIN_CLASSES, PluginSpec, make_plugins, plugin_class
from .devices.access_controls import enforce_access_security
from .devices.mini_beamline import MiniCurrent, MiniNoise, MovingDot, PointDetector
from .devices.ring import RingCurrent
from .devices.sim_controls import SimControls
from .motor import Motor, MotorConfig, MotorUtil, ScanParms
from .remote_positions import RemotePositions
from .server import autosave
from .server.access_rights import AccessControl
from .server.pvaccess import ImageServer
from .sim.clock import SimClock
from .sim.faults import FaultModel
from .sim.physics import ROW_TIME
from .sim.ring import ConstantRing, StoredBeam, TopUp

DEFAULT_PREFIX = "BL:"

def load(path: str | Path, *, prefix: str | None = None) -> config.Beamline:
    """A configuration file, checked, with every plugin type one this IOC simulates."""
    return config.load(path, prefix=prefix, plugin_types=PLUGIN_CLASSES)


def shipped(name: str, prefix: str | None = None) -> config.Beamline:
    """One of the shipped configurations (``beamline``, ``mini_beamline``...)."""
    return load(config.shipped(name), prefix=prefix)


@dataclass
class Camera:
    """An areaDetector camera: its driver and its plugins (by suffix, ``"TIFF1:"``), wired by their ports."""

    driver: SimDetector
    plugins: dict[str, NDPluginBase]
    ports: NDArrayPorts

    def groups(self) -> list:
        return [self.driver, *self.plugins.values()]


def plugin_specs(spec: config.Camera) -> list[PluginSpec]:
    """The plugins ``spec`` lists as :func:`~.areadetector.plugin_set.make_plugins` makes them, each
    NDStats followed by its time series at ``TS:`` (port ``<its port>_TS`` on its address 1), as
    commonPlugins.cmd loads them, unless the file declares an NDTimeSeries there itself."""
    declared = {(p.ndarray_port, p.address) for p in spec.plugins if p.type == "NDTimeSeries"}
    specs = []
    for plugin in spec.plugins:
        suffix = plugin.prefix[len(spec.prefix):]
        specs.append(PluginSpec(plugin_class(plugin.type), suffix, plugin.port, plugin.ndarray_port, plugin.enabled,
                                plugin.address))
        if plugin.type == "NDStats" and (plugin.port, 1) not in declared:
            specs.append(PluginSpec(NDTimeSeries, suffix + "TS:", plugin.port + "_TS", plugin.port, True, 1))
    return specs


def make_camera(spec: config.Camera, *, sensor_shape: tuple[int, int], clock: SimClock, beam: StoredBeam,
                spot_position, faults: FaultModel, seed: int | None, data_root: Path,
                pva_server: ImageServer | None, row_time: float = ROW_TIME,
                plugins: list[PluginSpec] | None = None) -> Camera:
    """A simDetector at ``spec.driver_prefix`` and its plugins (``plugins``, else those ``spec``
    lists: :func:`plugin_specs`), each taking its arrays from the port its ``ndarray_port`` names."""
    rows, cols = sensor_shape
    macros = {"XSIZE": cols, "YSIZE": rows, "NELEMENTS": rows * cols}
    ports = NDArrayPorts()
    driver = SimDetector(spec.driver_prefix, port=spec.port, macros={**macros, "DATATYPE": spec.data_type},
                         clock=clock, beam=beam, spot_position=spot_position, faults=faults, ports=ports, seed=seed,
                         manufacturer=spec.manufacturer, model=spec.model, row_time=row_time)
    ports.add_driver(driver)
    made = make_plugins(spec.prefix, plugin_specs(spec) if plugins is None else plugins, ports, macros=macros,
                        data_root=data_root, faults=faults, pva_server=pva_server)
    return Camera(driver, made, ports)


def _motor_config(spec: config.Motor, channel: int) -> MotorConfig:
    return MotorConfig(description=spec.description, egu=spec.egu, velocity=spec.velocity,
                       base_velocity=spec.base_velocity, home_velocity=spec.home_velocity,
                       acceleration=spec.acceleration, limits=(spec.low_limit, spec.high_limit),
                       resolution=spec.resolution, precision=spec.precision, channel=channel)


class BeamlineIOC:
    """The devices of ``iocs`` (configured IOCs; default: the shipped ``beamline`` under
    ``prefix``) on one simulation. Options as ``beamline-ioc``'s: ``ring_mode`` and
    ``sensor_shape``, when given, replace the configuration's for every ring and camera;
    ``plugins``, when given, the plugin list of the one areaDetector camera."""

    def __init__(self, iocs: Sequence[config.IOC] | None = None, *, prefix: str = DEFAULT_PREFIX, data_root: Path,
                 time_scale: float = 1.0, seed: int | None = None, ring_mode: str | None = None,
                 sensor_shape: tuple[int, int] | None = None, pva_server: ImageServer | None = None,
                 readout_row_time: float = ROW_TIME, plugins: list[PluginSpec] | None = None) -> None:
        if iocs is None:
            iocs = shipped("beamline", prefix).iocs
        self.iocs = tuple(iocs)
        self.name = self.iocs[0].name
        self.prefix = self.iocs[0].prefix
        self.clock = SimClock(time_scale)
        self.time_scale = time_scale
        self.data_root = Path(os.path.realpath(data_root))
        self.seed = seed
        self.sensor_shape = sensor_shape
        self.row_time = readout_row_time
        self._plugin_list = plugins
        rings = [ioc.ring for ioc in self.iocs if ioc.ring is not None]
        self.ring_mode = ring_mode or (rings[0].model if rings else "TopUp")
        # The stored beam wraps the ring model so that a beam dump (sim:BeamDump) survives
        # a change of RingMode.
        self.beam = StoredBeam(TopUp() if self.ring_mode == "TopUp" else ConstantRing())
        self.faults = FaultModel()
        self.noise = MiniNoise(seed)  # the mini_beamline devices' noise
        self.pva_server = pva_server  # PV Access (NDPluginPva's NTNDArray), if served (--pva)
        self.motors: dict[str, Motor] = {}
        self.cameras: dict[str, Camera] = {}
        self.mini_cameras: dict[str, MovingDot] = {}
        self.point_detectors: dict[str, PointDetector] = {}
        self.rings: list[RingCurrent | MiniCurrent] = []
        self.sims: list[SimControls] = []
        self.couplings: dict[tuple[str, str | None], str] = {}  # (device, axis) -> the motor moving it
        self.remote: RemotePositions | None = None  # motors of other IOC processes moving devices here
        self.pvdb: dict = {}
        for ioc in self.iocs:
            self._add(ioc)

    @property
    def served(self) -> str:
        """The IOCs served, for messages: ``name (prefix 'P')``, ..."""
        return ", ".join(f"{ioc.name} (prefix {ioc.prefix!r})" for ioc in self.iocs)

    def add(self, ioc: config.IOC) -> dict:
        """Serve ``ioc``'s devices too, on this simulation; their PV database."""
        self.iocs += (ioc,)
        return self._add(ioc)

    def _add(self, ioc: config.IOC) -> dict:
        groups: list = []
        motors = []
        for spec in ioc.motors:
            if spec.moves is not None:
                self.couplings[(spec.moves.device, spec.moves.axis)] = spec.name
            motor = Motor(spec.pv, clock=self.clock, faults=self.faults, axis=spec.name.removeprefix("mtr_"),
                          config=_motor_config(spec, len(self.motors)))
            self.motors[spec.name] = motor
            motors.append(motor)
            # sscan's scanParms.db for each motor, as the motor module's example IOCs load it
            groups += [motor, ScanParms(f"{spec.pv}:scanParms", positioner=spec.pv)]
        if motors and ioc.motor_util is not None:
            groups.append(MotorUtil(ioc.motor_util.prefix, motors))  # motorUtil.db for the IOC's motors
        for spec in (ioc.ring,) if ioc.ring is not None else ():
            ring = (RingCurrent(spec.pv, clock=self.clock, beam=self.beam) if spec.layout == "record"
                    else MiniCurrent(spec.pv, current=self.current))
            self.rings.append(ring)
            groups.append(ring)
        for spec in ioc.cameras:
            shape = self.sensor_shape or spec.sensor_shape
            if spec.layout == "mini_beamline":
                dot = MovingDot(spec.prefix, sensor_shape=shape, current=self.current, noise=self.noise)
                self.mini_cameras[spec.name] = dot
                groups.append(dot)
                continue
            camera = make_camera(spec, sensor_shape=shape, clock=self.clock, beam=self.beam,
                                 spot_position=self._spot_position(spec.name), faults=self.faults,
                                 seed=self._seed(len(self.cameras)), data_root=self.data_root,
                                 pva_server=self.pva_server, row_time=self.row_time,
                                 plugins=self._plugins_for(spec.name))
            self.cameras[spec.name] = camera
            groups += camera.groups()
        for spec in ioc.point_detectors:
            detector = PointDetector(spec.prefix, profile=spec.profile, clock=self.clock, current=self.current,
                                     noise=self.noise, aperture=self._aperture(spec.name))
            self.point_detectors[spec.name] = detector
            groups.append(detector)
        if ioc.sim is not None:
            sim = SimControls(ioc.sim.prefix, macros={"TIME_SCALE": self.time_scale, "SEED": int(self.seed or 0),
                                                      "RING_MODE": self.ring_mode, "DATA_ROOT": str(self.data_root)},
                              clock=self.clock, beam=self.beam, post_current=self.post_current, faults=self.faults,
                              reseed=self.reseed)
            self.sims.append(sim)
            groups.append(sim)
        pvdb: dict = {}
        for group in groups:
            pvdb.update(group.pvdb)
        clash = sorted(set(pvdb) & set(self.pvdb))
        if clash:
            raise ValueError(f"IOC {ioc.name} (prefix {ioc.prefix!r}): PV names also served by "
                             f"{self.served}: {', '.join(clash[:3])}")
        self.pvdb.update(pvdb)
        return pvdb

    def _plugins_for(self, camera: str) -> list[PluginSpec] | None:
        if self._plugin_list is None:
            return None
        cameras = [c.name for ioc in self.iocs for c in ioc.cameras if c.layout == "areadetector"]
        if len(cameras) != 1:
            raise ValueError(f"a plugin list replaces the plugins of one camera; {self.served} have "
                             f"{len(cameras)}: {', '.join(cameras)}")
        return self._plugin_list

    @property
    def camera(self) -> Camera:
        """The areaDetector camera of an IOC with one (today's beamline: ``dot``)."""
        if len(self.cameras) != 1:
            raise AttributeError(f"{self.served} serve {len(self.cameras)} areaDetector cameras; see .cameras")
        return next(iter(self.cameras.values()))

    def _seed(self, n: int) -> int | None:
        """The n-th camera's seed: ``seed`` for the first, then one more for each."""
        return None if self.seed is None else self.seed + n

    def _spot_position(self, camera: str):
        """() -> (x, y): the readbacks of the motors that move ``camera``'s spot (0 for an axis
        no motor of this process moves)."""
        def position() -> tuple[float, float]:
            return tuple(self._position((camera, axis)) for axis in ("x", "y"))
        return position

    def _aperture(self, detector: str):
        """() -> the position of the motor record moving ``detector``'s aperture (in this process or
        another), or None (its own ``mtr``)."""
        return lambda: self._position((detector, None)) if (detector, None) in self.couplings else None

    def _position(self, key: tuple[str, str | None]) -> float:
        name = self.couplings.get(key, "")
        motor = self.motors.get(name)
        if motor is not None:
            return motor.readback()
        return self.remote.position(name) if self.remote is not None else 0.0

    def follow_remote(self, beamline: config.Beamline) -> RemotePositions | None:
        """The motors of ``beamline``'s other IOCs that move devices served here: followed over CA
        once :meth:`RemotePositions.start` runs (in the server's loop)."""
        here = {device.name for ioc in self.iocs for device in ioc.devices()}
        pvs, keys = {}, {}
        for ioc in beamline.iocs:
            if any(ioc.name == served.name for served in self.iocs):
                continue
            for motor in ioc.motors:
                if motor.moves is not None and motor.moves.device in here:
                    self.couplings[(motor.moves.device, motor.moves.axis)] = motor.name
                    pvs[motor.name] = motor.pv
                    keys[motor.name] = ioc.prefix or ioc.name
        self.remote = RemotePositions(pvs, keys, self.data_root) if pvs else None
        return self.remote

    def current(self) -> float:
        """Ring current in mA at this instant of simulated time."""
        return float(self.beam.current(self.clock.now()))

    async def post_current(self) -> None:
        """Post every ring current PV now."""
        for ring in self.rings:
            await ring.post()

    def reseed(self, seed: int) -> None:
        """sim:Seed: the noise of every part starts again from ``seed``."""
        self.seed = seed
        for n, camera in enumerate(self.cameras.values()):
            camera.driver.reseed(self._seed(n))
        self.noise.reseed(seed)

    def make_autosave(self, period: float = autosave.PERIOD) -> autosave.Autosave:
        """The settings saver of this IOC (see :mod:`ioc.server.autosave`), in its data root."""
        plugins = {plugin.prefix: (autosave.FILE_SETTINGS if isinstance(plugin, NDFile)
                                   else autosave.STATS_SETTINGS if isinstance(plugin, NDStats) else ())
                   + plugin.autosave_fields for camera in self.cameras.values() for plugin in camera.plugins.values()}
        names = autosave.settings([m.prefix for m in self.motors.values()],
                                  [camera.driver.prefix for camera in self.cameras.values()], plugins)
        restorers = {f"{motor.prefix}.{autosave.MOTOR_POSITION}": motor.restore_dial_position
                     for motor in self.motors.values()}
        return autosave.Autosave(self.pvdb, names, autosave.save_file(self.data_root, self.key), period, restorers)

    @property
    def key(self) -> str:
        """What names this IOC's connection and autosave files: its prefix, or its name if it has none."""
        return self.prefix or self.name

    def enforce_access_security(self, acf: Path | None = None) -> AccessControl:
        """The EPICS access security this process enforces, one for all it serves: ``acf``, else its
        first IOC's file from the configuration, else the shipped ``default.acf``; ``$(P)`` is that
        IOC's prefix and the file's controls (ACFFile, ACFReload, ACFMessage) are served at its
        ``access_security`` prefix (beside its sim controls). SystemExit naming the file, line and
        reason if the file is refused."""
        first = self.iocs[0]
        file = acf if acf is not None else first.access_security.file
        return enforce_access_security(self.pvdb, None if file is None else Path(file), first.prefix,
                                       first.access_security.prefix)

    def add_mini_beamline(self, prefix: str) -> dict:
        """Serve caproto's mini_beamline names (the shipped ``mini_beamline``) under ``prefix`` too."""
        return self.add(shipped("mini_beamline", prefix).iocs[0])


def build_ioc(prefix: str = DEFAULT_PREFIX, data_root: Path | None = None, **options) -> BeamlineIOC:
    """The IOC's PV groups, without serving them (for its PV table and contract tests)."""
    import tempfile

    return BeamlineIOC(prefix=prefix, data_root=data_root or Path(tempfile.gettempdir()), **options)
