"""`Tracer`: a stand-in for a numpy array that records the operations applied to it as IR.

Operators and methods call the numpy function of the same name, so `x + y`, `np.add(x, y)` and
`x.sum()` all reach the one implementation behind `__array_ufunc__` / `__array_function__`.
Every op is emitted through `emit`, which tags it with the user's source location.
"""

from __future__ import annotations

import threading

import numpy as np

from ..ir import types as T
from ..ir.builder import Builder
from ..ir.core import DenseAttr, Function, Value
from .errors import DTypeError, TraceError, TracerBoolError, user_location


class TraceContext:
    """The function being traced and the builder that appends to it; contexts nest."""

    def __init__(self, function: Function):
        self.function = function
        self.builder = Builder.at_end(function.body)

    def __enter__(self) -> TraceContext:
        _stack().append(self)
        return self

    def __exit__(self, *exc) -> None:
        _stack().pop()


_LOCAL = threading.local()


def _stack() -> list[TraceContext]:
    if not hasattr(_LOCAL, "stack"):
        _LOCAL.stack = []
    return _LOCAL.stack


def current() -> TraceContext | None:
    """The innermost active trace, or None outside tracing."""
    stack = _stack()
    return stack[-1] if stack else None


def ir_dtype(dt) -> T.DType:
    """The IR dtype for a numpy dtype; DTypeError naming it if the IR has none."""
    try:
        return T.DType.from_numpy(dt)
    except TypeError:
        raise DTypeError(
            f"dtype {np.dtype(dt)} is not supported", f"use one of {', '.join(T.SUPPORTED_NAMES)}"
        ) from None


def _context(operands) -> TraceContext:
    ctx = current()
    if ctx is None:
        raise TraceError("a traced array was used outside of tracing")
    for t in operands:
        if t.ctx is not ctx:
            raise TraceError(
                "a traced array escaped the function that created it (leaked tracer)",
                "return it from the traced function instead of storing it",
            )
    return ctx


def emit(name: str, *operands: Tracer, weak: bool = False, **attrs) -> Tracer:
    """Append op `name` on the operands' values at the user's location; wrap its result."""
    ctx = _context(operands)
    ctx.builder.loc = user_location()
    return Tracer(ctx.builder.op(name, *(t.value for t in operands), **attrs), ctx, weak)


def constant(array: np.ndarray, shape: tuple[int, ...] | None = None, weak: bool = False) -> Tracer:
    """A `tir.constant` of `array` (its dtype); a 0-d array fills `shape` as a splat."""
    array = np.asarray(array)
    shape = array.shape if shape is None else tuple(shape)
    value = DenseAttr.of(array, T.TensorType(shape, ir_dtype(array.dtype)))
    return emit("tir.constant", value=value, weak=weak)


def _binary(ufunc):
    return (lambda self, other: ufunc(self, other)), (lambda self, other: ufunc(other, self))


def _inplace(ufunc):
    return lambda self, other: ufunc(self, other, out=(self,))


def _no_value(kind: str, hint: str):
    def convert(self):
        raise TracerBoolError(f"{kind} on a traced array {self._describe()}", hint)

    return convert


_BOOL_HINT = "use np.where(cond, a, b) instead"
_STATIC_HINT = "traced arrays have no value until run; pass it as a static argument instead"


