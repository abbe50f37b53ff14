"""Lazy fill: reading a run's frames back with ``h.data('dot_img')`` against tifffile alone.

The baseline reads the very files of the run with ``tifffile.imread`` in a loop, so the two
differ only by databroker (documents, Filler, handler). Memory is the peak growth of
tracemalloc's traced memory while iterating, in frames (a frame = one image's bytes).
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc

import tifffile

from beamline.handlers import AreaDetectorTiffHandler


def run_files(db, uid: str, field: str = "dot_img") -> list[str]:
    """The TIFF files behind ``field`` of run ``uid``, in event order."""
    resources: dict[str, dict] = {}
    datums: dict[str, dict] = {}
    order: list[str] = []
    for name, doc in db[uid].documents(fill=False):
        if name == "resource":
            resources[doc["uid"]] = doc
        elif name == "datum":
            datums[doc["datum_id"]] = doc
        elif name == "event" and field in doc["data"]:
            order.append(doc["data"][field])
    files = []
    for datum_id in order:
        datum = datums[datum_id]
        res = resources[datum["resource"]]
        handler = AreaDetectorTiffHandler(os.path.join(res.get("root", "/"), res["resource_path"]),
                                          **res["resource_kwargs"])
        files += handler.get_file_list([datum["datum_kwargs"]])
    return files


def fill_fps(db, uid: str, field: str = "dot_img") -> float:
    """Frames per second of ``for img in db[uid].data(field)`` (a fresh header each time)."""
    header = db[uid]
    n = 0
    t0 = time.perf_counter()
    for _img in header.data(field):
        n += 1
    return n / (time.perf_counter() - t0)


def tifffile_fps(files: list[str]) -> float:
    """Frames per second of ``tifffile.imread`` over ``files``."""
    t0 = time.perf_counter()
    for path in files:
        _img = tifffile.imread(path)
    return len(files) / (time.perf_counter() - t0)


def _peak_growth(iterate) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        iterate()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start


def fill_peak_frames(db, uid: str, frame_bytes: int, limit: int | None = None, field: str = "dot_img") -> float:
    """Peak memory growth, in frames, of iterating ``db[uid].data(field)`` (first ``limit`` frames)."""

    def iterate() -> None:
        for i, img in enumerate(db[uid].data(field)):
            if limit is not None and i + 1 >= limit:
                break
            img.ndim  # noqa: B018 (the loop holds the frame, as a user's loop does)

    return _peak_growth(iterate) / frame_bytes


def tifffile_peak_frames(files: list[str], frame_bytes: int) -> float:
    """Peak memory growth, in frames, of reading ``files`` with tifffile, each frame dropped at once (1 frame)."""

    def iterate() -> None:
        for path in files:
            tifffile.imread(path).ndim  # noqa: B018

    return _peak_growth(iterate) / frame_bytes


def remove_files(files: list[str]) -> None:
    """Delete a run's files (the benchmark's own runs, to bound its disk use)."""
    for path in files:
        try:
            os.unlink(path)
        except OSError:
            pass
