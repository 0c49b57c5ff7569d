"""Array creation inside a trace: filled arrays are splat constants (one element, any size), and
ranges are `tir.iota` plus arithmetic, so `arange(10**8)` costs a few ops, not a big constant.

`tensorir.numpy.zeros` etc. call these while tracing and numpy otherwise; numpy's own
`np.zeros(..., like=tracer)` reaches them through `__array_function__`.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .errors import UnsupportedError
from .numpy_api import implements
from .promote import literal, result_type
from .shapes import full_like
from .tracer import Tracer, constant, emit, ir_dtype


def _shape(shape) -> tuple[int, ...]:
    return tuple(
        operator.index(d) for d in (shape if isinstance(shape, tuple | list) else (shape,))
    )


def _iota(n: int, dtype) -> Tracer:
    return emit("tir.iota", shape=(n,), dtype=ir_dtype(dtype), dim=0)


@implements(np.full)
def full(shape, fill_value, dtype=None) -> Tracer:
    dt = np.asarray(fill_value).dtype if dtype is None else np.dtype(dtype)
    return full_like(np.empty(0, dt), fill_value, dt, shape=_shape(shape))


@implements(np.zeros, np.empty)
def zeros(shape, dtype=float) -> Tracer:
    return constant(np.zeros((), dtype), _shape(shape))


@implements(np.ones)
def ones(shape, dtype=float) -> Tracer:
    return constant(np.ones((), dtype), _shape(shape))


@implements(np.arange)
def arange(start, stop=None, step=1, dtype=None) -> Tracer:
    if stop is None:
        start, stop = 0, start
    args = [np.asarray(v) for v in (start, stop, step)]
    dt = np.result_type(*args) if dtype is None else np.dtype(dtype)
    if all(a.dtype.kind in "iub" for a in args):
        n = len(range(int(start), int(stop), int(step)))
    else:
        n = max(math.ceil((float(stop) - float(start)) / float(step)), 0)
    # numpy fills start + i * delta, with delta = (start + step) - start in the result dtype
    first = literal(start, dt)
    delta = literal(start + step, dt) - first
    return _iota(n, dt) * delta + first


@implements(np.linspace)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None) -> Tracer:
    if retstep:
        raise UnsupportedError("np.linspace with retstep=True")
    dt = result_type(start, stop)
    dt = dt if dt.kind == "f" else np.dtype(np.float64)
    div = num - 1 if endpoint else num
    delta = literal(stop, dt) - literal(start, dt)
    y = _iota(num, dt)
    if div > 0:
        step = delta / div
        y = y / dt.type(div) * delta if step == 0 else y * step
    else:
        y = y * delta
    y = y + literal(start, dt)
    if endpoint and num > 1:
        y[-1] = literal(stop, dt)
    out_dt = dt if dtype is None else np.dtype(dtype)
    return (np.floor(y) if out_dt.kind in "iu" else y).astype(out_dt)


@implements(np.eye)
def eye(N, M=None, k=0, dtype=float) -> Tracer:
    shape = (operator.index(N), operator.index(N if M is None else M))
    rows = emit("tir.iota", shape=shape, dtype=ir_dtype(np.int64), dim=0)
    cols = emit("tir.iota", shape=shape, dtype=ir_dtype(np.int64), dim=1)
    return (cols - rows == k).astype(dtype)


@implements(np.identity)
def identity(n, dtype=float) -> Tracer:
    return eye(n, dtype=dtype)
