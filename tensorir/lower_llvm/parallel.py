"""Large loop nests run on the thread pool (`parallel_runtime.py`): one parallel dim is split.

A `tir.generic` whose work is worth a dispatch is outlined into `void region(ctx, lo, hi)`, the
same loop nest with one parallel dim restricted to [lo, hi), and the entry calls
`tensorir_parallel_for(region, ctx, n, min_chunk, align, per_thread)`. The context is a stack
array holding every run-time value the nest needs from the entry (data pointers, dynamic sizes
and strides, the workspace) and the error code; constants and globals are used directly. Each
chunk keeps its own error slot and scratch memory, so chunks share nothing but disjoint parts of
the outputs.

Which dim: the outermost one in the nest's loop order that every output map indexes by itself
(`GenericLowering.split_candidates`), skipping ones known to be short. A sum over axis 0 nests
the reduction outside and the contiguous parallel dim inside, so it splits into column blocks.
A reduction with no such dim (a full sum) is split along a reduction dim into fixed parts
(`PARTS`), combined by the caller.

Cost model: work = iteration points x scalar ops per point. A nest below `MIN_WORK` is not
outlined at all (its IR is unchanged, so a small call pays nothing); otherwise chunks are at least
`MIN_CHUNK_WORK`, computed from the sizes at run time (a size unknown at compile time that turns
out small gives one chunk, run by the caller, waking no thread).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir

from ..ir import types as T
from ..ir.core import Operation
from .buffers import Buffer, contiguous, emit_affine, splat
from .loops import GenericLowering, emit_loop, emit_nest
from .parallel_runtime import SYMBOL
from .scalar import EMIT, I8, I32, I64, Ctx, declare, ll_type

PTR = ir.PointerType()
# Work units (points x scalar ops) below which a loop stays serial. Starting and joining a loop
# costs 0.3 us (2 threads) to 3 us (16) while workers spin (benchmarks/parallel_overhead.py),
# more when they sleep; a unit is ~0.1-0.3 ns of one core, so 2^17 units (~15-40 us) repay it.
MIN_WORK = 1 << 17
MIN_CHUNK_WORK = 1 << 15
# a dim known to be this short is a poor split (2 rows of a long matrix): split a later one
_MIN_EXTENT = 16
_CHUNKS_PER_THREAD = 4
# A reduction without a parallel dim worth splitting (a full sum) splits its outermost reduction
# dim into PARTS parts instead, each folded into its own accumulators from the combiner's
# identity, combined in order by the caller. The parts do not depend on the thread count, so
# neither does the result, to the bit.
PARTS = 128
_MAX_PARTIAL_POINTS = 16
# chunks of a contiguous innermost dim start on whole vectors (64 bytes of float32)
VECTOR_ALIGN = 16


def work_per_point(g: GenericLowering) -> int:
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


class Region:
    """The outlined chunk function, and the context `GenericLowering` needs inside it (alloca,
    module, buffers, error reporting): the entry's values come in through `ctx`."""

    def __init__(self, parent, name: str, captured: list[ir.Value]):
        self.parent, self.module = parent, parent.module
        self.fastmath = parent.fastmath
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

    def lowering(self, op: Operation) -> GenericLowering:
        """The loop lowering of generic `op` inside this function, over its `buffers`."""
        n_in = op.attrs["num_inputs"]
        local = self.buffers
        return GenericLowering(
            op,
            [local[v] for v in op.operands[:n_in]],
            [local[v] for v in op.operands[n_in:]],
            [local[r] for r in op.results],
            self,
        )

    def finish(self) -> None:
        """Publish this chunk's first error (the chunk that publishes first wins) and return."""
        b = self.b
        err = b.zext(b.load(self.err), I64)
        with b.if_then(b.icmp_unsigned("!=", err, ir.Constant(I64, 0))):
            b.cmpxchg(self.slot(b, self.ctx, 0), ir.Constant(I64, 0), err, "monotonic", "monotonic")
        b.ret_void()
        self.allocas.branch(self.fn.blocks[1])


