"""NDPluginROI's arithmetic: a region cut out of the array, binned, reversed, scaled, converted.

As NDPluginROI::processCallbacks and NDArrayPool::convert do it, per dimension:

* the offset is clamped to ``[0, n - 1]`` and the size to ``[1, n - offset]`` (with AutoSize
  the size is ``n``, so ``n - offset``); the offset and size are C ``size_t``, so a negative
  MinX becomes ``n - 1`` and a negative SizeX the whole remainder; binning is clamped to
  ``[1, size]`` and the clamped binning is stored back in the parameter (``BinX`` keeps it
  for the next array), while MinX/SizeX keep what was written;
* a disabled dimension (EnableX = Disable) takes the whole dimension unbinned, but its
  Reverse still applies (the C code reads it for every dimension);
* the output has ``size // bin`` elements (a partial bin at the end is dropped); each bin is
  the sum of its pixels, each pixel first converted to the output type and added in that
  type (integers wrap, Float32 adds in single precision), in the C loop's order;
* Reverse reverses the binned region along that dimension;
* with EnableScale and Scale neither 0 nor 1, the bins are summed in double, divided by
  Scale, then converted (truncation toward zero, no clipping) to the output type;
* DataTypeOut Automatic keeps the input type;
* CollapseDims removes dimensions of size 1 (keeping one); an RGB array whose colour
  dimension was cut to one is collapsed and becomes Mono.

The region's X, Y, Z are the image's x, y and colour: for RGB1/RGB2 arrays they are not the
first dimensions (ADCore swaps them so an ROI means the same region in mono and colour).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from .ndarray import AUTOMATIC, array_info, axis, c_cast, output_dtype

SIZE_T = 2**64


@dataclass
class RoiDim:
    """One dimension's settings (MinX, SizeX, BinX, ReverseX, EnableX, AutoSizeX), template defaults."""

    min: int = 0
    size: int = 1_000_000
    bin: int = 1
    reverse: bool = False
    enable: bool = True
    auto_size: bool = False


@dataclass
class RoiSettings:
    """NDPluginROI's parameters, with NDROI.template's start-up values."""

    x: RoiDim = field(default_factory=RoiDim)
    y: RoiDim = field(default_factory=RoiDim)
    z: RoiDim = field(default_factory=RoiDim)
    data_type: str = AUTOMATIC  # DataTypeOut
    enable_scale: bool = False
    scale: float = 1.0
    collapse_dims: bool = False

    @property
    def dims(self) -> tuple[RoiDim, RoiDim, RoiDim]:
        return (self.x, self.y, self.z)


@dataclass(frozen=True)
class Region:
    """One dimension of the region actually used: offset and size in input pixels, binning."""

    min: int
    size: int
    bin: int
    reverse: bool

    @property
    def out_size(self) -> int:
        return self.size // self.bin


@dataclass(frozen=True)
class RoiResult:
    """The output array and the readbacks NDPluginROI sets for it.

    ``regions[u]`` is the region used in user dimension u (X, Y, Z) for each dimension the
    input has; for enabled dimensions MinX_RBV/SizeX_RBV/BinX_RBV read its min/size/bin.
    ``max_size`` is MaxSizeX/Y/Z_RBV (0 beyond the input's dimensions) and
    ``array_size`` ArraySizeX/Y/Z_RBV of the output.
    """

    data: np.ndarray
    color_mode: str
    regions: tuple[Region, ...]
    max_size: tuple[int, int, int]
    array_size: tuple[int, int, int]


def _clamp(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)


def regions(shape: tuple[int, ...], settings: RoiSettings, color_mode: str = "Mono") -> tuple[Region, ...]:
    """The region NDPluginROI uses in each user dimension (X, Y, Z) of an array of ``shape``."""
    info = array_info(shape, color_mode)
    user_dims = (info.x_dim, info.y_dim, info.color_dim)
    dims = shape[::-1]
    out = []
    for u in range(len(dims)):
        n = dims[user_dims[u]]
        d = settings.dims[u]
        if d.enable:
            offset = _clamp(d.min % SIZE_T, 0, n - 1)
            size = n if d.auto_size else d.size % SIZE_T
            size = _clamp(size, 1, n - offset)
            binning = _clamp(d.bin, 1, size)
            out.append(Region(offset, size, binning, bool(d.reverse)))
        else:
            out.append(Region(0, n, 1, bool(d.reverse)))
    return tuple(out)


def roi(data: np.ndarray, settings: RoiSettings, color_mode: str = "Mono") -> RoiResult:
    """NDPluginROI's output for ``data`` (never modified; the result may share its memory).

    Stores the clamped binning back into ``settings`` (as ADCore stores it in BinX).
    """
    if data.ndim < 1 or data.ndim > 3:
        raise ValueError(f"NDPluginROI: {data.ndim}-D array; the ROI is defined for 1 to 3 dimensions")
    info = array_info(data.shape, color_mode)
    user_dims = (info.x_dim, info.y_dim, info.color_dim)
    used = regions(data.shape, settings, color_mode)
    for u, region in enumerate(used):
        if settings.dims[u].enable:
            settings.dims[u].bin = region.bin
    by_dim = {user_dims[u]: region for u, region in enumerate(used)}  # ADCore dim -> region
    out_type = output_dtype(settings.data_type, data.dtype)
    scaled = settings.enable_scale and settings.scale != 0 and settings.scale != 1
    sum_type = np.dtype(np.float64) if scaled else out_type

    crop = []
    for ax in range(data.ndim):
        r = by_dim[axis(data.ndim, ax)]
        stop = r.min + r.out_size * r.bin
        crop.append(slice(stop - 1, r.min - 1 if r.min else None, -1) if r.reverse else slice(r.min, stop))
    whole = all(c == slice(0, n) for c, n in zip(crop, data.shape, strict=True))
    region = data if whole else data[tuple(crop)]
    bins = [by_dim[axis(data.ndim, ax)].bin for ax in range(data.ndim)]
    if all(b == 1 for b in bins):
        out = np.ascontiguousarray(c_cast(region, sum_type, copy=scaled))  # scaled: divided in place below
    else:
        out = np.zeros([region.shape[ax] // bins[ax] for ax in range(data.ndim)], dtype=sum_type)
        # The C loop adds a bin's pixels slowest dimension first, as these strided slices do.
        for start in itertools.product(*(range(b) for b in bins)):
            part = region[tuple(slice(s, s + b * n, b) for s, b, n in zip(start, bins, out.shape, strict=True))]
            out += c_cast(part, sum_type)
    if scaled:
        out /= settings.scale
        out = c_cast(out, out_type)

    out_mode = color_mode
    collapse = settings.collapse_dims
    if data.ndim == 3 and color_mode in ("RGB1", "RGB2", "RGB3") and out.shape[axis(3, info.color_dim)] == 1:
        collapse, out_mode = True, "Mono"
    # NDArray dims as C leaves them after collapsing: removed entries shift down, the tail is stale.
    out_dims = list(out.shape[::-1]) + [0] * (3 - out.ndim)
    ndims = out.ndim
    if collapse:
        i = 0
        while i < ndims and ndims > 1:
            if out_dims[i] == 1:
                out_dims[i:ndims - 1] = out_dims[i + 1:ndims]
                ndims -= 1
            else:
                i += 1
        out = out.reshape(out_dims[:ndims][::-1])
    array_size = tuple(out_dims[user_dims[u]] if ndims > u else 0 for u in range(3))
    max_size = tuple(data.shape[::-1][user_dims[u]] if data.ndim > u else 0 for u in range(3))
    return RoiResult(out, out_mode, used, max_size, array_size)
