"""The ``dot`` camera's areaDetector semantics, checked over CA with pyepics and caproto."""

from __future__ import annotations

import inspect
import os
import threading
import time

import epics
import numpy as np
import pytest
import tifffile
from ophyd import Device
from ophyd.areadetector import ImagePlugin, SimDetectorCam, StatsPlugin, TIFFPlugin
from ophyd.device import DynamicDeviceComponent, FormattedComponent

from ioc.sim.physics import SENSOR_SHAPE

from . import ca
from .conftest import eventually, time_scale

P = "BL:dot:"
ROWS, COLS = SENSOR_SHAPE


def ophyd_pvs(cls: type[Device], prefix: str) -> set[str]:
    """Every PV a stock ophyd device class references (setpoints and readbacks)."""
    pvs: set[str] = set()

    def add(sig_cls, pv, kwargs):
        name = sig_cls.__name__
        if name in ("EpicsSignalWithRBV", "EpicsPathSignal"):
            pvs.update({pv, pv + "_RBV"})
        elif name in ("EpicsSignal", "EpicsSignalRO"):
            pvs.add(pv)
            if kwargs.get("write_pv"):
                pvs.add(kwargs["write_pv"])

    for _attr, cpt in cls._sig_attrs.items():
        if isinstance(cpt, DynamicDeviceComponent):
            for sig_cls, suffix, kwargs in cpt.defn.values():
                add(sig_cls, prefix + suffix, kwargs)
        elif isinstance(cpt, FormattedComponent):
            continue
        elif inspect.isclass(cpt.cls) and issubclass(cpt.cls, Device):
            pvs |= ophyd_pvs(cpt.cls, prefix + cpt.suffix)
        else:
            add(cpt.cls, prefix + (cpt.suffix or ""), cpt.kwargs)
    return pvs


@pytest.fixture
def tiff(ioc, data_root, request):
    """TIFF1 saving each frame into a directory of this test's own; the IOC back to defaults after."""
    path = str(data_root / "camera" / request.node.name)
    ca.setup_tiff("BL:", path, "frame")
    ca.put(P + "cam1:AcquireTime", 0.01)
    ca.put(P + "cam1:NumImages", 1)
    yield path
    ca.put(P + "cam1:ImageMode", "Single")
    ca.put(P + "cam1:DataType", "UInt32")
    for axis, size in (("X", COLS), ("Y", ROWS)):
        ca.put(f"{P}cam1:Bin{axis}", 1)
        ca.put(f"{P}cam1:Min{axis}", 0)
        ca.put(f"{P}cam1:Size{axis}", size)


def test_every_pv_stock_ophyd_references_is_served(ioc):
    pvs = set()
    for cls, suffix in ((SimDetectorCam, "cam1:"), (TIFFPlugin, "TIFF1:"), (ImagePlugin, "image1:"),
                        (StatsPlugin, "Stats1:")):
        pvs |= ophyd_pvs(cls, P + suffix)
    assert len(pvs) > 300
    chans = [epics.get_pv(pv, connect=False) for pv in sorted(pvs)]
    for chan in chans:
        chan.connect(timeout=0.001)
    missing = [chan.pvname for chan in chans if not chan.wait_for_connection(timeout=5)]
    assert missing == []


def test_identity_and_geometry(ioc):
    assert ca.get_str(P + "cam1:Manufacturer_RBV") == "beamline-sim"
    assert ca.get(P + "cam1:ArraySizeX_RBV") == COLS and ca.get(P + "cam1:ArraySizeY_RBV") == ROWS
    assert ca.get(P + "cam1:MaxSizeX_RBV") == COLS and ca.get(P + "cam1:MaxSizeY_RBV") == ROWS
    assert ca.get_str(P + "cam1:DataType_RBV") == "UInt32"
    assert ca.get_str(P + "cam1:PortName_RBV") == "DOT1"
    assert ca.get_str(P + "TIFF1:PluginType_RBV") == "NDFileTIFF"
    assert ca.get_str(P + "image1:PluginType_RBV") == "NDPluginStdArrays"
    assert ca.get_str(P + "Stats1:PluginType_RBV") == "NDPluginStats"
    for plugin in ("TIFF1:", "image1:", "Stats1:"):
        assert ca.get_str(P + plugin + "NDArrayPort_RBV") == "DOT1"


def test_settings_echo_to_their_readbacks(ioc):
    ca.put(P + "cam1:AcquireTime", 0.123)
    ca.put(P + "cam1:AcquirePeriod", 0.5)
    ca.put(P + "TIFF1:FileName", "echo_me")
    try:
        assert ca.get(P + "cam1:AcquireTime_RBV") == pytest.approx(0.123)
        assert ca.get(P + "cam1:AcquirePeriod_RBV") == pytest.approx(0.5)
        assert ca.get_str(P + "TIFF1:FileName_RBV") == "echo_me"
    finally:
        ca.put(P + "cam1:AcquirePeriod", 0.0)


