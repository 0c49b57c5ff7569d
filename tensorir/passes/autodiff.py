"""Automatic differentiation as IR transforms: `reverse` (vjp) and `forward` (jvp) turn a
tensor-level function into its derivative function, plain IR that later passes optimize, fuse and
lower like any program. Higher order is a transform applied to a transformed function.

Each op's rules live beside its declaration (`ir/derivative.py` says how they are written); the
transforms add what is common to all ops:

- activity: only float values that depend on a differentiated argument carry a (co)tangent, so
  integer and bool values never do, and constants cost nothing;
- symbolic zeros: a missing (co)tangent is zero; a zero is materialized only where a result of
  the derivative function needs one;
- fan-out: the cotangents of a value used several times are summed.

>>> from tensorir.ir.parser import parse_module
>>> (f,) = parse_module('''func.func @f(%x: tensor<3xf64>) -> tensor<3xf64> {
...   %0 = "tir.sin"(%x) : (tensor<3xf64>) -> tensor<3xf64>
...   "func.return"(%0) : (tensor<3xf64>) -> ()
... }''').functions
>>> g = reverse(f)
>>> str(g.type)
'(tensor<3xf64>, tensor<3xf64>) -> (tensor<3xf64>, tensor<3xf64>)'
>>> [op.name for op in g.body.ops]
['tir.sin', 'tir.cos', 'tir.mul', 'func.return']
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import types as T
from ..ir.builder import Builder
from ..ir.core import Function, Module, Operation, Value
from ..ir.derivative import add, zeros
from ..ir.inline import clone, inline
from ..ir.opdef import lookup
from .dce import dce
from .manager import register_pass


def reverse(
    f: Function,
    wrt: Sequence[int] | None = None,
    seeds: Sequence[int] | None = None,
    values: bool = True,
) -> Function:
    """The vjp of `f`: (arguments..., a cotangent for each result in `seeds`) -> (results...,
    the cotangent of each argument in `wrt`); by default every argument and every result.
    Without `values`, only the cotangents are returned (and nothing else is computed).

    A cotangent of an integer or bool argument is zero; one for such a result is ignored.
    """
    n, results = len(f.args), f.type.results
    wrt = range(n) if wrt is None else wrt
    seeds = range(len(results)) if seeds is None else seeds
    g = Function(f"{f.sym_name}_vjp", [*f.type.inputs, *(results[i] for i in seeds)], [], f.loc)
    b = Builder.at_end(g.body, f.loc)
    ys = inline(b, f, g.args[:n])
    ops = list(g.body.ops)
    active = _active(ops, [g.args[i] for i in wrt])
    cts: dict[Value, Value] = {}
    for i, ct in zip(seeds, g.args[n:], strict=True):
        if ys[i] in active:
            cts[ys[i]] = add(b, cts.get(ys[i]), ct)
    for op in reversed(ops):
        out_cts = [cts.pop(r, None) for r in op.results]
        if all(c is None for c in out_cts):
            continue
        b.loc = op.loc
        in_cts = _rule(op, "vjp")(b, op, *out_cts)
        for v, c in zip(op.operands, in_cts, strict=True):
            if c is not None and v in active:
                _check(op, "vjp", v, c)
                cts[v] = add(b, cts.get(v), c)
    b.loc = f.return_op.loc
    grads = [cts.get(g.args[i]) or zeros(b, g.args[i].type) for i in wrt]
    return _finish(b, g, [*ys, *grads] if values else grads)


def forward(f: Function, wrt: Sequence[int] | None = None) -> Function:
    """The jvp of `f`: (arguments..., a tangent for each argument in `wrt`) -> (results..., the
    tangent of each result); by default every argument.

    A tangent of an integer or bool argument is ignored; that of such a result is zero.
    """
    n = len(f.args)
    wrt = range(n) if wrt is None else wrt
    g = Function(f"{f.sym_name}_jvp", [*f.type.inputs, *(f.type.inputs[i] for i in wrt)], [], f.loc)
    b = Builder.at_end(g.body, f.loc)
    env: dict[Value, Value] = dict(zip(f.args, g.args[:n], strict=True))
    tangents = {g.args[i]: t for i, t in zip(wrt, g.args[n:], strict=True) if _is_float(t)}
    for op in f.body.ops[:-1]:
        new = clone(b, op, env)
        ts = [tangents.get(v) for v in new.operands]
        if all(t is None for t in ts) or not any(_is_float(r) for r in new.results):
            continue
        b.loc = op.loc
        out = _rule(new, "jvp")(b, new, *ts)
        for r, t in zip(new.results, [out] if len(new.results) == 1 else out, strict=True):
            if t is not None and _is_float(r):
                _check(new, "jvp", r, t)
                tangents[r] = t
    b.loc = f.return_op.loc
    ys = [env.get(v, v) for v in f.return_op.operands]
    return _finish(b, g, [*ys, *(tangents.get(y) or zeros(b, y.type) for y in ys)])


def _is_float(v: Value) -> bool:
    return isinstance(v.type, T.TensorType) and v.type.dtype.is_float


def _active(ops: list[Operation], seeds: list[Value]) -> set[Value]:
    """The float values that depend on `seeds`."""
    active = {v for v in seeds if _is_float(v)}
    for op in ops:
        if any(v in active for v in op.operands):
            active.update(r for r in op.results if _is_float(r))
    return active


def _rule(op: Operation, kind: str):
    rule = getattr(lookup(op.name), kind)
    if rule is None:
        where = f" (at {op.loc})" if op.loc is not None else ""
        raise NotImplementedError(
            f"{op.name} has no {kind} rule, so it cannot be differentiated{where}"
        )
    return rule


def _check(op: Operation, kind: str, primal: Value, derivative: Value) -> None:
    # a rule returning the wrong type would surface much later as a verifier error elsewhere
    if derivative.type != primal.type:
        raise TypeError(
            f"the {kind} rule of {op.name} gave {derivative.type} for a value of {primal.type}"
        )


def _finish(b: Builder, g: Function, results: list[Value]) -> Function:
    b.create("func.return", results)
    g.set_result_types([v.type for v in results])
    dce(Module([g]))
    return g


@register_pass("autodiff")
def autodiff(module: Module) -> Module:
    """Add `@f_vjp` (`reverse(f)`) and `@f_jvp` (`forward(f)`) for every function `@f`."""
    module.functions += [t(f) for f in list(module.functions) for t in (reverse, forward)]
    return module