def runtime_values(bufs: list[Buffer]) -> list[ir.Value]:
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
    sizes = g.sizes()
    unit = work_per_point(g)
    points = _static_points(sizes)
    if points is not None and points * unit < MIN_WORK:
        return False
    d = _split_dim(g)
    if d is None or _static_extent(sizes[d]) < _MIN_EXTENT:
        if _lower_partial(g, fn, tag, unit):
            return True
    if d is None:
        return False
    op = g.op
    bufs = operand_buffers(g, fn)
    captured = runtime_values(list(bufs.values()))
    region = Region(fn, f"{fn.fn.name}.{tag}.par", captured)
    region.buffers = {v: region.local(buf) for v, buf in bufs.items()}
    inner = region.lowering(op)
    inner.split = (d, region.lo, region.hi)
    inner.run(region.b, tag)
    region.finish()

    per_index = ir.Constant(I64, unit)
    for e, s in enumerate(sizes):
        if e != d:
            per_index = fn.b.mul(per_index, s)
    order = g.loop_order()
    align = VECTOR_ALIGN if order[-1] == d else 1
    # a chunk of the outermost loop reads one contiguous block: several per thread balance
    # the load; a chunk of an inner loop (a block of columns) strides, so one per thread
    per_thread = _CHUNKS_PER_THREAD if order[0] == d else 1
    dispatch(fn, region, captured, sizes[d], per_index, align, per_thread)
    return True


def _static_extent(size: ir.Value) -> int:
    return size.constant if isinstance(size, ir.Constant) else 1 << 62


def operand_buffers(g: GenericLowering, fn) -> dict:
    """The entry's buffers of every tensor the generic reads or writes (s.extract included)."""
    used = {v for inner in g.op.walk() for v in inner.operands if v in fn.buffers}
    return {v: fn.buffers[v] for v in used | set(g.op.results)}


def dispatch(fn, region: Region, captured, n, per_index, align: int, per_thread: int) -> None:
    """In the entry: fill the context, run `region` over [0, n) on the pool, keep its error."""
    b = fn.b
    ctx = fn.alloca_builder.alloca(I64, size=ir.Constant(I64, len(captured) + 1))
    b.store(ir.Constant(I64, 0), Region.slot(b, ctx, 0))
    for k, v in enumerate(captured):
        b.store(b.ptrtoint(v, I64) if v.type == PTR else v, Region.slot(b, ctx, k + 1))
    zero = b.icmp_unsigned("==", per_index, ir.Constant(I64, 0))
    per_index = b.select(zero, ir.Constant(I64, 1), per_index)
    min_chunk = b.add(b.udiv(ir.Constant(I64, MIN_CHUNK_WORK), per_index), ir.Constant(I64, 1))
    run = declare(fn.module, SYMBOL, ir.VoidType(), [PTR, PTR, I64, I64, I64, I64])
    constants = [ir.Constant(I64, c) for c in (align, per_thread)]
    b.call(run, [region.fn, ctx, n, min_chunk, *constants])
    code = b.trunc(b.load(Region.slot(b, ctx, 0), typ=I64), I32)
    old = b.load(fn.err)
    b.store(b.select(b.icmp_unsigned("==", old, ir.Constant(I32, 0)), code, old), fn.err)


def _identity(combiner: Operation, dtype: T.DType):
    """The value `combiner` folds into an accumulator without changing it."""
    name = combiner.name
    if name in ("s.add", "s.mul"):
        return 0 if name == "s.add" else 1
    if dtype.is_float:
        return -np.inf if name == "s.max" else np.inf
    if dtype.is_bool:
        return name == "s.min"
    info = np.iinfo(dtype.np)
    return info.min if name == "s.max" else info.max


def _identity_buffer(fn, value, t: T.TensorType) -> Buffer:
    raw = np.array(value, dtype=t.dtype.np).astype(t.dtype.np.newbyteorder("<")).tobytes()
    ty = ir.ArrayType(I8, len(raw))
    g = ir.GlobalVariable(fn.module, ty, name=f"identity{len(fn.module.globals)}")
    g.global_constant, g.linkage, g.initializer = True, "private", ir.Constant(ty, bytearray(raw))
    return splat(g, t)


