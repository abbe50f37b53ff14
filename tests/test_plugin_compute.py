"""The plugins' arithmetic (``ioc.areadetector.compute``) against ADCore's semantics.

Each computation is compared with an independent statement of what ADCore's C++ does
(ADApp/pluginSrc at the commit in tests/data/adcore_templates.json): plain Python loops
that follow the C code element by element on small arrays (hypothesis draws the arrays and
settings), or explicit index formulas. The chain the issue names (a background saved by
Proc1 with the beam dumped, ROI1 on Proc1's output, Stats on ROI1's) is checked on frames
of ``ioc.sim.physics``, statistically, with fixed seeds.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ioc.areadetector.compute import color_convert, overlay, process, roi, roi_stat, transform
from ioc.areadetector.compute.calc import Calc, CalcError
from ioc.areadetector.compute.circular_buffer import CircularBuffer
from ioc.areadetector.compute.ndarray import DATA_TYPES, NUMPY_TYPES
from ioc.sim import physics

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- a C conversion, spelled out ---------------------------------------------------------------
def c_value(value, dtype: np.dtype):
    """``(type)value`` as C converts it, or None where C leaves it undefined (a float outside
    the range gcc's x86-64 conversion and numpy's agree on: beyond int32 for 8 to 32-bit
    types, except UInt32 up to 2**32; beyond int64 for 64-bit ones; NaN)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        with np.errstate(over="ignore"):
            return dtype.type(value)
    if isinstance(value, float):
        if value != value:
            return None
        v = math.trunc(value) if math.isfinite(value) else None
        low, high = (-(2**63), 2**63) if dtype.itemsize == 8 else (-(2**31), 2**32 if dtype == np.uint32 else 2**31)
        if v is None or not low < v < high:
            return None
    else:
        v = int(value)
    bits = 8 * dtype.itemsize
    v %= 2**bits
    if dtype.kind == "i" and v >= 2 ** (bits - 1):
        v -= 2**bits
    return dtype.type(v)


def c_array(values, dtype: np.dtype, shape) -> tuple[np.ndarray, np.ndarray]:
    """Values converted as C does, and where that is defined."""
    converted = [c_value(v, dtype) for v in values]
    defined = np.array([c is not None for c in converted]).reshape(shape)
    return np.array([0 if c is None else c for c in converted], dtype=dtype).reshape(shape), defined


def add(acc, term, dtype: np.dtype):
    """``acc += term`` in C arithmetic of ``dtype`` (integers wrap, Float32 in single precision)."""
    if np.dtype(dtype).kind == "f":
        return np.dtype(dtype).type(acc + term)
    return c_value(int(acc) + int(term), dtype)


small_arrays = st.sampled_from(["uint8", "uint16", "int16", "uint32", "int32", "float32", "float64"]).flatmap(
    lambda t: st.tuples(st.integers(1, 7), st.integers(1, 9)).flatmap(
        lambda shape: st.lists(st.integers(0, 255), min_size=shape[0] * shape[1], max_size=shape[0] * shape[1])
        .map(lambda v, shape=shape, t=t: np.array(v, dtype=t).reshape(shape))))


