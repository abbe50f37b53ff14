"""A beamline from a configuration file: the IOC processes, their devices and PV names.

The IOC (what to serve) and the session (what to connect to) both read it. The file is YAML
(format in :mod:`beamline_shared.config_schema`); a small beamline::

    # one IOC: a camera whose beam spot two motors move, and the ring current
    iocs:
      - name: demo
        prefix: "DEMO:"
        motors:
          mtr_x: {pv: "mtr:x", egu: mm, limits: [-10, 10], velocity: 2, moves: cam.x}
          mtr_y: {pv: "mtr:y", egu: mm, limits: [-10, 10], velocity: 2, moves: cam.y}
        cameras:
          cam: {prefix: "cam:", plugins: [TIFF1, Stats1, image1]}
        ring: {pv: "ring:current"}

:func:`load` returns a :class:`Beamline` of frozen dataclasses with every default filled in and
every PV name complete (the IOC's prefix put in front); a bad file raises :class:`ConfigError`
naming the file, the line and the key of each problem. :func:`device_pvs` lists the PV names
(records) and prefixes (groups of PVs) each device serves. ``python -m beamline_shared.config
FILE`` checks a file and prints that list.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import config_schema as schema
from .yaml_positions import Document, YAMLSyntaxError
from .yaml_positions import load as load_yaml

CONFIG_DIR = Path(__file__).with_name("configs")
MOTOR_UTIL_RECORDS = ("allstop", "alldone", "moving", "alldoneBlink", "movingDiff")  # motorUtil.db
ACCESS_SECURITY_RECORDS = ("ACFFile", "ACFReload", "ACFMessage")  # ioc/devices/access_controls.py
SHIPPED = ("beamline", "mini_beamline", "ophyd_tests", "dodal_adsim")  # configs/<name>.yaml


# -- what load() returns -------------------------------------------------------------------


@dataclass(frozen=True)
class Coupling:
    """What a motor moves: a camera's beam spot along ``axis`` ("x"/"y"), or a point detector's
    aperture (``axis`` None)."""

    device: str
    axis: str | None = None

    def __str__(self) -> str:
        return f"{self.device}.{self.axis}" if self.axis else self.device


@dataclass(frozen=True)
class Motor:
    """A motor record. Positions in ``egu``, velocities in egu/s, ``acceleration`` in s."""

    name: str
    pv: str  # the record's full name (.VAL, .RBV... are its fields)
    egu: str
    low_limit: float  # DLLM
    high_limit: float  # DHLM
    velocity: float  # VELO
    base_velocity: float  # VBAS
    acceleration: float  # ACCL
    resolution: float  # MRES
    precision: int  # PREC
    home_velocity: float  # HVEL
    description: str  # DESC
    moves: Coupling | None


@dataclass(frozen=True)
class Plugin:
    """An areaDetector plugin of a camera."""

    name: str  # e.g. "TIFF1"
    type: str  # ADCore class, e.g. "NDFileTIFF"
    prefix: str  # full, e.g. "BL:dot:TIFF1:"
    port: str  # its asyn port (PortName_RBV)
    ndarray_port: str  # where it takes arrays from at start (NDArrayPort)
    address: int  # the address on that port it takes them from (NDArrayAddress)
    enabled: bool  # EnableCallbacks at start


@dataclass(frozen=True)
class Camera:
    """An areaDetector camera (layout "areadetector": driver at ``driver_prefix``, plugins), or
    caproto mini_beamline's MovingDot (layout "mini_beamline": PVs ``det``, ``exp``... at ``prefix``)."""

    name: str
    prefix: str  # full
    layout: str
    manufacturer: str
    model: str
    sensor_shape: tuple[int, int]  # rows, columns
    data_type: str  # NDDataType name, e.g. "UInt32" (Float64 for the mini_beamline layout)
    port: str  # the driver's asyn port ("" for the mini_beamline layout)
    driver_prefix: str  # full, e.g. "BL:dot:cam1:" ("" for the mini_beamline layout)
    plugins: tuple[Plugin, ...]

    def plugin(self, name: str) -> Plugin:
        for plugin in self.plugins:
            if plugin.name == name:
                return plugin
        raise KeyError(f"camera {self.name!r} has no plugin {name!r}; it has {[p.name for p in self.plugins]}")


