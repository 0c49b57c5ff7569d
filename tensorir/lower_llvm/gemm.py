"""Matmul-shaped generics (`blas.match`) as packed panels through the generated micro-kernel.

The loops are Goto's and BLIS's: for each block of NC columns and KC reductions, the KC x NC
block of B is packed into NR-column panels (it stays in L3 and each panel in L1); for each
block of MC rows, the MC x KC block of A into MR-row panels (L2); then every MR x NR tile of C
is one call of the micro-kernel (`microkernel.py`). Packing reads each factor through its
indexing map, so transposed and strided inputs cost nothing extra, and a factor fusion computed
in the body (relu'(h) * g of a backward pass) is computed while packing, once per element.
Panels are padded with zeros: tiles on the edge of C go through a small tile buffer instead of
the kernel having edge cases. The epilogue (bias, activation, scale) runs on each tile right
after its last k block is stored, while the tile is in L1: there is no second pass over C.

Large products split their MR-row panels across the thread pool (`parallel.py`): each chunk
packs its own copy of B, which costs K x N reads against the chunk's M/threads x N x K FMAs.
"""

from __future__ import annotations

from llvmlite import ir

from .blas import _bare_dims, _Matrix, _Role, emit_factor, match
from .loops import PTR, GenericLowering, emit_loop, emit_nest
from .microkernel import Shape, micro_kernel, shape_for
from .parallel import MIN_WORK, Region, dispatch, operand_buffers, runtime_values
from .scalar import I32, I64, declare

KC = 256  # reductions per packed block: a KC x NR panel of B is 32 KiB, L1's size
MC_PANELS = 12  # MR-row panels per packed block of A: 144 x 256 float32, 144 KiB of L2
NC = 2048  # columns per packed block of B: 2 MiB of float32, in L3


