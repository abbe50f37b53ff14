"""The beamline configuration file's format, as pydantic models: what each key may hold and its
default. :mod:`beamline_shared.config` reads a file with these and returns plain dataclasses.

Units: positions and limits in the motor's EGU, velocities in EGU/s, accelerations in s (time
to reach the velocity, as the motor record's ACCL), currents in mA.
"""

from __future__ import annotations

import keyword
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORMAT_VERSION = 1

# EPICS record names: letters, digits and _-+:[]<>; (Application Developer's Guide), and the {}
# of NSLS-II names; '.' would start a field name. At most 60 characters (PVNAME_STRINGSZ 61).
_NAME_CHARS = r"A-Za-z0-9_\-+:\[\]<>;{}"
RECORD_NAME = re.compile(rf"^[{_NAME_CHARS}]+$")
PREFIX = re.compile(rf"^[{_NAME_CHARS}]*$")
MAX_RECORD_NAME = 60

# NDDataType_t, the strings of ADCore's DataType menu.
DATA_TYPES = ("Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64", "Float32", "Float64")

# Plugin types (ADCore class names, as its NDxxx.template files are named), and how ADCore's
# iocBoot/EXAMPLE_commonPlugins.cmd and ADSimDetector's st_base.cmd name their instances:
# record prefix "<stem><n>:" on asyn port "<port stem><n>".
PLUGIN_NAMING: dict[str, tuple[str, str]] = {  # name stem -> (type, port stem)
    "image": ("NDStdArrays", "Image"),
    "Stats": ("NDStats", "STATS"),
    "ROI": ("NDROI", "ROI"),
    "ROIStat": ("NDROIStat", "ROISTAT"),
    "Proc": ("NDProcess", "PROC"),
    "Trans": ("NDTransform", "TRANS"),
    "Over": ("NDOverlay", "OVER"),
    "CC": ("NDColorConvert", "CC"),
    "CB": ("NDCircularBuff", "CB"),
    "Attr": ("NDAttribute", "ATTR"),
    "FFT": ("NDFFT", "FFT"),
    "Codec": ("NDCodec", "CODEC"),
    "BadPix": ("NDBadPixel", "BADPIX"),
    "Scatter": ("NDScatter", "SCATTER"),
    "Gather": ("NDGather", "GATHER"),
    "Pva": ("NDPva", "PVA"),
    "TIFF": ("NDFileTIFF", "FileTIFF"),
    "HDF": ("NDFileHDF5", "FileHDF"),
    "JPEG": ("NDFileJPEG", "FileJPEG"),
    "netCDF": ("NDFileNetCDF", "FileNetCDF"),
    "Nexus": ("NDFileNexus", "FileNexus"),
    "Magick": ("NDFileMagick", "FileMagick"),
}
# NDTimeSeries has no name of its own in the scripts: each NDStats has one at "<its prefix>TS:"
# (port "<its port>_TS" on its address 1), which the IOC adds unless the file declares it.
PLUGIN_TYPES = tuple(sorted({t for t, _ in PLUGIN_NAMING.values()} | {"NDTimeSeries"}))
_PLUGIN_NAME = re.compile(r"^(?P<stem>[A-Za-z]+?)(?P<n>\d+)$")

RING_MODELS = ("TopUp", "Constant")
PROFILES = ("pinhole", "edge", "slit")  # caproto mini_beamline's apertures (ioc.beamprofiles)
AXES = ("x", "y")

Name = Annotated[str, Field(min_length=1, max_length=64)]
RecordName = Annotated[str, Field(min_length=1)]
Prefix = str
Port = Annotated[str, Field(min_length=1, max_length=39, pattern=r"^\S+$")]  # NDArrayPort: a 40-char stringout


def plugin_defaults(name: str) -> tuple[str, str] | None:
    """(type, port) ADCore's start-up scripts give a plugin named ``name`` (``TIFF1`` -> NDFileTIFF on
    FileTIFF1), or None if the name does not follow them."""
    match = _PLUGIN_NAME.match(name)
    if match is None or match["stem"] not in PLUGIN_NAMING:
        return None
    kind, port = PLUGIN_NAMING[match["stem"]]
    return kind, f"{port}{match['n']}"


