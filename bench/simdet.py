"""The scan baseline: an in-process ``ophyd.sim`` camera whose frames a RunEngine subscriber saves.

It does the IOC's work per frame, in line (nothing overlaps): :func:`make_sim_detectors`
gives ``dot_img`` (a ``SynSignal`` drawing the same frames as the IOC with
:mod:`ioc.sim.physics`, background included, and computing Stats1's numbers with
``physics.stats``) and ``I`` (a constant ring current). :class:`TiffExternalizer` sits
between the RunEngine and ``db.insert``: it writes each frame with the IOC's own writer
(``ioc.areadetector.tiff_writer.write_tiff``: template and data-root checks, a new temporary file,
rename) and replaces it in the Event by a Datum of an ``AD_TIFF`` Resource (same spec,
template and handler as ophyd's ``FileStoreTIFFIterativeWrite``), so the same databroker
insert and fill paths run. What it does not do is CA: no PV is posted or read.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
from event_model import compose_resource

from ioc.areadetector.file_paths import FileTarget
from ioc.areadetector.tiff_writer import write_tiff
from ioc.sim import physics

TEMPLATE = "%s%s_%6.6d.tiff"


def make_sim_detectors(shape: tuple[int, int], exposure: float = 0.1, current: float = 500.0,
                       seed: int = 2, centroid_threshold: float = 1200.0) -> list:
    """``[dot_img, I]``: ophyd.sim signals for a camera of ``shape`` (rows, cols) and the ring current.

    Each frame also gets Stats1's statistics (``centroid_threshold`` in counts, Stats1's
    default), computed and dropped as the IOC's are by a client that does not read them.
    """
    from ophyd.sim import SynSignal

    rng = np.random.default_rng(seed)

    def one_frame() -> np.ndarray:
        img = physics.frame(rng, 0.0, 0.0, exposure, current, shape, bg=physics.background(rng, shape))
        physics.stats(img, centroid_threshold)
        return img

    img = SynSignal(func=one_frame, name="dot_img", labels={"detectors"})
    ring = SynSignal(func=lambda: current, name="I", labels={"detectors"})
    return [img, ring]


class TiffExternalizer:
    """A RunEngine subscriber: saves the array fields of Events to TIFF files, then passes on documents.

    ``callback(name, doc)`` (``db.insert``) receives the rewritten stream: the descriptor
    marks ``fields`` external, a Resource per run, a Datum and a TIFF file per Event.
    """

    def __init__(self, callback: Callable[[str, dict], None], directory: Path, fields: tuple[str, ...] = ("dot_img",),
                 data_root: Path | None = None):
        self.callback = callback
        self.directory = Path(directory)
        self.data_root = Path(data_root) if data_root is not None else self.directory
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
            target = FileTarget(template=TEMPLATE, path=os.path.join(self.directory, ""), name=self._filename,
                                number=self._point, data_root=self.data_root)
            write_tiff(target, data[key], {"unique_id": self._point})
            datum = self._resource.compose_datum(datum_kwargs={"point_number": self._point})
            self.callback("datum", datum)
            data[key] = datum["datum_id"]
            filled[key] = False
        self._point += 1
        return dict(doc, data=data, filled=filled)
