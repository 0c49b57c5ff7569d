"""Elementwise ops: one table row declares both the tensor op `tir.X` and its scalar twin `s.X`.

A row is (name, arity, dtype class, result kind, numpy reference, doc, derivative). The tensor
op's operands all have one type (the frontend inserts casts and broadcasts first, as numpy's ufunc
loops do); the scalar op is what `tir.generic` bodies compute with, and what the backends lower.

The derivative maps `Sym`s (operands..., result r) to the partial derivative of r by each operand,
in tir ops: one value for a unary op, a pair for a binary one. `None` is a zero partial and
`1` / `-1` mark linear operands, so add and neg cost no multiplication. `derivative.from_partials`
makes the vjp and jvp rules from it. Rows without one (integer and bool ops) never carry a
(co)tangent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from . import types as T
from .derivative import (
    cast,
    cos,
    cosh,
    deflinear,
    eq,
    exp,
    floor,
    from_partials,
    gt,
    log,
    sign,
    sin,
    sinh,
    sqrt,
    where,
    zeros,
)
from .opdef import Attr, IRTypeError, OpDef, register


def _erf(x):
    x = np.asarray(x)
    out = np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64))
    return out.astype(x.dtype)


def _int_power(a, b):
    """numpy's integer power, extended to negative exponents by truncation (1/a**-b rounded
    toward zero), which is what the compiled code computes instead of raising."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "b":
        return np.logical_or(a, np.logical_not(b))
    neg = b < 0
    r = np.power(a, np.where(neg, 0, b).astype(b.dtype))
    special = np.where(a == 1, 1, np.where(a == -1, np.where(b % 2 == 0, 1, -1), 0))
    return np.where(neg, special.astype(a.dtype), r).astype(a.dtype)


def _pow(a, b):
    a = np.asarray(a)
    return np.power(a, b) if a.dtype.kind == "f" else _int_power(a, b)


def _shift(fn, right: bool):
    """numpy's shifts; shifts by >= the bit width (or negative) give 0, or -1 for negative values
    shifted right, which is what numpy computes and what the backend must reproduce."""

    def run(a, b):
        a, b = np.asarray(a), np.asarray(b)
        bits = a.dtype.itemsize * 8
        big = (b < 0) | (b >= bits)
        safe = np.where(big, 0, b).astype(b.dtype)
        r = fn(a, safe)
        fill = np.where(a < 0, -1, 0) if right else 0
        return np.where(big, np.asarray(fill).astype(a.dtype), r).astype(a.dtype)

    return run


# dtype classes: which element kinds an op accepts ("x" = index, the loop-level integer)
CLASSES = {
    "float": "f",
    "num": "iuf",
    "signed": "if",
    "int": "iux",
    "intbool": "iub",
    "bool": "b",
    "any": "iufbx",
    "numidx": "iufx",
}


class Row(NamedTuple):
    name: str
    arity: int
    cls: str  # key of CLASSES
    result: str  # "same" or "bool"
    ref: object  # numpy reference on equal-dtype operands
    doc: str
    d: Callable | None = None  # (operands..., result) -> partial derivative(s)


def _d_pow(x, y, r):
    # 0 ** 0 has slope 0 in x (not 0 * 0 ** -1 = NaN), as JAX defines it; x = 0 reads log(1) = 0
    # in y's partial: 0 ** y is flat in y wherever it is finite
    return where(eq(y, 0), 0, y * x ** (y - 1)), log(where(eq(x, 0), 1, x)) * r


def _d_arctan2(x, y, r):
    return y / (x * x + y * y), -x / (x * x + y * y)


def _zero(*xs):
    """Piecewise constant: zero slope almost everywhere."""
    return (None,) * (len(xs) - 1)


def _d_log1p(x, r):
    return 1 / (1 + x)


def _d_arccos(x, r):
    return -1 / sqrt(1 - x * x)


def _d_erf(x, r):
    return 2 / math.sqrt(math.pi) * exp(-x * x)


def _d_add(x, y, r):
    return 1, 1


def _d_mod(x, y, r):
    return 1, -floor(x / y)


# a tie splits the slope evenly, as in JAX: then the two partials sum to 1, and symmetric
# forms stay exact at their kinks (|x| = max(x, -x) has slope 0 at 0, as sign(0) says)
def _d_max(x, y, r):
    p = where(eq(x, y), 0.5, cast(gt(x, y), x))
    return p, 1 - p


def _d_min(x, y, r):
    p = where(eq(x, y), 0.5, cast(gt(y, x), x))
    return p, 1 - p


