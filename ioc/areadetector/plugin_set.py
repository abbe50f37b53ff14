"""A camera's plugins made from a list, as an IOC's start-up script makes them (EXAMPLE_commonPlugins.cmd).

Each :class:`PluginSpec` is one ``ND...Configure`` + ``dbLoadRecords`` pair: the plugin class
(one per ADCore template), its suffix under the camera's prefix, its asyn port, the port it
takes its arrays from, whether it starts enabled, and the address on that port (NDArrayAddress).
:func:`make_plugins` builds them on one :class:`~.ports.NDArrayPorts` and links what the
example IOC links (overlays 1-4 of an NDOverlay follow the regions of ROI1-ROI4, when both are
in the list; a Stats plugin's time series, on its address 1, shows in the Stats template's
``TS*`` waveforms).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ..server.pvaccess import ImageServer
from ..sim.faults import FaultModel
from .nd_circular_buff import NDCircularBuff
from .nd_color_convert import NDColorConvert
from .nd_file import NDFile
from .nd_file_hdf5 import NDFileHDF5
from .nd_file_jpeg import NDFileJPEG
from .nd_file_netcdf import NDFileNetCDF
from .nd_file_tiff import NDFileTIFF
from .nd_overlay import NDOverlay
from .nd_plugin_base import NDPluginBase
from .nd_process import NDProcess
from .nd_pva import NDPva
from .nd_roi import NDROI
from .nd_roi_stat import NDROIStat
from .nd_stats import NDStats
from .nd_std_arrays import NDStdArrays
from .nd_time_series import NDTimeSeries
from .nd_transform import NDTransform
from .ports import NDArrayPorts


class PluginSpec(NamedTuple):
    """One plugin of a camera: ``cls`` at ``suffix`` (``"ROI1:"``), asyn ``port`` (``"ROI1"``),
    fed by ``upstream`` (a driver's or another plugin's port) at its ``address``; ``enabled`` at start."""

    cls: type[NDPluginBase]
    suffix: str
    port: str
    upstream: str
    enabled: bool = True
    address: int = 0


#: Every plugin class a camera can have, by class name (its template's: NDROI for NDROI.template).
PLUGIN_CLASSES: dict[str, type[NDPluginBase]] = {cls.__name__: cls for cls in (
    NDFileTIFF, NDFileHDF5, NDFileJPEG, NDFileNetCDF, NDStdArrays, NDStats, NDTimeSeries, NDPva, NDROI, NDROIStat,
    NDProcess, NDTransform, NDOverlay, NDColorConvert, NDCircularBuff)}


def plugin_class(name: str) -> type[NDPluginBase]:
    """The plugin class called ``name``: its class (template) name, ``"NDROI"``, or the plugin
    type it reports on PluginType_RBV, ``"NDPluginROI"``; ValueError naming the choices."""
    for cls in PLUGIN_CLASSES.values():
        if name in (cls.__name__, cls.plugin_type, cls.plugin_type.split(" ")[0]):
            return cls
    raise ValueError(f"unknown plugin class {name!r}; expected one of {', '.join(PLUGIN_CLASSES)}")


def common_plugins(driver_port: str) -> list[PluginSpec]:
    """The plugins this IOC's camera has: the five it always had and Stats1's time series
    (STATS1_TS on STATS1's address 1), enabled, and the rest of EXAMPLE_commonPlugins.cmd's
    chain, each on the driver and disabled, as the template starts them (ophyd enables a
    plugin when it stages it)."""
    return [
        PluginSpec(NDFileTIFF, "TIFF1:", "FileTIFF1", driver_port),
        PluginSpec(NDFileHDF5, "HDF1:", "FileHDF1", driver_port),
        PluginSpec(NDStdArrays, "image1:", "IMAGE1", driver_port),
        PluginSpec(NDStats, "Stats1:", "STATS1", driver_port),
        PluginSpec(NDTimeSeries, "Stats1:TS:", "STATS1_TS", "STATS1", address=1),
        PluginSpec(NDPva, "Pva1:", "PVA1", driver_port),
        *(PluginSpec(NDROI, f"ROI{n}:", f"ROI{n}", driver_port, False) for n in range(1, 5)),
        PluginSpec(NDROIStat, "ROIStat1:", "ROISTAT1", driver_port, False),
        PluginSpec(NDProcess, "Proc1:", "PROC1", driver_port, False),
        PluginSpec(NDTransform, "Trans1:", "TRANS1", driver_port, False),
        PluginSpec(NDOverlay, "Over1:", "OVER1", driver_port, False),
        PluginSpec(NDColorConvert, "CC1:", "CC1", driver_port, False),
        PluginSpec(NDCircularBuff, "CB1:", "CB1", driver_port, False),
    ]


def make_plugins(prefix: str, specs: list[PluginSpec], ports: NDArrayPorts, *, macros: dict, data_root: Path,
                 faults: FaultModel, pva_server: ImageServer | None = None) -> dict[str, NDPluginBase]:
    """The plugins of ``specs`` under ``prefix`` (the camera's), added to ``ports``, by suffix.

    ``macros`` are the camera's (XSIZE, YSIZE, NELEMENTS); file plugins write into
    ``data_root`` only; NDPva serves its image on ``pva_server`` if given.
    """
    plugins: dict[str, NDPluginBase] = {}
    for spec in specs:
        if spec.suffix in plugins:
            raise ValueError(f"plugin suffix {spec.suffix!r} is given twice")
        kwargs: dict = dict(port=spec.port, ndarray_port=spec.upstream, ports=ports, enabled=spec.enabled,
                            macros={**macros, "NDARRAY_ADDR": spec.address})
        if issubclass(spec.cls, NDFile):
            kwargs.update(data_root=data_root, faults=faults)
        elif issubclass(spec.cls, NDPva):
            kwargs.update(server=pva_server)
        plugin = spec.cls(prefix + spec.suffix, **kwargs)
        ports.add_plugin(plugin)
        plugins[spec.suffix] = plugin
    link_overlays(plugins)
    link_time_series(plugins)
    return plugins


def link_overlays(plugins: dict[str, NDPluginBase]) -> None:
    """Overlays 1-4 of each NDOverlay follow ROI1-ROI4's regions (their PositionXLink... records)."""
    for overlay in (p for p in plugins.values() if isinstance(p, NDOverlay)):
        for n, target in enumerate(overlay.overlays[:4], start=1):
            roi = plugins.get(f"ROI{n}:")
            if isinstance(roi, NDROI):
                roi.region_listeners.append(target.follow_region)


def link_time_series(plugins: dict[str, NDPluginBase]) -> None:
    """A time series plugin on a Stats plugin's address 1 shows its series in that plugin's
    ``TS*`` waveforms, and ADCore R2's ``TSControl``... records act on it."""
    by_port = {plugin.port: plugin for plugin in plugins.values()}
    for series in (p for p in plugins.values() if isinstance(p, NDTimeSeries)):
        stats = by_port.get(series.upstream())
        if isinstance(stats, NDStats) and series.upstream_address() == 1 and stats.time_series is None:
            stats.serve_time_series(series)
