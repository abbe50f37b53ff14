"""NDFileHDF5 (``dot:HDF1:``) with stock clients: ophyd's HDF5Plugin + FileStoreHDF5IterativeWrite
read back by area-detector-handlers' AD_HDF5, ophyd-async's ADWriterFactory.hdf, an h5py SWMR
reader while the file is written, and bad input."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
from area_detector_handlers.handlers import AreaDetectorHDF5Handler
from bluesky import RunEngine
from bluesky import plans as bp
from ophyd import Component as Cpt
from ophyd.areadetector import DetectorBase, HDF5Plugin, SimDetectorCam, SingleTrigger, StatsPlugin
from ophyd.areadetector.filestore_mixins import FileStoreHDF5IterativeWrite

from . import ca
from .conftest import eventually, time_scale

P = "BL:dot:HDF1:"


class StockHDF5(HDF5Plugin, FileStoreHDF5IterativeWrite):
    pass


class HDF5Detector(SingleTrigger, DetectorBase):
    cam = Cpt(SimDetectorCam, "cam1:")
    hdf5 = Cpt(StockHDF5, "HDF1:", write_path_template="/")
    stats1 = Cpt(StatsPlugin, "Stats1:")


@pytest.fixture
def hdf1(ioc, data_root):
    """HDF1 pointed into the data root; its settings restored afterwards."""
    directory = data_root / "hdf5"
    ca.put(P + "CreateDirectory", -3)
    ca.put(P + "FilePath", str(directory))
    ca.put(P + "FileName", "frames")
    ca.put(P + "FileNumber", 0)
    ca.put(P + "AutoIncrement", 1)
    ca.put(P + "EnableCallbacks", 1)
    ca.put("BL:dot:cam1:ImageMode", "Single")
    ca.put("BL:dot:cam1:ArrayCallbacks", 1)
    ca.put("BL:dot:cam1:AcquireTime", 0.01)
    ca.put("BL:dot:cam1:DataType", "UInt32")
    ca.acquire()  # prime the plugin with a frame of this type, as ophyd's HDF5Plugin.warmup() does
    yield directory
    ca.put(P + "Capture", 0)
    for pv, value in (("FileWriteMode", "Single"), ("AutoSave", 0), ("SWMRMode", 0), ("NumCapture", 1),
                      ("LazyOpen", 0), ("Compression", "None"), ("CreateDirectory", 0)):
        ca.put(P + pv, value)


def _stats_total() -> float:
    return ca.get("BL:dot:Stats1:Total_RBV")


def test_stock_ophyd_hdf5_count_reads_back_with_ad_hdf5(hdf1, data_root):
    det = HDF5Detector("BL:dot:", name="det")
    det.hdf5.write_path_template = str(data_root / "ophyd-h5" / "%Y")
    det.hdf5.stage_sigs["num_capture"] = 0  # capture every frame of the run into one file
    det.hdf5.kind = "normal"
    det.stats1.kind = "normal"
    det.stats1.read_attrs = ["total"]
    det.wait_for_connection(timeout=10)
    assert det.hdf5.plugin_type.get().startswith("NDFileHDF5")
    det.cam.acquire_time.put(0.05)
    ca.put(P + "CreateDirectory", -5)
    RE = RunEngine({})
    docs = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    with time_scale(1):
        RE(bp.count([det], num=3))
    names = [n for n, _ in docs]
    assert names.count("event") == 3 and names.count("resource") == 1
    resource = next(doc for name, doc in docs if name == "resource")
    assert resource["spec"] == "AD_HDF5" and resource["resource_kwargs"] == {"frame_per_point": 1}
    path = os.path.join(resource["root"], resource["resource_path"])
    assert path == ca.get_str(P + "FullFileName_RBV")
    handler = AreaDetectorHDF5Handler(path, **resource["resource_kwargs"])
    datums = {doc["datum_id"]: doc for name, doc in docs if name == "datum"}
    for event in (doc for name, doc in docs if name == "event"):
        frame = np.asarray(handler(**datums[event["data"]["det_image"]]["datum_kwargs"]))
        assert frame.shape == (1, 480, 640) and frame.dtype == np.uint32
        assert frame.sum() == event["data"]["det_stats1_total"]  # the frame Stats1 measured
    handler.close()
    with h5py.File(path) as f:
        assert f["entry/data/data"].shape == (3, 480, 640)
        assert f["entry/instrument/detector/data"].id == f["entry/data/data"].id  # a hard link
        ids = f["entry/instrument/NDAttributes/NDArrayUniqueId"][()]
        assert list(np.diff(ids)) == [1, 1]
        assert f["entry"].attrs["NX_class"] == "NXentry"


def test_swmr_reader_sees_each_frame_while_the_file_is_written(hdf1):
    ca.put(P + "FileTemplate", "%s%s_%6.6d.h5")
    ca.put(P + "FileWriteMode", "Stream")
    ca.put(P + "NumCapture", 0)
    ca.put(P + "SWMRMode", "On")
    ca.put(P + "Compression", "zlib")
    ca.put(P + "Capture", 1)
    path = ca.get_str(P + "FullFileName_RBV")
    assert path == str(hdf1 / "frames_000000.h5") and ca.get(P + "FileNumber") == 1
    assert ca.get(P + "SWMRActive_RBV") == 1 and ca.get(P + "Capture_RBV") == 1
    totals = []
    ca.acquire()
    totals.append(_stats_total())
    reader = h5py.File(path, "r", libver="latest", swmr=True)
    data = reader["entry/data/data"]
    assert data.shape == (1, 480, 640) and data[0].sum() == totals[0]
    assert data.compression == "gzip"
    for _ in range(2):
        ca.acquire()
        totals.append(_stats_total())
        data.refresh()
        assert data.shape[0] == len(totals) and data[-1].sum() == totals[-1]
    assert ca.get(P + "NumCaptured_RBV") == 3
    counter = ca.get(P + "SWMRCbCounter_RBV")
    ca.put(P + "FlushNow", 1)
    assert ca.get(P + "SWMRCbCounter_RBV") == counter + 1
    ca.put(P + "Capture", 0)  # completes once the file is closed
    assert ca.get(P + "SWMRActive_RBV") == 0
    reader.close()
    with h5py.File(path) as f:
        assert [int(x.sum()) for x in f["entry/data/data"]] == totals


def test_capture_mode_writes_numcapture_frames_to_one_file(hdf1):
    ca.put(P + "FileTemplate", "%s%s_cap_%d.h5")
    ca.put(P + "FileWriteMode", "Capture")
    ca.put(P + "NumCapture", 3)
    ca.put(P + "AutoSave", 1)
    ca.put(P + "Capture", 1)
    totals = []
    for _ in range(3):
        ca.acquire()
        totals.append(_stats_total())
    eventually(lambda: ca.get(P + "Capture_RBV") == 0)
    path = ca.get_str(P + "FullFileName_RBV")
    assert path.endswith("frames_cap_0.h5")
    with h5py.File(path) as f:
        assert [int(x.sum()) for x in f["entry/data/data"]] == totals


def test_single_mode_writes_a_file_per_frame(hdf1):
    ca.put(P + "FileTemplate", "%s%s_single_%3.3d.h5")
    ca.put(P + "FileWriteMode", "Single")
    ca.put(P + "AutoSave", 1)
    for n in range(2):
        ca.acquire()
        path = ca.get_str(P + "FullFileName_RBV")
        assert path.endswith(f"frames_single_{n:03d}.h5")
        with h5py.File(path) as f:
            assert f["entry/data/data"].shape == (1, 480, 640)
            assert f["entry/data/data"][0].sum() == _stats_total()
    assert ca.get(P + "WriteStatus") == 0


def test_ophyd_async_hdf_writer(hdf1, data_root):
    from ophyd_async.core import StaticFilenameProvider, StaticPathProvider, init_devices
    from ophyd_async.epics.adcore import ADWriterFactory
    from ophyd_async.epics.adsimdetector import SimDetector

    RE = RunEngine({})
    directory = data_root / "ophyd-async-h5"
    directory.mkdir(exist_ok=True)
    path_provider = StaticPathProvider(StaticFilenameProvider("async_run"), directory)
    with init_devices():
        det = SimDetector("BL:dot:", ADWriterFactory.hdf(path_provider))
    docs = []
    RE(bp.count([det], num=3), lambda name, doc: docs.append((name, doc)))
    names = [n for n, _ in docs]
    assert names.count("stream_resource") == 1 and docs[-1][1]["exit_status"] == "success"
    resource = next(doc for name, doc in docs if name == "stream_resource")
    assert resource["parameters"]["dataset"] == "/entry/data/data"
    assert resource["mimetype"] == "application/x-hdf5"
    stream_datums = [doc for name, doc in docs if name == "stream_datum"]
    assert stream_datums[-1]["indices"]["stop"] == 3
    with h5py.File(directory / "async_run.h5") as f:
        data = f["entry/data/data"]
        assert data.shape == (3, 480, 640) and data.chunks == (1, 480, 640)
        assert data[-1].sum() == _stats_total()
    assert ca.get(P + "NumFramesChunks_RBV") == 1  # 0 on a fresh IOC, 1 after the first capture


def test_bad_input_is_refused_or_reported(hdf1, data_root, tmp_path):
    assert "JPEG compression is not available" in ca.put_error(P + "Compression", "JPEG")
    assert "BL:dot:HDF1:ZLevel" in ca.put_error(P + "ZLevel", 10)
    assert "extra dimensions are not simulated" in ca.put_error(P + "NumExtraDims", 2)
    assert "Capture needs FileWriteMode" in ca.put_error(P + "Capture", 1)  # Single mode
    # A path outside the data root is never written to; capture does not start.
    ca.put(P + "FilePath", str(tmp_path))
    assert ca.get(P + "FilePathExists_RBV") == 0
    assert "outside the data root" in ca.get_str(P + "WriteMessage")
    ca.put(P + "FileWriteMode", "Stream")
    error = ca.put_error(P + "Capture", 1)
    assert error.startswith("BL:dot:HDF1:Capture: capture not started") or "capture not started" in error
    assert ca.get(P + "Capture_RBV") == 0 and ca.get(P + "WriteStatus") == 1
    assert list(tmp_path.iterdir()) == []
    # And the next good capture works.
    ca.put(P + "FilePath", str(hdf1))
    ca.put(P + "Capture", 1)
    ca.acquire()
    ca.put(P + "Capture", 0)
    assert ca.get(P + "WriteStatus") == 0
    with h5py.File(ca.get_str(P + "FullFileName_RBV")) as f:
        assert f["entry/data/data"].shape[0] == 1


def test_every_pv_stock_ophyd_references_is_served(ioc):
    """All PVs of ophyd's HDF5Plugin (ADCore 3.3 layout) and PvaPlugin classes connect.

    (3.4's plugin base adds MaxArrayRate_COUT, which no plugin of this IOC serves yet.)
    """
    import epics
    from ophyd.areadetector.plugins import HDF5Plugin_V33, PvaPlugin_V33

    from .test_ioc_camera import ophyd_pvs

    pvs = ophyd_pvs(HDF5Plugin_V33, P) | ophyd_pvs(PvaPlugin_V33, "BL:dot:Pva1:")
    assert len(pvs) > 200
    chans = [epics.get_pv(pv, connect=False) for pv in sorted(pvs)]
    for chan in chans:
        chan.connect(timeout=0.001)
    missing = [chan.pvname for chan in chans if not chan.wait_for_connection(timeout=5)]
    assert missing == []
