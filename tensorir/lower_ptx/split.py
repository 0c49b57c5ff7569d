"""Split reductions: few outputs, each a reduction over very many elements (`x.sum()`, a loss's
mean, the max of a long vector), as two kernels.

One block per output point would leave all but a few of the GPU's multiprocessors idle. So the
first kernel cuts each point's reduction into `parts` contiguous chunks and gives every
(point, chunk) pair a block, which reduces its chunk cooperatively (`BlockKernel.block_reduce`)
and writes one partial into scratch space behind the workspace. The second kernel folds each
point's partials in chunk order, with the init, the epilogue, and the store: a tree of two
levels, whose result does not depend on the launch configuration.
"""

from __future__ import annotations

from llvmlite import ir

from ..ir import types as T
from ..ir.core import Operation
from ..ir.ops_tensor import is_pointwise
from ..lower_llvm.buffers import Buffer, contiguous
from ..lower_llvm.loops import emit_loop
from ..lower_llvm.rows import extents, folds_through_combiners, sizes_of
from ..lower_llvm.scalar import EMIT, I8, I64, Ctx, ll_type
from .blocks import BlockKernel
from .common import emit_point, identity, result_index, store_results, unflatten

THREADS = 256
TARGET_BLOCKS = 1024  # (point, chunk) blocks: several waves over the largest GPUs
MIN_CHUNK = 4096  # elements per chunk: below, a block's reduction costs more than its reads
FEW_POINTS = 256


