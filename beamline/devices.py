"""ophyd devices of the beamline, built from stock ophyd classes.

``dot`` is an areaDetector camera: ``SimDetectorCam`` + a ``TIFFPlugin`` with
``FileStoreTIFFIterativeWrite`` (the IOC writes a TIFF per frame; runs record
Resource/Datum documents that point at the files) + ``ImagePlugin`` + ``StatsPlugin``.
Two changes to the stock behaviour, both about what a user sees:

* a frame's data key is 2-D, ``(rows, cols)``, when one image is taken per trigger, so the
  descriptor's shape equals the filled image's shape;
* ``trigger`` keeps its own reference to the status (the stock ``SingleTrigger`` returns
  ``self._status``, which a fast camera can clear before ``trigger`` returns), and fails
  the status with the IOC's WriteMessage if the frame's file could not be written.
"""

from __future__ import annotations

import time

from ophyd import Component as Cpt
from ophyd import EpicsMotor, EpicsSignalRO, EpicsSignalWithRBV
from ophyd.areadetector import DetectorBase, ImagePlugin, SimDetectorCam, SingleTrigger, StatsPlugin, TIFFPlugin
from ophyd.areadetector.filestore_mixins import FileStoreTIFFIterativeWrite
from ophyd.device import Staged


class DotTIFF(TIFFPlugin, FileStoreTIFFIterativeWrite):
    """``TIFF1:``: one TIFF file per frame, recorded as AD_TIFF resources."""

    create_directory = Cpt(EpicsSignalWithRBV, "CreateDirectory", kind="config")
    write_status = Cpt(EpicsSignalRO, "WriteStatus", string=True, kind="omitted")
    write_message = Cpt(EpicsSignalRO, "WriteMessage", string=True, kind="omitted")

    def stage(self):
        # ophyd puts FilePath before applying stage_sigs; let the IOC create the missing
        # levels of <data root>/images/%Y/%m/%d/ before that put, so that
        # FilePathExists_RBV is true when ophyd checks it.
        self.create_directory.set(-4).wait(10)
        super().stage()


class DotCamera(SingleTrigger, DetectorBase):
    """The ``dot`` camera. ``exp`` is its exposure time (s), ``cam1:AcquireTime``."""

    cam = Cpt(SimDetectorCam, "cam1:")
    tiff = Cpt(DotTIFF, "TIFF1:", write_path_template="/")
    image = Cpt(ImagePlugin, "image1:", kind="omitted")
    stats1 = Cpt(StatsPlugin, "Stats1:")
    exp = Cpt(EpicsSignalWithRBV, "cam1:AcquireTime", kind="config", tolerance=1e-9)

    def __init__(self, *args, write_path_template: str, image_name: str = "dot_img", **kwargs) -> None:
        super().__init__(*args, image_name=image_name, **kwargs)
        self.tiff.write_path_template = write_path_template
        # Read (so recorded): the frame's datum from TIFF1, and the spot's integrated counts
        # from Stats1 (hinted, for live plots of scalar scans). areaDetector plugins are
        # omitted by default, whatever their Component says.
        self.tiff.kind = "normal"
        self.stats1.kind = "normal"
        self.stats1.read_attrs = ["total"]
        self.stats1.total.kind = "hinted"
        # One frame per trigger, however the IOC was left.
        self.cam.stage_sigs["num_images"] = 1

    def make_data_key(self) -> dict:
        key = super().make_data_key()
        if key["shape"][0] == 1:
            key["shape"] = list(key["shape"][1:])
        return key

    def trigger(self):
        if self._staged != Staged.yes:
            raise RuntimeError(f"{self.name} is not staged: stage() it (bluesky plans do) before triggering")
        status = self._status_type(self)
        self._status = status
        self._acquisition_signal.put(1, wait=False)
        self.generate_datum(self._image_name, time.time(), {})
        return status

    def _acquire_changed(self, value=None, old_value=None, **kwargs) -> None:
        status = self._status
        if status is None or not (old_value == 1 and value == 0):
            return
        self._status = None
        # The IOC sets WriteStatus before Acquire drops, so this reads this frame's outcome.
        if self.tiff.write_status.get(use_monitor=False) != "Write OK":
            message = self.tiff.write_message.get(use_monitor=False)
            status.set_exception(OSError(f"{self.name}: the IOC could not save the frame: {message}"))
        else:
            status.set_finished()


def make_devices(prefix: str, write_path_template: str) -> dict:
    """The tutorial's devices: ``dot``, ``I``, ``mtr_dotx``, ``mtr_doty`` (not yet connected)."""
    dot = DotCamera(f"{prefix}dot:", name="dot", write_path_template=write_path_template)
    current = EpicsSignalRO(f"{prefix}ring:current", name="I")
    mtr_dotx = EpicsMotor(f"{prefix}mtr:dotx", name="motor_dotx")
    mtr_doty = EpicsMotor(f"{prefix}mtr:doty", name="motor_doty")
    return {"dot": dot, "I": current, "mtr_dotx": mtr_dotx, "mtr_doty": mtr_doty}
