"""``CB1:``: NDCircularBuff.template, frames from before and after a trigger (ADCore NDPluginCircularBuff).

The state machine is :mod:`.compute.circular_buffer`'s. ``Capture`` = 1 starts keeping the
last ``PreCount`` arrays; a trigger (``Trigger`` = 1, or ``TriggerCalc`` of the attributes
named by ``TriggerA``/``TriggerB``, e.g. ``current_mA``, finite and non-zero) passes them on,
oldest first, then ``PostCount`` arrays from the trigger on; then capture re-arms until
``PresetTriggerCount`` triggers (0: for ever) or stops ("Acquisition Completed").
``FlushOnSoftTrg`` Immediately passes the ring on at the soft trigger itself.

``Capture`` and ``Trigger`` are busy records: a put with completion on Capture completes
when capture ends, on Trigger when that trigger's arrays have passed (or capture ends); a
trigger while not capturing completes at once.
"""

from __future__ import annotations

import asyncio

from ..records import echo_to_readback
from ..records.declare import ai, bi, bo, busy, longin, longout, stringin, stringout, waveform
from ..records.validate import integer
from ..server.puts import processing_started
from .compute.circular_buffer import FLUSH_ON_SOFT_TRIGGER, CircularBuffer
from .menus import OK_MINOR
from .nd_plugin_base import NDPluginBase
from .ndarray import Frame, enum_index, post, text