def _const(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


def _min(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _blocks(n: int, size: int) -> ir.Constant:
    return _const(-(-n // size))


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
    s = shape_for(g.outs[0].dtype)
    m = size[role.m]
    panels = -(-m // s.mr)
    work = 2 * m * size[role.n] * size[role.k]
    if not threads or panels < 2 or work < MIN_WORK:
        _Tiles(g, role, size, strides[0], s).emit(fn.b, tag, _const(0), _const(m))
        return True
    bufs = operand_buffers(g, fn)
    captured = runtime_values(list(bufs.values()))
    region = Region(fn, f"{fn.fn.name}.{tag}.gemm", captured)
    region.buffers = {v: region.local(buf) for v, buf in bufs.items()}
    inner = region.lowering(g.op)
    rb = region.b
    lo = rb.mul(region.lo, _const(s.mr))
    hi = _min(rb, rb.mul(region.hi, _const(s.mr)), _const(m))
    _Tiles(inner, role, size, strides[0], s).emit(rb, tag, lo, hi)
    region.finish()
    per_panel = _const(s.mr * size[role.n] * size[role.k])
    dispatch(fn, region, captured, _const(panels), per_panel, 1, 1)
    return True


class _Tiles:
    """The packing loops and micro-kernel calls of one generic over a range of its rows."""

    def __init__(self, g: GenericLowering, role: _Role, size: list[int], ldc: int, s: Shape):
        self.g, self.role, self.size, self.ldc, self.s = g, role, size, ldc, s
        self.dtype = g.outs[0].dtype
        self.elem = ir.FloatType() if self.dtype.itemsize == 4 else ir.DoubleType()
        self.out = _Matrix(g.outs[0], _bare_dims(g.maps[g.n_in]))
        self.ivs: list = [_const(0)] * len(size)
        self.M, self.N, self.K = (size[d] for d in (role.m, role.n, role.k))

    def emit(self, b: ir.IRBuilder, tag: str, row_lo: ir.Value, row_hi: ir.Value) -> None:
        """C[row_lo:row_hi, :] for every batch index; row_lo is a multiple of MR."""
        s, module = self.s, self.g.fn.module
        kc_max = min(KC, self.K)
        nc_max = -(-min(NC, self.N) // s.nr) * s.nr
        alloc = declare(module, "aligned_alloc", PTR, [I64, I64])
        item = self.dtype.itemsize
        ap = b.call(alloc, [_const(64), _const(MC_PANELS * s.mr * kc_max * item)])
        bp = b.call(alloc, [_const(64), _const(nc_max * kc_max * item)])
        kernel = micro_kernel(module, self.dtype, s)
        mc = MC_PANELS * s.mr

        def column_block(jb: ir.Value) -> None:
            j0 = b.mul(jb, _const(NC))
            nc = _min(b, _const(NC), b.sub(_const(self.N), j0))

            def k_block(kb: ir.Value) -> None:
                k0 = b.mul(kb, _const(KC))
                kc = _min(b, _const(KC), b.sub(_const(self.K), k0))
                self.pack(b, bp, self.role.b, self.role.n, j0, nc, s.nr, k0, kc, f"{tag}.packb")

                def row_block(ib: ir.Value) -> None:
                    i0 = b.add(row_lo, b.mul(ib, _const(mc)))
                    rows = _min(b, _const(mc), b.sub(row_hi, i0))
                    self.pack(
                        b, ap, self.role.a, self.role.m, i0, rows, s.mr, k0, kc, f"{tag}.packa"
                    )

                    def column_panel(jp: ir.Value) -> None:
                        def row_panel(ip: ir.Value) -> None:
                            i = b.add(i0, b.mul(ip, _const(s.mr)))
                            j = b.add(j0, b.mul(jp, _const(s.nr)))
                            a_panel = b.gep(
                                ap, [b.mul(ip, b.mul(kc, _const(s.mr)))], source_etype=self.elem
                            )
                            b_panel = b.gep(
                                bp, [b.mul(jp, b.mul(kc, _const(s.nr)))], source_etype=self.elem
                            )
                            self.tile(b, kernel, (a_panel, b_panel, kc, k0), i, j)

                        emit_loop(
                            b,
                            b.udiv(b.add(rows, _const(s.mr - 1)), _const(s.mr)),
                            row_panel,
                            f"{tag}.ir",
                        )

                    emit_loop(
                        b,
                        b.udiv(b.add(nc, _const(s.nr - 1)), _const(s.nr)),
                        column_panel,
                        f"{tag}.jr",
                    )

                span = b.sub(row_hi, row_lo)
                emit_loop(
                    b, b.udiv(b.add(span, _const(mc - 1)), _const(mc)), row_block, f"{tag}.ic"
                )

            emit_loop(b, _blocks(self.K, KC), k_block, f"{tag}.pc")

        def batch_point() -> None:
            emit_loop(b, _blocks(self.N, NC), column_block, f"{tag}.jc")

        sizes = [_const(x) for x in self.size]
        emit_nest(b, self.role.batch, sizes, self.ivs, batch_point, f"{tag}.batch")
        free = declare(module, "free", ir.VoidType(), [PTR])
        b.call(free, [ap])
        b.call(free, [bp])

    def pack(self, b, dst, value, dim, start, count, width, k0, kc, tag) -> None:
        """dst[p][k][w] = value at (dim = start + p*width + w, k = k0 + k) for the panels of
        `width` covering `count` indices from `start`; zero past the end. The inner loop walks
        whichever of the two dims the factor's memory is contiguous along, and whole panels
        carry no bounds check, so the copy vectorizes."""
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

        emit_loop(b, b.udiv(b.add(count, _const(width - 1)), _const(width)), any_panel, f"{tag}.p")

    def _k_inner(self, value, dim: int) -> bool:
        """Whether the factor `value` is read with a smaller stride along k than along `dim`
        (unknown strides: A, which runs along k in row-major memory, says yes)."""
        g = self.g
        block = g.op.regions[0].block
        if value in block.args[: g.n_in]:
            k = block.args.index(value)
            dims = _bare_dims(g.maps[k])
            if dims is not None:
                strides = _Matrix(g.ins[k], dims).strides([dim, self.role.k])
                if strides is not None:
                    return abs(strides[1]) < abs(strides[0])
        return dim == self.role.m

    def tile(self, b, kernel, panels, i, j) -> None:
        """One MR x NR tile of C at (i, j), straight into C (the last rows by the kernel made for
        them, the last columns masked); the epilogue after the last k block."""
        s, ivs, role = self.s, self.ivs, self.role
        a_panel, b_panel, kc, k0 = panels
        accumulate = b.zext(b.icmp_signed(">", k0, _const(0)), I32)
        cols = _min(b, _const(s.nr), b.sub(_const(self.N), j))
        ivs[role.m], ivs[role.n] = i, j
        args = [kc, a_panel, b_panel, self.out.address(b, ivs), _const(self.ldc), accumulate, cols]
        rest = self.M % s.mr
        if rest == 0:
            b.call(kernel, args)
        else:
            edge = micro_kernel(self.g.fn.module, self.dtype, s, rest)
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