def test_acquire_writes_the_file_before_acquire_drops(tiff):
    number = ca.get(P + "TIFF1:FileNumber_RBV")
    counter = ca.get(P + "cam1:ArrayCounter_RBV")
    expected = "%s%s_%6.6d.tiff" % (tiff + "/", "frame", number)
    seen = {}
    done = threading.Event()

    def on_acquire(value=None, **kwargs):
        seen["subscribed"] = True
        if value == 0 and "armed" in seen:
            seen["file_there"] = os.path.exists(expected)
            done.set()
        elif value == 1:
            seen["armed"] = True

    pv = epics.PV(P + "cam1:Acquire_RBV", callback=on_acquire, auto_monitor=True)
    pv.wait_for_connection(5)
    eventually(lambda: "subscribed" in seen)  # the monitor's first update: it sees every change after
    ca.put(P + "cam1:Acquire", 1, wait=False)
    assert done.wait(10)
    pv.clear_callbacks()
    assert seen["file_there"], "Acquire_RBV dropped before the TIFF file was on disk"
    assert ca.full_file_name() == expected
    assert ca.get(P + "TIFF1:FileNumber_RBV") == number + 1
    assert ca.get(P + "cam1:ArrayCounter_RBV") == counter + 1
    assert ca.get(P + "cam1:NumImagesCounter_RBV") == 1
    assert ca.get_str(P + "cam1:DetectorState_RBV") == "Idle"
    assert ca.get_str(P + "TIFF1:WriteStatus") == "Write OK"
    img = tifffile.imread(expected)
    assert img.shape == (ROWS, COLS) and img.dtype == np.uint32


def test_live_image_and_stats_match_the_file(tiff):
    ca.acquire()
    img = tifffile.imread(ca.full_file_name())
    # image1 posts at most every MinCallbackTime; the latest frame always arrives.
    eventually(lambda: np.array_equal(ca.image1(), img.astype(np.int64)))
    assert ca.get(P + "Stats1:Total_RBV") == pytest.approx(float(img.sum()))
    assert ca.get(P + "Stats1:MaxValue_RBV") == img.max()
    assert ca.get(P + "Stats1:MinValue_RBV") == img.min()
    assert ca.get(P + "Stats1:MeanValue_RBV") == pytest.approx(img.mean())
    assert ca.get(P + "Stats1:Sigma_RBV") == pytest.approx(img.std())


def test_put_with_completion_waits_for_the_exposure(tiff):
    with time_scale(1):
        ca.put(P + "cam1:AcquireTime", 0.5)
        t0 = time.monotonic()
        ca.acquire()
        elapsed = time.monotonic() - t0
    assert 0.5 <= elapsed < 1.5
    assert os.path.exists(ca.full_file_name())


def test_multiple_images_write_one_file_each(tiff):
    ca.put(P + "cam1:ImageMode", "Multiple")
    ca.put(P + "cam1:NumImages", 4)
    start = ca.get(P + "TIFF1:FileNumber_RBV")
    ca.acquire()
    assert ca.get(P + "cam1:NumImagesCounter_RBV") == 4
    assert ca.get(P + "TIFF1:FileNumber_RBV") == start + 4
    names = sorted(os.listdir(tiff))
    assert names == [f"frame_{n:06d}.tiff" for n in range(start, start + 4)]


def test_continuous_runs_until_stopped(tiff):
    ca.put(P + "cam1:ImageMode", "Continuous")
    ca.put(P + "cam1:Acquire", 1, wait=False)
    eventually(lambda: ca.get(P + "cam1:NumImagesCounter_RBV") >= 3)
    assert ca.get(P + "cam1:Acquire_RBV") == 1
    ca.put(P + "cam1:Acquire", 0)
    eventually(lambda: ca.get(P + "cam1:Acquire_RBV") == 0)
    # As simDetector: stopping Continuous acquisition is its normal end, not an abort.
    assert ca.get_str(P + "cam1:DetectorState_RBV") == "Idle"
    # Every file written is whole (no temporary names left behind).
    for name in os.listdir(tiff):
        assert name.endswith(".tiff") and not name.startswith(".")
        assert tifffile.imread(os.path.join(tiff, name)).shape == (ROWS, COLS)


