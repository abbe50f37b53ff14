"""The ``dot`` camera: an areaDetector driver (``cam1:``) and its plugins, over caproto.

Semantics follow areaDetector's documentation (ADDriver, NDPluginBase, NDPluginFile,
NDFileTIFF, NDPluginStdArrays, NDPluginStats):

* ``cam1:Acquire`` = 1 takes ``NumImages`` frames (1 in Single mode, until stopped in
  Continuous), each exposing ``AcquireTime`` s (x ``NumExposures``), one every
  ``AcquirePeriod`` s at the least; the wall time taken is divided by ``sim:TimeScale``.
  Each frame goes to every enabled plugin wired to the driver's port (``NDArrayPort``),
  and Acquire/Acquire_RBV return to 0 only once the plugins are done with the last one:
  its TIFF file is on disk and ``FullFileName_RBV``/``FileNumber`` and the counters are
  updated. A put with completion callback on Acquire completes then too.
* ``TIFF1:`` writes ``FileTemplate % (FilePath, FileName, FileNumber)`` per frame
  (FileWriteMode Single with AutoSave, or Capture/Stream with Capture), never outside the
  IOC's data root, through a temporary name renamed into place, so no partial file is
  ever visible. Failures are reported in ``WriteStatus``/``WriteMessage`` and on the
  driver's ``StatusMessage_RBV``/``DetectorState_RBV``.
* ``image1:ArrayData`` carries the last frame, posted at most once per ``MinCallbackTime``
  (the latest frame always arrives), so monitors are never flooded.
* ``Stats1:`` publishes total, extrema, mean, sigma and the centroid of each frame.
"""

from .camera import Camera
from .common import DRIVER_PORT, Frame

__all__ = ["Camera", "DRIVER_PORT", "Frame"]
