"""A generalized function -> one LLVM function, the native entry point of a jitted function.

Calling convention: `i32 f(PyArrayObject *in0, ..., PyArrayObject *out0, ...)`. The entry reads
each array's data pointer (and, only where the compiler lacks them, its sizes and byte strides)
straight from numpy's object layout, so a call costs one ctypes call and no argument packing.
Outputs are C-contiguous arrays the caller allocates. The return value is 0, or 1 + the index
of a run-time error (an out-of-bounds gather index) in `Lowered.errors`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from llvmlite import ir

from ..ir import types as T
from ..ir.core import Function, Operation, Value
from . import blas, gemm, parallel, parallel_runtime
from .buffers import Buffer, contiguous, splat
from .loops import GenericLowering, emit_nest
from .memplan import MemoryPlan, plan
from .pyarray import ARRAY_DATA, ARRAY_DIMS, ARRAY_STRIDES
from .rows import lower_rows, row_groups
from .scalar import I8, I32, I64, declare
from .vecmath import keep_vector_declarations

PTR = ir.PointerType()
MATMUL_CHOICES = ("auto", "kernel", "blas", "loops")
FASTMATH_FLAGS = ("nnan", "ninf", "nsz", "arcp", "contract", "afn", "reassoc")
# what fastmath=True means: NaN and infinity keep their meaning, unlike Numba's "fast"
FASTMATH_DEFAULT = ("reassoc", "contract", "arcp", "nsz")


def fastmath_flags(fastmath) -> tuple[str, ...]:
    """The LLVM fast-math flags a `fastmath=` option asks for.

    >>> fastmath_flags(True), fastmath_flags(False), fastmath_flags({"nnan", "arcp"})
    (('reassoc', 'contract', 'arcp', 'nsz'), (), ('arcp', 'nnan'))
    """
    if fastmath is None or isinstance(fastmath, bool):
        return FASTMATH_DEFAULT if fastmath else ()
    names = fastmath if isinstance(fastmath, Iterable) and not isinstance(fastmath, str) else None
    if names is None or not all(isinstance(f, str) for f in names):
        raise TypeError(f"fastmath must be a bool or a set of flag names, got {fastmath!r}")
    unknown = sorted(set(fastmath) - set(FASTMATH_FLAGS))
    if unknown:
        raise ValueError(f"fastmath: unknown flags {unknown}; the flags are {FASTMATH_FLAGS}")
    return tuple(sorted(set(fastmath)))


@dataclass
class Lowered:
    """An LLVM module holding entry `name`, with what the caller needs to run it."""

    module: ir.Module
    name: str
    errors: list[str]
    plan: MemoryPlan


class _FunctionLowering:
    def __init__(
        self,
        f: Function,
        name: str,
        contiguous_args: list[bool],
        matmul: str,
        threads: bool,
        fastmath: tuple[str, ...] = (),
    ):
        self.f = f
        self.matmul, self.threads, self.fastmath = matmul, threads, fastmath
        self.module = ir.Module(name=name)
        n_res = len(f.type.results)
        fnty = ir.FunctionType(I32, [PTR] * (len(f.args) + n_res))
        self.fn = ir.Function(self.module, fnty, name)
        self.fn.attributes.add("nounwind")
        # accumulators live in zmm registers that a vector-math call clobbers, so they are
        # spilled around it; 64-byte-aligned spill slots keep the reload store-forwarded
        # (a misaligned slot made a fused exp-and-sum loop 3x slower, depending on the caller)
        self.fn.attributes.alignstack = 64
        # stack slots go in their own first block, so mem2reg promotes them to registers
        self.allocas = self.fn.append_basic_block("allocas")
        self.b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.alloca_builder = ir.IRBuilder(self.allocas)
        self.buffers: dict[Value, Buffer] = {}
        self.errors: list[str] = []
        self.contiguous_args = contiguous_args
        self.err = self.alloca(I32)
        self.b.store(ir.Constant(I32, 0), self.err)

    def alloca(self, ty: ir.Type) -> ir.Value:
        """A stack slot, allocated once per call."""
        return self.alloca_builder.alloca(ty)

    def buffer_of(self, v: Value) -> Buffer:
        return self.buffers[v]

    def report(self, op: Operation, failed: ir.Value) -> None:
        """Record a run-time error of `op` when `failed` holds; the first error code sticks."""
        self.report_into(self.b, self.err, op, failed)

    def report_into(self, b: ir.IRBuilder, slot: ir.Value, op: Operation, failed: ir.Value):
        """`report` with the error code kept in `slot` (an outlined parallel loop has its own)."""
        where = f" (at {op.loc})" if op.loc else ""
        self.errors.append(f"index out of bounds for an axis of size {op.attrs['size']}{where}")
        code = ir.Constant(I32, len(self.errors))
        old = b.load(slot)
        first = b.and_(failed, b.icmp_signed("==", old, ir.Constant(I32, 0)))
        b.store(b.select(first, code, old), slot)

    def array_buffer(self, obj: ir.Value, t: T.TensorType, is_contiguous: bool) -> Buffer:
        b = self.b
        data = b.load(b.gep(obj, [ir.Constant(I64, ARRAY_DATA)], source_etype=I8), typ=PTR)
        dims_ptr = strides_ptr = None
        if not t.is_static:
            dims_ptr = b.load(b.gep(obj, [ir.Constant(I64, ARRAY_DIMS)], source_etype=I8), typ=PTR)
        shape = [
            ir.Constant(I64, d)
            if d is not None
            else b.load(b.gep(dims_ptr, [ir.Constant(I64, i)], source_etype=I64), typ=I64)
            for i, d in enumerate(t.shape)
        ]
        if is_contiguous and t.is_static:
            return contiguous(data, t)
        strides_ptr = b.load(
            b.gep(obj, [ir.Constant(I64, ARRAY_STRIDES)], source_etype=I8), typ=PTR
        )
        strides = [
            b.load(b.gep(strides_ptr, [ir.Constant(I64, i)], source_etype=I64), typ=I64)
            for i in range(t.rank)
        ]
        return Buffer(data, t.dtype, shape, strides)

    def constant_buffer(self, op: Operation) -> Buffer:
        attr = op.attrs["value"]
        raw = attr.array.astype(attr.array.dtype.newbyteorder("<")).tobytes()
        arr_ty = ir.ArrayType(I8, len(raw))
        g = ir.GlobalVariable(self.module, arr_ty, name=f"const{len(self.module.globals)}")
        g.global_constant = True
        g.linkage = "private"
        g.align = 64
        g.initializer = ir.Constant(arr_ty, bytearray(raw))
        return splat(g, attr.type) if attr.splat else contiguous(g, attr.type)

    def lower(self) -> Lowered:
        f, b = self.f, self.b
        params = list(self.fn.args)
        groups = row_groups(f.body.ops)
        p = self.plan = plan(f, [members for members, _ in groups])
        grouped = {op: members for members, _ in groups for op in members}
        scopes = _AliasScopes(self.module, p, len(f.type.results))
        for a, obj, c in zip(f.args, params[: len(f.args)], self.contiguous_args, strict=True):
            self.buffers[a] = scopes.tag(self.array_buffer(obj, a.type, c), "in")
        outs = params[len(f.args) :]
        workspace = self.take_workspace(p.arena_bytes) if p.arena_bytes else None

        def class_buffer(v: Value) -> Buffer:
            c = p.cls[v]
            if c in p.output:
                k = p.output[c]
                data = b.load(
                    b.gep(outs[k], [ir.Constant(I64, ARRAY_DATA)], source_etype=I8), typ=PTR
                )
                return scopes.tag(contiguous(data, v.type), f"out{k}")
            ptr = b.gep(workspace, [ir.Constant(I64, p.offset[c])], source_etype=I8, inbounds=True)
            return scopes.tag(contiguous(ptr, v.type), c)

        for n, op in enumerate(f.body.ops):
            if op.name == "func.return":
                break
            if op.name == "tir.constant":
                self.buffers[op.result] = scopes.tag(self.constant_buffer(op), "in")
            elif op.name == "tir.empty":
                self.buffers[op.result] = class_buffer(op.result)
            elif op in grouped:
                members = grouped[op]
                if op is members[-1]:  # once every operand of the members is defined
                    lows = [self.lowering(m, class_buffer) for m in members]
                    lower_rows(lows, self, f"g{n}", self.threads)
            elif op.name == "tir.generic":
                self.lower_generic(op, class_buffer, f"g{n}")
            else:
                raise NotImplementedError(
                    f"the LLVM backend cannot lower {op.name}; generalize first"
                )
        for v, k in p.copies:
            data = b.load(b.gep(outs[k], [ir.Constant(I64, ARRAY_DATA)], source_etype=I8), typ=PTR)
            self.copy(self.buffers[v], scopes.tag(contiguous(data, v.type), f"out{k}"), f"ret{k}")
        if workspace is not None:
            self.give_back_workspace(workspace)
        b.ret(b.load(self.err))
        self.alloca_builder.branch(self.fn.blocks[1])
        keep_vector_declarations(self.module)
        return Lowered(self.module, self.fn.name, self.errors, p)

    def take_workspace(self, nbytes: int) -> ir.Value:
        """The intermediates' memory: the one cached from the previous call if no other thread
        holds it (an atomic exchange with null), else a new allocation. Reusing it means large
        intermediates cost no page faults after the first call."""
        b = self.b
        self.cache = ir.GlobalVariable(self.module, I64, name=f"{self.fn.name}.workspace")
        self.cache.linkage = "internal"
        self.cache.initializer = ir.Constant(I64, 0)
        cached = b.atomic_rmw("xchg", self.cache, ir.Constant(I64, 0), "acq_rel")
        slot = self.alloca(PTR)
        b.store(b.inttoptr(cached, PTR), slot)
        with b.if_then(b.icmp_unsigned("==", cached, ir.Constant(I64, 0))):
            aligned_alloc = declare(self.module, "aligned_alloc", PTR, [I64, I64])
            size = -(-nbytes // 64) * 64
            b.store(b.call(aligned_alloc, [ir.Constant(I64, 64), ir.Constant(I64, size)]), slot)
        return b.load(slot)

    def give_back_workspace(self, workspace: ir.Value) -> None:
        """Cache the workspace for the next call; free whatever another thread cached meanwhile."""
        b = self.b
        old = b.atomic_rmw("xchg", self.cache, b.ptrtoint(workspace, I64), "acq_rel")
        with b.if_then(b.icmp_unsigned("!=", old, ir.Constant(I64, 0))):
            b.call(declare(self.module, "free", ir.VoidType(), [PTR]), [b.inttoptr(old, PTR)])

    def lowering(self, op: Operation, class_buffer) -> GenericLowering:
        """The loop lowering of generic `op`, its results given their buffers."""
        n_in = op.attrs["num_inputs"]
        ins = [self.buffers[v] for v in op.operands[:n_in]]
        inits = [self.buffers[v] for v in op.operands[n_in:]]
        outs = []
        for r in op.results:
            self.buffers[r] = class_buffer(r)
            outs.append(self.buffers[r])
        return GenericLowering(op, ins, inits, outs, self)

    def lower_generic(self, op: Operation, class_buffer, tag: str) -> None:
        lowering = self.lowering(op, class_buffer)
        if self.matmul != "auto":
            self.lower_as(lowering, self.matmul, tag)
            return
        one = "blas" if gemm.blas_preferred(lowering, one_thread=True) else "kernel"
        more = "blas" if gemm.blas_preferred(lowering, one_thread=False) else "kernel"
        if not self.threads or one == more:
            self.lower_as(lowering, one if not self.threads else more, tag)
            return
        # the pool's thread count when the function runs decides, not when it was compiled:
        # `set_num_threads` may change it in between
        b = self.b
        count = b.call(declare(self.module, parallel_runtime.THREADS_SYMBOL, I32, []), [])
        with b.if_else(b.icmp_signed("==", count, ir.Constant(I32, 1))) as (serial, pooled):
            with serial:
                self.lower_as(lowering, one, f"{tag}.one")
            with pooled:
                again = GenericLowering(op, lowering.ins, lowering.inits, lowering.outs, self)
                self.lower_as(again, more, tag)

    def lower_as(self, lowering: GenericLowering, how: str, tag: str) -> None:
        """Emit `lowering` as `how` says ("blas", "kernel" or "loops"), falling back to loops
        (split across the pool where they pay) for what that lowering cannot take."""
        if how == "blas" and blas.try_lower(lowering, self.b, tag):
            return
        if how in ("blas", "kernel") and gemm.try_lower(lowering, self, tag, self.threads):
            return
        if not (self.threads and parallel.try_lower(lowering, self, tag)):
            lowering.run(self.b, tag)

    def copy(self, src: Buffer, dst: Buffer, tag: str) -> None:
        """dst[...] = src[...] elementwise."""
        ivs: list = [None] * len(dst.shape)

        def point():
            dst.store(self.b, ivs, src.load(self.b, ivs))

        emit_nest(self.b, list(range(len(dst.shape))), dst.shape, ivs, point, tag)


class _AliasScopes:
    """LLVM alias scopes: one for the inputs and constants (only ever read), one per output
    array, one per intermediate class. Each access carries its scope and the scopes it cannot
    alias: inputs never alias outputs or intermediates, outputs are fresh arrays, and two
    intermediate classes are disjoint unless the memory plan placed them on the same bytes."""

    def __init__(self, module: ir.Module, p: MemoryPlan, n_outputs: int):
        self.module, self.p = module, p
        domain = module.add_metadata([ir.MetaDataString(module, "tensorir")])
        keys = ["in", *(f"out{k}" for k in range(n_outputs)), *p.offset]
        self.scopes = {
            k: module.add_metadata([ir.MetaDataString(module, f"tensorir.{k}"), domain])
            for k in keys
        }
        self.cache: dict = {}

    def disjoint(self, a, b) -> bool:
        if a == b:
            return False
        if isinstance(a, int) and isinstance(b, int):
            return not self.p.overlaps(a, b)
        return a != "in" or b != "in"

    def tag(self, buf: Buffer, key) -> Buffer:
        if key not in self.cache:
            others = [s for k, s in self.scopes.items() if self.disjoint(key, k)]
            self.cache[key] = (
                self.module.add_metadata([self.scopes[key]]),
                self.module.add_metadata(others),
            )
        buf.alias = self.cache[key]
        return buf


def lower_function(
    f: Function,
    name: str,
    contiguous_args: list[bool],
    matmul: str = "auto",
    threads: bool = True,
    fastmath: tuple[str, ...] = (),
) -> Lowered:
    """LLVM IR for generalized function `f`, entry named `name`; `contiguous_args[i]` says
    argument i is a C-contiguous array (so its strides are compile-time constants).

    `matmul` says how matmul-shaped generics run: "kernel" through the generated
    micro-kernel (`gemm.py`), "blas" through numpy's bundled BLAS (`blas.py`), "loops" as
    plain loop nests, "auto" through whichever `gemm.blas_preferred` says is faster for the
    shape. Code that must not depend on numpy's BLAS (a standalone shared library) uses
    "kernel". `threads` lets large loops run on the process's thread pool (`parallel.py`), which
    a standalone library cannot link either. `fastmath` flags go on the float arithmetic of the
    function's generics (`fastmath_flags`)."""
    if matmul not in MATMUL_CHOICES:
        raise ValueError(f"matmul must be one of {MATMUL_CHOICES}, got {matmul!r}")
    return _FunctionLowering(f, name, contiguous_args, matmul, threads, fastmath).lower()