def test_stop_during_a_long_exposure_aborts_without_a_file(tiff):
    with time_scale(1):
        ca.put(P + "cam1:AcquireTime", 3.0)
        before = set(os.listdir(tiff))
        ca.put(P + "cam1:Acquire", 1, wait=False)
        eventually(lambda: ca.get_str(P + "cam1:DetectorState_RBV") == "Acquire")
        ca.put(P + "cam1:Acquire", 0)
        eventually(lambda: ca.get(P + "cam1:Acquire_RBV") == 0)
    # A Single acquisition cut short is Aborted.
    assert ca.get_str(P + "cam1:DetectorState_RBV") == "Aborted"
    assert set(os.listdir(tiff)) == before


def test_capture_mode_buffers_then_writes(tiff):
    ca.put(P + "TIFF1:FileWriteMode", "Capture")
    ca.put(P + "TIFF1:NumCapture", 3)
    ca.put(P + "TIFF1:Capture", 1, wait=False)
    try:
        ca.acquire()
        ca.acquire()
        assert os.listdir(tiff) == []  # buffered, not yet written
        assert ca.get(P + "TIFF1:NumCaptured_RBV") == 2
        ca.acquire()
        assert len(os.listdir(tiff)) == 3
        assert ca.get(P + "TIFF1:Capture_RBV") == 0
    finally:
        ca.put(P + "TIFF1:FileWriteMode", "Single")


def test_stream_mode_writes_as_frames_arrive(tiff):
    ca.put(P + "TIFF1:FileWriteMode", "Stream")
    ca.put(P + "TIFF1:NumCapture", 2)
    ca.put(P + "TIFF1:Capture", 1, wait=False)
    try:
        ca.acquire()
        assert len(os.listdir(tiff)) == 1
        ca.acquire()
        ca.acquire()  # capture already complete: not saved
        assert len(os.listdir(tiff)) == 2
    finally:
        ca.put(P + "TIFF1:FileWriteMode", "Single")


def test_write_file_saves_the_last_frame_on_demand(ioc, data_root):
    path = str(data_root / "camera" / "manual")
    ca.setup_tiff("BL:", path, "manual", auto_save=0)
    ca.acquire()
    assert os.listdir(path) == []
    ca.put(P + "TIFF1:WriteFile", 1)
    assert os.listdir(path) == ["manual_000000.tiff"]


def test_region_binning_and_data_type(tiff):
    ca.put(P + "cam1:SizeX", 320)
    ca.put(P + "cam1:BinX", 2)
    ca.put(P + "cam1:BinY", 2)
    ca.put(P + "cam1:DataType", "UInt16")
    assert ca.get(P + "cam1:ArraySizeX_RBV") == 160 and ca.get(P + "cam1:ArraySizeY_RBV") == 240
    ca.acquire()
    img = tifffile.imread(ca.full_file_name())
    assert img.shape == (240, 160) and img.dtype == np.uint16
    assert np.median(img) == pytest.approx(4000, rel=0.05)  # 2 x 2 bins of ~1000 counts


def test_num_exposures_add_up_and_a_narrow_data_type_saturates(tiff):
    ca.put(P + "cam1:NumExposures", 4)
    try:
        ca.put(P + "cam1:DataType", "UInt16")
        ca.acquire()
        corner = tifffile.imread(ca.full_file_name())[:60, :120].astype(np.float64)  # background only
        assert corner.mean() == pytest.approx(4000, rel=0.01)  # 4 exposures of Poisson(1000)
        assert corner.var() == pytest.approx(4000, rel=0.1)
        ca.put(P + "cam1:DataType", "UInt8")
        ca.acquire()
        img = tifffile.imread(ca.full_file_name())
        assert img.dtype == np.uint8 and img.min() == 255  # 4000 counts saturate, never wrap
    finally:
        ca.put(P + "cam1:NumExposures", 1)


def test_a_larger_sensor_is_served_whole(spawn_ioc):
    """--sensor-shape sizes the frames, the files and image1:ArrayData alike."""
    big = spawn_ioc("BIG:", time_scale=100, extra_args=["--sensor-shape", "960x1280"])
    assert ca.get("BIG:dot:cam1:MaxSizeX_RBV") == 1280 and ca.get("BIG:dot:cam1:MaxSizeY_RBV") == 960
    ca.setup_tiff("BIG:", str(big.data_root / "big"), "big")
    ca.put("BIG:dot:cam1:AcquireTime", 0.01)
    ca.acquire("BIG:")
    img = tifffile.imread(ca.full_file_name("BIG:"))
    assert img.shape == (960, 1280)

    def live_frame():
        frame = ca.image1("BIG:")
        return (frame,) if np.array_equal(frame, img.astype(np.int64)) else None

    (live,) = eventually(live_frame)  # image1 posts the latest frame within MinCallbackTime
    # The spot is at the centre of this sensor too.
    row, col = np.unravel_index(np.argmax(live), live.shape)
    assert abs(row - 960 / 2) < 40 and abs(col - 1280 / 2) < 80
