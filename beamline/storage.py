"""Where runs are kept, and the databroker that reads them back: images one frame at a time.

``open_broker()`` is built the way databroker 1.2.5 builds ``Broker.named('temp')``
(``databroker.v2.temp``): a ``BlueskyMsgpackCatalog`` over ``<directory>/*.msgpack`` with
the discovered handlers, wrapped in a v1 ``Broker``, whose ``insert`` writes each run with
suitcase-msgpack (one file per run, closed on the RunStop) and then re-globs the directory.
A process started later finds the runs on its first glob. Our ``AD_TIFF`` handler
(:mod:`beamline.handlers`) replaces the stock one.

Why the stock ``h.data('dot_img')`` holds tens of frames (1.2 MB each at 480 x 640 uint32):

1. ``databroker.core.BlueskyEventStream.read_partition`` fills a whole partition at once
   (``[filler(name, doc) for ...]``; ``core._documents.stream_gen`` asks for
   ``partition_size='auto'``, i.e. 5 event pages), and ``stream_gen`` still holds the
   previous partition while the next one is filled: up to 10 frames, plus the stock
   handler's ``np.array([...])`` copy.
2. ``databroker.v1.Broker.get_documents`` passes every document through ``prepare_hook``,
   by default ``databroker.utils.wrap_in_deprecated_doct``. Its ``doct.Document.__init__``
   sets ``self.__dict__ = self``: each Event is a reference cycle, so a frame the loop has
   dropped is freed only when the cyclic garbage collector next runs (after ~700 container
   allocations), not when its last reference goes: more frames wait for it.

The fix, in :class:`Broker` (a ``databroker.v1.Broker``): ``get_documents``, which every
v1 reader goes through (``Header.events``/``data``/``table``/``documents``), asks the
catalog for *unfilled* documents (cheap: datum ids) and fills each Event as it is
yielded, calling the handler the catalog's ``event_model.Filler`` holds (the Filler itself
for a read to retry, see :func:`_fill_event`); and Events are passed on as plain dicts (the
``prepare_hook`` databroker documents for that), which refcounting frees at once; and no
generator on the way (``get_documents``, ``get_events``, ``Header.events``, ``Column``)
keeps its reference to an Event while the next one is read (a ``for`` loop variable keeps
the previous item until the next arrives). Start,
stop, descriptor, resource and datum documents are still ``DeprecatedDoct``. Iterating
then holds the frame being yielded and the one the caller still has: 2 frames.
``h.table(fill=True)`` holds all of them, as a table of them must.

A run file holds its documents in order, each written to the file as it comes (nothing
waits in a buffer of the process). While its
writer has it open the file is locked (``flock``); a file with no stop document that no
writer holds was cut off (the disk filled up, the process was killed): it reads as a run
with exit status ``'fail'`` (a stop document made up from what the file holds), in this
process and in any other. A write that fails (``ENOSPC``: the disk is full) raises a
:class:`RunStoreError` naming the directory, leaves the documents written before it
readable, and the catalog is reloaded at once, so ``db[-1]`` is that run here too.

``h.data(field)`` returns a :class:`Column`: an iterator, lazy like databroker's
generator (``next`` reads one frame), that also supports indexing. numpy 2 refuses to
``np.stack`` a generator ("arrays to stack must be passed as a sequence"), and the
tutorial stacks ``h.data('dot_img')`` directly; numpy accepts any iterable with
``__getitem__``, and then iterates it, still one frame at a time.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import itertools
import os
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path

import databroker.v1
import msgpack
import msgpack_numpy
import numpy as np
from databroker._drivers.msgpack import UNPACK_OPTIONS, BlueskyMsgpackCatalog
from databroker.core import discover_handlers
from databroker.utils import ALL, wrap_in_deprecated_doct
from event_model import DataNotAccessible, Filler, RunRouter
from suitcase.msgpack import Serializer

from beamline_shared.paths import default_data_root

from .handlers import AreaDetectorTiffHandler


def default_storage_dir() -> Path:
    """``$BEAMLINE_DATABROKER_DIR``, else ``<data root>/databroker``.

    The data root is ``$BEAMLINE_DATA_ROOT``, else ``$XDG_DATA_HOME/beamline-sim``
    (``~/.local/share/beamline-sim``), as for the IOC.
    """
    if os.environ.get("BEAMLINE_DATABROKER_DIR"):
        return Path(os.environ["BEAMLINE_DATABROKER_DIR"])
    return default_data_root() / "databroker"


def metadata_dir() -> Path:
    """Where the RunEngine's metadata (``RE.md``: scan_id, ...) persists: ``<databroker dir>/RE.md``."""
    return default_storage_dir() / "RE.md"