def split_parts(op: Operation) -> int:
    """How many chunks each output point of reduction `op` is cut into (1: not split)."""
    iters = op.attrs["iterator_types"]
    if "reduction" not in iters or not folds_through_combiners(op):
        return 1
    points, length = extents(op)
    if points == 0 or points >= FEW_POINTS or length < 2 * MIN_CHUNK:
        return 1
    return max(1, min(-(-TARGET_BLOCKS // points), length // MIN_CHUNK))


class SplitReduction:
    """Reduction `op` cut into `parts` chunks per point; its partials live at byte
    `scratch_offset` of the workspace."""

    def __init__(self, op: Operation, parts: int, scratch_offset: int):
        self.op, self.parts, self.scratch_offset = op, parts, scratch_offset
        self.sizes = sizes_of(op)
        iters = op.attrs["iterator_types"]
        self.par = [d for d, it in enumerate(iters) if it == "parallel"]
        self.red = [d for d, it in enumerate(iters) if it == "reduction"]
        self.points, self.length = extents(op)
        n_in = op.attrs["num_inputs"]
        out_maps = op.attrs["indexing_maps"][n_in:]
        self.accumulating = [k for k, m in enumerate(out_maps) if not is_pointwise(m)]
        yields = op.regions[0].block.ops[-1].operands
        self.combiners = [yields[k].op for k in self.accumulating]
        acc_args = op.regions[0].block.args[n_in:]
        self.dtypes = [acc_args[k].type for k in self.accumulating]

    def scratch_bytes(self) -> int:
        n = self.points * self.parts
        return sum(_aligned(n * t.itemsize) for t in self.dtypes)

    def kernels(self, partials_kl, combine_kl) -> list[tuple[int, int]]:
        """Emit both kernels; (points, threads per point) of each."""
        return [SplitPartials(partials_kl, self).lower(), _Combine(combine_kl, self).lower()]

    def partials(self, kl) -> list[Buffer]:
        """One buffer of points x parts partials per accumulator, in the workspace's tail."""
        b, n = kl.alloca_builder, self.points * self.parts
        out, offset = [], self.scratch_offset
        for t in self.dtypes:
            ptr = b.gep(kl.workspace, [ir.Constant(I64, offset)], source_etype=I8)
            out.append(contiguous(ptr, T.TensorType((n,), t)))
            offset += _aligned(n * t.itemsize)
        return out


class SplitPartials(BlockKernel):
    """The first kernel: a block per (point, chunk), writing the chunk's partial."""

    def __init__(self, kl, r: SplitReduction):
        super().__init__(kl, THREADS)
        self.r, self.gl = r, kl.lowering(r.op)

    def lower(self) -> tuple[int, int]:
        b, r, gl = self.b, self.r, self.gl
        chunk = -(-r.length // r.parts)
        ivs: list = [None] * len(r.sizes)
        slots: list = [None] * len(gl.outs)
        for k, dtype in zip(r.accumulating, r.dtypes, strict=True):
            slots[k] = self.kl.alloca(ll_type(dtype))
        partials = r.partials(self.kl)
        ctx = Ctx(b, self.kl.module, ivs, self.kl.buffer_of, self.kl.report, gl.combiners)
        c = ir.Constant

        def combine(cb: Operation, x: ir.Value, y: ir.Value) -> ir.Value:
            return EMIT[cb.name](ctx, [x, y], cb)

        def pair(v: ir.Value) -> None:
            p, part = b.udiv(v, c(I64, r.parts)), b.urem(v, c(I64, r.parts))
            for d, i in zip(r.par, unflatten(b, p, [r.sizes[d] for d in r.par]), strict=True):
                ivs[d] = i
            lo = b.mul(part, c(I64, chunk))
            end = b.add(lo, c(I64, chunk))
            full = c(I64, r.length)
            hi = b.select(b.icmp_unsigned("<", end, full), end, full)

            def partial(t: ir.Value) -> None:
                for k, cb in zip(r.accumulating, r.combiners, strict=True):
                    b.store(identity(cb, slots[k].allocated_type), slots[k])

                def at(q: ir.Value) -> None:
                    red_ivs = unflatten(b, q, [r.sizes[d] for d in r.red])
                    for d, i in zip(r.red, red_ivs, strict=True):
                        ivs[d] = i
                    emit_point(b, gl, ivs, slots)

                emit_loop(b, hi, at, "chunk", b.add(lo, t), c(I64, self.threads))

            def finish(totals: list[ir.Value]) -> None:
                for buf, total in zip(partials, totals, strict=True):
                    buf.store(b, [v], total)

            self.block_reduce(
                partial, [slots[k] for k in r.accumulating], combine, r.combiners, finish
            )

        n = r.points * r.parts
        emit_loop(b, c(I64, n), pair, "pair", self.ctaid, self.nctaid)
        self.kl.finish()
        return n, self.threads


class _Combine:
    """The second kernel: a thread per point folds the point's partials in chunk order, then
    the init, the epilogue and the store."""

    def __init__(self, kl, r: SplitReduction):
        self.kl, self.r, self.gl = kl, r, kl.lowering(r.op)

    def lower(self) -> tuple[int, int]:
        kl, r, gl = self.kl, self.r, self.gl
        b = kl.b
        partials = r.partials(kl)
        ivs: list = [None] * len(r.sizes)
        ctx = Ctx(b, kl.module, ivs, kl.buffer_of, kl.report, gl.combiners)
        slots = [kl.alloca(ll_type(t)) for t in r.dtypes]
        c = ir.Constant

        def point(idx: list[ir.Value]) -> None:
            p = c(I64, 0)
            for d, i in zip(r.par, idx, strict=True):
                ivs[d] = i
                p = b.add(b.mul(p, c(I64, r.sizes[d])), i)
            for k, cb, buf, slot in zip(r.accumulating, r.combiners, partials, slots, strict=True):
                b.store(gl.inits[k].load(b, result_index(b, gl, ivs, k)), slot)

                def fold(s: ir.Value, cb=cb, buf=buf, slot=slot) -> None:
                    part = buf.load(b, [b.add(b.mul(p, c(I64, r.parts)), s)])
                    b.store(EMIT[cb.name](ctx, [b.load(slot), part], cb), slot)

                emit_loop(b, c(I64, r.parts), fold, "fold")
            store_results(b, gl, ivs, r.accumulating, [b.load(s) for s in slots])

        kl.grid_stride([r.sizes[d] for d in r.par], point)
        kl.finish()
        return r.points, 1


def _aligned(n: int) -> int:
    return -(-n // 64) * 64
