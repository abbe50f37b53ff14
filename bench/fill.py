"""Lazy fill: reading a run's frames back with ``h.data('dot_img')`` against tifffile alone.

The baseline reads the very files of the run with ``tifffile.imread`` in a loop, so the two
differ only by databroker (documents, Filler, handler). Memory is measured with the same
loop on both sides (``for img in frames: img.ndim``: the loop holds the frame it has while
the next is read, as a user's loop does), two ways, in frames (a frame = one image's
bytes): the peak growth of tracemalloc's traced memory, and the growth of the process's
resident set size (psutil, sampled after every frame) over the loop.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import psutil
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


def _loop(frames, limit: int | None) -> None:
    """The loop both sides are measured with."""
    for i, img in enumerate(frames):
        img.ndim  # noqa: B018 (the loop holds the frame, as a user's loop does)
        if limit is not None and i + 1 >= limit:
            break


def _rss_growth(frames, limit: int | None) -> int:
    """Peak growth of the resident set size (bytes) over the loop, sampled after each frame."""
    process = psutil.Process()
    gc.collect()
    start = peak = process.memory_info().rss
    for i, img in enumerate(frames):
        img.ndim  # noqa: B018
        peak = max(peak, process.memory_info().rss)
        if limit is not None and i + 1 >= limit:
            break
    return peak - start


def _tifffile_frames(files: list[str]):
    return (tifffile.imread(path) for path in files)


def fill_peak_frames(db, uid: str, frame_bytes: int, limit: int | None = None, field: str = "dot_img") -> float:
    """tracemalloc's peak growth, in frames, of iterating ``db[uid].data(field)`` (first ``limit`` frames)."""
    return _peak_growth(lambda: _loop(db[uid].data(field), limit)) / frame_bytes


def tifffile_peak_frames(files: list[str], frame_bytes: int) -> float:
    """tracemalloc's peak growth, in frames, of the same loop over ``tifffile.imread`` of ``files``."""
    return _peak_growth(lambda: _loop(_tifffile_frames(files), None)) / frame_bytes


def fill_rss_frames(db, uid: str, frame_bytes: int, limit: int | None = None, field: str = "dot_img") -> float:
    """RSS growth, in frames, of iterating ``db[uid].data(field)`` (first ``limit`` frames)."""
    return _rss_growth(db[uid].data(field), limit) / frame_bytes


def tifffile_rss_frames(files: list[str], frame_bytes: int) -> float:
    """RSS growth, in frames, of the same loop over ``tifffile.imread`` of ``files``."""
    return _rss_growth(_tifffile_frames(files), None) / frame_bytes


def fresh_rss_frames(kind: str, frame_bytes: int, limit: int, workdir: Path, db=None, uid: str = "",
                     files: list[str] = ()) -> float:
    """RSS growth, in frames, of the loop over ``db[uid]`` (``kind`` 'ours') or ``tifffile.imread`` of
    ``files`` ('tifffile'), first ``limit`` frames, in a fresh process (:mod:`bench.rss`)."""
    if kind == "ours":
        args = [str(db.directory), uid]
    else:
        listing = workdir / "rss-files.txt"
        listing.write_text("\n".join(files))
        args = [str(listing)]
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
    out = subprocess.run([sys.executable, "-m", "bench.rss", kind, *args, str(frame_bytes), str(limit)],
                         capture_output=True, text=True, timeout=600, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def remove_files(files: list[str]) -> None:
    """Delete a run's files (the benchmark's own runs, to bound its disk use)."""
    for path in files:
        try:
            os.unlink(path)
        except OSError:
            pass
