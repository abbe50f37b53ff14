"""Stock ophyd detectors at every speed: a status from every trigger, every frame its own.

A beamline profile's detector is ophyd's own classes: ``SingleTrigger`` with ``SimDetectorCam``
and a TIFF or HDF5 file plugin with ophyd's file-store mixins, or ``ophyd.areadetector.
SimDetector`` with one. ``SingleTrigger.trigger`` returns a status its ``Acquire`` monitor
clears on the 1 -> 0 edge, so a camera that finished before ``trigger()`` returned would give
``None``: the IOC answers requests while a frame is pending (an asynchronous put) and takes
a readout after every exposure, as a camera does. 1,000 triggers at each of time scales 1, 100
and 1000, exposures drawn log-uniformly from 0.001 to 0.1 s, the class drawn per block of
triggers, from a seeded generator (``BEAMLINE_TEST_SEED`` replays a run).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from ophyd import Component as Cpt
from ophyd.areadetector import DetectorBase, HDF5Plugin, SimDetector, SimDetectorCam, SingleTrigger, TIFFPlugin
from ophyd.areadetector.filestore_mixins import FileStoreHDF5IterativeWrite, FileStoreTIFFIterativeWrite

from . import ca

# Alone: stock SingleTrigger's trigger() races the camera's readout; a client thread that a loaded
# machine stalls longer than a readout loses that race against a real camera too (docs/timing.md).
pytestmark = pytest.mark.serial

P = "AS:"
TRIGGERS = 1000  # per time scale
BLOCK = 125  # triggers per staging of one drawn class
SEED = int(os.environ.get("BEAMLINE_TEST_SEED", time.time_ns() % 2**31))
TAG_UNIQUE_ID = 65001  # NDFileTIFF's unique id tag


class TIFF(TIFFPlugin, FileStoreTIFFIterativeWrite):
    pass


class HDF5(HDF5Plugin, FileStoreHDF5IterativeWrite):
    pass


class TiffDetector(SingleTrigger, DetectorBase):
    cam = Cpt(SimDetectorCam, "cam1:")
    tiff = Cpt(TIFF, "TIFF1:", write_path_template="/")


class HDF5Detector(SingleTrigger, DetectorBase):
    cam = Cpt(SimDetectorCam, "cam1:")
    hdf5 = Cpt(HDF5, "HDF1:", write_path_template="/")


class SimDetectorWithTiff(SingleTrigger, SimDetector):  # ophyd.areadetector.SimDetector's own components
    tiff = Cpt(TIFF, "TIFF1:", write_path_template="/")


@pytest.fixture(scope="module")
def images(module_ioc) -> Path:
    ioc = module_ioc(P, time_scale=1, seed=11)
    directory = ioc.data_root / "images"
    directory.mkdir(parents=True)  # ophyd's base file plugins do not ask the IOC to create it
    yield directory
    ca.put(f"{P}sim:TimeScale", 100)


def make(cls, directory: Path):
    det = cls(P + "dot:", name="det")
    plugin = det.hdf5 if isinstance(det, HDF5Detector) else det.tiff
    plugin.write_path_template = str(directory) + "/"
    det.wait_for_connection(timeout=10)
    det.cam.stage_sigs["image_mode"] = "Single"  # one frame per trigger, however the IOC was left
    return det, plugin


def unique_ids(resource: dict, datums: list[dict]) -> list[int]:
    """The NDArray unique id of the frame each datum names, read from the files the IOC wrote."""
    kwargs = resource["resource_kwargs"]
    if resource["spec"] == "AD_HDF5":
        with h5py.File(os.path.join(resource["root"], resource["resource_path"]), "r", swmr=True) as f:
            ids = f["/entry/instrument/NDAttributes/NDArrayUniqueId"][()]
        return [int(ids[d["datum_kwargs"]["point_number"]]) for d in datums]
    directory = os.path.join(resource["root"], resource["resource_path"], "")
    out = []
    for d in datums:
        path = kwargs["template"] % (directory, kwargs["filename"], d["datum_kwargs"]["point_number"])
        with tifffile.TiffFile(path) as tif:
            out.append(int(tif.pages[0].tags[TAG_UNIQUE_ID].value))
    return out


@pytest.mark.parametrize("time_scale", [1, 100, 1000])
def test_stock_single_trigger_detectors_get_a_status_from_every_trigger(images, time_scale):
    rng = np.random.default_rng([SEED, time_scale])
    ca.put(f"{P}sim:TimeScale", time_scale)
    classes = (TiffDetector, HDF5Detector, SimDetectorWithTiff)
    done = 0
    while done < TRIGGERS:
        cls = classes[int(rng.integers(len(classes)))]
        n = min(BLOCK, TRIGGERS - done)
        exposures = np.exp(rng.uniform(math.log(0.001), math.log(0.1), n))
        where = f"seed {SEED} (BEAMLINE_TEST_SEED), time scale {time_scale}, {cls.__name__}"
        det, plugin = make(cls, images)
        det.stage()
        docs = []
        try:
            for i, exposure in enumerate(exposures):
                det.cam.acquire_time.put(float(exposure), wait=True)
                status = det.trigger()
                assert status is not None, f"trigger {done + i} returned no status: {where}, exposure {exposure:.4f} s"
                status.wait(timeout=30)
                docs += plugin.collect_asset_docs()
        finally:
            det.unstage()
        (resource,) = [doc for name, doc in docs if name == "resource"]
        datums = [doc for name, doc in docs if name == "datum"]
        assert len(datums) == n, where
        ids = unique_ids(resource, datums)
        # Every trigger its own frame: one new NDArray per trigger, in order, none shared.
        assert np.all(np.diff(ids) == 1), f"frames not one per trigger: {where}: unique ids {ids}"
        done += n
