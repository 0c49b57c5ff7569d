"""Reductions: sum prod max min mean var std argmax argmin any all, and `ufunc.reduce`.

Result dtypes come from numpy itself, run on a one-element array (`np.sum` of int8 is int64,
`np.mean` of ints is float64), so the rules never drift from numpy's.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .errors import ShapeError
from .numpy_api import REDUCERS, implements
from .promote import as_tracer, cast
from .shapes import normalize_axes, reshape_to
from .tracer import Tracer, constant, emit

# bool sums and products are `any` and `all`: max and min over bools, with these empty results
_BOOL_OPS = {
    "tir.reduce_sum": ("tir.reduce_max", False),
    "tir.reduce_prod": ("tir.reduce_min", True),
}
_NUMPY_NAME = {"tir.reduce_max": "maximum", "tir.reduce_min": "minimum"}


@functools.cache
def _result_dtype(fn, dt: np.dtype, dtype: np.dtype | None) -> np.dtype:
    with np.errstate(all="ignore"):
        return fn(np.ones((1,), dt), dtype=dtype).dtype


def result_dtype(fn, x: Tracer, dtype) -> np.dtype:
    """The dtype numpy's reduction `fn` gives for `x` (and an explicit `dtype=`)."""
    return _result_dtype(fn, x.dtype, None if dtype is None else np.dtype(dtype))


def _reduce_axes(axis, ndim: int) -> tuple[int, ...]:
    """numpy's ufunc reductions also take axis 0 or -1 (an int, not a tuple) on 0-d arrays."""
    if ndim == 0 and not isinstance(axis, tuple | list) and axis in (0, -1):
        return ()
    return normalize_axes(axis, ndim)


def reduce(op: str, x: Tracer, axes: tuple[int, ...], keepdims: bool = False) -> Tracer:
    """IR reduction `op` of `x` over the normalized `axes`, numpy's keepdims included."""
    shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    empty = any(x.shape[a] == 0 for a in axes)
    if x.dtype == np.bool_ and op in _BOOL_OPS:
        op, identity = _BOOL_OPS[op]
        if empty:
            return constant(np.asarray(identity), kept if keepdims else shape)
    elif empty and op in _NUMPY_NAME:
        raise ShapeError(
            f"zero-size array (shape {x.shape}) to reduction operation {_NUMPY_NAME[op]} "
            "which has no identity"
        )
    out = emit(op, x, axes=axes) if axes else x
    return reshape_to(out, kept) if keepdims else out


@implements(np.sum)
def sum_(a, axis=None, dtype=None, out=None, keepdims=False) -> Tracer:
    x = as_tracer(a)
    out = cast(x, result_dtype(np.sum, x, dtype))
    return reduce("tir.reduce_sum", out, _reduce_axes(axis, x.ndim), keepdims)


@implements(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False) -> Tracer:
    x = as_tracer(a)
    out = cast(x, result_dtype(np.prod, x, dtype))
    return reduce("tir.reduce_prod", out, _reduce_axes(axis, x.ndim), keepdims)


@implements(np.max, np.amax)
def max_(a, axis=None, out=None, keepdims=False) -> Tracer:
    x = as_tracer(a)
    return reduce("tir.reduce_max", x, _reduce_axes(axis, x.ndim), keepdims)


@implements(np.min, np.amin)
def min_(a, axis=None, out=None, keepdims=False) -> Tracer:
    x = as_tracer(a)
    return reduce("tir.reduce_min", x, _reduce_axes(axis, x.ndim), keepdims)


@implements(np.any)
def any_(a, axis=None, out=None, keepdims=False) -> Tracer:
    x = as_tracer(a)
    return reduce("tir.reduce_sum", cast(x, np.bool_), _reduce_axes(axis, x.ndim), keepdims)


@implements(np.all)
def all_(a, axis=None, out=None, keepdims=False) -> Tracer:
    x = as_tracer(a)
    return reduce("tir.reduce_prod", cast(x, np.bool_), _reduce_axes(axis, x.ndim), keepdims)


def _count(x: Tracer, axes) -> int:
    return math.prod(x.shape[a] for a in axes)


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False) -> Tracer:
    x = as_tracer(a)
    axes = normalize_axes(axis, x.ndim)
    out_dt = result_dtype(np.mean, x, dtype)
    # numpy accumulates float16 means in float32
    acc = np.float32 if out_dt == np.float16 else out_dt
    total = reduce("tir.reduce_sum", cast(x, acc), axes, keepdims)
    return cast(np.true_divide(total, _count(x, axes)), out_dt)


@implements(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False) -> Tracer:
    # numpy's order of operations, all in the result dtype (float16 included)
    x = as_tracer(a)
    axes = normalize_axes(axis, x.ndim)
    xs = cast(x, result_dtype(np.var, x, dtype))
    n = _count(x, axes)
    centered = xs - np.true_divide(reduce("tir.reduce_sum", xs, axes, keepdims=True), n)
    total = reduce("tir.reduce_sum", centered * centered, axes, keepdims)
    return np.true_divide(total, max(n - ddof, 0))


@implements(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False) -> Tracer:
    v = var(a, axis, dtype, ddof=ddof, keepdims=keepdims)
    return np.sqrt(v)


def _arg(op: str, name: str):
    def run(a, axis=None, out=None, *, keepdims=False) -> Tracer:
        x = as_tracer(a)
        flat = axis is None or (x.ndim == 0 and _reduce_axes(axis, 0) == ())
        src = reshape_to(x, (x.size,)) if flat else x
        (ax,) = normalize_axes(0 if flat else axis, src.ndim)
        if src.shape[ax] == 0:
            raise ShapeError(f"attempt to get {name} of an empty sequence (shape {x.shape})")
        out = emit(op, src, axis=ax)
        if not keepdims:
            return out
        return reshape_to(out, (1,) * x.ndim if flat else x.shape[:ax] + (1,) + x.shape[ax + 1 :])

    return run


argmax = implements(np.argmax)(_arg("tir.argmax", "argmax"))
argmin = implements(np.argmin)(_arg("tir.argmin", "argmin"))

REDUCERS.update(
    {
        np.add: sum_,
        np.multiply: prod,
        np.maximum: max_,
        np.minimum: min_,
        np.logical_and: all_,
        np.logical_or: any_,
    }
)
