"""The scan baseline: an in-process ``ophyd.sim`` camera whose frames a RunEngine subscriber saves.

:func:`make_sim_detectors` gives ``dot_img`` (a ``SynSignal`` drawing the same frames as the
IOC, with :mod:`ioc.physics`, in this process) and ``I`` (a constant ring current).
:class:`TiffExternalizer` sits between the RunEngine and ``db.insert``: it writes each
frame to its own TIFF file with tifffile and replaces it in the Event by a Datum of an
``AD_TIFF`` Resource (same spec, template and handler as ophyd's
``FileStoreTIFFIterativeWrite``), so the same databroker insert and fill paths run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile
from event_model import compose_resource

from ioc import physics

TEMPLATE = "%s%s_%6.6d.tiff"


def make_sim_detectors(shape: tuple[int, int], exposure: float = 0.1, current: float = 500.0,
                       seed: int = 2) -> list:
    """``[dot_img, I]``: ophyd.sim signals for a camera of ``shape`` (rows, cols) and the ring current."""
    from ophyd.sim import SynSignal

    rng = np.random.default_rng(seed)

    def one_frame() -> np.ndarray:
        return physics.frame(rng, 0.0, 0.0, exposure, current, shape, bg=physics.background(rng, shape))

    img = SynSignal(func=one_frame, name="dot_img", labels={"detectors"})
    ring = SynSignal(func=lambda: current, name="I", labels={"detectors"})
    return [img, ring]


class TiffExternalizer:
    """A RunEngine subscriber: saves the array fields of Events to TIFF files, then passes on documents.

    ``callback(name, doc)`` (``db.insert``) receives the rewritten stream: the descriptor
    marks ``fields`` external, a Resource per run, a Datum and a TIFF file per Event.
    """

    def __init__(self, callback: Callable[[str, dict], None], directory: Path, fields: tuple[str, ...] = ("dot_img",)):
        self.callback = callback
        self.directory = Path(directory)
        self.fields = fields
        self._start: dict | None = None
        self._resource = None
        self._filename = ""
        self._point = 0

    def __call__(self, name: str, doc: dict) -> None:
        if name == "start":
            self._start, self._resource, self._point = doc, None, 0
        elif name == "descriptor":
            doc = dict(doc, data_keys={k: (dict(v, external="FILESTORE:") if k in self.fields else v)
                                       for k, v in doc["data_keys"].items()})
        elif name == "event":
            doc = self._externalize(doc)
        self.callback(name, doc)

    def _externalize(self, doc: dict) -> dict:
        if self._resource is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._filename = str(uuid.uuid4())[:23]
            self._resource = compose_resource(
                spec="AD_TIFF", root="/", resource_path=str(self.directory).lstrip("/"),
                resource_kwargs={"template": TEMPLATE, "filename": self._filename, "frame_per_point": 1},
                start=self._start, path_semantics="posix")
            self.callback("resource", self._resource.resource_doc)
        data, filled = dict(doc["data"]), dict(doc.get("filled", {}))
        for key in self.fields:
            path = TEMPLATE % (os.path.join(self.directory, ""), self._filename, self._point)
            tifffile.imwrite(path, data[key], photometric="minisblack", metadata={"unique_id": self._point})
            datum = self._resource.compose_datum(datum_kwargs={"point_number": self._point})
            self.callback("datum", datum)
            data[key] = datum["datum_id"]
            filled[key] = False
        self._point += 1
        return dict(doc, data=data, filled=filled)