@dataclass(frozen=True)
class PointDetector:
    """A point detector behind an aperture (caproto mini_beamline's layout: ``det``, ``exp``,
    ``mtr``, ``vel``, ``mtr_tick_rate`` under ``prefix``)."""

    name: str
    prefix: str  # full
    layout: str
    profile: str  # "pinhole", "edge" or "slit"


@dataclass(frozen=True)
class Ring:
    """The storage-ring current (mA), read-only."""

    name: str
    pv: str  # full
    model: str  # "TopUp" or "Constant"
    layout: str  # "record" (ai with EGU/PREC/alarm limits) or "mini_beamline" (the example's plain PV)


@dataclass(frozen=True)
class SimControls:
    prefix: str  # full, e.g. "BL:sim:"


@dataclass(frozen=True)
class MotorUtil:
    """motorUtil.db's records (``allstop``, ``alldone``, ``moving``, ``alldoneBlink``,
    ``movingDiff``) under ``prefix``, for the IOC's motors."""

    prefix: str  # full, e.g. "BL:mtr:"


@dataclass(frozen=True)
class AccessSecurity:
    """The EPICS access security file the IOC enforces (``file``: None is the shipped
    ``ioc/server/default.acf``) and the prefix of its controls (``ACFFile``, ``ACFReload``,
    ``ACFMessage``)."""

    file: str | None  # absolute
    prefix: str  # full, e.g. "BL:sim:"


@dataclass(frozen=True)
class IOC:
    """One IOC process and the devices it serves."""

    name: str
    prefix: str
    description: str
    motors: tuple[Motor, ...]
    cameras: tuple[Camera, ...]
    point_detectors: tuple[PointDetector, ...]
    ring: Ring | None
    sim: SimControls | None
    motor_util: MotorUtil | None = None  # with motors only
    access_security: AccessSecurity = AccessSecurity(None, "acf:")

    def devices(self) -> tuple:
        """Every device, in the order of the file's sections."""
        return (*self.motors, *self.cameras, *self.point_detectors, *((self.ring,) if self.ring else ()))


@dataclass(frozen=True)
class Beamline:
    """Everything a configuration file declares."""

    source: str  # the file (or "<string>")
    description: str
    iocs: tuple[IOC, ...]

    def ioc(self, name: str) -> IOC:
        for ioc in self.iocs:
            if ioc.name == name:
                return ioc
        raise KeyError(f"{self.source}: no IOC named {name!r}; the file has {[i.name for i in self.iocs]}")

    def device(self, name: str):
        """The motor, camera, point detector or ring current called ``name``."""
        for ioc in self.iocs:
            for device in ioc.devices():
                if device.name == name:
                    return device
        raise KeyError(f"{self.source}: no device named {name!r}")

    def ioc_of(self, name: str) -> IOC:
        """The IOC that serves device ``name``."""
        for ioc in self.iocs:
            if any(device.name == name for device in ioc.devices()):
                return ioc
        raise KeyError(f"{self.source}: no device named {name!r}")

    def movers(self, name: str) -> dict[str | None, Motor]:
        """The motors that move device ``name``, by axis ("x"/"y" for a camera's spot, None for a
        point detector's aperture)."""
        return {m.moves.axis: m for ioc in self.iocs for m in ioc.motors if m.moves and m.moves.device == name}


@dataclass(frozen=True)
class DevicePV:
    """A PV name a device serves (``kind`` "record": exactly this name and its fields) or a prefix
    under which it serves a group of PVs (``kind`` "prefix")."""

    ioc: str
    device: str  # device name ("sim" for the simulation controls)
    name: str
    kind: str  # "record" or "prefix"
    what: str  # e.g. "motor", "NDFileTIFF", "ring current"

    def covers(self, pv: str) -> bool:
        """Whether ``pv`` (a record name, or a record's field "NAME.FIELD") is served by this entry."""
        if self.kind == "record":
            return pv == self.name or pv.startswith(self.name + ".")
        return pv.startswith(self.name)


# -- errors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    line: int | None
    key: str  # dotted path, e.g. "iocs[0].motors.mtr_x.velocity"
    message: str


