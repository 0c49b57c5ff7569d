"""dtype promotion and broadcasting, with numpy itself as the oracle.

`ufunc.resolve_dtypes` gives numpy's loop dtypes for a ufunc; a Python scalar (or a traced value
derived from one) is passed as its Python type, which is how NEP 50 makes it weak: `x_f32 * 2.0`
stays float32. Non-ufunc functions use `np.result_type`, where a weak operand is represented by a
Python value of its kind. Operands are then cast to those dtypes and broadcast to one shape.
"""

from __future__ import annotations

import numpy as np

from .errors import DTypeError, ShapeError, TraceOverflowError
from .tracer import Tracer, constant, emit, ir_dtype

_PY_SCALARS = (bool, int, float)
_WEAK_VALUE = {"b": False, "i": 0, "u": 0, "f": 0.0}


def is_py_scalar(x) -> bool:
    """A Python bool/int/float (numpy scalars are strong, even np.float64, a float subclass)."""
    return isinstance(x, _PY_SCALARS) and not isinstance(x, np.generic)


def is_weak(x) -> bool:
    """Promotes weakly: a Python scalar, or a tracer derived from Python scalars only."""
    return x.weak if isinstance(x, Tracer) else is_py_scalar(x)


def dtype_of(x) -> np.dtype:
    """The dtype `x` has as an array (a Python scalar's default: bool, int64, float64)."""
    if isinstance(x, Tracer):
        return x.dtype
    if isinstance(x, complex):
        raise DTypeError("complex numbers are not supported")
    dt = np.asarray(x).dtype
    ir_dtype(dt)
    return dt


def shape_of(x) -> tuple[int, ...]:
    return x.shape if isinstance(x, Tracer) else np.shape(x)


def _ufunc_key(x):
    dt = dtype_of(x)
    if not is_weak(x) or dt.kind == "b":
        return dt
    return float if dt.kind == "f" else int


def resolve_ufunc(ufunc: np.ufunc, args, out_dtype=None) -> tuple[tuple, tuple]:
    """numpy's (input dtypes, output dtypes) of `ufunc`'s loop for these operands."""
    keys = tuple(_ufunc_key(a) for a in args) + (None,) * ufunc.nout
    kw = {}
    if out_dtype is not None:  # numpy's `dtype=`: the output's and the loop's dtype
        kw["signature"] = (None,) * ufunc.nin + (np.dtype(out_dtype),) * ufunc.nout
    try:
        dts = ufunc.resolve_dtypes(keys, **kw)
    except TypeError as e:
        names = ", ".join(str(dtype_of(a)) for a in args)
        raise DTypeError(f"np.{ufunc.__name__} does not support dtypes ({names}): {e}") from None
    for d in dts:
        ir_dtype(d)
    return dts[: ufunc.nin], dts[ufunc.nin :]


def result_type(*args) -> np.dtype:
    """np.result_type of the operands, with Python scalars weak (NEP 50)."""
    keys = [_WEAK_VALUE[dtype_of(a).kind] if is_weak(a) else dtype_of(a) for a in args]
    dt = np.result_type(*keys)
    ir_dtype(dt)
    return dt


def broadcast_shapes(*shapes) -> tuple[int, ...]:
    """numpy's broadcast of the shapes; ShapeError naming all of them if they do not."""
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(
            f"shapes {' and '.join(str(tuple(s)) for s in shapes)} do not broadcast together"
        ) from None


def cast(t: Tracer, dtype) -> Tracer:
    """`t` converted to `dtype` (numpy's astype semantics); `t` itself if already so."""
    dtype = np.dtype(dtype)
    if t.dtype == dtype:
        return t
    return emit("tir.cast", t, dtype=ir_dtype(dtype), weak=t.weak)


def broadcast_to(t: Tracer, shape) -> Tracer:
    """`t` broadcast to `shape` by numpy's rules (new dims on the left, size-1 dims stretch)."""
    shape = tuple(int(d) for d in shape)
    if t.shape == shape:
        return t
    r, n = t.ndim, len(shape)
    if r > n or any(d not in (1, s) for d, s in zip(t.shape, shape[n - r :], strict=True)):
        raise ShapeError(f"cannot broadcast shape {t.shape} to {shape}")
    return emit("tir.broadcast", t, shape=shape, dims=tuple(range(n - r, n)), weak=t.weak)


def literal(x, dtype) -> np.ndarray:
    """A non-traced operand as an array of `dtype`; a Python int that does not fit raises, as
    numpy 2 does (`int8_array + 1000`)."""
    try:
        with np.errstate(all="ignore"):
            if is_py_scalar(x):
                return np.asarray(x, dtype=dtype)
            return np.asarray(x).astype(dtype)
    except OverflowError as e:
        raise TraceOverflowError(str(e)) from None


def coerce(x, dtype, shape) -> Tracer:
    """`x` (tracer, array or Python scalar) as a tracer of `dtype` broadcast to `shape`."""
    if isinstance(x, Tracer):
        return broadcast_to(cast(x, dtype), shape)
    a = literal(x, dtype)
    if a.ndim == 0:
        return constant(a, shape)
    return broadcast_to(constant(a), shape)


def promote(args, dtype=None) -> list[Tracer]:
    """All operands cast to their result type (or `dtype`) and broadcast to one shape."""
    dtype = result_type(*args) if dtype is None else dtype
    shape = broadcast_shapes(*(shape_of(a) for a in args))
    return [coerce(a, dtype, shape) for a in args]


def as_tracer(x, dtype=None) -> Tracer:
    """`x` as a tracer (a constant if it is not one), cast to `dtype` if given."""
    if isinstance(x, Tracer):
        return x if dtype is None else cast(x, dtype)
    return constant(literal(x, dtype_of(x) if dtype is None else dtype), weak=is_py_scalar(x))