# -- NDPluginROI -----------------------------------------------------------------------------
def roi_reference(a: np.ndarray, s: roi.RoiSettings) -> np.ndarray:
    """NDPluginROI::processCallbacks + NDArrayPool::convert for a 2-D mono array, as loops."""
    ny_in, nx_in = a.shape
    used = []
    for d, n in ((s.x, nx_in), (s.y, ny_in)):
        if d.enable:
            off = d.min if d.min >= 0 else d.min + 2**64  # size_t
            off = min(max(off, 0), n - 1)
            size = n if d.auto_size else (d.size if d.size >= 0 else d.size + 2**64)
            size = min(max(size, 1), n - off)
            b = min(max(d.bin, 1), size)
        else:
            off, size, b = 0, n, 1
        used.append((off, size // b, b, d.reverse))
    out_t = a.dtype if s.data_type == "Automatic" else NUMPY_TYPES[s.data_type]
    scaled = s.enable_scale and s.scale not in (0, 1)
    acc_t = np.dtype(np.float64) if scaled else out_t
    (ox, nx, bx, rx), (oy, ny, by, ry) = used
    out = [[acc_t.type(0)] * nx for _ in range(ny)]
    for j in range(ny):  # convertDim: outer dimension first, each bin of it, then the inner one
        for bj in range(by):
            k = j * by + bj
            yy = oy + ny * by - 1 - k if ry else oy + k
            for i in range(nx):
                for bi in range(bx):
                    k = i * bx + bi
                    xx = ox + nx * bx - 1 - k if rx else ox + k
                    pixel = a[yy, xx].item()
                    out[j][i] = add(out[j][i], c_value(pixel, acc_t), acc_t)
    if scaled:  # small sums: the conversion is defined
        out = [[c_value(v / s.scale, out_t) for v in row] for row in out]
    return np.array(out, dtype=out_t).reshape(ny, nx)


dims = st.builds(roi.RoiDim, min=st.integers(-3, 10), size=st.integers(-2, 12), bin=st.integers(-1, 4),
                 reverse=st.booleans(), enable=st.booleans(), auto_size=st.booleans())
roi_settings = st.builds(roi.RoiSettings, x=dims, y=dims,
                         data_type=st.sampled_from(["Automatic", "UInt8", "Int16", "UInt32", "Int32", "Float32",
                                                    "Float64"]),
                         enable_scale=st.booleans(), scale=st.sampled_from([0.0, 1.0, 2.0, 3.5, -2.0, 9.0]))


@FAST
@given(small_arrays, roi_settings)
def test_roi_crops_bins_reverses_scales_and_converts_as_adcore(a, s):
    expected = roi_reference(a, s)
    requested_bins = (s.x.bin, s.y.bin)
    result = roi.roi(a, s)
    assert result.data.dtype == expected.dtype
    np.testing.assert_array_equal(result.data, expected)
    assert result.array_size == (expected.shape[1], expected.shape[0], 0)
    assert result.max_size == (a.shape[1], a.shape[0], 0)
    for d, region, requested in zip((s.x, s.y), result.regions, requested_bins, strict=True):
        if d.enable:  # BinX keeps the clamped binning, as ADCore stores it in the parameter
            assert d.bin == region.bin == min(max(requested, 1), region.size)


def test_roi_bins_sum_and_scale_divides():
    a = np.ones((6, 6), dtype=np.uint16)
    s = roi.RoiSettings()
    s.x.bin = s.y.bin = 3
    assert (roi.roi(a, s).data == 9).all()
    s.enable_scale, s.scale = True, 9.0  # "all pixels 1, binned 3x3, scale 9 gives 1" (NDPluginROI.cpp)
    assert (roi.roi(a, s).data == 1).all()


def test_roi_defaults_pass_the_frame_and_autosize_takes_the_rest():
    frame = np.arange(480 * 640, dtype=np.uint32).reshape(480, 640)
    result = roi.roi(frame, roi.RoiSettings())  # SizeX/Y 1000000: clamped to the frame
    assert result.data is frame and result.array_size == (640, 480, 0)
    s = roi.RoiSettings()
    s.x.min, s.x.size, s.x.auto_size = 600, 5, True
    assert roi.roi(frame, s).data.shape == (480, 40)


def test_roi_collapses_single_rows_and_an_rgb_colour_plane():
    a = np.arange(20, dtype=np.uint8).reshape(4, 5)
    s = roi.RoiSettings(collapse_dims=True)
    s.y.min, s.y.size = 2, 1
    result = roi.roi(a, s)
    assert result.data.shape == (5,) and result.array_size == (5, 0, 0)
    np.testing.assert_array_equal(result.data, a[2])
    rgb1 = np.arange(4 * 5 * 3, dtype=np.uint16).reshape(4, 5, 3)  # dims [3, X=5, Y=4]
    s = roi.RoiSettings()
    s.x.min, s.x.size, s.z.min, s.z.size = 1, 3, 2, 1  # X is the image's x; Z the colour
    result = roi.roi(rgb1, s, "RGB1")
    assert result.color_mode == "Mono" and result.data.shape == (4, 3)
    np.testing.assert_array_equal(result.data, rgb1[:, 1:4, 2])


# -- NDPluginProcess ---------------------------------------------------------------------------
class ProcessReference:
    """NDPluginProcess::processCallbacks and writeInt32, element by element."""

    def __init__(self) -> None:
        self.background = self.flat = self.filter = self.last = None
        self.defined = None  # where the last output's C conversion is defined
        self.num_filtered = 0

    def save_background(self):
        self.background = None if self.last is None else [float(v) for v in self.last.ravel()]

    def save_flat_field(self):
        self.flat = None if self.last is None else [float(v) for v in self.last.ravel()]

    def process(self, frame: np.ndarray, s: process.ProcessSettings):
        out_t = frame.dtype if s.data_type == "Automatic" else NUMPY_TYPES[s.data_type]
        reset = s.reset_filter
        s.reset_filter = False
        n = frame.size
        bg = self.background if s.enable_background and self.background and len(self.background) == n else None
        flat = self.flat if s.enable_flat_field and self.flat and len(self.flat) == n else None
        if not (bg or flat or s.enable_offset_scale or s.auto_offset_scale or s.enable_high_clip
                or s.enable_low_clip or s.enable_filter):
            self.last, self.defined = c_array(frame.ravel().tolist(), out_t, frame.shape)
            return self.last
        data = [float(v) for v in frame.ravel()]
        lo = hi = data[0]
        for i in range(n):
            value = data[i]
            if s.auto_offset_scale:
                lo, hi = min(lo, data[i]), max(hi, data[i])
            if bg:
                value -= bg[i]
            if flat and flat[i] != 0.0:
                value *= s.scale_flat_field / flat[i]
            if s.enable_offset_scale:
                value = (value + s.offset) * s.scale
            if s.enable_high_clip and value > s.high_clip_thresh:
                value = s.high_clip_value
            if s.enable_low_clip and value < s.low_clip_thresh:
                value = s.low_clip_value
            data[i] = value
        callbacks = True
        if s.enable_filter:
            num_filter = max(s.num_filter, 1)
            if self.filter is not None and len(self.filter) != n:
                self.filter = None
            if self.filter is None:
                self.filter = list(data)
                reset = True
            if self.num_filtered >= num_filter and s.auto_reset_filter:
                reset = True
            f = self.filter
            if reset:
                for i in range(n):
                    v = s.r_offset
                    if s.rc1:
                        v += s.rc1 * f[i]
                    if s.rc2:
                        v += s.rc2 * data[i]
                    f[i] = v
                self.num_filtered = 0
            if self.num_filtered < num_filter:
                self.num_filtered += 1
            k = self.num_filtered
            o1, o2 = s.o_scale * (s.oc1 + s.oc2 / k), s.o_scale * (s.oc3 + s.oc4 / k)
            f1, f2 = s.f_scale * (s.fc1 + s.fc2 / k), s.f_scale * (s.fc3 + s.fc4 / k)
            for i in range(n):
                new_data, new_filter = s.o_offset, s.f_offset
                if o1:
                    new_data += o1 * f[i]
                if o2:
                    new_data += o2 * data[i]
                if f1:
                    new_filter += f1 * f[i]
                if f2:
                    new_filter += f2 * data[i]
                data[i], f[i] = new_data, new_filter
            callbacks = not (self.num_filtered != num_filter and s.filter_callbacks == "Array N only")
        out = None
        if callbacks:
            out, self.defined = c_array(data, out_t, frame.shape)
            self.last = out
        if s.auto_offset_scale and out is not None and hi > lo:
            top = 2.0 ** (8 * out_t.itemsize) - 1
            s.scale, s.offset, s.low_clip_thresh, s.high_clip_thresh = top / (hi - lo), -lo, 0.0, top
            s.enable_offset_scale = s.enable_low_clip = s.enable_high_clip = True
        if s.auto_offset_scale and self.last is not None:
            s.auto_offset_scale = False
        return out


coefficient = st.sampled_from([0.0, 1.0, -1.0, 0.5, 0.1, 2.0])
process_settings = st.builds(
    process.ProcessSettings,
    data_type=st.sampled_from(["Automatic", "UInt8", "UInt16", "Int32", "Float32", "Float64"]),
    enable_background=st.booleans(), enable_flat_field=st.booleans(),
    scale_flat_field=st.sampled_from([255.0, 1.0, 1000.0]), enable_offset_scale=st.booleans(),
    auto_offset_scale=st.booleans(), offset=st.sampled_from([0.0, -100.0, 12.5]),
    scale=st.sampled_from([1.0, 0.5, 3.0, -1.0]), enable_low_clip=st.booleans(),
    low_clip_thresh=st.sampled_from([0.0, 50.0]), low_clip_value=st.sampled_from([0.0, 7.0]),
    enable_high_clip=st.booleans(), high_clip_thresh=st.sampled_from([100.0, 600.0]),
    high_clip_value=st.sampled_from([100.0, 1.0]), enable_filter=st.booleans(), reset_filter=st.booleans(),
    auto_reset_filter=st.booleans(), filter_callbacks=st.sampled_from(process.FILTER_CALLBACKS),
    num_filter=st.integers(0, 3), o_offset=coefficient, o_scale=coefficient, oc1=coefficient, oc2=coefficient,
    oc3=coefficient, oc4=coefficient, f_offset=coefficient, f_scale=coefficient, fc1=coefficient,
    fc2=coefficient, fc3=coefficient, fc4=coefficient, r_offset=coefficient, rc1=coefficient, rc2=coefficient)


@FAST
@given(process_settings, st.sampled_from(["uint16", "uint32", "float32"]), st.integers(0, 2**32 - 1))
def test_process_follows_processcallbacks_over_a_sequence_of_arrays(s, dtype, seed):
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 1000, (3, 4)).astype(dtype) for _ in range(5)]
    frames[1][0, 0] = 0  # a zero in the flat field: those pixels are left undivided
    plugin, reference = process.Process(s.copy()), ProcessReference()
    ref_settings = s.copy()
    for n, frame in enumerate(frames):
        out, expected = plugin.process(frame), reference.process(frame, ref_settings)
        if expected is None:
            assert out is None
        else:
            assert out.dtype == expected.dtype and out.shape == frame.shape
            np.testing.assert_array_equal(out[reference.defined], expected[reference.defined])
        assert plugin.num_filtered == reference.num_filtered
        assert plugin.settings == ref_settings  # what ADCore writes back: ResetFilter, AutoOffsetScale...
        if reference.defined is not None and not reference.defined.all():
            return  # an undefined conversion was saved or filtered: the rest is not ADCore's to say
        if n == 0:
            plugin.save_background(), reference.save_background()
        if n == 1:
            plugin.save_flat_field(), reference.save_flat_field()


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32"])
def test_integer_background_subtraction_equals_the_double_path(dtype):
    """The one-pass unsigned subtraction gives what double arithmetic and the C cast give,
    negative differences wrapping as in ADCore (Automatic keeps the camera's unsigned type)."""
    rng = np.random.default_rng(7)
    top = min(np.iinfo(dtype).max, 5000)
    dark, frame = (rng.integers(0, top, (40, 50)).astype(dtype) for _ in range(2))
    fast = process.Process(process.ProcessSettings(enable_background=True))
    fast.last_output = dark
    fast.save_background()
    out = fast.process(frame)
    expected = (frame.astype(np.float64) - dark.astype(np.float64)).astype(np.int64).astype(dtype)
    np.testing.assert_array_equal(out, expected)
    wrapped = frame.astype(np.int64) - dark + 2 ** (8 * out.dtype.itemsize)  # modulo 2**bits, not clipped to 0
    assert out.dtype == np.dtype(dtype) and (out[frame < dark] == wrapped[frame < dark]).all()


