"""The client's storage layer (beamline.storage, beamline.handlers), without an IOC.

The runs are event_model documents shaped like those ``bp.count([dot, I])`` makes with
ophyd's ``FileStoreTIFFIterativeWrite``, with real uint32 TIFF files behind the Datums,
stored through ``db.insert`` as ``RE.subscribe(db.insert)`` does.

The memory test prints the peak of both paths; see it with
``pytest -q -rP tests/test_storage.py -k memory``.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
import tracemalloc
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import event_model
import numpy as np
import pytest
import tifffile
from event_model import DataNotAccessible

from beamline.handlers import AreaDetectorTiffHandler
from beamline.storage import Broker, default_storage_dir, open_broker
from ioc.sim.physics import SENSOR_SHAPE

SHAPE = SENSOR_SHAPE  # the camera's frames
FRAME_BYTES = SHAPE[0] * SHAPE[1] * 4  # one uint32 frame: 1.2 MB


def pixels(i: int) -> np.ndarray:
    """Frame ``i``: distinct in every pixel and from every other frame (counts)."""
    return np.arange(SHAPE[0] * SHAPE[1], dtype=np.uint32).reshape(SHAPE) * 3 + i


def record_run(db, image_dir: Path, num: int, frame=pixels, plan_name: str = "count") -> str:
    """Write ``num`` TIFF files and insert the run's documents into ``db``; returns the run's uid."""
    image_dir.mkdir(parents=True, exist_ok=True)
    run = event_model.compose_run(metadata={"plan_name": plan_name, "detectors": ["dot", "I"], "num_points": num})
    docs = [("start", run.start_doc)]
    data_keys = {
        "dot_img": {"dtype": "array", "shape": list(SHAPE), "external": "FILESTORE:", "dtype_numpy": "<u4",
                    "source": "PV:BL:dot:"},
        "I": {"dtype": "number", "shape": [], "source": "PV:BL:ring:current", "units": "mA"},
        "motor_dotx": {"dtype": "number", "shape": [], "source": "PV:BL:dot:x", "units": "mm"},
        "motor_doty": {"dtype": "number", "shape": [], "source": "PV:BL:dot:y", "units": "mm"},
    }
    desc = run.compose_descriptor(name="primary", data_keys=data_keys,
                                  object_keys={"dot": ["dot_img", "motor_dotx", "motor_doty"], "I": ["I"]})
    docs.append(("descriptor", desc.descriptor_doc))
    filename = str(uuid.uuid4())[:23]  # ophyd's new_short_uid()
    template = "%s%s_%6.6d.tiff"
    res = run.compose_resource(spec="AD_TIFF", root="/", resource_path=str(image_dir.relative_to("/")),
                               resource_kwargs={"template": template, "filename": filename, "frame_per_point": 1},
                               path_semantics="posix")
    docs.append(("resource", res.resource_doc))
    for i in range(num):
        tifffile.imwrite(template % (f"{image_dir}/", filename, i), frame(i))
        datum = res.compose_datum(datum_kwargs={"point_number": i})
        docs.append(("datum", datum))
        now = time.time()
        data = {"dot_img": datum["datum_id"], "I": 400.0 - i, "motor_dotx": 0.5 * i, "motor_doty": -0.5 * i}
        docs.append(("event", desc.compose_event(data=data, timestamps=dict.fromkeys(data, now),
                                                 filled={"dot_img": False})))
    docs.append(("stop", run.compose_stop()))
    for name, doc in docs:
        db.insert(name, doc)
    return run.start_doc["uid"]


@pytest.fixture
def db(tmp_path) -> Broker:
    return open_broker(tmp_path / "databroker")


@pytest.fixture
def h(db, tmp_path):
    return db[record_run(db, tmp_path / "images", 5)]


def test_storing_a_run_warns_nothing(db, tmp_path):
    """db.insert (what RE.subscribe(db.insert) calls per document) stores without warnings: stock
    databroker 1.2.5's warns PendingDeprecationWarning on every document."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        uid = record_run(db, tmp_path / "images", 3)
    assert db[uid].stop["exit_status"] == "success"


