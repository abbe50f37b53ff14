"""Devices for everything a beamline configuration declares (:mod:`beamline_shared.config`),
named as the file names them: for users who have no profile yet.

``make_session(config=FILE)`` (:mod:`beamline.session`) and ``make_async_session(config=FILE)``
(:mod:`beamline.async_devices`) use these. Per kind of device:

===========================  ======================================  ==================================
declared                     ophyd                                   ophyd-async
===========================  ======================================  ==================================
motor ``m``                  ``BeamlineMotor(pv, name="m")``          ``Motor(pv, name="m")``
camera ``c`` (areadetector)  a ``SingleTrigger`` detector: ``cam``   ``SimDetector`` writing with its
                             and each plugin by its name lowercased  first TIFF (else HDF5) plugin
                             (``tiff1``, ``stats1``...); with a TIFF
                             and a Stats plugin, the tutorial's
                             :class:`~beamline.devices.DotCamera`
camera ``c`` (mini_beamline) the tutorials' ``Spot``; ``motor_cx``,  ``det``/``img_sum``/``exp`` signals
                             ``motor_cy`` (its ``mtrx``/``mtry``)
point detector ``d``         the tutorials' ``Det`` (``det``,        ``det``, ``exp`` signals
                             ``exp``); ``motor_d`` (its ``mtr``)
ring ``r``                   ``EpicsSignalRO(pv, name="r")``          ``epics_signal_r(float, pv)``
===========================  ======================================  ==================================

The CA client finds each IOC by the connection file it leaves in the data root
(:func:`ca_ports`), unless ``EPICS_CA_ADDR_LIST`` was set by the user.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from beamline_shared import config
from beamline_shared.paths import read_connection_file

# ophyd's plugin class for each ADCore plugin type.
OPHYD_PLUGINS = {
    "NDStdArrays": "ImagePlugin", "NDStats": "StatsPlugin", "NDROI": "ROIPlugin", "NDROIStat": "ROIStatPlugin",
    "NDProcess": "ProcessPlugin", "NDTransform": "TransformPlugin", "NDOverlay": "OverlayPlugin",
    "NDColorConvert": "ColorConvPlugin", "NDCircularBuff": "CircularBuffPlugin", "NDAttribute": "AttributePlugin",
    "NDFFT": "FFTPlugin", "NDCodec": "CodecPlugin", "NDBadPixel": "BadPixelPlugin", "NDScatter": "ScatterPlugin",
    "NDGather": "GatherPlugin", "NDPva": "PvaPlugin", "NDFileTIFF": "TIFFPlugin", "NDFileHDF5": "HDF5Plugin",
    "NDFileJPEG": "JPEGPlugin", "NDFileNetCDF": "NetCDFPlugin", "NDFileNexus": "NexusPlugin",
    "NDFileMagick": "MagickPlugin",
}


def load(path: str | Path) -> config.Beamline:
    """A configuration file, or a shipped one by name."""
    return config.load(config.locate(path))


def ioc_key(ioc: config.IOC) -> str:
    """What names an IOC's connection file: its prefix, or its name if it has none."""
    return ioc.prefix or ioc.name


def ca_ports(beamline: config.Beamline, data_root: Path | None = None) -> dict[str, dict]:
    """The connection files of the running IOCs of ``beamline``, by IOC name."""
    found = {}
    for ioc in beamline.iocs:
        info = read_connection_file(ioc_key(ioc), data_root)
        if info is not None:
            found[ioc.name] = info
    return found


def apply_ca_environment(beamline: config.Beamline, data_root: Path | None = None) -> dict[str, dict]:
    """Point the CA client at every running IOC of ``beamline`` (each by its port), unless the user
    set ``EPICS_CA_ADDR_LIST``. Must run before the first CA channel is made; returns :func:`ca_ports`."""
    from .connection import apply_ca_environment as defaults
    from .connection import user_set_address_list

    user = user_set_address_list()
    defaults()
    found = ca_ports(beamline, data_root)
    if not user and found:
        os.environ["EPICS_CA_ADDR_LIST"] = " ".join(f"127.0.0.1:{info['port']}" for info in found.values())
        os.environ["EPICS_CA_AUTO_ADDR_LIST"] = "NO"
    return found


def data_root_of(beamline: config.Beamline, found: dict[str, dict], camera: str, timeout: float = 5.0) -> str:
    """The data root of the IOC serving ``camera``: its ``sim:DataRoot``, else its connection file's,
    else the default."""
    from .connection import ioc_data_root

    ioc = beamline.ioc_of(camera)
    if ioc.sim is not None:
        return ioc_data_root(ioc.prefix, timeout, pv=ioc.sim.prefix + "DataRoot")
    info = found.get(ioc.name)
    return str(info["data_root"]) if info and info.get("data_root") else _default_root()


