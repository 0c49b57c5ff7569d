"""Matmul-shaped generics as a tiled GPU kernel: shared-memory tiles, register blocking.

A generic the CPU backend would hand to BLAS (`blas.match`: body `acc + a*b`, zero init, `a`
free of the column dim and `b` of the row dim, float32/float64) computes a BM x BN tile of the
output per block. For each slice of BK along the reduction, the block's threads copy the
BM x BK tile of `a` and the BK x BN tile of `b` into shared memory (evaluating any producer
fusion folded into the factors, once per element), and then each thread accumulates its
TM x TN outputs in registers from the tiles. A thread's outputs are the rows 4 ty + 64 h + i
and the columns 4 tx + 64 h + j (h < 2; i, j < 4): it reads its values of a tile row with two
16-byte loads, and the threads of a warp read neighbouring words (no bank conflicts) and store
neighbouring elements. The epilogue fused into the generic (bias, activation) runs on the
registers before the one store of each output.

Edges are guarded: elements of a tile outside the matrices read as zero and are never stored.
"""

from __future__ import annotations

import math
import types

from llvmlite import ir

from ..ir.core import Operation
from ..lower_llvm.blas import cone, match
from ..lower_llvm.loops import emit_loop
from ..lower_llvm.rows import sizes_of
from ..lower_llvm.scalar import EMIT, I64, Ctx, ll_type
from .blocks import BlockKernel
from .common import store_results, unflatten

BM = BN = 128  # output tile of a block
BK = 8  # reduction slice per shared-memory tile
SIDE = 16  # threads per tile side: 256 threads
TM, TN = BM // SIDE, BN // SIDE  # outputs of a thread along rows and columns
VEC = 4  # a thread's rows (columns) come in runs of VEC, read from shared memory as one vector