def _lower_partial(g: GenericLowering, fn, tag: str, unit: int) -> bool:
    """A reduction split along its outermost reduction dim into `PARTS` partial results (see
    PARTS); False when its results are not all plain folds or there are too many of them."""
    op, n_in = g.op, g.n_in
    combiners = g.combiner_of()
    if "reduction" not in g.iters or any(c is None for c in combiners):
        return False
    sizes = g.sizes()
    par = [d for d, kind in enumerate(g.iters) if kind == "parallel"]
    if not all(isinstance(sizes[d], ir.Constant) for d in par):
        return False
    if math.prod(sizes[d].constant for d in par) > _MAX_PARTIAL_POINTS:
        return False
    r = next(d for d in g.loop_order() if g.iters[d] == "reduction")
    block = op.regions[0].block
    acc_types = [
        T.TensorType(res.type.shape, block.args[n_in + k].type) for k, res in enumerate(op.results)
    ]
    offsets, part_bytes = [], 0
    for t in acc_types:
        offsets.append(part_bytes)
        part_bytes += -(-max(t.size * t.dtype.itemsize, 1) // 64) * 64
    partials = fn.alloca_builder.alloca(I8, size=ir.Constant(I64, PARTS * part_bytes))
    partials.align = 64
    idents = [
        _identity_buffer(fn, _identity(c, t.dtype), t)
        for c, t in zip(combiners, acc_types, strict=True)
    ]

    def part_buffers(b: ir.IRBuilder, base: ir.Value, p: ir.Value) -> list[Buffer]:
        start = b.mul(p, ir.Constant(I64, part_bytes))
        return [
            contiguous(b.gep(base, [b.add(start, ir.Constant(I64, o))], source_etype=I8), t)
            for o, t in zip(offsets, acc_types, strict=True)
        ]

    bufs = operand_buffers(g, fn)
    captured = [*runtime_values(list(bufs.values())), partials]
    region = Region(fn, f"{fn.fn.name}.{tag}.part", captured)
    region.buffers = {v: region.local(buf) for v, buf in bufs.items()}
    base = region.values[id(partials)]
    ins = [region.buffers[v] for v in op.operands[:n_in]]

    def part(p: ir.Value) -> None:
        b = region.b
        inner = GenericLowering(op, ins, idents, part_buffers(b, base, p), region)
        n = inner.sizes()[r]
        lo = b.udiv(b.mul(p, n), ir.Constant(I64, PARTS))
        hi = b.udiv(b.mul(b.add(p, ir.Constant(I64, 1)), n), ir.Constant(I64, PARTS))
        inner.split, inner.partial = (r, lo, hi), True
        inner.run(b, f"{tag}.part")

    emit_loop(region.b, region.hi, part, f"{tag}.parts", region.lo)
    region.finish()
    per_part = ir.Constant(I64, unit)
    for size in sizes:
        per_part = fn.b.mul(per_part, size)
    per_part = fn.b.udiv(per_part, ir.Constant(I64, PARTS))
    dispatch(fn, region, captured, ir.Constant(I64, PARTS), per_part, 1, _CHUNKS_PER_THREAD)
    _combine(g, fn, combiners, partials, part_buffers, par, tag)
    return True


def _combine(g: GenericLowering, fn, combiners, partials, part_buffers, par, tag: str) -> None:
    """In the entry: fold each output point's parts into its init, in part order, then run the
    epilogue and store the results."""
    b, op, n_in = fn.b, g.op, g.n_in
    sizes = g.sizes()
    ivs: list = [ir.Constant(I64, 0)] * len(g.iters)
    out_maps = g.maps[n_in:]
    slots = [fn.alloca(ll_type(c.operands[0].type)) for c in combiners]
    ctx = Ctx(b, fn.module, ivs, fn.buffer_of, fn.report, g.combiners, fn.fastmath)

    def out_index(k):
        return [emit_affine(b, e, ivs) for e in out_maps[k].results]

    def fold(p: ir.Value) -> None:
        for k, (c, buf) in enumerate(zip(combiners, part_buffers(b, partials, p), strict=True)):
            acc_arg = op.regions[0].block.args[n_in + k]
            acc, v = b.load(slots[k]), buf.load(b, out_index(k))
            operands = [acc if x is acc_arg else v for x in c.operands]
            b.store(EMIT[c.name](ctx, operands, c), slots[k])

    def point() -> None:
        for k, s in enumerate(slots):
            b.store(g.inits[k].load(b, out_index(k)), s)
        emit_loop(b, ir.Constant(I64, PARTS), fold, f"{tag}.combine")
        finals = [b.load(s) for s in slots]
        if len(op.regions) == 2:
            finals = g.epilogue(b, ivs, finals)
        for k, v in enumerate(finals):
            g.outs[k].store(b, out_index(k), v)

    emit_nest(b, par, sizes, ivs, point, f"{tag}.combine")