class ConfigError(ValueError):
    """A configuration file that cannot be used; ``problems`` lists each with its line and key."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.key))
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        out = [f"{self.source}: not a valid beamline configuration ({len(self.problems)} "
               f"problem{'s' if len(self.problems) != 1 else ''}):"]
        for p in self.problems:
            where = f"{self.source}:{p.line}" if p.line is not None else self.source
            out.append(f"  {where}: {p.key}: {p.message}" if p.key else f"  {where}: {p.message}")
        return out


def _key(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# -- loading ---------------------------------------------------------------------------------


def load(path: str | Path, *, prefix: str | None = None, plugin_types: Collection[str] | None = None) -> Beamline:
    """Read and check a configuration file. ``prefix`` replaces the IOC prefix (a file with one IOC
    only: the ``--prefix`` of ``beamline-ioc``); ``plugin_types``, if given, are the plugin types
    that may be used (those an IOC simulates)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [Problem(None, "", f"cannot read it: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [Problem(None, "", f"not UTF-8 text: {exc.reason}")]) from None
    return loads(text, source=str(path), prefix=prefix, plugin_types=plugin_types)


def locate(file: str | Path) -> Path:
    """``file`` itself, or the shipped configuration of that name if there is no such file."""
    path = Path(file)
    return shipped(str(file)) if str(file) in SHIPPED and not path.is_file() else path


def shipped(name: str) -> Path:
    """The path of a configuration that ships with the package: one of :data:`SHIPPED`."""
    if name not in SHIPPED:
        raise KeyError(f"no shipped configuration {name!r}; there are {', '.join(SHIPPED)}")
    return CONFIG_DIR / f"{name}.yaml"


def loads(text: str, *, source: str = "<string>", prefix: str | None = None,
          plugin_types: Collection[str] | None = None) -> Beamline:
    """As :func:`load`, from the text of a file."""
    try:
        doc = load_yaml(text)
    except YAMLSyntaxError as exc:
        where = f" (column {exc.column})" if exc.column else ""
        raise ConfigError(source, [Problem(exc.line, "", f"not YAML: {exc.message}{where}")]) from None
    if not isinstance(doc.data, dict):
        kind = "empty" if doc.data is None else f"a {type(doc.data).__name__}"
        raise ConfigError(source, [Problem(1, "", f"expected a mapping with 'iocs:', the file is {kind}")])
    try:
        spec = schema.BeamlineSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(source, _pydantic_problems(exc, doc)) from None
    if prefix is not None:
        if len(spec.iocs) != 1:
            raise ConfigError(source, [Problem(doc.line_of(("iocs",)), "iocs",
                                               f"a prefix ({prefix!r}) can replace the IOC prefix of a file with "
                                               f"one IOC; this one has {len(spec.iocs)}")])
        try:
            schema.check_prefix(prefix)
        except ValueError as exc:
            raise ConfigError(source, [Problem(None, "prefix", str(exc))]) from None
        spec = spec.model_copy(update={"iocs": [spec.iocs[0].model_copy(update={"prefix": prefix})]})
    beamline, problems = _resolve(spec, doc, source)
    problems += _check_names(beamline, doc)
    if plugin_types is not None:
        problems += _check_plugin_types(beamline, doc, plugin_types)
    if problems:
        raise ConfigError(source, problems)
    return beamline


def _pydantic_problems(exc: ValidationError, doc: Document) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        path = doc.existing(loc)  # a missing key's line is its mapping's
        kind = error["type"]
        message = error["msg"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(loc)
            message = "unknown key" + (f"; expected one of: {', '.join(allowed)}" if allowed else "")
        elif kind == "missing":
            message = f"missing key {loc[-1]!r}"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        elif kind in ("literal_error", "enum"):
            message = f"{error.get('input')!r}: {message}"
        key_path = loc if kind == "missing" else path or loc
        problems.append(Problem(doc.line_of(path), _key(key_path), message))
    return problems


_NESTED = {  # (model, key) -> (how it holds the next model: "list", "dict" by name, or "one"; the model)
    (schema.BeamlineSpec, "iocs"): ("list", schema.IOCSpec),
    (schema.IOCSpec, "motors"): ("dict", schema.MotorSpec),
    (schema.IOCSpec, "cameras"): ("dict", schema.CameraSpec),
    (schema.IOCSpec, "point_detectors"): ("dict", schema.PointDetectorSpec),
    (schema.IOCSpec, "ring"): ("one", schema.RingSpec),
    (schema.IOCSpec, "sim"): ("one", schema.SimSpec),
    (schema.IOCSpec, "motor_util"): ("one", schema.MotorUtilSpec),
    (schema.IOCSpec, "access_security"): ("one", schema.AccessSecuritySpec),
    (schema.CameraSpec, "plugins"): ("dict", schema.PluginSpec),
}


def _allowed_keys(loc: tuple) -> list[str]:
    """The keys the mapping holding the last key of ``loc`` may have (for "unknown key" messages)."""
    model: Any = schema.BeamlineSpec
    parts = list(loc[:-1])
    i = 0
    while i < len(parts):
        nested = _NESTED.get((model, parts[i]))
        if nested is None:
            return []
        how, model = nested
        i += 1 if how == "one" else 2
    return sorted(model.model_fields)


# -- from file models to dataclasses --------------------------------------------------------


def _resolve(spec: schema.BeamlineSpec, doc: Document, source: str) -> tuple[Beamline, list[Problem]]:
    problems: list[Problem] = []
    iocs = []
    for i, ioc in enumerate(spec.iocs):
        at = ("iocs", i)
        p = ioc.prefix
        motors = []
        for name, m in ioc.motors.items():
            moves = None
            if m.moves is not None:
                device, _, axis = m.moves.partition(".")
                moves = Coupling(device, axis or None)
            motors.append(Motor(
                name=name, pv=p + m.pv, egu=m.egu, low_limit=m.limits[0], high_limit=m.limits[1],
                velocity=m.velocity, base_velocity=m.base_velocity, acceleration=m.acceleration,
                resolution=m.resolution, precision=m.precision,
                home_velocity=m.velocity if m.home_velocity is None else m.home_velocity,
                description=m.description, moves=moves))
        cameras = []
        for name, c in ioc.cameras.items():
            plugins = []
            for pname, plug in c.plugins.items():
                defaults = schema.plugin_defaults(pname)
                kind = plug.type or (defaults[0] if defaults else None)
                port = plug.port or (defaults[1] if defaults else None)
                if kind is None or port is None:
                    missing = [k for k, v in (("type", kind), ("port", port)) if v is None]
                    problems.append(Problem(doc.line_of((*at, "cameras", name, "plugins", pname)),
                                            _key((*at, "cameras", name, "plugins", pname)),
                                            f"give its {' and '.join(missing)}: {pname!r} is not a name ADCore's "
                                            "start-up scripts use (TIFF1, HDF1, Stats1, ROI1, image1, Pva1, CB1...)"))
                    kind, port = kind or "?", port or "?"
                suffix = pname + ":" if plug.suffix is None else plug.suffix
                plugins.append(Plugin(name=pname, type=kind, prefix=p + c.prefix + suffix, port=port,
                                      ndarray_port=plug.ndarray_port or c.port, address=plug.address,
                                      enabled=plug.enabled))
            areadetector = c.layout == "areadetector"
            cameras.append(Camera(
                name=name, prefix=p + c.prefix, layout=c.layout, manufacturer=c.manufacturer, model=c.model,
                sensor_shape=tuple(c.sensor_shape), data_type=c.data_type if areadetector else "Float64",
                port=c.port if areadetector else "",
                driver_prefix=p + c.prefix + c.driver_suffix if areadetector else "", plugins=tuple(plugins)))
        detectors = tuple(PointDetector(name=name, prefix=p + d.prefix, layout=d.layout, profile=d.profile)
                          for name, d in ioc.point_detectors.items())
        ring = None if ioc.ring is None else Ring(name=ioc.ring.name, pv=p + ioc.ring.pv, model=ioc.ring.model,
                                                   layout=ioc.ring.layout)
        sim = None if ioc.sim is None else SimControls(prefix=p + ioc.sim.prefix)
        util = MotorUtil(prefix=p + ioc.motor_util.prefix) if motors and ioc.motor_util is not None else None
        access = _access_security(ioc, sim, source, doc, at, problems)
        iocs.append(IOC(name=ioc.name, prefix=p, description=ioc.description, motors=tuple(motors),
                        cameras=tuple(cameras), point_detectors=detectors, ring=ring, sim=sim, motor_util=util,
                        access_security=access))
    return Beamline(source=source, description=spec.description, iocs=tuple(iocs)), problems


def _access_security(ioc: schema.IOCSpec, sim: SimControls | None, source: str, doc: Document, at: tuple,
                     problems: list[Problem]) -> AccessSecurity:
    """The IOC's access security: its file (relative to the configuration's directory; it must be
    a file), its controls beside the sim controls unless the file says where (``acf:`` without)."""
    spec = ioc.access_security
    prefix = (ioc.prefix + spec.prefix if spec.prefix is not None
              else sim.prefix if sim is not None else ioc.prefix + "acf:")
    path = None
    if spec.file is not None:
        base = Path(source).parent if not source.startswith("<") else Path.cwd()
        found = (base / spec.file).expanduser()
        if not found.is_file():
            key = (*at, "access_security", "file")
            problems.append(Problem(doc.line_of(key), _key(key),
                                    f"{spec.file!r}: no such access security file ({found})"))
        path = str(found.resolve())
    return AccessSecurity(path, prefix)


# -- checks across the file -------------------------------------------------------------------

def _check_names(beamline: Beamline, doc: Document) -> list[Problem]:
    """Names unique, couplings pointing at something that can be moved, ports wired, PV names
    served by one device only and within EPICS's length limit."""
    problems: list[Problem] = []

    def problem(path: tuple, message: str) -> None:
        problems.append(Problem(doc.line_of(path), _key(path), message))

    seen_iocs: dict[str, int] = {}
    devices: dict[str, tuple] = {}
    for i, ioc in enumerate(beamline.iocs):
        if ioc.name in seen_iocs:
            problem(("iocs", i, "name"), f"IOC name {ioc.name!r} is also used by iocs[{seen_iocs[ioc.name]}] "
                                         f"(line {doc.line_of(('iocs', seen_iocs[ioc.name], 'name'))})")
        seen_iocs.setdefault(ioc.name, i)
        for device in ioc.devices():
            path = ("iocs", i, "ring", "name") if device is ioc.ring else ("iocs", i, _section(device), device.name)
            try:
                schema.check_identifier(device.name)
            except ValueError as exc:
                problem(path, str(exc))
            if device.name in devices:
                other = devices[device.name]
                problem(path, f"device name {device.name!r} is also used at {_key(other)} (line {doc.line_of(other)})")
            else:
                devices[device.name] = path

    for i, ioc in enumerate(beamline.iocs):
        for motor in ioc.motors:
            if motor.moves is None:
                continue
            path = ("iocs", i, "motors", motor.name, "moves")
            try:
                target = beamline.device(motor.moves.device)
            except KeyError:
                problem(path, f"{str(motor.moves)!r}: no camera or point detector named {motor.moves.device!r}")
                continue
            if isinstance(target, Camera):
                if target.layout != "areadetector":
                    problem(path, f"{str(motor.moves)!r}: camera {target.name!r} has the mini_beamline layout, "
                                  "whose spot its own mtrx/mtry PVs move")
                elif motor.moves.axis not in schema.AXES:
                    problem(path, f"{str(motor.moves)!r}: a motor moves a camera's spot along x or y: "
                                  f"'{target.name}.x' or '{target.name}.y'")
            elif isinstance(target, PointDetector):
                if motor.moves.axis is not None:
                    problem(path, f"{str(motor.moves)!r}: a point detector has no axes; write {target.name!r}")
            else:
                problem(path, f"{str(motor.moves)!r}: {target.name!r} is not a camera or a point detector")
        for camera in ioc.cameras:
            for (axis, motors) in _by_axis(beamline, camera.name).items():
                if len(motors) > 1:
                    problem(("iocs", i, "cameras", camera.name),
                            f"the spot's {axis} is moved by {len(motors)} motors ({', '.join(motors)}); one only")
            _check_ports(ioc, i, camera, problem)

    problems += _check_pv_overlaps(beamline, doc)
    return problems


def _check_plugin_types(beamline: Beamline, doc: Document, types: Collection[str]) -> list[Problem]:
    problems = []
    for i, ioc in enumerate(beamline.iocs):
        for camera in ioc.cameras:
            for plugin in camera.plugins:
                if plugin.type not in types:
                    path = doc.existing(("iocs", i, "cameras", camera.name, "plugins", plugin.name, "type"))
                    problems.append(Problem(doc.line_of(path), _key(("iocs", i, "cameras", camera.name, "plugins",
                                                                     plugin.name)),
                                            f"plugin type {plugin.type} is not simulated here; the types are: "
                                            f"{', '.join(sorted(types))}"))
    return problems


def _section(device) -> str:
    if isinstance(device, Motor):
        return "motors"
    if isinstance(device, Camera):
        return "cameras"
    return "point_detectors"


def _by_axis(beamline: Beamline, camera: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ioc in beamline.iocs:
        for m in ioc.motors:
            if m.moves and m.moves.device == camera and m.moves.axis:
                out.setdefault(m.moves.axis, []).append(m.name)
    return out


def _check_ports(ioc: IOC, i: int, camera: Camera, problem) -> None:
    """Ports unique within the camera, and every plugin's NDArrayPort one of them."""
    base = ("iocs", i, "cameras", camera.name)
    ports = {camera.port: base + ("port",)}
    suffixes: dict[str, str] = {camera.driver_prefix: "the driver"}
    for plugin in camera.plugins:
        path = base + ("plugins", plugin.name)
        if plugin.port in ports:
            problem(path + ("port",), f"asyn port {plugin.port!r} is also {_key(ports[plugin.port])}")
        ports.setdefault(plugin.port, path + ("port",))
        if plugin.prefix in suffixes:
            problem(path + ("suffix",), f"{plugin.prefix!r} is also the prefix of {suffixes[plugin.prefix]}")
        suffixes.setdefault(plugin.prefix, f"plugin {plugin.name}")
    for plugin in camera.plugins:
        if plugin.ndarray_port not in ports:
            problem(base + ("plugins", plugin.name, "ndarray_port"),
                    f"{plugin.ndarray_port!r} is not a port of camera {camera.name!r}: "
                    f"{', '.join(sorted(ports))}")
        elif plugin.ndarray_port == plugin.port:
            problem(base + ("plugins", plugin.name, "ndarray_port"), f"plugin {plugin.name} takes arrays from itself")


def _check_pv_overlaps(beamline: Beamline, doc: Document) -> list[Problem]:
    """No PV name served by two devices (across all the file's IOCs); record names <= 60 chars."""
    problems: list[Problem] = []
    entries = [(e, _entry_path(beamline, e)) for e in device_pvs(beamline)]
    for n, (a, path_a) in enumerate(entries):
        if a.kind == "record" and len(a.name) > schema.MAX_RECORD_NAME:
            problems.append(Problem(doc.line_of(path_a), _key(path_a),
                                    f"{a.name!r} is {len(a.name)} characters; EPICS record names have at most "
                                    f"{schema.MAX_RECORD_NAME}"))
        for b, path_b in entries[n + 1:]:
            if a.device == b.device and a.ioc == b.ioc and (a.kind == b.kind == "prefix"):
                continue  # a camera's plugins may nest (Proc1: and Proc1:TIFF:), as in ADCore's scripts
            if a.ioc == b.ioc and {a.device, b.device} == {"sim", "access_security"}:
                continue  # the access security controls beside the sim controls: their names differ
            if _overlap(a, b):
                (old, old_path), (new, new_path) = (a, path_a), (b, path_b)
                if new_path not in doc.lines and old_path in doc.lines:  # name the one the file writes
                    (old, old_path), (new, new_path) = (new, new_path), (old, old_path)
                where = f"line {doc.line_of(old_path)}" if old_path in doc.lines else "by default"
                hint = ("; give each IOC a sim prefix of its own (sim: {prefix: ...}) or none (sim: null)"
                        if "sim" in (old.device, new.device) and where == "by default"
                        else "; give each IOC an access_security prefix of its own (access_security: {prefix: ...})"
                        if "access_security" in (old.device, new.device) and where == "by default" else "")
                problems.append(Problem(doc.line_of(new_path), _key(new_path),
                                        f"{new.name!r} ({new.what}, IOC {new.ioc}) overlaps {old.name!r} ({old.what} "
                                        f"of {old.device}, IOC {old.ioc}, {where}): a PV name would be served "
                                        f"twice{hint}"))
    return problems


def _overlap(a: DevicePV, b: DevicePV) -> bool:
    if a.kind == b.kind == "record":
        return a.name == b.name
    if a.kind == "prefix" and b.kind == "prefix":
        return a.name.startswith(b.name) or b.name.startswith(a.name)
    prefix, record = (a, b) if a.kind == "prefix" else (b, a)
    return record.name.startswith(prefix.name)


def _entry_path(beamline: Beamline, entry: DevicePV) -> tuple:
    for i, ioc in enumerate(beamline.iocs):
        if ioc.name != entry.ioc:
            continue
        if entry.device == "sim":
            return ("iocs", i, "sim")
        if entry.device == "motor_util":
            return ("iocs", i, "motor_util")
        if entry.device == "access_security":
            return ("iocs", i, "access_security")
        if ioc.ring is not None and entry.device == ioc.ring.name:
            return ("iocs", i, "ring")
        for section, devices in (("motors", ioc.motors), ("cameras", ioc.cameras),
                                 ("point_detectors", ioc.point_detectors)):
            for d in devices:
                if d.name == entry.device:
                    if isinstance(d, Camera) and entry.what.startswith("ND"):
                        name = entry.name[len(d.prefix):].rstrip(":")
                        plugin = next((p.name for p in d.plugins if p.prefix == entry.name), name)
                        return ("iocs", i, section, d.name, "plugins", plugin)
                    return ("iocs", i, section, d.name)
        return ("iocs", i)
    return ()


# -- PV names ---------------------------------------------------------------------------------


def device_pvs(beamline: Beamline) -> list[DevicePV]:
    """Every record name and PV prefix the configuration serves, device by device, in file order."""
    out = []
    for ioc in beamline.iocs:
        for m in ioc.motors:
            out.append(DevicePV(ioc.name, m.name, m.pv, "record", "motor"))
            out.append(DevicePV(ioc.name, m.name, m.pv + "_able", "record", "motor enable (motor.db)"))
            out.append(DevicePV(ioc.name, m.name, m.pv + ":scanParms", "record", "scan parameters (scanParms.db)"))
        for c in ioc.cameras:
            if c.layout == "mini_beamline":
                out.append(DevicePV(ioc.name, c.name, c.prefix, "prefix", "mini_beamline camera"))
                continue
            out.append(DevicePV(ioc.name, c.name, c.driver_prefix, "prefix", "simDetector driver"))
            out += [DevicePV(ioc.name, c.name, p.prefix, "prefix", p.type) for p in c.plugins]
        for d in ioc.point_detectors:
            out.append(DevicePV(ioc.name, d.name, d.prefix, "prefix", f"{d.profile} point detector"))
        if ioc.ring is not None:
            out.append(DevicePV(ioc.name, ioc.ring.name, ioc.ring.pv, "record", "ring current"))
        if ioc.sim is not None:
            out.append(DevicePV(ioc.name, "sim", ioc.sim.prefix, "prefix", "simulation controls"))
        if ioc.motor_util is not None:
            out += [DevicePV(ioc.name, "motor_util", ioc.motor_util.prefix + name, "record", "motorUtil.db")
                    for name in MOTOR_UTIL_RECORDS]
        out += [DevicePV(ioc.name, "access_security", ioc.access_security.prefix + name, "record",
                         "access security control") for name in ACCESS_SECURITY_RECORDS]
    return out


def pv_names(beamline: Beamline) -> list[str]:
    """The names of :func:`device_pvs`: records and prefixes."""
    return [entry.name for entry in device_pvs(beamline)]


def as_dict(beamline: Beamline) -> dict:
    """The configuration with every default filled in, as plain data (what ``--resolved`` prints)."""
    return dataclasses.asdict(beamline)


# -- command line -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m beamline_shared.config FILE``: check a configuration and list its PV names."""
    parser = argparse.ArgumentParser(prog="python -m beamline_shared.config", description=main.__doc__)
    parser.add_argument("file", help=f"a configuration file, or the name of a shipped one ({', '.join(SHIPPED)})")
    parser.add_argument("--prefix", help="replace the IOC prefix (a file with one IOC)")
    parser.add_argument("--resolved", action="store_true", help="print the configuration with every default filled in")
    args = parser.parse_args(argv)
    path = locate(args.file)
    try:
        beamline = load(path, prefix=args.prefix)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.resolved:
        from ruamel.yaml import YAML

        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        yaml.width = 4096
        yaml.dump(_yaml_ready(as_dict(beamline)), sys.stdout)
        return 0
    for ioc in beamline.iocs:
        print(f"IOC {ioc.name} (prefix {ioc.prefix!r})")
        for entry in device_pvs(beamline):
            if entry.ioc == ioc.name:
                name = entry.name + ("*" if entry.kind == "prefix" else "")
                print(f"  {name:<40} {entry.device}: {entry.what}")
    return 0


def _yaml_ready(value):
    if isinstance(value, dict):
        return {k: _yaml_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_yaml_ready(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
