"""NDPluginOverlay's arithmetic: crosses, rectangles, ellipses and text drawn into the image.

As NDPluginOverlay.cpp draws them, in pixels of the image (x right, y down), with C integer
division (toward zero) and every pixel outside the image skipped:

* Cross: centre ``(PositionX + SizeX/2, PositionY + SizeY/2)``; rows within ``WidthY/2`` of
  the centre row are drawn across the whole width ``centre ± SizeX/2``, the other rows of
  ``centre ± SizeY/2`` only within ``WidthX/2`` of the centre column;
* Rectangle: from ``PositionX`` to ``PositionX + SizeX`` inclusive (so SizeX + 1 pixels), and
  the same in y, with borders ``min(WidthX, SizeX - 1)`` and ``min(WidthY, SizeY - 1)``
  pixels thick grown inward (a width of 0 draws nothing); a pixel the left and right
  borders both cover is drawn twice (which XOR undoes);
* Ellipse: ``min(WidthX, SizeX - 1)`` concentric outlines, semi-axes ``SizeX/2 - j`` and
  ``SizeY/2 - j``, at ``2*(SizeX/2 + SizeY/2) + 1`` angles of the first quadrant mirrored
  into the four, each pixel once;
* Text: DisplayText followed by the array's time stamp in TimeStampFormat (EPICS's
  strftime, ``%0<n>f`` being n digits of the seconds' fraction), in one of ADCore's four
  bitmap fonts, clipped to ``PositionX .. PositionX + SizeX`` and to one character height.

DrawMode Set writes the colour; XOR replaces a value v by ``(type)((int)v ^ colour)``. A mono
image gets Green; an RGB1/2/3 image gets Red, Green, Blue in its three colour planes. The
input is never modified: the output is a copy with the overlays drawn (the input itself when
no overlay is in use).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np

from .bitmaps import adcore_bitmaps
from .ndarray import array_info, c_cast, cast_scalar, image_view

#: The Shape menu of NDOverlayN.template, in its order, and each state's value (NDOverlayShape_t).
SHAPES = {"Cross": 0, "Rectangle": 1, "Ellipse": 3, "Text": 2}
DRAW_MODES = ("Set", "XOR")
FONTS = ("6x13", "6x13 Bold", "9x15", "9x15 Bold")
#: Seconds from the POSIX epoch to the EPICS epoch (1990-01-01 UTC).
EPICS_EPOCH = 631152000
DISPLAY_TEXT_CHARS = 255  # char DisplayText[256]
TIME_FORMAT_CHARS = 63  # char TimeStampFormat[64]
TIME_TEXT_CHARS = 62  # epicsTimeToStrftime into tstr[64] with a length of 63
TEXT_CHARS = 511  # textOutStr[512]


def _half(value: int) -> int:
    """``value / 2`` in C: truncated toward zero."""
    return int(value / 2)


@dataclass
class OverlaySettings:
    """One overlay's parameters (Over1:N:...), with NDOverlayN.template's start-up values."""

    name: str = ""
    use: bool = False
    position_x: int = 0
    position_y: int = 0
    center_x: int = 0
    center_y: int = 0
    size_x: int = 1
    size_y: int = 0
    width_x: int = 0
    width_y: int = 0
    shape: str = "Cross"
    draw_mode: str = "Set"
    red: int = 1
    green: int = 1
    blue: int = 1
    time_stamp_format: str = "%Y-%m-%d %H:%M:%S.%03f"
    font: str = "6x13"
    display_text: str = ""
    # Whether PositionX/Y (rather than CenterX/Y) was written last: SizeX/Y then keeps it.
    freeze_position_x: bool = False
    freeze_position_y: bool = False

    # Writes of the position and size parameters, as NDPluginOverlay::writeInt32 couples them.
    def put_position_x(self, value: int) -> None:
        self.position_x = int(value)
        self.center_x = self.position_x + _half(self.size_x)
        self.freeze_position_x = True

    def put_position_y(self, value: int) -> None:
        self.position_y = int(value)
        self.center_y = self.position_y + _half(self.size_y)
        self.freeze_position_y = True

    def put_center_x(self, value: int) -> None:
        self.center_x = int(value)
        self.position_x = self.center_x - _half(self.size_x)
        self.freeze_position_x = False

    def put_center_y(self, value: int) -> None:
        self.center_y = int(value)
        self.position_y = self.center_y - _half(self.size_y)
        self.freeze_position_y = False

    def put_size_x(self, value: int) -> None:
        self.size_x = int(value)
        if self.freeze_position_x:
            self.center_x = self.position_x + _half(self.size_x)
        else:
            self.position_x = self.center_x - _half(self.size_x)

    def put_size_y(self, value: int) -> None:
        self.size_y = int(value)
        if self.freeze_position_y:
            self.center_y = self.position_y + _half(self.size_y)
        else:
            self.position_y = self.center_y - _half(self.size_y)

    def copy(self) -> OverlaySettings:
        return OverlaySettings(**{f.name: getattr(self, f.name) for f in fields(self)})


@lru_cache(maxsize=4)
def font_bits(font: str) -> np.ndarray:
    """A font's glyphs as booleans, shape (96 glyphs for characters 32..127, height, width)."""
    spec = adcore_bitmaps()["fonts"][font]
    width, height = spec["width"], spec["height"]
    rows = np.array([list(bytes.fromhex(g)) for g in spec["glyphs"]], dtype=np.uint8)
    bits = np.unpackbits(rows.reshape(len(rows), height, -1), axis=2)
    return bits[:, :, :width].astype(bool)


