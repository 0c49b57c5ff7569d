"""Row groups: runs of generics over the same rows that a backend may compute row by row.

Softmax after fusion is three generics over rows i: the row max m[i], the row sum s[i] of
exp(x - m) and the normalization. Computed one after the other, each reads all of x; computed
row by row (or a block of rows at a time), the later members find the row still in cache, so
memory sees x once. That is legal when each member reads the earlier members' results only at
its own row: `row_groups` finds such runs. The GPU computes a group as one kernel with a block
per row (`lower_ptx/blocks.py`); the CPU as one loop over blocks of rows (`rows.py`'s
`lower_rows`), on the thread pool when it is large. The memory plan keeps every buffer a group
touches live across the whole group, since its members' loops interleave.

>>> import numpy as np
>>> from tensorir.frontend.trace import trace
>>> from tensorir.ir.core import Module
>>> from tensorir.passes import run_pipeline
>>> softmax = lambda x: np.exp(x - x.max(axis=1, keepdims=True)) / np.exp(
...     x - x.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)
>>> f = trace(softmax, (np.ones((4, 8), np.float32),)).function
>>> g = run_pipeline(Module([f]), "canonicalize,cse,generalize,fuse,dce").functions[0]
>>> [(len(members), rows) for members, rows in row_groups(g.body.ops)]
[(3, 1)]
"""

from __future__ import annotations

import math

from llvmlite import ir

from ..ir import affine as A
from ..ir.core import Operation, OpResult
from ..ir.ops_tensor import is_pointwise, loop_bounds
from . import parallel
from .blas import match
from .buffers import Buffer
from .loops import GenericLowering, emit_loop
from .scalar import I8, I64


def row_groups(ops: list[Operation]) -> list[tuple[list[Operation], int]]:
    """Runs of consecutive generics one row kernel computes, with their number of row dims:
    a row reduction, then every following generic over the same rows that reads the members'
    results only at its own row."""
    generics = [op for op in ops if op.name == "tir.generic"]
    groups, i = [], 0
    while i < len(generics):
        rows = _reduction_rows(generics[i])
        members = [generics[i]]
        if rows is not None:
            for op in generics[i + 1 :]:
                if not _joins(op, members, rows):
                    break
                members.append(op)
        if len(members) > 1:
            groups.append((members, rows))
        i += len(members)
    return groups


def sizes_of(op: Operation) -> list[int]:
    return [op.operands[k].type.shape[pos] for k, pos in loop_bounds(op)]


def _is_row_map(m: A.AffineMap, rows: int) -> bool:
    """Whether `m` indexes by the row dims first, in order, and by them nowhere else."""
    head = [A.Dim(d) for d in range(rows)]
    if list(m.results[:rows]) != head:
        return False
    return all(not (A.expr_dims(e) & set(range(rows))) for e in m.results[rows:])


def _reduction_rows(op: Operation) -> int | None:
    """The number of leading parallel dims of a generic reducing over all its other dims with
    reassociable combiners into per-row results, or None."""
    if None in sizes_of(op):  # dynamic sizes: compared only when known
        return None
    iters = op.attrs["iterator_types"]
    rows = next((d for d, it in enumerate(iters) if it != "parallel"), len(iters))
    if match(op) is not None:  # a matmul takes the tiled kernel
        return None
    if rows == 0 or rows == len(iters) or any(it != "reduction" for it in iters[rows:]):
        return None
    return rows if member_kind(op, rows) == "reduction" else None


def member_kind(op: Operation, rows: int) -> str | None:
    """'pointwise' or 'reduction' for a generic a row kernel can compute, else None."""
    iters = op.attrs["iterator_types"]
    inner = set(iters[rows:])
    if any(it != "parallel" for it in iters[:rows]) or len(inner) != 1:
        return None
    if inner == {"parallel"}:
        return "pointwise"
    n_in = op.attrs["num_inputs"]
    for m in op.attrs["indexing_maps"][n_in:]:
        if not is_pointwise(m) and list(m.results) != [A.Dim(d) for d in range(rows)]:
            return None
    return "reduction" if folds_through_combiners(op) else None


def folds_through_combiners(op: Operation) -> bool:
    """Whether every accumulating result of reduction `op` folds through a reassociable
    combiner (add, mul, max, min), so the partial results of any split of its reduction can
    be combined; side outputs (pointwise maps) are written at every point."""
    n_in = op.attrs["num_inputs"]
    combiners = GenericLowering(op, [], [], [], None).combiners
    yields = op.regions[0].block.ops[-1].operands
    for k, m in enumerate(op.attrs["indexing_maps"][n_in:]):
        v = yields[k]
        if not is_pointwise(m) and not (isinstance(v, OpResult) and v.op in combiners):
            return False
    return True


def _joins(op: Operation, members: list[Operation], rows: int) -> bool:
    sizes = sizes_of(op)
    if None in sizes or member_kind(op, rows) is None:
        return False
    if sizes[:rows] != sizes_of(members[0])[:rows]:
        return False
    produced = {r: m for m in members for r in m.results}
    for v, m in zip(op.operands, op.attrs["indexing_maps"], strict=True):
        if v in produced:
            p = produced[v]
            p_map = p.attrs["indexing_maps"][p.attrs["num_inputs"] + v.index]
            if not (_is_row_map(m, rows) and _is_row_map(p_map, rows)):
                return False
    return True


def extents(op: Operation) -> tuple[int, int]:
    """(output points, reduction length) of generic `op`."""
    sizes, iters = sizes_of(op), op.attrs["iterator_types"]
    points = math.prod(s for s, it in zip(sizes, iters, strict=True) if it == "parallel")
    return points, math.prod(sizes) // max(points, 1) if points else 0


