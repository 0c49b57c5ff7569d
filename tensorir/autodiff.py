"""Automatic differentiation for users: grad, value_and_grad, vjp, jvp, jacobian (jacrev), jacfwd,
hessian, stop_gradient and custom_vjp, on pytrees of arrays, inside and outside `jit`.

Called while tracing (inside `jit` or another transform), a transformed function traces `fun` on
the arguments' types into a function of its own, differentiates that with `passes.autodiff` and
inlines the derivative into the trace, so it is plain IR from there on. Called on arrays, it runs
the same under a `jit` of its own, which compiles once per argument signature.

>>> import numpy as np, tensorir
>>> loss = lambda w, x: np.sum(np.tanh(x @ w) ** 2)
>>> w, x = np.ones(3), np.arange(6.0).reshape(2, 3)
>>> gw = tensorir.jit(tensorir.grad(loss))(w, x)
>>> bool(np.allclose(gw, 2 * (x.T @ (np.tanh(x @ w) * (1 - np.tanh(x @ w) ** 2)))))
True
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .frontend.errors import user_location
from .frontend.jit import jit
from .frontend.promote import as_tracer
from .frontend.pytree import TreeDef, flatten, unflatten
from .frontend.tracer import TraceContext, Tracer, constant, current, emit
from .ir import types as T
from .ir.builder import Builder
from .ir.core import BlockArgument, Function, Location, Value
from .ir.derivative import add, zeros
from .ir.inline import inline
from .ir.ops_tensor import CUSTOM_RULES
from .passes.autodiff import forward, reverse

Argnums = int | Sequence[int]


# ---- tracing a function into a function of its own ---------------------------------------------


@dataclass
class _Sub:
    """`fn` traced into its own IR function; values it used from the enclosing trace became
    trailing arguments (`captures`), so the function is closed and can be transformed."""

    function: Function
    captures: list[Value]
    out_tree: TreeDef
    out_weak: list[bool]

    @property
    def out_types(self) -> tuple:
        return self.function.type.results


def _trace_sub(fn: Callable, avals: list[tuple[T.TensorType, bool]], named=None) -> _Sub:
    """Trace `fn` on fresh arguments of these (type, weak) into a new function."""
    named = named or fn
    code = getattr(named, "__code__", None)
    loc = Location(code.co_filename, code.co_firstlineno) if code is not None else None
    name = re.sub(r"[^A-Za-z0-9_$.]", "_", getattr(named, "__name__", "fn")) or "fn"
    f = Function(name, [t for t, _ in avals], [], loc)
    outer = current()
    # The enclosing trace's context records into the new function for the duration, so values
    # the function closes over (tracers of the enclosing trace) stay usable; they become
    # arguments. Outside any trace (a custom rule run by a pass), a context of its own does.
    ctx = outer if outer is not None else TraceContext(f)
    with contextlib.nullcontext() if outer is not None else ctx:
        saved = ctx.function, ctx.builder
        ctx.function, ctx.builder = f, Builder.at_end(f.body, loc)
        try:
            params = [Tracer(a, ctx, weak) for a, (_, weak) in zip(f.args, avals, strict=True)]
            leaves, out_tree = flatten(fn(*params))
            outs = [as_tracer(x) for x in leaves]
            ctx.builder.create("func.return", [o.value for o in outs])
        finally:
            ctx.function, ctx.builder = saved
    f.set_result_types([o.value.type for o in outs])
    return _Sub(f, _lift_captures(f), out_tree, [o.weak for o in outs])


def _lift_captures(f: Function) -> list[Value]:
    """Make every value `f` uses but does not define a new trailing argument; return them."""
    inside = set(f.args)
    for op in f.walk():
        inside.update(op.results)
        inside.update(a for r in op.regions for blk in r.blocks for a in blk.args)
    lifted: dict[Value, BlockArgument] = {}
    for op in list(f.walk()):
        for i, v in enumerate(op.operands):
            if v not in inside:
                if v not in lifted:
                    lifted[v] = BlockArgument(v.type, f.body, len(f.body.args))
                    f.body.args.append(lifted[v])
                op.set_operand(i, lifted[v])
    f.attrs["function_type"] = T.FunctionType(tuple(a.type for a in f.args), f.type.results)
    return list(lifted)


def _avals(xs: list[Tracer]) -> list[tuple[T.TensorType, bool]]:
    return [(x.value.type, x.weak) for x in xs]


def _staged(traced: Callable, name: str) -> Callable:
    """`traced` when called while tracing; on arrays, a `jit` of it (compiled per signature)."""
    traced.__name__ = traced.__qualname__ = name
    compiled = None

    @functools.wraps(traced)
    def call(*args, **kwargs):
        nonlocal compiled
        if current() is not None:
            return traced(*args, **kwargs)
        if compiled is None:
            compiled = jit(traced)
        return compiled(*args, **kwargs)

    return call


@dataclass
class _Args:
    """A call's positional arguments as tracers: all leaves, and which belong to `argnums`."""

    xs: list[Tracer]
    tree: TreeDef
    wrt: list[int]  # leaf indices of the differentiated arguments
    wrt_tree: TreeDef  # the structure to return their derivatives in

    @staticmethod
    def of(args: tuple, argnums: Argnums = ()) -> _Args:
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        for n in nums:
            if not -len(args) <= n < len(args):
                raise ValueError(f"argnums {argnums} out of range for {len(args)} arguments")
        nums = tuple(n % len(args) for n in nums)
        leaves, tree = flatten(args)
        offsets = np.cumsum([0] + [c.num_leaves for c in tree.children]).tolist()
        wrt = [i for n in nums for i in range(offsets[n], offsets[n + 1])]
        trees = tuple(tree.children[n] for n in nums)
        wrt_tree = trees[0] if isinstance(argnums, int) else TreeDef("tuple", trees)
        return _Args([as_tracer(x) for x in leaves], tree, wrt, wrt_tree)

    def trace(self, fun: Callable, kwargs: dict) -> _Sub:
        return _trace_sub(
            lambda *ls: fun(*unflatten(self.tree, ls), **kwargs), _avals(self.xs), fun
        )

    def call(self, g: Function, sub: _Sub, extra: list[Value]) -> list[Value]:
        """Inline `g` (a transform of `sub.function`) on these arguments, the captures and
        `extra` (seeds or tangents) into the current trace."""
        values = [x.value for x in self.xs] + sub.captures + extra
        return inline(current().builder, g, values)


