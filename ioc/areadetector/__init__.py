"""areaDetector over caproto: one class per ADCore/ADSimDetector template, following their inheritance.

::

    NDArrayBase (nd_array_base.py)
    |-- ADBase (ad_base.py)
    |   `-- SimDetector (driver.py)            cam1:    simDetector.template
    `-- NDPluginBase (nd_plugin_base.py)
        |-- NDStdArrays (nd_std_arrays.py)         image1:     NDStdArrays.template
        |-- NDStats (nd_stats.py)                  Stats1:     NDStats.template
        |-- NDTimeSeries (nd_time_series.py)       Stats1:TS:  NDTimeSeries.template (Stats1's on address 1)
        |-- NDPva (nd_pva.py)                      Pva1:       NDPva.template
        |-- NDROI (nd_roi.py)                      ROI1:-4:    NDROI.template
        |-- NDProcess (nd_process.py)              Proc1:      NDProcess.template
        |-- NDTransform (nd_transform.py)          Trans1:     NDTransform.template
        |-- NDOverlay (nd_overlay.py)              Over1:      NDOverlay.template, NDOverlayN.template (1:-8:)
        |-- NDColorConvert (nd_color_convert.py)   CC1:        NDColorConvert.template
        |-- NDCircularBuff (nd_circular_buff.py)   CB1:        NDCircularBuff.template
        |-- NDROIStat (nd_roi_stat.py)             ROIStat1:   NDROIStat.template, NDROIStatN.template (1:-8:)
        `-- NDFile (nd_file.py)
            |-- NDFileTIFF (nd_file_tiff.py)       TIFF1:      NDFileTIFF.template  (tiff_writer.py writes)
            |-- NDFileHDF5 (nd_file_hdf5.py)       HDF1:       NDFileHDF5.template  (hdf5_writer.py writes)
            |-- NDFileJPEG (nd_file_jpeg.py)       JPEG1:      NDFileJPEG.template  (Pillow encodes)
            `-- NDFileNetCDF (nd_file_netcdf.py)   netCDF1:    NDFileNetCDF.template (records; no files)

Each class declares its template's records, one line each, and holds the code that writes
them; the plugins' arithmetic is :mod:`.compute`'s (pure numpy). Drivers and plugins are
instances made with their prefix and asyn port; a plugin takes its arrays from the port its
``NDArrayPort`` names (:class:`~.ports.NDArrayPorts`) and passes its output on to those wired
to its own port, so the app (or a configuration) chooses the plugins and wires them: a list of
:class:`~.plugin_set.PluginSpec` (class, suffix, port, upstream port and address) makes a camera's set.
Semantics follow areaDetector's documentation (ADDriver, NDPluginDriver, NDPluginFile...).
"""

from .driver import SimDetector
from .nd_circular_buff import NDCircularBuff
from .nd_color_convert import NDColorConvert
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
from .ndarray import Frame
from .plugin_set import PluginSpec, common_plugins, make_plugins
from .ports import NDArrayPorts

__all__ = ["NDROI", "Frame", "NDArrayPorts", "NDCircularBuff", "NDColorConvert", "NDFileHDF5", "NDFileJPEG",
           "NDFileNetCDF", "NDFileTIFF", "NDOverlay", "NDPluginBase", "NDProcess", "NDPva", "NDROIStat", "NDStats",
           "NDStdArrays", "NDTimeSeries", "NDTransform", "PluginSpec", "SimDetector", "common_plugins", "make_plugins"]
