"""Stock ophyd areaDetector classes, unchanged, against the IOC's camera.

A ``SingleTrigger`` detector of ``SimDetectorCam`` + ``TIFFPlugin`` with
``FileStoreTIFFIterativeWrite`` + ``ImagePlugin`` + ``StatsPlugin`` stages (port and plugin
type validation included), triggers, unstages; its Resource/Datum documents lead
area-detector-handlers' stock ``AreaDetectorTiffHandler`` to the frames the IOC wrote.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from area_detector_handlers.handlers import AreaDetectorTiffHandler
from bluesky import RunEngine
from bluesky import plans as bp
from ophyd import Component as Cpt
from ophyd.areadetector import (
    DetectorBase,
    HDF5Plugin,
    ImagePlugin,
    SimDetectorCam,
    SingleTrigger,
    StatsPlugin,
    TIFFPlugin,
)
from ophyd.areadetector.filestore_mixins import FileStoreTIFFIterativeWrite
from ophyd.areadetector.plugins import PluginMisconfigurationError

from ioc.sim.physics import SENSOR_SHAPE

from . import ca
from .conftest import time_scale

ROWS, COLS = SENSOR_SHAPE


class StockTIFF(TIFFPlugin, FileStoreTIFFIterativeWrite):
    pass


class StockDetector(SingleTrigger, DetectorBase):
    cam = Cpt(SimDetectorCam, "cam1:")
    tiff = Cpt(StockTIFF, "TIFF1:", write_path_template="/")
    image = Cpt(ImagePlugin, "image1:")
    stats1 = Cpt(StatsPlugin, "Stats1:")


class WrongPluginType(SingleTrigger, DetectorBase):
    cam = Cpt(SimDetectorCam, "cam1:")
    hdf5 = Cpt(HDF5Plugin, "TIFF1:")  # the IOC says NDFileTIFF


@pytest.fixture
def det(ioc, data_root):
    ca.put("BL:dot:TIFF1:CreateDirectory", -3)
    det = StockDetector("BL:dot:", name="det")
    det.tiff.write_path_template = str(data_root / "stock" / "%Y")
    det.tiff.kind = "normal"
    det.stats1.kind = "normal"
    det.stats1.read_attrs = ["total"]
    det.wait_for_connection(timeout=10)
    det.cam.acquire_time.put(0.05)
    yield det
    for plugin in ("image1:", "Stats1:"):
        ca.put(f"BL:dot:{plugin}NDArrayPort", "DOT1")


def test_stage_trigger_unstage_and_read_back_with_the_stock_handler(det):
    RE = RunEngine({})
    docs = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    with time_scale(1):  # hardware-like timing: ophyd's SingleTrigger assumes frames take a while
        RE(bp.count([det], num=4))
    names = [name for name, _ in docs]
    assert names.count("event") == 4 and names.count("datum") == 4 and names.count("resource") == 1
    stop = next(doc for name, doc in docs if name == "stop")
    assert stop["exit_status"] == "success"
    descriptor = next(doc for name, doc in docs if name == "descriptor")
    key = descriptor["data_keys"]["det_image"]
    assert list(key["shape"]) == [1, ROWS, COLS] and key["dtype_numpy"] == "<u4" and key["external"] == "FILESTORE:"

    resource = next(doc for name, doc in docs if name == "resource")
    assert resource["spec"] == "AD_TIFF"
    handler = AreaDetectorTiffHandler(os.path.join(resource["root"], resource["resource_path"]),
                                      **resource["resource_kwargs"])
    datums = {doc["datum_id"]: doc for name, doc in docs if name == "datum"}
    for event in (doc for name, doc in docs if name == "event"):
        frames = handler(**datums[event["data"]["det_image"]]["datum_kwargs"])
        assert frames.shape == (1, ROWS, COLS) and frames.dtype == np.uint32
        # The pixels are the frame the IOC measured: Stats1 summed the same array.
        assert frames.sum() == pytest.approx(event["data"]["det_stats1_total"])
    # Unstaged: the settings ophyd changed are back.
    assert det.cam.acquire.get() == 0
    assert det.tiff.auto_save.get() == ca.get("BL:dot:TIFF1:AutoSave_RBV")


def test_trigger_by_hand(det):
    det.stage()
    try:
        with time_scale(1):
            for _ in range(3):
                det.trigger().wait(10)
        reading = det.read()
        assert reading["det_image"]["value"].endswith("/2")  # the third datum of this stage
        assert det.cam.array_counter.get() >= 3
    finally:
        det.unstage()


def test_port_validation_catches_an_unknown_source(det):
    # image1 fed from Stats1's port: a source this ophyd device knows; stage succeeds.
    ca.put("BL:dot:image1:NDArrayPort", "STATS1")
    det.stage()
    det.unstage()
    # Without stats1 in the device, that source is unknown to ophyd: stage refuses.
    class NoStats(SingleTrigger, DetectorBase):
        cam = Cpt(SimDetectorCam, "cam1:")
        image = Cpt(ImagePlugin, "image1:")

    partial = NoStats("BL:dot:", name="partial")
    partial.wait_for_connection(timeout=10)
    with pytest.raises(RuntimeError, match="STATS1"):
        partial.stage()


def test_plugin_type_is_checked(ioc):
    wrong = WrongPluginType("BL:dot:", name="wrong", read_attrs=[])
    wrong.hdf5.wait_for_connection(timeout=10)
    with pytest.raises(PluginMisconfigurationError, match="NDFileTIFF"):
        wrong.hdf5.stage()