# A block of rows whose data (every tensor the members touch, by row) stays in cache between the
# members' loops: in 20 KiB of a 32 KiB L1D where rows are that small (softmax's 1024 float32
# columns: one row, whose window of exponentials is rewritten in L1; layernorm's: two), else in
# a quarter of L2 (1 MiB per core on Zen 4, 2 MiB on Sapphire Rapids).
L1_BLOCK_BYTES = 20 << 10
ROW_BLOCK_BYTES = 256 << 10


def row_bytes(lows: list[GenericLowering]) -> int:
    """Bytes per index of the outermost row dim of every tensor the group reads or writes by
    row (each tensor once; row-invariant ones and splat constants stay cached anyway)."""
    seen = {}
    for gl in lows:
        n_in = gl.n_in
        pairs = [(v, gl.ins[k], gl.maps[k]) for k, v in enumerate(gl.op.operands[:n_in])]
        pairs += [(v, gl.outs[k], gl.maps[n_in + k]) for k, v in enumerate(gl.op.results)]
        for v, buf, m in pairs:
            splat = all(isinstance(s, ir.Constant) and s.constant == 0 for s in buf.strides)
            if splat or not m.results or m.results[0] != A.Dim(0):
                continue
            seen[v] = math.prod(v.type.shape[1:]) * v.type.dtype.itemsize
    return max(sum(seen.values()), 1)


def _rows_per_block(lows: list[GenericLowering]) -> int:
    """Indices of the outermost row dim per block."""
    per_index = row_bytes(lows)
    if per_index <= L1_BLOCK_BYTES:
        return L1_BLOCK_BYTES // per_index
    return max(1, ROW_BLOCK_BYTES // per_index)


def emit_row_blocks(
    b: ir.IRBuilder,
    lows: list[GenericLowering],
    lo: ir.Value,
    hi: ir.Value,
    tag: str,
    windowed: set = frozenset(),
) -> None:
    """Indices [lo, hi) of the group's outermost row dim, a block of them at a time: every
    member runs on the block before the next block starts.

    A `windowed` value (made and used only inside the group) needs only the current block's
    rows: its rows [start, end) go to the rows [lo, lo + end - start) of its buffer, the same
    bytes for every block, so softmax's exponentials are rewritten in cache instead of
    streaming a whole matrix out to memory. Chunks run by other threads start at other `lo`,
    so their windows never overlap."""
    block = ir.Constant(I64, _rows_per_block(lows))

    def one(start: ir.Value) -> None:
        end = b.add(start, block)
        end = b.select(b.icmp_signed("<", end, hi), end, hi)
        for k, gl in enumerate(lows):
            for values, bufs in [
                (gl.op.operands[: gl.n_in], gl.ins),
                (gl.op.operands[gl.n_in :], gl.inits),
                (gl.op.results, gl.outs),
            ]:
                for i, v in enumerate(values):
                    if v in windowed:
                        bufs[i] = _window(b, bufs[i], b.sub(lo, start))
            gl.split = (0, start, end)
            gl.run(b, f"{tag}.m{k}")

    emit_loop(b, hi, one, f"{tag}.rows", lo, block)


def _window(b: ir.IRBuilder, buf: Buffer, shift: ir.Value) -> Buffer:
    """`buf` moved by `shift` indices of its first dim."""
    ptr = b.gep(buf.ptr, [b.mul(shift, buf.strides[0])], source_etype=I8)
    return Buffer(ptr, buf.dtype, buf.shape, buf.strides, buf.alias)


def windowed_values(members: list[Operation], p) -> set:
    """Results of the group's members that nothing outside the group reads and that have a
    buffer of their own in the workspace (memory plan `p`): they can live in a window."""
    inside = set(members)
    out = set()
    for m in members:
        for r in m.results:
            c = p.cls.get(r)
            if c is None or c in p.output:
                continue
            if p.written_values(c) != [r]:
                continue
            if r.uses and all(user in inside for user, _ in r.uses):
                out.add(r)
    return out


def work_per_index(lows: list[GenericLowering]) -> int:
    """The cost model's work units (points x ops per point) per index of the outer row dim."""
    return sum(math.prod(sizes_of(gl.op)[1:]) * parallel.work_per_point(gl) for gl in lows)


def lower_rows(lows: list[GenericLowering], fn, tag: str, threads: bool) -> None:
    """Emit the row group of lowerings `lows` in the entry `fn` (`codegen._FunctionLowering`):
    blocks of rows on the thread pool when `threads` and the work repays a dispatch (the same
    cost model as a single loop's, `parallel.py`), else serially in the entry."""
    n = sizes_of(lows[0].op)[0]
    per_index = work_per_index(lows)
    windowed = windowed_values([gl.op for gl in lows], fn.plan)
    if not threads or n * per_index < parallel.MIN_WORK or n < 2:
        emit_row_blocks(fn.b, lows, ir.Constant(I64, 0), ir.Constant(I64, n), tag, windowed)
        return
    bufs = {}
    for gl in lows:
        bufs.update(parallel.operand_buffers(gl, fn))
    captured = parallel.runtime_values(list(bufs.values()))
    region = parallel.Region(fn, f"{fn.fn.name}.{tag}.rows", captured)
    region.buffers = {v: region.local(buf) for v, buf in bufs.items()}
    inner = [region.lowering(gl.op) for gl in lows]
    emit_row_blocks(region.b, inner, region.lo, region.hi, tag, windowed)
    region.finish()
    parallel.dispatch(fn, region, captured, ir.Constant(I64, n), ir.Constant(I64, per_index), 1, 1)