def test_default_storage_dir(monkeypatch, tmp_path):
    for name in ("BEAMLINE_DATABROKER_DIR", "BEAMLINE_DATA_ROOT", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_storage_dir() == tmp_path / "home/.local/share/beamline-sim/databroker"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_storage_dir() == tmp_path / "xdg/beamline-sim/databroker"
    monkeypatch.setenv("BEAMLINE_DATA_ROOT", str(tmp_path / "root"))
    assert default_storage_dir() == tmp_path / "root/databroker"
    monkeypatch.setenv("BEAMLINE_DATABROKER_DIR", str(tmp_path / "db"))
    assert default_storage_dir() == tmp_path / "db"


def test_open_broker_creates_its_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("BEAMLINE_DATABROKER_DIR", str(tmp_path / "a" / "b"))
    db = open_broker()
    assert (tmp_path / "a" / "b").is_dir()
    assert len(list(db())) == 0


def test_table_holds_datum_ids(h):
    table = h.table()
    assert set(table.columns) == {"time", "I", "dot_img", "motor_dotx", "motor_doty"}
    assert all(isinstance(v, str) and "/" in v for v in table["dot_img"])
    assert list(table["I"]) == [400.0, 399.0, 398.0, 397.0, 396.0]


def test_table_fill_holds_arrays(h):
    column = h.table(fill=True)["dot_img"]
    assert isinstance(column[1], np.ndarray) and column[1].shape == SHAPE
    for i, im in enumerate(column):
        np.testing.assert_array_equal(im, pixels(i))


def test_data_yields_2d_frames_from_files(h, db, tmp_path):
    gen = h.data("dot_img")
    assert isinstance(gen, Iterator)  # lazy, like databroker's generator
    im = next(gen)
    assert iter(gen) is gen and len(list(gen)) == 4  # once started, it carries on from there
    assert im.shape == SHAPE and im.dtype == np.uint32
    np.testing.assert_array_equal(im, pixels(0))
    assert tuple(h.descriptors[0]["data_keys"]["dot_img"]["shape"]) == im.shape
    assert np.zeros(h.descriptors[0]["data_keys"]["dot_img"]["shape"]).shape == im.shape

    stack = np.stack(h.data("dot_img"))
    assert stack.shape == (5, *SHAPE)
    np.testing.assert_array_equal(stack, np.stack([pixels(i) for i in range(5)]))
    im1, *rest = h.data("dot_img")
    assert len(rest) == 4
    for i, (cur, im) in enumerate(zip(h.data("I"), h.data("dot_img"), strict=True)):
        assert cur == 400.0 - i
        np.testing.assert_array_equal(im, pixels(i))

    h_one = db[record_run(db, tmp_path / "one", 1, frame=lambda i: np.full(SHAPE, 7, np.uint32))]
    (im,) = h_one.data("dot_img")
    assert im.shape == SHAPE and (im == 7).all()


def test_events_fill(h):
    events = list(h.events(fill=True))
    assert [ev["seq_num"] for ev in events] == [1, 2, 3, 4, 5]
    for i, ev in enumerate(events):
        assert set(ev["data"]) == {"dot_img", "I", "motor_dotx", "motor_doty"}
        np.testing.assert_array_equal(ev["data"]["dot_img"], pixels(i))
        assert ev["data"]["motor_dotx"] == 0.5 * i and ev["data"]["I"] == 400.0 - i
    unfilled = next(h.events())
    assert isinstance(unfilled["data"]["dot_img"], str)
    assert unfilled["filled"] == {"dot_img": False}


def test_runs_found_in_this_process_right_after_the_run(db, tmp_path):
    assert len(list(db())) == 0  # the catalog has globbed the empty directory already
    first = record_run(db, tmp_path / "a", 2)
    uid = record_run(db, tmp_path / "b", 3, plan_name="scan")
    assert db[uid].start["uid"] == uid
    assert db[-1].start["uid"] == uid and db[-2].start["uid"] == first
    (found,) = db(plan_name="count")
    assert found.start["uid"] == first
    assert isinstance(found.db, Broker)  # search results read lazily too
    assert next(found.data("dot_img")).shape == SHAPE


SECOND_PROCESS = """
import json, numpy as np, sys
from beamline.storage import open_broker
db = open_broker()
uid = sys.argv[1]
h = db[uid]
print(json.dumps({
    "by_uid": h.start["uid"], "last": db[-1].start["uid"],
    "search": [x.start["uid"] for x in db(plan_name="count")],
    "shapes": [list(im.shape) for im in h.data("dot_img")],
    "sums": [int(im.sum(dtype=np.uint64)) for im in h.data("dot_img")],
}))
"""


def test_second_process_finds_the_run(db, tmp_path, monkeypatch):
    uid = record_run(db, tmp_path / "images", 3)
    monkeypatch.setenv("BEAMLINE_DATABROKER_DIR", str(tmp_path / "databroker"))
    out = subprocess.run([sys.executable, "-c", SECOND_PROCESS, uid], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["by_uid"] == result["last"] == uid
    assert result["search"] == [uid]
    assert result["shapes"] == [list(SHAPE)] * 3
    assert result["sums"] == [int(pixels(i).sum(dtype=np.uint64)) for i in range(3)]


def test_missing_tiff_names_the_file_and_point(h, tmp_path):
    missing = sorted((tmp_path / "images").glob("*_000003.tiff"))[0]
    missing.unlink()
    with pytest.raises(DataNotAccessible, match=f"event 4 .*point 3: {missing} does not exist") as info:
        list(h.data("dot_img"))
    chain, err = [], info.value
    while err is not None:
        chain.append(f"{type(err).__name__}: {err}")
        err = err.__cause__
    assert any(f"point 3: {missing} does not exist" in line for line in chain), chain
    assert any("FileNotFoundError" in line for line in chain), chain


def test_handler(tmp_path):
    for j in range(4):
        tifffile.imwrite(tmp_path / f"x_{j:06d}.tiff", pixels(j))
    one = AreaDetectorTiffHandler(str(tmp_path), "%s%s_%6.6d.tiff", "x")
    assert one(2).shape == SHAPE
    np.testing.assert_array_equal(one(2), pixels(2))
    two = AreaDetectorTiffHandler(str(tmp_path), "%s%s_%6.6d.tiff", "x", frame_per_point=2)
    np.testing.assert_array_equal(two(1), np.stack([pixels(2), pixels(3)]))
    assert two.get_file_list({"point_number": n} for n in (0, 1)) == [str(tmp_path / f"x_{j:06d}.tiff")
                                                                      for j in range(4)]
    with pytest.raises(FileNotFoundError, match="point 4: .*x_000004.tiff does not exist"):
        one(4)
    (tmp_path / "x_000005.tiff").write_bytes(b"II*\x00 not really a tiff")
    with pytest.raises(OSError, match="point 5: cannot read .*x_000005.tiff: no image"):
        one(5)
    whole = (tmp_path / "x_000000.tiff").read_bytes()
    (tmp_path / "x_000006.tiff").write_bytes(whole[: len(whole) // 2])  # as if still being written
    with pytest.raises(OSError, match="point 6: cannot read .*x_000006.tiff: failed to read"):
        one(6)


def _peak_frames(iterable) -> float:
    """Peak traced memory while iterating, above the start, in frames."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in iterable:
            pass
        return (tracemalloc.get_traced_memory()[1] - base) / FRAME_BYTES
    finally:
        tracemalloc.stop()


def test_memory_one_frame_at_a_time(db, tmp_path):
    import databroker.v1
    from area_detector_handlers.handlers import AreaDetectorTiffHandler as StockHandler
    from databroker._drivers.msgpack import BlueskyMsgpackCatalog

    uid = record_run(db, tmp_path / "images", 150, frame=lambda i: np.full(SHAPE, i, np.uint32))
    ours = _peak_frames(db[uid].data("dot_img"))
    ours_events = _peak_frames(db[uid].events(fill=True))
    stock_db = databroker.v1.Broker(BlueskyMsgpackCatalog(f"{tmp_path}/databroker/*.msgpack",
                                                          handler_registry={"AD_TIFF": StockHandler}))
    stock = _peak_frames(stock_db[uid].data("dot_img"))
    print(f"\npeak while iterating 150 frames of {SHAPE[0]}x{SHAPE[1]} uint32 ({FRAME_BYTES / 1e6:.1f} MB each): "
          f"h.data: ours {ours:.2f} frames, stock {stock:.2f} frames; h.events(fill=True): ours {ours_events:.2f}")
    assert ours < 3
    assert ours_events < 3


def test_data_stacks_with_numpy_as_the_tutorial_does(tmp_path):
    """``np.stack(h.data('dot_img'))``: numpy 2 refuses generators, so data() must be indexable too."""
    db = open_broker(tmp_path / "db")
    uid = record_run(db, tmp_path / "images", num=5)
    h = db[uid]
    stack = np.stack(h.data("dot_img"))
    assert stack.shape == (5, *SHAPE)
    assert np.array_equal(stack[3], pixels(3))
    column = h.data("dot_img")
    assert np.array_equal(column[2], pixels(2)) and np.array_equal(column[-1], pixels(4))
    with pytest.raises(IndexError):
        column[5]
    first = next(column)  # still an iterator, lazy
    assert np.array_equal(first, pixels(0))
    im1, *rest = h.data("dot_img")
    assert len(rest) == 4
    found = list(db(plan_name="count"))
    assert np.stack(found[0].data("dot_img")).shape == (5, *SHAPE)
    assert np.stack(db[-1].data("dot_img")).shape == (5, *SHAPE)


def test_np_stack_reads_each_file_once(tmp_path, monkeypatch):
    """np.stack iterates twice; the second pass reuses the frames the first still holds."""
    db = open_broker(tmp_path / "db")
    uid = record_run(db, tmp_path / "images", num=6)
    reads = []
    real = tifffile.TiffFile
    monkeypatch.setattr(tifffile, "TiffFile", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    stack = np.stack(db[uid].data("dot_img"))
    assert stack.shape == (6, *SHAPE) and len(reads) == 6