def _wrap(values: list[Value], weak: list[bool]) -> list[Tracer]:
    ctx = current()
    return [Tracer(v, ctx, w) for v, w in zip(values, weak, strict=True)]


def _scalar_loss(sub: _Sub, has_aux: bool, who: str) -> None:
    tree = sub.out_tree
    if has_aux:
        if tree.kind != "tuple" or len(tree.children) != 2:
            raise TypeError(f"{who} with has_aux=True needs the function to return (output, aux)")
        tree = tree.children[0]
    t = sub.out_types[0] if sub.out_types else None
    if tree.kind != "leaf" or t.shape != ():
        got = f"shape {t.shape}" if tree.kind == "leaf" else f"a tree {tree}"
        raise TypeError(f"{who} needs a scalar output, got {got}; use vjp or jacobian instead")
    if not t.dtype.is_float:
        raise TypeError(f"{who} needs a float output, got dtype {t.dtype.np}")


# ---- reverse mode -------------------------------------------------------------------------------


def value_and_grad(fun: Callable, argnums: Argnums = 0, has_aux: bool = False) -> Callable:
    """`fun`'s value and its gradient with respect to the arguments `argnums`.

    >>> import numpy as np, tensorir
    >>> value, g = tensorir.value_and_grad(lambda x: np.sum(x * x))(np.array([1.0, 2.0]))
    >>> float(value), g.tolist()
    (5.0, [2.0, 4.0])
    """

    def traced(*args, **kwargs):
        return _reverse_scalar(fun, argnums, has_aux, True, args, kwargs)

    return _staged(traced, f"value_and_grad_{getattr(fun, '__name__', 'fn')}")


