"""numpy on tracers: the ufunc table `ELEMENTWISE` and the function table `FUNCTIONS`.

A ufunc call resolves numpy's loop dtypes (`promote.resolve_ufunc`), casts and broadcasts the
operands, and calls the row's implementation on equal-shaped, loop-typed tracers; most rows are
one IR op. Other numpy functions register with `@implements(np.fn)` in the modules beside this
one (reductions, shapes, linalg, creation, indexing).
"""

from __future__ import annotations

import functools
import inspect
import math
import operator
from collections.abc import Callable

import numpy as np

from .errors import DTypeError, ShapeError, UnsupportedError
from .promote import (
    as_tracer,
    broadcast_shapes,
    broadcast_to,
    cast,
    coerce,
    dtype_of,
    is_py_scalar,
    is_weak,
    resolve_ufunc,
    shape_of,
)
from .tracer import Tracer, constant, emit

ELEMENTWISE: dict[np.ufunc, Callable[..., Tracer]] = {}
FUNCTIONS: dict[Callable, Callable] = {}


def implements(*funcs: Callable):
    """Register the decorated function as the tracer implementation of numpy's `funcs`."""

    def wrap(impl):
        for f in funcs:
            FUNCTIONS[f] = impl
        return impl

    return wrap


def numpy_name(func) -> str:
    """`np.linalg.norm` for numpy.linalg.norm; ufuncs and top-level functions as `np.<name>`."""
    module = getattr(func, "__module__", None) or "numpy"
    sub = ".".join(p for p in module.split(".")[1:] if not p.startswith("_"))
    return "np." + (f"{sub}." if sub else "") + func.__name__


# ---- dispatch -----------------------------------------------------------------------------------


@functools.cache
def _parameters(impl) -> dict:
    return dict(inspect.signature(impl).parameters)


