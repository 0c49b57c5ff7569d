"""`Builder`: creates typed ops at an insertion point, running each op's type rule.

This is the API other compilers use to hand tensorir a program.

>>> from tensorir.ir import types as T
>>> from tensorir.ir.core import Function
>>> t = T.TensorType((4,), T.f32)
>>> f = Function("f", [t, t], [t])
>>> b = Builder.at_end(f.body)
>>> s = b.op("tir.add", f.args[0], f.args[1])
>>> _ = b.create("func.return", [s])
>>> str(s.type)
'tensor<4xf32>'
"""

from __future__ import annotations

from collections.abc import Callable

from . import types as T
from .affine import AffineMap
from .core import Block, DenseAttr, Location, Operation, Region, Value
from .opdef import lookup


class Builder:
    """Inserts new ops into a block, before `anchor` (or at the end), tagging them with `loc`."""

    def __init__(self, block: Block, anchor: Operation | None = None, loc: Location | None = None):
        self.block, self.anchor, self.loc = block, anchor, loc

    @staticmethod
    def at_end(block: Block, loc: Location | None = None) -> Builder:
        return Builder(block, None, loc)

    @staticmethod
    def before(op: Operation) -> Builder:
        return Builder(op.parent, op, op.loc)

    def insert(self, op: Operation) -> Operation:
        if self.anchor is None:
            return self.block.append(op)
        return self.block.insert_before(self.anchor, op)

    def create(
        self,
        name: str,
        operands: list[Value] = (),
        attrs: dict | None = None,
        regions: list[Region] = (),
        result_types: list | None = None,
    ) -> Operation:
        """Create op `name`; its result types come from its type rule unless given."""
        attrs = dict(attrs or {})
        if result_types is None:
            if name == "func.return":
                result_types = []
            else:
                result_types = lookup(name).infer_types([v.type for v in operands], attrs)
        return self.insert(Operation(name, list(operands), result_types, attrs, regions, self.loc))

    def op(self, name: str, *operands: Value, **attrs) -> Value:
        """Create a single-result op and return its result."""
        return self.create(name, list(operands), attrs).result

    def constant(self, value, type_: T.TensorType) -> Value:
        return self.op("tir.constant", value=DenseAttr.of(value, type_))

    def scalar_constant(self, value, dtype) -> Value:
        return self.op("s.constant", value=value, dtype=dtype)

    def empty(self, type_: T.TensorType) -> Value:
        return self.op("tir.empty", shape=type_.shape, dtype=type_.dtype)

    def generic(
        self,
        inputs: list[Value],
        inits: list[Value],
        maps: list[AffineMap],
        iterators: list[str],
        body: Callable[..., list[Value]],
        epilogue: Callable[..., list[Value]] | None = None,
    ) -> list[Value]:
        """A `tir.generic` over `inputs` and `inits`; `body(builder, *scalars)` returns the yielded
        values, one per init (the scalars are the inputs' elements, then the accumulators).
        `epilogue(builder, *final_accumulators, *input_elements)`, for ops with reduction dims,
        returns each result from the final accumulators (see `tir.generic`)."""
        elems = [T.element_type(v.type) for v in [*inputs, *inits]]
        block = Block(elems)
        inner = Builder.at_end(block, self.loc)
        inner.create("s.yield", list(body(inner, *block.args)))
        regions = [Region([block])]
        attrs = {
            "indexing_maps": tuple(maps),
            "iterator_types": tuple(iterators),
            "num_inputs": len(inputs),
        }
        if epilogue is not None:
            accs = elems[len(inputs) :]
            eblock = Block(accs + elems[: len(inputs)])
            einner = Builder.at_end(eblock, self.loc)
            finals = list(epilogue(einner, *eblock.args))
            einner.create("s.yield", finals)
            regions.append(Region([eblock]))
            dtypes = tuple(v.type for v in finals)
            if list(dtypes) != accs:
                attrs["result_dtypes"] = dtypes
        return self.create("tir.generic", [*inputs, *inits], attrs, regions).results

    def elementwise(self, scalar_op: str, operands: list[Value], attrs: dict) -> list[Value]:
        """One scalar op applied at every index of equally shaped tensors, as a `tir.generic`."""
        rank = operands[0].type.rank
        shape = operands[0].type.shape
        dtype = lookup(scalar_op).infer_types([T.element_type(v.type) for v in operands], attrs)
        out = self.empty(T.TensorType(shape, dtype[0]))
        ident = AffineMap.identity(rank)
        return self.generic(
            list(operands),
            [out],
            [ident] * (len(operands) + 1),
            ["parallel"] * rank,
            lambda b, *xs: [b.op(scalar_op, *xs[: len(operands)], **attrs)],
        )
