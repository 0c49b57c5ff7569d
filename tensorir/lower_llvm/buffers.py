"""Buffers as the generated code sees them: a base pointer, sizes and byte strides, each an LLVM
value that is a constant where the compiler knows it (static shapes, contiguous layouts) and a
run-time load where it does not (dynamic dims, arbitrary numpy strides)."""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from ..ir import affine as A
from ..ir import types as T
from .scalar import I1, I8, I64, mem_type


@dataclass
class Buffer:
    """Memory of one tensor: element (i0, ..., in) lives at ptr + sum(i_k * strides[k]) bytes."""

    ptr: ir.Value
    dtype: T.DType
    shape: list[ir.Value]
    strides: list[ir.Value]
    alias: tuple | None = None  # (alias.scope, noalias) metadata for every access

    def _tag(self, instr) -> None:
        if self.alias is not None:
            instr.set_metadata("alias.scope", self.alias[0])
            instr.set_metadata("noalias", self.alias[1])

    def address(self, b: ir.IRBuilder, idx: list[ir.Value]) -> ir.Value:
        offset = None
        for i, s in zip(idx, self.strides, strict=True):
            if isinstance(s, ir.Constant) and s.constant == 0:
                continue
            term = b.mul(i, s)
            offset = term if offset is None else b.add(offset, term)
        if offset is None:
            return self.ptr
        return b.gep(self.ptr, [offset], source_etype=I8, inbounds=True)

    def load(self, b: ir.IRBuilder, idx: list[ir.Value]) -> ir.Value:
        v = b.load(self.address(b, idx), typ=mem_type(self.dtype), align=self.dtype.itemsize)
        self._tag(v)
        return b.icmp_unsigned("!=", v, ir.Constant(I8, 0)) if self.dtype.is_bool else v

    def store(self, b: ir.IRBuilder, idx: list[ir.Value], v: ir.Value) -> None:
        if self.dtype.is_bool:
            v = b.zext(v, I8) if v.type == I1 else v
        self._tag(b.store(v, self.address(b, idx), align=self.dtype.itemsize))


def contiguous(ptr: ir.Value, t: T.TensorType, shape: list[ir.Value] | None = None) -> Buffer:
    """A C-contiguous buffer of static shape `t`."""
    strides, acc = [], t.dtype.itemsize
    for d in reversed(t.shape):
        strides.append(ir.Constant(I64, acc))
        acc *= max(d, 1)
    shape = shape or [ir.Constant(I64, d) for d in t.shape]
    return Buffer(ptr, t.dtype, shape, strides[::-1])


def splat(ptr: ir.Value, t: T.TensorType) -> Buffer:
    """One element seen as a whole tensor: every stride is 0."""
    zeros = [ir.Constant(I64, 0)] * t.rank
    return Buffer(ptr, t.dtype, [ir.Constant(I64, d) for d in t.shape], zeros)


def emit_affine(b: ir.IRBuilder, e: A.Expr, dims: list[ir.Value]) -> ir.Value:
    """An affine expression over loop indices as i64 arithmetic (operands are non-negative)."""
    if isinstance(e, A.Dim):
        return dims[e.pos]
    if isinstance(e, A.Const):
        return ir.Constant(I64, e.value)
    lhs, rhs = emit_affine(b, e.lhs, dims), emit_affine(b, e.rhs, dims)
    if e.op == "+":
        return b.add(lhs, rhs)
    if e.op == "*":
        return b.mul(lhs, rhs)
    return b.sdiv(lhs, rhs) if e.op == "floordiv" else b.srem(lhs, rhs)