def grad(fun: Callable, argnums: Argnums = 0, has_aux: bool = False) -> Callable:
    """The gradient of scalar-valued `fun` with respect to the arguments `argnums` (a tuple of
    them for a tuple); with `has_aux`, `fun` returns (output, aux) and this (gradient, aux).

    >>> import numpy as np, tensorir
    >>> d2 = tensorir.grad(tensorir.grad(lambda t: np.sin(t) * t))(1.5)
    >>> bool(np.isclose(d2, -np.sin(1.5) * 1.5 + 2 * np.cos(1.5)))
    True
    """

    def traced(*args, **kwargs):
        out, g = _reverse_scalar(fun, argnums, has_aux, has_aux, args, kwargs)
        return (g, out[1]) if has_aux else g

    return _staged(traced, f"grad_{getattr(fun, '__name__', 'fn')}")


def _reverse_scalar(fun, argnums, has_aux: bool, values: bool, args, kwargs):
    """(fun's output if `values`, else None; the gradient), traced."""
    a = _Args.of(args, argnums)
    sub = a.trace(fun, kwargs)
    _scalar_loss(sub, has_aux, "grad")
    seed = constant(np.ones((), sub.out_types[0].dtype.np))
    g = reverse(sub.function, a.wrt, seeds=[0], values=values)
    results = a.call(g, sub, [seed.value])
    m = len(sub.out_types) if values else 0
    grads = unflatten(a.wrt_tree, _wrap(results[m:], [a.xs[i].weak for i in a.wrt]))
    return (unflatten(sub.out_tree, _wrap(results[:m], sub.out_weak)) if values else None), grads


def vjp(fun: Callable, *primals, has_aux: bool = False) -> tuple:
    """`fun(*primals)` and a function mapping a cotangent of the output to the cotangents of the
    primals (a tuple, one per primal); with `has_aux`, (out, vjp_fn, aux).

    >>> import numpy as np, tensorir
    >>> out, vjp_fn = tensorir.vjp(lambda x: x * x, np.array([1.0, 3.0]))
    >>> vjp_fn(np.array([1.0, 1.0]))[0].tolist()
    [2.0, 6.0]
    """
    if current() is None:
        forward_fn, apply = _eager_vjp(fun, has_aux)
        out = forward_fn(*primals)

        def eager_vjp_fn(ct):
            return apply(primals, ct)

        return (out[0], eager_vjp_fn, out[1]) if has_aux else (out, eager_vjp_fn)
    a = _Args.of(primals)
    sub = a.trace(fun, {})
    if has_aux and (sub.out_tree.kind != "tuple" or len(sub.out_tree.children) != 2):
        raise TypeError("vjp with has_aux=True needs the function to return (output, aux)")
    m = len(sub.out_types)
    outs = unflatten(sub.out_tree, _wrap(a.call(sub.function, sub, []), sub.out_weak))
    main_tree = sub.out_tree.children[0] if has_aux else sub.out_tree
    n_main = main_tree.num_leaves
    seeds = [k for k in range(n_main) if sub.out_types[k].dtype.is_float]
    g = reverse(sub.function, range(len(a.xs)), seeds)

    def vjp_fn(ct) -> tuple:
        leaves, tree = flatten(ct)
        if tree != main_tree:
            raise TypeError(f"vjp_fn: cotangent has structure {tree}, the output has {main_tree}")
        cts = [_like(leaves[k], sub.out_types[k], "cotangent").value for k in seeds]
        values = a.call(g, sub, cts)[m:]
        return tuple(unflatten(a.tree, _wrap(values, [x.weak for x in a.xs])))

    return (outs[0], vjp_fn, outs[1]) if has_aux else (outs, vjp_fn)


