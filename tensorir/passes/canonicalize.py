"""Canonicalization: algebraic identities, strength reduction and movement-op chains, each one
pattern whose docstring states its algebra, plus constant folding (`fold.py`).

Every rewrite here is exact: it gives the bits numpy's evaluation gives, signed zeros and NaN
included (so `x + 0.0` stays for floats: -0.0 + 0.0 is +0.0). The strength reductions of `pow`
give the correctly rounded `x * x` and `sqrt(x)` where numpy's vectorized `pow` is up to an ulp
off (the square is what numpy's own `x ** 2` computes). Rewrites that change rounding
for accuracy belong to `stabilize.py`; `(a * b) / b -> a` is never done for floats.

>>> from tensorir.ir.parser import parse_module
>>> from tensorir.ir.printer import print_function
>>> m = parse_module('''func.func @f(%arg0: tensor<3xf32>) -> tensor<3xf32> {
...   %0 = "tir.constant"() {value = dense<4.0> : tensor<3xf32>} : () -> tensor<3xf32>
...   %1 = "tir.div"(%arg0, %0) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
...   "func.return"(%1) : (tensor<3xf32>) -> ()
... }''')
>>> print(print_function(canonicalize(m).functions[0]))
func.func @f(%arg0: tensor<3xf32>) -> tensor<3xf32> {
  %0 = "tir.constant"() {value = dense<0.25> : tensor<3xf32>} : () -> tensor<3xf32>
  %1 = "tir.mul"(%arg0, %0) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  "func.return"(%1) : (tensor<3xf32>) -> ()
}
"""

from __future__ import annotations

import numpy as np

from ..ir.builder import Builder
from ..ir.core import Module, Operation, Value
from ..ir.opdef import REGISTRY
from ..ir.types import DType
from .fold import FOLD
from .manager import register_pass
from .pattern import Pat, PatternSet, apply_patterns, const_attr, splat_value

CANON = PatternSet("canonicalize", include=[FOLD])
X, Y = Pat.var("x"), Pat.var("y")

# elementwise ops of one operand: they commute with any movement of their operand
UNARY = tuple(
    sorted(
        n
        for n, d in REGISTRY.items()
        if n.startswith("tir.") and "elementwise" in d.traits and d.num_operands == 1
    )
)


def _is_int(v: Value) -> bool:
    return v.type.dtype.is_int


def _plus_zero(c: np.generic) -> bool:
    """c is an additive identity: 0, or for floats -0.0 (x + +0.0 turns -0.0 into +0.0)."""
    return c == 0 and (c.dtype.kind != "f" or bool(np.signbit(c)))


def _minus_zero(c: np.generic) -> bool:
    """x - c == x: c is 0, or for floats +0.0."""
    return c == 0 and not (c.dtype.kind == "f" and np.signbit(c))


# ---- arithmetic ---------------------------------------------------------------------------------


@CANON.pattern(Pat("tir.mul", X, Pat.splat(1), commutative=True))
def canon_mul_one(b: Builder, op: Operation, x: Value) -> Value:
    """x * 1 -> x"""
    return x


@CANON.pattern(Pat("tir.mul", X, Pat.splat(-1), commutative=True))
def canon_mul_minus_one(b: Builder, op: Operation, x: Value) -> Value:
    """x * -1 -> -x"""
    return b.op("tir.neg", x)


@CANON.pattern(Pat("tir.mul", X, Pat.splat(0, name="zero"), commutative=True, where=_is_int))
def canon_mul_zero_int(b: Builder, op: Operation, x: Value, zero: Value) -> Value:
    """x * 0 -> 0 for integers (for floats, inf * 0 is NaN)"""
    return zero


@CANON.pattern(Pat("tir.add", X, Pat.splat(_plus_zero), commutative=True))
def canon_add_zero(b: Builder, op: Operation, x: Value) -> Value:
    """x + 0 -> x (for floats, x + -0.0 only)"""
    return x


@CANON.pattern(Pat("tir.sub", X, Pat.splat(_minus_zero)))
def canon_sub_zero(b: Builder, op: Operation, x: Value) -> Value:
    """x - 0 -> x (for floats, x - +0.0 only)"""
    return x


@CANON.pattern(Pat("tir.sub", Pat.splat(_plus_zero), X))
def canon_zero_sub(b: Builder, op: Operation, x: Value) -> Value:
    """0 - x -> -x (for floats, -0.0 - x only)"""
    return b.op("tir.neg", x)


@CANON.pattern(Pat("tir.sub", X, X, where=_is_int))
def canon_sub_self_int(b: Builder, op: Operation, x: Value) -> Value:
    """x - x -> 0 for integers (for floats, inf - inf is NaN)"""
    return b.constant(0, op.result.type)


@CANON.pattern(Pat("tir.add", X, Pat("tir.neg", Y), commutative=True))
def canon_add_neg(b: Builder, op: Operation, x: Value, y: Value) -> Value:
    """x + -y -> x - y"""
    return b.op("tir.sub", x, y)


