"""Matmul-shaped generics (`blas.match`) through the generated micro-kernel (`microkernel.py`).

The loops are Goto's and BLIS's: for each block of NC columns and KC reductions, the KC x NC
block of B is packed into NR-column panels (it stays in L3 and each panel in L1); for each
block of MC rows of A, every MR x NR tile of C is one call of the micro-kernel. The kernel reads
A where it lies when A is an input with a unit stride along k or m (a transposed operand costs
nothing); otherwise (a factor fusion computes in the body, such as relu'(h) * g of a backward
pass, run-time strides, or rows 4 KiB apart) the block of A is first computed into a row-major
buffer with a padded leading dimension, once per element. B's packing reads B through its
indexing map, computing a fused B the same way. The epilogue (bias, activation, scale, an SGD
update) runs on each tile right after its last k block is stored, while the tile is in L1:
there is no second pass over C.

Large products split across the thread pool (`parallel.py`): into chunks of NR-column panels
when A is read in place (each chunk packs its own part of B, nothing is done twice), else into
chunks of MR-row panels (each chunk copies its rows of A and packs all of B: K x N reads against
the chunk's M/threads x N x K FMAs).
"""

from __future__ import annotations

import logging

from llvmlite import ir

from .blas import _bare_dims, _Matrix, _Role, cone, emit_factor, match
from .blas import gemm as numpy_gemm
from .loops import PTR, GenericLowering, emit_loop, emit_nest
from .microkernel import Shape, micro_kernel, shape_for
from .parallel import MIN_WORK, Region, dispatch, operand_buffers, runtime_values
from .scalar import I32, I64, declare

log = logging.getLogger("tensorir.matmul")  # TENSORIR_LOG=matmul prints the choices

# reductions per block: each k block reads and writes C once more, so a long block spares
# memory traffic for a large C (1024^3 on one Zen 4 thread, numpy / tensorir: KC 128 0.94-0.98x,
# 256 1.01-1.05x, 512 1.04-1.05x; float64 1024x1000x1024 0.93-0.94x, 0.96-0.97x, 0.97-1.01x);
# its NR-column panel of B (64 KiB of float32) then streams from L2, which keeps up
KC = 512
MC_PANELS = 12  # MR-row panels per block of A: 144 x 528 float32, 300 KiB of L2
NC = 2048  # columns per packed block of B: 2 MiB of float32, in L3
# A whose rows are a multiple of this apart is copied instead of read in place: its MR rows
# would share L1 sets. One Zen 4 thread, numpy / tensorir (benchmarks/matmul.py), in place vs
# from MR-row packed panels (an earlier layout): 784x256 @ 256x256 1.08-1.09x vs 0.98-1.00x;
# 256x784 @ 784x256 1.06-1.08x vs 0.97-0.99x; but 1024^3 (rows 4 KiB apart) 0.95-0.98x vs
# 0.98-1.00x
ALIASING_BYTES = 4096
# elements per row of the block A is copied into when it cannot be read in place (a fused
# producer, run-time strides, rows ALIASING_BYTES apart): KC plus a line, so its rows do not
# share L1 sets either
A_STRIDE = KC + 16


