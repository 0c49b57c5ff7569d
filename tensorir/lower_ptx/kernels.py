"""A generalized function -> one GPU kernel per `tir.generic`, as an LLVM module.

Every kernel takes the same parameters: the inputs, the outputs, the workspace holding the
intermediates (placed by the CPU backend's memory plan; kernels run in order on one stream, so
its reuse of dead bytes holds) and an i32 error word. The parallel dims of the loop domain are
flattened and walked by a grid-stride loop, the last dim fastest so that neighbouring threads
touch neighbouring elements; each thread computes whole output points, looping over the
reduction dims with its accumulators in registers. The scalar body is the CPU backend's, emitted
through the same `s.*` table; only the math calls differ (see target.py).

The same builder has a host mode for emulation: thread and block ids become parameters, a
driver function walks the grid and the block, and every memory access is bounds-checked against
its buffer, so an indexing bug of any kernel shows on a machine without a GPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from llvmlite import ir

from ..ir import affine as A
from ..ir import types as T
from ..ir.core import BlockArgument, Function, Operation, OpResult, Value
from ..ir.ops_tensor import is_pointwise
from ..lower_llvm.blas import match
from ..lower_llvm.buffers import Buffer, contiguous, splat
from ..lower_llvm.loops import GenericLowering, emit_loop, emit_nest
from ..lower_llvm.memplan import MemoryPlan, plan
from ..lower_llvm.rows import row_groups
from ..lower_llvm.scalar import EMIT, I8, I32, I64, Ctx, declare, ll_type
from .blocks import ColumnKernel, RowKernel, column_reduction
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
from .matmul import MatmulKernel
from .split import SplitReduction, split_parts
from .target import PTX_TRIPLE

GLOBAL = 1  # NVPTX address space of global memory
SREGS = ("tid.x", "ntid.x", "ctaid.x", "nctaid.x")  # thread, block size, block, grid size


@dataclass
class KernelInfo:
    """One kernel: its name, the points of its parallel domain, the threads computing each
    point (1, a warp for a reduction along contiguous memory, or a block for a row kernel) and
    the ops it computes."""

    name: str
    points: int
    lanes: int
    what: str
    block: int = 0  # threads per block the kernel needs (a row kernel's), or 0: any

    @property
    def threads(self) -> int:
        """Threads the launch needs for one pass over the domain."""
        return self.points * self.lanes


@dataclass
class KernelModule:
    """The kernels of a function in launch order, with what a runtime needs to run them."""

    module: ir.Module
    kernels: list[KernelInfo]
    plan: MemoryPlan
    errors: list[str]
    in_types: list[T.TensorType]
    out_types: list[T.TensorType]
    shadow_bytes: int  # write counts the emulator keeps (a byte per output and workspace byte)
    workspace_bytes: int  # the memory plan's arena and the kernels' scratch space


class CheckedBuffer(Buffer):
    """A buffer whose every access reports an error when it falls outside its `nbytes`, and,
    given a `shadow` (a byte per byte of the buffer, zeroed before each launch), whose every
    element reports an error when a launch writes it twice: two threads computing one point."""

    def __init__(
        self,
        buf: Buffer,
        nbytes: int,
        report: Callable[[str, ir.Value], None],
        what: str,
        shadow: ir.Value | None = None,
    ):
        super().__init__(buf.ptr, buf.dtype, buf.shape, buf.strides)
        self.nbytes, self.report, self.what, self.shadow = nbytes, report, what, shadow

    def offset(self, b: ir.IRBuilder, idx: list[ir.Value]) -> tuple[ir.Value, ir.Value]:
        """The address of element `idx` and its byte offset, checked against the bounds."""
        addr = super().address(b, idx)
        offset = b.sub(b.ptrtoint(addr, I64), b.ptrtoint(self.ptr, I64))
        last = ir.Constant(I64, self.nbytes - self.dtype.itemsize)
        self.report(f"out-of-bounds access of {self.what}", b.icmp_unsigned(">", offset, last))
        return addr, offset

    def address(self, b: ir.IRBuilder, idx: list[ir.Value]) -> ir.Value:
        return self.offset(b, idx)[0]

    def store(self, b: ir.IRBuilder, idx: list[ir.Value], v: ir.Value) -> None:
        if self.shadow is not None:
            _, offset = self.offset(b, idx)
            count = b.gep(self.shadow, [offset], source_etype=I8)
            old = b.load(count, typ=I8)
            self.report(
                f"two threads wrote one element of {self.what} in a launch",
                b.icmp_unsigned("!=", old, ir.Constant(I8, 0)),
            )
            b.store(b.add(old, ir.Constant(I8, 1)), count)
        super().store(b, idx, v)


class _KernelLowering:
    """Builds one kernel; the `fn_ctx` GenericLowering needs (alloca, module, buffers, report)."""

    fastmath: tuple[str, ...] = ()  # `jit(fastmath=)` is for the CPU: kernels round as numpy

    def __init__(self, owner: _ModuleLowering, name: str):
        self.owner, self.module = owner, owner.module
        addr = 0 if owner.host else GLOBAL
        ptr = ir.PointerType(addrspace=addr)
        n_ptrs = len(owner.f.args) + len(owner.f.type.results) + 2
        # on the host: the thread ids, then the write-count shadow of outputs and workspace
        ids = [*[I32] * len(SREGS), ir.PointerType()] if owner.host else []
        self.fn = ir.Function(
            self.module, ir.FunctionType(ir.VoidType(), ids + [ptr] * n_ptrs), name
        )
        if owner.host:
            self.fn.linkage = "internal"
        else:
            self.fn.calling_convention = "ptx_kernel"
        self.fn.attributes.add("nounwind")
        params = list(self.fn.args)[len(ids) :]
        # every pointer is its own allocation (or only read, as an input passed twice), which
        # lets the backend keep values in registers and read inputs through the read-only cache
        for p in params:
            p.add_attribute("noalias")
        self.ids = list(self.fn.args)[: len(SREGS)]
        self.shadow = self.fn.args[len(SREGS)] if owner.host else None
        n_in = len(owner.f.args)
        self.ins, self.outs = params[:n_in], params[n_in:-2]
        self.workspace, self.err = params[-2], params[-1]
        self.allocas = self.fn.append_basic_block("allocas")
        self.alloca_builder = ir.IRBuilder(self.allocas)
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.buffers: dict[Value, Buffer] = {}

    def alloca(self, ty: ir.Type) -> ir.Value:
        return self.alloca_builder.alloca(ty)

    def report(self, op: Operation, failed: ir.Value) -> None:
        where = f" (at {op.loc})" if op.loc else ""
        self.fail(f"index out of bounds for an axis of size {op.attrs['size']}{where}", failed)

    def fail(self, message: str, failed: ir.Value) -> None:
        """Record error `message` when `failed` holds; the first error of a launch sticks."""
        errors = self.owner.errors
        if message not in errors:
            errors.append(message)
        code = ir.Constant(I32, errors.index(message) + 1)
        with self.b.if_then(failed, likely=False):
            self.b.cmpxchg(self.err, ir.Constant(I32, 0), code, "monotonic", "monotonic")

    def buffer_of(self, v: Value) -> Buffer:
        buf = self.buffers.get(v)
        if buf is None:
            buf = self.buffers[v] = self._make_buffer(v)
        return buf

    def _make_buffer(self, v: Value) -> Buffer:
        # in the first block, so that every later use is dominated wherever the first one is
        o, b = self.owner, self.alloca_builder
        if isinstance(v, BlockArgument):
            k = v.index
            buf, nbytes, what = contiguous(self.ins[k], v.type), _nbytes(v.type), f"input {k}"
        elif v.owner.name == "tir.constant":
            g, attr = o.constant(v.owner)
            buf = splat(g, attr.type) if attr.splat else contiguous(g, attr.type)
            nbytes, what = attr.array.nbytes, "a constant"
        else:
            c = o.plan.cls[v]
            if c in o.plan.output:
                k = o.plan.output[c]
                buf, what = contiguous(self.outs[k], v.type), f"output {k}"
                nbytes, shadow_at = _nbytes(o.f.type.results[k]), o.shadow_offsets[k]
            else:
                offset = o.plan.offset[c]
                ptr = b.gep(self.workspace, [ir.Constant(I64, offset)], source_etype=I8)
                buf, nbytes, what = contiguous(ptr, v.type), o.plan.nbytes[c], "an intermediate"
                shadow_at = o.shadow_offsets[-2] + offset  # the last is the total
            if o.host:
                shadow = b.gep(self.shadow, [ir.Constant(I64, shadow_at)], source_etype=I8)
                return CheckedBuffer(buf, nbytes, self.fail, what, shadow)
        return CheckedBuffer(buf, nbytes, self.fail, what) if o.host else buf

    def thread_ids(self) -> list[ir.Value]:
        """(thread, block size, block, grid size) along x, as i64."""
        if self.owner.host:
            regs = self.ids
        else:
            regs = [
                self.b.call(declare(self.module, f"llvm.nvvm.read.ptx.sreg.{r}", I32, []), [])
                for r in SREGS
            ]
        return [self.b.zext(r, I64) for r in regs]

    def grid_stride(
        self, sizes: list[int], body: Callable[[list[ir.Value]], None], lanes: int = 1
    ) -> None:
        """body(indices) for every point of a domain of `sizes`, `lanes` consecutive threads per
        point, the thread groups of the whole grid striding over the flattened domain."""
        b = self.b
        tid, ntid, ctaid, nctaid = self.thread_ids()
        width = ir.Constant(I64, lanes)
        start = b.udiv(b.add(b.mul(ctaid, ntid), tid), width)
        step = b.udiv(b.mul(nctaid, ntid), width)

        def point(lin: ir.Value) -> None:
            body(unflatten(b, lin, sizes))

        emit_loop(b, ir.Constant(I64, math.prod(sizes)), point, "grid", start, step)

    def finish(self) -> None:
        self.b.ret_void()
        self.alloca_builder.branch(self.fn.blocks[1])

    def lowering(self, op: Operation) -> GenericLowering:
        """The scalar lowering of generic `op` over this kernel's buffers."""
        n_in = op.attrs["num_inputs"]
        ins = [self.buffer_of(v) for v in op.operands[:n_in]]
        inits = [self.buffer_of(v) for v in op.operands[n_in:]]
        outs = [self.buffer_of(r) for r in op.results]
        return GenericLowering(op, ins, inits, outs, self)

    def generic(self, op: Operation) -> tuple[int, int]:
        """Emit the kernel of generic `op`; returns the points of its parallel domain and the
        threads that compute each point."""
        gl = self.lowering(op)
        n_in = gl.n_in
        inits = gl.inits
        iters = gl.iters
        sizes = [int(s.constant) for s in gl.sizes()]
        par = [d for d, it in enumerate(iters) if it == "parallel"]
        red = [d for d, it in enumerate(iters) if it == "reduction"]
        block = op.regions[0].block
        acc_args = block.args[n_in:]
        out_maps = gl.maps[n_in:]
        # accumulating results live in registers over the reduction; side outputs (pointwise
        # maps) are stored at every point
        slots = [
            self.alloca(ll_type(a.type)) if red and not is_pointwise(m) else None
            for a, m in zip(acc_args, out_maps, strict=True)
        ]
        b = self.b
        ivs: list = [None] * len(iters)

        accumulating = [k for k, s in enumerate(slots) if s is not None]

        def step() -> None:
            emit_point(b, gl, ivs, slots)

        def point(idx: list[ir.Value]) -> None:
            for d, i in zip(par, idx, strict=True):
                ivs[d] = i
            if not red:
                step()
                return
            for k in accumulating:
                b.store(inits[k].load(b, result_index(b, gl, ivs, k)), slots[k])
            emit_nest(b, red, [ir.Constant(I64, n) for n in sizes], ivs, step, "red")
            store_results(b, gl, ivs, accumulating, [b.load(slots[k]) for k in accumulating])

        points = math.prod(sizes[d] for d in par)
        combiners = _warp_combiners(gl, red)
        if combiners is None:
            self.grid_stride([sizes[d] for d in par], point)
            self.finish()
            return points, 1
        ctx = Ctx(b, self.module, ivs, self.buffer_of, self.report, gl.combiners)
        warp = _WarpReduction(
            self, [combiners[k] for k in accumulating], ctx, [slots[k] for k in accumulating]
        )
        red_sizes = [sizes[d] for d in red]
        lane = self._lane()

        def lane_partial(this_lane: ir.Value) -> None:
            """A lane's share of the reduction: points lane, lane + 32, ... of the flattened
            reduction domain, accumulated from the combiners' identities."""
            for k in accumulating:
                b.store(identity(combiners[k], slots[k].allocated_type), slots[k])

            def red_point(r: ir.Value) -> None:
                for d, i in zip(red, unflatten(b, r, red_sizes), strict=True):
                    ivs[d] = i
                step()

            total = ir.Constant(I64, math.prod(red_sizes))
            emit_loop(b, total, red_point, "red", this_lane, ir.Constant(I64, WARP))

        def warp_point(idx: list[ir.Value]) -> None:
            for d, i in zip(par, idx, strict=True):
                ivs[d] = i
            totals = warp.reduce(lane_partial, lane)
            finals = [
                warp.combine(combiners[k], inits[k].load(b, result_index(b, gl, ivs, k)), t)
                for k, t in zip(accumulating, totals, strict=True)
            ]
            if self.owner.host:  # the emulated warp is past its lanes: lane 0 is implied
                store_results(b, gl, ivs, accumulating, finals)
                return
            with b.if_then(b.icmp_unsigned("==", lane, ir.Constant(I64, 0))):
                store_results(b, gl, ivs, accumulating, finals)

        self.grid_stride([sizes[d] for d in par], warp_point, WARP)
        self.finish()
        return points, WARP

    def _lane(self) -> ir.Value:
        """The thread's lane in its warp (on the host, the warp's first lane: lanes are loops)."""
        tid = self.thread_ids()[0]
        return self.b.urem(tid, ir.Constant(I64, WARP))

    def copy(self, src: Value, k: int) -> tuple[int, int]:
        """Emit a kernel copying `src` into output k; returns its points and threads per point."""
        t = src.type
        o = self.owner
        dst = contiguous(self.outs[k], t)
        if o.host:
            shadow = self.b.gep(
                self.shadow, [ir.Constant(I64, o.shadow_offsets[k])], source_etype=I8
            )
            dst = CheckedBuffer(dst, _nbytes(t), self.fail, f"output {k}", shadow)
        srcbuf = self.buffer_of(src)
        self.grid_stride(list(t.shape), lambda i: dst.store(self.b, i, srcbuf.load(self.b, i)))
        self.finish()
        return t.size, 1


