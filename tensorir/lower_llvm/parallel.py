"""Large loop nests run on the thread pool (`parallel_runtime.py`): one parallel dim is split.

A `tir.generic` whose work is worth a dispatch is outlined into `void region(ctx, lo, hi)`, the
same loop nest with one parallel dim restricted to [lo, hi), and the entry calls
`tensorir_parallel_for(region, ctx, n, min_chunk, align)`. The context is a stack array holding
every run-time value the nest needs from the entry (data pointers, dynamic sizes and strides,
the workspace) and the error code; constants and globals are used directly. Each chunk keeps its
own error slot and scratch memory, so chunks share nothing but disjoint parts of the outputs.

Which dim: the outermost one in the nest's loop order that every output map indexes by itself
(`GenericLowering.split_candidates`), skipping ones known to be short. A sum over axis 0 nests
the reduction outside and the contiguous parallel dim inside, so it splits into column blocks.

Cost model: work = iteration points x scalar ops per point. A nest below `MIN_WORK` is not
outlined at all (its IR is unchanged, so a small call pays nothing); otherwise chunks are at least
`MIN_CHUNK_WORK`, computed from the sizes at run time (a size unknown at compile time that turns
out small gives one chunk, run by the caller, waking no thread).
"""

from __future__ import annotations

import math

from llvmlite import ir

from .buffers import Buffer
from .loops import GenericLowering
from .parallel_runtime import SYMBOL
from .scalar import I32, I64, declare

PTR = ir.PointerType()
# Work units (points x scalar ops) below which a loop stays serial. A wake-up and join costs
# ~1-2 us with spinning workers (~10 us when they sleep, benchmarks/parallel_overhead.py);
# a unit is ~0.1-0.3 ns of one core, so 2^17 units (~15-40 us) repay it with margin.
MIN_WORK = 1 << 17
MIN_CHUNK_WORK = 1 << 15
# a dim known to be this short is a poor split (2 rows of a long matrix): split a later one
_MIN_EXTENT = 16
_CHUNKS_PER_THREAD = 4
# chunks of a contiguous innermost dim start on whole vectors (64 bytes of float32)
VECTOR_ALIGN = 16


def _work_per_point(g: GenericLowering) -> int:
    """Scalar ops plus operand loads per iteration point: the cost model's unit of work."""
    ops = sum(len(r.block.ops) for r in g.op.regions)
    return ops + g.n_in


def _split_dim(g: GenericLowering) -> int | None:
    candidates = g.split_candidates()
    sizes = g.sizes()
    for d in candidates:
        s = sizes[d]
        if not isinstance(s, ir.Constant) or s.constant >= _MIN_EXTENT:
            return d
    return max(candidates, key=lambda d: sizes[d].constant, default=None)


def _static_points(sizes: list[ir.Value]) -> int | None:
    if all(isinstance(s, ir.Constant) for s in sizes):
        return math.prod(s.constant for s in sizes)
    return None


class _Region:
    """The outlined chunk function, and the context `GenericLowering` needs inside it (alloca,
    module, buffers, error reporting): the entry's values come in through `ctx`."""

    def __init__(self, parent, name: str, captured: list[ir.Value]):
        self.parent, self.module = parent, parent.module
        fnty = ir.FunctionType(ir.VoidType(), [PTR, I64, I64])
        self.fn = ir.Function(self.module, fnty, name)
        self.fn.linkage = "internal"
        self.fn.attributes.add("nounwind")
        self.fn.attributes.alignstack = 64  # as the entry's: spilled vector accumulators
        self.ctx, self.lo, self.hi = self.fn.args
        self.allocas = ir.IRBuilder(self.fn.append_basic_block("allocas"))
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.err = self.alloca(I32)
        self.b.store(ir.Constant(I32, 0), self.err)
        # slot 0 of ctx is the shared error code; slot k+1 holds captured[k]
        self.values: dict[int, ir.Value] = {}
        for k, v in enumerate(captured):
            raw = self.b.load(self.slot(self.b, self.ctx, k + 1), typ=I64)
            self.values[id(v)] = self.b.inttoptr(raw, PTR) if v.type == PTR else raw
        self.buffers: dict = {}

    @staticmethod
    def slot(b: ir.IRBuilder, ctx: ir.Value, k: int) -> ir.Value:
        return b.gep(ctx, [ir.Constant(I64, k)], source_etype=I64)

    def alloca(self, ty: ir.Type) -> ir.Value:
        return self.allocas.alloca(ty)

    def buffer_of(self, v) -> Buffer:
        return self.buffers[v]

    def report(self, op, failed: ir.Value) -> None:
        self.parent.report_into(self.b, self.err, op, failed)

    def local(self, buf: Buffer) -> Buffer:
        """`buf` as this function sees it."""

        def m(v):
            return self.values.get(id(v), v)

        return Buffer(
            m(buf.ptr), buf.dtype, [m(s) for s in buf.shape], [m(s) for s in buf.strides], buf.alias
        )

    def finish(self) -> None:
        """Publish this chunk's first error (the first chunk to fail wins) and return."""
        b = self.b
        err = b.zext(b.load(self.err), I64)
        with b.if_then(b.icmp_unsigned("!=", err, ir.Constant(I64, 0))):
            b.cmpxchg(self.slot(b, self.ctx, 0), ir.Constant(I64, 0), err, "monotonic", "monotonic")
        b.ret_void()
        self.allocas.branch(self.fn.blocks[1])


