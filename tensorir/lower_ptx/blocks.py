"""Row kernels: a run of generics over the same rows becomes one kernel in which a block of
threads owns one row at a time.

Softmax after fusion is three generics over rows i: the row max m[i], the row sum s[i] of
exp(x - m) and the normalization exp(x - m) / s. As three kernels they read x three times from
device memory. As one row kernel, a block reads row i, reduces it cooperatively (each thread a
strided share, a shuffle butterfly in each warp, then across warps through shared memory) and
goes on to the next member while the row is still in the cache: device memory sees x once and
the output once. Members exchange per-row values (m[i], s[i]) through their ordinary buffers,
which is correct because one block computes all members of a row and a barrier separates them.

Cooperative code is written as *phases*: `phase(body)` runs `body(t)` for every thread t of the
block and then a barrier. On the GPU a phase is the body with t = the thread id followed by
`barrier.sync`; in emulation (`host=True`) it is a loop over the block's threads, so the
emulator runs exactly the GPU's schedule between barriers (as MCUDA-style thread loops do) and
a barrier cannot be missing, since the generator emits one at the end of every phase.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from llvmlite import ir

from ..ir.core import Operation
from ..ir.ops_tensor import is_pointwise
from ..lower_llvm.blas import match
from ..lower_llvm.loops import GenericLowering, emit_loop
from ..lower_llvm.rows import extents, folds_through_combiners, member_kind, sizes_of
from ..lower_llvm.scalar import EMIT, I32, I64, Ctx, declare, ll_type
from .common import (
    BUTTERFLY,
    WARP,
    emit_point,
    identity,
    result_index,
    shuffle,
    store_results,
    unflatten,
)

MAX_THREADS = 256  # threads of a row kernel's block
SLICES = 8  # threads sharing one output point's reduction in a column kernel
FEW_POINTS = 1 << 16  # fewer output points than this leave a GPU idle at a thread per point
LONG_REDUCTION = 256
SHARED = 3  # NVPTX address space of shared memory


class BlockKernel:
    """A kernel whose block of `threads` threads cooperates through shared memory, written in
    phases; `kl` is the kernel being built (a `_KernelLowering`)."""

    def __init__(self, kl, threads: int):
        self.kl, self.b, self.threads = kl, kl.b, threads
        self.host = kl.owner.host
        self.tid, _, self.ctaid, self.nctaid = kl.thread_ids()
        self.n_shared = 0

    def phase(self, body: Callable[[ir.Value], None], sync: bool = True) -> None:
        """body(t) for every thread t of the block, then a barrier (unless `sync` is False:
        the next phase reads nothing this one wrote for another thread)."""
        if self.host:
            emit_loop(self.b, ir.Constant(I64, self.threads), body, "thread")
            return
        body(self.tid)
        if sync:
            self.barrier()

    def barrier(self) -> None:
        fn = declare(self.kl.module, "llvm.nvvm.barrier.cta.sync.aligned.all", ir.VoidType(), [I32])
        self.b.call(fn, [ir.Constant(I32, 0)])

    def shared(self, ty: ir.Type, n: int) -> ir.Value:
        """An array of `n` values visible to the whole block (per block, in emulation)."""
        arr = ir.ArrayType(ty, n)
        if self.host:
            return self.kl.alloca(arr)
        name = f"{self.kl.fn.name}_shared{self.n_shared}"
        self.n_shared += 1
        g = ir.GlobalVariable(self.kl.module, arr, name, addrspace=SHARED)
        g.linkage, g.initializer, g.align = "internal", ir.Constant(arr, ir.Undefined), 16
        return g

    def private(self, ty: ir.Type, n: int) -> Callable[[ir.Value, int], ir.Value]:
        """`n` values of each thread that live across phases: `at(t, i)` is the address of
        thread t's value i (registers on the GPU; one array per block in emulation)."""
        if self.host:
            arr = self.kl.alloca(ir.ArrayType(ty, self.threads * n))
            return lambda t, i: self.at(arr, self.b.add(self.b.mul(t, ir.Constant(I64, n)), _c(i)))
        arr = self.kl.alloca(ir.ArrayType(ty, n))
        return lambda t, i: self.at(arr, _c(i))

    def at(self, arr: ir.Value, i: ir.Value) -> ir.Value:
        return self.b.gep(arr, [ir.Constant(I64, 0), i], inbounds=True)

    def block_reduce(self, partial, slots, combine, combiners, finish) -> None:
        """Combine the block's threads' accumulators: `partial(t)` leaves thread t's share in
        `slots`; `finish(totals)` runs once, in one thread, with the block's totals. On the GPU
        a shuffle butterfly in each warp, the warps' totals through shared memory, and one more
        butterfly in the first warp; the emulator combines in the same order."""
        b = self.b
        tys = [s.allocated_type for s in slots]
        if self.host:
            self.host_reduce(partial, slots, combine, combiners, tys, finish)
            return
        partials = [self.shared(ty, WARP) for ty in tys]  # one per warp
        partial(self.tid)
        vals = self.butterfly([b.load(s) for s in slots], combine, combiners)
        lane = b.urem(self.tid, ir.Constant(I64, WARP))
        warp = b.udiv(self.tid, ir.Constant(I64, WARP))
        with b.if_then(b.icmp_unsigned("==", lane, ir.Constant(I64, 0))):
            for arr, v in zip(partials, vals, strict=True):
                b.store(v, self.at(arr, warp))
        self.barrier()
        with b.if_then(b.icmp_unsigned("==", warp, ir.Constant(I64, 0))):
            has = b.icmp_unsigned("<", lane, ir.Constant(I64, self.threads // WARP))
            vals = [
                b.select(has, b.load(self.at(arr, lane)), identity(c, ty))
                for arr, c, ty in zip(partials, combiners, tys, strict=True)
            ]
            vals = self.butterfly(vals, combine, combiners)
            with b.if_then(b.icmp_unsigned("==", lane, ir.Constant(I64, 0))):
                finish(vals)
        self.barrier()

    def butterfly(self, vals: list[ir.Value], combine, combiners) -> list[ir.Value]:
        """Each lane's values combined with every other lane's of its warp (GPU)."""
        for off in BUTTERFLY:
            vals = [
                combine(c, v, shuffle(self.b, self.kl.module, v, off))
                for c, v in zip(combiners, vals, strict=True)
            ]
        return vals

    def host_reduce(self, partial, slots, combine, combiners, tys, finish) -> None:
        """The block reduction in emulation, combining in the GPU's order: every thread's
        partial, a butterfly within each warp, then one across the warps' totals."""
        b = self.b
        lanes = [self.shared(ty, self.threads) for ty in tys]

        def one_thread(t: ir.Value) -> None:
            partial(t)
            for arr, slot in zip(lanes, slots, strict=True):
                b.store(b.load(slot), self.at(arr, t))

        emit_loop(b, ir.Constant(I64, self.threads), one_thread, "thread")
        warp_totals = [self.shared(ty, WARP) for ty in tys]
        for arr, c, ty in zip(warp_totals, combiners, tys, strict=True):
            for w in range(WARP):  # warps the block lacks hold the identity, as on the GPU
                b.store(identity(c, ty), self.at(arr, ir.Constant(I64, w)))
        for w in range(self.threads // WARP):
            base = ir.Constant(I64, w * WARP)
            totals = self.host_butterfly(lanes, base, combine, combiners, tys)
            for arr, v in zip(warp_totals, totals, strict=True):
                b.store(v, self.at(arr, ir.Constant(I64, w)))
        finish(self.host_butterfly(warp_totals, ir.Constant(I64, 0), combine, combiners, tys))

    def host_butterfly(self, arrays, base, combine, combiners, tys) -> list[ir.Value]:
        """Lane 0's result of the GPU's shuffle butterfly over values base..base+31 of each
        array, computed with two buffers of 32 lanes."""
        b = self.b
        bufs = [[self.kl.alloca(ir.ArrayType(ty, WARP)) for _ in range(2)] for ty in tys]

        def load_lane(i: ir.Value) -> None:
            for arr, (first, _) in zip(arrays, bufs, strict=True):
                b.store(b.load(self.at(arr, b.add(base, i))), self.at(first, i))

        emit_loop(b, ir.Constant(I64, WARP), load_lane, "lane")
        for level, off in enumerate(BUTTERFLY):

            def exchange(i: ir.Value, level=level, off=off) -> None:
                partner = b.xor(i, ir.Constant(I64, off))
                for c, pair in zip(combiners, bufs, strict=True):
                    old, new = pair[level % 2], pair[1 - level % 2]
                    v = combine(c, b.load(self.at(old, i)), b.load(self.at(old, partner)))
                    b.store(v, self.at(new, i))

            emit_loop(b, ir.Constant(I64, WARP), exchange, "shfl")
        last = len(BUTTERFLY) % 2
        return [b.load(self.at(pair[last], ir.Constant(I64, 0))) for pair in bufs]


class RowKernel(BlockKernel):
    """Emits one row kernel for generics `members` over `rows` leading row dims."""

    def __init__(self, kl, members: list[Operation], rows: int):
        inner = max(math.prod(sizes_of(op)[rows:]) for op in members)
        super().__init__(kl, min(MAX_THREADS, max(WARP, -(-inner // WARP) * WARP)))
        self.members, self.rows = members, rows

    def lower(self) -> tuple[int, int]:
        """Emit the kernel; returns (rows, threads per row)."""
        b = self.b
        row_sizes = sizes_of(self.members[0])[: self.rows]
        lows = [self.kl.lowering(op) for op in self.members]

        def row(r: ir.Value) -> None:
            row_ivs = unflatten(b, r, row_sizes)
            for gl in lows:
                self.member(gl, row_ivs)

        # every thread of a block walks the same rows, so all reach every barrier
        n_rows = math.prod(row_sizes)
        emit_loop(b, ir.Constant(I64, n_rows), row, "row", self.ctaid, self.nctaid)
        self.kl.finish()
        return n_rows, self.threads

    def member(self, gl: GenericLowering, row_ivs: list[ir.Value]) -> None:
        """Emit member `gl` for the row at `row_ivs`: its inner points split over the threads,
        reductions combined across the block."""
        b, op, rows = self.b, gl.op, self.rows
        sizes = sizes_of(op)
        n_in = gl.n_in
        ivs: list = [*row_ivs, *[None] * (len(sizes) - rows)]
        acc_args = op.regions[0].block.args[n_in:]
        out_maps = gl.maps[n_in:]
        reduces = member_kind(op, rows) == "reduction"
        slots = [
            self.kl.alloca(ll_type(a.type)) if reduces and not is_pointwise(m) else None
            for a, m in zip(acc_args, out_maps, strict=True)
        ]

        def step() -> None:
            emit_point(b, gl, ivs, slots)

        inner_sizes = sizes[rows:]

        def points(t: ir.Value) -> None:
            def at(q: ir.Value) -> None:
                ivs[rows:] = unflatten(b, q, inner_sizes)
                step()

            total = ir.Constant(I64, math.prod(inner_sizes))
            emit_loop(b, total, at, "inner", t, ir.Constant(I64, self.threads))

        if not reduces:
            self.phase(points)
            return
        accumulating = [k for k, s in enumerate(slots) if s is not None]
        yields = op.regions[0].block.ops[-1].operands
        combiners = [yields[k].op for k in accumulating]
        ctx = Ctx(b, self.kl.module, ivs, self.kl.buffer_of, self.kl.report, gl.combiners)

        def combine(c: Operation, x: ir.Value, y: ir.Value) -> ir.Value:
            return EMIT[c.name](ctx, [x, y], c)

        def partial(t: ir.Value) -> None:
            """Thread t's share: points t, t + threads, ..., from the combiners' identities."""
            for k, c in zip(accumulating, combiners, strict=True):
                b.store(identity(c, slots[k].allocated_type), slots[k])
            points(t)

        def finish(totals: list[ir.Value]) -> None:
            finals = [
                combine(c, gl.inits[k].load(b, result_index(b, gl, ivs, k)), v)
                for k, c, v in zip(accumulating, combiners, totals, strict=True)
            ]
            store_results(b, gl, ivs, accumulating, finals)

        self.block_reduce(partial, [slots[k] for k in accumulating], combine, combiners, finish)


def _c(i: int | ir.Value) -> ir.Value:
    return ir.Constant(I64, i) if isinstance(i, int) else i


class ColumnKernel(BlockKernel):
    """A reduction with few output points and long reductions that do not run along
    contiguous memory (a sum over axis 0): a thread per point would leave most of the GPU idle,
    so a block takes 32 neighbouring points (a warp reads 32 neighbouring elements) and splits
    each point's reduction over SLICES threads, whose partials meet in shared memory."""

    def __init__(self, kl, op: Operation):
        super().__init__(kl, WARP * SLICES)
        self.op, self.gl = op, kl.lowering(op)

    def lower(self) -> tuple[int, int]:
        """Emit the kernel; returns (groups of 32 points, threads per group)."""
        b, gl, op = self.b, self.gl, self.op
        sizes = sizes_of(op)
        par = [d for d, it in enumerate(gl.iters) if it == "parallel"]
        red = [d for d, it in enumerate(gl.iters) if it == "reduction"]
        points = math.prod(sizes[d] for d in par)
        length = math.prod(sizes[d] for d in red)
        acc_args = op.regions[0].block.args[gl.n_in :]
        out_maps = gl.maps[gl.n_in :]
        slots = [
            None if is_pointwise(m) else self.kl.alloca(ll_type(a.type))
            for a, m in zip(acc_args, out_maps, strict=True)
        ]
        accumulating = [k for k, s in enumerate(slots) if s is not None]
        yields = op.regions[0].block.ops[-1].operands
        combiners = [yields[k].op for k in accumulating]
        tys = [slots[k].allocated_type for k in accumulating]
        partials = [self.shared(ty, self.threads) for ty in tys]
        ivs: list = [None] * len(sizes)
        ctx = Ctx(b, self.kl.module, ivs, self.kl.buffer_of, self.kl.report, gl.combiners)
        c = ir.Constant

        def step() -> None:
            emit_point(b, gl, ivs, slots)

        def group(g: ir.Value) -> None:
            def lane_point(t: ir.Value) -> tuple[ir.Value, ir.Value]:
                p = b.add(b.mul(g, c(I64, WARP)), b.urem(t, c(I64, WARP)))
                return p, b.icmp_unsigned("<", p, c(I64, points))

            def partial(t: ir.Value) -> None:
                p, valid = lane_point(t)
                with b.if_then(valid):
                    for d, i in zip(par, unflatten(b, p, [sizes[d] for d in par]), strict=True):
                        ivs[d] = i
                    for k, cb in zip(accumulating, combiners, strict=True):
                        b.store(identity(cb, slots[k].allocated_type), slots[k])

                    def at(r: ir.Value) -> None:
                        for d, i in zip(red, unflatten(b, r, [sizes[d] for d in red]), strict=True):
                            ivs[d] = i
                        step()

                    first = b.udiv(t, c(I64, WARP))
                    emit_loop(b, c(I64, length), at, "slice", first, c(I64, SLICES))
                    for arr, k in zip(partials, accumulating, strict=True):
                        b.store(b.load(slots[k]), self.at(arr, t))

            def finish(t: ir.Value) -> None:
                p, valid = lane_point(t)
                first = b.icmp_unsigned("<", t, c(I64, WARP))
                with b.if_then(b.and_(valid, first)):
                    for d, i in zip(par, unflatten(b, p, [sizes[d] for d in par]), strict=True):
                        ivs[d] = i
                    finals = []
                    for arr, k, cb in zip(partials, accumulating, combiners, strict=True):
                        v = gl.inits[k].load(b, result_index(b, gl, ivs, k))
                        for s in range(SLICES):  # in slice order, whatever the schedule
                            part = b.load(self.at(arr, b.add(t, c(I64, s * WARP))))
                            v = EMIT[cb.name](ctx, [v, part], cb)
                        finals.append(v)
                    store_results(b, gl, ivs, accumulating, finals)

            self.phase(partial)
            self.phase(finish)

        groups = -(-points // WARP)
        emit_loop(b, c(I64, groups), group, "group", self.ctaid, self.nctaid)
        self.kl.finish()
        return groups, self.threads


def column_reduction(op: Operation) -> bool:
    """Whether reduction generic `op` takes a `ColumnKernel`: every accumulating result folds
    through a reassociable combiner, the output points are too few to fill the GPU with a
    thread each, and each reduction is long."""
    iters = op.attrs["iterator_types"]
    if "reduction" not in iters or match(op) is not None or not folds_through_combiners(op):
        return False
    points, length = extents(op)
    return points < FEW_POINTS and length >= LONG_REDUCTION