ROWS = [
    Row("neg", 1, "numidx", "same", np.negative, "-x (wrapping for integers)", lambda x, r: -1),
    Row("abs", 1, "num", "same", np.absolute, "|x|", lambda x, r: sign(x)),
    Row("sign", 1, "num", "same", np.sign, "-1, 0 or 1; NaN stays NaN", _zero),
    Row("exp", 1, "float", "same", np.exp, "e**x", lambda x, r: r),
    Row("log", 1, "float", "same", np.log, "natural logarithm", lambda x, r: 1 / x),
    Row("log1p", 1, "float", "same", np.log1p, "log(1 + x), accurate near 0", _d_log1p),
    Row("expm1", 1, "float", "same", np.expm1, "exp(x) - 1, accurate near 0", lambda x, r: r + 1),
    Row("sqrt", 1, "float", "same", np.sqrt, "square root", lambda x, r: 0.5 / r),
    Row("cbrt", 1, "float", "same", np.cbrt, "cube root", lambda x, r: 1 / (3 * r * r)),
    Row("sin", 1, "float", "same", np.sin, "sine", lambda x, r: cos(x)),
    Row("cos", 1, "float", "same", np.cos, "cosine", lambda x, r: -sin(x)),
    Row("tan", 1, "float", "same", np.tan, "tangent", lambda x, r: 1 + r * r),
    Row("tanh", 1, "float", "same", np.tanh, "hyperbolic tangent", lambda x, r: 1 - r * r),
    Row("sinh", 1, "float", "same", np.sinh, "hyperbolic sine", lambda x, r: cosh(x)),
    Row("cosh", 1, "float", "same", np.cosh, "hyperbolic cosine", lambda x, r: sinh(x)),
    Row("arcsin", 1, "float", "same", np.arcsin, "inverse sine", lambda x, r: 1 / sqrt(1 - x * x)),
    Row("arccos", 1, "float", "same", np.arccos, "inverse cosine", _d_arccos),
    Row("arctan", 1, "float", "same", np.arctan, "inverse tangent", lambda x, r: 1 / (1 + x * x)),
    Row("erf", 1, "float", "same", _erf, "error function", _d_erf),
    Row("floor", 1, "float", "same", np.floor, "round toward -inf", _zero),
    Row("ceil", 1, "float", "same", np.ceil, "round toward +inf", _zero),
    Row("round", 1, "float", "same", np.rint, "round half to even", _zero),
    Row("isnan", 1, "float", "bool", np.isnan, "x is NaN"),
    Row("isinf", 1, "float", "bool", np.isinf, "x is +-inf"),
    Row("isfinite", 1, "float", "bool", np.isfinite, "x is neither NaN nor inf"),
    Row("not", 1, "intbool", "same", np.invert, "bitwise not; logical not for bool"),
    Row("add", 2, "numidx", "same", np.add, "x + y (wrapping for integers)", _d_add),
    Row("sub", 2, "numidx", "same", np.subtract, "x - y", lambda x, y, r: (1, -1)),
    Row("mul", 2, "numidx", "same", np.multiply, "x * y", lambda x, y, r: (y, x)),
    Row("div", 2, "float", "same", np.true_divide, "x / y", lambda x, y, r: (1 / y, -r / y)),
    Row(
        "floordiv", 2, "numidx", "same", np.floor_divide, "floor(x / y); integer x // 0 is 0", _zero
    ),
    Row("mod", 2, "numidx", "same", np.remainder, "x - floor(x / y) * y; sign of y", _d_mod),
    Row("pow", 2, "num", "same", _pow, "x ** y", _d_pow),
    Row("max", 2, "any", "same", np.maximum, "maximum, NaN-propagating", _d_max),
    Row("min", 2, "any", "same", np.minimum, "minimum, NaN-propagating", _d_min),
    Row(
        "arctan2",
        2,
        "float",
        "same",
        np.arctan2,
        "angle of (x=y, y=x) with the right quadrant",
        _d_arctan2,
    ),
    Row("and", 2, "intbool", "same", np.bitwise_and, "bitwise and; logical and for bool"),
    Row("or", 2, "intbool", "same", np.bitwise_or, "bitwise or; logical or for bool"),
    Row("xor", 2, "intbool", "same", np.bitwise_xor, "bitwise xor; logical xor for bool"),
    Row("shl", 2, "int", "same", _shift(np.left_shift, False), "x << y"),
    Row("shr", 2, "int", "same", _shift(np.right_shift, True), "x >> y (arithmetic if signed)"),
    Row("eq", 2, "any", "bool", np.equal, "x == y"),
    Row("ne", 2, "any", "bool", np.not_equal, "x != y"),
    Row("lt", 2, "any", "bool", np.less, "x < y"),
    Row("le", 2, "any", "bool", np.less_equal, "x <= y"),
    Row("gt", 2, "any", "bool", np.greater, "x > y"),
    Row("ge", 2, "any", "bool", np.greater_equal, "x >= y"),
]
BY_NAME = {r.name: r for r in ROWS}


