"""Stabilization, as Theano did it: the plain math users write becomes the numerically safe
form, so `exp(x) / sum(exp(x))` cannot overflow and `log(1 + x)` keeps its digits near 0.

The patterns compose: `log(sigmoid(x))`, traced as `log(1 / (1 + exp(-x)))`, becomes
`-log(1 + exp(-x))`, then `-log1p(exp(-x))`, then `-softplus(-x)` with the stable softplus
`max(z, 0) + log1p(exp(-|z|))`; `1 - sigmoid(x)` becomes `sigmoid(-x)`, so `log(1 - sigmoid(x))`
ends as `-softplus(x)` and the sigmoid cross-entropy `t log p + (1 - t) log(1 - p)` is finite
for every finite logit. Max subtraction uses scipy's guard: a row whose max is not finite is
shifted by 0, so all -inf rows still give -inf (logsumexp) and rows holding +inf or NaN give what
the unshifted formula gives.

Run `canonicalize` first: the patterns expect its forms (a keepdims sum reaches the softmax
division as one `tir.broadcast`; `log` of a keepdims sum is moved above the reshape).

>>> from tensorir.ir.parser import parse_module
>>> m = parse_module('''func.func @f(%arg0: tensor<3xf32>) -> tensor<3xf32> {
...   %0 = "tir.constant"() {value = dense<1.0> : tensor<3xf32>} : () -> tensor<3xf32>
...   %1 = "tir.add"(%0, %arg0) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
...   %2 = "tir.log"(%1) : (tensor<3xf32>) -> tensor<3xf32>
...   "func.return"(%2) : (tensor<3xf32>) -> ()
... }''')
>>> [op.name for op in stabilize(m).functions[0].body.ops]
['tir.log1p', 'func.return']
"""

from __future__ import annotations

from ..ir.builder import Builder
from ..ir.core import Module, Operation, Value
from .manager import register_pass
from .pattern import Pat, PatternSet, apply_patterns

STABILIZE = PatternSet("stabilize")
X, Y = Pat.var("x"), Pat.var("y")
ONE = Pat.splat(1)


def _sigmoid_of_minus(z: Pat) -> Pat:
    """1 / (1 + exp(z)): sigmoid(-z) as numpy code spells it."""
    return Pat("tir.div", ONE, Pat("tir.add", ONE, Pat("tir.exp", z), commutative=True))


_SIGMOID = _sigmoid_of_minus(Pat())


# ---- elementwise --------------------------------------------------------------------------------


@STABILIZE.pattern(Pat("tir.log", Pat("tir.add", X, ONE, commutative=True)))
def stab_log1p(b: Builder, op: Operation, x: Value) -> Value:
    """log(1 + x) -> log1p(x)"""
    return b.op("tir.log1p", x)


def _not_sigmoid(v: Value) -> bool:
    """v is not sigmoid(-z): `stab_one_minus_sigmoid` makes log(1 - sigmoid) a softplus."""
    return _SIGMOID.match_value(v) is None


@STABILIZE.pattern(Pat("tir.log", Pat("tir.sub", ONE, Pat.var("x", where=_not_sigmoid))))
def stab_log1m(b: Builder, op: Operation, x: Value) -> Value:
    """log(1 - x) -> log1p(-x)"""
    return b.op("tir.log1p", b.op("tir.neg", x))


@STABILIZE.pattern(Pat("tir.sub", Pat("tir.exp", X), ONE))
def stab_expm1(b: Builder, op: Operation, x: Value) -> Value:
    """exp(x) - 1 -> expm1(x)"""
    return b.op("tir.expm1", x)


@STABILIZE.pattern(Pat("tir.add", Pat("tir.exp", X), Pat.splat(-1), commutative=True))
def stab_expm1_add(b: Builder, op: Operation, x: Value) -> Value:
    """exp(x) + -1 -> expm1(x)"""
    return b.op("tir.expm1", x)


@STABILIZE.pattern(Pat("tir.log", Pat("tir.div", ONE, Y)))
def stab_log_reciprocal(b: Builder, op: Operation, y: Value) -> Value:
    """log(1 / y) -> -log(y) (1 / y no longer underflows or overflows)"""
    return b.op("tir.neg", b.op("tir.log", y))


_MINUS_ABS = Pat("tir.neg", Pat("tir.abs"))


def _not_minus_abs(v: Value) -> bool:
    """v is not -|u|, softplus's own tail, which must not be expanded again."""
    return _MINUS_ABS.match_value(v) is None


@STABILIZE.pattern(Pat("tir.log1p", Pat("tir.exp", Pat.var("x", where=_not_minus_abs))))
def stab_softplus(b: Builder, op: Operation, x: Value) -> Value:
    """log1p(exp(x)) -> max(x, 0) + log1p(exp(-|x|))"""
    tail = b.op("tir.log1p", b.op("tir.exp", b.op("tir.neg", b.op("tir.abs", x))))
    return b.op("tir.add", b.op("tir.max", x, b.constant(0, x.type)), tail)


@STABILIZE.pattern(Pat("tir.sub", ONE, _sigmoid_of_minus(X)))
def stab_one_minus_sigmoid(b: Builder, op: Operation, x: Value) -> Value:
    """1 - 1 / (1 + exp(x)) -> 1 / (1 + exp(-x)), i.e. 1 - sigmoid(z) -> sigmoid(-z)"""
    one = b.constant(1, x.type)
    return b.op("tir.div", one, b.op("tir.add", one, b.op("tir.exp", b.op("tir.neg", x))))


