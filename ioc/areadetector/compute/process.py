"""NDPluginProcess's arithmetic: background, flat field, offset/scale, clipping, recursive filter.

As NDPluginProcess::processCallbacks does it. If nothing is enabled the array is only
converted to DataTypeOut. Otherwise it is converted to double and, element by element::

    value = input
    value -= background                       (EnableBackground, ValidBackground)
    value *= ScaleFlatField / flat  where flat != 0   (EnableFlatField, ValidFlatField)
    value = (value + Offset) * Scale          (EnableOffsetScale)
    value = HighClipValue  if value > HighClipThresh   (EnableHighClip)
    value = LowClipValue   if value < LowClipThresh    (EnableLowClip, after the high clip)

then the recursive filter (EnableFilter), with N = NumFiltered::

    on reset:  F = ROffset + RC1*F + RC2*value   (F is a copy of value if there was none)
    O = OOffset + OScale*((OC1 + OC2/N)*F + (OC3 + OC4/N)*value)
    F = FOffset + FScale*((FC1 + FC2/N)*F + (FC3 + FC4/N)*value)

(a term whose coefficient is 0 is skipped, as the C code skips it) and the conversion to
DataTypeOut (truncation toward zero, no clipping: a negative difference in an unsigned
output wraps, as in ADCore). NumFiltered counts up to NumFilter; ResetFilter, or
AutoResetFilter once NumFiltered reached NumFilter, resets the filter; with FilterCallbacks
"Array N only" an output is passed on only when NumFiltered equals NumFilter.

SaveBackground/SaveFlatField copy the plugin's last *output* array (ADCore's pArrays[0]) to
double: save them with background/flat field disabled, as ADCore's documentation says. They
are valid for arrays with the same number of elements. AutoOffsetScale measures the next
array's min and max and sets Offset = -min, Scale = (2**bits - 1)/(max - min) of the output
type, LowClipThresh 0, HighClipThresh 2**bits - 1 and enables offset/scale and both clips
(it does not touch the clip values), from the following array on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .ndarray import AUTOMATIC, c_cast, output_dtype

#: FilterType's menu (its raw values are 1..6) and the coefficients each preset writes,
#: from NDProcess.template's RecursiveAveSeq ... CopyToFilterSeq; "1/N" is NumFilterRecip.
FILTER_TYPES = ("RecursiveAve", "Average", "Sum", "Difference", "RecursiveAveDiff", "CopyToFilter")
_PRESETS = {  # oc1, oc2, oc3, oc4, fc1, fc2, fc3, fc4, rc1, rc2
    "RecursiveAve": (1, -1, 0, 1, 1, -1, 0, 1, 0, 1),
    "Average": (1, 0, "1/N", 0, 1, 0, "1/N", 0, 0, 0),
    "Sum": (1, 0, 1, 0, 1, 0, 1, 0, 0, 0),
    "Difference": (-1, 0, 1, 0, 0, 0, 1, 0, 0, 1),
    "RecursiveAveDiff": (-1, 0, 1, 0, 1, -1, 0, 1, 0, 1),
    "CopyToFilter": (0, 0, 1, 0, 0, 0, 1, 0, 0, 1),
}
FILTER_CALLBACKS = ("Every array", "Array N only")


def filter_preset(filter_type: str, num_filter: int) -> dict[str, float]:
    """The coefficients (oc1..oc4, fc1..fc4, rc1, rc2) FilterType writes for ``num_filter``.

    NumFilterRecip is the calc record ``1./A``: infinite for NumFilter 0, as EPICS computes it.
    """
    try:
        values = _PRESETS[filter_type]
    except KeyError:
        raise ValueError(f"FilterType {filter_type!r}: expected one of {', '.join(FILTER_TYPES)}") from None
    recip = 1.0 / num_filter if num_filter else float("inf")
    names = ("oc1", "oc2", "oc3", "oc4", "fc1", "fc2", "fc3", "fc4", "rc1", "rc2")
    return {n: float(recip if v == "1/N" else v) for n, v in zip(names, values, strict=True)}


@dataclass
class ProcessSettings:
    """NDPluginProcess's parameters, with NDProcess.template's start-up values.

    The plugin writes some back as ADCore does (see :meth:`Process.process`).
    """

    data_type: str = AUTOMATIC  # DataTypeOut
    enable_background: bool = False
    enable_flat_field: bool = False
    scale_flat_field: float = 255.0
    enable_offset_scale: bool = False
    auto_offset_scale: bool = False
    offset: float = 0.0
    scale: float = 1.0
    enable_low_clip: bool = False
    low_clip_thresh: float = 0.0
    low_clip_value: float = 0.0
    enable_high_clip: bool = False
    high_clip_thresh: float = 100.0
    high_clip_value: float = 100.0
    enable_filter: bool = False
    reset_filter: bool = False
    auto_reset_filter: bool = False
    filter_callbacks: str = "Every array"
    num_filter: int = 1
    o_offset: float = 0.0
    o_scale: float = 1.0
    oc1: float = 1.0
    oc2: float = -1.0
    oc3: float = 0.0
    oc4: float = 1.0
    f_offset: float = 0.0
    f_scale: float = 1.0
    fc1: float = 1.0
    fc2: float = -1.0
    fc3: float = 0.0
    fc4: float = 1.0
    r_offset: float = 0.0
    rc1: float = 1.0
    rc2: float = 1.0

    def apply_filter_type(self, filter_type: str) -> None:
        """Write FilterType's preset coefficients (its FLNK chain), for the current NumFilter."""
        for name, value in filter_preset(filter_type, self.num_filter).items():
            setattr(self, name, value)

    def copy(self) -> ProcessSettings:
        return ProcessSettings(**{f.name: getattr(self, f.name) for f in fields(self)})


