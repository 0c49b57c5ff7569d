"""The IR's data structures: values with use lists, operations, blocks, regions, functions, modules.

One `Operation` class serves every op; what an op means lives in its `OpDef` (see `opdef.py`),
found by name. Values know their uses, so replacing a value or erasing an op is cheap; passes make
such changes through these methods only, never by editing lists directly.

>>> from tensorir.ir import types as T
>>> f = Function("f", [T.TensorType((2,), T.f32)], [])
>>> f.args[0].type
TensorType(shape=(2,), dtype=DType(kind='f', bits=32))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .types import FunctionType, TensorType, Type


@dataclass(frozen=True, slots=True)
class Location:
    """A source position (`loc("file.py":12:4)`); the user's line survives every pass."""

    file: str
    line: int
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, eq=False, slots=True)
class DenseAttr:
    """A constant tensor value; `splat` keeps a single element for a tensor of equal elements,
    so `zeros((4096, 4096))` costs one element, not 64 MiB."""

    type: TensorType
    array: np.ndarray  # 0-d when splat, else of the type's shape

    @staticmethod
    def of(array, type_: TensorType) -> DenseAttr:
        a = np.asarray(array, dtype=type_.dtype.np)
        if a.ndim == 0 or (a.size > 0 and _same_bits(a)):
            return DenseAttr(type_, np.array(a.flat[0] if a.size else a, dtype=a.dtype))
        return DenseAttr(type_, np.ascontiguousarray(a).reshape(type_.shape))

    @property
    def splat(self) -> bool:
        return self.array.ndim == 0

    def full(self) -> np.ndarray:
        """The whole value as an array."""
        return np.broadcast_to(self.array, self.type.shape) if self.splat else self.array

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, DenseAttr)
            and other.type == self.type
            and other.array.shape == self.array.shape
            and other.array.tobytes() == self.array.tobytes()
        )

    def __hash__(self) -> int:
        return hash((self.type, self.array.tobytes()))


def _same_bits(a: np.ndarray) -> bool:
    """Splat only when every element has the same bits (keeps -0.0 and NaN payloads exact)."""
    raw = np.ascontiguousarray(a).view(np.uint8).reshape(a.size, a.itemsize)
    return bool((raw == raw[0]).all())


class Value:
    """An SSA value: an op result or a block argument, with its type and its uses."""

    __slots__ = ("type", "uses", "name_hint")

    def __init__(self, type_: Type):
        self.type = type_
        self.uses: list[tuple[Operation, int]] = []
        self.name_hint: str | None = None

    @property
    def owner(self):
        raise NotImplementedError

    def replace_all_uses_with(self, new: Value) -> None:
        for op, i in list(self.uses):
            op.set_operand(i, new)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.type}>"


class OpResult(Value):
    __slots__ = ("op", "index")

    def __init__(self, type_: Type, op: Operation, index: int):
        super().__init__(type_)
        self.op, self.index = op, index

    @property
    def owner(self) -> Operation:
        return self.op


class BlockArgument(Value):
    __slots__ = ("block", "index")

    def __init__(self, type_: Type, block: Block, index: int):
        super().__init__(type_)
        self.block, self.index = block, index

    @property
    def owner(self) -> Block:
        return self.block