def _check_kind(opname: str, t, cls: str) -> None:
    el = T.element_type(t)
    kind = "x" if isinstance(el, T.IndexType) else el.kind
    if kind not in CLASSES[cls]:
        allowed = {"f": "float", "i": "signed int", "u": "unsigned int", "b": "bool", "x": "index"}
        names = ", ".join(allowed[k] for k in CLASSES[cls])
        raise IRTypeError(f"{opname} expects {names} operands, got {el}")


def _infer(row: Row, opname: str, tensor: bool):
    def infer(types, attrs):
        first = types[0]
        if tensor != isinstance(first, T.TensorType):
            want = "tensor" if tensor else "scalar"
            raise IRTypeError(f"{opname} expects {want} operands, got {first}")
        for t in types[1:]:
            if t != first:
                raise IRTypeError(f"{opname} operands must have one type, got {first} and {t}")
        _check_kind(opname, first, row.cls)
        if row.result == "bool":
            return [first.with_dtype(T.bool_) if tensor else T.bool_]
        return [first]

    return infer


def _eval(row: Row):
    def run(args, attrs):
        with np.errstate(all="ignore"):
            out = np.asarray(row.ref(*args))
        dtype = np.bool_ if row.result == "bool" else np.asarray(args[0]).dtype
        return [out.astype(dtype, copy=False)]

    return run


def _elementwise_to_generic(b, op):
    return b.elementwise("s." + op.name[4:], op.operands, dict(op.attrs))


for _row in ROWS:
    _vjp, _jvp = from_partials(_row.d) if _row.d is not None else (None, None)
    for _prefix, _tensor in (("tir.", True), ("s.", False)):
        register(
            OpDef(
                name=_prefix + _row.name,
                infer=_infer(_row, _prefix + _row.name, _tensor),
                num_operands=_row.arity,
                traits=frozenset({"pure", "elementwise"}),
                eval=_eval(_row),
                to_generic=_elementwise_to_generic if _tensor else None,
                vjp=_vjp if _tensor else None,
                jvp=_jvp if _tensor else None,
                doc=_row.doc,
            )
        )


def _select_infer(tensor: bool):
    def infer(types, attrs):
        c, a, b = types
        if a != b:
            raise IRTypeError(f"select branches must have one type, got {a} and {b}")
        want = a.with_dtype(T.bool_) if tensor else T.bool_
        if c != want:
            raise IRTypeError(f"select condition must be {want}, got {c}")
        return [a]

    return infer


def _cast_infer(tensor: bool):
    def infer(types, attrs):
        (t,) = types
        if tensor:
            if not isinstance(t, T.TensorType):
                raise IRTypeError(f"tir.cast expects a tensor, got {t}")
            return [t.with_dtype(attrs["dtype"])]
        if attrs.get("f32_blocks") and (t, attrs["dtype"]) != (T.f32, T.f64):
            raise IRTypeError(f"s.cast: f32_blocks widens f32 to f64, not {t} to {attrs['dtype']}")
        return [attrs["dtype"]]

    return infer


def _cast_eval(args, attrs):
    with np.errstate(all="ignore"):
        return [np.asarray(args[0]).astype(attrs["dtype"].np)]


for _prefix, _tensor in (("tir.", True), ("s.", False)):
    register(
        OpDef(
            name=_prefix + "select",
            infer=_select_infer(_tensor),
            num_operands=3,
            traits=frozenset({"pure", "elementwise"}),
            eval=lambda args, attrs: [np.where(args[0], args[1], args[2])],
            to_generic=_elementwise_to_generic if _tensor else None,
            doc="cond ? x : y",
        )
    )
    register(
        OpDef(
            name=_prefix + "cast",
            infer=_cast_infer(_tensor),
            num_operands=1,
            attrs={"dtype": Attr(T.DType)}
            if _tensor
            else {"dtype": Attr((T.DType, T.IndexType)), "f32_blocks": Attr(bool, optional=True)},
            traits=frozenset({"pure", "elementwise"}),
            eval=_cast_eval,
            to_generic=_elementwise_to_generic if _tensor else None,
            doc="convert to another element type with numpy's astype semantics"
            + (
                ""
                if _tensor
                else "; `f32_blocks` marks the widening of a float32 sum's terms to its float64"
                " accumulator, which owes only numpy's float32 accuracy: a backend may add the"
                " terms in float32 blocks (`lower_llvm/loops.py`)"
            ),
        )
    )


def _select_transpose(b, op, ct):
    c, x, _ = op.operands
    zero = zeros(b, ct.type)
    return [None, b.op("tir.select", c, ct, zero), b.op("tir.select", c, zero, ct)]


def _cast_transpose(b, op, ct):
    # only float -> float casts carry a cotangent; it goes back in the operand's precision
    return [b.op("tir.cast", ct, dtype=op.operands[0].type.dtype)]


deflinear("tir.select", _select_transpose, linear=(1, 2))
deflinear("tir.cast", _cast_transpose)