def _prepare(path: str | Path, timeout: float) -> tuple[config.Beamline, dict[str, dict], dict[str, str]]:
    beamline = load(path)
    found = apply_ca_environment(beamline)
    roots = {camera.name: data_root_of(beamline, found, camera.name, timeout)
             for ioc in beamline.iocs for camera in ioc.cameras}
    return beamline, found, roots


def _not_found(beamline: config.Beamline, found: dict, device: str, exc: Exception, timeout: float):
    from .connection import IOCNotFound, describe_ca_environment

    ioc = beamline.ioc_of(device)
    running = "" if ioc.name in found else f" (no connection file of IOC {ioc.name} in the data root)"
    return IOCNotFound(f"{device} did not connect within {timeout:g} s: {exc}\n  IOC {ioc.name}{running}   "
                       f"{describe_ca_environment()}\n  Start it with:  beamline-ioc --config {beamline.source}")


def connect_configured(path: str | Path, timeout: float) -> tuple[dict, str]:
    """ophyd devices for ``path``'s configuration, connected (and the configuration itself, as
    ``beamline_config``); and the (first camera's) data root."""
    beamline, found, roots = _prepare(path, timeout)
    devices = ophyd_devices(beamline, roots)
    for name, device in devices.items():
        try:
            device.wait_for_connection(timeout=timeout)
        except TimeoutError as exc:
            raise _not_found(beamline, found, name, exc, timeout) from None
    return {**devices, "beamline_config": beamline}, next(iter(roots.values()), None) or _default_root()


def connect_configured_async(path: str | Path, timeout: float) -> tuple[dict, str]:
    """ophyd-async devices for ``path``'s configuration, connected; and the (first camera's) data root."""
    from .async_devices import connect_async_devices

    beamline, found, roots = _prepare(path, timeout)
    devices = async_devices(beamline, roots)
    connect_async_devices(devices, timeout)
    return {**devices, "beamline_config": beamline}, next(iter(roots.values()), None) or _default_root()


def _default_root() -> str:
    from beamline_shared.paths import default_data_root

    return str(default_data_root())


# -- ophyd ------------------------------------------------------------------------------------


def _suffix(camera: config.Camera, prefix: str) -> str:
    return prefix[len(camera.prefix):]


def ophyd_camera_class(camera: config.Camera) -> type:
    """A detector class for ``camera``: its driver as ``cam`` and each plugin as a component named
    by the plugin's name lowercased."""
    from ophyd import Component as Cpt
    from ophyd import areadetector
    from ophyd.areadetector import DetectorBase, SimDetectorCam, SingleTrigger

    from .devices import DotCam, DotCamera, DotStats, DotTIFF

    tiff = next((p for p in camera.plugins if p.type == "NDFileTIFF"), None)
    stats = next((p for p in camera.plugins if p.type == "NDStats"), None)
    image = next((p for p in camera.plugins if p.type == "NDStdArrays"), None)
    body: dict = {}
    if tiff is not None and stats is not None:
        bases: tuple = (DotCamera,)
        body["cam"] = Cpt(DotCam, _suffix(camera, camera.driver_prefix))
        body["exp"] = Cpt(areadetector.EpicsSignalWithRBV, _suffix(camera, camera.driver_prefix) + "AcquireTime",
                          kind="config", tolerance=1e-9)
        body["tiff"] = Cpt(DotTIFF, _suffix(camera, tiff.prefix), write_path_template="/")
        body["stats1"] = Cpt(DotStats, _suffix(camera, stats.prefix))
        # ophyd drops a base class's component the subclass sets to None
        body["image"] = (None if image is None
                         else Cpt(areadetector.ImagePlugin, _suffix(camera, image.prefix), kind="omitted"))
        special = {tiff.name, stats.name} | ({image.name} if image else set())
    else:
        bases = (SingleTrigger, DetectorBase)
        body["cam"] = Cpt(SimDetectorCam, _suffix(camera, camera.driver_prefix))
        special = set()
    for plugin in camera.plugins:
        if plugin.name in special:
            continue
        cls = getattr(areadetector, OPHYD_PLUGINS.get(plugin.type, "PluginBase"))
        body[plugin.name.lower()] = Cpt(cls, _suffix(camera, plugin.prefix), kind="omitted")
    return type(f"Configured_{camera.name}", bases, body)