class Process:
    """One NDPluginProcess: its settings and what it keeps between arrays.

    ``background``, ``flat_field`` and the filter are float64 arrays kept flat (ADCore
    compares them with an array by element count only); ``last_output`` is the array last
    passed on (pArrays[0]).
    """

    def __init__(self, settings: ProcessSettings | None = None) -> None:
        self.settings = settings if settings is not None else ProcessSettings()
        self._background: np.ndarray | None = None
        self._background_as: dict[np.dtype, np.ndarray | None] = {}  # exact integer copies, by dtype
        self.flat_field: np.ndarray | None = None
        self.filter: np.ndarray | None = None
        self.num_filtered = 0
        self.last_output: np.ndarray | None = None
        self._scratch: np.ndarray | None = None  # the filter's work array, kept between arrays
        self._work: np.ndarray | None = None  # the double copy of the input, when not the output
        self._flat_cache: tuple | None = None  # (ScaleFlatField, flat field, factor, where non-zero)

    @property
    def background(self) -> np.ndarray | None:
        """The saved background, float64, flat."""
        return self._background

    @background.setter
    def background(self, value: np.ndarray | None) -> None:
        self._background = None if value is None else np.array(value, dtype=np.float64).ravel()
        self._background_as = {}

    # -- commands ------------------------------------------------------------------------
    def save_background(self) -> bool:
        """SaveBackground: the last output becomes the background; returns ValidBackground."""
        self.background = self.last_output
        return self.background is not None

    def _integer_background(self, dtype: np.dtype) -> np.ndarray | None:
        """The background as ``dtype`` when subtracting it in that unsigned type is exact.

        For an unsigned input of at most 32 bits converted to its own type, ``input - bg``
        in double then truncated to the type equals the subtraction modulo 2**bits when the
        background holds integers in ``[0, min(type max, 2**31))``: every difference is an
        integer above -2**31, which the conversion wraps as the modular subtraction does.
        """
        if dtype not in self._background_as:
            bg, typed = self.background, None
            if dtype.kind == "u" and dtype.itemsize <= 4 and bg is not None and bg.size:
                lo, hi = float(bg.min()), float(bg.max())
                if lo >= 0 and hi < min(2.0**31, np.iinfo(dtype).max + 1.0) and np.array_equal(bg, np.floor(bg)):
                    typed = bg.astype(dtype)
            self._background_as[dtype] = typed
        return self._background_as[dtype]

    def save_flat_field(self) -> bool:
        """SaveFlatField: the last output becomes the flat field; returns ValidFlatField."""
        self.flat_field = None if self.last_output is None else self.last_output.astype(np.float64).ravel()
        return self.flat_field is not None

    def _flat_factor(self, scale: float) -> tuple[np.ndarray, np.ndarray | bool]:
        """``ScaleFlatField / flat`` and where flat is not 0 (True: everywhere), kept per scale."""
        if self._flat_cache is None or self._flat_cache[0] != scale or self._flat_cache[1] is not self.flat_field:
            with np.errstate(divide="ignore", invalid="ignore"):
                factor = scale / self.flat_field
            nonzero = self.flat_field != 0
            self._flat_cache = (scale, self.flat_field, factor, True if nonzero.all() else nonzero)
        return self._flat_cache[2], self._flat_cache[3]

    def valid_background(self, size: int) -> bool:
        return self.background is not None and self.background.size == size

    def valid_flat_field(self, size: int) -> bool:
        return self.flat_field is not None and self.flat_field.size == size

    # -- one array -----------------------------------------------------------------------
    def process(self, data: np.ndarray) -> np.ndarray | None:
        """The output for ``data`` (never modified), or None when FilterCallbacks holds it back.

        Writes back into ``settings`` what ADCore writes into its parameters: ResetFilter
        to False; after AutoOffsetScale, Offset, Scale, LowClipThresh, HighClipThresh, the
        three enables, and AutoOffsetScale to False. NumFiltered is ``num_filtered``.
        """
        s = self.settings
        out_type = output_dtype(s.data_type, data.dtype)
        reset = s.reset_filter
        s.reset_filter = False
        n = data.size
        background = self.background if s.enable_background and self.valid_background(n) else None
        flat = self.flat_field if s.enable_flat_field and self.valid_flat_field(n) else None
        if not (background is not None or flat is not None or s.enable_offset_scale or s.auto_offset_scale
                or s.enable_high_clip or s.enable_low_clip or s.enable_filter):
            out = np.ascontiguousarray(c_cast(data, out_type))
            self.last_output = out
            return out

        only_background = background is not None and flat is None and not (
            s.enable_offset_scale or s.auto_offset_scale or s.enable_high_clip or s.enable_low_clip
            or s.enable_filter)
        if only_background and out_type == data.dtype and data.flags.c_contiguous:
            typed = self._integer_background(out_type)
            if typed is not None:  # the same values as the double path below, in one pass
                out = np.subtract(data.reshape(-1), typed).reshape(data.shape)
                self.last_output = out
                return out

        if out_type == np.float64:  # the double array is the output: a new one
            value = np.array(data, dtype=np.float64, order="C").reshape(-1)
        else:  # a work array kept between arrays (a new one each time costs its page faults)
            if self._work is None or self._work.size != n:
                self._work = np.empty(n, dtype=np.float64)
            value = self._work
            np.copyto(value.reshape(data.shape), data)
        low, high = 0.0, 1.0
        if s.auto_offset_scale and n:  # C compares from element 0 on: NaNs after it are skipped
            low = high = float(value[0])
            if low == low:
                low, high = float(np.fmin.reduce(value)), float(np.fmax.reduce(value))
        if background is not None:
            value -= background
        if flat is not None:
            factor, nonzero = self._flat_factor(s.scale_flat_field)
            np.multiply(value, factor, out=value, where=nonzero)
        if s.enable_offset_scale:
            value += s.offset
            value *= s.scale
        # Replacing by the threshold itself is a min/max (branch-free, ~10x faster than a mask).
        if s.enable_high_clip:
            if s.high_clip_value == s.high_clip_thresh:
                np.minimum(value, s.high_clip_thresh, out=value)
            else:
                np.copyto(value, s.high_clip_value, where=value > s.high_clip_thresh)
        if s.enable_low_clip:
            if s.low_clip_value == s.low_clip_thresh:
                np.maximum(value, s.low_clip_thresh, out=value)
            else:
                np.copyto(value, s.low_clip_value, where=value < s.low_clip_thresh)

        do_callbacks = True
        if s.enable_filter:
            value, do_callbacks = self._filter(value, reset)

        out = None
        if do_callbacks:
            # The filter array itself may be the output: pass on a copy, the filter changes.
            out = c_cast(value, out_type, copy=value is self.filter).reshape(data.shape)
            self.last_output = out
        if s.auto_offset_scale and out is not None and high > low:
            max_scale = 2.0 ** (8 * out_type.itemsize) - 1
            s.scale = max_scale / (high - low)
            s.offset = -low
            s.low_clip_thresh = 0.0
            s.high_clip_thresh = max_scale
            s.enable_offset_scale = s.enable_low_clip = s.enable_high_clip = True
        if s.auto_offset_scale and self.last_output is not None:
            s.auto_offset_scale = False
        return out

    def _filter(self, value: np.ndarray, reset: bool) -> tuple[np.ndarray, bool]:
        s = self.settings
        num_filter = max(int(s.num_filter), 1)
        if self.filter is not None and self.filter.size != value.size:
            self.filter = None
        if self.filter is None:
            self.filter = value.copy()
            reset = True
        if self.num_filtered >= num_filter and s.auto_reset_filter:
            reset = True
        f = self.filter
        if self._scratch is None or self._scratch.size != value.size:
            self._scratch = np.empty_like(value)
        if reset:
            _combine(s.r_offset, s.rc1, f, s.rc2, value, f, self._scratch)
            self.num_filtered = 0
        if self.num_filtered < num_filter:
            self.num_filtered += 1
        k = self.num_filtered
        o1, o2 = s.o_scale * (s.oc1 + s.oc2 / k), s.o_scale * (s.oc3 + s.oc4 / k)
        f1, f2 = s.f_scale * (s.fc1 + s.fc2 / k), s.f_scale * (s.fc3 + s.fc4 / k)
        if (s.f_offset, f1, f2) == (s.o_offset, o1, o2):
            # O[n] = F[n] (RecursiveAve, Average, Sum): compute it once, into the filter
            # (``value`` is not needed afterwards, so it holds b*value).
            output = _combine(s.o_offset, o1, f, o2, value, f, value)
        else:
            output = _combine(s.o_offset, o1, f, o2, value, np.empty_like(value), self._scratch)
            _combine(s.f_offset, f1, f, f2, value, f, self._scratch)  # the new filter, in place of the old
        hold = self.num_filtered != num_filter and s.filter_callbacks == FILTER_CALLBACKS[1]
        return output, not hold


def _combine(offset: float, a: float, f: np.ndarray, b: float, value: np.ndarray, out: np.ndarray,
             scratch: np.ndarray) -> np.ndarray:
    """``out = offset + a*f + b*value`` as the C code evaluates it (a zero term is skipped);
    ``out`` may be ``f``. Adding an offset of 0 is skipped too: it changes no value."""
    if a:
        np.multiply(f, a, out=out)
        if offset:
            out += offset
    else:
        out.fill(offset)
    if b:
        np.multiply(value, b, out=scratch)
        out += scratch
    return out
