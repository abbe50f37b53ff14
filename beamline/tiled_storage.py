"""Runs stored in tiled too: bluesky's TiledWriter, fed documents it reads correctly.

:func:`tiled_writer` returns a RunEngine callback: bluesky's ``TiledWriter`` (from
``bluesky.callbacks.tiled_writer``) behind :class:`LegacyTiffResources`, a small
callback that rewrites the one kind of document TiledWriter gets wrong here, legacy
ophyd's ``AD_TIFF`` Resource. ophyd-async's StreamResource/StreamDatum documents pass
unchanged. The frames are not copied: tiled registers the files the IOC wrote (the tiled
server must have the data root as readable storage, as ``beamline-tiled`` does) and
``client[uid]["primary"]["dot_img"]`` reads them lazily, one slice at a time.

What TiledWriter (bluesky 1.15.1, ``RunNormalizer._convert_resource_to_stream_resource``
and ``consolidators.TIFFConsolidator``) does with a legacy ``AD_TIFF`` Resource, and why
it needs help:

* it makes the StreamResource ``uri`` from ``root`` and ``resource_path`` with their
  slashes stripped, and a file's URI as ``uri + template`` (``template`` with its path
  ``%s`` dropped and ``filename`` put in): ``.../images/2026/11/30`` + ``<id>_000000.tiff``
  gives ``.../images/2026/1130<id>_000000.tiff``, a file that does not exist;
* it joins the datums with ``join_method="concat"``, reading the descriptor's shape
  ``[480, 640]`` (one frame per event) as 480 rows per event: the array comes out
  ``(480 N, 640)`` instead of ``(N, 480, 640)``.

So the Resource it receives carries the StreamResource fields already made the way
ADCore means them (``FilePath`` is a directory; the file is ``FilePath + name``): the
``mimetype``, a ``uri`` to the directory with its trailing ``/``, and ``parameters``
(the resource kwargs plus ``join_method="stack"`` when each event holds one frame,
``"concat"`` with one file per frame when it holds several). TiledWriter takes a
Resource that already has a ``mimetype`` as converted and keeps those fields. The
document the RunEngine emits, and databroker stores, is not touched.
"""

from __future__ import annotations

import logging
import os
import posixpath
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger(__name__)

TIFF_MIMETYPE = "multipart/related;type=image/tiff"


def tiff_resource_for_tiled(doc: dict) -> dict:
    """A copy of a legacy ``AD_TIFF`` Resource with the StreamResource fields TiledWriter keeps."""
    directory = posixpath.join("/", doc["root"], doc["resource_path"])
    directory = posixpath.normpath(directory).rstrip("/") + "/"
    kwargs = dict(doc.get("resource_kwargs", {}))
    frames = int(kwargs.get("frame_per_point", 1))
    parameters = {**kwargs, "chunk_shape": [1]}
    # One frame per event: a new leading axis (N, rows, cols). Several: concatenated along
    # the descriptor's leading axis (N x frames, rows, cols), one file per frame.
    parameters["join_method"] = "stack" if frames == 1 else "concat"
    return {**doc, "mimetype": TIFF_MIMETYPE, "uri": "file://localhost" + quote(directory), "parameters": parameters}


class LegacyTiffResources:
    """A callback that passes every document on to ``downstream``, ``AD_TIFF`` Resources
    rewritten by :func:`tiff_resource_for_tiled` (see the module docstring)."""

    def __init__(self, downstream: Callable[[str, dict], object]) -> None:
        self.downstream = downstream

    def __call__(self, name: str, doc: dict):
        if name == "resource" and doc.get("spec") == "AD_TIFF" and "mimetype" not in doc:
            doc = tiff_resource_for_tiled(doc)
        return self.downstream(name, doc)


def tiled_client(uri: str, api_key: str | None = None):
    """A tiled client of the server at ``uri`` (``http://host:port/api/v1``)."""
    from tiled.client import from_uri

    return from_uri(uri, api_key=api_key)


def tiled_writer(client, backup_directory: Path | str | None = None,
                 batch_size: int | None = None) -> LegacyTiffResources:
    """A RunEngine callback that stores every run in tiled through ``client``.

    If tiled fails while a run is written (the server went away), TiledWriter logs a
    warning and writes that run's documents as JSON lines into ``backup_directory``
    instead, so the run fails neither in the RunEngine nor in storage.

    ``batch_size`` (default ``$BEAMLINE_TILED_BATCH_SIZE``, else TiledWriter's 10,000) is how
    many events TiledWriter collects before it writes them: with the default a run reaches
    tiled when it ends; 1 writes each event as it is taken, so that clients subscribed to
    tiled's stream see it live (``beamline-up`` sets 1), at the cost of two requests a point.
    """
    from bluesky.callbacks.tiled_writer import BATCH_SIZE, TiledWriter

    if batch_size is None:
        batch_size = int(os.environ.get("BEAMLINE_TILED_BATCH_SIZE", BATCH_SIZE))

    backup = None
    if backup_directory is not None:
        Path(backup_directory).mkdir(parents=True, exist_ok=True)
        backup = str(backup_directory)
    return LegacyTiffResources(TiledWriter(client, backup_directory=backup, batch_size=batch_size))
