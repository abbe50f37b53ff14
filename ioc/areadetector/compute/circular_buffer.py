"""NDPluginCircularBuff's state machine: pre-trigger ring, trigger, post-trigger frames.

As NDPluginCircularBuff.cpp: Capture = 1 starts a ring of PreCount arrays (Status "Buffer
filling", or "Dropping frames" with PreCount 0; "Buffer Wrapping" once full). An array
triggers when the soft trigger (Trigger) is set, or when TriggerCalc (an EPICS calc
expression of A and B, the values of the array's attributes named by TriggerA and TriggerB,
NaN if absent, with C = PreCount, D = PostCount, E = CurrentQty, F = triggered) is finite
and non-zero. At the trigger the ring is passed on oldest first ("Flushing"), then the
triggering array and the following ones until PostCount arrays have passed; then the count
of triggers goes up, and capture either re-arms (while ActualTriggerCount < PresetTriggerCount,
or forever with PresetTriggerCount 0) or stops ("Acquisition Completed"). With
FlushOnSoftTrg = Immediately a soft trigger passes the ring on at once.

The plugin holds references to the arrays (ADCore copies them): arrays passed between
plugins are never modified.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

import numpy as np

from .calc import Calc, CalcError

FLUSH_ON_SOFT_TRIGGER = ("OnNewImage", "Immediately")
DEFAULT_TRIGGER_CALC = "0"
MAX_CALC_CHARS = 99  # char triggerCalcInfix_[MAX_INFIX_SIZE]


class CircularBuffer:
    """One NDPluginCircularBuff's parameters and ring; attribute names follow the PVs.

    ``max_buffers`` is NDCircularBuffConfigure's maxBuffers (ADSimDetector's IOC: CBUFFS 500).
    """

    def __init__(self, max_buffers: int = 500) -> None:
        self.max_buffers = max_buffers
        self.capture = False  # Capture / Capture_RBV (CIRC_BUFF_CONTROL)
        self.status = "Idle"  # StatusMessage
        self.pre_count = 100
        self.post_count = 100
        self.preset_trigger_count = 1
        self.actual_trigger_count = 0
        self.current_qty = 0  # CurrentQty_RBV: arrays in the ring
        self.post_trigger_qty = 0  # PostTriggerQty_RBV
        self.soft_trigger = False  # Trigger (CIRC_BUFF_SOFT_TRIGGER)
        self.triggered = False  # Trigger_RBV
        self.flush_on_soft_trigger = "OnNewImage"
        self.trigger_a = ""
        self.trigger_b = ""
        self.trigger_a_val = 0.0
        self.trigger_b_val = 0.0
        self.trigger_calc = DEFAULT_TRIGGER_CALC
        self.trigger_calc_val = 0.0
        self._calc: Calc | None = None  # compiled on first use (loads libCom)
        self._calc_valid = True
        self._ring: deque | None = None
        self._previous_trigger = False

    # -- writes ----------------------------------------------------------------------------
    def put_capture(self, value: bool) -> None:
        """Capture: 1 starts a new ring (and resets the counts), 0 stops."""
        if value:
            self._ring = deque(maxlen=self.pre_count)
            self._previous_trigger = False
            self.soft_trigger = self.triggered = False
            self.post_trigger_qty = 0
            self.actual_trigger_count = 0
            self.status = "Buffer filling" if self.pre_count else "Dropping frames"
        else:
            self.soft_trigger = self.triggered = False
            self.current_qty = 0
            self.status = "Acquisition Stopped"
        self.capture = bool(value)

    def put_soft_trigger(self, value: bool) -> list[np.ndarray]:
        """Trigger: a non-zero write triggers; returns the arrays flushed at once (Immediately)."""
        self.soft_trigger = bool(value)
        if not value:
            return []
        self.triggered = True
        return self.flush() if self.flush_on_soft_trigger == "Immediately" else []

    def put_pre_count(self, value: int) -> bool:
        """PreCount: refused (False, with the reason in ``status``) while capturing or out of range."""
        if self.capture:
            self.status = "Stop acquisition to set pre-count"
        elif value > self.max_buffers - 1:
            self.status = "Pre-count too high"
        elif value < 0:
            self.status = "Invalid pre-count value"
        else:
            self.pre_count = int(value)
            return True
        return False

    def put_trigger_calc(self, expression: str) -> str | None:
        """TriggerCalc: stored (empty means "0"); returns libCom's error message if it does not compile.

        An expression that does not compile never triggers, as in ADCore.
        """
        expression = expression[:MAX_CALC_CHARS] or DEFAULT_TRIGGER_CALC
        self.trigger_calc = expression
        self._calc = None
        self._calc_valid = True
        try:
            self._calc = Calc(expression)
        except CalcError as err:
            self._calc_valid = False
            return str(err)
        return None

    # -- arrays ------------------------------------------------------------------------------
    def flush(self) -> list[np.ndarray]:
        """The ring's arrays, oldest first, and an empty ring."""
        if not self._ring:
            return []
        out = list(self._ring)
        self._ring.clear()
        return out

    def _calculate_trigger(self, attributes: Mapping[str, float]) -> bool:
        def value(name: str) -> float:
            try:
                return float(attributes[name])
            except (KeyError, TypeError, ValueError):
                return math.nan

        a, b = value(self.trigger_a), value(self.trigger_b)
        self.trigger_a_val, self.trigger_b_val = a, b
        if self._calc is None and self._calc_valid:
            self.put_trigger_calc(self.trigger_calc)
        if self._calc is None:
            return False
        result = self._calc(A=a, B=b, C=self.pre_count, D=self.post_count, E=self.current_qty,
                            F=float(self.triggered))
        if result is None:
            return False
        self.trigger_calc_val = result
        return math.isfinite(result) and result != 0

    def process(self, data: np.ndarray, attributes: Mapping[str, float] | None = None) -> list[np.ndarray]:
        """Take one array (with its attributes); returns the arrays to pass on, in order."""
        if not self.capture:
            return []
        if self.soft_trigger:
            self.triggered = True
        elif not self.triggered:
            self.triggered = self._calculate_trigger(attributes or {})
        out: list[np.ndarray] = []
        if not self.triggered:
            if self._ring is not None and self._ring.maxlen:
                self._ring.append(data)
            self.current_qty = len(self._ring) if self._ring is not None else 0
            if self.current_qty == self.pre_count:
                self.status = "Buffer Wrapping" if self.pre_count else "Dropping frames"
        else:
            self.status = "Flushing"
            if not self._previous_trigger:
                self._previous_trigger = True
                out += self.flush()
            self.post_trigger_qty += 1
            out.append(data)
        if self.post_trigger_qty >= self.post_count:
            self.actual_trigger_count += 1
            if self.preset_trigger_count == 0 or 0 < self.actual_trigger_count < self.preset_trigger_count:
                self._previous_trigger = False
                self.capture = True
                self.soft_trigger = self.triggered = False
                self.post_trigger_qty = 0
                self.status = "Buffer filling" if self.pre_count else "Dropping frames"
            else:
                self.triggered = False
                self.capture = False
                self.status = "Acquisition Completed"
        return out