class Operation:
    """One op: name, operands, results, attributes, regions and a source location.

    `parsed_at` is where the parser read the op (a `parser.TextPosition`), for error messages;
    it is never printed, so text without `loc(...)` reads and prints back unchanged.
    """

    __slots__ = ("name", "operands", "results", "attrs", "regions", "loc", "parent", "parsed_at")

    def __init__(
        self,
        name: str,
        operands: list[Value] = (),
        result_types: list[Type] = (),
        attrs: dict[str, Any] | None = None,
        regions: list[Region] = (),
        loc: Location | None = None,
    ):
        self.name = name
        self.operands: list[Value] = []
        self.results = [OpResult(t, self, i) for i, t in enumerate(result_types)]
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.regions: list[Region] = []
        self.loc = loc
        self.parent: Block | None = None
        self.parsed_at = None
        for v in operands:
            self.add_operand(v)
        for r in regions:
            self.add_region(r)

    @property
    def result(self) -> OpResult:
        assert len(self.results) == 1, f"{self.name} has {len(self.results)} results"
        return self.results[0]

    def add_operand(self, v: Value) -> None:
        if not isinstance(v, Value):
            raise TypeError(f"operand of {self.name} must be a Value, got {type(v).__name__}")
        v.uses.append((self, len(self.operands)))
        self.operands.append(v)

    def set_operand(self, i: int, v: Value) -> None:
        old = self.operands[i]
        old.uses.remove((self, i))
        v.uses.append((self, i))
        self.operands[i] = v

    def drop_operands(self) -> None:
        for i, v in enumerate(self.operands):
            v.uses.remove((self, i))
        self.operands = []

    def add_region(self, r: Region) -> None:
        r.parent = self
        self.regions.append(r)

    def walk(self):
        """This op and every op nested in its regions, in order."""
        yield self
        for r in self.regions:
            for b in r.blocks:
                for op in list(b.ops):
                    yield from op.walk()

    def erase(self) -> None:
        """Remove this op from its block; its results must be unused."""
        for r in self.results:
            assert not r.uses, f"erasing {self.name} whose result is still used"
        for op in self.walk():
            op.drop_operands()
        if self.parent is not None:
            self.parent.ops.remove(self)
            self.parent = None

    def __repr__(self) -> str:
        return f"<Operation {self.name}>"


class Block:
    """A list of ops with typed arguments."""

    __slots__ = ("args", "ops", "parent")

    def __init__(self, arg_types: list[Type] = ()):
        self.args = [BlockArgument(t, self, i) for i, t in enumerate(arg_types)]
        self.ops: list[Operation] = []
        self.parent: Region | None = None

    def append(self, op: Operation) -> Operation:
        op.parent = self
        self.ops.append(op)
        return op

    def insert_before(self, anchor: Operation, op: Operation) -> Operation:
        op.parent = self
        self.ops.insert(self.ops.index(anchor), op)
        return op

    @property
    def terminator(self) -> Operation:
        return self.ops[-1]


class Region:
    """A list of blocks owned by an op (ours always hold one block)."""

    __slots__ = ("blocks", "parent")

    def __init__(self, blocks: list[Block] = ()):
        self.blocks: list[Block] = []
        self.parent: Operation | None = None
        for b in blocks:
            self.add_block(b)

    def add_block(self, b: Block) -> None:
        b.parent = self
        self.blocks.append(b)

    @property
    def block(self) -> Block:
        return self.blocks[0]


class Function(Operation):
    """`func.func`: a named op whose single-block region is the function body."""

    __slots__ = ()

    def __init__(self, name: str, arg_types: list[Type], result_types: list[Type], loc=None):
        ftype = FunctionType(tuple(arg_types), tuple(result_types))
        super().__init__(
            "func.func",
            attrs={"sym_name": name, "function_type": ftype},
            regions=[Region([Block(arg_types)])],
            loc=loc,
        )

    @property
    def sym_name(self) -> str:
        return self.attrs["sym_name"]

    @property
    def type(self) -> FunctionType:
        return self.attrs["function_type"]

    @property
    def body(self) -> Block:
        return self.regions[0].block

    @property
    def args(self) -> list[BlockArgument]:
        return self.body.args

    @property
    def return_op(self) -> Operation:
        return self.body.terminator

    def set_result_types(self, types: list[Type]) -> None:
        self.attrs["function_type"] = FunctionType(self.type.inputs, tuple(types))

    def __str__(self) -> str:
        from .printer import print_function

        return print_function(self)


class Module:
    """A list of functions."""

    def __init__(self, functions: list[Function] = ()):
        self.functions: list[Function] = list(functions)

    def get(self, name: str) -> Function:
        for f in self.functions:
            if f.sym_name == name:
                return f
        raise KeyError(f"no function @{name} in the module")

    def walk(self):
        for f in self.functions:
            yield from f.walk()

    def __str__(self) -> str:
        from .printer import print_module

        return print_module(self)
