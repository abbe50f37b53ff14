"""NDPluginColorConvert's arithmetic: mono to colour and back, between colour layouts.

As NDPluginColorConvert::convertColor does it, by the input's ColorMode and ColorModeOut:

* Mono (2-D) to Mono, Bayer or YUV*: no conversion; the array passes unchanged;
* Mono to RGB1/RGB2/RGB3: the value is copied to red, green and blue; with FalseColor
  Rainbow or Iron and an 8-bit (Int8/UInt8) input, ADCore's colour map of the value's
  unsigned byte gives red, green and blue instead (ignored for other types);
* RGB1/RGB2/RGB3 to Mono: ``(type)((r + g + b) / 3.)``, the sum taken in C's arithmetic of
  the type (8- and 16-bit promoted to int, 32- and 64-bit integers wrapping, Float32 in
  single precision);
* RGBn to RGBm: the same values laid out in the other order; to the same mode, unchanged;
* anything else (YUV input, RGB to Bayer/YUV, an input whose dimensions do not fit its
  colour mode) passes unchanged.

The result's colour mode is ColorModeOut when a conversion was done, else the input's.
"""

from __future__ import annotations

import numpy as np

from .bitmaps import adcore_bitmaps
from .ndarray import COLOR_MODES, array_info, axis, c_cast, image_view

FALSE_COLORS = ("None", "Rainbow", "Iron")
_RGB = ("RGB1", "RGB2", "RGB3")


def _layout(image: np.ndarray, mode: str) -> np.ndarray:
    """A C-ordered array in colour ``mode`` from an image with axes (y, x, colour)."""
    ny, nx, _ = image.shape
    info = array_info({"RGB1": (ny, nx, 3), "RGB2": (ny, 3, nx), "RGB3": (3, ny, nx)}[mode], mode)
    order = [0] * 3
    order[axis(3, info.y_dim)], order[axis(3, info.x_dim)], order[axis(3, info.color_dim)] = 0, 1, 2
    return np.ascontiguousarray(image.transpose(order))


def false_color_map(name: str) -> np.ndarray:
    """ADCore's false-colour map ``name`` as a (256, 3) uint8 table of red, green, blue."""
    spec = adcore_bitmaps()["color_maps"][name]
    return np.stack([spec["red"], spec["green"], spec["blue"]], axis=1).astype(np.uint8)


def convert(data: np.ndarray, color_mode_out: str, color_mode: str = "Mono",
            false_color: str = "None") -> tuple[np.ndarray, str]:
    """NDPluginColorConvert's output for ``data`` and its colour mode (``data`` is never modified)."""
    for name, value, menu in (("ColorModeOut", color_mode_out, COLOR_MODES), ("ColorMode", color_mode, COLOR_MODES),
                              ("FalseColor", false_color, FALSE_COLORS)):
        if value not in menu:
            raise ValueError(f"{name} {value!r}: expected one of {', '.join(menu)}")
    if color_mode == "Mono" and data.ndim == 2 and color_mode_out in _RGB:
        if false_color != "None" and data.dtype.itemsize == 1:
            table = c_cast(false_color_map(false_color), data.dtype)
            return _layout(table[data.view(np.uint8)], color_mode_out), color_mode_out
        colour_axis = {"RGB1": 2, "RGB2": 1, "RGB3": 0}[color_mode_out]  # numpy axis of the colour
        return np.repeat(np.expand_dims(data, colour_axis), 3, axis=colour_axis), color_mode_out
    if color_mode in _RGB and data.ndim == 3:
        image = image_view(data, color_mode)
        if color_mode_out == "Mono":
            r, g, b = image[:, :, 0], image[:, :, 1], image[:, :, 2]
            if data.dtype.kind in "iu" and data.dtype.itemsize < 4:
                r, g, b = (c.astype(np.int32) for c in (r, g, b))
            total = r + g + b
            return c_cast(total.astype(np.float64) / 3.0, data.dtype), "Mono"
        if color_mode_out in _RGB and color_mode_out != color_mode:
            return _layout(image, color_mode_out), color_mode_out
    return data, color_mode