# ---- reductions: max subtraction ----------------------------------------------------------------

# A value reduced over some axes of x reaches x's shape again through a broadcast along those
# axes, or, when they all have size 1 (canonicalization then drops the broadcast), a reshape.
_SPREAD = ("tir.broadcast", "tir.reshape")
_MAX = Pat("tir.reduce_max", Y, name="max")
_SHIFTS = (
    Pat("tir.sub", Y, Pat(_SPREAD, _MAX, name="spread")),
    Pat(
        "tir.sub",
        Y,
        Pat(
            _SPREAD,
            Pat("tir.select", Pat("tir.isfinite", _MAX), _MAX, Pat.splat(0)),
            name="spread",
        ),
    ),
)


def _kept(x: Value, axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(i for i in range(x.type.rank) if i not in axes)


def _spreads_back(spread: Value, x: Value, axes: tuple[int, ...]) -> bool:
    """`spread` is a value reduced over `axes` of x, put back in x's shape along those axes."""
    if spread.type.shape != x.type.shape:
        return False
    if spread.owner.name == "tir.broadcast":
        return spread.owner.attrs["dims"] == _kept(x, axes)
    return all(x.type.shape[a] == 1 for a in axes)


def _max_shifted(x: Value, axes: tuple[int, ...]) -> bool:
    """x is y - max(y) over `axes` (spread back), as users or `_shift` write it."""
    for p in _SHIFTS:
        caps = p.match_value(x)
        if (
            caps is not None
            and caps["max"].owner.attrs["axes"] == axes
            and _spreads_back(caps["spread"], x, axes)
        ):
            return True
    return False


def _shift(b: Builder, x: Value, axes: tuple[int, ...]) -> tuple[Value, Value]:
    """(x - m, m) with m = max(x) over `axes`, replaced by 0 where not finite."""
    m = b.op("tir.reduce_max", x, axes=axes)
    m = b.op("tir.select", b.op("tir.isfinite", m), m, b.constant(0, m.type))
    spread = b.op("tir.broadcast", m, shape=x.type.shape, dims=_kept(x, axes))
    return b.op("tir.sub", x, spread), m


def _log_sum_exp(b: Builder, s: Value, axes: tuple[int, ...]) -> Value:
    return b.op("tir.log", b.op("tir.reduce_sum", b.op("tir.exp", s), axes=axes))


def _shiftable(x: Value, axes: tuple[int, ...]) -> bool:
    """Not shifted yet, with a static shape (a broadcast spreads the max back) and no empty
    reduced dim (a max over nothing has no value)."""
    return _static_nonempty(x, axes) and not _max_shifted(x, axes)


def _static_nonempty(x: Value, axes: tuple[int, ...]) -> bool:
    return x.type.is_static and all(x.type.shape[a] != 0 for a in axes)


@STABILIZE.pattern(Pat("tir.log", Pat("tir.reduce_sum", Pat("tir.exp", X), name="total")))
def stab_logsumexp(b: Builder, op: Operation, x: Value, total: Value) -> Value | None:
    """log(sum(exp(x))) -> m + log(sum(exp(x - m))), m = max(x)"""
    axes = total.owner.attrs["axes"]
    if not _shiftable(x, axes):
        return None
    s, m = _shift(b, x, axes)
    return b.op("tir.add", m, _log_sum_exp(b, s, axes))


SOFTMAX = Pat(
    "tir.div",
    Pat("tir.exp", X),
    Pat(_SPREAD, Pat("tir.reduce_sum", Pat("tir.exp", X), name="total"), name="spread"),
)


def _softmax_axes(x: Value, total: Value, spread: Value) -> tuple[int, ...] | None:
    """The softmax axes, if the sum is spread back over exactly the axes it reduced."""
    axes = total.owner.attrs["axes"]
    return axes if _spreads_back(spread, x, axes) else None


@STABILIZE.pattern(SOFTMAX)
def stab_softmax(b: Builder, op: Operation, x: Value, total: Value, spread: Value) -> Value | None:
    """exp(x) / sum(exp(x)) -> exp(x - m) / sum(exp(x - m)), m = max(x)"""
    axes = _softmax_axes(x, total, spread)
    if axes is None or not _shiftable(x, axes):
        return None
    e = b.op("tir.exp", _shift(b, x, axes)[0])
    total = b.op("tir.reduce_sum", e, axes=axes)
    return b.op("tir.div", e, b.op("tir.broadcast", total, shape=x.type.shape, dims=_kept(x, axes)))


@STABILIZE.pattern(Pat("tir.log", SOFTMAX))
def stab_log_softmax(
    b: Builder, op: Operation, x: Value, total: Value, spread: Value
) -> Value | None:
    """log(exp(x) / sum(exp(x))) -> (x - m) - log(sum(exp(x - m))), m = max(x)"""
    axes = _softmax_axes(x, total, spread)
    if axes is None or not _static_nonempty(x, axes):
        return None
    s = x if _max_shifted(x, axes) else _shift(b, x, axes)[0]
    lse = _log_sum_exp(b, s, axes)
    return b.op("tir.sub", s, b.op("tir.broadcast", lse, shape=x.type.shape, dims=_kept(x, axes)))


@register_pass("stabilize")
def stabilize(module: Module) -> Module:
    """Apply the stabilization patterns to a fixed point."""
    apply_patterns(module, STABILIZE)
    return module
