"""`tir.generic` -> a loop nest in LLVM IR: parallel dims outside, reduction dims inside with the
accumulators in registers (allocas that mem2reg promotes), the scalar body emitted per point
through the `s.*` table. The same code serves any structured op; no tensor op is special here.

Accumulators start from the init operand's buffer and end in the result's: the two are the same
memory when the memory plan lets the result take over its init, and a splat constant init (a
reduction's identity) is read through zero strides, so no op ever copies its init first."""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from ..ir import affine as A
from ..ir.core import Operation, OpResult
from ..ir.ops_tensor import is_pointwise, loop_bounds
from ..passes.fusion import EXPENSIVE
from .buffers import Buffer, contiguous, emit_affine
from .scalar import EMIT, I32, I64, Ctx, declare, ll_type

PTR = ir.PointerType()
REDUCTION_INTERLEAVE = 4  # vector accumulators of an innermost reduction loop
JAM = 8  # rows of an outer reduction added per pass over its scratch accumulators
SUM_LANES = 64  # float32 partial sums of a blocked float32 sum, in vectors of 8 or 16 lanes
SUM_BLOCK = 1024  # terms per float32 block of a blocked sum, a multiple of SUM_LANES
F32, F64 = ir.FloatType(), ir.DoubleType()


def emit_loop(
    b: ir.IRBuilder,
    n: ir.Value,
    body: Callable[[ir.Value], None],
    name: str,
    start: ir.Value | None = None,
    step: ir.Value | None = None,
    interleave: int = 0,
    width: int = 0,
) -> None:
    """for (i = start; i < n; i += step) body(i) (start 0, step 1 by default), leaving the
    builder after the loop. The GPU's grid-stride loops are this with a thread's start.
    `interleave` asks the vectorizer for that many vector accumulators (see `_interleaved`),
    `width` for vectors of that many lanes."""
    pre = b.block
    header = b.append_basic_block(f"{name}.head")
    inner = b.append_basic_block(f"{name}.body")
    done = b.append_basic_block(f"{name}.done")
    b.branch(header)
    b.position_at_end(header)
    i = b.phi(I64, name=name)
    i.add_incoming(start if start is not None else ir.Constant(I64, 0), pre)
    b.cbranch(b.icmp_signed("<", i, n), inner, done)
    b.position_at_end(inner)
    body(i)
    i.add_incoming(b.add(i, step or ir.Constant(I64, 1), flags=["nsw", "nuw"]), b.block)
    latch = b.branch(header)
    if interleave:
        latch.set_metadata("llvm.loop", _interleaved(b.module, interleave, width))
    b.position_at_end(done)


def _interleaved(module: ir.Module, count: int, width: int = 0) -> ir.values.MDValue:
    """Loop metadata forcing `count`-way interleaving. Interleaving is off in the pipeline
    (engine.py: it doubled code size for nothing on memory-bound loops), but a reduction's
    vector accumulator is a chain of dependent adds or max: one chain runs at the latency of
    its op, several at its throughput (x.max(axis=1) of 4096x1024 f32: 0.94 -> 0.3 ms)."""
    hints = [("llvm.loop.interleave.count", count)] + (
        [("llvm.loop.vectorize.width", width)] if width else []
    )
    nodes = [
        module.add_metadata([ir.MetaDataString(module, key), ir.Constant(I32, value)])
        for key, value in hints
    ]
    # a loop ID is a distinct node whose first operand is itself
    loop_id = module.add_metadata([*nodes, ir.MetaDataString(module, f"tensorir.loop{id(nodes)}")])
    loop_id.operands = (loop_id, *nodes)
    return loop_id


def emit_nest(
    b: ir.IRBuilder,
    dims: list[int],
    sizes,
    ivs: list,
    body,
    tag: str,
    starts=None,
    interleave: int = 0,
) -> None:
    """Nested loops over `dims` (outermost first), recording each index in `ivs`; dim d runs
    from `starts[d]` (one thread's chunk of a parallel loop) where given, else from 0. The
    innermost loop gets `interleave` (see `emit_loop`)."""
    if not dims:
        body()
        return
    d, rest = dims[0], dims[1:]

    def step(i):
        ivs[d] = i
        emit_nest(b, rest, sizes, ivs, body, tag, starts, interleave)

    emit_loop(
        b, sizes[d], step, f"{tag}.d{d}", (starts or {}).get(d), None, 0 if rest else interleave
    )


