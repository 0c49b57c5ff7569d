"""Constant folding: a pure op whose operands are all constants becomes the constant that its
OpDef's numpy `eval` computes, so a folded program gives numpy's results exactly.

Splat constants fold on their single element (elementwise ops) or pass through unchanged
(movement ops), so `zeros((4096, 4096)) + 1` never materializes 16M elements; any other fold is
skipped when an operand or result has more than `MAX_FOLDED_ELEMENTS` elements. An `eval` that
raises (an out-of-bounds gather) is left for the compiled code to report at run time.

>>> from tensorir.ir.parser import parse_module
>>> m = parse_module('''func.func @f() -> tensor<4096x4096xf32> {
...   %0 = "tir.constant"() {value = dense<2.0> : tensor<4096x4096xf32>}
...     : () -> tensor<4096x4096xf32>
...   %1 = "tir.exp"(%0) : (tensor<4096x4096xf32>) -> tensor<4096x4096xf32>
...   "func.return"(%1) : (tensor<4096x4096xf32>) -> ()
... }''')
>>> value = fold(m).functions[0].body.ops[0].attrs["value"]
>>> value.splat, value.array
(True, array(7.3890557, dtype=float32))
"""

from __future__ import annotations

import numpy as np

from ..ir.builder import Builder
from ..ir.core import Module, Operation, Value
from ..ir.opdef import REGISTRY
from ..ir.types import TensorType
from .manager import register_pass
from .pattern import Pat, PatternSet, apply_patterns, const_attr, is_pure

MAX_FOLDED_ELEMENTS = 1 << 16
# ops whose result, for a splat operand, is the same splat in another shape
_SPLAT_MOVEMENT = frozenset({"tir.broadcast", "tir.transpose", "tir.reshape", "tir.slice"})

FOLD = PatternSet("fold")


@FOLD.pattern(Pat())
def fold_constant(b: Builder, op: Operation) -> list[Value] | None:
    """f(c1, ..., cn) -> c, the numpy evaluation of f on the constants."""
    if not op.operands or op.regions or not is_pure(op):
        return None
    opdef = REGISTRY[op.name]
    consts = [const_attr(v) for v in op.operands]
    types = [r.type for r in op.results]
    if (
        opdef.eval is None
        or any(c is None for c in consts)
        or not all(isinstance(t, TensorType) and t.is_static for t in types)
    ):
        return None
    if all(c.splat for c in consts) and op.name in _SPLAT_MOVEMENT:
        outs = [consts[0].array]
    else:
        if all(c.splat for c in consts) and "elementwise" in opdef.traits:
            args = [c.array for c in consts]
        elif max(t.size for t in [*types, *(c.type for c in consts)]) <= MAX_FOLDED_ELEMENTS:
            args = [c.full() for c in consts]
        else:
            return None
        try:
            with np.errstate(all="ignore"):
                outs = opdef.eval(args, op.attrs)
        except Exception:  # noqa: BLE001  (a failing eval is a run-time error, not ours)
            return None
    return [
        b.constant(np.asarray(o, dtype=t.dtype.np).reshape(() if np.ndim(o) == 0 else t.shape), t)
        for o, t in zip(outs, types, strict=True)
    ]


@register_pass("fold")
def fold(module: Module) -> Module:
    """Fold every op whose operands are all constants, to a fixed point."""
    apply_patterns(module, FOLD)
    return module
