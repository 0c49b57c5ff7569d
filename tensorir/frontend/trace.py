"""`trace`: run a Python function on tracers and collect the IR it emits into a `Function`.

Arguments are pytrees of numpy arrays and Python scalars; every leaf becomes a function argument
(Python scalars as weakly typed 0-d values). Static arguments are passed through unchanged, so
Python control flow on them simply runs, and loops with static trip counts unroll.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import types as T
from ..ir.core import Function, Location
from .errors import TraceError, TraceOverflowError
from .promote import as_tracer, is_py_scalar
from .pytree import TreeDef, flatten, unflatten
from .tracer import TraceContext, Tracer, ir_dtype


@dataclass
class Traced:
    """A traced function: its IR, the trees of its (non-static) arguments and of its results."""

    function: Function
    in_tree: TreeDef
    out_tree: TreeDef
    static_argnums: tuple[int, ...]
    static_argnames: tuple[str, ...]

    def flat_args(self, args, kwargs=None) -> list[np.ndarray]:
        """The array leaves of a call's non-static arguments: the IR function's parameters."""
        dynamic, _ = _split(args, kwargs or {}, set(self.static_argnums), self.static_argnames)
        leaves, tree = flatten(dynamic)
        if tree != self.in_tree:
            raise TypeError(f"arguments have structure {tree}, the trace has {self.in_tree}")
        params = self.function.args
        return [np.asarray(x, dtype=p.type.dtype.np) for x, p in zip(leaves, params, strict=True)]

    def unflatten(self, results) -> Any:
        """The function's flat results in the structure the Python function returned."""
        return unflatten(self.out_tree, results)


def trace(
    fn: Callable,
    args,
    kwargs: dict | None = None,
    static_argnums=(),
    static_argnames=(),
) -> Traced:
    """Trace `fn(*args, **kwargs)` into tensor-level IR.

    >>> import numpy as np
    >>> t = trace(lambda x, y: np.exp(x) * y + 1.0, (np.ones(3, np.float32), np.float32(2)))
    >>> [op.name for op in t.function.body.ops]
    ['tir.exp', 'tir.broadcast', 'tir.mul', 'tir.constant', 'tir.add', 'func.return']
    >>> str(t.function.type)
    '(tensor<3xf32>, tensor<f32>) -> tensor<3xf32>'
    """
    kwargs = dict(kwargs or {})
    args = tuple(args)
    if isinstance(static_argnames, str):
        static_argnames = (static_argnames,)
    static_argnames = tuple(static_argnames)
    static = _static_positions(fn, len(args), static_argnums, static_argnames)
    dynamic, rebuild = _split(args, kwargs, static, static_argnames)
    leaves, in_tree = flatten(dynamic)
    avals = [_abstract(x) for x in leaves]
    code = getattr(fn, "__code__", None)
    loc = Location(code.co_filename, code.co_firstlineno) if code is not None else None
    name = re.sub(r"[^A-Za-z0-9_$.]", "_", getattr(fn, "__name__", "fn")) or "fn"
    f = Function(name, [t for t, _ in avals], [], loc=loc)
    with TraceContext(f) as ctx:
        params = [Tracer(p, ctx, weak) for p, (_, weak) in zip(f.args, avals, strict=True)]
        call_args, call_kwargs = rebuild(unflatten(in_tree, params))
        out_leaves, out_tree = flatten(fn(*call_args, **call_kwargs))
        results = [_result(x, ctx) for x in out_leaves]
        ctx.builder.loc = loc
        ctx.builder.create("func.return", [r.value for r in results])
    f.set_result_types([r.value.type for r in results])
    return Traced(f, in_tree, out_tree, tuple(sorted(static)), static_argnames)


def _static_positions(fn, nargs: int, static_argnums, static_argnames) -> set[int]:
    """Positions of static arguments: `static_argnums`, and positional parameters named in
    `static_argnames`."""
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    static = {n + nargs if n < 0 else n for n in nums}
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    static |= {params.index(n) for n in static_argnames if n in params[:nargs]}
    return {n for n in static if n < nargs}


def _split(args, kwargs, static: set[int], static_names) -> tuple[tuple, Callable]:
    """The dynamic part of a call (positional, keyword), and a function that puts traced
    replacements for it back among the static arguments."""
    dyn_args = tuple(a for i, a in enumerate(args) if i not in static)
    dyn_kwargs = {k: v for k, v in kwargs.items() if k not in static_names}

    def rebuild(dynamic):
        new_args, new_kwargs = dynamic
        it = iter(new_args)
        return [a if i in static else next(it) for i, a in enumerate(args)], {
            **kwargs,
            **new_kwargs,
        }

    return (dyn_args, dyn_kwargs), rebuild


def _abstract(x) -> tuple[T.TensorType, bool]:
    """The IR type of an argument leaf, and whether it is weak (a Python scalar)."""
    if is_py_scalar(x):
        if isinstance(x, int) and not isinstance(x, bool) and not -(2**63) <= x < 2**63:
            raise TraceOverflowError(f"Python integer argument {x} does not fit int64")
        return T.TensorType((), ir_dtype(np.asarray(x).dtype)), True
    if isinstance(x, np.ndarray | np.generic) or hasattr(x, "__cuda_array_interface__"):
        return T.TensorType(tuple(x.shape), ir_dtype(np.dtype(x.dtype))), False
    raise TraceError(
        f"argument of type {type(x).__name__} is not an array or a Python number",
        "pass it as a static argument (static_argnums / static_argnames)",
    )


def _result(x, ctx: TraceContext) -> Tracer:
    if isinstance(x, Tracer) and x.ctx is not ctx:
        raise TraceError("the function returned a traced array from another trace")
    return as_tracer(x)