class Tracer:
    """A traced array: an IR value plus numpy's array interface; `weak` marks values from
    Python scalars, which promote weakly (NEP 50)."""

    __slots__ = ("value", "ctx", "weak")
    __array_priority__ = 1000

    def __init__(self, value: Value, ctx: TraceContext, weak: bool = False):
        self.value, self.ctx, self.weak = value, ctx, weak

    # ---- array attributes --------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.type.shape

    @property
    def dtype(self) -> np.dtype:
        return self.value.type.dtype.np

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def T(self) -> Tracer:
        return np.transpose(self)

    @property
    def mT(self) -> Tracer:
        return np.matrix_transpose(self)

    def _describe(self) -> str:
        return f"of shape {self.shape} and dtype {self.dtype}"

    def __repr__(self) -> str:
        return f"Tracer({self.value.type}{', weak' if self.weak else ''})"

    # ---- numpy protocols ---------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from . import numpy_api

        return numpy_api.apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from . import numpy_api

        return numpy_api.apply_function(func, args, kwargs)

    def __array__(self, dtype=None, copy=None):
        raise TracerBoolError(
            f"converting a traced array {self._describe()} to a numpy array",
            "traced arrays have no value until run; use numpy functions on them directly "
            "(np.stack instead of np.array([...]))",
        )

    # ---- Python conversions: no concrete value during tracing --------------------------------
    __bool__ = _no_value("Python `if`/`while`/`bool()`", _BOOL_HINT)
    __int__ = _no_value("`int()`", _STATIC_HINT)
    __float__ = _no_value("`float()`", _STATIC_HINT)
    __complex__ = _no_value("`complex()`", _STATIC_HINT)
    __index__ = _no_value("Python integer use (`range()`, list index, shape)", _STATIC_HINT)
    item = _no_value("`.item()`", _STATIC_HINT)
    tolist = _no_value("`.tolist()`", _STATIC_HINT)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __getitem__(self, key) -> Tracer:
        from . import indexing

        return indexing.getitem(self, key)

    def __setitem__(self, key, v) -> None:
        from . import indexing

        indexing.setitem(self, key, v)

    # ---- operators ---------------------------------------------------------------------------
    __add__, __radd__ = _binary(np.add)
    __sub__, __rsub__ = _binary(np.subtract)
    __mul__, __rmul__ = _binary(np.multiply)
    __truediv__, __rtruediv__ = _binary(np.true_divide)
    __floordiv__, __rfloordiv__ = _binary(np.floor_divide)
    __mod__, __rmod__ = _binary(np.remainder)
    __rpow__ = _binary(np.power)[1]
    __matmul__, __rmatmul__ = _binary(np.matmul)
    __and__, __rand__ = _binary(np.bitwise_and)
    __or__, __ror__ = _binary(np.bitwise_or)
    __xor__, __rxor__ = _binary(np.bitwise_xor)
    __lshift__, __rlshift__ = _binary(np.left_shift)
    __rshift__, __rrshift__ = _binary(np.right_shift)
    __divmod__, __rdivmod__ = _binary(np.divmod)
    __eq__ = _binary(np.equal)[0]
    __ne__ = _binary(np.not_equal)[0]
    __lt__ = _binary(np.less)[0]
    __le__ = _binary(np.less_equal)[0]
    __gt__ = _binary(np.greater)[0]
    __ge__ = _binary(np.greater_equal)[0]
    __iadd__, __isub__, __imul__ = _inplace(np.add), _inplace(np.subtract), _inplace(np.multiply)
    __itruediv__, __ifloordiv__ = _inplace(np.true_divide), _inplace(np.floor_divide)
    __imod__, __ipow__ = _inplace(np.remainder), _inplace(np.power)
    __iand__, __ior__, __ixor__ = (
        _inplace(np.bitwise_and), _inplace(np.bitwise_or), _inplace(np.bitwise_xor),
    )  # fmt: skip
    __ilshift__, __irshift__ = _inplace(np.left_shift), _inplace(np.right_shift)
    __hash__ = None

    def __pow__(self, other) -> Tracer:
        # ndarray.__pow__ takes numpy's fast paths for scalar exponents (fast_scalar_power):
        # `** 2` is np.square (bools become int8, not int64), and for float arrays `** 0.5`,
        # `** -1` and `** 1` are sqrt, reciprocal and positive, whose roundings differ from pow
        if type(other) is int and other == 2:
            return np.square(self)
        if self.dtype.kind == "f" and type(other) in (int, float):
            fast = {2: np.square, 0.5: np.sqrt, -1: np.reciprocal, 1: np.positive}.get(other)
            if fast is not None:
                return fast(self)
        return np.power(self, other)

    def __neg__(self) -> Tracer:
        return np.negative(self)

    def __pos__(self) -> Tracer:
        return np.positive(self)

    def __abs__(self) -> Tracer:
        return np.absolute(self)

    def __invert__(self) -> Tracer:
        return np.invert(self)

    # ---- methods: the numpy functions of the same name ---------------------------------------
    def sum(self, *args, **kwargs):
        return np.sum(self, *args, **kwargs)

    def prod(self, *args, **kwargs):
        return np.prod(self, *args, **kwargs)

    def max(self, *args, **kwargs):
        return np.max(self, *args, **kwargs)

    def min(self, *args, **kwargs):
        return np.min(self, *args, **kwargs)

    def mean(self, *args, **kwargs):
        return np.mean(self, *args, **kwargs)

    def var(self, *args, **kwargs):
        return np.var(self, *args, **kwargs)

    def std(self, *args, **kwargs):
        return np.std(self, *args, **kwargs)

    def argmax(self, *args, **kwargs):
        return np.argmax(self, *args, **kwargs)

    def argmin(self, *args, **kwargs):
        return np.argmin(self, *args, **kwargs)

    def any(self, *args, **kwargs):
        return np.any(self, *args, **kwargs)

    def all(self, *args, **kwargs):
        return np.all(self, *args, **kwargs)

    def reshape(self, *shape, **kwargs):
        return np.reshape(self, shape[0] if len(shape) == 1 else shape, **kwargs)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], tuple | list)):
            axes = axes[0]
        return np.transpose(self, axes or None)

    def swapaxes(self, a: int, b: int):
        return np.swapaxes(self, a, b)

    def astype(self, dtype, *args, **kwargs):
        return np.astype(self, dtype, *args, **kwargs)

    def flatten(self):
        return np.ravel(self)

    def ravel(self):
        return np.ravel(self)

    def squeeze(self, *args, **kwargs):
        return np.squeeze(self, *args, **kwargs)

    def clip(self, *args, **kwargs):
        return np.clip(self, *args, **kwargs)

    def dot(self, other):
        return np.dot(self, other)

    def take(self, *args, **kwargs):
        return np.take(self, *args, **kwargs)

    def copy(self) -> Tracer:
        return Tracer(self.value, self.ctx, self.weak)