def _const(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


def _min(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _count(b: ir.IRBuilder, n: ir.Value, size: int) -> ir.Value:
    """How many blocks of `size` cover n indices."""
    return b.udiv(b.add(n, _const(size - 1)), _const(size))


def blas_preferred(g: GenericLowering, one_thread: bool) -> bool:
    """Whether numpy's gemm (`blas.py`) beats the micro-kernel for this generic. Measured with
    benchmarks/matmul.py on the 2-core Zen 4 VM (numpy / tensorir, float32; RESULTS.md): the
    kernel wins or ties from 64^3 up on two threads (64^3: 1.10x vs gemm's 0.82x; 256x256 @
    256x10: 1.45x vs 0.93x: it splits across the pool where OpenBLAS stays on one thread) and
    from 128^3 up on one (1.07x vs 0.96x; 64^3 0.77x vs 0.83x, 256x256 @ 256x10 0.89x vs
    0.94x). gemm is kept for products below 2^16 multiply-adds, where both are the call, and,
    when the function runs on `one_thread`, for fewer than 32 reductions (256x10 @ 10x256: 0.93x
    vs 0.71x, each tile's call and store spread over few FMAs; inside the SGD step of
    benchmarks/sgd_step.py it once cost 0.3 ms more, which was LLVM leaving the kernel out of
    line there: `microkernel.py` now marks it alwaysinline). With more threads a function never
    mixes the two: OpenBLAS's threads spin after each call and take the cores from our pool's
    (the SGD step on two threads: every product through the kernel 1.21-1.36 ms, through gemm
    1.28-1.74, one gemm among kernels 2.0, numpy 1.30-1.90).

    >>> import numpy as np, tensorir
    >>> text = tensorir.jit(lambda x, y: x @ y).lower(np.ones((256, 300)), np.ones((300, 256)))
    >>> "tensorir.ukernel" in text.as_text("llvm-unoptimized")
    True
    """
    role = match(g.op)
    sizes = g.sizes()
    if role is None or numpy_gemm() is None or not all(isinstance(s, ir.Constant) for s in sizes):
        return False
    m, n, k = (sizes[d].constant for d in (role.m, role.n, role.k))
    reasons = [
        why
        for small, why in (
            (m * n * k < 1 << 16, "fewer than 2^16 multiply-adds"),
            (k < 32 and one_thread, "fewer than 32 reductions, one thread"),
        )
        if small
    ]
    where = "one thread" if one_thread else "more threads"
    log.debug(
        "%dx%dx%d on %s: %s", m, k, n, where, f"gemm, {reasons[0]}" if reasons else "micro-kernel"
    )
    return bool(reasons)


def try_lower(g: GenericLowering, fn, tag: str, threads: bool) -> bool:
    """Emit `g` through the micro-kernel when it is a matmul with static sizes whose output has
    unit column stride; False otherwise. `fn` is the entry's lowering context; with `threads`
    a product worth it runs on the thread pool."""
    role = match(g.op)
    sizes = g.sizes()
    if role is None or not all(isinstance(s, ir.Constant) for s in sizes):
        return False
    size = [s.constant for s in sizes]
    out = _Matrix(g.outs[0], _bare_dims(g.maps[g.n_in]))
    strides = out.strides([role.m, role.n])
    if 0 in size or strides is None or strides[1] != 1:
        return False
    s = shape_for(g.outs[0].dtype, size[role.n])
    m, n = size[role.m], size[role.n]
    tiles = _Tiles(g, role, size, strides[0], s)
    direct = tiles.direct_a()
    log.debug(
        "%dx%dx%d %s: %dx%d tiles, A %s",
        m,
        size[role.k],
        n,
        g.outs[0].dtype.mlir,
        s.mr,
        s.nr,
        f"read in place ({direct[0]}-major)" if direct else "computed into blocks",
    )
    everything = ((_const(0), _const(m)), (_const(0), _const(n)))
    # chunks of columns when A is read in place: each chunk packs only its own panels of B and
    # nothing is done twice; else chunks of rows, each copying its own rows of A and packing
    # all of B
    by_columns = direct is not None and n > s.nr
    width, extent = (s.nr, n) if by_columns else (s.mr, m)
    panels = -(-extent // width)
    if not threads or panels < 2 or 2 * m * n * size[role.k] < MIN_WORK:
        tiles.emit(fn.b, tag, *everything)
        return True
    bufs = operand_buffers(g, fn)
    captured = runtime_values(list(bufs.values()))
    region = Region(fn, f"{fn.fn.name}.{tag}.gemm", captured)
    region.buffers = {v: region.local(buf) for v, buf in bufs.items()}
    rb = region.b
    lo = rb.mul(region.lo, _const(width))
    hi = _min(rb, rb.mul(region.hi, _const(width)), _const(extent))
    rows, cols = everything
    rows, cols = (rows, (lo, hi)) if by_columns else ((lo, hi), cols)
    _Tiles(region.lowering(g.op), role, size, strides[0], s).emit(rb, tag, rows, cols)
    region.finish()
    per_panel = _const(width * (m * n // extent) * size[role.k])
    dispatch(fn, region, captured, _const(panels), per_panel, 1, 1)
    return True


class _Tiles:
    """The packing loops and micro-kernel calls of one generic over a block of its output."""

    def __init__(self, g: GenericLowering, role: _Role, size: list[int], ldc: int, s: Shape):
        self.g, self.role, self.size, self.ldc, self.s = g, role, size, ldc, s
        self.dtype = g.outs[0].dtype
        self.elem = ir.FloatType() if self.dtype.itemsize == 4 else ir.DoubleType()
        self.out = _Matrix(g.outs[0], _bare_dims(g.maps[g.n_in]))
        self.ivs: list = [_const(0)] * len(size)
        self.M, self.N, self.K = (size[d] for d in (role.m, role.n, role.k))

    def emit(self, b: ir.IRBuilder, tag: str, rows, columns) -> None:
        """C[row_lo:row_hi, col_lo:col_hi] for every batch index, given `rows` and `columns` as
        (lo, hi) pairs; row_lo is a multiple of MR, col_lo of NR."""
        s, module = self.s, self.g.fn.module
        (row_lo, row_hi), (col_lo, col_hi) = rows, columns
        kc_max = min(KC, self.K)
        nc_max = -(-min(NC, self.N) // s.nr) * s.nr
        alloc = declare(module, "aligned_alloc", PTR, [I64, I64])
        item = self.dtype.itemsize
        direct = self.direct_a()
        mc = MC_PANELS * s.mr
        ap = None if direct else b.call(alloc, [_const(64), _const(mc * A_STRIDE * item)])
        bp = b.call(alloc, [_const(64), _const(nc_max * kc_max * item)])
        layout = direct[0] if direct else "rows"

        def column_block(jb: ir.Value) -> None:
            j0 = b.add(col_lo, b.mul(jb, _const(NC)))
            nc = _min(b, _const(NC), b.sub(col_hi, j0))

            def k_block(kb: ir.Value) -> None:
                k0 = b.mul(kb, _const(KC))
                kc = _min(b, _const(KC), b.sub(_const(self.K), k0))
                self.pack(b, bp, self.role.b, self.role.n, j0, nc, s.nr, k0, kc, f"{tag}.packb")

                def row_block(ib: ir.Value) -> None:
                    i0 = b.add(row_lo, b.mul(ib, _const(mc)))
                    rows = _min(b, _const(mc), b.sub(row_hi, i0))
                    if not direct:
                        self.copy_a(b, ap, i0, rows, k0, kc, f"{tag}.packa")

                    def column_panel(jp: ir.Value) -> None:
                        def row_panel(ip: ir.Value) -> None:
                            i = b.add(i0, b.mul(ip, _const(s.mr)))
                            j = b.add(j0, b.mul(jp, _const(s.nr)))
                            if direct:
                                self.ivs[self.role.m], self.ivs[self.role.k] = i, k0
                                a_panel = direct[1].address(b, self.ivs)
                            else:
                                at = b.mul(ip, _const(s.mr * A_STRIDE))
                                a_panel = b.gep(ap, [at], source_etype=self.elem)
                            b_panel = b.gep(
                                bp, [b.mul(jp, b.mul(kc, _const(s.nr)))], source_etype=self.elem
                            )
                            lda = _const(direct[2] if direct else A_STRIDE)
                            self.tile(b, layout, (a_panel, b_panel, kc, k0, lda), i, j)

                        emit_loop(
                            b,
                            _count(b, rows, s.mr),
                            row_panel,
                            f"{tag}.ir",
                        )

                    emit_loop(
                        b,
                        _count(b, nc, s.nr),
                        column_panel,
                        f"{tag}.jr",
                    )

                span = b.sub(row_hi, row_lo)
                emit_loop(b, _count(b, span, mc), row_block, f"{tag}.ic")

            emit_loop(b, _count(b, _const(self.K), KC), k_block, f"{tag}.pc")

        def batch_point() -> None:
            span = b.sub(col_hi, col_lo)
            emit_loop(b, _count(b, span, NC), column_block, f"{tag}.jc")

        sizes = [_const(x) for x in self.size]
        emit_nest(b, self.role.batch, sizes, self.ivs, batch_point, f"{tag}.batch")
        free = declare(module, "free", ir.VoidType(), [PTR])
        for buf in (ap, bp):
            if buf is not None:
                b.call(free, [buf])

    def copy_a(self, b, dst, i0, rows, k0, kc, tag) -> None:
        """dst[r][k] = A at (i0 + r, k0 + k): a row-major block, A_STRIDE elements per row, the
        loop order following the memory of what A is computed from."""
        ivs, role = self.ivs, self.role

        def element(r: ir.Value, k: ir.Value) -> None:
            ivs[role.m], ivs[role.k] = b.add(i0, r), b.add(k0, k)
            v = emit_factor(self.g, b, role.a, ivs)
            at = b.add(b.mul(r, _const(A_STRIDE)), k)
            b.store(v, b.gep(dst, [at], source_etype=self.elem))

        k_inner = self._k_inner(role.a, role.m)
        outer, inner = (rows, kc) if k_inner else (kc, rows)

        def line(o: ir.Value) -> None:
            emit_loop(b, inner, lambda q: element(o, q) if k_inner else element(q, o), f"{tag}.in")

        emit_loop(b, outer, line, f"{tag}.p")

    def pack(self, b, dst, value, dim, start, count, width, k0, kc, tag) -> None:
        """dst[p][k][w] = value at (dim = start + p*width + w, k = k0 + k) for the panels of
        `width` covering `count` indices from `start` (B's NR-column panels); zero past the end.
        The inner loop walks whichever of the two dims the factor's memory is contiguous along,
        and whole panels carry no bounds check, so the copy vectorizes."""
        ivs, k_dim = self.ivs, self.role.k
        zero = ir.Constant(self.elem, 0.0)
        last = b.add(start, b.sub(count, _const(1)))
        k_inner = self._k_inner(value, dim)

        def panel(p: ir.Value, guarded: bool) -> None:
            base = b.mul(p, b.mul(kc, _const(width)))
            first = b.add(start, b.mul(p, _const(width)))

            def element(w: ir.Value, k: ir.Value) -> None:
                i = b.add(first, w)
                inside = b.icmp_signed("<=", i, last) if guarded else None
                ivs[dim] = b.select(inside, i, last) if guarded else i
                ivs[k_dim] = b.add(k0, k)
                v = emit_factor(self.g, b, value, ivs)
                if guarded:
                    v = b.select(inside, v, zero)
                at = b.add(base, b.add(b.mul(k, _const(width)), w))
                b.store(v, b.gep(dst, [at], source_etype=self.elem))

            if k_inner:
                outer, inner = (_const(width), f"{tag}.w"), (kc, f"{tag}.k")
            else:
                outer, inner = (kc, f"{tag}.k"), (_const(width), f"{tag}.w")

            def row(o: ir.Value) -> None:
                def col(q: ir.Value) -> None:
                    element(o, q) if k_inner else element(q, o)

                emit_loop(b, inner[0], col, inner[1])

            emit_loop(b, outer[0], row, outer[1])

        def any_panel(p: ir.Value) -> None:
            whole = b.icmp_signed("<=", b.mul(b.add(p, _const(1)), _const(width)), count)
            with b.if_else(whole) as (then, otherwise):
                with then:
                    panel(p, False)
                with otherwise:
                    panel(p, True)

        emit_loop(b, _count(b, count, width), any_panel, f"{tag}.p")

    def _input(self, value, dim: int) -> tuple[_Matrix, list[int]] | None:
        """The input matrix factor `value` is, with its element strides along (dim, k), when it
        is one read in place with compile-time strides."""
        g = self.g
        block = g.op.regions[0].block
        if value not in block.args[: g.n_in]:
            return None
        k = block.args.index(value)
        dims = _bare_dims(g.maps[k])
        if dims is None:
            return None
        matrix = _Matrix(g.ins[k], dims)
        strides = matrix.strides([dim, self.role.k])
        return None if strides is None else (matrix, strides)

    def _k_inner(self, value, dim: int) -> bool:
        """Whether the inputs factor `value` is computed from are laid out more along k than
        along `dim` (each input with compile-time strides votes; without any: A says yes, as
        in row-major memory)."""
        g = self.g
        block = g.op.regions[0].block
        ops, _ = cone(g.op, value)
        votes = 0
        for k, arg in enumerate(block.args[: g.n_in]):
            if arg is not value and not any(arg in o.operands for o in ops):
                continue
            dims = _bare_dims(g.maps[k])
            strides = None if dims is None else _Matrix(g.ins[k], dims).strides([dim, self.role.k])
            # a broadcast input (stride 0 along one of them) says nothing about its memory
            if strides is not None and 0 not in strides and abs(strides[0]) != abs(strides[1]):
                votes += 1 if abs(strides[1]) < abs(strides[0]) else -1
        return votes > 0 if votes else dim == self.role.m

    def direct_a(self) -> tuple[str, _Matrix, int] | None:
        """(micro-kernel layout, matrix, leading dimension) when the kernel can read A in place:
        an input with unit stride along k or m. Copying A is a pass over it per column block,
        the largest overhead of a narrow product; the kernel's MR rows of A are MR streams that
        the L2 serves as well as a packed panel, unless rows ALIASING_BYTES apart all fall in
        the same L1 sets."""
        found = self._input(self.role.a, self.role.m)
        if found is None or min(found[1]) < 0:
            return None
        matrix, (s_m, s_k) = found
        layout, lda = ("rows", s_m) if s_k == 1 else ("cols", s_k) if s_m == 1 else (None, 0)
        if layout is None or lda * self.dtype.itemsize % ALIASING_BYTES == 0:
            return None
        return layout, matrix, lda

    def tile(self, b, layout: str, panels, i, j) -> None:
        """One MR x NR tile of C at (i, j), straight into C (the last rows by the kernel made for
        them, the last columns masked); the epilogue after the last k block."""
        s, ivs, role = self.s, self.ivs, self.role
        a_panel, b_panel, kc, k0, lda = panels
        module = self.g.fn.module
        accumulate = b.zext(b.icmp_signed(">", k0, _const(0)), I32)
        cols = _min(b, _const(s.nr), b.sub(_const(self.N), j))
        ivs[role.m], ivs[role.n] = i, j
        c = self.out.address(b, ivs)
        args = [kc, a_panel, b_panel, c, _const(self.ldc), accumulate, cols, lda]
        kernel = micro_kernel(module, self.dtype, s, None, layout)
        rest = self.M % s.mr
        if rest == 0:
            b.call(kernel, args)
        else:
            edge = micro_kernel(module, self.dtype, s, rest, layout)
            with b.if_else(b.icmp_signed("<=", b.add(i, _const(s.mr)), _const(self.M))) as (
                then,
                otherwise,
            ):
                with then:
                    b.call(kernel, args)
                with otherwise:
                    b.call(edge, args)
        if len(self.g.op.regions) == 2:
            rows = _min(b, _const(s.mr), b.sub(_const(self.M), i))
            with b.if_then(b.icmp_signed("==", b.add(k0, kc), _const(self.K))):

                def row(r: ir.Value) -> None:
                    def col(q: ir.Value) -> None:
                        ivs[role.m], ivs[role.n] = b.add(i, r), b.add(j, q)
                        dst, idx = self.out.buf, [ivs[d] for d in self.out.dims]
                        dst.store(b, idx, self.g.epilogue(b, ivs, [dst.load(b, idx)])[0])

                    emit_loop(b, cols, col, "epilogue.c")

                emit_loop(b, rows, row, "epilogue.r")