@CANON.pattern(Pat("tir.sub", X, Pat("tir.neg", Y)))
def canon_sub_neg(b: Builder, op: Operation, x: Value, y: Value) -> Value:
    """x - -y -> x + y"""
    return b.op("tir.add", x, y)


@CANON.pattern(Pat("tir.neg", Pat("tir.neg", X)))
def canon_neg_neg(b: Builder, op: Operation, x: Value) -> Value:
    """-(-x) -> x"""
    return x


@CANON.pattern(Pat("tir.not", Pat("tir.not", X)))
def canon_not_not(b: Builder, op: Operation, x: Value) -> Value:
    """~(~x) -> x"""
    return x


@CANON.pattern(Pat("tir.abs", Pat("tir.abs", name="inner")))
def canon_abs_abs(b: Builder, op: Operation, inner: Value) -> Value:
    """|(|x|)| -> |x|"""
    return inner


@CANON.pattern(Pat("tir.abs", Pat("tir.neg", X), where=lambda v: v.type.dtype.kind != "u"))
def canon_abs_neg(b: Builder, op: Operation, x: Value) -> Value:
    """|-x| -> |x| for signed types (abs of an unsigned value is the value: |-x| is -x)"""
    return b.op("tir.abs", x)


@CANON.pattern(Pat("tir.div", X, Pat.const("c")))
def canon_div_power_of_two(b: Builder, op: Operation, x: Value, c: Value) -> Value | None:
    """x / c -> x * (1 / c) when c is a power of two (so 1 / c is exact)"""
    a = const_attr(c)
    with np.errstate(all="ignore"):
        r = np.reciprocal(a.array)
    mantissa, _ = np.frexp(a.array)
    if not (np.all(np.abs(mantissa) == 0.5) and np.all(np.isfinite(r)) and np.all(r != 0)):
        return None
    return b.op("tir.mul", x, b.constant(r, a.type))


@CANON.pattern(Pat("tir.select", Pat.splat(name="cond"), X, Y))
def canon_select_const(b: Builder, op: Operation, cond: Value, x: Value, y: Value) -> Value:
    """select(true, x, y) -> x; select(false, x, y) -> y"""
    return x if splat_value(cond) else y


@CANON.pattern(Pat("tir.select", Pat.var("cond"), X, X))
def canon_select_same(b: Builder, op: Operation, cond: Value, x: Value) -> Value:
    """select(c, x, x) -> x"""
    return x


# ---- strength reduction -------------------------------------------------------------------------


@CANON.pattern(Pat("tir.pow", X, Pat.splat(1)))
def canon_pow_one(b: Builder, op: Operation, x: Value) -> Value:
    """x ** 1 -> x"""
    return x


@CANON.pattern(Pat("tir.pow", X, Pat.splat(0)))
def canon_pow_zero(b: Builder, op: Operation, x: Value) -> Value:
    """x ** 0 -> 1 (NaN ** 0 too)"""
    return b.constant(1, op.result.type)


@CANON.pattern(Pat("tir.pow", X, Pat.splat(2)))
def canon_pow_two(b: Builder, op: Operation, x: Value) -> Value:
    """x ** 2 -> x * x"""
    return b.op("tir.mul", x, x)


@CANON.pattern(Pat("tir.pow", X, Pat.splat(0.5)))
def canon_pow_half(b: Builder, op: Operation, x: Value) -> Value:
    """x ** 0.5 -> (x == -inf) ? inf : |sqrt(x)| (pow's values at -inf and -0.0)"""
    t = op.result.type
    is_minus_inf = b.op("tir.eq", x, b.constant(-np.inf, t))
    root = b.op("tir.abs", b.op("tir.sqrt", x))
    return b.op("tir.select", is_minus_inf, b.constant(np.inf, t), root)


# ---- movement -----------------------------------------------------------------------------------


@CANON.pattern(Pat("tir.transpose", X))
def canon_transpose_identity(b: Builder, op: Operation, x: Value) -> Value | None:
    """transpose(x, identity) -> x"""
    return x if op.attrs["perm"] == tuple(range(x.type.rank)) else None


@CANON.pattern(Pat("tir.transpose", Pat("tir.transpose", X, name="inner")))
def canon_transpose_transpose(b: Builder, op: Operation, x: Value, inner: Value) -> Value:
    """transpose(transpose(x, p), q) -> transpose(x, p[q])"""
    p = inner.owner.attrs["perm"]
    return b.op("tir.transpose", x, perm=tuple(p[i] for i in op.attrs["perm"]))


@CANON.pattern(Pat(("tir.reshape", "tir.broadcast"), X))
def canon_same_shape(b: Builder, op: Operation, x: Value) -> Value | None:
    """reshape(x) or broadcast(x) to x's own shape -> x"""
    return x if x.type == op.result.type else None


@CANON.pattern(Pat("tir.reshape", Pat("tir.reshape", X)))
def canon_reshape_reshape(b: Builder, op: Operation, x: Value) -> Value:
    """reshape(reshape(x)) -> reshape(x)"""
    return b.op("tir.reshape", x, shape=op.attrs["shape"])


