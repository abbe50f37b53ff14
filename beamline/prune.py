"""Remove old runs together with their images, and old images no run refers to.

``python -m beamline.prune --older-than 7`` removes every run that started more than 7 days
ago (its ``<run uid>.msgpack`` file in the databroker directory) and the TIFF files its
resources point at; then image files older than that which no remaining run refers to
(frames taken by hand over CA, say); then empty image directories. A run is never kept
without its images, and an image a kept run refers to is never removed. ``--all`` removes
every run and image; ``--dry-run`` only says what would go.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack

from beamline_shared.paths import default_data_root

from .handlers import AreaDetectorTiffHandler
from .storage import default_storage_dir


def run_documents(path: Path) -> Iterator[tuple[str, dict]]:
    """The (name, doc) pairs of one suitcase-msgpack run file."""
    with open(path, "rb") as f:
        yield from msgpack.Unpacker(f, raw=False, strict_map_key=False)


def run_summary(path: Path) -> tuple[float, set[Path]]:
    """(start time, image files) of one run file: the files of its ``AD_TIFF`` resources' datums."""
    start_time = path.stat().st_mtime
    resources: dict[str, dict] = {}
    files: set[Path] = set()
    for name, doc in run_documents(path):
        if name == "start":
            start_time = float(doc.get("time", start_time))
        elif name == "resource":
            resources[doc["uid"]] = doc
        elif name in ("datum", "datum_page"):
            datums = [doc] if name == "datum" else _unpage(doc)
            for datum in datums:
                resource = resources.get(datum["resource"])
                if resource is None or resource.get("spec") != "AD_TIFF":
                    continue
                directory = os.path.join(resource.get("root", ""), resource["resource_path"])
                handler = AreaDetectorTiffHandler(directory, **resource["resource_kwargs"])
                files.update(Path(f) for f in handler.get_file_list([datum["datum_kwargs"]]))
    return start_time, files


def _unpage(page: dict) -> list[dict]:
    kwargs = page["datum_kwargs"]
    return [{"resource": page["resource"], "datum_id": datum_id,
             "datum_kwargs": {key: values[i] for key, values in kwargs.items()}}
            for i, datum_id in enumerate(page["datum_id"])]


def prune(runs_dir: Path, images_dir: Path, before: float | None, dry_run: bool = False) -> dict:
    """Remove runs started before ``before`` (POSIX time) with their images, and unreferenced images older.

    ``before=None`` removes every run and image. Returns what was (or would be) removed:
    ``{"runs": n, "images": n, "bytes": n}``.
    """
    cutoff = float("inf") if before is None else before
    removed = {"runs": 0, "images": 0, "bytes": 0}
    gone: set[Path] = set()
    kept_images: set[Path] = set()
    doomed: list[tuple[Path, set[Path]]] = []
    for run in sorted(runs_dir.glob("*.msgpack")) if runs_dir.is_dir() else []:
        try:
            start_time, files = run_summary(run)
        except Exception as exc:  # a run file being written, or damaged: leave it and its images alone
            print(f"beamline.prune: keeping {run} (cannot read it: {exc})", file=sys.stderr)
            continue
        if start_time < cutoff:
            doomed.append((run, files))
        else:
            kept_images |= {f.resolve() for f in files}
    for run, files in doomed:
        for image in files:
            if image.resolve() not in kept_images:
                _remove(image, removed, "images", dry_run, gone)
        _remove(run, removed, "runs", dry_run, gone)
    if images_dir.is_dir():
        for image in sorted(images_dir.rglob("*")):
            if (image.is_file() and image.resolve() not in kept_images
                    and image.stat().st_mtime < cutoff):
                _remove(image, removed, "images", dry_run, gone)
        if not dry_run:
            for directory in sorted((d for d in images_dir.rglob("*") if d.is_dir()), reverse=True):
                try:
                    directory.rmdir()  # only if empty
                except OSError:
                    pass
    return removed


def _remove(path: Path, removed: dict, kind: str, dry_run: bool, gone: set[Path]) -> None:
    path = path.resolve()
    if path in gone:
        return
    gone.add(path)
    try:
        size = path.stat().st_size
        if not dry_run:
            path.unlink()
    except FileNotFoundError:
        return
    removed[kind] += 1
    removed["bytes"] += size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--older-than", type=float, metavar="DAYS", help="remove runs started more than DAYS ago")
    which.add_argument("--all", action="store_true", help="remove every run and image")
    parser.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="the IOC's data root, images under <data root>/images "
                             "(default $BEAMLINE_DATA_ROOT or ~/.local/share/beamline-sim)")
    parser.add_argument("--runs", type=Path, default=None,
                        help="the databroker directory (default <data root>/databroker; without --data-root, "
                             "$BEAMLINE_DATABROKER_DIR if set)")
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = default_storage_dir() if args.data_root is None else args.data_root / "databroker"
    if args.data_root is None:
        args.data_root = default_data_root()
    before = None if args.all else time.time() - args.older_than * 86400
    removed = prune(args.runs, args.data_root / "images", before, args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"beamline.prune: {verb} {removed['runs']} runs from {args.runs} and {removed['images']} images from "
          f"{args.data_root / 'images'} ({removed['bytes'] / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