@functools.lru_cache(maxsize=64)
def _eager_vjp(fun: Callable, has_aux: bool) -> tuple[Callable, Callable]:
    """Compiled forward and cotangent functions for eager `vjp` calls on `fun`."""

    def cotangents(primals, ct):
        return vjp(fun, *primals, has_aux=has_aux)[1](ct)

    return jit(fun), _staged(cotangents, f"vjp_{getattr(fun, '__name__', 'fn')}")


def _like(x, t: T.TensorType, what: str) -> Tracer:
    """`x` as a tracer of type `t` (cast to its dtype); a wrong shape is an error."""
    v = as_tracer(x)
    if v.shape != t.shape:
        raise TypeError(f"{what} of shape {v.shape} for a value of shape {t.shape}")
    return v if v.dtype == t.dtype.np else emit("tir.cast", v, dtype=t.dtype)


# ---- forward mode -------------------------------------------------------------------------------


def jvp(fun: Callable, primals: Sequence, tangents: Sequence) -> tuple[Any, Any]:
    """`fun(*primals)` and its directional derivative along `tangents` (one per primal).

    >>> import numpy as np, tensorir
    >>> out, t = tensorir.jvp(np.sin, (np.array([0.0, np.pi]),), (np.array([1.0, 2.0]),))
    >>> t.tolist()
    [1.0, -2.0]
    """
    if current() is None:
        return _eager_jvp(fun)(tuple(primals), tuple(tangents))
    a = _Args.of(tuple(primals))
    leaves, tree = flatten(tuple(tangents))
    if tree != a.tree:
        raise TypeError(f"jvp: tangents have structure {tree}, the primals {a.tree}")
    ts = [_like(t, x.value.type, "tangent").value for t, x in zip(leaves, a.xs, strict=True)]
    sub = a.trace(fun, {})
    values = a.call(forward(sub.function, range(len(a.xs))), sub, ts)
    m = len(sub.out_types)
    out = unflatten(sub.out_tree, _wrap(values[:m], sub.out_weak))
    return out, unflatten(sub.out_tree, _wrap(values[m:], [False] * m))


@functools.lru_cache(maxsize=64)
def _eager_jvp(fun: Callable) -> Callable:
    return _staged(lambda p, t: jvp(fun, p, t), f"jvp_{getattr(fun, '__name__', 'fn')}")


# ---- Jacobians ----------------------------------------------------------------------------------


def jacrev(fun: Callable, argnums: Argnums = 0) -> Callable:
    """The Jacobian of `fun` by reverse mode (one vjp per output element): for an output of
    shape S and an argument of shape A, an array of shape S + A.

    >>> import numpy as np, tensorir
    >>> tensorir.jacrev(lambda x: x[::-1] * 2.0)(np.ones(2)).tolist()
    [[0.0, 2.0], [2.0, 0.0]]
    """

    def traced(*args):
        a = _Args.of(args, argnums)
        sub = a.trace(fun, {})
        m, per_output = len(sub.out_types), []
        for k, t in enumerate(_float_outputs(sub, "jacrev")):
            g = reverse(sub.function, a.wrt, seeds=[k])
            rows = [a.call(g, sub, [_one_hot(e, t).value])[m:] for e in range(t.size)]
            per_output.append(
                [_assemble(rows, j, t.shape, a.xs[i], first=True) for j, i in enumerate(a.wrt)]
            )
        return _nest(sub.out_tree, a.wrt_tree, per_output)

    return _staged(traced, f"jacrev_{getattr(fun, '__name__', 'fn')}")


jacobian = jacrev