def open_broker(directory: Path | str | None = None) -> Broker:
    """A v1 Broker over the msgpack run files in ``directory`` (created if missing).

    ``RE.subscribe(db.insert)`` stores each run there; ``db[uid]``, ``db[-1]`` and
    ``db(plan_name='count')`` find it, in this process once the run has ended and in
    any process started later.
    """
    directory = Path(directory) if directory is not None else default_storage_dir()
    directory.mkdir(parents=True, exist_ok=True)
    handler_registry = discover_handlers()
    handler_registry["AD_TIFF"] = AreaDetectorTiffHandler
    # The handlers are given to the catalog, not registered later with db.reg: each run's
    # Fillers copy the registry when the run is first opened, and the run is cached.
    catalog = RunFileCatalog(f"{directory}/*.msgpack", name="beamline", handler_registry=handler_registry)
    broker = Broker(catalog)
    broker.directory = directory
    return broker


class RunStoreError(OSError):
    """A run's documents could not be written to the store (the disk is full, say); ``errno`` is the OS's."""


class RunFileWriter(Serializer):
    """suitcase-msgpack's Serializer that locks its run file while writing and writes each document at once.

    A write that fails closes the file (what was written stays readable) and raises
    :class:`RunStoreError` naming the directory; the run's later documents are dropped.
    """

    def __init__(self, directory: Path | str) -> None:
        super().__init__(str(directory))
        self.directory = Path(directory)
        self.path: Path | None = None
        self._file = None
        self.failed = False

    def start(self, doc):
        self.path = self.directory / f"{self._file_prefix.format(start=doc)}.msgpack"
        try:
            # Unbuffered: each document goes to the file as it comes, and a failed write leaves
            # nothing queued that a later close would try (and fail) to write again.
            self._file = open(self.path, "xb", buffering=0)  # noqa: SIM115 (closed by stop or a failure)
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        except OSError as exc:
            self._fail(exc, "start")
        self._write("start", doc)

    def descriptor(self, doc):
        self._write("descriptor", doc)

    def event_page(self, doc):
        self._write("event_page", doc)

    def datum_page(self, doc):
        self._write("datum_page", doc)

    def resource(self, doc):
        self._write("resource", doc)

    def stop(self, doc):
        self._write("stop", doc)
        self.close()

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            file.close()  # and with it the lock

    def _write(self, name: str, doc: dict) -> None:
        if self.failed:
            return
        data = memoryview(msgpack.packb((name, doc), default=msgpack_numpy.encode, use_bin_type=True))
        try:
            while data:
                data = data[self._file.write(data):]  # a write may take part of it (the disk filled up)
        except OSError as exc:
            self._fail(exc, name)

    def _fail(self, exc: OSError, name: str) -> None:
        self.failed = True
        self.close()  # what did reach the file stays; the lock goes with the file
        if name == "start" and self.path is not None and self.path.exists():
            self.path.unlink()  # not even the start document fitted: no run to read
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        what = f"{self.directory} is full" if full else f"cannot write in {self.directory}"
        raise RunStoreError(exc.errno, f"{exc.strerror or exc}: {what}; the run's {name} document and those after "
                                       f"it are not stored ({self.path.name if self.path else 'no run file'}: the "
                                       f"documents written before stay readable, the run reads as failed)") from exc


def _writer_holds(filename: str) -> bool:
    """True if a writer (in any process) has the run file open and locked."""
    try:
        with open(filename, "rb") as file:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)
    except FileNotFoundError:
        return False
    return False


