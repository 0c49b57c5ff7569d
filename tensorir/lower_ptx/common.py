"""Building blocks every kernel shape uses: one point of a generic's body, the identity of a
combiner, and moving a value between the lanes of a warp."""

from __future__ import annotations

import numpy as np
from llvmlite import ir

from ..ir.core import Operation
from ..lower_llvm.buffers import emit_affine
from ..lower_llvm.loops import GenericLowering
from ..lower_llvm.scalar import I32, I64, declare

WARP = 32
BUTTERFLY = (16, 8, 4, 2, 1)  # lane distances of the shuffle steps of a warp reduction


def result_index(b: ir.IRBuilder, gl: GenericLowering, ivs: list, k: int) -> list[ir.Value]:
    """The indices of result k of generic `gl` at loop indices `ivs`."""
    return [emit_affine(b, e, ivs) for e in gl.maps[gl.n_in + k].results]


def emit_point(b: ir.IRBuilder, gl: GenericLowering, ivs: list, slots: list) -> None:
    """One point of generic `gl` at loop indices `ivs`: accumulating results read and write
    their register `slots[k]`; the others (parallel results, side outputs) are stored."""
    acc_args = gl.op.regions[0].block.args[gl.n_in :]
    accs = [
        b.load(s)
        if s is not None
        else gl.inits[k].load(b, result_index(b, gl, ivs, k))
        if a.uses
        else None
        for k, (s, a) in enumerate(zip(slots, acc_args, strict=True))
    ]
    for k, v in enumerate(gl.body(b, ivs, accs)):
        if slots[k] is None:
            gl.outs[k].store(b, result_index(b, gl, ivs, k), v)
        else:
            b.store(v, slots[k])


def store_results(
    b: ir.IRBuilder, gl: GenericLowering, ivs: list, ks: list[int], finals: list[ir.Value]
) -> None:
    """Results `ks` of generic `gl` at `ivs` from their final accumulators: through the
    generic's epilogue when it has one, then stored."""
    if len(gl.op.regions) == 2:
        finals = gl.epilogue(b, ivs, finals)
    for k, v in zip(ks, finals, strict=True):
        gl.outs[k].store(b, result_index(b, gl, ivs, k), v)


def identity(c: Operation, ty: ir.Type) -> ir.Constant:
    """The value combiner `c` leaves any operand unchanged with."""
    dtype = c.results[0].type
    if c.name in ("s.add", "s.mul"):
        one = c.name == "s.mul"
        return ir.Constant(ty, (1.0 if one else -0.0) if dtype.is_float else int(one))
    is_max = c.name == "s.max"
    if dtype.is_float:
        return ir.Constant(ty, float("-inf") if is_max else float("inf"))
    if dtype.is_bool:
        return ir.Constant(ty, 0 if is_max else 1)
    info = np.iinfo(dtype.np)
    return ir.Constant(ty, int(info.min if is_max else info.max))


def shuffle(b: ir.IRBuilder, module: ir.Module, v: ir.Value, off: int) -> ir.Value:
    """The value `v` of lane (this lane xor `off`), moved as one or two 32-bit words."""
    shfl = declare(module, "llvm.nvvm.shfl.sync.bfly.i32", I32, [I32, I32, I32, I32])
    if isinstance(v.type, ir.IntType):
        bits = v.type.width
    else:
        bits = {ir.HalfType: 16, ir.FloatType: 32, ir.DoubleType: 64}[type(v.type)]
    word = ir.IntType(bits)
    x = v if isinstance(v.type, ir.IntType) else b.bitcast(v, word)

    def move(w: ir.Value) -> ir.Value:
        args = [ir.Constant(I32, -1), w, ir.Constant(I32, off), ir.Constant(I32, WARP - 1)]
        return b.call(shfl, args)

    if bits == 64:
        lo = move(b.trunc(x, I32))
        hi = move(b.trunc(b.lshr(x, ir.Constant(word, 32)), I32))
        y = b.or_(b.zext(lo, word), b.shl(b.zext(hi, word), ir.Constant(word, 32)))
    elif bits < 32:
        y = b.trunc(move(b.zext(x, I32)), word)
    else:
        y = move(x)
    return y if isinstance(v.type, ir.IntType) else b.bitcast(y, v.type)


def unflatten(b: ir.IRBuilder, lin: ir.Value, sizes: list[int]) -> list[ir.Value]:
    """The indices of flat index `lin` in a row-major domain of `sizes`."""
    idx: list[ir.Value] = [None] * len(sizes)
    rest = lin
    for d in reversed(range(len(sizes))):
        n = ir.Constant(I64, sizes[d])
        idx[d] = b.urem(rest, n) if d > 0 else rest
        rest = b.udiv(rest, n)
    return idx