def call(name: str, impl: Callable, args, kwargs):
    """Call `impl` after checking numpy's arguments against its signature (which mirrors
    numpy's positional order): an argument it lacks, or an `out=`, is unsupported, unless it is
    None (numpy's default for `out=` and the like)."""
    params = _parameters(impl)
    kwargs = {k: v for k, v in kwargs.items() if k in params or v is not None}
    for k in kwargs:
        if k not in params:
            raise UnsupportedError(f"keyword `{k}=` of {name} is not supported")
    positional = [
        p.name for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    variadic = any(p.kind == p.VAR_POSITIONAL for p in params.values())
    if not variadic and len(args) > len(positional):
        raise UnsupportedError(f"{name} with {len(args)} positional arguments is not supported")
    if {**dict(zip(positional, args, strict=False)), **kwargs}.get("out") is not None:
        raise UnsupportedError(f"keyword `out=` of {name} is not supported")
    return impl(*args, **kwargs)


def _fresh(out, args):
    """A function's results as new, strongly typed tracers: a result that is an input (reshape
    to the same shape) must not share item assignments with it, and only ufuncs keep weakness."""
    if isinstance(out, tuple):
        return tuple(_fresh(o, args) for o in out)
    if isinstance(out, Tracer) and (out.weak or any(out is a for a in args)):
        return Tracer(out.value, out.ctx)
    return out


def apply_function(func, args, kwargs):
    """`__array_function__`: the implementation of numpy function `func`."""
    impl = FUNCTIONS.get(func)
    if impl is None:
        raise UnsupportedError(f"{numpy_name(func)} is not supported on traced arrays")
    return _fresh(call(numpy_name(func), impl, args, kwargs), args)


@functools.cache
def _bound(ufunc: np.ufunc) -> Callable[..., Tracer]:
    return functools.partial(elementwise, ufunc)


def apply_ufunc(ufunc: np.ufunc, method: str, inputs, kwargs):
    """`__array_ufunc__`: a ufunc call (also in place, with `out=`), `reduce` or `outer`."""
    name = numpy_name(ufunc) + ("" if method == "__call__" else f".{method}")
    out = kwargs.pop("out", None)
    if method == "__call__" and ufunc in ELEMENTWISE:
        result = call(name, _bound(ufunc), inputs, kwargs)
        return result if out is None else _store(name, out, result)
    if out is not None:
        raise UnsupportedError(f"keyword `out=` of {name} is not supported")
    if method == "__call__" and ufunc in FUNCTIONS:
        impl = FUNCTIONS[ufunc]
    elif method == "reduce" and ufunc in REDUCERS:
        kwargs.setdefault("axis", 0)
        impl = REDUCERS[ufunc]
    elif method == "outer" and ufunc in ELEMENTWISE and len(inputs) == 2:
        a, b = inputs
        inputs, impl = (np.reshape(a, shape_of(a) + (1,) * len(shape_of(b))), b), _bound(ufunc)
    else:
        raise UnsupportedError(f"{name} is not supported")
    return _fresh(call(name, impl, inputs, kwargs), inputs)


def _store(name: str, out, result: Tracer) -> Tracer:
    """numpy's `out=`: the result cast (same_kind) into the output tracer, which is rebound to
    it; this is how `x += y` updates `x` for every name bound to it."""
    (target,) = out
    if not isinstance(target, Tracer):
        raise UnsupportedError(f"`out=` of {name} that is not a traced array")
    if broadcast_shapes(result.shape, target.shape) != target.shape:
        raise ShapeError(
            f"non-broadcastable output operand with shape {target.shape} doesn't match the "
            f"broadcast shape {result.shape}"
        )
    if not np.can_cast(result.dtype, target.dtype, "same_kind"):
        raise DTypeError(
            f"cannot cast {name} output from {result.dtype} to {target.dtype} with casting rule "
            "'same_kind'"
        )
    target.value = broadcast_to(cast(result, target.dtype), target.shape).value
    return target


REDUCERS: dict[np.ufunc, Callable] = {}  # np.add -> sum etc., filled by reductions.py


def elementwise(ufunc: np.ufunc, *args, dtype=None, where=True) -> Tracer:
    """Apply `ufunc` as numpy does: loop dtypes, casts, broadcasting, then the table's row."""
    if where is not True:
        raise UnsupportedError(f"keyword `where=` of {numpy_name(ufunc)} is not supported")
    if ufunc in _PY_COMPARE and all(dtype_of(a).kind != "f" for a in args):
        args = [_strong_int(a) for a in args]
    in_dts, out_dts = resolve_ufunc(ufunc, args, dtype)
    shape = broadcast_shapes(*(shape_of(a) for a in args))
    if ufunc in _PY_COMPARE:
        out = _compare_out_of_range(ufunc, args, in_dts, shape)
        if out is not None:
            return out
    out = ELEMENTWISE[ufunc](*(coerce(a, d, shape) for a, d in zip(args, in_dts, strict=True)))
    assert out.dtype == out_dts[0], (ufunc, out.dtype, out_dts)
    return Tracer(out.value, out.ctx, all(is_weak(a) for a in args))


# ---- the ufunc table ----------------------------------------------------------------------------


def _op(name: str) -> Callable[..., Tracer]:
    return lambda *xs: emit(name, *xs)


def _splat(x: Tracer, value) -> Tracer:
    return constant(np.asarray(value, dtype=x.dtype), x.shape)


def _on_bool(name: str, bool_name: str):
    """numpy's add/multiply of bools are logical or/and."""
    return lambda a, b: emit(bool_name if a.dtype == np.bool_ else name, a, b)


def _float_only(name: str, otherwise: Callable[[Tracer], Tracer]):
    """Ops numpy also defines on ints and bools, where they are trivial (floor, isnan)."""
    return lambda x: emit(name, x) if x.dtype.kind == "f" else otherwise(x)


def _logical(name: str):
    """numpy's logical loops take any dtype (`x != 0` is the truth value) and give bools."""
    return lambda *xs: emit(name, *(cast(x, np.bool_) for x in xs))


def _identity(x: Tracer) -> Tracer:
    return x


def _log_base(base: float):
    def log(x: Tracer) -> Tracer:
        # float16 goes through float32 so the division by log(base) adds no visible error
        y = cast(x, np.float32) if x.dtype == np.float16 else x
        return cast(emit("tir.div", emit("tir.log", y), _splat(y, math.log(base))), x.dtype)

    return log


def _reciprocal(x: Tracer) -> Tracer:
    if x.dtype.kind == "f":
        return emit("tir.div", _splat(x, 1), x)
    # integer 1 / x truncated toward zero: 1 for 1, -1 for -1, else 0; numpy leaves 1 / 0 to
    # the C cast of inf, which differs by dtype and platform, and this gives 0
    out = emit("tir.select", emit("tir.eq", x, _splat(x, 1)), _splat(x, 1), _splat(x, 0))
    if x.dtype.kind == "i":
        out = emit("tir.select", emit("tir.eq", x, _splat(x, -1)), _splat(x, -1), out)
    return out


def _trunc(x: Tracer) -> Tracer:
    negative = emit("tir.lt", x, _splat(x, 0))
    return emit("tir.select", negative, emit("tir.ceil", x), emit("tir.floor", x))


def _nan_ignoring(name: str):
    """fmax/fmin: like maximum/minimum, but a NaN operand yields the other operand."""

    def run(a: Tracer, b: Tracer) -> Tracer:
        out = emit(name, a, b)
        if a.dtype.kind != "f":
            return out
        out = emit("tir.select", emit("tir.isnan", b), a, out)
        return emit("tir.select", emit("tir.isnan", a), b, out)

    return run


_PY_COMPARE = {
    np.equal: operator.eq,
    np.not_equal: operator.ne,
    np.less: operator.lt,
    np.less_equal: operator.le,
    np.greater: operator.gt,
    np.greater_equal: operator.ge,
}


def _compare(name: str, ufunc: np.ufunc):
    def run(a: Tracer, b: Tracer) -> Tracer:
        if a.dtype == b.dtype:
            return emit(name, a, b)
        # numpy's int64-vs-uint64 loop compares exactly: a negative signed value is below every
        # unsigned one; otherwise both fit uint64
        signed_first = a.dtype.kind == "i"
        signed = a if signed_first else b
        below = _PY_COMPARE[ufunc](*((-1, 0) if signed_first else (0, -1)))
        same = emit(name, cast(a, np.uint64), cast(b, np.uint64))
        negative = emit("tir.lt", signed, _splat(signed, 0))
        return emit("tir.select", negative, _splat(same, below), same)

    return run


def _strong_int(a):
    """A traced Python int compares with integers as int64: its value may lie outside the
    other operand's dtype, where numpy compares exactly (see `_compare_out_of_range`)."""
    if isinstance(a, Tracer) and a.weak and a.dtype.kind == "i":
        return Tracer(a.value, a.ctx)
    return a


def _compare_out_of_range(ufunc, args, in_dts, shape) -> Tracer | None:
    """numpy 2 compares integer arrays with Python ints outside their dtype's range exactly
    (`uint8_array < -1` is all False) instead of raising; the result is then constant."""
    for i, (a, dt) in enumerate(zip(args, in_dts, strict=True)):
        if is_py_scalar(a) and not isinstance(a, bool) and dt.kind in "iu":
            info = np.iinfo(dt)
            if not info.min <= a <= info.max:
                sample = [int(info.min)] * len(args)
                sample[i] = a
                return constant(np.asarray(_PY_COMPARE[ufunc](*sample)), shape)
    return None


ELEMENTWISE.update(
    {
        np.add: _on_bool("tir.add", "tir.or"),
        np.subtract: _op("tir.sub"),
        np.multiply: _on_bool("tir.mul", "tir.and"),
        np.true_divide: _op("tir.div"),
        np.floor_divide: _op("tir.floordiv"),
        np.remainder: _op("tir.mod"),
        np.power: _op("tir.pow"),
        np.negative: _op("tir.neg"),
        np.positive: _identity,
        np.absolute: lambda x: x if x.dtype == np.bool_ else emit("tir.abs", x),
        np.fabs: _op("tir.abs"),
        np.sign: _op("tir.sign"),
        np.square: lambda x: emit("tir.mul", x, x),
        np.reciprocal: _reciprocal,
        np.exp: _op("tir.exp"),
        np.exp2: lambda x: emit("tir.pow", _splat(x, 2), x),
        np.log: _op("tir.log"),
        np.log2: _log_base(2.0),
        np.log10: _log_base(10.0),
        np.log1p: _op("tir.log1p"),
        np.expm1: _op("tir.expm1"),
        np.sqrt: _op("tir.sqrt"),
        np.cbrt: _op("tir.cbrt"),
        np.sin: _op("tir.sin"),
        np.cos: _op("tir.cos"),
        np.tan: _op("tir.tan"),
        np.tanh: _op("tir.tanh"),
        np.sinh: _op("tir.sinh"),
        np.cosh: _op("tir.cosh"),
        np.arcsin: _op("tir.arcsin"),
        np.arccos: _op("tir.arccos"),
        np.arctan: _op("tir.arctan"),
        np.arctan2: _op("tir.arctan2"),
        np.floor: _float_only("tir.floor", _identity),
        np.ceil: _float_only("tir.ceil", _identity),
        np.trunc: lambda x: _trunc(x) if x.dtype.kind == "f" else x,
        np.rint: _op("tir.round"),
        np.isnan: _float_only("tir.isnan", lambda x: constant(np.asarray(False), x.shape)),
        np.isinf: _float_only("tir.isinf", lambda x: constant(np.asarray(False), x.shape)),
        np.isfinite: _float_only("tir.isfinite", lambda x: constant(np.asarray(True), x.shape)),
        np.maximum: _op("tir.max"),
        np.minimum: _op("tir.min"),
        np.fmax: _nan_ignoring("tir.max"),
        np.fmin: _nan_ignoring("tir.min"),
        np.logical_and: _logical("tir.and"),
        np.logical_or: _logical("tir.or"),
        np.logical_xor: _logical("tir.xor"),
        np.logical_not: _logical("tir.not"),
        np.bitwise_and: _op("tir.and"),
        np.bitwise_or: _op("tir.or"),
        np.bitwise_xor: _op("tir.xor"),
        np.invert: _op("tir.not"),
        np.left_shift: _op("tir.shl"),
        np.right_shift: _op("tir.shr"),
    }
)
ELEMENTWISE.update(
    {
        u: _compare(f"tir.{n}", u)
        for u, n in (
            (np.equal, "eq"),
            (np.not_equal, "ne"),
            (np.less, "lt"),
            (np.less_equal, "le"),
            (np.greater, "gt"),
            (np.greater_equal, "ge"),
        )
    }
)


def erf(x) -> Tracer:
    """The error function on a tracer (no numpy ufunc), typed like numpy's `exp`."""
    (dt,), _ = resolve_ufunc(np.exp, [x])
    out = emit("tir.erf", coerce(x, dt, shape_of(x)))
    return Tracer(out.value, out.ctx, is_weak(x))


@implements(np.divmod)
def divmod_(x1, x2, dtype=None) -> tuple[Tracer, Tracer]:
    return (
        elementwise(np.floor_divide, x1, x2, dtype=dtype),
        elementwise(np.remainder, x1, x2, dtype=dtype),
    )


@implements(np.round, np.around)
def round_(a, decimals=0) -> Tracer:
    x = as_tracer(a)
    if x.dtype.kind != "f":
        if decimals >= 0:
            return x
        return round_(x.astype(np.float64), decimals).astype(x.dtype)
    if decimals == 0:
        return np.rint(x)
    # numpy scales by a power of ten, rounds half to even, and scales back
    if decimals > 0:
        return np.rint(x * 10.0**decimals) / 10.0**decimals
    return np.rint(x / 10.0**-decimals) * 10.0**-decimals
