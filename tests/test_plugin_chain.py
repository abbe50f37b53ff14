"""The camera's plugin chain, chained by NDArrayPort, against stock clients and numpy.

A profile of ophyd's stock plugin classes (ROIPlugin, ProcessPlugin, TransformPlugin,
OverlayPlugin, ColorConvPlugin, CircularBuffPlugin, ROIStatPlugin) connects, validates its
ports and stages with the chain Proc1 -> ROI1 -> Stats1 and TIFF1 writing ROI1's output;
the files equal numpy's computation of that chain on the raw frame (HDF1, on the driver),
and image1 on Over1 shows ROI1's box. An ophyd-async NDROIStatIO reads region totals. A
background saved by Proc1 with the beam dumped is that frame, and subtracting it leaves the
spot with its Poisson noise. NDArrayPort, loops and the plugins' queues behave as ADCore's.
"""

from __future__ import annotations

import epics
import h5py
import numpy as np
import pytest
import tifffile
from ophyd import Component as Cpt
from ophyd.areadetector import DetectorBase, ImagePlugin, SimDetectorCam, SingleTrigger, StatsPlugin, TIFFPlugin
from ophyd.areadetector.filestore_mixins import FileStoreHDF5IterativeWrite, FileStoreTIFFIterativeWrite
from ophyd.areadetector.plugins import (
    CircularBuffPlugin_V34,
    ColorConvPlugin,
    HDF5Plugin,
    OverlayPlugin,
    ProcessPlugin,
    ROIPlugin,
    ROIStatNPlugin_V25,
    ROIStatPlugin_V34,
    TransformPlugin,
)

from ioc.sim import physics

from . import ca
from .conftest import eventually, time_scale
from .test_ioc_camera import ophyd_pvs

PREFIX = "CH:"
P = PREFIX + "dot:"
ROWS, COLS = physics.SENSOR_SHAPE


@pytest.fixture(scope="module")
def chain_ioc(module_ioc):
    """An IOC of this module's own, its ring held at 500 mA (the physics checks need the current)."""
    proc = module_ioc(PREFIX, seed=27, extra_args=["--ring", "Constant"])
    ca.put(P + "cam1:ImageMode", "Single")
    ca.put(P + "cam1:AcquireTime", 0.01)
    return proc


@pytest.fixture
def wiring(chain_ioc):
    """``wiring(pv, value)`` puts a setting of the camera (a port, an enable, a number) and puts
    back the one it had after the test."""
    changed: dict[str, object] = {}

    def put(pv: str, value) -> None:
        if pv not in changed:
            changed[pv] = ca.get_str(P + pv) if pv.endswith("NDArrayPort") else ca.get(P + pv)
        ca.put(P + pv, value)

    yield put
    for pv, value in reversed(changed.items()):
        ca.put(P + pv, value)


class ChainTIFF(TIFFPlugin, FileStoreTIFFIterativeWrite):
    pass


class RawHDF5(HDF5Plugin, FileStoreHDF5IterativeWrite):
    pass


class ChainDetector(SingleTrigger, DetectorBase):
    """A profile's camera with every plugin of the chain, each a stock ophyd class."""

    cam = Cpt(SimDetectorCam, "cam1:")
    proc1 = Cpt(ProcessPlugin, "Proc1:")
    roi1 = Cpt(ROIPlugin, "ROI1:")
    roi2 = Cpt(ROIPlugin, "ROI2:")
    roi3 = Cpt(ROIPlugin, "ROI3:")
    roi4 = Cpt(ROIPlugin, "ROI4:")
    stats1 = Cpt(StatsPlugin, "Stats1:")
    trans1 = Cpt(TransformPlugin, "Trans1:")
    over1 = Cpt(OverlayPlugin, "Over1:")
    cc1 = Cpt(ColorConvPlugin, "CC1:")
    cb1 = Cpt(CircularBuffPlugin_V34, "CB1:")
    roistat1 = Cpt(ROIStatPlugin_V34, "ROIStat1:")
    roistat1_1 = Cpt(ROIStatNPlugin_V25, "ROIStat1:1:")
    image1 = Cpt(ImagePlugin, "image1:")
    tiff1 = Cpt(ChainTIFF, "TIFF1:", write_path_template="/")
    hdf1 = Cpt(RawHDF5, "HDF1:", write_path_template="/")