def test_filter_presets_are_the_templates_sequences():
    s = process.ProcessSettings(num_filter=4)
    s.apply_filter_type("Average")
    assert (s.oc1, s.oc2, s.oc3, s.oc4, s.fc1, s.fc2, s.fc3, s.fc4, s.rc1, s.rc2) == \
        (1, 0, 0.25, 0, 1, 0, 0.25, 0, 0, 0)
    frames = [np.full((2, 2), v, dtype=np.uint16) for v in (10, 20, 30, 40, 50, 60, 70, 80)]
    for name, expect in [("Sum", [100, 260]), ("Average", [25, 65])]:
        p = process.Process(process.ProcessSettings(enable_filter=True, num_filter=4, auto_reset_filter=True,
                                                    filter_callbacks="Array N only", data_type="Float64"))
        p.settings.apply_filter_type(name)
        outs = [p.process(f) for f in frames]
        assert [o is None for o in outs] == [True, True, True, False] * 2
        assert [o[0, 0] for o in outs if o is not None] == expect
    p = process.Process(process.ProcessSettings(enable_filter=True, num_filter=100, data_type="Float64"))
    p.settings.apply_filter_type("Difference")
    assert [p.process(f)[0, 0] for f in frames[:3]] == [0, 10, 10]  # O = I[n] - F, F = I[n-1]; at first F = I


