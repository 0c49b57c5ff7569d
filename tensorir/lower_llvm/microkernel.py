"""The register-blocked matmul micro-kernel, generated in LLVM IR for the host's vector width.

`C[rows x NR] (+)= A[rows x kc] @ Bp[kc x NR]`: `Bp` is a packed panel of B (NR values per k,
64-byte aligned, zero-padded past the last column), A is read where it lies, MR rows of a
row-major or column-major matrix. The MR x NR accumulators are MR * NR/lanes vector registers
that live across the whole k loop; each k step loads NR/lanes vectors of B, broadcasts MR values
of A and issues MR * NR/lanes independent FMAs, enough to hide the FMA latency (12 x 32 float32
on AVX-512: 24 of the 32 zmm registers; 57.5 of the 58.5 GFMA/s one Zen 4 core peaks at, fed
from L1/L2). The k loop is unrolled `UNROLL` times by hand, since the pipeline turns LLVM's
unroller off. Columns past C's edge are masked off at the store; the last rows of an M that MR
does not divide get a kernel made for that many rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from ..ir import types as T
from . import host
from .scalar import I32, I64, declare

PTR = ir.PointerType()
UNROLL = 4


@dataclass(frozen=True)
class Shape:
    """A micro-kernel's register block: MR rows by NR = vectors * lanes columns."""

    mr: int
    lanes: int
    vectors: int

    @property
    def nr(self) -> int:
        return self.lanes * self.vectors


def _vector_bits() -> int:
    return 512 if host.has("avx512f") else 256 if host.has("avx2") else 128


def shape_for(dtype: T.DType, columns: int) -> Shape:
    """The register block for `dtype` on this host: two vectors of columns (one when C has no
    more columns than a vector holds: 256x256 @ 256x10 float32 went from 0.81x to 0.85-0.90x numpy),
    and as many rows as leave registers for the B vectors and the broadcast (32 vector registers
    with AVX-512, 16 without).

    >>> shape_for(T.f32, 1000).nr == 2 * shape_for(T.f32, 10).nr
    True
    """
    lanes = _vector_bits() // (8 * dtype.itemsize)
    vectors = 1 if columns <= lanes else 2
    return Shape(mr=12 if _vector_bits() == 512 else 6, lanes=lanes, vectors=vectors)


def _float(dtype: T.DType) -> ir.Type:
    return ir.FloatType() if dtype == T.f32 else ir.DoubleType()