class MatmulKernel(BlockKernel):
    """Emits the tiled kernel of matmul-shaped generic `op`."""

    def __init__(self, kl, op: Operation):
        super().__init__(kl, SIDE * SIDE)
        self.op, self.role = op, match(op)
        self.gl = kl.lowering(op)

    def lower(self) -> tuple[int, int]:
        """Emit the kernel; returns (tiles, threads per tile)."""
        b, gl, role = self.b, self.gl, self.role
        sizes = sizes_of(self.op)
        n_dims = len(sizes)
        M, N, K = sizes[role.m], sizes[role.n], sizes[role.k]
        tiles_m, tiles_n = -(-M // BM), -(-N // BN)
        batch_sizes = [sizes[d] for d in role.batch]
        n_tiles = math.prod(batch_sizes) * tiles_m * tiles_n
        ty = ll_type(self.op.result.type.dtype)
        a_tile, b_tile = self.shared(ty, BK * BM), self.shared(ty, BK * BN)
        acc = self.private(ty, TM * TN)
        block = self.op.regions[0].block
        add = block.ops[-1].operands[0].op
        mul = add.operands[1 - add.operands.index(block.args[gl.n_in])].op
        zero = ir.Constant(ty, 0.0)
        c = ir.Constant

        def tile(lin: ir.Value) -> None:
            rest = lin
            tn = b.urem(rest, c(I64, tiles_n))
            rest = b.udiv(rest, c(I64, tiles_n))
            tm = b.urem(rest, c(I64, tiles_m))
            base = [None] * n_dims
            batch = unflatten(b, b.udiv(rest, c(I64, tiles_m)), batch_sizes)
            for d, i in zip(role.batch, batch, strict=True):
                base[d] = i
            m0, n0 = b.mul(tm, c(I64, BM)), b.mul(tn, c(I64, BN))

            def clear(t: ir.Value) -> None:
                for q in range(TM * TN):
                    b.store(zero, acc(t, q))

            self.phase(clear, sync=False)

            def k_slice(k0: ir.Value) -> None:
                def load(t: ir.Value) -> None:
                    for r in range(BM * BK // self.threads):
                        e = b.add(t, c(I64, r * self.threads))
                        i, kk = b.udiv(e, c(I64, BK)), b.urem(e, c(I64, BK))
                        v = self.factor(role.a, base, {role.m: (m0, i, M), role.k: (k0, kk, K)})
                        b.store(v, self.at(a_tile, b.add(b.mul(kk, c(I64, BM)), i)))
                    for r in range(BK * BN // self.threads):
                        e = b.add(t, c(I64, r * self.threads))
                        kk, j = b.udiv(e, c(I64, BN)), b.urem(e, c(I64, BN))
                        v = self.factor(role.b, base, {role.k: (k0, kk, K), role.n: (n0, j, N)})
                        b.store(v, self.at(b_tile, b.add(b.mul(kk, c(I64, BN)), j)))

                def multiply(t: ir.Value) -> None:
                    ty_, tx = b.udiv(t, c(I64, SIDE)), b.urem(t, c(I64, SIDE))
                    ctx = Ctx(b, self.kl.module, [], self.kl.buffer_of, self.kl.report)
                    sums = [b.load(acc(t, q)) for q in range(TM * TN)]
                    for kk in range(BK):
                        rows = self.fragment(a_tile, ty_, kk * BM, TM, ty)
                        cols = self.fragment(b_tile, tx, kk * BN, TN, ty)
                        for i in range(TM):
                            for j in range(TN):
                                p = EMIT["s.mul"](ctx, [rows[i], cols[j]], mul)
                                q = i * TN + j
                                sums[q] = EMIT["s.add"](ctx, [sums[q], p], add)
                    for q in range(TM * TN):
                        b.store(sums[q], acc(t, q))

                self.phase(load)
                self.phase(multiply)

            emit_loop(b, c(I64, K), k_slice, "kslice", None, c(I64, BK))

            def store(t: ir.Value) -> None:
                ty_, tx = b.udiv(t, c(I64, SIDE)), b.urem(t, c(I64, SIDE))
                for i in range(TM):
                    row = b.add(m0, _owned(b, ty_, i))
                    for j in range(TN):
                        col = b.add(n0, _owned(b, tx, j))
                        inside = b.and_(
                            b.icmp_unsigned("<", row, c(I64, M)),
                            b.icmp_unsigned("<", col, c(I64, N)),
                        )
                        with b.if_then(inside):
                            ivs = list(base)
                            ivs[role.m], ivs[role.n], ivs[role.k] = row, col, c(I64, 0)
                            store_results(b, gl, ivs, [0], [b.load(acc(t, i * TN + j))])

            self.phase(store, sync=False)

        emit_loop(b, c(I64, n_tiles), tile, "tile", self.ctaid, self.nctaid)
        self.kl.finish()
        return n_tiles, self.threads

    def fragment(self, tile, coord: ir.Value, base: int, n: int, ty: ir.Type) -> list[ir.Value]:
        """The `n` tile values a thread at `coord` (its row or column among SIDE) multiplies
        in one step: groups of VEC consecutive values, read as one vector load each."""
        b, out = self.b, []
        vec = ir.VectorType(ty, VEC)
        # shared memory is 16-byte aligned; the emulator's arrays only to their elements
        align = 16 if not self.host else self.op.result.type.dtype.itemsize
        for h in range(n // VEC):
            first = b.add(
                b.mul(coord, ir.Constant(I64, VEC)), ir.Constant(I64, base + h * SIDE * VEC)
            )
            ptr = self.at(tile, first)
            v = b.load(b.bitcast(ptr, vec.as_pointer(ptr.type.addrspace)), align=align)
            out += [b.extract_element(v, ir.Constant(ir.IntType(32), i)) for i in range(VEC)]
        return out

    def factor(self, value, base: list, at: dict) -> ir.Value:
        """Body value `value` (a factor of the product) at the tile element whose loop indices
        are `base` plus, for each dim d in `at`, start + offset with (start, offset, size) =
        at[d]; zero where some index falls outside its size. Other loop dims read index 0: the
        factor does not depend on them."""
        b = self.b
        ivs = [i if i is not None else ir.Constant(I64, 0) for i in base]
        inside = ir.Constant(ir.IntType(1), 1)
        for d, (start, offset, size) in at.items():
            i = b.add(start, offset)
            ok = b.icmp_unsigned("<", i, ir.Constant(I64, size))
            inside = b.and_(inside, ok)
            ivs[d] = i
        # clamp, so that every read stays in bounds; the result is then masked
        for d in at:
            ivs[d] = b.select(inside, ivs[d], ir.Constant(I64, 0))
        ops, _ = cone(self.op, value)
        region = types.SimpleNamespace(ops=[*ops, types.SimpleNamespace(operands=[value])])
        block = self.op.regions[0].block
        gl = self.gl
        (v,) = gl.run_block(b, region, ivs, block.args[: gl.n_in], [], [])
        return b.select(inside, v, ir.Constant(v.type, 0.0))


def _owned(b: ir.IRBuilder, coord: ir.Value, i: int) -> ir.Value:
    """Tile row (column) of a thread's i-th output row (column), the thread at `coord`."""
    return b.add(
        b.mul(coord, ir.Constant(I64, VEC)), ir.Constant(I64, i // VEC * SIDE * VEC + i % VEC)
    )
