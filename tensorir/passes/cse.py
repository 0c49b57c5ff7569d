"""Common subexpression elimination: a pure op equal to an earlier one (same name, operands,
attributes and result types) is replaced by it.

Operands of commutative ops are compared as a set, so `a + b` and `b + a` merge; constants merge
when their values have the same bits. Ops in a nested region may reuse ops of the enclosing
scopes, never the other way round.

>>> from tensorir.ir.parser import parse_module
>>> m = parse_module('''func.func @f(%arg0: tensor<2xf32>, %arg1: tensor<2xf32>) -> tensor<2xf32> {
...   %0 = "tir.add"(%arg0, %arg1) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
...   %1 = "tir.add"(%arg1, %arg0) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
...   %2 = "tir.mul"(%0, %1) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
...   "func.return"(%2) : (tensor<2xf32>) -> ()
... }''')
>>> [op.name for op in cse(m).functions[0].body.ops]
['tir.add', 'tir.mul', 'func.return']
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Hashable, MutableMapping

from ..ir.core import Block, Module, Operation
from .manager import register_pass
from .pattern import Rewriter, is_pure

# Operand order does not matter, bit for bit. Not max/min: numpy's maximum(0.0, -0.0) is 0.0
# while maximum(-0.0, 0.0) is -0.0.
COMMUTATIVE = frozenset(
    p + n for p in ("tir.", "s.") for n in ("add", "mul", "and", "or", "xor", "eq", "ne")
)


def _attr_key(v) -> Hashable:
    # floats by their bits, so 0.0 and -0.0 (equal as numbers) stay distinct
    if isinstance(v, float):
        return (float, v.hex())
    if isinstance(v, tuple):
        return tuple(_attr_key(x) for x in v)
    return (type(v), v)


def _key(op: Operation) -> Hashable:
    operands = tuple(op.operands)
    if op.name in COMMUTATIVE:
        operands = tuple(sorted(operands, key=id))
    attrs = tuple(sorted((k, _attr_key(v)) for k, v in op.attrs.items()))
    return op.name, operands, attrs, tuple(r.type for r in op.results)


def _cse_block(block: Block, seen: MutableMapping, rw: Rewriter) -> None:
    for op in list(block.ops):
        for region in op.regions:
            for inner in region.blocks:
                _cse_block(inner, ChainMap({}, seen), rw)
        if op.regions or not op.results or not is_pure(op):
            continue
        first = seen.setdefault(_key(op), op)
        if first is not op:
            rw.replace(op, first.results)


@register_pass("cse")
def cse(module: Module) -> Module:
    """Replace each pure op by an earlier equal one, where there is one."""
    rw = Rewriter()
    for f in module.functions:
        _cse_block(f.body, {}, rw)
    return module