def test_auto_offset_scale_sets_the_parameters_for_the_next_arrays():
    p = process.Process(process.ProcessSettings(auto_offset_scale=True, data_type="UInt8"))
    p.process(np.array([[100, 200], [300, 355]], dtype=np.uint16))
    s = p.settings
    assert not s.auto_offset_scale and s.enable_offset_scale and s.enable_low_clip and s.enable_high_clip
    assert (s.offset, s.scale, s.low_clip_thresh, s.high_clip_thresh) == (-100.0, 1.0, 0.0, 255.0)
    np.testing.assert_array_equal(p.process(np.array([[100, 355]], dtype=np.uint16)), [[0, 255]])


# -- NDPluginTransform -------------------------------------------------------------------------
def transform_reference(a: np.ndarray, kind: str) -> np.ndarray:
    """NDPluginTransform.cpp's mono index formulas, one pixel at a time."""
    ny, nx = a.shape
    swapped = kind in ("Rot90", "Rot270", "Rot90Mirror", "Rot270Mirror")
    out = np.zeros((nx, ny) if swapped else (ny, nx), a.dtype)
    for y in range(ny):
        for x in range(nx):
            target = {"None": (y, x), "Rot90": (x, ny - 1 - y), "Rot180": (ny - 1 - y, nx - 1 - x),
                      "Rot270": (nx - 1 - x, y), "Mirror": (y, nx - 1 - x), "Rot90Mirror": (x, y),
                      "Rot180Mirror": (ny - 1 - y, x), "Rot270Mirror": (nx - 1 - x, ny - 1 - y)}[kind]
            out[target] = a[y, x]
    return out


@pytest.mark.parametrize("kind", transform.TRANSFORMS)
def test_transforms_move_pixels_as_adcore(kind):
    a = np.arange(3 * 5, dtype=np.int32).reshape(3, 5)
    out = transform.transform(a, kind)
    np.testing.assert_array_equal(out, transform_reference(a, kind))
    assert out.flags.c_contiguous and transform.array_size(out) == (out.shape[1], out.shape[0], 0)
    for mode, axis in (("RGB1", 2), ("RGB2", 1), ("RGB3", 0)):  # colour: each plane as mono, same layout
        rgb = np.stack([a, a + 100, a + 200], axis=axis)
        moved = transform.transform(rgb, kind, mode)
        for plane in range(3):
            np.testing.assert_array_equal(np.take(moved, plane, axis=axis), transform_reference(a + 100 * plane, kind))


# -- NDPluginOverlay ---------------------------------------------------------------------------
def overlay_reference(image: np.ndarray, o: overlay.OverlaySettings) -> np.ndarray:
    """NDPluginOverlay::doOverlayT for Cross, Rectangle and Ellipse on a mono image, as loops."""
    out = image.copy()
    ny, nx = image.shape
    half = lambda v: int(v / 2)  # noqa: E731 - C integer division
    points = []
    if o.shape == "Cross":
        xc, yc = o.position_x + half(o.size_x), o.position_y + half(o.size_y)
        xw, yw = half(o.width_x), half(o.width_y)
        for iy in range(yc - half(o.size_y), yc + half(o.size_y) + 1):
            lo, hi = (xc - half(o.size_x), xc + half(o.size_x)) if yc - yw <= iy <= yc + yw else (xc - xw, xc + xw)
            points += [(iy, ix) for ix in range(lo, hi + 1)]
    elif o.shape == "Rectangle":
        xmin, xmax, ymin, ymax = o.position_x, o.position_x + o.size_x, o.position_y, o.position_y + o.size_y
        xw, yw = min(o.width_x, o.size_x - 1), min(o.width_y, o.size_y - 1)
        for iy in range(ymin, ymax + 1):
            if iy < ymin + yw or iy > ymax - yw:
                points += [(iy, ix) for ix in range(xmin, xmax + 1)]
            else:
                points += [(iy, ix) for ix in range(xmin, xmin + xw)] + [(iy, ix) for ix in range(xmax - xw + 1, xmax + 1)]
    elif o.shape == "Ellipse":
        xw = min(o.width_x, o.size_x - 1)
        xc, yc, xs, ys = o.position_x + half(o.size_x), o.position_y + half(o.size_y), half(o.size_x), half(o.size_y)
        steps = 2 * (xs + ys)
        step = math.pi / 2.0 / steps if steps else math.inf
        theta = 0.0
        for _ in range(steps + 1):
            for j in range(xw):
                ix, iy = int((xs - j) * math.cos(theta) + 0.5), int((ys - j) * math.sin(theta) + 0.5)
                points += [(yc + iy, xc + ix), (yc - iy, xc + ix), (yc + iy, xc - ix), (yc - iy, xc - ix)]
            theta += step
    points = [(y, x) for y, x in points if 0 <= x < nx and 0 <= y < ny]
    if o.shape == "Ellipse":
        points = sorted(set(points))
    for y, x in points:
        if o.draw_mode == "Set":
            out[y, x] = c_value(o.green, out.dtype)
        else:
            out[y, x] = c_value(int(c_value(out[y, x].item(), np.int32)) ^ o.green, out.dtype)
    return out


