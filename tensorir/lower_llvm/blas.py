"""Matmul-shaped generics as calls to the cblas gemm of the OpenBLAS that numpy ships.

A generic whose body is `acc + a*b` over float32/float64, with a zero init, an output of the
matmul form (batch..., m, n), `a` free of n and `b` free of m, runs as `cblas_?gemm` per batch.
An input read through a unit-stride dim goes to gemm in place (a transposed one as TransA/TransB
with its leading dimension, never copied); a factor that fusion computes in the body (relu(h) of
a backward pass) or an input with run-time strides is first computed once into a packed scratch
buffer. With a fused epilogue the rows go through gemm in blocks and the epilogue runs on each
block right after its call, while the block is still in cache. Anything else, and products too
small to pay for the call, stay with the loop lowering (`loops.py`). The choice shows in the
LLVM IR: a call to the symbol (e.g. `scipy_cblas_sgemm64_`) in blocks named `<tag>.gemm*`, and
`<tag>.pack*` loops for packed factors.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from dataclasses import dataclass

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from ..ir import affine as A
from ..ir import types as T
from ..ir.core import Operation, OpResult, Value
from .buffers import Buffer, emit_affine
from .loops import PTR, GenericLowering, emit_loop, emit_nest
from .scalar import EMIT, I32, I64, Ctx, declare

# below this many multiply-adds the loop nest is kept. Measured x@y on one thread: at 8^3 both
# take the ~2 us dispatch, at 16^3 gemm is 2.0 vs 2.2 us (float32), at 32^3 2.6 vs 7.7 us
MIN_FLOPS = 4096
# bytes of C per gemm call when an epilogue follows. Measured with relu(x@W+b) 4096x1024x1024 on
# 2 cores (1 MiB L2 each, 32 MiB L3): 1-4 MiB blocks lost 3% on one thread and up to 15% on two
# (OpenBLAS repacks B and wakes its threads per call); 8 MiB blocks match one whole call and
# still sit in L3 beside their rows of A and all of B when the epilogue reads them back
BLOCK_BYTES = 8 << 20
ROW_MULTIPLE = 16
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


@dataclass(frozen=True)
class Gemm:
    """The cblas entry points found in numpy's OpenBLAS; `int_bits` is the width of blasint."""

    sgemm: str
    dgemm: str
    int_bits: int


def _library_candidates() -> list[str]:
    """Shared libraries bundled with numpy that may be its BLAS (wheel layouts of numpy 1.x/2.x)."""
    root = os.path.dirname(np.__file__)
    patterns = [os.path.join(root, ".libs", "*blas*"), os.path.join(root, "..", "numpy.libs", "*")]
    return sorted(p for pat in patterns for p in glob.glob(pat) if "blas" in os.path.basename(p))


@functools.cache
def gemm() -> Gemm | None:
    """The gemm symbols of numpy's BLAS, made resolvable to the JIT; None when there is none."""
    names = [
        ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", 64),
        ("cblas_sgemm64_", "cblas_dgemm64_", 64),
        ("scipy_cblas_sgemm", "scipy_cblas_dgemm", 32),
        ("cblas_sgemm", "cblas_dgemm", 32),
    ]
    for path in _library_candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for s, d, bits in names:
            if hasattr(lib, s) and hasattr(lib, d):
                for name in (s, d):
                    llvm.add_symbol(name, ctypes.cast(getattr(lib, name), ctypes.c_void_p).value)
                return Gemm(s, d, bits)
    return None


@dataclass
class _Role:
    """Which loop dims are the batch dims, rows (m), columns (n) and reduction (k), and the body
    values of the left (a) and right (b) factor of `acc + a*b`."""

    batch: list[int]
    m: int
    n: int
    k: int
    a: Value
    b: Value


def _bare_dims(m: A.AffineMap) -> list[int] | None:
    """The loop dim of each result, or None when some result is not a bare dim."""
    dims = [e.pos for e in m.results if isinstance(e, A.Dim)]
    return dims if len(dims) == len(m.results) and len(set(dims)) == len(dims) else None