class GenericLowering:
    """Lowers one generic op given the buffers of its operands and results."""

    def __init__(self, op: Operation, ins: list[Buffer], inits, outs: list[Buffer], fn_ctx):
        self.op, self.ins, self.inits, self.outs, self.fn = op, ins, inits, outs, fn_ctx
        self.maps = op.attrs["indexing_maps"]
        self.iters = op.attrs["iterator_types"]
        self.n_in = op.attrs["num_inputs"]
        self.combiners = self._combiners()
        # (dim, lo, hi): lower only indices lo <= i < hi of that dim (a thread's chunk); a
        # reduction dim only in `partial` mode
        self.split: tuple[int, ir.Value, ir.Value] | None = None
        # store the final accumulators into `outs` (typed like them) without the epilogue: a
        # chunk's partial result, combined with the other chunks' afterwards
        self.partial = False
        # combiner -> (accumulator, float32 term) while `_blocked_sums` emits float32 lanes
        self.narrowed: dict[Operation, tuple] = {}

    def _combiners(self) -> set[Operation]:
        """Ops that fold a value into an accumulator and nothing else (acc' = acc + v)."""
        return {op for op in self.combiner_of() if op is not None}

    def combiner_of(self) -> list[Operation | None]:
        """For each result, the op that folds values into its accumulator, or None."""
        if "reduction" not in self.iters:
            return [None] * len(self.op.results)
        block = self.op.regions[0].block
        found = []
        for k, v in enumerate(block.ops[-1].operands):
            acc = block.args[self.n_in + k]
            op = v.owner if hasattr(v, "op") else None
            if (
                op is not None
                and op.name in ("s.add", "s.mul", "s.max", "s.min")
                and acc in op.operands
                and acc.uses == [(op, op.operands.index(acc))]
                and not is_pointwise(self.maps[self.n_in + k])
            ):
                found.append(op)
            else:
                found.append(None)
        return found

    def f32_block_terms(self) -> dict[int, object]:
        """For each accumulating result, the float32 term of its sum when every accumulating
        result is a float32 sum widened to float64 with `f32_blocks` (`ops_tensor._wide`):
        `acc + cast(term)` that may run in float32 blocks. Else empty."""
        block = self.op.regions[0].block
        terms = {}
        for k, comb in enumerate(self.combiner_of()):
            if is_pointwise(self.maps[self.n_in + k]):
                continue
            if comb is None or comb.name != "s.add":
                return {}
            acc = block.args[self.n_in + k]
            term = comb.operands[1] if comb.operands[0] is acc else comb.operands[0]
            cast = term.owner if isinstance(term, OpResult) else None
            if cast is None or cast.name != "s.cast" or not cast.attrs.get("f32_blocks"):
                return {}
            terms[k] = cast.operands[0]
        return terms

    def sum_vector(self) -> int:
        """Lanes per vector of a blocked sum: 16 when the body computes an expensive function
        (exp, a division), since the loop is then compute-bound and 512-bit ops halve its
        instructions (softmax's exp-and-sum: 0.93 vs 1.05-1.07 ms), else 8: memory-bound
        loops streamed 5-10% faster with 256-bit ones on Zen 4, which splits a 512-bit op in
        halves anyway (4096x4096 row sums; layernorm's means 3-5%). Same order either way."""
        return 16 if any(op.name in EXPENSIVE for op in self.op.regions[0].block.ops) else 8

    def sizes(self) -> list[ir.Value]:
        bufs = self.ins + self.outs
        return [bufs[k].shape[pos] for k, pos in loop_bounds(self.op)]

    def _bounds(self) -> tuple[list[ir.Value], dict[int, ir.Value]]:
        """Loop ends and starts: the whole domain, or one chunk of the split dim."""
        sizes = self.sizes()
        if self.split is None:
            return sizes, {}
        d, lo, hi = self.split
        sizes[d] = hi
        return sizes, {d: lo}

    def loop_order(self) -> list[int]:
        """The dims in the order `run` nests them, outermost first."""
        n = len(self.iters)
        par = [d for d in range(n) if self.iters[d] == "parallel"]
        red = [d for d in range(n) if self.iters[d] == "reduction"]
        order = self._memory_order() if red else None
        if order is not None and self.iters[order[-1]] == "parallel":
            return order
        return par + red

    def split_candidates(self) -> list[int]:
        """Parallel dims, outermost first, that threads may split: each output map indexes
        by the dim itself, so two chunks never write the same element."""
        outs = self.maps[self.n_in :]
        return [
            d
            for d in self.loop_order()
            if self.iters[d] == "parallel"
            and all(any(e == A.Dim(d) for e in m.results) for m in outs)
        ]

    def run(self, b: ir.IRBuilder, tag: str) -> None:
        n = len(self.iters)
        par = [d for d in range(n) if self.iters[d] == "parallel"]
        red = [d for d in range(n) if self.iters[d] == "reduction"]
        sizes, starts = self._bounds()
        ivs: list = [None] * n
        block = self.op.regions[0].block
        acc_args = block.args[self.n_in :]

        def out_index(k):
            return [emit_affine(b, e, ivs) for e in self.maps[self.n_in + k].results]

        def point(accs):
            return self.body(b, ivs, accs)

        if not red:

            def parallel_point():
                accs = [
                    self.inits[k].load(b, out_index(k)) if a.uses else None
                    for k, a in enumerate(acc_args)
                ]
                for k, v in enumerate(point(accs)):
                    self.outs[k].store(b, out_index(k), v)

            emit_nest(b, par, sizes, ivs, parallel_point, tag, starts)
            return

        order = self._memory_order()
        if order is not None and self.iters[order[-1]] == "parallel":
            self.run_reduction_outer(b, tag, order, ivs)
            return

        # accumulating results live in registers across the reduction; side outputs (pointwise
        # maps) are stored at every point
        pointwise = [is_pointwise(self.maps[self.n_in + k]) for k in range(len(acc_args))]
        slots = [
            None if pw else self.fn.alloca(ll_type(a.type))
            for a, pw in zip(acc_args, pointwise, strict=True)
        ]

        def reduce_point():
            accs = [
                b.load(s)
                if s is not None
                else self.inits[k].load(b, out_index(k))
                if acc_args[k].uses
                else None
                for k, s in enumerate(slots)
            ]
            for k, v in enumerate(point(accs)):
                if slots[k] is None:
                    self.outs[k].store(b, out_index(k), v)
                else:
                    b.store(v, slots[k])

        terms = self.f32_block_terms()
        last = sizes[red[-1]] if red else None
        if isinstance(last, ir.Constant) and last.constant < SUM_LANES:
            terms = {}  # too short for a single block: all float64

        def outer_point():
            for k, s in enumerate(slots):
                if s is not None:
                    b.store(self.inits[k].load(b, out_index(k)), s)
            if terms:
                self._blocked_sums(b, tag, red, ivs, slots, terms, reduce_point)
            else:
                emit_nest(b, red, sizes, ivs, reduce_point, tag, starts, REDUCTION_INTERLEAVE)
            finals = [b.load(s) for s in slots if s is not None]
            if len(self.op.regions) == 2 and not self.partial:  # results from the accumulators
                finals = self.epilogue(b, ivs, finals)
            for k, v in zip([k for k, s in enumerate(slots) if s is not None], finals, strict=True):
                self.outs[k].store(b, out_index(k), v)

        emit_nest(b, par, sizes, ivs, outer_point, tag, starts)

    def _blocked_sums(self, b, tag, red, ivs, slots, terms, reduce_point) -> None:
        """The reduction dims of float32 sums widened to float64 (`f32_block_terms`), the
        innermost one in float32 blocks.

        Of the innermost dim's n terms, the first 64 * (n // 64) go in blocks of at most
        SUM_BLOCK: lane l of SUM_LANES float32 partial sums (from -0.0) adds the block's terms
        l, l + 64, l + 128, ... in order; the lanes meet in a halving tree (lane i += lane
        i + h for i < h, h = 32, 16, ..., 1) and the float64 accumulator adds the block's sum.
        The last n % 64 terms go straight into the float64 accumulator. Each float32 sum is
        thus a tree of depth at most SUM_BLOCK / 64 + 5 = 21 (each lane's first add is exact),
        so |error| <= 21 u sum|x| + u |sum| + float64 roundings, u = 2^-24: numpy's pairwise
        bound for 1024 terms (tests/test_sum_accuracy.py). The order is fixed here, not by the
        vectorizer (the lane adds do not reassociate), so the result is the same on any CPU and
        thread count. The lanes are a stack array that an inner loop over l reads and writes;
        the vectorizer turns that loop into one iteration over vectors of `sum_vector()` lanes
        and SROA keeps them in registers."""
        sizes, starts = self._bounds()
        width = self.sum_vector()
        vec = ir.VectorType(F32, width)
        r = red[-1]
        acc_args = self.op.regions[0].block.args[self.n_in :]
        combiners = self.combiner_of()
        lanes = {}
        for k in terms:
            array = self.fn.alloca(ir.ArrayType(F32, SUM_LANES))
            array.align = 64
            lanes[k] = b.bitcast(array, F32.as_pointer())

        def lane_point(j: ir.Value, lane: ir.Value) -> None:
            ivs[r] = b.add(j, lane, flags=["nsw", "nuw"])
            accs = []
            for k, a in enumerate(acc_args):
                if k in lanes:
                    accs.append(b.load(b.gep(lanes[k], [lane]), align=4))
                elif a.uses:  # a side output (pointwise map) that reads its init
                    idx = [emit_affine(b, e, ivs) for e in self.maps[self.n_in + k].results]
                    accs.append(self.inits[k].load(b, idx))
                else:
                    accs.append(None)
            self.narrowed = {combiners[k]: (acc_args[k], terms[k]) for k in terms}
            try:
                values = self.body(b, ivs, accs)
            finally:
                self.narrowed = {}
            for k, v in enumerate(values):
                if k in lanes:
                    b.store(v, b.gep(lanes[k], [lane]), align=4)
                else:
                    idx = [emit_affine(b, e, ivs) for e in self.maps[self.n_in + k].results]
                    self.outs[k].store(b, idx, v)

        def block(j0: ir.Value, main_end: ir.Value) -> None:
            for array in lanes.values():
                for q in range(SUM_LANES // width):
                    zeros = ir.Constant(vec, [-0.0] * width)
                    b.store(zeros, _vector_at(b, array, q, width), align=4 * width)
            end = b.add(j0, ir.Constant(I64, SUM_BLOCK))
            end = b.select(b.icmp_signed("<", end, main_end), end, main_end)
            emit_loop(
                b,
                end,
                lambda j: emit_loop(
                    b,
                    ir.Constant(I64, SUM_LANES),
                    lambda lane: lane_point(j, lane),
                    f"{tag}.lane",
                    interleave=SUM_LANES // width,
                    width=width,
                ),
                f"{tag}.group",
                j0,
                ir.Constant(I64, SUM_LANES),
            )
            for k, array in lanes.items():
                total = b.fpext(_halving_sum(b, array, width), F64)
                b.store(b.fadd(b.load(slots[k]), total), slots[k])

        def innermost() -> None:  # at fixed outer reduction indices
            lo, hi = starts.get(r, ir.Constant(I64, 0)), sizes[r]
            static = isinstance(lo, ir.Constant) and isinstance(hi, ir.Constant)
            if static:  # emit only the loops that run
                n = max(hi.constant - lo.constant, 0)
                main_end = ir.Constant(I64, hi.constant - n % SUM_LANES)
            else:
                n = b.sub(hi, lo)
                n = b.select(b.icmp_signed("<", n, ir.Constant(I64, 0)), ir.Constant(I64, 0), n)
                main_end = b.sub(hi, b.urem(n, ir.Constant(I64, SUM_LANES)))
            if not static or n >= SUM_BLOCK:
                emit_loop(
                    b,
                    main_end,
                    lambda j0: block(j0, main_end),
                    f"{tag}.block",
                    lo,
                    ir.Constant(I64, SUM_BLOCK),
                )
            elif n >= SUM_LANES:
                block(lo, main_end)

            def rest(j: ir.Value) -> None:
                ivs[r] = j
                reduce_point()

            if not static or n % SUM_LANES:
                emit_loop(b, hi, rest, f"{tag}.d{r}", main_end, None, REDUCTION_INTERLEAVE)

        emit_nest(b, red[:-1], sizes, ivs, innermost, tag, starts)

    def _memory_order(self) -> list[int] | None:
        """A loop order (outer to inner) whose innermost dim walks contiguous memory for the most
        data (operands and results, weighted by size; ties go to the first input), or None when
        no stride is known. A sum over axis 0 or a matmul (i, k, j order) needs a parallel dim
        innermost: putting the reduction inside would walk memory with a stride."""
        votes: dict[int, int] = {}
        first: int | None = None
        for buf, m in zip(self.ins + self.outs, self.maps, strict=True):
            unit = [
                e.pos
                for st, e in zip(buf.strides, m.results, strict=True)
                if isinstance(e, A.Dim)
                and isinstance(st, ir.Constant)
                and st.constant == buf.dtype.itemsize
            ]
            if unit:  # weighted by the operand's size: a row vector read once per row is cheap
                size = 1
                for d in buf.shape:
                    size *= d.constant if isinstance(d, ir.Constant) else 1024
                votes[unit[-1]] = votes.get(unit[-1], 0) + size
                first = unit[-1] if first is None else first
        if first is None:
            return None
        inner = max(votes, key=lambda d: (votes[d], d == first))
        return [d for d in range(len(self.iters)) if d != inner] + [inner]

    def run_reduction_outer(self, b: ir.IRBuilder, tag: str, order, ivs) -> None:
        """Reduction dims outside some parallel dims: the accumulators live in a scratch buffer
        (of the accumulator type) that the inner, contiguous loop updates. A parallel chunk
        (`split`) allocates its own scratch and touches only its slice of it."""
        sizes, starts = self._bounds()
        block = self.op.regions[0].block
        acc_args = block.args[self.n_in :]
        par = [d for d in range(len(self.iters)) if self.iters[d] == "parallel"]
        out_maps = self.maps[self.n_in :]
        accumulating = [k for k, m in enumerate(out_maps) if not is_pointwise(m)]
        malloc = declare(self.fn.module, "malloc", PTR, [I64])
        scratch = {}
        for k in accumulating:
            t = self.op.operands[self.n_in + k].type
            nbytes = ir.Constant(I64, max(t.size * t.dtype.itemsize, 1))
            scratch[k] = contiguous(b.call(malloc, [nbytes]), t)

        def out_index(k):
            return [emit_affine(b, e, ivs) for e in out_maps[k].results]

        def start():
            for k in accumulating:
                scratch[k].store(b, out_index(k), self.inits[k].load(b, out_index(k)))

        def step():
            accs = []
            for k, a in enumerate(acc_args):
                src = scratch.get(k, self.inits[k])
                accs.append(src.load(b, out_index(k)) if a.uses or k in scratch else None)
            for k, v in enumerate(self.body(b, ivs, accs)):
                (scratch[k] if k in scratch else self.outs[k]).store(b, out_index(k), v)

        def finish():
            finals = [scratch[k].load(b, out_index(k)) for k in accumulating]
            if len(self.op.regions) == 2 and not self.partial:
                finals = self.epilogue(b, ivs, finals)
            for k, v in zip(accumulating, finals, strict=True):
                self.outs[k].store(b, out_index(k), v)

        emit_nest(b, par, sizes, ivs, start, f"{tag}.start", starts)
        r, rest = order[0], order[1:]
        out_dims = set().union(*(A.expr_dims(e) for k in scratch for e in out_maps[k].results))
        if any(self.iters[d] != "parallel" for d in rest) or r in out_dims:
            emit_nest(b, order, sizes, ivs, step, tag, starts)
        else:
            self._jammed(b, tag, r, rest, sizes, starts, ivs, scratch, step, out_index)
        emit_nest(b, par, sizes, ivs, finish, f"{tag}.finish", starts)
        free = declare(self.fn.module, "free", ir.VoidType(), [PTR])
        for buf in scratch.values():
            b.call(free, [buf.ptr])

    def _jammed(self, b, tag, r, rest, sizes, starts, ivs, scratch, step, out_index) -> None:
        """The outer reduction dim `r` unrolled by JAM and jammed into the parallel loops
        inside it: each accumulator is loaded from the scratch row once per JAM values of r and
        kept in a register between them (a sum over axis 0 reads 8 rows per pass over its
        float64 scratch row instead of one). Each accumulator still adds its terms in the order
        of r, so the result is the same to the bit; the rows left over run one at a time."""
        acc_args = self.op.regions[0].block.args[self.n_in :]
        lo = starts.get(r, ir.Constant(I64, 0))
        span = b.sub(sizes[r], lo)
        jam = ir.Constant(I64, JAM)
        main_end = b.add(lo, b.mul(b.udiv(span, jam), jam))

        def block_of_rows(i0: ir.Value) -> None:
            def point() -> None:
                ivs[r] = i0
                accs = {k: buf.load(b, out_index(k)) for k, buf in scratch.items()}
                for u in range(JAM):
                    ivs[r] = b.add(i0, ir.Constant(I64, u))
                    args = [
                        accs[k]
                        if k in scratch
                        else self.inits[k].load(b, out_index(k))
                        if a.uses
                        else None
                        for k, a in enumerate(acc_args)
                    ]
                    for k, v in enumerate(self.body(b, ivs, args)):
                        if k in scratch:
                            accs[k] = v
                        else:
                            self.outs[k].store(b, out_index(k), v)
                for k, buf in scratch.items():
                    buf.store(b, out_index(k), accs[k])

            emit_nest(b, rest, sizes, ivs, point, f"{tag}.jam", starts)

        emit_loop(b, main_end, block_of_rows, f"{tag}.rows", lo, jam)

        def one_row(i: ir.Value) -> None:
            ivs[r] = i
            emit_nest(b, rest, sizes, ivs, step, tag, starts)

        emit_loop(b, sizes[r], one_row, f"{tag}.left", main_end)

    def body(self, b: ir.IRBuilder, ivs, accs) -> list[ir.Value]:
        block = self.op.regions[0].block
        return self.run_block(b, block, ivs, block.args[: self.n_in], block.args[self.n_in :], accs)

    def epilogue(self, b: ir.IRBuilder, ivs, finals) -> list[ir.Value]:
        block = self.op.regions[1].block
        n_acc = len(block.args) - self.n_in
        return self.run_block(b, block, ivs, block.args[n_acc:], block.args[:n_acc], finals)

    def run_block(self, b: ir.IRBuilder, block, ivs, input_args, acc_args, accs) -> list[ir.Value]:
        """Emit a region's scalar ops at the current point; inputs are loaded where used."""
        values = {}
        for k, arg in enumerate(input_args):
            if arg.uses:
                idx = [emit_affine(b, e, ivs) for e in self.maps[k].results]
                values[arg] = self.ins[k].load(b, idx)
        for arg, acc in zip(acc_args, accs, strict=True):
            values[arg] = acc
        fn = self.fn
        ctx = Ctx(b, fn.module, ivs, fn.buffer_of, fn.report, self.combiners, fn.fastmath)
        for inner in block.ops[:-1]:
            args = [values.get(v) for v in inner.operands]
            if inner in self.narrowed:  # a blocked sum's float32 lane adds the float32 term
                acc, term = self.narrowed[inner]
                values[inner.result] = b.fadd(values[acc], values[term])
                continue
            values[inner.result] = EMIT[inner.name](ctx, args, inner)
        return [values[v] for v in block.ops[-1].operands]


def _vector_at(b: ir.IRBuilder, lanes: ir.Value, q: int, width: int) -> ir.Value:
    """The q-th `width` lanes of a blocked sum's lane array, as one vector."""
    vec = ir.VectorType(F32, width)
    return b.bitcast(b.gep(lanes, [ir.Constant(I64, width * q)]), vec.as_pointer())


def _halving_sum(b: ir.IRBuilder, lanes: ir.Value, width: int) -> ir.Value:
    """The sum of the SUM_LANES float32 lanes at `lanes` (vectors of `width`) as a halving
    tree: lane i += lane i + h for i < h, h = 32, 16, ..., 1 (whole vectors, then halves)."""
    vecs = [
        b.load(_vector_at(b, lanes, q, width), align=4 * width) for q in range(SUM_LANES // width)
    ]
    while len(vecs) > 1:
        half = len(vecs) // 2
        vecs = [b.fadd(vecs[i], vecs[i + half]) for i in range(half)]
    v = vecs[0]
    while width > 1:
        width //= 2
        halves = [
            b.shuffle_vector(
                v, v, ir.Constant(ir.VectorType(I32, width), list(range(k, k + width)))
            )
            for k in (0, width)
        ]
        v = b.fadd(*halves)
    return b.extract_element(v, ir.Constant(I32, 0))