@CANON.pattern(Pat("tir.broadcast", Pat("tir.broadcast", X, name="inner")))
def canon_broadcast_broadcast(b: Builder, op: Operation, x: Value, inner: Value) -> Value:
    """broadcast(broadcast(x, dims=d), dims=e) -> broadcast(x, dims=e[d])"""
    dims = tuple(op.attrs["dims"][d] for d in inner.owner.attrs["dims"])
    return b.op("tir.broadcast", x, shape=op.attrs["shape"], dims=dims)


@CANON.pattern(Pat("tir.broadcast", Pat("tir.reshape", X, name="inner")))
def canon_broadcast_expand(b: Builder, op: Operation, x: Value, inner: Value) -> Value | None:
    """broadcast(reshape(x)) -> broadcast(x) when the reshape only inserts 1s (keepdims)"""
    shape, pos, j = inner.type.shape, [], 0
    for d in x.type.shape:
        while j < len(shape) and shape[j] != d and shape[j] == 1:
            j += 1
        if j == len(shape) or shape[j] != d:
            return None
        pos.append(j)
        j += 1
    if any(s != 1 for s in shape[j:]):
        return None
    dims = tuple(op.attrs["dims"][p] for p in pos)
    return b.op("tir.broadcast", x, shape=op.attrs["shape"], dims=dims)


@CANON.pattern(Pat(UNARY, Pat(("tir.broadcast", "tir.reshape"), X, name="moved")))
def canon_unary_before_movement(b: Builder, op: Operation, x: Value, moved: Value) -> Value:
    """f(broadcast(x)) -> broadcast(f(x)), f(reshape(x)) -> reshape(f(x)) for elementwise f
    (f then runs on fewer elements, and reductions below it become visible)"""
    inner = b.create(op.name, [x], op.attrs).result
    return b.create(moved.owner.name, [inner], moved.owner.attrs).result


@CANON.pattern(Pat("tir.slice", X))
def canon_slice_full(b: Builder, op: Operation, x: Value) -> Value | None:
    """slice(x) of all of x, in order -> x"""
    a = op.attrs
    whole = all(st == 0 and sp == 1 for st, sp in zip(a["starts"], a["steps"], strict=True))
    return x if whole and a["sizes"] == x.type.shape else None


@CANON.pattern(Pat("tir.slice", Pat("tir.slice", X, name="inner")))
def canon_slice_slice(b: Builder, op: Operation, x: Value, inner: Value) -> Value:
    """slice(slice(x, s1, t1), s2, t2) -> slice(x, s1 + s2 * t1, t1 * t2)"""
    s1, t1 = inner.owner.attrs["starts"], inner.owner.attrs["steps"]
    s2, t2 = op.attrs["starts"], op.attrs["steps"]
    return b.op(
        "tir.slice",
        x,
        starts=tuple(a + c * s for a, s, c in zip(s1, t1, s2, strict=True)),
        steps=tuple(s * t for s, t in zip(t1, t2, strict=True)),
        sizes=op.attrs["sizes"],
    )


# ---- casts --------------------------------------------------------------------------------------

_MANTISSA = {16: 11, 32: 24, 64: 53}  # significand bits of f16/f32/f64


def exact_cast(a: DType, b: DType) -> bool:
    """Whether every value of dtype `a` converts to `b` exactly."""
    if a == b or a.is_bool:
        return True
    if b.is_bool:
        return False
    if b.is_float:
        if a.is_float:
            return b.bits >= a.bits
        magnitude_bits = a.bits - 1 if a.kind == "i" else a.bits
        return magnitude_bits <= _MANTISSA[b.bits]
    if a.is_float:
        return False
    if a.kind == b.kind:
        return b.bits >= a.bits
    return a.kind == "u" and b.bits > a.bits


@CANON.pattern(Pat("tir.cast", X))
def canon_cast_same(b: Builder, op: Operation, x: Value) -> Value | None:
    """cast(x: T, T) -> x"""
    return x if x.type == op.result.type else None


@CANON.pattern(Pat("tir.cast", Pat("tir.cast", X, name="inner")))
def canon_cast_cast(b: Builder, op: Operation, x: Value, inner: Value) -> Value | None:
    """cast(cast(x: A, B), C) -> cast(x, C) when A -> B is exact (and A -> C, if B is a float and
    C an integer: float-to-integer conversion of out-of-range values is not a function of the
    value alone)"""
    a, mid, c = x.type.dtype, inner.type.dtype, op.result.type.dtype
    if not exact_cast(a, mid) or (mid.is_float and c.is_int and not exact_cast(a, c)):
        return None
    return b.op("tir.cast", x, dtype=c)


@register_pass("canonicalize")
def canonicalize(module: Module) -> Module:
    """Apply the canonicalization and folding patterns to a fixed point."""
    apply_patterns(module, CANON)
    return module