def check_record_name(value: str, what: str = "PV name") -> str:
    if not RECORD_NAME.match(value):
        raise ValueError(f"{value!r} is not a valid EPICS {what}: letters, digits and _-+:[]<>;{{}} only "
                         "('.' would start a field name, spaces and quotes are not allowed)")
    return value


def check_prefix(value: str) -> str:
    if not PREFIX.match(value):
        raise ValueError(f"{value!r} is not a valid PV prefix: letters, digits and _-+:[]<>;{{}} only")
    return value


class Strict(BaseModel):
    """Unknown keys are refused (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MotorSpec(Strict):
    """A motor record (epics-modules/motor) on a simulated controller."""

    pv: RecordName
    egu: Annotated[str, Field(max_length=15)] = "mm"
    limits: tuple[float, float] = (-100.0, 100.0)  # soft limits, dial (DLLM, DHLM); [0, 0]: none
    velocity: Annotated[float, Field(gt=0)] = 20.0  # EGU/s (VELO); VMAX is 10x
    base_velocity: Annotated[float, Field(ge=0)] = 0.1  # EGU/s (VBAS)
    acceleration: Annotated[float, Field(gt=0)] = 0.2  # s to reach VELO (ACCL)
    resolution: Annotated[float, Field(gt=0)] = 1e-4  # EGU per step (MRES)
    precision: Annotated[int, Field(ge=0, le=15)] = 3  # PREC
    home_velocity: Annotated[float, Field(gt=0)] | None = None  # EGU/s (HVEL); default: velocity
    description: Annotated[str, Field(max_length=40)] = ""  # DESC
    moves: str | None = None  # "<camera>.x", "<camera>.y" or "<point detector>"

    @field_validator("pv")
    @classmethod
    def _pv(cls, value: str) -> str:
        return check_record_name(value, "record name")

    @field_validator("limits")
    @classmethod
    def _limits(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if low > high:
            raise ValueError(f"low limit {low:g} is above high limit {high:g}")
        return value

    @model_validator(mode="after")
    def _speeds(self) -> MotorSpec:
        if self.base_velocity > self.velocity:
            raise ValueError(f"base_velocity {self.base_velocity:g} is above velocity {self.velocity:g} "
                             "(the motor record would raise VELO to VBAS)")
        return self


class PluginSpec(Strict):
    """An areaDetector plugin. Everything may be left out for a name ADCore's start-up scripts use
    (``TIFF1``, ``HDF1``, ``Stats1``..., ``ROI1``..., ``image1``, ``Pva1``, ``CB1``...)."""

    type: Literal[PLUGIN_TYPES] | None = None  # type: ignore[valid-type]
    suffix: Prefix | None = None  # after the camera prefix; default "<name>:"
    port: Port | None = None  # its asyn port (PortName_RBV)
    ndarray_port: Port | None = None  # the port it takes arrays from (NDArrayPort); default: the driver's
    address: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0  # the address on that port (NDArrayAddress)
    enabled: bool = True  # EnableCallbacks at start (a start-up script enables the plugins it wires)

    @field_validator("suffix")
    @classmethod
    def _suffix(cls, value: str | None) -> str | None:
        return None if value is None else check_prefix(value)


class CameraSpec(Strict):
    """An areaDetector camera (simDetector driver and its plugins), or caproto mini_beamline's
    ``MovingDot`` (layout ``mini_beamline``: ``det``, ``img_sum``, ``exp``, ``mtrx``, ``mtry``...)."""

    prefix: Prefix
    layout: Literal["areadetector", "mini_beamline"] = "areadetector"
    manufacturer: Annotated[str, Field(max_length=39)] = "Simulated detector"  # simDetector.cpp's
    model: Annotated[str, Field(max_length=39)] = "Basic simulator"
    sensor_shape: tuple[Annotated[int, Field(ge=8, le=8192)], Annotated[int, Field(ge=8, le=8192)]] = (480, 640)
    data_type: Literal[DATA_TYPES] = "UInt32"  # type: ignore[valid-type]
    port: Port = "SIM1"  # the driver's asyn port (ADSimDetector's st_base.cmd)
    driver_suffix: Prefix = "cam1:"
    plugins: dict[str, PluginSpec] = {}

    @field_validator("prefix", "driver_suffix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return check_prefix(value)

    @field_validator("plugins", mode="before")
    @classmethod
    def _plugin_shorthands(cls, value):
        """``[TIFF1, Stats1]`` and ``TIFF1:`` with nothing after it mean the defaults."""
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return {name: {} for name in value}
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _layout(self) -> CameraSpec:
        if self.layout == "mini_beamline":
            unused = sorted(self.model_fields_set & {"manufacturer", "model", "data_type", "port", "driver_suffix",
                                                     "plugins"})
            if unused:
                raise ValueError(f"{', '.join(unused)}: not used by the mini_beamline layout (its image is a "
                                 "float waveform 'det' with its own motors mtrx/mtry)")
        return self


class PointDetectorSpec(Strict):
    """A point detector behind an aperture, as caproto mini_beamline's ``ph``/``edge``/``slit``:
    ``det`` (counts), ``exp`` (s), on its own motor ``mtr`` moving at ``vel`` units/s."""

    prefix: Prefix
    layout: Literal["mini_beamline"] = "mini_beamline"
    profile: Literal[PROFILES]  # type: ignore[valid-type]

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return check_prefix(value)


class RingSpec(Strict):
    """The storage-ring current (mA), read-only: an ``ai`` record with EGU, PREC and alarm limits
    (layout ``record``), or the plain PV of caproto's mini_beamline (``mini_beamline``)."""

    pv: RecordName = "ring:current"
    name: Name = "ring_current"
    model: Literal[RING_MODELS] = "TopUp"  # type: ignore[valid-type]
    layout: Literal["record", "mini_beamline"] = "record"

    @field_validator("pv")
    @classmethod
    def _pv(cls, value: str) -> str:
        return check_record_name(value, "record name")