def epics_strftime(fmt: str, timestamp: float, length: int = TIME_TEXT_CHARS + 1) -> str:
    """epicsTimeToStrftime of a POSIX ``timestamp`` into a buffer of ``length`` chars, local time.

    ``%f`` is the seconds' fraction in 9 digits, ``%0<n>f`` in n (at most 9), rounded
    without carrying into the seconds; a time stamp at the EPICS epoch is ``<undefined>``.
    """
    seconds = math.floor(timestamp)
    nsec = min(int(round((timestamp - seconds) * 1e9)), 999_999_999)
    if seconds == EPICS_EPOCH and nsec == 0:
        return "<undefined>"[:length - 1]
    tm = time.localtime(seconds)
    out, left, rest = "", length, fmt
    while rest and left > 1:
        prefix, width, found, rest = _frac_format_find(rest)
        if not prefix and not found:
            break
        if prefix:
            text = time.strftime(prefix, tm)
            text = text if len(text) < left else ""  # C strftime writes nothing that does not fit
            out, left = out + text, left - len(text)
        if found and left > 1:
            width = min(width, 9)
            if width >= left:
                out += "************"[:left - 1]
                break
            div = 10 ** (9 - width)
            frac = min(nsec + div // 2, 999_999_999) // div
            text = f"{frac:0{width}d}"[:left - 1]
            out, left = out + text, left - len(text)
    return out


def _frac_format_find(fmt: str) -> tuple[str, int, bool, str]:
    """Split ``fmt`` into a strftime prefix, a ``%0<n>f`` (its width; found?) and the rest."""
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            if fmt[i + 1:i + 2] == "%":
                i += 1
            elif fmt[i + 1:i + 2] == "f":
                return fmt[:i], 0xFFFFFFFF, True, fmt[i + 2:]
            else:
                j = i + 1
                while j < len(fmt) and fmt[j].isdigit():
                    j += 1
                digits = fmt[i + 1:j]
                if digits and fmt[j:j + 1] == "f" and int(digits) > 0:
                    return fmt[:i], int(digits), True, fmt[j + 1:]
        i += 1
    return fmt, 0, False, ""


def _spans(rows: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (y, x) of horizontal runs (y, x0, x1 inclusive), in order."""
    ys = [np.full(max(x1 - x0 + 1, 0), y) for y, x0, x1 in rows]
    xs = [np.arange(x0, x1 + 1) for _, x0, x1 in rows]
    if not ys:
        return np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(ys).astype(int), np.concatenate(xs).astype(int)


def _cross(o: OverlaySettings) -> tuple[np.ndarray, np.ndarray]:
    xcent, ycent = o.position_x + _half(o.size_x), o.position_y + _half(o.size_y)
    xmin, xmax = xcent - _half(o.size_x), xcent + _half(o.size_x)
    ymin, ymax = ycent - _half(o.size_y), ycent + _half(o.size_y)
    xwide, ywide = _half(o.width_x), _half(o.width_y)
    rows = [(iy, xmin, xmax) if ycent - ywide <= iy <= ycent + ywide else (iy, xcent - xwide, xcent + xwide)
            for iy in range(ymin, ymax + 1)]
    return _spans(rows)


def _rectangle(o: OverlaySettings) -> tuple[np.ndarray, np.ndarray]:
    xmin, xmax = o.position_x, o.position_x + o.size_x
    ymin, ymax = o.position_y, o.position_y + o.size_y
    xwide, ywide = min(o.width_x, o.size_x - 1), min(o.width_y, o.size_y - 1)
    rows = []
    for iy in range(ymin, ymax + 1):
        if iy < ymin + ywide or iy > ymax - ywide:
            rows.append((iy, xmin, xmax))
        else:
            rows.append((iy, xmin, xmin + xwide - 1))
            rows.append((iy, xmax - xwide + 1, xmax))
    return _spans(rows)


def _ellipse(o: OverlaySettings) -> tuple[np.ndarray, np.ndarray]:
    xwide = min(o.width_x, o.size_x - 1)
    xcent, ycent = o.position_x + _half(o.size_x), o.position_y + _half(o.size_y)
    xsize, ysize = _half(o.size_x), _half(o.size_y)
    steps = 2 * (xsize + ysize)
    if xwide <= 0 or steps < 0:
        return np.zeros(0, int), np.zeros(0, int)
    step = math.pi / 2.0 / steps if steps else math.inf
    theta = np.cumsum([0.0] + [step] * steps)  # theta += thetaStep, as the C loop accumulates it
    cos = np.array([math.cos(t) for t in theta])[:, None]
    sin = np.array([math.sin(t) for t in theta])[:, None]
    j = np.arange(xwide)[None, :]
    ix = np.trunc((xsize - j) * cos + 0.5).astype(int).ravel()
    iy = np.trunc((ysize - j) * sin + 0.5).astype(int).ravel()
    ys = np.concatenate([ycent + iy, ycent - iy, ycent + iy, ycent - iy])
    xs = np.concatenate([xcent + ix, xcent + ix, xcent - ix, xcent - ix])
    return ys, xs


def _text(o: OverlaySettings, timestamp: float) -> tuple[np.ndarray, np.ndarray]:
    if o.font not in FONTS:
        return np.zeros(0, int), np.zeros(0, int)
    bits = font_bits(o.font)
    height, width = bits.shape[1:]
    fmt = o.time_stamp_format.encode()[:TIME_FORMAT_CHARS].decode(errors="ignore")
    text = o.display_text.encode()[:DISPLAY_TEXT_CHARS].split(b"\0", 1)[0]  # a C string ends at NUL
    if fmt:
        text += epics_strftime(fmt, timestamp).encode()
    text = text[:TEXT_CHARS]
    xmin, xmax = o.position_x, o.position_x + o.size_x
    rows = max(0, min(o.size_y, height))  # ymax = min(PositionY + SizeY, PositionY + height)
    slots = max(0, min(len(text), -(-(xmax - xmin) // width)))  # characters starting left of xmax
    if not rows or not slots:
        return np.zeros(0, int), np.zeros(0, int)
    codes = np.frombuffer(text[:slots], dtype=np.uint8).astype(int)
    shown = (codes >= 32) & (codes <= 127)  # a C char of 128 or more is negative: skipped
    glyphs = bits[np.where(shown, codes - 32, 0)] & shown[:, None, None]  # (slot, row, column)
    strip = glyphs[:, :rows].transpose(1, 0, 2).reshape(rows, slots * width)[:, :xmax - xmin]
    ys, xs = np.nonzero(strip)  # row by row, left to right, as the C loops draw
    return ys + o.position_y, xs + xmin


def pixels(o: OverlaySettings, x_size: int, y_size: int, timestamp: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The (y, x) pixels an overlay draws in an image of ``x_size`` by ``y_size``, in drawing
    order, duplicates included (except the ellipse's, which ADCore removes)."""
    if o.shape == "Cross":
        ys, xs = _cross(o)
    elif o.shape == "Rectangle":
        ys, xs = _rectangle(o)
    elif o.shape == "Ellipse":
        ys, xs = _ellipse(o)
    elif o.shape == "Text":
        ys, xs = _text(o, timestamp)
    else:
        raise ValueError(f"overlay shape {o.shape!r}: expected one of {', '.join(SHAPES)}")
    inside = (xs >= 0) & (xs < x_size) & (ys >= 0) & (ys < y_size)
    ys, xs = ys[inside], xs[inside]
    if o.shape == "Ellipse":
        ys, xs = np.unique(np.stack([ys, xs]), axis=1)
    return ys, xs


class Overlays:
    """One NDPluginOverlay's overlays and the pixel lists it keeps while they do not change."""

    def __init__(self, count: int = 8) -> None:
        self.overlays = [OverlaySettings() for _ in range(count)]
        self._cache: dict[int, tuple[tuple, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]] = {}

    def _pixels(self, n: int, o: OverlaySettings, x_size: int, y_size: int, timestamp: float):
        """(all pixels, pixels drawn an odd number of times): Set uses the first, XOR the second."""
        key = (o.shape, o.position_x, o.position_y, o.size_x, o.size_y, o.width_x, o.width_y, o.font,
               o.display_text, o.time_stamp_format, x_size, y_size)
        if o.shape == "Text" and o.time_stamp_format:
            key += (timestamp,)
        cached = self._cache.get(n)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        ys, xs = pixels(o, x_size, y_size, timestamp)
        if ys.size:
            flat = ys.astype(np.int64) * x_size + xs
            unique, counts = np.unique(flat, return_counts=True)
            odd = unique[counts % 2 == 1]
            every, toggled = (ys, xs), (odd // x_size, odd % x_size)
        else:
            every = toggled = (ys, xs)
        self._cache[n] = (key, every, toggled)
        return every, toggled

    def draw(self, data: np.ndarray, color_mode: str = "Mono", timestamp: float = 0.0) -> np.ndarray:
        """The image passed on: ``data`` with every overlay in use drawn, in overlay order.

        ``timestamp`` is the array's time stamp (POSIX seconds) for text overlays.
        """
        used = [(n, o) for n, o in enumerate(self.overlays) if o.use]
        if not used or data.ndim < 2:
            return data
        out = data.copy()
        view = image_view(out, color_mode)
        info = array_info(data.shape, color_mode)
        rgb = data.ndim == 3 and color_mode in ("RGB1", "RGB2", "RGB3")
        for n, o in used:
            every, toggled = self._pixels(n, o, info.x_size, info.y_size, timestamp)
            if o.draw_mode == "Set":
                ys, xs = every
            elif o.draw_mode == "XOR":
                ys, xs = toggled
            else:
                raise ValueError(f"overlay draw mode {o.draw_mode!r}: expected one of {', '.join(DRAW_MODES)}")
            if not ys.size:
                continue
            colours = ((0, o.red), (1, o.green), (2, o.blue)) if rgb else ((None, o.green),)
            for plane, colour in colours:
                target = (ys, xs) if view.ndim == 2 else (ys, xs, 0 if plane is None else plane)
                if o.draw_mode == "Set":
                    view[target] = cast_scalar(colour, out.dtype)
                else:
                    as_int = c_cast(view[target], np.dtype(np.int32))
                    view[target] = c_cast(as_int ^ np.int32(cast_scalar(colour, np.dtype(np.int32))), out.dtype)
        return out

    @staticmethod
    def max_size(data: np.ndarray, color_mode: str = "Mono") -> tuple[int, int]:
        """MaxSizeX_RBV and MaxSizeY_RBV for an input array."""
        info = array_info(data.shape, color_mode)
        return info.x_size, info.y_size
