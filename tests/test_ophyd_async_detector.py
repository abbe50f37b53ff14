"""ophyd-async 0.21's own SimDetector drives the IOC's camera unchanged, over CA.

``ophyd_async.epics.adsimdetector.SimDetector`` with ``ADWriterFactory.tiff`` (TIFF1:) and
an ``NDStatsIO`` plugin (Stats1:, its Total_RBV read per event): a count, a fly scan
(prepare/kickoff/complete/collect) and an abort, each through a bluesky RunEngine, with
the files checked on disk.
"""

from __future__ import annotations

from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import numpy as np
import pytest
import tifffile
from bluesky import RunEngine
from ophyd_async.core import StaticFilenameProvider, StaticPathProvider, TriggerInfo, init_devices
from ophyd_async.epics.adcore import ADWriterFactory, NDStatsIO, PluginSignalDataLogic
from ophyd_async.epics.adsimdetector import SimDetector

from ioc.sim.physics import SENSOR_SHAPE

from .conftest import eventually

PREFIX = "OA:"
ROWS, COLS = SENSOR_SHAPE


@pytest.fixture
def oa_ioc(spawn_ioc, tmp_path):
    return spawn_ioc(PREFIX, time_scale=100.0, seed=3)


@pytest.fixture
def run(oa_ioc, tmp_path):
    """A RunEngine, a SimDetector on the IOC's camera writing TIFFs under the data root, and
    the documents of each run."""
    RE = RunEngine(call_returns_result=True)
    docs: list[tuple[str, dict]] = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    directory = oa_ioc.data_root / "oa"
    provider = StaticPathProvider(StaticFilenameProvider("frames"), directory, create_dir_depth=-2)
    with init_devices():
        det = SimDetector(f"{PREFIX}dot:", ADWriterFactory.tiff(provider),
                          plugins={"stats": NDStatsIO(f"{PREFIX}dot:Stats1:")})
    det.add_detector_logics(PluginSignalDataLogic(driver=det.driver, signal=det.stats.total))
    RE(bps.mv(det.driver.acquire_time, 0.01, det.stats.enable_callbacks, True))
    return RE, det, docs, directory


def _files(directory: Path) -> list[Path]:
    return sorted(directory.glob("frames_*.tiff"))


def test_count_writes_one_tiff_per_event_with_the_stats_total(run):
    RE, det, docs, directory = run
    RE(bp.count([det], num=3))
    names = [name for name, _ in docs]
    assert names.count("event") == 3 and "stream_resource" in names
    (resource,) = [doc for name, doc in docs if name == "stream_resource"]
    assert resource["mimetype"] == "multipart/related;type=image/tiff"
    data_key = resource["data_key"]
    descriptor = next(doc for name, doc in docs if name == "descriptor")
    assert descriptor["data_keys"][data_key]["shape"][-2:] == [ROWS, COLS]
    indices = [doc["indices"] for name, doc in docs if name == "stream_datum"]
    assert indices[0]["start"] == 0 and indices[-1]["stop"] == 3
    files = _files(directory)
    assert len(files) == 3
    frames = [tifffile.imread(f) for f in files]
    totals = [doc["data"][det.stats.total.name] for name, doc in docs if name == "event"]
    # Stats1:Total_RBV is each frame's sum, as NDPluginStats computes it.
    assert [float(f.sum()) for f in frames] == pytest.approx(totals, rel=1e-9)
    assert all(f.shape == (ROWS, COLS) and f.dtype == np.uint32 for f in frames)


def test_fly_scan_collects_every_frame(run):
    RE, det, docs, directory = run

    def fly(n: int):
        yield from bps.open_run()
        yield from bps.prepare(det, TriggerInfo(number_of_events=n, livetime=0.01), wait=True)
        yield from bps.declare_stream(det, name="primary")
        yield from bps.kickoff(det, wait=True)
        yield from bps.collect_while_completing([det], [det], flush_period=0.1)
        yield from bps.close_run()

    RE(fly(5))
    stop = max(doc["indices"]["stop"] for name, doc in docs if name == "stream_datum")
    assert stop == 5
    assert len(_files(directory)) == 5
    assert RE(bps.rd(det.driver.detector_state)).plan_result == "Idle"


def test_abort_stops_the_camera_and_leaves_it_usable(run, oa_ioc):
    RE, det, docs, directory = run

    def long_fly():
        yield from bps.stage(det)  # the RunEngine unstages it when the plan fails: that stops it
        yield from bps.open_run()
        yield from bps.prepare(det, TriggerInfo(number_of_events=1000, livetime=0.5), wait=True)
        yield from bps.declare_stream(det, name="primary")
        yield from bps.kickoff(det, wait=True)
        yield from bps.sleep(0.3)
        raise RuntimeError("user abort")

    with pytest.raises(RuntimeError, match="user abort"):
        RE(long_fly())
    # The RunEngine's cleanup stopped the detector: Acquire 0, and a Multiple cut short is Aborted.
    eventually(lambda: RE(bps.rd(det.driver.acquire)).plan_result is False)
    eventually(lambda: RE(bps.rd(det.driver.detector_state)).plan_result == "Aborted")
    written = len(_files(directory))
    assert written < 1000
    eventually(lambda: RE(bps.rd(det.tiff.capture)).plan_result is False)
    # And the camera counts again afterwards (the file number starts again at 0).
    first = directory / "frames_000000.tiff"
    before = first.stat().st_mtime_ns
    docs.clear()
    RE(bp.count([det], num=1))
    assert [name for name, _ in docs].count("event") == 1
    assert first.stat().st_mtime_ns > before