def jacfwd(fun: Callable, argnums: Argnums = 0) -> Callable:
    """The Jacobian of `fun` by forward mode (one jvp per input element), shaped as `jacrev`'s.

    >>> import numpy as np, tensorir
    >>> tensorir.jacfwd(lambda x: x[::-1] * 2.0)(np.ones(2)).tolist()
    [[0.0, 2.0], [2.0, 0.0]]
    """

    def traced(*args):
        a = _Args.of(args, argnums)
        sub = a.trace(fun, {})
        out_types = _float_outputs(sub, "jacfwd")
        m, per_input = len(out_types), []
        for i in a.wrt:
            t = a.xs[i].value.type
            g = forward(sub.function, [i])
            cols = [a.call(g, sub, [_one_hot(e, t).value])[m:] for e in range(t.size)]
            per_input.append(
                [_assemble(cols, k, u.shape, a.xs[i], first=False) for k, u in enumerate(out_types)]
            )
        per_output = [[col[k] for col in per_input] for k in range(m)]
        return _nest(sub.out_tree, a.wrt_tree, per_output)

    return _staged(traced, f"jacfwd_{getattr(fun, '__name__', 'fn')}")


def hessian(fun: Callable, argnums: Argnums = 0) -> Callable:
    """The Hessian of scalar-valued `fun`: forward mode over reverse mode, as JAX computes it
    (one reverse pass, then one forward pass over it per input element).

    >>> import numpy as np, tensorir
    >>> tensorir.hessian(lambda x: np.sum(x**3))(np.array([1.0, 2.0])).tolist()
    [[6.0, 0.0], [0.0, 12.0]]
    """
    return jacfwd(jacrev(fun, argnums), argnums)


def _float_outputs(sub: _Sub, who: str) -> tuple[T.TensorType, ...]:
    for t in sub.out_types:
        if not t.dtype.is_float:
            raise TypeError(f"{who} needs float outputs, got dtype {t.dtype.np}")
    return sub.out_types


def _one_hot(e: int, t: T.TensorType) -> Tracer:
    basis = np.zeros(t.size, t.dtype.np)
    basis[e] = 1
    return constant(basis.reshape(t.shape))


def _assemble(pieces: list[list[Value]], j: int, out_shape, x: Tracer, first: bool) -> Tracer:
    """One Jacobian block (out_shape + x's shape) from the per-element derivatives: the rows of
    reverse mode (each shaped like x) or the columns of forward mode (each shaped like the
    output)."""
    shape = tuple(out_shape) + x.shape
    if not pieces:
        return constant(np.zeros(shape, x.dtype))
    parts = _wrap([p[j] for p in pieces], [False] * len(pieces))
    return np.reshape(np.stack(parts, axis=0 if first else -1), shape)


def _nest(out_tree: TreeDef, wrt_tree: TreeDef, blocks: list[list[Tracer]]):
    return unflatten(out_tree, [unflatten(wrt_tree, b) for b in blocks])


# ---- controlling derivatives --------------------------------------------------------------------


def stop_gradient(x):
    """`x` (a pytree) unchanged, but a constant to differentiation: its derivative is zero.

    >>> import numpy as np, tensorir
    >>> float(tensorir.grad(lambda x: x * tensorir.stop_gradient(x))(3.0))
    3.0
    """
    leaves, tree = flatten(x)
    return unflatten(
        tree,
        [emit("tir.stop_gradient", v, weak=v.weak) if isinstance(v, Tracer) else v for v in leaves],
    )