def _read_run_file(filename: str):
    """The documents of a run file, stopping at a cut-off last document."""
    with open(filename, "rb") as file:
        yield from msgpack.Unpacker(file, **UNPACK_OPTIONS)


def _run_documents(filename: str, stop: dict | None = None):
    """A run file's documents, then ``stop`` (the one made up for a cut-off file) if given."""
    yield from _read_run_file(filename)
    if stop is not None:
        yield "stop", stop


def cut_off_stop(filename: str, start: dict, documents) -> dict:
    """The stop document of a run whose file ends without one: exit status 'fail', the events it holds.

    Every process makes the same one from the same file (its uid derives from the start's).
    """
    streams: dict[str, str] = {}
    counts: dict[str, int] = {}
    for name, doc in documents:
        if name == "descriptor":
            streams[doc["uid"]] = doc.get("name", "primary")
        elif name in ("event_page", "event"):
            stream = streams.get(doc["descriptor"], "primary")
            counts[stream] = counts.get(stream, 0) + (len(doc["seq_num"]) if name == "event_page" else 1)
    return {
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"beamline-sim/cut-off/{start['uid']}")),
        "run_start": start["uid"],
        "time": os.path.getmtime(filename),
        "exit_status": "fail",
        "reason": f"the run file {os.path.basename(filename)} ends without a stop document: the run was cut off "
                  f"(its writer stopped before the end: disk full, killed, crashed)",
        "num_events": counts,
    }


class RunFileCatalog(BlueskyMsgpackCatalog):
    """databroker's msgpack catalog, with run files written by :class:`RunFileWriter`, where a
    cut-off file (no stop document, no writer holding it) reads as a failed run."""

    def _load(self):
        for path in self.paths:
            for filename in glob.glob(path):
                mtime = os.path.getmtime(filename)
                if mtime == self._filename_to_mtime.get(filename):
                    continue  # unchanged since it was loaded (and not being written then)
                in_progress = _writer_holds(filename)
                documents = _read_run_file(filename)
                try:
                    name, start = next(documents)
                except StopIteration:
                    continue  # empty: being created now, or nothing could be written
                if name != "start":
                    continue
                stop = next((doc for name, doc in documents if name == "stop"), None)
                made_up = None
                if stop is None and not in_progress:
                    stop = made_up = cut_off_stop(filename, start, _read_run_file(filename))
                if not in_progress:
                    self._filename_to_mtime[filename] = mtime
                self.upsert(start, stop, _run_documents, (filename,), {"stop": made_up})

    def _get_serializer(self):
        "Used by v1.Broker.insert: one locked msgpack file per run in this catalog's directory."
        directory = os.path.dirname(self.paths[0])
        return RunRouter([lambda name, doc: ([RunFileWriter(directory)], [])])


def _prepare(name: str, doc: dict) -> dict:
    # Events stay plain dicts (see the module docstring, cause 2); the rest keep databroker's
    # default wrapper, with its (deprecated) attribute access.
    return doc if name == "event" else wrap_in_deprecated_doct(name, doc)


class Column(Iterator):
    """The values of one field of a stream, read lazily: what ``Header.data`` returns.

    ``next(column)`` reads one value, as from databroker's generator, and once started the
    column iterates on from there. A column not yet started is re-iterable: each ``for``
    makes a fresh pass, one frame in memory at a time. ``np.stack`` iterates its argument
    twice (once to look for ``__array_function__`` overrides, once to stack); the second
    pass takes the frames the first one still holds (a weak cache) instead of reading them
    again. ``column[i]`` reads the i-th value.
    """

    def __init__(self, header: databroker.v1.Header, field: str, stream_name: str = "primary", fill: bool = True):
        self._header = header
        self._args = dict(field=field, stream_name=stream_name, fill=fill)
        self._own: Iterator | None = None  # the pass that next() advances
        self._held: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._length: int | None = None  # values in a complete pass, once one has finished

    def _read(self, skip: int = 0):
        field = self._args["field"]
        events = self._header.events(stream_name=self._args["stream_name"], fields=[field], fill=self._args["fill"])
        for event in itertools.islice(events, skip, None):
            value = event["data"][field]
            del event
            yield value
            del value  # before the next frame is read (see the module docstring)

    def _pass(self):
        if self._length is not None:
            held = [self._held.get(i) for i in range(self._length)]
            if all(value is not None for value in held):
                yield from held
                return
            del held
        count = 0
        for count, value in enumerate(self._read(), start=1):
            if isinstance(value, np.ndarray):
                self._held[count - 1] = value
            yield value
            del value
        self._length = count

    def __iter__(self):
        return self if self._own is not None else self._pass()

    def __next__(self):
        if self._own is None:
            self._own = self._pass()
        return next(self._own)

    def __getitem__(self, index: int):
        if not isinstance(index, int):
            raise TypeError(f"{type(self).__name__} indices must be integers, not {type(index).__name__}")
        if index < 0:
            index += sum(1 for _ in self._header.events(stream_name=self._args["stream_name"], fill=False))
        if index < 0:
            raise IndexError(f"{self._args['field']} has no value {index}")
        try:
            return next(self._read(skip=index))
        except StopIteration:
            raise IndexError(f"{self._args['field']} has no value {index}") from None


