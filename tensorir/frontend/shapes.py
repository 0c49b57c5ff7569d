"""Shape functions: reshape, transpose and friends, joining (concatenate, stack, pad), where, clip,
astype and the `*_like` constructors. All are movement ops, selects or constants in the IR."""

from __future__ import annotations

import math
import operator

import numpy as np

from .errors import ShapeError, UnsupportedError
from .numpy_api import implements
from .promote import (
    as_tracer,
    broadcast_shapes,
    broadcast_to,
    cast,
    coerce,
    dtype_of,
    is_py_scalar,
    literal,
    promote,
    result_type,
    shape_of,
)
from .tracer import Tracer, constant, emit, ir_dtype


def axis_index(axis, ndim: int) -> int:
    """`axis` in [0, ndim), negative counting from the end; ShapeError if out of range."""
    a = operator.index(axis)
    if not -ndim <= a < ndim:
        raise ShapeError(f"axis {a} is out of bounds for array of dimension {ndim}")
    return a % ndim


def normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """None (all axes), an int or a sequence of ints as sorted, unique, non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = [axis_index(a, ndim) for a in (axis if isinstance(axis, tuple | list) else (axis,))]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"repeated axis in {axis}")
    return tuple(sorted(axes))


def reshape_to(t: Tracer, shape: tuple[int, ...]) -> Tracer:
    """`t` in a new (fully known) shape with the same size; `t` itself if it already has it."""
    shape = tuple(int(d) for d in shape)
    return t if t.shape == shape else emit("tir.reshape", t, shape=shape)


def permute(t: Tracer, perm) -> Tracer:
    perm = tuple(int(p) for p in perm)
    return t if perm == tuple(range(t.ndim)) else emit("tir.transpose", t, perm=perm)


@implements(np.reshape)
def reshape(a, shape=None, order="C", *, copy=None) -> Tracer:
    if order != "C":
        raise UnsupportedError(f"np.reshape with order={order!r} (only 'C')")
    x = as_tracer(a)
    dims = [operator.index(d) for d in (shape if isinstance(shape, tuple | list) else (shape,))]
    known = math.prod(d for d in dims if d != -1)
    if dims.count(-1) > 1 or any(d < -1 for d in dims):
        raise ShapeError(f"invalid shape {tuple(dims)} for reshape")
    if -1 in dims:
        if known == 0 or x.size % known:
            raise ShapeError(f"cannot reshape array of size {x.size} into shape {tuple(dims)}")
        dims[dims.index(-1)] = x.size // known
    if math.prod(dims) != x.size:
        raise ShapeError(f"cannot reshape array of size {x.size} into shape {tuple(dims)}")
    return reshape_to(x, tuple(dims))


@implements(np.ravel)
def ravel(a, order="C") -> Tracer:
    return reshape(a, -1, order)


@implements(np.transpose)
def transpose(a, axes=None) -> Tracer:
    x = as_tracer(a)
    if axes is None:
        return permute(x, range(x.ndim)[::-1])
    perm = [axis_index(p, x.ndim) for p in axes]
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"axes {tuple(axes)} don't match array of shape {x.shape}")
    return permute(x, perm)


@implements(np.matrix_transpose)
def matrix_transpose(x) -> Tracer:
    x = as_tracer(x)
    if x.ndim < 2:
        raise ShapeError(f"matrix transpose needs at least 2 dimensions, got shape {x.shape}")
    return swapaxes(x, -1, -2)


@implements(np.swapaxes)
def swapaxes(a, axis1, axis2) -> Tracer:
    x = as_tracer(a)
    perm = list(range(x.ndim))
    i, j = axis_index(axis1, x.ndim), axis_index(axis2, x.ndim)
    perm[i], perm[j] = perm[j], perm[i]
    return permute(x, perm)


@implements(np.moveaxis)
def moveaxis(a, source, destination) -> Tracer:
    x = as_tracer(a)
    src = [axis_index(s, x.ndim) for s in np.atleast_1d(source).tolist()]
    dst = [axis_index(d, x.ndim) for d in np.atleast_1d(destination).tolist()]
    if len(src) != len(dst):
        raise ShapeError(
            "`source` and `destination` arguments must have the same number of elements"
        )
    order = [n for n in range(x.ndim) if n not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return permute(x, order)


@implements(np.expand_dims)
def expand_dims(a, axis) -> Tracer:
    x = as_tracer(a)
    axes = normalize_axes(axis, x.ndim + (len(axis) if isinstance(axis, tuple | list) else 1))
    dims = iter(x.shape)
    return reshape_to(x, tuple(1 if i in axes else next(dims) for i in range(x.ndim + len(axes))))


@implements(np.squeeze)
def squeeze(a, axis=None) -> Tracer:
    x = as_tracer(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = normalize_axes(axis, x.ndim)
        if any(x.shape[i] != 1 for i in axes):
            raise ShapeError(
                f"cannot select an axis to squeeze out which has size not equal to one "
                f"(shape {x.shape}, axis {axis})"
            )
    return reshape_to(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


@implements(np.broadcast_to)
def broadcast_to_(array, shape, subok=False) -> Tracer:
    return broadcast_to(as_tracer(array), (shape,) if isinstance(shape, int) else shape)


@implements(np.flip)
def flip(m, axis=None) -> Tracer:
    x = as_tracer(m)
    axes = normalize_axes(axis, x.ndim)
    if not axes:
        return x
    starts = tuple(max(d - 1, 0) if i in axes else 0 for i, d in enumerate(x.shape))
    steps = tuple(-1 if i in axes else 1 for i in range(x.ndim))
    return emit("tir.slice", x, starts=starts, steps=steps, sizes=x.shape)


@implements(np.atleast_1d)
def atleast_1d(*arys):
    out = [reshape_to(t, (1,)) if t.ndim == 0 else t for t in map(as_tracer, arys)]
    return out[0] if len(out) == 1 else tuple(out)


@implements(np.atleast_2d)
def atleast_2d(*arys):
    out = [reshape_to(t, (1,) * (2 - t.ndim) + t.shape) for t in map(as_tracer, arys)]
    return out[0] if len(out) == 1 else tuple(out)


# ---- joining ------------------------------------------------------------------------------------


@implements(np.concatenate)
def concatenate(arrays, axis=0, *, dtype=None) -> Tracer:
    arrays = list(arrays)
    if not arrays:
        raise ShapeError("need at least one array to concatenate")
    dtype = result_type(*arrays) if dtype is None else np.dtype(dtype)
    xs = [as_tracer(a, dtype) for a in arrays]
    if axis is None:
        xs, axis = [reshape_to(x, (x.size,)) for x in xs], 0
    if any(x.ndim == 0 for x in xs):
        raise ShapeError("zero-dimensional arrays cannot be concatenated")
    ax = axis_index(axis, xs[0].ndim)
    first = xs[0].shape
    for x in xs[1:]:
        if x.ndim != len(first) or x.shape[:ax] + x.shape[ax + 1 :] != first[:ax] + first[ax + 1 :]:
            raise ShapeError(
                f"all the input array dimensions except for the concatenation axis {ax} must "
                f"match exactly, but got shapes {first} and {x.shape}"
            )
    return xs[0] if len(xs) == 1 else emit("tir.concatenate", *xs, axis=ax)


@implements(np.stack)
def stack(arrays, axis=0, *, dtype=None) -> Tracer:
    arrays = list(arrays)
    shapes = {tuple(shape_of(a)) for a in arrays}
    if len(shapes) > 1:
        raise ShapeError(f"all input arrays must have the same shape, got {sorted(shapes)}")
    if not arrays:
        raise ShapeError("need at least one array to stack")
    ax = axis_index(axis, len(shapes.pop()) + 1)
    dtype = result_type(*arrays) if dtype is None else dtype
    return concatenate([expand_dims(as_tracer(a, dtype), ax) for a in arrays], ax)


@implements(np.hstack)
def hstack(tup, *, dtype=None) -> Tracer:
    arrs = [atleast_1d(a) for a in tup]
    return concatenate(arrs, 0 if arrs and arrs[0].ndim == 1 else 1, dtype=dtype)


@implements(np.vstack)
def vstack(tup, *, dtype=None) -> Tracer:
    return concatenate([atleast_2d(a) for a in tup], 0, dtype=dtype)


@implements(np.pad)
def pad(array, pad_width, mode="constant", constant_values=0) -> Tracer:
    if mode != "constant":
        raise UnsupportedError(f"np.pad with mode={mode!r} (only 'constant')")
    x = as_tracer(array)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    if (widths < 0).any():
        raise ShapeError(f"index can't contain negative values (pad_width {pad_width})")
    if isinstance(constant_values, Tracer):
        value = reshape_to(cast(constant_values, x.dtype), ())
    else:
        values = np.unique(np.asarray(constant_values))
        if values.size != 1:
            raise UnsupportedError("np.pad with different constant_values per side")
        scalar = constant_values if is_py_scalar(constant_values) else values[0]
        value = constant(literal(scalar, x.dtype))
    low, high = (tuple(int(w) for w in widths[:, k]) for k in (0, 1))
    if not any(low + high):
        return x
    return emit("tir.pad", x, value, low=low, high=high)


# ---- selection and conversion -------------------------------------------------------------------


@implements(np.where)
def where(condition, x=None, y=None) -> Tracer:
    if x is None or y is None:
        raise UnsupportedError(
            "np.where with one argument (its result shape depends on the data)",
            "use the three-argument form np.where(cond, a, b)",
        )
    shape = broadcast_shapes(shape_of(condition), shape_of(x), shape_of(y))
    cond = coerce(condition, np.bool_, shape)
    a, b = promote([x, y])
    return emit("tir.select", cond, broadcast_to(a, shape), broadcast_to(b, shape))


@implements(np.clip)
def clip(a, a_min=None, a_max=None, *, min=None, max=None) -> Tracer:
    lo, hi = (a_min if min is None else min), (a_max if max is None else max)
    x = as_tracer(a)
    if lo is None and hi is None:
        return np.positive(x)  # as numpy, which thereby rejects bools
    if lo is not None:
        x = np.maximum(x, _in_range(lo, x.dtype))
    if hi is not None:
        x = np.minimum(x, _in_range(hi, x.dtype))
    return x


def _in_range(bound, dt: np.dtype):
    """A Python-int bound beyond an int dtype's range clips like the range's end (numpy 2 clips
    int8 arrays to 1000 instead of raising)."""
    if dt.kind in "iu" and is_py_scalar(bound) and not isinstance(bound, bool | float):
        info = np.iinfo(dt)
        return sorted((int(info.min), bound, int(info.max)))[1]
    return bound


@implements(np.astype)
def astype(x, dtype, *, copy=True, device=None) -> Tracer:
    ir_dtype(dtype)
    return cast(as_tracer(x), dtype)


@implements(np.copy)
def copy(a, order="K", subok=False) -> Tracer:
    return as_tracer(a).copy()


@implements(np.shape)
def shape(a) -> tuple[int, ...]:
    return tuple(shape_of(a))


@implements(np.ndim)
def ndim(a) -> int:
    return len(shape_of(a))


@implements(np.size)
def size(a, axis=None) -> int:
    s = shape_of(a)
    return math.prod(s) if axis is None else s[axis_index(axis, len(s))]


@implements(np.full_like)
def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None) -> Tracer:
    dt = np.dtype(dtype) if dtype is not None else dtype_of(a)
    out_shape = shape_of(a) if shape is None else ((shape,) if isinstance(shape, int) else shape)
    return coerce(fill_value, dt, tuple(out_shape))


@implements(np.zeros_like, np.empty_like)
def zeros_like(a, dtype=None, order="K", subok=True, shape=None) -> Tracer:
    return full_like(a, 0, dtype, shape=shape)


@implements(np.ones_like)
def ones_like(a, dtype=None, order="K", subok=True, shape=None) -> Tracer:
    return full_like(a, 1, dtype, shape=shape)