def _is_zero_splat(v: Value) -> bool:
    """Whether `v` is a constant tensor of zeros (so gemm's beta is 0)."""
    op = v.op if isinstance(v, OpResult) else None
    if op is None or op.name != "tir.constant" or not op.attrs["value"].splat:
        return False
    return float(op.attrs["value"].array) == 0.0


def cone(op: Operation, v: Value) -> tuple[list[Operation], set[int]] | None:
    """The body ops `v` is computed by (in order) and the loop dims it depends on; None when it
    reads an accumulator."""
    block, n_in = op.regions[0].block, op.attrs["num_inputs"]
    maps = op.attrs["indexing_maps"]
    needed, ops, dims = {v}, [], set()
    for inner in reversed(block.ops[:-1]):
        if inner.result in needed:
            ops.append(inner)
            needed.update(inner.operands)
            if inner.name == "s.index":
                dims.add(inner.attrs["dim"])
    for k, arg in enumerate(block.args):
        if arg in needed:
            if k >= n_in:
                return None
            dims |= set().union(*map(A.expr_dims, maps[k].results))
    return ops[::-1], dims


def match(op: Operation) -> _Role | None:
    """The matmul roles of `op` when its body is `acc + a*b`, with `a` free of the column dim and
    `b` of the row dim, over float32/float64 and a zero init."""
    n_in = op.attrs["num_inputs"]
    iters, maps = op.attrs["iterator_types"], op.attrs["indexing_maps"]
    if len(op.results) != 1 or iters.count("reduction") != 1 or not _is_zero_splat(op.operands[-1]):
        return None
    block = op.regions[0].block
    acc = block.args[n_in]
    dtype = T.element_type(op.result.type)
    if dtype not in (T.f32, T.f64) or acc.type != dtype or op.operands[-1].type != op.result.type:
        return None
    add = block.ops[-1].operands[0].op if isinstance(block.ops[-1].operands[0], OpResult) else None
    if add is None or add.name != "s.add" or acc not in add.operands or len(acc.uses) != 1:
        return None
    mul = add.operands[1 - add.operands.index(acc)]
    if not isinstance(mul, OpResult) or mul.op.name != "s.mul":
        return None
    out = _bare_dims(maps[n_in])
    k = iters.index("reduction")
    if out is None or len(out) < 2 or sorted(out) != [d for d in range(len(iters)) if d != k]:
        return None
    batch, (m, n) = out[:-2], out[-2:]
    x, y = mul.op.operands
    cx, cy = cone(op, x), cone(op, y)
    if cx is None or cy is None or x.type != dtype or y.type != dtype:
        return None
    # the left factor reads no column, the right one no row; with neither read both orders fit
    (a, ca), (b, cb) = (
        ((x, cx), (y, cy)) if n not in cx[1] and m not in cy[1] else ((y, cy), (x, cx))
    )
    if n in ca[1] or m in cb[1]:
        return None
    return _Role(batch, m, n, k, a, b)


