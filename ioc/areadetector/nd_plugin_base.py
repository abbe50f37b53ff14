"""NDPluginBase.template: what every plugin has, and does with each array (ADCore NDPluginDriver).

A plugin has its own asyn port and takes its arrays from the port its ``NDArrayPort`` names,
at the address ``NDArrayAddress`` names (:mod:`.ports`), when ``EnableCallbacks`` is Enable
and no sooner than ``MinCallbackTime`` after the last one. It counts and describes each array it receives (ArrayCounter_RBV,
ArraySize*_RBV, UniqueId_RBV...), processes it (:meth:`NDPluginBase.process`, per plugin
type) and passes its output on to the plugins wired to its own port (:meth:`NDPluginBase.pass_on`;
none with ``ArrayCallbacks`` Disable).

As NDPluginDriver::driverCallback: with ``BlockingCallbacks`` Yes an array is processed
before the sender goes on (a slow plugin slows its source, up to the camera); with No it
waits in a queue of ``QueueSize`` arrays for the plugin's own worker (``QueueFree`` says how
many more fit), and an array that finds the queue full is dropped (``DroppedArrays``).
``ProcessPlugin`` runs the plugin again on the last array it received. ``NDArrayPort``
takes any name: one that no port has is kept and echoed on ``NDArrayPort_RBV`` while the
plugin receives nothing, and the IOC's log says why, in ADCore's words (asynPrint's error
from connectToArrayPort); ``validate_asyn_ports`` of ophyd then names it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from caproto import AlarmSeverity, AlarmStatus

from ..records import Macro, echo_to_readback
from ..records.declare import ai, ao, asyn, bi, bo, calc, calcout, longin, longout, mbbi, mbbo, stringin, stringout
from ..records.validate import integer
from ..server.timeline import mark
from .menus import DISABLE_ENABLE, NO_YES, OK_MINOR
from .nd_array_base import NDArrayBase
from .ndarray import Frame, enum_index, index, text
from .ports import NDArrayPorts

log = logging.getLogger("beamline.areadetector")
MAX_QUEUE = 10_000  # QueueSize: arrays a plugin may hold waiting (ADCore allocates no more than the pool gives)


class NDPluginBase(NDArrayBase):
    """NDPluginBase.template (which includes NDArrayBase.template): a plugin at ``port`` fed by ``ndarray_port``."""

    plugin_type = ""  # PluginType_RBV (NDFileTIFF, NDPluginStats...)
    coalesce = False  # True: a frame sooner than MinCallbackTime is kept for later, not dropped (NDStdArrays)
    passes_input_on = True  # False: the plugin passes on arrays of its own making (ROI, Process...)
    autosave_fields: tuple[str, ...] = ()  # settings of this plugin type autosave keeps, beyond the base's

    plugin_type_rbv = stringin("PluginType_RBV", "Unknown", doc="type of plugin")
    nd_array_port = stringout("NDArrayPort", Macro("NDARRAY_PORT", str),
                              doc="asyn port of the NDArray source (VAL is $(NDARRAY_PORT))")
    nd_array_port_rbv = stringin("NDArrayPort_RBV", Macro("NDARRAY_PORT", str),
                                 doc="asyn port of the NDArray source (VAL is $(NDARRAY_PORT))")
    nd_array_address = longout("NDArrayAddress", Macro("NDARRAY_ADDR", int, 0),
                               doc="asyn address of the NDArray source (VAL is $(NDARRAY_ADDR=0))")
    nd_array_address_rbv = longin("NDArrayAddress_RBV", Macro("NDARRAY_ADDR", int, 0),
                                  doc="asyn address of the NDArray source (VAL is $(NDARRAY_ADDR=0))")
    enable_callbacks = bo("EnableCallbacks", "Disable", DISABLE_ENABLE, doc="enable callbacks (VAL is $(ENABLED=0))")
    enable_callbacks_rbv = bi("EnableCallbacks_RBV", "Disable", DISABLE_ENABLE, sev=OK_MINOR,
                              doc="enable callbacks (VAL is $(ENABLED=0))")
    min_callback_time = ao("MinCallbackTime", egu="s", prec=3, valid=(0.0, 60.0, "minimum time between callbacks (s)"),
                           doc="minimum time between callbacks")
    min_callback_time_rbv = ai("MinCallbackTime_RBV", egu="s", prec=3, doc="minimum time between callbacks")
    max_array_rate = ao("MaxArrayRate", egu="Hz", prec=3,
                        doc="soft ao setting MinCallbackTime=1/rate (MaxArrayRate_RBV is a calc)")
    max_array_rate_rbv = calc("MaxArrayRate_RBV", egu="Hz", prec=3,
                              doc="soft ao setting MinCallbackTime=1/rate (MaxArrayRate_RBV is a calc)")
    max_array_rate_cout = calcout("MaxArrayRate_COUT", doc="writes 1/MaxArrayRate to MinCallbackTime")
    max_byte_rate = ao("MaxByteRate", egu="s", prec=3, doc="maximum output byte rate (EGU 's' as in the template)")
    max_byte_rate_rbv = ai("MaxByteRate_RBV", egu="s", prec=3,
                           doc="maximum output byte rate (EGU 's' as in the template)")
    execution_time_rbv = ai("ExecutionTime_RBV", egu="ms", prec=3, doc="last execution time of the plugin")
    process_plugin = bo("ProcessPlugin", 1, doc="execute the plugin again with the same NDArray")
    blocking_callbacks = bo("BlockingCallbacks", "No", NO_YES, doc="callbacks block or not")
    blocking_callbacks_rbv = bi("BlockingCallbacks_RBV", "No", NO_YES, doc="callbacks block or not")
    dropped_arrays = longout("DroppedArrays", doc="arrays dropped")
    dropped_arrays_rbv = longin("DroppedArrays_RBV", doc="arrays dropped")
    queue_size = longout("QueueSize", 20, doc="input queue size")
    queue_size_rbv = longin("QueueSize_RBV", 20, doc="input queue size")
    queue_free_low = calcout("QueueFreeLow", 5.0, doc="calcout record: sets QueueFree.LOW to 25% of QueueSize")
    queue_use_high = calcout("QueueUseHIGH", 15.0, doc="calcout record: sets QueueUse.HIGH to 75% of QueueSize")
    queue_use_hihi = calcout("QueueUseHIHI", 20.0, doc="calcout record: sets QueueUse.HIHI to QueueSize")
    queue_free = longin("QueueFree", 20, doc="free places in the input queue")
    queue_use = calc("QueueUse", doc="calc record: fill level of the input queue")
    num_threads = longout("NumThreads", 1, doc="number of plugin threads")
    num_threads_rbv = longin("NumThreads_RBV", 1, doc="number of plugin threads")
    max_threads_rbv = longin("MaxThreads_RBV", 1, doc="maximum number of plugin threads")
    sort_mode = mbbo("SortMode", "Unsorted", ("Unsorted", "Sorted"), doc="output array sorting")
    sort_mode_rbv = mbbi("SortMode_RBV", "Unsorted", ("Unsorted", "Sorted"), doc="output array sorting")
    sort_time = ao("SortTime", 0.1, prec=3, doc="sort time")
    sort_time_rbv = ai("SortTime_RBV", 0.1, prec=3, doc="sort time")
    sort_size = longout("SortSize", 20, doc="sort list size")
    sort_size_rbv = longin("SortSize_RBV", 20, doc="sort list size")
    sort_free = longin("SortFree", 20, doc="free places in the sort list")
    sort_free_low = calcout("SortFreeLow", 5.0, doc="calcout record: sets SortFree.LOW to 25% of SortSize")
    dropped_output_arrays = longout("DroppedOutputArrays", doc="output arrays dropped")
    dropped_output_arrays_rbv = longin("DroppedOutputArrays_RBV", doc="output arrays dropped")
    disordered_arrays = longout("DisorderedArrays", doc="arrays out of order")
    disordered_arrays_rbv = longin("DisorderedArrays_RBV", doc="arrays out of order")
    asyn_io = asyn("AsynIO", doc="asyn record (placeholder)")


    def __init__(self, prefix: str, *, port: str, ndarray_port: str, ports: NDArrayPorts, enabled: bool = True,
                 macros: dict | None = None) -> None:
        super().__init__(prefix, port=port, macros={**(macros or {}), "NDARRAY_PORT": ndarray_port})
        self.ports = ports
        self.starts_enabled = enabled  # EnableCallbacks at start (the template's is Disable)
        self._last_callback = 0.0
        self._last_input: Frame | None = None  # pPrevInputArray_: what ProcessPlugin processes again
        self._queue: deque[Frame] = deque()
        self._worker: asyncio.Task | None = None
        self._lock: asyncio.Lock | None = None  # one array at a time, as the plugin's asyn lock
        self._queue_changed: asyncio.Event | None = None
        self._dropped = 0

    async def start(self) -> None:
        await self.plugin_type_rbv.write(self.plugin_type)
        # The plugins a beamline uses start enabled, as its start-up script leaves them.
        await self.enable_callbacks.write("Enable" if self.starts_enabled else "Disable", verify_value=False)
        await super().start()
        self.connect(self.upstream())
        # Until the first array, describe the array the source will send (clients size views by it).
        await self.describe_upstream()

    # -- the chain -------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return bool(index(self.enable_callbacks))

    def upstream(self) -> str:
        """The port this plugin takes its arrays from (NDArrayPort)."""
        return text(self.nd_array_port.value)

    def upstream_address(self) -> int:
        """The address on that port it takes them from (NDArrayAddress)."""
        return int(self.nd_array_address.value)

    def connect(self, port: str) -> bool:
        """Say in the IOC's log, as ADCore's connectToArrayPort does, that ``port`` does not exist
        (and return False); and that it would feed the chain its own output (ADCore says nothing of that)."""
        if port not in self.ports.names():
            log.error("%s: NDPluginDriver::connectToArrayPort Error calling pasynManager->connectDevice to array "
                      "port %s address %d, status=3, error=asynManager:connectDevice port %s not found",
                      self.port, port, self.nd_array_address.value, port)
            return False
        if self.ports.would_loop(self, port):
            log.warning("%s: NDArrayPort %s takes its arrays from this plugin's own output: a loop, which no "
                        "array from a driver reaches", self.port, port)
        return True

    async def describe_upstream(self) -> None:
        """ArraySize*/DataType readbacks of the array the upstream port will send, if it is known."""
        upstream = self.ports.array_of(self.upstream(), frozenset({self.port}), self.upstream_address())
        if upstream is not None:
            await self.describe_array(*upstream)

    def output_array(self, seen: frozenset = frozenset(), address: int = 0):
        """(shape, dtype) of the arrays this plugin passes on (at ``address``; 0 its output), as
        its settings make them from its upstream's; None if that is unknown (no such port or
        address, or a loop)."""
        if address != 0:
            return None
        upstream = self.ports.array_of(self.upstream(), seen | {self.port}, self.upstream_address())
        return None if upstream is None else self.output_of(*upstream)

    def output_of(self, shape: tuple[int, ...], dtype):
        """(shape, dtype) this plugin makes of an input array of ``shape`` and ``dtype`` (per plugin type)."""
        return shape, dtype

    def readout_work(self) -> Callable | None:
        """A function of the frame's pixels to run on the readout thread, or None.

        The frame is fully determined when its exposure starts, so a plugin's arithmetic can
        overlap the exposure; its ``process`` then only publishes (``frame.precomputed``).
        """
        return None

    # -- arrays in -----------------------------------------------------------------------

    async def receive(self, frame: Frame) -> str | None:
        """An array from the upstream port (NDPluginDriver::driverCallback); with blocking
        callbacks, the error message if processing it failed."""
        if not self.enabled:
            return None
        return await self._callback(frame)

    async def _callback(self, frame: Frame) -> str | None:
        if self.port in frame.path:
            return None  # it came round a loop (ProcessPlugin in a loop): never twice
        min_time = self.min_callback_time.value
        now = time.monotonic()
        if min_time > 0 and now - self._last_callback < min_time and not self.coalesce:
            return None
        self._last_callback = now
        if index(self.blocking_callbacks):
            return await self.process_callbacks(frame)
        if len(self._queue) >= self.queue_size.value:
            self._dropped += 1
            await self.dropped_arrays_rbv.write(self._dropped)
            return None
        self._queue.append(frame)
        self.ports.queued()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work())
        else:  # the array waits: QueueFree says so
            await self._post_queue()
        return None

    async def _work(self) -> None:
        """The plugin's own thread: the queued arrays, in order."""
        while self._queue:
            frame = self._queue.popleft()
            await self._post_queue()
            problem = None
            try:
                problem = await self.process_callbacks(frame)
            except asyncio.CancelledError:  # the IOC stops: nothing more will be processed
                for _ in range(len(self._queue) + 1):
                    self.ports.processed()
                self._queue.clear()
                raise
            except Exception as exc:  # a plugin's bug must not stop the chain
                problem = f"{self.prefix}: {type(exc).__name__}: {exc}"
                log.exception("%s: processing an array failed", self.prefix)
            self.ports.processed(problem)
            if self._queue_changed is not None:
                self._queue_changed.set()

    async def _post_queue(self) -> None:
        free = self.queue_size.value - len(self._queue)
        if free != self.queue_free.value:
            await self.queue_free.write(free)
            await self.queue_use.write(self.queue_size.value - free)

    def array_lock(self) -> asyncio.Lock:
        """Held while an array is processed (the plugin's asyn lock): commands that use the
        plugin's arrays (SaveBackground...) take it too."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def process_callbacks(self, frame: Frame) -> str | None:
        """One array: counted, described, processed, passed on (the plugin's processCallbacks)."""
        async with self.array_lock():
            mark("plugin_start", self.port)
            t0 = time.perf_counter()
            self._last_input = frame
            await self.count_array()
            await self.describe_array(frame.data.shape, frame.data.dtype, frame.color_mode)
            await self.stamp_array(frame.unique_id, frame.timestamp)
            problem = await self.process(frame)
            if self.passes_input_on:
                problem = await self.pass_on(frame) or problem
            await self.execution_time_rbv.write(1e3 * (time.perf_counter() - t0))
            mark("plugin_done", self.port)
            return problem

    async def process(self, frame: Frame) -> str | None:
        """What this plugin does with an array (per plugin type); an error message, or None.

        A plugin that makes arrays of its own (``passes_input_on`` False) passes them on
        itself with :meth:`pass_on`.
        """
        return None

    # -- arrays out ----------------------------------------------------------------------

    async def pass_on(self, frame: Frame) -> str | None:
        """Hand ``frame`` to the plugins wired to this plugin's port (NDPluginDriver::endProcessCallbacks).

        The per-frame arithmetic those plugins would do on a worker thread (their
        ``readout_work``, e.g. Stats1's) is done here, before they receive it: a hop to another
        thread costs more than a region's statistics, and the driver's frames have theirs done
        on the readout thread already.
        """
        if not index(self.array_callbacks):
            return None
        frame = frame.passed_by(self.port)
        work = {port: func for port, func in self.ports.readout_work(self.port).items()
                if port not in frame.precomputed}
        if work:
            frame.precomputed = {**frame.precomputed, **{port: func(frame.data) for port, func in work.items()}}
        return await self.ports.deliver(self.port, frame)

    # -- PV hooks ------------------------------------------------------------------------

    @nd_array_port.putter
    async def nd_array_port(self, instance, value):
        port = text(value).strip()
        await echo_to_readback(self, instance, port)
        await instance.write(port, verify_value=False)
        found = self.connect(port)
        # devAsynOctet: writeOctet's error (connectToArrayPort failed) is WRITE/INVALID on the record
        await instance.alarm.write(status=AlarmStatus.NO_ALARM if found else AlarmStatus.WRITE,
                                   severity=AlarmSeverity.NO_ALARM if found else AlarmSeverity.INVALID_ALARM)
        await self.describe_upstream()
        return port

    @nd_array_address.putter
    async def nd_array_address(self, instance, value):
        address = integer(instance.pvname, value, 0, 2**31 - 1, "asyn address of the NDArray source")
        await echo_to_readback(self, instance, address)
        await instance.write(address, verify_value=False)
        await self.describe_upstream()
        return address

    @enable_callbacks.putter
    async def enable_callbacks(self, instance, value):
        if enum_index(instance, value) == 0:
            self._last_input = None  # disabled: the cached array is released, as in ADCore
        return await echo_to_readback(self, instance, value)

    @blocking_callbacks.putter
    async def blocking_callbacks(self, instance, value):
        return await echo_to_readback(self, instance, value)

    @queue_size.putter
    async def queue_size(self, instance, value):
        size = integer(instance.pvname, value, 1, MAX_QUEUE, "input queue size (arrays)")
        # As NDPluginDriver: the arrays already queued are processed first, then the queue changes.
        if self._queue_changed is None:
            self._queue_changed = asyncio.Event()
        while self._queue:
            self._queue_changed.clear()
            await self._queue_changed.wait()
        await echo_to_readback(self, instance, size)
        await instance.write(size, verify_value=False)
        await self._post_queue()
        await self.queue_free_low.write(0.25 * size)
        await self.queue_use_high.write(0.75 * size)
        await self.queue_use_hihi.write(float(size))
        return size

    @dropped_arrays.putter
    async def dropped_arrays(self, instance, value):
        self._dropped = integer(instance.pvname, value, 0, 2**31 - 1, "dropped arrays count")
        await self.dropped_arrays_rbv.write(self._dropped)
        return self._dropped

    @process_plugin.putter
    async def process_plugin(self, instance, value):
        frame = self._last_input
        if frame is None:
            log.warning("%s: cannot do ProcessPlugin, no input array cached", self.prefix)
            return value
        await self._callback(frame)
        return value