class Header(databroker.v1.Header):
    """databroker's v1 Header, whose ``data`` returns a lazy :class:`Column`."""

    def data(self, field: str, stream_name: str = "primary", fill: bool = True) -> Column:
        """The values of ``field`` in ``stream_name``, read one at a time (images filled by default)."""
        return Column(self, field, stream_name, fill)

    def events(self, stream_name: str = "primary", fields=None, fill: bool = False):
        """As databroker's ``Header.events``, holding no Event while the next one is read."""
        yield from self.db.get_events([self], stream_name=stream_name, fields=fields, fill=fill)


def _lazy(obj):
    if type(obj) is databroker.v1.Header:
        obj.__class__ = Header  # databroker builds its own Header; give it our data()
    elif isinstance(obj, list):
        return [_lazy(item) for item in obj]
    return obj


class Results(databroker.v1.Results):
    """Search results whose headers are :class:`Header`."""

    def __iter__(self):
        for header in super().__iter__():
            yield _lazy(header)


class RunNotFound(KeyError):
    """``db[key]`` found no run; the message says what is stored."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Broker(databroker.v1.Broker):
    """A ``databroker.v1.Broker`` whose filled Events are read one at a time, as they are yielded."""

    def __init__(self, catalog, **kwargs):
        super().__init__(catalog, **kwargs)
        self.prepare_hook = _prepare
        self._writer = None  # the catalog's (RunFileCatalog._get_serializer), made at the first insert

    def insert(self, name: str, doc: dict) -> None:
        """Store a document (``RE.subscribe(db.insert)``); a failed write raises :class:`RunStoreError`
        naming the directory, and the run, cut off, reads as failed from then on.

        What databroker 1.2.5's ``Broker.insert`` does (the catalog's writer, then a reload at each
        stop), without its PendingDeprecationWarning per document: that warns of removal in a
        future databroker, and this one is pinned.
        """
        if self._writer is None:
            self._writer = self._catalog._get_serializer()
        try:
            self._writer(name, doc)
        except RunStoreError:
            self._catalog.force_reload()
            raise
        if name == "stop":
            self._catalog.force_reload()

    def __getitem__(self, key):
        try:
            header = super().__getitem__(key)
        except (KeyError, IndexError, ValueError) as exc:
            # databroker chains three or four lookups' errors and ends on a bare KeyError(key).
            error = RunNotFound if isinstance(exc, KeyError) else type(exc)
            raise error(self._not_found(key, exc)) from None
        return _lazy(header)

    def _not_found(self, key, exc: Exception) -> str:
        starts = sorted(getattr(self._catalog, "_uid_to_run_start_doc", {}).values(), key=lambda doc: doc["time"])
        where = f" in {self.directory}" if getattr(self, "directory", None) else ""
        if isinstance(exc, ValueError) and "Multiple matches" in str(exc):
            return f"db[{key!r}]: {exc}"
        if not starts:
            return f"db[{key!r}]: no runs are stored{where} yet"
        latest = starts[-1]
        scan_ids = sorted({doc.get("scan_id") for doc in starts if isinstance(doc.get("scan_id"), int)})
        shown = ", ".join(map(str, scan_ids[-8:]))
        stored = f"{len(starts)} runs are stored" if len(starts) != 1 else "1 run is stored"
        return (f"db[{key!r}]: no such run{where}. {stored}: look one up by uid (or its first "
                f"characters), by scan_id (the latest: {'..., ' if len(scan_ids) > 8 else ''}{shown}) or by "
                f"recency (db[-1] ... db[-{len(starts)}]); db[-1] is scan_id {latest.get('scan_id')}, "
                f"uid {latest['uid'][:8]!r}, plan {latest.get('plan_name')!r}")

    def __call__(self, *args, **kwargs):
        results = super().__call__(*args, **kwargs)
        results.__class__ = Results
        return results

    def _patch_state(self, catalog):
        # Search results are another catalog; make its headers read through this class too.
        type(self)(catalog, external_fetchers=self.external_fetchers)
        super()._patch_state(catalog)

    def get_events(self, headers, stream_name="primary", fields=None, fill=False, handler_registry=None):
        """As ``databroker.v1.Broker.get_events``, holding no Event while the next one is read."""
        for name, doc in self.get_documents(headers, stream_name=stream_name, fields=fields, fill=fill,
                                            handler_registry=handler_registry):
            if name == "event":
                yield doc
            del doc

    def get_documents(self, headers, stream_name=ALL, fields=None, fill=False, handler_registry=None):
        """As ``databroker.v1.Broker.get_documents``, but each Event is filled only when it is yielded."""
        docs = super().get_documents(headers, stream_name=stream_name, fields=fields, fill=False,
                                     handler_registry=handler_registry)
        if not fill:
            yield from docs
            return
        # The Filler the catalog's runs use for fill='yes' (handlers, root_map, arrays out).
        with self._catalog._get_filler(coerce="force_numpy") as filler:
            datums: dict[str, tuple[str, dict]] = {}
            for name, doc in docs:
                if name == "event":
                    _fill_event(filler, datums, doc)
                elif name == "datum":
                    # Kept as (resource, datum_kwargs) rather than the whole (wrapped) document:
                    # a run's datums arrive as one page, before its Events.
                    datums[doc["datum_id"]] = (doc["resource"], doc["datum_kwargs"])
                else:
                    filler(name, doc)  # caches descriptors and resources
                yield name, doc
                del doc  # before the next Event is filled


def _fill_event(filler: Filler, datums: dict[str, tuple[str, dict]], doc: dict) -> None:
    """Fill ``doc``'s unfilled fields in place, as ``filler.fill_event(doc, include=doc['data'], inplace=True)``.

    The handler is called directly; ``Filler.fill_event`` formats the Datum and Resource into
    its error message and sleeps(0) before every read, which cost as much as the read of a
    small frame. A field whose read fails (OSError: a file not yet on disk) or that this
    cannot resolve goes to ``fill_event`` itself: its retries, its errors.
    """
    filled, data = doc.get("filled"), doc["data"]
    pending = [] if filled is not None else list(data)
    for key, value in (filled or {}).items():
        if value is not False or key not in data:
            continue
        entry = datums.get(data[key])
        resource = filler._resource_cache.get(entry[0]) if entry is not None else None
        if resource is None:
            pending.append(key)
            continue
        try:
            payload = filler._get_handler_maybe_cached(resource)(**entry[1])
        except OSError:
            pending.append(key)
            continue
        filled[key] = data[key]
        data[key] = payload
    if not pending:
        return
    for key in pending:
        entry = datums.get(data[key]) if isinstance(data[key], str) else None
        if entry is not None:
            filler("datum", {"datum_id": data[key], "resource": entry[0], "datum_kwargs": entry[1]})
    # Only the fields the caller kept (``fields``) are still in doc['data'].
    try:
        filler.fill_event(doc, include=pending, inplace=True)
    except DataNotAccessible as exc:
        # event_model's message quotes whole documents; say which file failed.
        raise DataNotAccessible(
            f"cannot read the data of event {doc['seq_num']} ({doc['uid']}): {exc.__cause__ or exc}"
        ) from exc