def _bin2(a: np.ndarray) -> np.ndarray:
    rows, cols = a.shape
    return a.reshape(rows // 2, 2, cols // 2, 2).sum(axis=(1, 3), dtype=a.dtype)


def test_stock_ophyd_profile_stages_the_chain_and_its_files_are_numpys(chain_ioc, wiring):
    root = chain_ioc.data_root / "chain"
    for plugin in ("TIFF1:", "HDF1:"):
        wiring(plugin + "CreateDirectory", -3)  # the base TIFFPlugin/HDF5Plugin classes do not set it
    # Every PV the profile's classes reference is served (connected as libca connects many at once).
    pvs = sorted(ophyd_pvs(ChainDetector, P))
    assert len(pvs) > 1500
    chans = [epics.get_pv(pv, connect=False) for pv in pvs]
    for chan in chans:
        chan.connect(timeout=0.001)
    assert [chan.pvname for chan in chans if not chan.wait_for_connection(timeout=10)] == []
    det = ChainDetector(P, name="det")
    det.tiff1.write_path_template = str(root / "roi")
    det.hdf1.write_path_template = str(root / "raw")
    det.wait_for_connection(timeout=10)
    det.proc1.configuration_attrs = ["nd_array_port", "offset", "scale"]
    det.roi1.configuration_attrs = ["nd_array_port", "bin_"]
    # The profile's wiring: Proc1 on the camera, ROI1 on Proc1, Stats1 and TIFF1 on ROI1, image1 on Over1.
    for plugin, port in ((det.roi1, "PROC1"), (det.stats1, "ROI1"), (det.tiff1, "ROI1"), (det.image1, "OVER1")):
        wiring(plugin.prefix[len(P):] + "NDArrayPort", port)
        assert plugin.nd_array_port.get() == port
    det.proc1.stage_sigs.update(enable_offset_scale="Enable", offset=-900.0, scale=2.0, data_type_out="Int32")
    det.roi1.stage_sigs.update([("min_xyz.min_x", 200), ("min_xyz.min_y", 120), ("size.x", 240), ("size.y", 240),
                                ("bin_.x", 2), ("bin_.y", 2)])
    det.over1.overlay_1.stage_sigs.update(use=1)
    for pv in ("Over1:1:WidthX", "Over1:1:WidthY"):  # not in ophyd's Overlay class
        wiring(pv, 1)
    det.cam.stage_sigs.update(acquire_time=0.05, image_mode="Single")
    det.stage()  # validate_asyn_ports: every source is a plugin of the profile
    try:
        with time_scale(1, PREFIX):  # ophyd's SingleTrigger assumes frames take a while
            det.trigger().wait(10)
        roi_file, raw_file = det.tiff1.full_file_name.get(), None
        assert det.roi1.array_size.get() == (0, 120, 120)  # ArraySizeZ/Y/X_RBV: the ROI's output
        config = det.stats1.read_configuration()  # the source plugins' too, found by their ports
        assert config["det_roi1_bin__x"]["value"] == 2 and config["det_proc1_offset"]["value"] == -900
        assert config["det_roi1_nd_array_port"]["value"] == "PROC1" and "det_cam_acquire_time" in config
        total = det.stats1.total.get()
        live = ca.image1(PREFIX)
        o = det.over1.overlay_1
        overlay = (o.position_x.get(), o.position_y.get(), o.size_x.get(), o.size_y.get())
    finally:
        det.unstage()
    raw_file = det.hdf1.full_file_name.get()
    with h5py.File(raw_file, "r") as f:
        (raw,) = f["entry/data/data"][()]
    written = tifffile.imread(roi_file)
    # The chain in numpy: Proc1 (offset, scale, Int32), ROI1 (region, 2x2 binning).
    proc = ((raw.astype(np.float64) - 900.0) * 2.0).astype(np.int32)
    expected = _bin2(proc[120:360, 200:440])
    assert written.dtype == np.int32 and written.shape == (120, 120)
    np.testing.assert_array_equal(written, expected)
    assert total == float(expected.sum())
    # image1 on Over1: the raw frame with overlay 1 drawn where ROI1's region is (linked), in Green (1).
    drawn = raw.copy()
    drawn[[120, 360], 200:441] = 1
    drawn[120:361, [200, 440]] = 1
    np.testing.assert_array_equal(live, drawn.view(np.int32))
    assert overlay == (200, 120, 240, 240)
    # Unstaged, ROI1 is back to its whole frame, and overlay 1 follows it there.
    assert eventually(lambda: det.over1.overlay_1.size_x.get() == ca.get(P + "ROI1:SizeX_RBV") == 1000000)


def test_unknown_port_is_kept_echoed_and_named_by_ophyd(chain_ioc, wiring):
    counter = P + "Stats1:ArrayCounter_RBV"
    before = ca.get(counter)
    assert ca.put_error(P + "Stats1:NDArrayPort", "AARDVARK") == ""  # accepted, as ADCore accepts it
    wiring("Stats1:NDArrayPort", "AARDVARK")
    assert ca.get_str(P + "Stats1:NDArrayPort_RBV") == "AARDVARK"
    ca.acquire(PREFIX)
    assert ca.get(counter) == before  # unconnected: it received nothing
    log = eventually(lambda: "AARDVARK" in chain_ioc.log_path.read_text() and chain_ioc.log_path.read_text())
    assert ("connectToArrayPort Error calling pasynManager->connectDevice to array port AARDVARK address 0, "
            "status=3, error=asynManager:connectDevice port AARDVARK not found") in log

    class Partial(SingleTrigger, DetectorBase):
        cam = Cpt(SimDetectorCam, "cam1:")
        stats1 = Cpt(StatsPlugin, "Stats1:")

    partial = Partial(P, name="partial")
    partial.wait_for_connection(timeout=10)
    with pytest.raises(RuntimeError, match="AARDVARK"):
        partial.validate_asyn_ports()


def test_a_loop_carries_no_array_and_process_plugin_goes_round_once(chain_ioc, wiring):
    for plugin in ("ROI2:", "ROI3:"):
        wiring(plugin + "EnableCallbacks", "Enable")
        wiring(plugin + "BlockingCallbacks", "Yes")
    ca.acquire(PREFIX)  # ROI2 caches an array, for ProcessPlugin
    wiring("ROI2:NDArrayPort", "ROI3")
    wiring("ROI3:NDArrayPort", "ROI2")  # ROI2 -> ROI3 -> ROI2: ADCore accepts it
    assert ca.get_str(P + "ROI3:NDArrayPort_RBV") == "ROI2"
    counts = [ca.get(P + f"{p}ArrayCounter_RBV") for p in ("ROI2:", "ROI3:")]
    ca.acquire(PREFIX)
    assert [ca.get(P + f"{p}ArrayCounter_RBV") for p in ("ROI2:", "ROI3:")] == counts  # no array enters it
    ca.put(P + "ROI2:ProcessPlugin", 1)  # the cached array goes round once, and stops where it began
    assert eventually(lambda: [ca.get(P + f"{p}ArrayCounter_RBV") for p in ("ROI2:", "ROI3:")]
                      == [counts[0] + 1, counts[1] + 1])
    assert ca.get(P + "cam1:Acquire_RBV") == 0 and "loop" in chain_ioc.log_path.read_text()

    class Looped(SingleTrigger, DetectorBase):
        cam = Cpt(SimDetectorCam, "cam1:")
        roi2 = Cpt(ROIPlugin, "ROI2:")
        roi3 = Cpt(ROIPlugin, "ROI3:")

    looped = Looped(P, name="looped")
    looped.wait_for_connection(timeout=10)
    with pytest.raises(RuntimeError, match="asyn ports"):  # ophyd refuses to stage a chain cut off from the camera
        looped.validate_asyn_ports()


@pytest.mark.parametrize("blocking", ["No", "Yes"])
def test_a_burst_overflows_a_non_blocking_queue_not_a_blocking_one(chain_ioc, wiring, blocking):
    """CB1 passes its ring on at a soft trigger, all at once: a non-blocking TIFF1 with a
    queue of 2 keeps what fits and counts the rest in DroppedArrays; a blocking one writes all."""
    directory = chain_ioc.data_root / f"burst-{blocking}"
    ca.setup_tiff(PREFIX, directory, "burst")
    wiring("TIFF1:NDArrayPort", "CB1")
    wiring("TIFF1:BlockingCallbacks", blocking)
    wiring("TIFF1:QueueSize", 2)
    wiring("CB1:EnableCallbacks", "Enable")
    wiring("CB1:PreCount", 6)
    wiring("CB1:FlushOnSoftTrg", "Immediately")
    wiring("cam1:ImageMode", "Multiple")
    wiring("cam1:NumImages", 8)
    ca.put(P + "TIFF1:DroppedArrays", 0)
    ca.put(P + "CB1:Capture", 1, wait=False)  # a busy record: its put completes when capture ends
    eventually(lambda: ca.get(P + "CB1:Capture_RBV") == 1)
    try:
        ca.acquire(PREFIX)
        assert ca.get(P + "CB1:CurrentQty_RBV") == 6 and ca.get_str(P + "CB1:StatusMessage") == "Buffer Wrapping"
        assert not list(directory.glob("burst_*.tiff"))  # nothing passes before the trigger
        ca.put(P + "CB1:Trigger", 1, wait=False)
        eventually(lambda: ca.get(P + "TIFF1:FileNumber_RBV") + ca.get(P + "TIFF1:DroppedArrays_RBV") == 6)
    finally:
        ca.put(P + "CB1:Capture", 0)
    written, dropped = len(list(directory.glob("burst_*.tiff"))), ca.get(P + "TIFF1:DroppedArrays_RBV")
    if blocking == "Yes":
        assert (written, dropped) == (6, 0)
    else:  # the queue's 2, and one more if the writer took the first before the rest came
        assert 2 <= written <= 3 and written + dropped == 6
    assert eventually(lambda: ca.get(P + "TIFF1:QueueFree") == 2)


def test_a_calc_trigger_passes_the_frames_from_before_it(chain_ioc, wiring):
    """CB1 triggered by TriggerCalc on an NDAttribute of the frames (the exposure): the two frames
    kept from before the trigger pass on, oldest first, then the triggering one."""
    directory = chain_ioc.data_root / "calc"
    ca.setup_tiff(PREFIX, directory, "cb")
    wiring("TIFF1:NDArrayPort", "CB1")
    wiring("TIFF1:BlockingCallbacks", "Yes")
    wiring("CB1:EnableCallbacks", "Enable")
    wiring("CB1:BlockingCallbacks", "Yes")
    for pv, value in (("PreCount", 2), ("PostCount", 1), ("TriggerA", "exposure_s")):
        wiring("CB1:" + pv, value)
    ca.put(P + "CB1:TriggerCalc", "A>0.015")
    ca.put(P + "cam1:AcquireTime", 0.01)
    ca.put(P + "CB1:Capture", 1, wait=False)
    eventually(lambda: ca.get(P + "CB1:Capture_RBV") == 1)
    ids = []
    for exposure in (0.01, 0.01, 0.01, 0.02):
        ca.put(P + "cam1:AcquireTime", exposure)
        ca.acquire(PREFIX)
        ids.append(ca.get(P + "CB1:UniqueId_RBV"))
    files = sorted(directory.glob("cb_*.tiff"))
    with_ids = [tifffile.TiffFile(f).pages[0].tags[65001].value for f in files]  # NDUniqueId
    assert with_ids == ids[1:]  # the ring's two, then the trigger
    assert ca.get_str(P + "CB1:StatusMessage") == "Acquisition Completed" and ca.get(P + "CB1:Capture_RBV") == 0
    assert ca.get(P + "CB1:TriggerAVal") == pytest.approx(0.02) and ca.get(P + "CB1:ActualTriggerCount_RBV") == 1
    ca.put(P + "CB1:TriggerCalc", "0")
    ca.put(P + "cam1:AcquireTime", 0.01)


def test_process_background_with_the_beam_dumped_leaves_the_spot_and_its_noise(chain_ioc, wiring):
    directory = chain_ioc.data_root / "background"
    ca.setup_tiff(PREFIX, directory, "corr", template="%s%s_%3.3d.tiff")
    wiring("Proc1:EnableCallbacks", "Enable")
    wiring("Proc1:BlockingCallbacks", "Yes")
    ca.put(P + "Proc1:DataTypeOut", "Float64")
    ca.put(P + "Proc1:EnableBackground", 0)
    wiring("TIFF1:NDArrayPort", "PROC1")
    exposure = 0.02  # simulated s: a 2000-count peak at 500 mA, on a 1000-count background
    ca.put(P + "cam1:AcquireTime", exposure)
    ca.put(PREFIX + "sim:BeamDump", 1)
    try:
        eventually(lambda: ca.get(PREFIX + "ring:current") == 0)
        ca.acquire(PREFIX)
        dumped = tifffile.imread(ca.full_file_name(PREFIX))  # Proc1's output: the frame as Float64
        ca.put(P + "Proc1:SaveBackground", 1)
        assert ca.get_str(P + "Proc1:ValidBackground_RBV") == "Valid"
    finally:
        ca.put(PREFIX + "sim:BeamDump", 0)  # refill now
    eventually(lambda: ca.get(PREFIX + "ring:current") > 499.9, timeout=10)
    ca.put(P + "Proc1:EnableBackground", 1)
    for pv, value in (("CreateDirectory", -3), ("FilePath", str(chain_ioc.data_root / "background-raw")),
                      ("FileName", "raw")):
        ca.put(P + "HDF1:" + pv, value)
    for pv, value in (("NDArrayPort", "DOT1"), ("FileWriteMode", "Single"), ("AutoSave", 1),
                      ("EnableCallbacks", 1)):
        wiring("HDF1:" + pv, value)  # HDF1 writes the raw frame
    ca.acquire(PREFIX)
    corrected = tifffile.imread(ca.full_file_name(PREFIX))
    with h5py.File(ca.get_str(P + "HDF1:FullFileName_RBV"), "r") as f:
        (raw,) = f["entry/data/data"][()]
        current = float(np.ravel(f["entry/instrument/NDAttributes/current_mA"][()])[0])
    ca.put(P + "Proc1:EnableBackground", 0)
    # The background Proc1 kept is the dumped frame itself: the difference is exact.
    np.testing.assert_array_equal(corrected, raw.astype(np.float64) - dumped)
    # That frame is the sensor's Poisson(1000) background, nothing of the spot.
    n = dumped.size
    assert abs(dumped.mean() - physics.BACKGROUND) < 5 * np.sqrt(physics.BACKGROUND / n)
    assert dumped.var() == pytest.approx(physics.BACKGROUND, rel=0.03)
    # Subtracted, the spot is left with its Poisson noise (and the two backgrounds'):
    expected = physics.expected_counts(0.0, 0.0, exposure, current)
    far, core = expected < 1e-3, expected > 500
    residual = corrected - expected
    assert abs(residual[far].mean()) < 5 * np.sqrt(2 * physics.BACKGROUND / far.sum())
    assert residual[far].var() == pytest.approx(2 * physics.BACKGROUND, rel=0.03)
    z = residual[core] / np.sqrt(expected[core] + 2 * physics.BACKGROUND)
    assert abs(z.mean()) < 5 / np.sqrt(core.sum()) and z.var() == pytest.approx(1.0, rel=0.05)
    assert corrected[core].mean() == pytest.approx(expected[core].mean(), rel=0.01)


def test_transform_and_color_convert_as_seen_on_image1(chain_ioc, wiring):
    ca.setup_tiff(PREFIX, chain_ioc.data_root / "views", "raw")
    for plugin in ("Trans1:", "CC1:"):
        wiring(plugin + "EnableCallbacks", "Enable")
        wiring(plugin + "BlockingCallbacks", "Yes")
    wiring("image1:BlockingCallbacks", "Yes")
    wiring("image1:NDArrayPort", "TRANS1")
    wiring("Trans1:Type", "Rot90")
    ca.acquire(PREFIX)
    raw = tifffile.imread(ca.full_file_name(PREFIX))
    assert (ca.get(P + "Trans1:ArraySizeX_RBV"), ca.get(P + "Trans1:ArraySizeY_RBV")) == (ROWS, COLS)
    np.testing.assert_array_equal(ca.image1(PREFIX), np.rot90(raw, -1).view(np.int32))  # clockwise
    ca.put(P + "image1:NDArrayPort", "CC1")  # mono in, ColorModeOut Mono: passes unchanged
    ca.acquire(PREFIX)
    raw = tifffile.imread(ca.full_file_name(PREFIX))
    np.testing.assert_array_equal(ca.image1(PREFIX), raw.view(np.int32))
    assert ca.get_str(P + "image1:ColorMode_RBV") == "Mono"


def test_ophyd_async_roi_stat_reads_the_region_totals(chain_ioc, wiring, tmp_path):
    from bluesky import RunEngine
    from bluesky.run_engine import call_in_bluesky_event_loop
    from ophyd_async.core import EnableDisable, init_devices
    from ophyd_async.epics.adcore import NDROIStatIO

    RunEngine({})  # the bluesky event loop ophyd-async runs in
    regions = {1: (100, 50, 200, 100), 2: (300, 200, 64, 48), 3: (600, 400, 100, 100)}  # 3 runs off the frame

    async def configure():
        for n, (x, y, w, h) in regions.items():
            channel = roistat.channels[n]
            for signal, value in ((channel.min_x, x), (channel.min_y, y), (channel.size_x, w), (channel.size_y, h),
                                  (channel.use, True)):
                await signal.set(value)
        await roistat.enable_callbacks.set(EnableDisable.ENABLE)

    async def totals():
        return {n: (await roistat.channels[n].total.get_value(), await roistat.channels[n].size_x.get_value())
                for n in regions}

    with init_devices():
        roistat = NDROIStatIO(P + "ROIStat1:")
    wiring("ROIStat1:BlockingCallbacks", "Yes")
    call_in_bluesky_event_loop(configure())
    ca.setup_tiff(PREFIX, chain_ioc.data_root / "roistat", "raw")
    wiring("TIFF1:NDArrayPort", "ROISTAT1")  # the frame ROIStat1 passes on, unchanged
    ca.acquire(PREFIX)
    raw = tifffile.imread(ca.full_file_name(PREFIX)).astype(np.float64)
    got = call_in_bluesky_event_loop(totals())  # blocking callbacks: posted before Acquire returned to 0
    for n, (x, y, w, h) in regions.items():
        assert got[n][0] == raw[y:y + h, x:x + w].sum()
    assert got[3][1] == COLS - 600  # clamped to the frame, as ADCore clamps it
    ca.put(P + "ROIStat1:EnableCallbacks", "Disable")
    for n in regions:
        ca.put(P + f"ROIStat1:{n}:Use", 0)


def test_stats1_time_series_follows_stats1_down_the_chain(chain_ioc, wiring):
    """Stats1:TS: takes Stats1's statistics on STATS1's address 1 wherever Stats1 sits: on ROI1,
    the region's, one point a frame, with blocking callbacks and queued."""
    ts = P + "Stats1:TS:"
    assert (ca.get_str(ts + "NDArrayPort_RBV"), ca.get(ts + "NDArrayAddress_RBV")) == ("STATS1", 1)
    ca.setup_tiff(PREFIX, chain_ioc.data_root / "series", "raw")  # TIFF1 on the camera: the raw frames
    x, y, w, h = 100, 50, 64, 32
    for pv, value in (("ROI1:MinX", x), ("ROI1:MinY", y), ("ROI1:SizeX", w), ("ROI1:SizeY", h),
                      ("ROI1:EnableCallbacks", "Enable"), ("Stats1:NDArrayPort", "ROI1"),
                      ("cam1:ImageMode", "Multiple"), ("cam1:NumImages", 3), ("Stats1:TS:TSNumPoints", 3)):
        wiring(pv, value)
    for blocking in ("Yes", "No"):
        wiring("Stats1:TS:BlockingCallbacks", blocking)
        ca.put(ts + "TSAcquire", 1, wait=False)
        eventually(lambda: ca.get(ts + "TSAcquiring") == 1)
        ca.acquire(PREFIX)  # Acquire returns to 0 once the queued arrays are processed
        assert (ca.get(ts + "TSCurrentPoint"), ca.get(ts + "TSAcquiring")) == (3, 0), blocking
        assert ca.get(ts + "QueueFree") == ca.get(ts + "QueueSize")
        raw = tifffile.imread(ca.full_file_name(PREFIX))
        totals = ca.get(P + "Stats1:TSTotal")
        assert len(totals) == 3 and totals[-1] == raw[y:y + h, x:x + w].sum() == ca.get(P + "Stats1:Total_RBV")
    ca.put(ts + "NDArrayAddress", 0)  # STATS1's images: not statistics, and echoed as ADCore echoes it
    assert ca.get(ts + "NDArrayAddress_RBV") == 0 and ca.get(ts + "ArraySize1_RBV") == h
    assert "NDArrayAddress" in ca.put_error(ts + "NDArrayAddress", -1)
    ca.put(ts + "NDArrayAddress", 1)
    assert (ca.get(ts + "NDimensions_RBV"), ca.get(ts + "ArraySize0_RBV")) == (1, 23)


def test_a_plugin_set_is_built_from_a_list(tmp_path):
    """What a configuration gives the IOC: (class, suffix, port, upstream port, enabled, address), here
    Stats2 on ROI1 and its time series on its address 1 as EXAMPLE_commonPlugins.cmd loads them, by
    class names a configuration file would hold."""
    from ioc.areadetector.plugin_set import PluginSpec, plugin_class
    from ioc.beamline import build_ioc

    specs = [PluginSpec(plugin_class(name), suffix, port, upstream, enabled, address)
             for name, suffix, port, upstream, enabled, address in (
                 ("NDPluginStats", "Stats2:", "STATS2", "ROI1", True, 0),
                 ("NDPluginTimeSeries", "Stats2:TS:", "STATS2_TS", "STATS2", True, 1),
                 ("NDROI", "ROI1:", "ROI1", "DOT1", False, 0))]
    ioc = build_ioc("PS:", data_root=tmp_path, plugins=specs)
    assert sorted(ioc.camera.plugins) == ["ROI1:", "Stats2:", "Stats2:TS:"]
    assert "PS:dot:Stats2:Total_RBV" in ioc.pvdb and "PS:dot:TIFF1:FilePath" not in ioc.pvdb
    ports = ioc.camera.ports
    assert [p.port for p in ports.wired_to("ROI1")] == ["STATS2"]
    assert ports.wired_to("STATS2") == [] and [p.port for p in ports.wired_to("STATS2", 1)] == ["STATS2_TS"]
    assert ioc.pvdb["PS:dot:Stats2:TS:NDArrayAddress"].value == 1
    assert ioc.camera.plugins["Stats2:"].time_series is ioc.camera.plugins["Stats2:TS:"]  # its TS* waveforms
    with pytest.raises(ValueError, match="NDFoo.*expected one of"):
        plugin_class("NDFoo")
    with pytest.raises(ValueError, match="'ROI1:' is given twice"):
        build_ioc("PS:", data_root=tmp_path, plugins=specs + specs[2:])