class _ModuleLowering:
    def __init__(self, f: Function, host: bool, name: str):
        for t in [*f.type.inputs, *f.type.results]:
            if not t.is_static:
                raise NotImplementedError(f"the GPU backend needs static shapes, got {t}")
        self.f, self.host, self.name = f, host, name
        self.module = ir.Module(name=name)
        if not host:
            self.module.triple = PTX_TRIPLE
        self.groups = row_groups(f.body.ops)
        self.plan = plan(f, [members for members, _ in self.groups])
        # where each output's, then the workspace's, write counts start in the shadow
        sizes = [_nbytes(t) for t in f.type.results] + [self.plan.arena_bytes]
        self.shadow_offsets = [sum(sizes[:k]) for k in range(len(sizes) + 1)]
        self.errors: list[str] = []
        # the memory plan's arena, then scratch space the kernels need (split reductions)
        self.workspace_bytes = -(-self.plan.arena_bytes // 64) * 64
        self.constants: dict[Operation, tuple[ir.GlobalVariable, object]] = {}

    def constant(self, op: Operation):
        """The global holding constant `op`'s bytes, and its attribute."""
        if op not in self.constants:
            attr = op.attrs["value"]
            raw = attr.array.astype(attr.array.dtype.newbyteorder("<")).tobytes()
            ty = ir.ArrayType(ir.IntType(8), len(raw))
            name = f"const{len(self.constants)}"
            g = ir.GlobalVariable(self.module, ty, name, addrspace=0 if self.host else GLOBAL)
            g.global_constant, g.linkage, g.align = True, "private", 64
            g.initializer = ir.Constant(ty, bytearray(raw))
            self.constants[op] = (g, attr)
        return self.constants[op]

    def lower(self) -> KernelModule:
        f = self.f
        kernels = []
        grouped = {op: g for g in self.groups for op in g[0]}
        for n, op in enumerate(f.body.ops):
            if op.name in ("func.return", "tir.constant", "tir.empty"):
                continue
            if op.name != "tir.generic":
                raise NotImplementedError(
                    f"the GPU backend cannot lower {op.name}; generalize first"
                )
            name = f"{self.name}_k{n}"
            if op in grouped:
                members, rows = grouped[op]
                if op is members[0]:
                    points, block = RowKernel(_KernelLowering(self, name), members, rows).lower()
                    what = "rows: " + "; ".join(_describe(m) for m in members)
                    kernels.append(KernelInfo(name, points, block, what, block))
                continue
            parts = split_parts(op)
            if parts > 1:
                r = SplitReduction(op, parts, self.workspace_bytes)
                self.workspace_bytes += r.scratch_bytes()
                names = [f"{name}_partials", f"{name}_fold"]
                kls = [_KernelLowering(self, n) for n in names]
                (p1, t1), (p2, t2) = r.kernels(*kls)
                kernels.append(
                    KernelInfo(names[0], p1, t1, f"{parts} parts of " + _describe(op), t1)
                )
                kernels.append(KernelInfo(names[1], p2, t2, "fold the parts"))
                continue
            if _takes_columns(op):
                points, block = ColumnKernel(_KernelLowering(self, name), op).lower()
                kernels.append(KernelInfo(name, points, block, "columns " + _describe(op), block))
                continue
            if match(op) is not None:
                points, block = MatmulKernel(_KernelLowering(self, name), op).lower()
                kernels.append(KernelInfo(name, points, block, "tiled " + _describe(op), block))
                continue
            points, lanes = _KernelLowering(self, name).generic(op)
            kernels.append(KernelInfo(name, points, lanes, _describe(op)))
        for v, k in self.plan.copies:
            name = f"{self.name}_copy{k}"
            kernels.append(KernelInfo(name, *_KernelLowering(self, name).copy(v, k), "copy"))
        if self.host:
            for info in kernels:
                self.driver(info.name, info.lanes)
        return KernelModule(
            self.module,
            kernels,
            self.plan,
            self.errors,
            list(f.type.inputs),
            list(f.type.results),
            self.shadow_offsets[-1] if self.host else 0,
            self.workspace_bytes,
        )

    def driver(self, name: str, lanes: int) -> None:
        """`void <name>_grid(i32 grid, i32 block, ptr shadow, ptr...)`: the kernel run for
        every block and every thread of the launch, one after the other (emulation); a kernel
        whose points take a warp each runs once per warp, looping over its lanes itself."""
        kernel = self.module.globals[name]
        ptrs = kernel.function_type.args[len(SREGS) :]  # the shadow, then the kernel's
        fnty = ir.FunctionType(ir.VoidType(), [I32, I32, *ptrs])
        fn = ir.Function(self.module, fnty, f"{name}_grid")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        grid, block, *args = fn.args

        def per_block(bid: ir.Value) -> None:
            def per_thread(tid: ir.Value) -> None:
                ids = [b.trunc(tid, I32), block, b.trunc(bid, I32), grid]
                b.call(kernel, [*ids, *args])

            n = b.udiv(b.zext(block, I64), ir.Constant(I64, lanes))
            emit_loop(b, n, lambda w: per_thread(b.mul(w, ir.Constant(I64, lanes))), "thread")

        emit_loop(b, b.zext(grid, I64), per_block, "block")
        b.ret_void()


def _takes_columns(op: Operation) -> bool:
    """Whether reduction `op` takes a column kernel: no warp per point suits it (its reduction
    does not run along contiguous memory) and it has few, long reductions."""
    if not column_reduction(op):
        return False
    gl = GenericLowering(op, [], [], [], None)
    return _warp_combiners(gl, [d for d, it in enumerate(gl.iters) if it == "reduction"]) is None


def _warp_combiners(gl: GenericLowering, red: list[int]) -> list | None:
    """The combiner op of each result when a warp should compute each point, else None.

    A warp pays off when the reduction walks contiguous memory (each input read along a
    reduction dim has one as its innermost index): its lanes then read neighbouring elements.
    Every accumulating result must go through a reassociable combiner (add, mul, max, min), so
    lanes may sum their shares separately; argmax-like bodies keep one thread per point. Side
    outputs (written at every point) are None: the lane owning a point writes them."""
    if not red:
        return None
    maps, n_in = gl.maps, gl.n_in
    reads_along_red = False
    for m in maps[:n_in]:
        dims = {e.pos for e in m.results if isinstance(e, A.Dim)}
        if not dims & set(red):
            continue
        last = m.results[-1]
        if not (isinstance(last, A.Dim) and last.pos in red):
            return None
        reads_along_red = True
    block = gl.op.regions[0].block
    found = []
    for k, v in enumerate(block.ops[-1].operands):
        if is_pointwise(maps[n_in + k]):
            found.append(None)
        elif isinstance(v, OpResult) and v.op in gl.combiners:
            found.append(v.op)
        else:
            return None
    return found if reads_along_red else None


class _WarpReduction:
    """Combining the lanes' partial accumulators into the warp's total: a butterfly of
    shuffles on the GPU; on the host the same butterfly over an array of the lanes' values, so
    both add the partials in the same order."""

    def __init__(self, kl: _KernelLowering, combiners: list[Operation], ctx: Ctx, slots):
        self.kl, self.combiners, self.ctx, self.slots = kl, combiners, ctx, slots

    def combine(self, c: Operation, x: ir.Value, y: ir.Value) -> ir.Value:
        return EMIT[c.name](self.ctx, [x, y], c)

    def reduce(self, lane_partial: Callable[[ir.Value], None], lane: ir.Value) -> list[ir.Value]:
        """The warp totals of the accumulators, lane_partial(lane) filling this lane's slots."""
        b = self.kl.b
        if not self.kl.owner.host:
            lane_partial(lane)
            vals = [b.load(s) for s in self.slots]
            for off in BUTTERFLY:
                vals = [
                    self.combine(c, v, shuffle(b, self.kl.module, v, off))
                    for c, v in zip(self.combiners, vals, strict=True)
                ]
            return vals
        arrays = [
            [self.kl.alloca(ir.ArrayType(s.allocated_type, WARP)) for _ in range(2)]
            for s in self.slots
        ]

        def at(arr: ir.Value, i: ir.Value) -> ir.Value:
            return b.gep(arr, [ir.Constant(I64, 0), i], inbounds=True)

        def one_lane(i: ir.Value) -> None:
            lane_partial(i)
            for s, (arr, _) in zip(self.slots, arrays, strict=True):
                b.store(b.load(s), at(arr, i))

        emit_loop(b, ir.Constant(I64, WARP), one_lane, "lane")
        for level, off in enumerate(BUTTERFLY):

            def butterfly(i: ir.Value, level=level, off=off) -> None:
                partner = b.xor(i, ir.Constant(I64, off))
                for c, pair in zip(self.combiners, arrays, strict=True):
                    old, new = pair[level % 2], pair[1 - level % 2]
                    v = self.combine(c, b.load(at(old, i)), b.load(at(old, partner)))
                    b.store(v, at(new, i))

            emit_loop(b, ir.Constant(I64, WARP), butterfly, "shfl")
        last = len(BUTTERFLY) % 2
        return [b.load(at(pair[last], ir.Constant(I64, 0))) for pair in arrays]


def _nbytes(t: T.TensorType) -> int:
    return t.size * t.dtype.itemsize


def _describe(op: Operation) -> str:
    iters = op.attrs["iterator_types"]
    body = [o.name for o in op.regions[0].block.ops[:-1]]
    return f"generic[{','.join(i[0] for i in iters)}] {' '.join(body)}"


def lower_kernels(f: Function, host: bool = False, name: str | None = None) -> KernelModule:
    """GPU kernels for generalized function `f`: NVPTX (`host=False`) or emulated on the CPU;
    kernel names start with `name` (default: the function's)."""
    return _ModuleLowering(f, host, name or f.sym_name).lower()