def _runtime_values(bufs: list[Buffer]) -> list[ir.Value]:
    """The values of `bufs` computed at run time in the entry, each once."""
    seen: dict[int, ir.Value] = {}
    for buf in bufs:
        for v in [buf.ptr, *buf.shape, *buf.strides]:
            if not isinstance(v, ir.Constant | ir.GlobalValue):
                seen.setdefault(id(v), v)
    return list(seen.values())


def try_lower(g: GenericLowering, fn, tag: str) -> bool:
    """Lower `g` as a parallel loop when the cost model says it pays; False leaves it to the
    serial emitter. `fn` is the entry's lowering context (`codegen._FunctionLowering`).

    >>> import numpy as np, tensorir
    >>> f = tensorir.jit(lambda x: x * 2.0)
    >>> SYMBOL in f.lower(np.ones(1 << 20)).as_text("llvm-unoptimized")
    True
    >>> SYMBOL in f.lower(np.ones(8)).as_text("llvm-unoptimized")
    False
    """
    d = _split_dim(g)
    if d is None:
        return False
    sizes = g.sizes()
    unit = _work_per_point(g)
    points = _static_points(sizes)
    if points is not None and points * unit < MIN_WORK:
        return False
    op, b = g.op, fn.b
    used = {v for inner in op.walk() for v in inner.operands if v in fn.buffers}
    used |= set(op.results)
    bufs = {v: fn.buffers[v] for v in used}
    captured = _runtime_values(list(bufs.values()))
    region = _Region(fn, f"{fn.fn.name}.{tag}.par", captured)
    region.buffers = {v: region.local(buf) for v, buf in bufs.items()}
    n_in = g.n_in
    inner = GenericLowering(
        op,
        [region.buffers[v] for v in op.operands[:n_in]],
        [region.buffers[v] for v in op.operands[n_in:]],
        [region.buffers[r] for r in op.results],
        region,
    )
    inner.split = (d, region.lo, region.hi)
    inner.run(region.b, tag)
    region.finish()

    # the entry: fill the context, run the chunks, keep the first error
    ctx = fn.alloca_builder.alloca(I64, size=ir.Constant(I64, len(captured) + 1))
    b.store(ir.Constant(I64, 0), _Region.slot(b, ctx, 0))
    for k, v in enumerate(captured):
        b.store(b.ptrtoint(v, I64) if v.type == PTR else v, _Region.slot(b, ctx, k + 1))
    per_index = ir.Constant(I64, unit)
    for e, s in enumerate(sizes):
        if e != d:
            per_index = b.mul(per_index, s)
    per_index = b.select(
        b.icmp_unsigned("==", per_index, ir.Constant(I64, 0)), ir.Constant(I64, 1), per_index
    )
    min_chunk = b.add(b.udiv(ir.Constant(I64, MIN_CHUNK_WORK), per_index), ir.Constant(I64, 1))
    order = g.loop_order()
    align = VECTOR_ALIGN if order[-1] == d else 1
    # a chunk of the outermost loop reads one contiguous block: several per thread balance
    # the load; a chunk of an inner loop (a block of columns) strides, so one per thread
    per_thread = _CHUNKS_PER_THREAD if order[0] == d else 1
    run = declare(fn.module, SYMBOL, ir.VoidType(), [PTR, PTR, I64, I64, I64, I64])
    constants = [ir.Constant(I64, c) for c in (align, per_thread)]
    b.call(run, [region.fn, ctx, sizes[d], min_chunk, *constants])
    code = b.trunc(b.load(_Region.slot(b, ctx, 0), typ=I64), I32)
    old = b.load(fn.err)
    b.store(b.select(b.icmp_unsigned("==", old, ir.Constant(I32, 0)), code, old), fn.err)
    return True
