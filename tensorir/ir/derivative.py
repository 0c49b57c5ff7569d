"""The small vocabulary derivative rules are written in: zero-aware sums and scalings, and the
habit (JAX's `deflinear`) of deriving both rules of a linear op from its transpose.

A derivative rule is ordinary IR built with a `Builder`. Reverse rules are `vjp(b, op, *cts)` ->
one cotangent per operand; forward rules are `jvp(b, op, *tangents)` -> the result's tangent. In
both directions `None` is a symbolic zero: nothing zero is materialized until an op needs it.

>>> from tensorir.ir import Builder, Function, types as T
>>> t = T.TensorType((2,), T.f32)
>>> f = Function("f", [t], [])
>>> b = Builder.at_end(f.body)
>>> add(b, None, f.args[0]) is f.args[0], scale(b, None, f.args[0])
(True, None)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from . import types as T
from .builder import Builder
from .core import Operation, Value
from .opdef import REGISTRY


def full(b: Builder, t: T.TensorType, value) -> Value:
    """A splat constant of type `t`."""
    return b.constant(value, t)


def zeros(b: Builder, t: T.TensorType) -> Value:
    """A materialized zero of type `t`, for the places that cannot take a symbolic one."""
    return full(b, t, 0)


def add(b: Builder, x: Value | None, y: Value | None) -> Value | None:
    """x + y where either may be a symbolic zero."""
    if x is None or y is None:
        return y if x is None else x
    return b.op("tir.add", x, y)


def scale(b: Builder, t: Value | None, p: Value | int | None) -> Value | None:
    """t * p for a partial derivative p that may be None (zero) or the Python constant 1 or -1."""
    if t is None or p is None:
        return None
    if isinstance(p, int):
        return t if p == 1 else b.op("tir.neg", t)
    return b.op("tir.mul", t, p)


def from_partials(d: Callable) -> tuple[Callable, Callable]:
    """The vjp and jvp rules of an elementwise op from `d(*operands, result)`, which gives on
    `Sym`s the partial derivative of the result by each operand (a tuple for several operands):
    vjp_i = ct * d_i and jvp = sum_i t_i * d_i."""

    def partials(b: Builder, op: Operation) -> list[Value | int | None]:
        ds = d(*(Sym(b, v) for v in (*op.operands, op.result)))
        return [p.v if isinstance(p, Sym) else p for p in (ds if isinstance(ds, tuple) else (ds,))]

    def vjp(b: Builder, op: Operation, ct: Value) -> list[Value | None]:
        return [scale(b, ct, p) for p in partials(b, op)]

    def jvp(b: Builder, op: Operation, *tangents: Value | None) -> Value | None:
        out = None
        for p, t in zip(partials(b, op), tangents, strict=True):
            out = add(b, out, scale(b, t, p))
        return out

    return vjp, jvp


def deflinear(name: str, transpose: Callable, linear: Sequence[int] | None = None) -> None:
    """Give op `name`, linear in its operands `linear` (default: all), its vjp (`transpose`,
    which maps the result's cotangent to the operands') and its jvp (the op on the tangents)."""

    def jvp(b: Builder, op: Operation, *tangents: Value | None) -> Value | None:
        which = range(len(op.operands)) if linear is None else linear
        if all(tangents[i] is None for i in which):
            return None
        operands = [
            v if i not in which else t if t is not None else zeros(b, v.type)
            for i, (v, t) in enumerate(zip(op.operands, tangents, strict=True))
        ]
        return b.create(op.name, operands, op.attrs).result

    REGISTRY[name].vjp = transpose
    REGISTRY[name].jvp = jvp


class Sym:
    """A Value whose arithmetic operators emit tir ops, so a derivative formula reads as the math
    (`1 - r * r` for tanh); a Python number beside it becomes a splat constant of its type."""

    __slots__ = ("b", "v")

    def __init__(self, b: Builder, v: Value):
        self.b, self.v = b, v

    def lift(self, o: Sym | float) -> Sym:
        """`o`, a number made a constant of this value's type."""
        return o if isinstance(o, Sym) else Sym(self.b, full(self.b, self.v.type, o))

    def bin(self, name: str, o: Sym | float, flip: bool = False) -> Sym:
        """Binary op `name` of this and `o` (of `o` and this when `flip`)."""
        x, y = (self.lift(o), self) if flip else (self, self.lift(o))
        return Sym(self.b, self.b.op(name, x.v, y.v))

    def __add__(self, o):
        return self.bin("tir.add", o)

    def __radd__(self, o):
        return self.bin("tir.add", o, True)

    def __sub__(self, o):
        return self.bin("tir.sub", o)

    def __rsub__(self, o):
        return self.bin("tir.sub", o, True)

    def __mul__(self, o):
        return self.bin("tir.mul", o)

    def __rmul__(self, o):
        return self.bin("tir.mul", o, True)

    def __truediv__(self, o):
        return self.bin("tir.div", o)

    def __rtruediv__(self, o):
        return self.bin("tir.div", o, True)

    def __pow__(self, o):
        return self.bin("tir.pow", o)

    def __neg__(self):
        return Sym(self.b, self.b.op("tir.neg", self.v))


def _unary(name: str) -> Callable[[Sym], Sym]:
    def apply(x: Sym) -> Sym:
        return Sym(x.b, x.b.op(name, x.v))

    apply.__name__ = name[4:]
    return apply


sin, cos, sinh, cosh = (_unary(f"tir.{n}") for n in ("sin", "cos", "sinh", "cosh"))
exp, log, sqrt, sign, floor = (_unary(f"tir.{n}") for n in ("exp", "log", "sqrt", "sign", "floor"))


def eq(x: Sym, y: Sym | float) -> Sym:
    """x == y, elementwise."""
    return x.bin("tir.eq", y)


def gt(x: Sym, y: Sym | float) -> Sym:
    """x > y, elementwise."""
    return x.bin("tir.gt", y)


def where(c: Sym, x: Sym | float, y: Sym | float) -> Sym:
    """select(c, x, y); a number takes the type of the other branch."""
    like = x if isinstance(x, Sym) else y
    return Sym(c.b, c.b.op("tir.select", c.v, like.lift(x).v, like.lift(y).v))


def cast(mask: Sym, like: Sym) -> Sym:
    """A bool mask as 1/0 in the dtype of `like`."""
    return Sym(mask.b, mask.b.op("tir.cast", mask.v, dtype=like.v.type.dtype))