class NDCircularBuff(NDPluginBase):
    """NDCircularBuff.template (which includes NDPluginBase.template)."""

    plugin_type = "NDPluginCircularBuff"
    passes_input_on = False
    autosave_fields = ("PreCount", "PostCount", "PresetTriggerCount", "FlushOnSoftTrg", "TriggerA", "TriggerB",
                       "TriggerCalc")

    capture = busy("Capture", "Done", ("Done", "Capture"), sev=OK_MINOR,
                   doc="busy record: keep and pass on frames around triggers")
    capture_rbv = bi("Capture_RBV", "Done", ("Done", "Capturing"), sev=OK_MINOR,
                     doc="busy record: keep and pass on frames around triggers")
    pre_count = longout("PreCount", 100, doc="arrays kept from before the trigger")
    pre_count_rbv = longin("PreCount_RBV", 100, doc="arrays kept from before the trigger")
    post_count = longout("PostCount", 100, doc="arrays passed on from the trigger on")
    post_count_rbv = longin("PostCount_RBV", 100, doc="arrays passed on from the trigger on")
    preset_trigger_count = longout("PresetTriggerCount", 1, doc="triggers before capture stops (0: no limit)")
    preset_trigger_count_rbv = longin("PresetTriggerCount_RBV", 1, doc="triggers before capture stops (0: no limit)")
    actual_trigger_count_rbv = longin("ActualTriggerCount_RBV", doc="triggers since capture started")
    current_qty_rbv = longin("CurrentQty_RBV", doc="arrays in the pre-trigger ring")
    post_trigger_qty_rbv = longin("PostTriggerQty_RBV", doc="arrays passed on since the trigger")
    trigger = busy("Trigger", "Trigger", ("Done", "Trigger"), sev=OK_MINOR,
                   doc="busy record: a soft trigger, at the next array")
    trigger_rbv = bi("Trigger_RBV", "Triggered", ("Done", "Triggered"), sev=OK_MINOR, doc="a trigger was received")
    flush_on_soft_trg = bo("FlushOnSoftTrg", "OnNewImage", FLUSH_ON_SOFT_TRIGGER,
                           doc="a soft trigger passes the ring on at the next array, or at once")
    flush_on_soft_trg_rbv = bi("FlushOnSoftTrg_RBV", "OnNewImage", FLUSH_ON_SOFT_TRIGGER,
                               doc="a soft trigger passes the ring on at the next array, or at once")
    trigger_a = stringout("TriggerA", doc="name of the NDAttribute that is A in TriggerCalc")
    trigger_a_rbv = stringin("TriggerA_RBV", doc="name of the NDAttribute that is A in TriggerCalc")
    trigger_a_val = ai("TriggerAVal", prec=3, doc="value of attribute A in the last array")
    trigger_b = stringout("TriggerB", doc="name of the NDAttribute that is B in TriggerCalc")
    trigger_b_rbv = stringin("TriggerB_RBV", doc="name of the NDAttribute that is B in TriggerCalc")
    trigger_b_val = ai("TriggerBVal", prec=3, doc="value of attribute B in the last array")
    trigger_calc = waveform("TriggerCalc", doc="calc expression of A, B (C-F: counts): non-zero triggers")
    trigger_calc_rbv = waveform("TriggerCalc_RBV", doc="calc expression of A, B (C-F: counts): non-zero triggers")
    trigger_calc_val = ai("TriggerCalcVal", prec=3, doc="value of TriggerCalc for the last array")
    status_message = stringin("StatusMessage", doc="the buffer's state, or why a setting was refused")

    def __init__(self, *args, max_buffers: int = 500, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cb = CircularBuffer(max_buffers)
        self._capture_done: asyncio.Event | None = None
        self._trigger_done: asyncio.Event | None = None

    async def start(self) -> None:
        await super().start()
        await self.trigger_rbv.write(0)  # the Trigger record's VAL is 1 in the template; nothing triggered yet
        await self.status_message.write(self.cb.status)

    async def process(self, frame: Frame) -> str | None:
        out = self.cb.process(frame, frame.attributes)
        await self.publish()
        problem = None
        for passed in out:  # as NDPluginCircularBuff: doCallbacks directly, whatever ArrayCallbacks says
            problem = await self.ports.deliver(self.port, passed.passed_by(self.port)) or problem
        return problem

    async def publish(self) -> None:
        """The state machine's readbacks; the busy records complete when their work is done."""
        cb = self.cb
        for chan, value in ((self.current_qty_rbv, cb.current_qty), (self.post_trigger_qty_rbv, cb.post_trigger_qty),
                            (self.actual_trigger_count_rbv, cb.actual_trigger_count),
                            (self.trigger_rbv, int(cb.triggered)), (self.status_message, cb.status[:39]),
                            (self.trigger_a_val, cb.trigger_a_val), (self.trigger_b_val, cb.trigger_b_val),
                            (self.trigger_calc_val, cb.trigger_calc_val), (self.capture_rbv, int(cb.capture))):
            await post(chan, value)
        if not cb.soft_trigger or not cb.capture:
            self._finish("_trigger_done")
        if not cb.capture:
            self._finish("_capture_done")

    def _finish(self, name: str) -> None:
        event = getattr(self, name)
        if event is not None:
            event.set()
            setattr(self, name, None)

    async def _busy(self, instance, name: str) -> None:
        """A busy record's put: complete once the event ``name`` is set (other requests go on meanwhile)."""
        event = asyncio.Event()
        setattr(self, name, event)
        await instance.write(1, verify_value=False)
        processing_started()
        await event.wait()

    # -- PV hooks ------------------------------------------------------------------------

    @capture.putter
    async def capture(self, instance, value):
        on = bool(enum_index(instance, value))
        async with self.array_lock():
            self._finish("_capture_done")  # a new capture ends the one before
            self.cb.put_capture(on)
            await self.publish()
        if on and self.cb.capture:
            await self._busy(instance, "_capture_done")
        return "Done"

    @trigger.putter
    async def trigger(self, instance, value):
        on = bool(enum_index(instance, value))
        async with self.array_lock():
            self._finish("_trigger_done")
            flushed = self.cb.put_soft_trigger(on)
            await self.publish()
            for passed in flushed:  # FlushOnSoftTrg Immediately
                await self.ports.deliver(self.port, passed.passed_by(self.port))
        if on and self.cb.capture and self.cb.soft_trigger:
            await self._busy(instance, "_trigger_done")
        return "Done"

    @pre_count.putter
    async def pre_count(self, instance, value):
        value = integer(instance.pvname, value, -(2**31), 2**31 - 1, "pre-trigger count")
        if self.cb.put_pre_count(value):  # else refused, as ADCore refuses it: StatusMessage says why
            await self.pre_count_rbv.write(value)
        await post(self.status_message, self.cb.status[:39])
        return value

    @post_count.putter
    async def post_count(self, instance, value):
        self.cb.post_count = integer(instance.pvname, value, -(2**31), 2**31 - 1, "post-trigger count")
        return await echo_to_readback(self, instance, self.cb.post_count)

    @preset_trigger_count.putter
    async def preset_trigger_count(self, instance, value):
        self.cb.preset_trigger_count = integer(instance.pvname, value, -(2**31), 2**31 - 1, "preset trigger count")
        return await echo_to_readback(self, instance, self.cb.preset_trigger_count)

    @flush_on_soft_trg.putter
    async def flush_on_soft_trg(self, instance, value):
        self.cb.flush_on_soft_trigger = FLUSH_ON_SOFT_TRIGGER[enum_index(instance, value)]
        return await echo_to_readback(self, instance, value)

    @trigger_a.putter
    async def trigger_a(self, instance, value):
        self.cb.trigger_a = text(value)
        return await echo_to_readback(self, instance, value)

    @trigger_b.putter
    async def trigger_b(self, instance, value):
        self.cb.trigger_b = text(value)
        return await echo_to_readback(self, instance, value)

    @trigger_calc.putter
    async def trigger_calc(self, instance, value):
        problem = self.cb.put_trigger_calc(text(value))
        if problem:  # kept, as ADCore keeps it, and never triggers; the reason goes to StatusMessage
            await self.status_message.write(problem[:39])
        return await echo_to_readback(self, instance, text(value))