class custom_vjp:
    """A function with a user-defined vjp, as `jax.custom_vjp`: after `f.defvjp(fwd, bwd)`,
    `fwd(*args)` returns (output, residuals) and `bwd(residuals, ct)` a tuple with one
    cotangent (or None for zero) per argument. Values it closes over are constants to it.

    >>> import numpy as np, tensorir
    >>> @tensorir.custom_vjp
    ... def clip_grad(x):
    ...     return x
    >>> clip_grad.defvjp(lambda x: (x, ()), lambda res, ct: (np.clip(ct, -1.0, 1.0),))
    >>> float(tensorir.grad(lambda x: 5.0 * clip_grad(x))(2.0))
    1.0
    """

    def __init__(self, fun: Callable):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Set the forward function (output, residuals) and the backward one."""
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args):
        if current() is None:
            return self.fun(*args)
        if self.fwd is None:
            raise TypeError(f"custom_vjp function {self.__name__}: call defvjp(fwd, bwd) first")
        a = _Args.of(args)
        sub = a.trace(self.fwd, {})
        if sub.out_tree.kind != "tuple" or len(sub.out_tree.children) != 2:
            raise TypeError(f"the fwd of {self.__name__} must return (output, residuals)")
        CUSTOM_RULES.append(_CustomRule(self, sub, a))
        ctx = current()
        ctx.builder.loc = user_location()
        call = ctx.builder.create(
            "tir.custom_vjp_call",
            [x.value for x in a.xs] + sub.captures,
            {"rule": len(CUSTOM_RULES) - 1},
        )
        out_tree = sub.out_tree.children[0]
        n = out_tree.num_leaves
        return unflatten(out_tree, _wrap(call.results[:n], sub.out_weak[:n]))


class _CustomRule:
    """A `tir.custom_vjp_call`'s rule: its traced forward function and the user's backward."""

    def __init__(self, owner: custom_vjp, sub: _Sub, args: _Args):
        self.owner, self.function = owner, sub.function
        self.out_tree, self.res_tree = sub.out_tree.children
        self.arg_tree = args.tree

    def vjp(self, b: Builder, op, *cts: Value | None) -> list[Value | None]:
        n = self.out_tree.num_leaves
        outs, res = op.results[:n], op.results[n:]
        in_cts: list[Value | None] = [None] * len(op.operands)
        if any(c is not None for c in cts[:n]):
            seeds = [
                c if c is not None else zeros(b, r.type) for c, r in zip(cts[:n], outs, strict=True)
            ]
            in_cts[: self.arg_tree.num_leaves] = self._bwd(b, op, res, seeds)
        if any(c is not None for c in cts[n:]):
            # a residual's cotangent (second order) flows through the forward function itself
            seeds = [
                c if c is not None else zeros(b, r.type) for c, r in zip(cts[n:], res, strict=True)
            ]
            g = reverse(self.function, seeds=range(n, len(op.results)))
            more = inline(b, g, [*op.operands, *seeds])[len(op.results) :]
            in_cts = [add(b, c, d) for c, d in zip(in_cts, more, strict=True)]
        return in_cts

    def _bwd(self, b: Builder, op, res: list[Value], seeds: list[Value]) -> list[Value | None]:
        name = self.owner.__name__
        nr = len(res)

        def bwd(*leaves):
            r, ct = unflatten(self.res_tree, leaves[:nr]), unflatten(self.out_tree, leaves[nr:])
            return tuple(self.owner.bwd(r, ct))

        sub = _trace_sub(bwd, [(v.type, False) for v in (*res, *seeds)], self.owner.bwd)
        if sub.captures:
            raise TypeError(f"the bwd of {name} uses traced values it closes over; pass them in")
        got = sub.out_tree.children if sub.out_tree.kind == "tuple" else ()
        if len(got) != len(self.arg_tree.children):
            raise TypeError(
                f"the bwd of {name} must return a tuple of {len(self.arg_tree.children)} "
                f"cotangents, one per argument; got {sub.out_tree}"
            )
        values = iter(inline(b, sub.function, [*res, *seeds]))
        out: list[Value | None] = []
        for g, want in zip(got, self.arg_tree.children, strict=True):
            if g.kind == "none":
                out += [None] * want.num_leaves
            elif g != want:
                raise TypeError(f"the bwd of {name} returned {g} for an argument of {want}")
            else:
                out += [next(values) for _ in range(want.num_leaves)]
        for v, primal in zip(out, op.operands, strict=False):
            if v is not None and v.type != primal.type:
                raise TypeError(
                    f"the bwd of {name} returned {v.type} for an argument {primal.type}"
                )
        return out
