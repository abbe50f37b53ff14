"""The databroker handler for ``AD_TIFF`` resources: one areaDetector TIFF file per frame.

ophyd's ``FileStoreTIFFIterativeWrite`` records, per run, a Resource (spec ``AD_TIFF``,
``resource_path`` = the directory, ``resource_kwargs`` = ``template``, ``filename``,
``frame_per_point``) and, per point, a Datum (``{'point_number': i}``). Frame ``j`` is the
file ``template % (directory + '/', filename, j)``; point ``i`` owns frames
``i * frame_per_point`` up to, not including, ``(i + 1) * frame_per_point``.

Why not the stock ``area_detector_handlers.handlers.AreaDetectorTiffHandler``:

* it returns ``(frame_per_point, H, W)`` even for one frame per point, so the filled value
  does not have the ``[H, W]`` shape the descriptor announces for the data key;
* it reads each frame into a list and then copies them with ``np.array([...])``, so every
  point briefly costs twice its size;
* a missing file surfaces as tifffile's bare ``FileNotFoundError`` that does not say which
  point wanted it.

This one returns tifffile's array itself for one frame per point (``(H, W)``), reads
several frames straight into one preallocated ``(n, H, W)`` array, and names the point and
the file in its errors. Errors are ``OSError`` so that ``event_model.Filler`` retries them
(a file may still be on its way to disk) before giving up with ``DataNotAccessible``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import tifffile
from area_detector_handlers import HandlerBase


class AreaDetectorTiffHandler(HandlerBase):
    """Read the TIFF file(s) of one point of an ``AD_TIFF`` resource, lazily, on each call.

    ``fpath`` is the directory of the files (``root`` joined with ``resource_path``),
    ``template`` a printf template taking (directory with trailing separator, ``filename``,
    frame number), ``frame_per_point`` the number of frames (files) per Datum.
    """

    specs = {"AD_TIFF"} | HandlerBase.specs

    def __init__(self, fpath: str, template: str, filename: str, frame_per_point: int = 1):
        self._path = os.path.join(fpath, "")
        self._template = template
        self._filename = filename
        self._fpp = int(frame_per_point)

    def _fnames_for_point(self, point_number: int) -> list[str]:
        first = int(point_number) * self._fpp
        return [self._template % (self._path, self._filename, j) for j in range(first, first + self._fpp)]

    def __call__(self, point_number: int) -> np.ndarray:
        """The pixels of one point (counts): ``(H, W)`` if one frame per point, else ``(n, H, W)``."""
        fnames = self._fnames_for_point(point_number)
        if self._fpp == 1:
            with _tiff(fnames[0], point_number) as tif:
                return _pixels(tif)
        frames = None
        for j, fname in enumerate(fnames):
            with _tiff(fname, point_number) as tif:
                if frames is None:
                    page = tif.pages.first
                    frames = np.empty((self._fpp, *page.shape), dtype=page.dtype)
                # Straight into its slot of one array, not a list to be stacked (a copy).
                _pixels(tif, out=frames[j])
        return frames

    def get_file_list(self, datum_kwargs_gen: Iterable[dict]) -> list[str]:
        """The files behind these Datums' ``datum_kwargs``, in order (used by ``db.reg.copy_files``)."""
        return [fname for kwargs in datum_kwargs_gen for fname in self._fnames_for_point(**kwargs)]


def _pixels(tif: tifffile.TiffFile, out: np.ndarray | None = None) -> np.ndarray:
    """The file's image. An areaDetector file holds one page: read it directly, which is what
    ``tif.asarray()`` returns for it without working out the file's series first (a sixth of
    a small frame's read). Anything else (several pages, ImageJ or OME layouts, a tifffile
    shape that is not the page's) goes through ``tif.asarray()``."""
    if len(tif.pages) == 1:
        page = tif.pages.first
        description = page.shaped_description
        if not (page.is_imagej or page.is_ome) and (description is None or _shape(description) == page.shape):
            return page.asarray(out=out)
    return tif.asarray(out=out)


def _shape(description: str) -> tuple[int, ...] | None:
    """The shape in tifffile's JSON image description, or None."""
    try:
        shape = json.loads(description).get("shape") if description.startswith("{") else None
    except (ValueError, AttributeError):
        return None
    return tuple(shape) if isinstance(shape, list) else None


@contextmanager
def _tiff(fname: str, point_number: int) -> Iterator[tifffile.TiffFile]:
    """Open one TIFF file; any failure is an ``OSError`` naming the point and the file."""
    try:
        # An open file, not a name: tifffile resolves a name's real path first (a third of
        # a small frame's read).
        with open(fname, "rb") as fh, tifffile.TiffFile(fh) as tif:
            if not len(tif.pages):  # tifffile only warns, and would return an empty array
                raise ValueError("no image in it")
            yield tif
    except FileNotFoundError:
        raise FileNotFoundError(f"point {point_number}: {fname} does not exist") from None
    except (OSError, ValueError) as exc:
        # tifffile says ValueError (TiffFileError) for a truncated or half-written file: make it
        # an OSError so the Filler retries it as it does a file not yet on disk.
        raise OSError(f"point {point_number}: cannot read {fname}: {exc}") from exc