class SimSpec(Strict):
    """The simulation's own controls (TimeScale, Seed, RingMode, faults...)."""

    prefix: Prefix = "sim:"

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return check_prefix(value)


class AccessSecuritySpec(Strict):
    """EPICS access security: the ACF file the IOC enforces and where its controls (ACFFile,
    ACFReload, ACFMessage) are served."""

    file: Annotated[str, Field(min_length=1)] | None = None  # relative to the configuration file
    prefix: Prefix | None = None  # after the IOC prefix; default: the sim controls', else "acf:"

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        return None if value is None else check_prefix(value)


class MotorUtilSpec(Strict):
    """The motor module's motorUtil.db for the IOC's motors (``allstop``, ``alldone``, ``moving``...)."""

    prefix: Prefix = "mtr:"

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return check_prefix(value)


class IOCSpec(Strict):
    """One IOC process: a prefix (put before every PV name of its devices) and its devices."""

    name: Name
    prefix: Prefix = ""
    description: str = ""
    motors: dict[str, MotorSpec] = {}
    cameras: dict[str, CameraSpec] = {}
    point_detectors: dict[str, PointDetectorSpec] = {}
    ring: RingSpec | None = None
    sim: SimSpec | None = SimSpec()
    motor_util: MotorUtilSpec | None = MotorUtilSpec()  # served when the IOC has motors
    access_security: AccessSecuritySpec = AccessSecuritySpec()

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return check_prefix(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier(value)


def check_identifier(value: str) -> str:
    if not value.isidentifier() or keyword.iskeyword(value):
        raise ValueError(f"{value!r} is not a usable name: a Python identifier such as 'mtr_x' (the session "
                         "names its devices with it)")
    return value


class BeamlineSpec(Strict):
    """A beamline: the IOC processes that serve it."""

    version: Literal[1] = FORMAT_VERSION
    description: str = ""
    iocs: Annotated[list[IOCSpec], Field(min_length=1)]