overlay_settings = st.builds(
    overlay.OverlaySettings, use=st.just(True), position_x=st.integers(-4, 14), position_y=st.integers(-4, 12),
    size_x=st.integers(-1, 14), size_y=st.integers(-1, 12), width_x=st.integers(-1, 6), width_y=st.integers(-1, 6),
    shape=st.sampled_from(["Cross", "Rectangle", "Ellipse"]), draw_mode=st.sampled_from(overlay.DRAW_MODES),
    green=st.integers(0, 300))


def _shape(shape, x, y, sx, sy, wx, wy, mode="Set", green=200):
    return overlay.OverlaySettings(use=True, shape=shape, position_x=x, position_y=y, size_x=sx, size_y=sy,
                                   width_x=wx, width_y=wy, draw_mode=mode, green=green)


@settings(max_examples=150, deadline=None)
@given(overlay_settings, st.sampled_from(["uint8", "uint16", "int32", "uint32", "float32"]))
@example(_shape("Rectangle", 1, 1, 7, 5, 2, 1), "uint16")
@example(_shape("Rectangle", 2, 1, 3, 6, 3, 2, "XOR"), "uint8")  # left and right borders overlap
@example(_shape("Cross", 1, 0, 8, 7, 3, 2), "int32")
@example(_shape("Ellipse", 0, 0, 10, 8, 2, 0, "XOR", 5), "float32")
def test_overlays_draw_the_pixels_adcore_draws(o, dtype):
    image = (np.arange(9 * 11) * 37 % 251).astype(dtype).reshape(9, 11)
    plugin = overlay.Overlays(1)
    plugin.overlays[0] = o
    out = plugin.draw(image)
    np.testing.assert_array_equal(out, overlay_reference(image, o))
    assert (image == (np.arange(9 * 11) * 37 % 251).astype(dtype).reshape(9, 11)).all()  # input untouched
    np.testing.assert_array_equal(plugin.draw(image), out)  # the cached pixel list draws the same


def test_overlay_colours_rgb_and_position_center_coupling():
    o = overlay.OverlaySettings(use=True, shape="Rectangle", width_x=1, width_y=1, red=10, green=20, blue=30)
    o.put_size_x(4)
    o.put_size_y(2)
    o.put_center_x(5)  # PositionX = CenterX - SizeX/2
    o.put_center_y(3)
    assert (o.position_x, o.position_y) == (3, 2)
    o.put_size_x(6)  # centre written last: the position moves, the centre stays
    assert (o.position_x, o.center_x) == (2, 5)
    o.put_position_x(1)  # position written last: a new size keeps the position
    o.put_size_x(4)
    assert (o.position_x, o.center_x) == (1, 3)
    plugin = overlay.Overlays(1)
    plugin.overlays[0] = o
    rgb1 = np.zeros((8, 9, 3), dtype=np.uint8)
    drawn = plugin.draw(rgb1, "RGB1")
    mono = plugin.draw(np.zeros((8, 9), dtype=np.uint8))
    assert (drawn[mono == 20] == (10, 20, 30)).all() and (drawn[mono == 0] == 0).all()


def test_text_overlay_draws_the_font_and_the_epics_time_stamp():
    when = 1_700_000_000.0006  # an array's time stamp, POSIX seconds
    tm = time.localtime(1_700_000_000)
    assert overlay.epics_strftime("%Y-%m-%d %H:%M:%S.%03f", when) == time.strftime("%Y-%m-%d %H:%M:%S", tm) + ".001"
    assert overlay.epics_strftime("%03f", 1_700_000_000.9999997) == "999"  # rounds, never into the second
    assert overlay.epics_strftime("%S.%02f|%%", when) == time.strftime("%S", tm) + ".00|%"
    assert overlay.epics_strftime("%H", overlay.EPICS_EPOCH) == "<undefined>"
    o = overlay.OverlaySettings(use=True, shape="Text", display_text="A\x01B", time_stamp_format="", font="9x15",
                                size_x=40, size_y=100)
    o.put_position_x(2)
    o.put_position_y(1)
    plugin = overlay.Overlays(1)
    plugin.overlays[0] = o
    out = plugin.draw(np.zeros((20, 40), np.uint16))
    glyphs = overlay.font_bits("9x15")
    assert out.sum() == glyphs[ord("A") - 32].sum() + glyphs[ord("B") - 32].sum()
    np.testing.assert_array_equal(out[1:16, 2:11] == 1, glyphs[ord("A") - 32])
    np.testing.assert_array_equal(out[1:16, 20:29] == 1, glyphs[ord("B") - 32])  # \x01 keeps its slot
    o.size_x = 12  # clipped at PositionX + SizeX: A whole, B not started
    assert plugin.draw(np.zeros((20, 40), np.uint16)).sum() == glyphs[ord("A") - 32, :, :9].sum()


