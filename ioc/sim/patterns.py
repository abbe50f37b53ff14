"""ADSimDetector's test patterns (``cam1:SimMode``) as pure numpy: LinearRamp, Peaks, Sine,
Offset&Noise, computed as ``simDetector.cpp`` (ADSimDetector) computes them for a mono sensor.

The driver keeps state between frames, and so does :class:`SimPatterns`: a *reset* (any
change of the simulation parameters, ``Gain``, the data type or the sensor, or a put to
``Reset``) recomputes the base images; between resets

* LinearRamp: pixel (row i, column j) starts at ``Gain * (GainX * j + GainY * i)`` and every
  further frame adds ``Gain`` to every pixel (integer types wrap, as in C);
* Peaks: a ``PeakNumX`` x ``PeakNumY`` grid of Gaussians of rms ``PeakWidthX/Y`` pixels and
  height ``Gain``, the first at (``PeakStartX``, ``PeakStartY``), spaced ``PeakStepX/Y``,
  cut at 4 sigma; each peak's height varies by ``PeakVariation`` % (uniform) per frame;
* Sine: ``Gain * (ysine[i] + xsine[j])``, where each of x and y is two sines, added or
  multiplied (``XSineOperation``/``YSineOperation``), ``A sin(2 pi (t f + phase / 360))`` with
  ``t = counter * GainX / SizeX``, the counter running on across frames (a moving pattern);
* Offset&Noise, and under every mode when ``Offset`` or ``Noise`` is not 0: a background
  ``Offset + Noise * uniform(0, 1)`` drawn once per reset and rolled by a random number of
  pixels every frame.

A value is converted to the data type as C converts it: truncated toward zero, integers
wrapping modulo their width (what x86 builds do with a negative value in an unsigned
type, which C leaves undefined). Colour modes are not simulated: the camera is mono.
Units: pixels, and counts of the chosen data type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SIM_MODES = ("LinearRamp", "Peaks", "Sine", "Offset&Noise")
SINE_OPERATIONS = ("Add", "Multiply")
MAX_PEAK_SIGMA = 4  # peaks are cut this many widths from their centre (simDetector.cpp)


@dataclass(frozen=True)
class Sine:
    """``amplitude * sin(2 pi (t * frequency + phase / 360))``; phase in degrees."""

    amplitude: float = 1.0
    frequency: float = 1.0
    phase: float = 0.0


@dataclass(frozen=True)
class SimParams:
    """The simDetector parameters, named as their PVs (``cam1:GainX`` -> ``gain_x``); start-up
    values as simDetector.cpp and simDetector.template set them."""

    mode: str = "LinearRamp"
    gain: float = 1.0
    gain_x: float = 1.0
    gain_y: float = 1.0
    offset: float = 0.0
    noise: float = 0.0
    peak_start_x: int = 1
    peak_start_y: int = 1
    peak_num_x: int = 1
    peak_num_y: int = 1
    peak_step_x: int = 1
    peak_step_y: int = 1
    peak_width_x: int = 10
    peak_width_y: int = 20
    peak_variation: float = 0.0  # %
    x_sine_operation: str = "Add"
    y_sine_operation: str = "Add"
    x_sine1: Sine = Sine(1.0, 1.0, 0.0)
    x_sine2: Sine = Sine(1.0, 2.0, 90.0)
    y_sine1: Sine = Sine(1.0, 1.0, 0.0)
    y_sine2: Sine = Sine(1.0, 2.0, 90.0)


def to_type(values: np.ndarray | float, dtype: np.dtype) -> np.ndarray:
    """``values`` converted as C converts a double to ``dtype``: truncation toward zero, and for
    integer types wrapping modulo 2**bits."""
    dtype = np.dtype(dtype)
    values = np.asarray(values, dtype=np.float64)
    if dtype.kind == "f":
        return values.astype(dtype, copy=False)
    if values.size:  # one cast when every value fits: numpy's cast truncates toward zero, as C's
        lo, hi = values.min(), values.max()  # NaN fails every comparison below
        info = np.iinfo(dtype)
        if info.min - 1 < lo and hi < info.max + 1:
            return values.astype(dtype)
        signed = np.dtype(f"i{dtype.itemsize}")  # the same bits, two's complement: wraps as C does
        if dtype.kind == "u" and np.iinfo(signed).min - 1 < lo and hi < np.iinfo(signed).max + 1:
            return values.astype(signed).view(dtype)
    t = np.trunc(np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0))
    bits = dtype.itemsize * 8
    if bits == 64:  # doubles hold 53 bits: past 2**63 saturate (the FPU's "integer indefinite")
        t = np.clip(t, -(2.0**63), 2.0**63 - 1024)
        return t.astype(np.int64).astype(dtype)
    return np.mod(t, 2.0**bits).astype(np.uint64).astype(dtype)


def _sine(s: Sine, t: np.ndarray) -> np.ndarray:
    return s.amplitude * np.sin((t * s.frequency + s.phase / 360.0) * 2.0 * math.pi)


def peak_kernel(width_x: int, width_y: int, gain: float, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """One peak as simDetector computes it once per reset: ``gain`` x a 2-D Gaussian of rms
    ``width_x`` x ``width_y`` pixels, 2 * 4 widths + 1 wide (less than the sensor), centred."""
    rows, cols = shape
    full_x = min(2 * MAX_PEAK_SIGMA * width_x + 1, cols - 1)
    full_y = min(2 * MAX_PEAK_SIGMA * width_y + 1, rows - 1)
    gx = np.exp(-(((np.arange(full_x) - full_x // 2) / width_x) ** 2) / 2.0)
    gy = np.exp(-(((np.arange(full_y) - full_y // 2) / width_y) ** 2) / 2.0)
    return to_type(gain * np.outer(gy, gx), dtype)


class SimPatterns:
    """simDetector's image computation with its state between frames (ramp, peak, background,
    sine counters). :meth:`frame` makes the next full-sensor frame."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._reset = True

    def reset(self) -> None:
        """Recompute the base images at the next frame (the ``Reset`` PV)."""
        self._reset = True

    def frame(self, params: SimParams, rng: np.random.Generator, shape: tuple[int, int],
              dtype: np.dtype) -> np.ndarray:
        """The next frame (rows x cols of ``dtype``) in ``params.mode``."""
        dtype = np.dtype(dtype)
        key = (params, tuple(shape), dtype)
        if key != self._key:
            self._reset = True
            self._key = key
        reset, self._reset = self._reset, False
        rows, cols = shape
        if reset:
            self._reset_state(params, rng, shape, dtype)
        raw = self._background_frame(rng) if self._background is not None else np.zeros(shape, dtype)
        if params.mode == "LinearRamp":
            if not reset:
                np.add(self._ramp, to_type(params.gain, dtype), out=self._ramp, casting="unsafe")
            np.add(raw, self._ramp, out=raw, casting="unsafe")
        elif params.mode == "Peaks":
            self._add_peaks(raw, params, rng)
        elif params.mode == "Sine":
            raw = self._add_sines(raw, params, shape, dtype)
        return raw

    def _reset_state(self, params: SimParams, rng: np.random.Generator, shape: tuple[int, int],
                     dtype: np.dtype) -> None:
        rows, cols = shape
        offset = to_type(params.offset, dtype)
        self._background = None
        if params.noise != 0 or offset != 0:
            if params.noise == 0:
                self._background = np.full(shape, offset, dtype)
            else:
                self._background = to_type(params.noise * rng.random(shape) + float(params.offset), dtype)
        inc = float(to_type(params.gain, dtype))
        jj, ii = np.arange(cols, dtype=np.float64), np.arange(rows, dtype=np.float64)
        self._ramp = to_type(inc * (params.gain_x * jj[None, :] + params.gain_y * ii[:, None]), dtype)
        self._kernel = (peak_kernel(params.peak_width_x, params.peak_width_y, params.gain, shape, dtype)
                        if params.mode == "Peaks" else None)
        self._x_counter = 0
        self._y_counter = 0

    def _background_frame(self, rng: np.random.Generator) -> np.ndarray:
        """The background rolled by a random number of pixels (simDetector copies it from a
        random start, wrapping around)."""
        flat = self._background.ravel()
        start = int(flat.size * rng.random())
        return np.roll(flat, -start).reshape(self._background.shape)

    def _add_peaks(self, raw: np.ndarray, params: SimParams, rng: np.random.Generator) -> None:
        rows, cols = raw.shape
        kernel = self._kernel.astype(np.float64)
        full_y, full_x = kernel.shape
        for i in range(params.peak_num_y):
            for j in range(params.peak_num_x):
                variation = (1.0 + params.peak_variation / 100.0 * (rng.random() - 0.5)
                             if params.peak_variation != 0 else 1.0)
                y0 = i * params.peak_step_y + params.peak_start_y - full_y // 2
                x0 = j * params.peak_step_x + params.peak_start_x - full_x // 2
                ya, yb = max(y0, 0), min(y0 + full_y, rows)
                xa, xb = max(x0, 0), min(x0 + full_x, cols)
                if ya >= yb or xa >= xb:
                    continue
                window = raw[ya:yb, xa:xb]
                window[...] = to_type(window + variation * kernel[ya - y0:yb - y0, xa - x0:xb - x0], raw.dtype)

    def _add_sines(self, raw: np.ndarray, params: SimParams, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
        rows, cols = shape
        tx = (self._x_counter + np.arange(cols)) * params.gain_x / cols
        ty = (self._y_counter + np.arange(rows)) * params.gain_y / rows
        self._x_counter += cols
        self._y_counter += rows
        x1, x2 = _sine(params.x_sine1, tx), _sine(params.x_sine2, tx)
        y1, y2 = _sine(params.y_sine1, ty), _sine(params.y_sine2, ty)
        xs = x1 + x2 if params.x_sine_operation == "Add" else x1 * x2
        ys = y1 + y2 if params.y_sine_operation == "Add" else y1 * y2
        sine = np.add.outer(ys, xs)
        sine *= params.gain
        return np.add(raw, to_type(sine, dtype), casting="unsafe", dtype=dtype)
