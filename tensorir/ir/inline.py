"""Copying IR: one op (with its regions) or a whole function's body, at a builder's position.

Transforms build new functions this way (autodiff copies the forward program, then appends its
derivative) and traced calls splice a transformed function into the program being traced.

>>> from tensorir.ir import Builder, Function, types as T
>>> t = T.TensorType((2,), T.f32)
>>> f = Function("f", [t], [t])
>>> b = Builder.at_end(f.body)
>>> _ = b.create("func.return", [b.op("tir.exp", f.args[0])])
>>> g = Function("g", [t], [t])
>>> gb = Builder.at_end(g.body)
>>> (y,) = inline(gb, f, [gb.op("tir.neg", g.args[0])])
>>> [op.name for op in g.body.ops]
['tir.neg', 'tir.exp']
"""

from __future__ import annotations

from collections.abc import Sequence

from .builder import Builder
from .core import Block, Function, Operation, Region, Value


def clone(b: Builder, op: Operation, mapping: dict[Value, Value]) -> Operation:
    """Insert a copy of `op` at `b`, its operands renamed through `mapping` (values not in it
    are used as they are); the copy's results are added to `mapping`."""
    regions = [_clone_region(r, mapping) for r in op.regions]
    new = Operation(
        op.name,
        [mapping.get(v, v) for v in op.operands],
        [r.type for r in op.results],
        op.attrs,
        regions,
        op.loc,
    )
    b.insert(new)
    mapping.update(zip(op.results, new.results, strict=True))
    return new


def _clone_region(region: Region, mapping: dict[Value, Value]) -> Region:
    blocks = []
    for block in region.blocks:
        new = Block([a.type for a in block.args])
        mapping.update(zip(block.args, new.args, strict=True))
        inner = Builder.at_end(new)
        for op in block.ops:
            clone(inner, op, mapping)
        blocks.append(new)
    return Region(blocks)


def inline(b: Builder, f: Function, args: Sequence[Value]) -> list[Value]:
    """Insert `f`'s body at `b` applied to `args`; returns the values `f` returns."""
    mapping: dict[Value, Value] = dict(zip(f.args, args, strict=True))
    for op in f.body.ops[:-1]:
        clone(b, op, mapping)
    return [mapping.get(v, v) for v in f.return_op.operands]