@dataclass
class _Matrix:
    """A gemm operand in memory: its buffer and the loop dim each buffer dim is indexed by."""

    buf: Buffer
    dims: list[int]

    def strides(self, dims: list[int]) -> list[int] | None:
        """Element strides along loop dims `dims` (0 where not indexed), when all are known."""
        by_dim = dict(zip(self.dims, self.buf.strides, strict=True))
        out = []
        for d in dims:
            s = by_dim.get(d, ir.Constant(I64, 0))
            if not isinstance(s, ir.Constant) or s.constant % self.buf.dtype.itemsize:
                return None
            out.append(s.constant // self.buf.dtype.itemsize)
        return out

    def address(self, b: ir.IRBuilder, ivs: list) -> ir.Value:
        """The address of the element at loop indices `ivs`."""
        return self.buf.address(b, [ivs[d] for d in self.dims])


def _layout(rows: int, cols: int, strides: list[int] | None) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) of a rows x cols matrix with these element strides, in
    cblas row-major terms, or None when neither dim has unit stride."""
    if strides is None:
        return None
    s_row, s_col = strides
    if s_col == 1 or cols == 1:
        ld = s_row if rows > 1 else max(cols, 1)
        return (NO_TRANS, ld) if ld >= max(cols, 1) else None
    if s_row == 1 or rows == 1:
        ld = s_col if cols > 1 else max(rows, 1)
        return (TRANS, ld) if ld >= max(rows, 1) else None
    return None


@dataclass
class _Factor:
    """One side of the product: the body value, its (row, column) loop dims, its cblas layout
    and the matrix it is read from (None until it is computed into a scratch buffer)."""

    value: Value
    dims: tuple[int, int]
    matrix: _Matrix | None
    layout: tuple[int, int]


def _factor(g: GenericLowering, v: Value, dims: tuple[int, int], size: list[int]) -> _Factor:
    """`v` read in place when it is an input with a unit-stride dim, else to be materialized."""
    block = g.op.regions[0].block
    if v in block.args[: g.n_in]:
        k = block.args.index(v)
        bare = _bare_dims(g.maps[k])
        if bare is not None:
            matrix = _Matrix(g.ins[k], bare)
            layout = _layout(size[dims[0]], size[dims[1]], matrix.strides(list(dims)))
            if layout is not None:
                return _Factor(v, dims, matrix, layout)
    # a fused producer, or an input read with a stride: gemm reads a packed copy, computed once
    # per element instead of once per use as the loop nest would
    return _Factor(v, dims, None, (NO_TRANS, max(size[dims[1]], 1)))


def try_lower(g: GenericLowering, b: ir.IRBuilder, tag: str) -> bool:
    """Emit `g` as gemm calls (and its epilogue per row block); False when it does not fit."""
    role = match(g.op)
    lib = gemm() if role is not None else None
    if lib is None:
        return False
    sizes = g.sizes()
    if not all(isinstance(s, ir.Constant) for s in sizes):
        return False
    size = [s.constant for s in sizes]
    if 0 in size or int(np.prod(size)) < MIN_FLOPS:
        return False
    out = _Matrix(g.outs[0], _bare_dims(g.maps[g.n_in]))
    lc = _layout(size[role.m], size[role.n], out.strides([role.m, role.n]))
    if lc is None or lc[0] != NO_TRANS:
        return False
    fa = _factor(g, role.a, (role.m, role.k), size)
    fb = _factor(g, role.b, (role.k, role.n), size)
    _emit(g, b, tag, role, size, (fa, fb, out, lc[1]), lib)
    return True


def emit_factor(g: GenericLowering, b: ir.IRBuilder, v: Value, ivs: list) -> ir.Value:
    """The value of body value `v` (an input or a fused factor, see `cone`) at loop indices
    `ivs`: the inputs it reads are loaded through their indexing maps, its ops emitted."""
    ops, _ = cone(g.op, v)
    block = g.op.regions[0].block
    values = {}
    for k, arg in enumerate(block.args[: g.n_in]):
        if arg is v or any(arg in o.operands for o in ops):
            idx = [emit_affine(b, e, ivs) for e in g.maps[k].results]
            values[arg] = g.ins[k].load(b, idx)
    ctx = Ctx(b, g.fn.module, ivs, g.fn.buffer_of, g.fn.report, g.combiners, g.fn.fastmath)
    for o in ops:
        values[o.result] = EMIT[o.name](ctx, [values.get(x) for x in o.operands], o)
    return values[v]


def _materialize(g: GenericLowering, b: ir.IRBuilder, f: _Factor, batch, size, tag) -> None:
    """Compute factor `f` once per (row, column) and batch index it reads into a malloc'ed
    C-contiguous buffer (a factor the batch dims do not reach is shared by every batch)."""
    _, reads = cone(g.op, f.value)
    dims = [*(d for d in batch if d in reads), *f.dims]
    dtype = g.outs[0].dtype
    strides, nbytes = [], dtype.itemsize
    for d in reversed(dims):
        strides.append(ir.Constant(I64, nbytes))
        nbytes *= size[d]
    malloc = declare(g.fn.module, "malloc", PTR, [I64])
    shape = [ir.Constant(I64, size[d]) for d in dims]
    buf = Buffer(b.call(malloc, [ir.Constant(I64, nbytes)]), dtype, shape, strides[::-1])
    f.matrix = _Matrix(buf, dims)
    ivs: list = [ir.Constant(I64, 0)] * len(size)

    def point() -> None:
        buf.store(b, [ivs[d] for d in dims], emit_factor(g, b, f.value, ivs))

    emit_nest(b, dims, [ir.Constant(I64, s) for s in size], ivs, point, f"{tag}.pack")


def _emit(g: GenericLowering, b: ir.IRBuilder, tag: str, role: _Role, size, operands, lib) -> None:
    """The gemm calls per batch and row block, each followed by the epilogue on its block."""
    fa, fb, out, ldc = operands
    dtype = g.outs[0].dtype
    fty = ir.FloatType() if dtype == T.f32 else ir.DoubleType()
    it = ir.IntType(lib.int_bits)
    args = [I32, I32, I32, it, it, it, fty, PTR, it, PTR, it, fty, PTR, it]
    fn = declare(g.fn.module, lib.sgemm if dtype == T.f32 else lib.dgemm, ir.VoidType(), args)
    packed = [f for f in (fa, fb) if f.matrix is None]
    for f in packed:
        _materialize(g, b, f, role.batch, size, tag)
    M, N, K = size[role.m], size[role.n], size[role.k]
    zero = ir.Constant(I64, 0)
    ivs: list = [zero] * len(size)
    epilogue = len(g.op.regions) == 2
    rows = M
    if epilogue:
        rows = max(BLOCK_BYTES // (N * dtype.itemsize), ROW_MULTIPLE)
        rows = min(M, -(-rows // ROW_MULTIPLE) * ROW_MULTIPLE)

    def call(i0: ir.Value, m_rows: ir.Value) -> None:
        # a block starts at column 0 and reduction index 0; the previous epilogue moved ivs[n]
        ivs[role.m], ivs[role.n], ivs[role.k] = i0, zero, zero
        flags = [ir.Constant(I32, v) for v in (ROW_MAJOR, fa.layout[0], fb.layout[0])]
        mnk = [b.trunc(m_rows, it) if it != I64 else m_rows, ir.Constant(it, N), ir.Constant(it, K)]
        a_args = [fa.matrix.address(b, ivs), ir.Constant(it, fa.layout[1])]
        b_args = [fb.matrix.address(b, ivs), ir.Constant(it, fb.layout[1])]
        c_args = [out.address(b, ivs), ir.Constant(it, ldc)]
        one, beta = ir.Constant(fty, 1.0), ir.Constant(fty, 0.0)
        b.call(fn, [*flags, *mnk, one, *a_args, *b_args, beta, *c_args])

    def point() -> None:
        idx = [ivs[d] for d in out.dims]
        out.buf.store(b, idx, g.epilogue(b, ivs, [out.buf.load(b, idx)])[0])

    def column(j: ir.Value) -> None:
        ivs[role.n] = j
        point()

    def block(bi: ir.Value) -> None:
        i0 = b.mul(bi, ir.Constant(I64, rows))
        m_rows = b.select(
            b.icmp_signed("<", ir.Constant(I64, M - rows), i0),
            b.sub(ir.Constant(I64, M), i0),
            ir.Constant(I64, rows),
        )
        call(i0, m_rows)
        if not epilogue:
            return

        def row(r: ir.Value) -> None:
            ivs[role.m] = b.add(i0, r)
            emit_loop(b, ir.Constant(I64, N), column, f"{tag}.gemm.n")

        emit_loop(b, m_rows, row, f"{tag}.gemm.m")

    def batch_point() -> None:
        emit_loop(b, ir.Constant(I64, -(-M // rows)), block, f"{tag}.gemm")

    emit_nest(b, role.batch, [ir.Constant(I64, s) for s in size], ivs, batch_point, f"{tag}.gemm.b")
    free = declare(g.fn.module, "free", ir.VoidType(), [PTR])
    for f in packed:
        b.call(free, [f.matrix.buf.ptr])