def micro_kernel(
    module: ir.Module, dtype: T.DType, s: Shape, rows: int | None = None, a_layout: str = "rows"
) -> ir.Function:
    """`void name(i64 kc, ptr A, ptr Bp, ptr C, i64 ldc, i32 accumulate, i64 cols, i64 lda)`,
    defined once per module: C (row stride `ldc` elements) = or += A @ Bp, in the first `rows`
    rows (all MR by default; the last panel of an M that MR does not divide) and the first
    `cols` columns (masked stores, so a narrow C costs no copy). A is read in place, row-major
    (`a_layout` "rows": k contiguous) or column-major ("cols": m contiguous), with leading
    dimension `lda` elements: a matrix of the program, or the block `gemm.py` copied it into."""
    rows = s.mr if rows is None else rows
    name = f"tensorir.ukernel.{dtype.mlir}.{rows}of{s.mr}x{s.nr}.{a_layout}"
    if name in module.globals:
        return module.globals[name]
    elem = _float(dtype)
    vec = ir.VectorType(elem, s.lanes)
    fnty = ir.FunctionType(ir.VoidType(), [I64, PTR, PTR, PTR, I64, I32, I64, I64])
    fn = ir.Function(module, fnty, name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    # inlined wherever it is called: in a large function (an MLP's gradient) LLVM's inliner
    # kept it out of line, and the SGD step ran 2.17 -> 2.44 ms on one thread (every product
    # through the kernel), 1.07 -> 1.21 ms on two, although each product alone timed the same
    fn.attributes.add("alwaysinline")
    for arg in fn.args[1:4]:
        arg.add_attribute("noalias")
    kc, ap, bp, c, ldc, accumulate, cols, lda = fn.args
    suffix = f"v{s.lanes}{'f32' if dtype == T.f32 else 'f64'}"
    fma = declare(module, f"llvm.fma.{suffix}", vec, [vec] * 3)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    zero = ir.Constant(vec, [0.0] * s.lanes)
    undef = ir.Constant(vec, ir.Undefined)
    splat_mask = ir.Constant(ir.VectorType(I32, s.lanes), [0] * s.lanes)
    n_acc = rows * s.vectors
    # element (r, k) of A lives at r * row_step + k * k_step
    row_step, k_step = {
        "rows": (lda, ir.Constant(I64, 1)),
        "cols": (ir.Constant(I64, 1), lda),
    }[a_layout]
    a_rows = [
        b.gep(ap, [b.mul(ir.Constant(I64, r), row_step)], source_etype=elem) for r in range(rows)
    ]

    def step(accs: list[ir.Value], k: ir.Value) -> list[ir.Value]:
        """One k: NR/lanes vector loads of B, `rows` broadcasts of A, rows * vectors FMAs."""
        row = b.gep(bp, [b.mul(k, ir.Constant(I64, s.nr))], source_etype=elem)
        bv = [
            b.load(
                b.gep(row, [ir.Constant(I64, v * s.lanes)], source_etype=elem), typ=vec, align=64
            )
            for v in range(s.vectors)
        ]
        offset = b.mul(k, k_step)
        out = []
        for r in range(rows):
            a = b.load(b.gep(a_rows[r], [offset], source_etype=elem), typ=elem)
            av = b.shuffle_vector(
                b.insert_element(undef, a, ir.Constant(I32, 0)), undef, splat_mask
            )
            out.extend(b.call(fma, [av, bv[v], accs[r * s.vectors + v]]) for v in range(s.vectors))
        return out

    def loop(accs: list[ir.Value], start: ir.Value, end: ir.Value, unroll: int, tag: str):
        """k from start to end (a multiple of `unroll` apart) in steps of `unroll`."""
        pre = b.block
        head, body, done = (fn.append_basic_block(f"{tag}.{x}") for x in ("head", "body", "done"))
        b.branch(head)
        b.position_at_end(head)
        k = b.phi(I64)
        k.add_incoming(start, pre)
        phis = [b.phi(vec) for _ in range(n_acc)]
        for p, a in zip(phis, accs, strict=True):
            p.add_incoming(a, pre)
        b.cbranch(b.icmp_signed("<", k, end), body, done)
        b.position_at_end(body)
        cur = list(phis)
        for u in range(unroll):
            cur = step(cur, b.add(k, ir.Constant(I64, u)))
        k.add_incoming(b.add(k, ir.Constant(I64, unroll)), b.block)
        for p, a in zip(phis, cur, strict=True):
            p.add_incoming(a, b.block)
        b.branch(head)
        b.position_at_end(done)
        return list(phis)

    # C's tile is touched once per k block, at the end: fetch its lines while the FMAs run
    prefetch = declare(module, "llvm.prefetch.p0", ir.VoidType(), [PTR, I32, I32, I32])
    row_bytes = s.nr * dtype.itemsize
    for r in range(rows):
        row = b.gep(c, [b.mul(ir.Constant(I64, r), ldc)], source_etype=elem)
        for line in range(0, row_bytes, 64):
            at = b.gep(row, [ir.Constant(I64, line)], source_etype=ir.IntType(8))
            b.call(prefetch, [at, ir.Constant(I32, 1), ir.Constant(I32, 3), ir.Constant(I32, 1)])
    main_end = b.mul(b.udiv(kc, ir.Constant(I64, UNROLL)), ir.Constant(I64, UNROLL))
    accs = loop([zero] * n_acc, ir.Constant(I64, 0), main_end, UNROLL, "k")
    accs = loop(accs, main_end, kc, 1, "rest")

    mask_ty = ir.VectorType(ir.IntType(1), s.lanes)
    index_ty = ir.VectorType(I64, s.lanes)
    cols_splat = b.shuffle_vector(
        b.insert_element(ir.Constant(index_ty, ir.Undefined), cols, ir.Constant(I32, 0)),
        ir.Constant(index_ty, ir.Undefined),
        splat_mask,
    )
    masks = [
        b.icmp_signed(
            "<", ir.Constant(index_ty, list(range(v * s.lanes, (v + 1) * s.lanes))), cols_splat
        )
        for v in range(s.vectors)
    ]
    masked_load = declare(module, f"llvm.masked.load.{suffix}.p0", vec, [PTR, I32, mask_ty, vec])
    masked_store = declare(
        module, f"llvm.masked.store.{suffix}.p0", ir.VoidType(), [vec, PTR, I32, mask_ty]
    )
    align = ir.Constant(I32, dtype.itemsize)

    def store(accumulating: bool) -> None:
        for r in range(rows):
            row = b.gep(c, [b.mul(ir.Constant(I64, r), ldc)], source_etype=elem)
            for v in range(s.vectors):
                ptr = b.gep(row, [ir.Constant(I64, v * s.lanes)], source_etype=elem)
                acc = accs[r * s.vectors + v]
                if accumulating:
                    acc = b.fadd(b.call(masked_load, [ptr, align, masks[v], zero]), acc)
                b.call(masked_store, [acc, ptr, align, masks[v]])

    with b.if_else(b.icmp_unsigned("!=", accumulate, ir.Constant(I32, 0))) as (then, otherwise):
        with then:
            store(True)
        with otherwise:
            store(False)
    b.ret_void()
    return fn