# -- NDPluginColorConvert ----------------------------------------------------------------------
def test_color_convert_mono_passes_and_rgb_modes_convert():
    mono = (np.arange(4 * 6) * 11).astype(np.uint16).reshape(4, 6)
    assert color_convert.convert(mono, "Mono") == (mono, "Mono")
    assert color_convert.convert(mono, "Bayer")[0] is mono
    for mode, axis in (("RGB1", 2), ("RGB2", 1), ("RGB3", 0)):
        rgb, out_mode = color_convert.convert(mono, mode)
        assert out_mode == mode and rgb.flags.c_contiguous
        np.testing.assert_array_equal(rgb, np.stack([mono] * 3, axis=axis))
    rgb1 = np.stack([mono, mono // 2, mono // 3], axis=2)
    back, out_mode = color_convert.convert(rgb1, "Mono", "RGB1")
    expected = [[int((int(r) + int(g) + int(b)) / 3.0) for r, g, b in row] for row in rgb1]
    assert out_mode == "Mono" and back.dtype == np.uint16
    np.testing.assert_array_equal(back, expected)
    rgb3, _ = color_convert.convert(rgb1, "RGB3", "RGB1")
    np.testing.assert_array_equal(rgb3, rgb1.transpose(2, 0, 1))
    u8 = np.array([[0, 128, 255]], dtype=np.uint8)
    table = color_convert.false_color_map("Rainbow")
    np.testing.assert_array_equal(color_convert.convert(u8, "RGB1", false_color="Rainbow")[0], table[u8])
    np.testing.assert_array_equal(color_convert.convert(mono, "RGB1", false_color="Iron")[0][..., 0], mono)


# -- NDPluginCircularBuff ----------------------------------------------------------------------
def frames(n):
    return [np.array([i]) for i in range(n)]


def ids(arrays):
    return [int(a[0]) for a in arrays]


def test_circular_buffer_keeps_pre_trigger_frames_and_passes_post_trigger_ones():
    cb = CircularBuffer()
    assert cb.put_pre_count(3) and cb.status == "Idle"
    cb.post_count = 2
    cb.put_capture(True)
    assert cb.status == "Buffer filling"
    out = [cb.process(f) for f in frames(5)]
    assert out == [[]] * 5 and cb.current_qty == 3 and cb.status == "Buffer Wrapping"
    assert not cb.put_pre_count(5) and cb.status == "Stop acquisition to set pre-count" and cb.pre_count == 3
    assert cb.put_soft_trigger(True) == [] and cb.triggered  # OnNewImage: flushed with the next array
    assert ids(cb.process(np.array([5]))) == [2, 3, 4, 5] and cb.status == "Flushing"
    assert ids(cb.process(np.array([6]))) == [6]
    assert not cb.capture and cb.status == "Acquisition Completed" and cb.actual_trigger_count == 1
    assert cb.process(np.array([7])) == []
    assert not cb.put_pre_count(500) and cb.status == "Pre-count too high"
    assert not cb.put_pre_count(-1) and cb.status == "Invalid pre-count value"


def test_circular_buffer_triggers_on_its_calc_and_rearms_for_preset_count():
    cb = CircularBuffer()
    cb.put_pre_count(2)
    cb.post_count, cb.preset_trigger_count = 1, 2
    cb.trigger_a = "RingCurrent"
    assert cb.put_trigger_calc("A<400") is None
    cb.put_capture(True)
    currents = [500, 500, 500, 300, 500, 500, 390, 500]
    out = [ids(cb.process(f, {"RingCurrent": c})) for f, c in zip(frames(8), currents, strict=True)]
    assert out == [[], [], [], [1, 2, 3], [], [], [4, 5, 6], []]
    assert cb.actual_trigger_count == 2 and cb.status == "Acquisition Completed"
    assert cb.trigger_a_val == 390 and cb.trigger_calc_val == 1.0
    cb.put_capture(True)
    cb.process(np.array([0]), {})  # no such attribute: A is NaN, the calc 0, no trigger
    assert math.isnan(cb.trigger_a_val) and not cb.triggered and cb.trigger_calc_val == 0.0
    assert "A<" in cb.put_trigger_calc("A<") and not cb.process(np.array([1]), {"RingCurrent": 1})
    assert cb.put_trigger_calc("") is None and cb.trigger_calc == "0"


def test_circular_buffer_flushes_at_once_with_immediately():
    cb = CircularBuffer()
    cb.put_pre_count(3)
    cb.post_count, cb.flush_on_soft_trigger = 2, "Immediately"
    cb.put_capture(True)
    for f in frames(2):
        cb.process(f)
    assert ids(cb.put_soft_trigger(True)) == [0, 1]
    assert ids(cb.process(np.array([2]))) == [2]


def test_calc_is_epics_calc():
    assert Calc("A>B && C#0")(A=2, B=1, C=3) == 1.0
    assert Calc("MAX(A,B)+ABS(C)")(A=1, B=4, C=-2) == 6.0
    assert Calc("A")(A=math.nan) != Calc("A")(A=math.nan)
    with pytest.raises(CalcError, match="A\\+"):
        Calc("A+")


# -- NDPluginROIStat ---------------------------------------------------------------------------
def roi_stat_reference(a: np.ndarray, r: roi_stat.RoiStatRegion) -> tuple[float, ...]:
    """NDPluginROIStat::doComputeStatisticsT for a 2-D array, as loops."""
    ny_in, nx_in = a.shape
    off, size = [], []
    for m, s, n in ((r.min_x, r.size_x, nx_in), (r.min_y, r.size_y, ny_in)):
        o = min(max(m % 2**64, 0), n - 1)
        off.append(o)
        size.append(min(max(s % 2**64, 1), n - o))
    (x0, y0), (sx, sy) = off, size
    values = [float(a[y, x]) for y in range(y0, y0 + sy) for x in range(x0, x0 + sx)]
    total = 0.0
    for v in values:
        total += v
    bgd, n_bgd = 0.0, 0
    if r.bgd_width > 0:
        wx, wy = min(r.bgd_width, sx), min(r.bgd_width, sy)
        rows = list(range(y0, y0 + wy)) + list(range(y0 + sy - wy, y0 + sy))
        pixels = [(y, x) for y in rows for x in range(x0, x0 + sx)]
        for y in range(y0 + wy, y0 + sy - wy):
            pixels += [(y, x) for x in range(x0, x0 + wx)] + [(y, x) for x in range(x0 + sx - wx, x0 + sx)]
        for y, x in pixels:
            bgd += float(a[y, x])
        n_bgd = len(pixels)
    if n_bgd:
        bgd = bgd / n_bgd * (sx * sy)
    return min(values), max(values), total / (sx * sy), total, total - bgd


@FAST
@given(small_arrays, st.builds(roi_stat.RoiStatRegion, use=st.just(True), min_x=st.integers(-2, 10),
                               min_y=st.integers(-2, 8), size_x=st.integers(-1, 12), size_y=st.integers(-1, 9),
                               bgd_width=st.integers(0, 5)))
def test_roi_stat_computes_adcores_region_statistics(a, region):
    a = a.astype(np.float64) * 1.1 if a.dtype.kind == "f" else a  # non-integer floats: order matters
    res = roi_stat.region_stats(a, region)
    assert (res.min, res.max, res.mean, res.total, res.net) == roi_stat_reference(a, region)


def test_roi_stat_regions_and_time_series():
    plugin = roi_stat.RoiStat(regions=3, ts_num_points=2)
    plugin.regions[0] = roi_stat.RoiStatRegion(use=True, min_x=1, min_y=1, size_x=2, size_y=2)
    plugin.regions[2] = roi_stat.RoiStatRegion(use=True, size_x=1000, size_y=1000)
    a = np.arange(12, dtype=np.uint16).reshape(3, 4)
    plugin.ts_control("Erase/Start")
    results, publish = plugin.process(a, timestamp=5.0)
    assert results[1] is None and results[0].total == 5 + 6 + 9 + 10 and results[2].total == a.sum()
    assert (results[2].size_x, results[2].size_y) == (4, 3) and not publish
    _, publish = plugin.process(a, timestamp=6.0)
    assert publish and not plugin.ts_acquiring
    np.testing.assert_array_equal(plugin.series(0, "total"), [30, 30])
    np.testing.assert_array_equal(plugin.series(2, "timestamp"), [5.0, 6.0])
    with pytest.raises(ValueError, match="1-D and 2-D"):
        plugin.process(np.zeros((2, 2, 3)))


# -- the chain: Proc1 (background) -> ROI1 -> Stats, on the simulated beam -------------------------
def test_background_saved_with_the_beam_dumped_leaves_the_spot_with_its_poisson_noise():
    rng = np.random.default_rng(2027)
    exposure, current, x, y = 0.005, 500.0, 0.0, 0.0
    proc1 = process.Process(process.ProcessSettings(data_type="Float64"))
    dumped = physics.frame(rng, x, y, exposure, 0.0)  # no stored beam: dark counts only
    np.testing.assert_array_equal(proc1.process(dumped), dumped)  # nothing enabled: the frame passes
    assert proc1.save_background() and proc1.valid_background(dumped.size)
    n = dumped.size
    # The background is that frame: its mean is the dark level, within its Poisson error.
    assert proc1.background.mean() == dumped.mean()
    assert abs(dumped.mean() - physics.BACKGROUND) < 5 * math.sqrt(physics.BACKGROUND / n)

    proc1.settings.enable_background = True
    beam = physics.frame(rng, x, y, exposure, current)
    corrected = proc1.process(beam)
    spot = physics.expected_counts(x, y, exposure, current)
    # Given the saved background, each pixel is Poisson(spot + dark) minus the saved dark counts:
    # its mean is the spot plus (dark level - saved dark counts), its variance spot + dark level.
    z = (corrected - spot - (physics.BACKGROUND - dumped)) / np.sqrt(spot + physics.BACKGROUND)
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2 / n) + 0.01  # Poisson, not Gaussian: kurtosis allowed
    core = spot > 0.5 * spot.max()
    assert abs(corrected[core].sum() - spot[core].sum()) < 5 * math.sqrt((spot[core] + 2 * physics.BACKGROUND).sum())

    # ROI1 on Proc1's output, Stats on ROI1's: the statistics of the region of the corrected frame.
    roi1 = roi.RoiSettings()
    roi1.x.min, roi1.x.size, roi1.y.min, roi1.y.size = 240, 160, 200, 80
    region = roi.roi(corrected, roi1)
    assert region.array_size == (160, 80, 0)
    plain = beam.astype(np.float64)[200:280, 240:400] - dumped[200:280, 240:400]
    np.testing.assert_array_equal(region.data, plain)
    stats = physics.stats(region.data)
    assert stats["total"] == pytest.approx(plain.sum(), rel=1e-12)
    assert stats["mean"] == pytest.approx(plain.mean(), rel=1e-12)
    assert stats["max"] == plain.max() and stats["min"] == plain.min()


def test_data_types_are_adcores():
    assert DATA_TYPES == ("Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64", "Float32",
                          "Float64")
    assert transform.TRANSFORMS == ("None", "Rot90", "Rot180", "Rot270", "Mirror", "Rot90Mirror", "Rot180Mirror",
                                    "Rot270Mirror")


# -- the modules' menus and start-up values are the templates' -------------------------------------
_TABLE = json.loads((Path(__file__).parent / "data" / "adcore_templates.json").read_text())
PENDING = {**_TABLE["plugins"], **_TABLE["pending_plugins"]}  # the plugins' templates, served or not
MENU = ["ZR", "ON", "TW", "TH", "FR", "FV", "SX", "SV", "EI", "NI", "TE", "EL", "TV", "TT", "FT", "FF"]


def menu(plugin: str, record: str) -> tuple[str, ...]:
    fields = PENDING[plugin][record]["fields"]
    if "ZNAM" in fields:
        return fields["ZNAM"], fields["ONAM"]
    return tuple(fields[m + "ST"] for m in MENU if m + "ST" in fields)


def val(plugin: str, record: str, default: float = 0.0) -> float:
    return float(PENDING[plugin][record]["fields"].get("VAL", default))


def test_menus_and_defaults_are_the_templates():
    assert menu("ROI1:", "DataTypeOut") == menu("Proc1:", "DataTypeOut") == DATA_TYPES + ("Automatic",)
    assert menu("Trans1:", "Type") == transform.TRANSFORMS
    assert menu("Proc1:", "FilterType") == process.FILTER_TYPES
    assert menu("Proc1:", "FilterCallbacks") == process.FILTER_CALLBACKS
    assert menu("Over1:", "1:DrawMode") == overlay.DRAW_MODES and menu("Over1:", "1:Font") == overlay.FONTS
    shape = PENDING["Over1:"]["1:Shape"]["fields"]
    assert {shape[m + "ST"]: int(shape[m + "VL"]) for m in MENU[:4]} == overlay.SHAPES
    assert menu("CC1:", "ColorModeOut") == color_convert.COLOR_MODES
    assert menu("CC1:", "FalseColor") == color_convert.FALSE_COLORS
    assert menu("CB1:", "FlushOnSoftTrg") == ("OnNewImage", "Immediately")
    assert menu("ROIStat1:", "TSControl") == roi_stat.TS_CONTROL
    # FilterType's presets are the values its sequence records write (1/N: NumFilterRecip).
    for n, name in enumerate(process.FILTER_TYPES):
        seq = PENDING["Proc1:"][name + "Seq"]["fields"]
        written = {seq[f"LNK{k}"].split()[0].removeprefix("$(P)$(R)").lower(): seq[f"DOL{k}"]
                   for k in "123456789A"}
        preset = process.filter_preset(name, 4)
        assert {k: 0.25 if v.startswith("$(P)$(R)NumFilterRecip") else float(v) for k, v in written.items()} == preset
        assert int(PENDING["Proc1:"]["FilterType"]["fields"][MENU[n] + "VL"]) == n + 1
    r = roi.RoiSettings()
    for axis, d in zip("XYZ", r.dims, strict=True):
        assert (d.min, d.size, d.bin, d.reverse, d.enable, d.auto_size) == (
            val("ROI1:", f"Min{axis}"), val("ROI1:", f"Size{axis}"), val("ROI1:", f"Bin{axis}"),
            val("ROI1:", f"Reverse{axis}"), val("ROI1:", f"Enable{axis}"), val("ROI1:", f"AutoSize{axis}"))
    assert (r.enable_scale, r.scale, r.collapse_dims) == (val("ROI1:", "EnableScale"), val("ROI1:", "Scale"),
                                                          val("ROI1:", "CollapseDims"))
    p = process.ProcessSettings()
    for name in ("ScaleFlatField", "Offset", "Scale", "LowClipThresh", "LowClipValue", "HighClipThresh",
                 "HighClipValue", "NumFilter", "OOffset", "OScale", "OC1", "OC2", "OC3", "OC4", "FOffset", "FScale",
                 "FC1", "FC2", "FC3", "FC4", "ROffset", "RC1", "RC2", "EnableBackground", "EnableFlatField",
                 "EnableOffsetScale", "EnableLowClip", "EnableHighClip", "EnableFilter", "AutoResetFilter"):
        attr = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
        attr = {"o_c1": "oc1", "o_c2": "oc2", "o_c3": "oc3", "o_c4": "oc4", "f_c1": "fc1",
                "f_c2": "fc2", "f_c3": "fc3", "f_c4": "fc4", "r_c1": "rc1", "r_c2": "rc2"}.get(attr, attr)
        assert getattr(p, attr) == val("Proc1:", name), name
    o = overlay.OverlaySettings()
    assert (o.size_x, o.size_y, o.width_x, o.width_y, o.red, o.green, o.blue, o.time_stamp_format, o.use) == (
        val("Over1:", "1:SizeX"), val("Over1:", "1:SizeY"), val("Over1:", "1:WidthX"), val("Over1:", "1:WidthY"),
        val("Over1:", "1:Red"), val("Over1:", "1:Green"), val("Over1:", "1:Blue"),
        PENDING["Over1:"]["1:TimeStampFormat"]["fields"]["VAL"], val("Over1:", "1:Use"))
    cb = CircularBuffer()
    assert (cb.pre_count, cb.post_count, cb.preset_trigger_count) == (
        val("CB1:", "PreCount"), val("CB1:", "PostCount"), val("CB1:", "PresetTriggerCount"))
    region = roi_stat.RoiStatRegion()
    assert (region.use, region.min_x, region.size_x, region.size_y, region.bgd_width) == (
        val("ROIStat1:", "1:Use"), val("ROIStat1:", "1:MinX"), val("ROIStat1:", "1:SizeX"),
        val("ROIStat1:", "1:SizeY"), val("ROIStat1:", "1:BgdWidth"))
