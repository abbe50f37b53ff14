"""What the plugins' arithmetic shares: NDArray data types, ADCore's type conversion, dimensions.

An NDArray here is a C-ordered numpy array. ADCore numbers dimensions from the fastest
varying one, so ADCore's ``dims[k]`` is numpy axis ``ndim - 1 - k``: a mono image of
``dims = [X, Y]`` is a numpy array of shape ``(Y, X)``; RGB1 ``[3, X, Y]`` is ``(Y, X, 3)``,
RGB2 ``[X, 3, Y]`` is ``(Y, 3, X)``, RGB3 ``[X, Y, 3]`` is ``(3, Y, X)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: NDDataType_t in ADCore's order (the index is the enum value and the mbbo index).
DATA_TYPES = ("Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64", "Float32", "Float64")
#: DataTypeOut's eleventh state (value -1): keep the input array's type.
AUTOMATIC = "Automatic"
NUMPY_TYPES = {name: np.dtype(name.lower()) for name in DATA_TYPES}
#: NDColorMode_t in ADCore's order.
COLOR_MODES = ("Mono", "Bayer", "RGB1", "RGB2", "RGB3", "YUV444", "YUV422", "YUV421")


def type_name(dtype: np.dtype) -> str:
    """ADCore's name of a numpy dtype ('UInt32' for uint32)."""
    for name, t in NUMPY_TYPES.items():
        if t == dtype:
            return name
    raise ValueError(f"{dtype} is not an NDArray data type; expected one of {', '.join(DATA_TYPES)}")


def output_dtype(data_type: str, input_dtype: np.dtype) -> np.dtype:
    """The dtype of a plugin's output for a DataTypeOut name ('Automatic' keeps the input's)."""
    if data_type == AUTOMATIC:
        return np.dtype(input_dtype)
    try:
        return NUMPY_TYPES[data_type]
    except KeyError:
        raise ValueError(f"data type {data_type!r}: expected one of {', '.join(DATA_TYPES + (AUTOMATIC,))}") \
            from None


def c_cast(values: np.ndarray, dtype: np.dtype, copy: bool = False) -> np.ndarray:
    """``(dataTypeOut)value`` element by element, as NDArrayPool::convert does: no clipping.

    Floats become integers by truncation toward zero; integers wrap modulo 2**bits. A float
    outside the integer type's range (or NaN) is undefined behaviour in C; this gives numpy's
    cast, which for negative values within int64 wraps as gcc's x86-64 code does. Returns
    ``values`` itself when it already has ``dtype`` (unless ``copy``).
    """
    with np.errstate(invalid="ignore", over="ignore"):
        return values.astype(dtype, copy=copy)


def cast_scalar(value: float, dtype: np.dtype):
    """One value converted as :func:`c_cast` converts each element."""
    return c_cast(np.array(value), dtype)[()]


class ArrayInfo(NamedTuple):
    """NDArray::getInfo: which ADCore dimension holds x, y and colour, and their sizes."""

    x_dim: int
    y_dim: int
    color_dim: int
    x_size: int
    y_size: int
    color_size: int
    color_mode: str


def array_info(shape: tuple[int, ...], color_mode: str = "Mono") -> ArrayInfo:
    """NDArray::getInfo for a numpy ``shape`` and the array's ColorMode attribute."""
    dims = shape[::-1]
    ndims = len(dims)
    x_dim = y_dim = color_dim = 0
    x_size = dims[0] if ndims > 0 else 0
    y_size = color_size = 0
    if ndims > 1:
        y_dim, y_size = 1, dims[1]
    if ndims == 3:
        x_dim, y_dim, color_dim = {"RGB1": (1, 2, 0), "RGB2": (0, 2, 1)}.get(color_mode, (0, 1, 2))
        x_size, y_size, color_size = dims[x_dim], dims[y_dim], dims[color_dim]
    return ArrayInfo(x_dim, y_dim, color_dim, x_size, y_size, color_size, color_mode)


def axis(ndim: int, dim: int) -> int:
    """The numpy axis of ADCore dimension ``dim`` in an ``ndim``-dimensional array."""
    return ndim - 1 - dim


def image_view(data: np.ndarray, color_mode: str = "Mono") -> np.ndarray:
    """A view of ``data`` with axes (y, x) for a 2-D array, (y, x, colour) for a 3-D one
    (RGB1/2/3 as their colour mode says; any other 3-D array as RGB3, as getInfo reads it)."""
    if data.ndim == 3:
        info = array_info(data.shape, color_mode)
        return data.transpose(axis(3, info.y_dim), axis(3, info.x_dim), axis(3, info.color_dim))
    return data
