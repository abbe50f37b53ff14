"""NDPluginTransform's arithmetic: the eight rotations and mirrorings of an image.

Names and order are NDTransform.template's ``Type`` menu (NDPluginTransformType_t). With
``in[y][x]`` the input image (y rows, x columns, x fastest) and ``out`` the output, as
NDPluginTransform.cpp moves the pixels::

    None          out = in
    Rot90         out[x][Y-1-y] = in[y][x]      (clockwise as displayed, row 0 at the top)
    Rot180        out[Y-1-y][X-1-x] = in[y][x]
    Rot270        out[X-1-x][y] = in[y][x]      (counter-clockwise)
    Mirror        out[y][X-1-x] = in[y][x]      (left-right)
    Rot90Mirror   out[x][y] = in[y][x]          (transpose)
    Rot180Mirror  out[Y-1-y][x] = in[y][x]      (top-bottom)
    Rot270Mirror  out[X-1-x][Y-1-y] = in[y][x]  (anti-transpose)

RGB1/RGB2/RGB3 arrays are transformed plane by plane and keep their colour mode (so is any
other 3-D array, taken as [x, y, plane]; ADCore's loop moves only its first plane's worth of
elements there); 1-D arrays pass unchanged. ArraySizeX/Y_RBV are the output's x and y sizes, ArraySizeZ_RBV 3 for a
colour array, else 0.
"""

from __future__ import annotations

import numpy as np

from .ndarray import array_info, axis, image_view

TRANSFORMS = ("None", "Rot90", "Rot180", "Rot270", "Mirror", "Rot90Mirror", "Rot180Mirror", "Rot270Mirror")


def _moved(image: np.ndarray, transform: str) -> np.ndarray:
    """A view of ``image`` (axes y, x, ...) transformed."""
    if transform == "None":
        return image
    if transform == "Rot90":
        return image.swapaxes(0, 1)[:, ::-1]
    if transform == "Rot180":
        return image[::-1, ::-1]
    if transform == "Rot270":
        return image.swapaxes(0, 1)[::-1, :]
    if transform == "Mirror":
        return image[:, ::-1]
    if transform == "Rot90Mirror":
        return image.swapaxes(0, 1)
    if transform == "Rot180Mirror":
        return image[::-1, :]
    if transform == "Rot270Mirror":
        return image.swapaxes(0, 1)[::-1, ::-1]
    raise ValueError(f"transform {transform!r}: expected one of {', '.join(TRANSFORMS)}")


def transform(data: np.ndarray, transform_type: str, color_mode: str = "Mono") -> np.ndarray:
    """NDPluginTransform's output for ``data`` (never modified; None returns ``data`` itself)."""
    if transform_type not in TRANSFORMS:
        raise ValueError(f"transform {transform_type!r}: expected one of {', '.join(TRANSFORMS)}")
    if transform_type == "None" or data.ndim < 2:
        return data
    if data.ndim > 3:
        raise ValueError(f"NDPluginTransform: {data.ndim}-D array; it transforms images of at most 3 dimensions")
    if data.ndim == 2:
        return np.ascontiguousarray(_moved(data, transform_type))
    # A colour image: transform the (y, x, colour) view, then lay it out as the input was.
    info = array_info(data.shape, color_mode)
    moved = _moved(image_view(data, color_mode), transform_type)
    order = [0] * 3  # numpy axis of the output -> axis of `moved` (y=0, x=1, colour=2)
    order[axis(3, info.y_dim)], order[axis(3, info.x_dim)], order[axis(3, info.color_dim)] = 0, 1, 2
    return np.ascontiguousarray(moved.transpose(order))


def array_size(out: np.ndarray, color_mode: str = "Mono") -> tuple[int, int, int]:
    """ArraySizeX/Y/Z_RBV NDPluginTransform sets for its output ``out``."""
    info = array_info(out.shape, color_mode)
    return info.x_size, info.y_size, 3 if out.ndim >= 3 else 0