def ophyd_devices(beamline: config.Beamline, data_roots: dict[str, str]) -> dict:
    """ophyd devices for everything ``beamline`` declares (not yet connected); ``data_roots``: each
    camera's data root (by camera name), under which its frames go (``images/%Y/%m/%d/``)."""
    from ophyd import Component as Cpt
    from ophyd import Device, EpicsSignal, EpicsSignalRO

    from .devices import BeamlineMotor, DotCamera

    class Det(Device):
        det = Cpt(EpicsSignal, "det", kind="hinted")
        exp = Cpt(EpicsSignal, "exp", kind="config")

    class Spot(Device):
        img = Cpt(EpicsSignalRO, "det")
        roi = Cpt(EpicsSignal, "img_sum", kind="hinted")
        exp = Cpt(EpicsSignal, "exp", kind="config")
        shutter_open = Cpt(EpicsSignal, "shutter_open", kind="config")

    devices: dict = {}
    for ioc in beamline.iocs:
        for motor in ioc.motors:
            devices[motor.name] = BeamlineMotor(motor.pv, name=motor.name)
        for camera in ioc.cameras:
            if camera.layout == "mini_beamline":
                devices[camera.name] = Spot(camera.prefix, name=camera.name)
                for axis in ("x", "y"):
                    name = f"motor_{camera.name}{axis}"
                    devices[name] = EpicsSignal(f"{camera.prefix}mtr{axis}", name=name, put_complete=True)
                continue
            cls = ophyd_camera_class(camera)
            if issubclass(cls, DotCamera):
                template = os.path.join(data_roots[camera.name], "images", "%Y", "%m", "%d", "")
                devices[camera.name] = cls(camera.prefix, name=camera.name, write_path_template=template,
                                           image_name=f"{camera.name}_img")
            else:
                devices[camera.name] = cls(camera.prefix, name=camera.name)
        for detector in ioc.point_detectors:
            devices[detector.name] = Det(detector.prefix, name=detector.name)
            name = f"motor_{detector.name}"
            devices[name] = EpicsSignal(f"{detector.prefix}mtr", name=name, put_complete=True)
        if ioc.ring is not None:
            devices[ioc.ring.name] = EpicsSignalRO(ioc.ring.pv, name=ioc.ring.name)
    return devices


# -- ophyd-async ------------------------------------------------------------------------------


def async_devices(beamline: config.Beamline, data_roots: dict[str, str]) -> dict:
    """ophyd-async devices for everything ``beamline`` declares (named, not yet connected)."""
    from ophyd_async.core import StandardReadable, StandardReadableFormat, UUIDFilenameProvider, YMDPathProvider
    from ophyd_async.epics.adcore import ADWriterFactory
    from ophyd_async.epics.core import epics_signal_r, epics_signal_rw

    from .async_devices import _classes

    detector_class, motor_class = _classes()

    class Det(StandardReadable):
        def __init__(self, prefix: str, name: str = "") -> None:
            with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
                self.det = epics_signal_r(float, prefix + "det")
            with self.add_children_as_readables(StandardReadableFormat.CONFIG_SIGNAL):
                self.exp = epics_signal_rw(float, prefix + "exp")
            super().__init__(name=name)

    class Spot(StandardReadable):
        def __init__(self, prefix: str, name: str = "") -> None:
            with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
                self.img_sum = epics_signal_r(float, prefix + "img_sum")
            with self.add_children_as_readables(StandardReadableFormat.CONFIG_SIGNAL):
                self.exp = epics_signal_rw(float, prefix + "exp")
            self.mtrx = epics_signal_rw(float, prefix + "mtrx")
            self.mtry = epics_signal_rw(float, prefix + "mtry")
            super().__init__(name=name)

    devices: dict = {}
    for ioc in beamline.iocs:
        for motor in ioc.motors:
            devices[motor.name] = motor_class(motor.pv, name=motor.name)
        for camera in ioc.cameras:
            if camera.layout == "mini_beamline":
                devices[camera.name] = Spot(camera.prefix, name=camera.name)
                continue
            writer = next((p for p in camera.plugins if p.type == "NDFileTIFF"), None)
            factory = ADWriterFactory.tiff
            if writer is None:
                writer = next((p for p in camera.plugins if p.type == "NDFileHDF5"), None)
                factory = ADWriterFactory.hdf
            if writer is None:
                raise ValueError(f"{beamline.source}: camera {camera.name!r} has no TIFF or HDF5 plugin for "
                                 "ophyd-async's SimDetector to write with")
            path_provider = YMDPathProvider(UUIDFilenameProvider(),
                                            PurePosixPath(data_roots[camera.name]) / "images",
                                            create_dir_depth=-5, datakey_name_as_base_dir=True)
            devices[camera.name] = detector_class(
                camera.prefix, factory(path_provider, writer_suffix=_suffix(camera, writer.prefix)),
                driver_suffix=_suffix(camera, camera.driver_prefix), name=camera.name)
        for detector in ioc.point_detectors:
            devices[detector.name] = Det(detector.prefix, name=detector.name)
            devices[f"motor_{detector.name}"] = epics_signal_rw(float, f"{detector.prefix}mtr",
                                                                name=f"motor_{detector.name}")
        if ioc.ring is not None:
            devices[ioc.ring.name] = epics_signal_r(float, ioc.ring.pv, name=ioc.ring.name)
    return devices
