"""The one table from scalar ops (`s.*`) to LLVM IR, shared by every backend.

Each emitter gets the lowering context, the operands as LLVM values and the `s.*` op (for its
types and attributes). Semantics follow numpy exactly where numpy defines them: floor division and
modulo signs, integer division by zero giving 0, NaN-propagating max/min that keep numpy's choice
between -0.0 and 0.0, shifts by the bit width or more. float16 is computed in float32 and rounded
after every op, as numpy's float16 loops do.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from ..ir import types as T
from ..ir.core import Operation
from . import polymath
from .vecmath import declare_math

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)


def ll_type(t) -> ir.Type:
    """The LLVM type scalars of IR type `t` are computed in (bool is i1)."""
    if isinstance(t, T.IndexType):
        return I64
    if t.is_bool:
        return I1
    if t.is_int:
        return ir.IntType(t.bits)
    return {16: ir.HalfType(), 32: ir.FloatType(), 64: ir.DoubleType()}[t.bits]


def mem_type(t: T.DType) -> ir.Type:
    """The LLVM type of a tensor element in memory (bool is one byte, as in numpy)."""
    return I8 if t.is_bool else ll_type(t)


def _suffix(ty: ir.Type) -> str:
    return {ir.FloatType: "f32", ir.DoubleType: "f64", ir.HalfType: "f16"}[type(ty)]


def declare(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    """The function `name` in `module`, declared on first use."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, args), name)
    return fn


class Target:
    """How generated code computes math functions: LLVM intrinsics for single instructions, calls
    to libm (vectorized through libmvec) for the rest. `HostTarget` computes some of them inline;
    other backends subclass `Target` and register it for their triple in `TARGETS`."""

    def math(
        self, module: ir.Module, name: str, ty: ir.Type, nargs: int, intrinsic: bool
    ) -> ir.Function:
        """The function computing `name` on `nargs` operands of float type `ty`."""
        if intrinsic:
            return declare(module, f"llvm.{name}.{_suffix(ty)}", ty, [ty] * nargs)
        return declare_math(module, name + ("f" if ty == ir.FloatType() else ""), ty, nargs)

    def call(self, b: ir.IRBuilder, name: str, args: list[ir.Value], intrinsic: bool) -> ir.Value:
        """`name` applied to float operands `args` at `b`: a call of the function `math` gives."""
        return b.call(self.math(b.module, name, args[0].type, len(args), intrinsic), args)


class HostTarget(Target):
    """The CPU. float32 exp, expm1, log, log1p, tanh and float64 exp are inline IR
    (`polymath.py`), which the loop vectorizer widens with the rest of the loop: faster than
    libmvec's calls in our fused loops, within 1 ulp (benchmarks/RESULTS.md,
    tests/test_vecmath_accuracy.py). The other functions call libm/libmvec through `Target`."""

    INLINE = polymath.NAMES  # the libm names computed inline, for the types polymath supports

    def call(self, b: ir.IRBuilder, name: str, args: list[ir.Value], intrinsic: bool) -> ir.Value:
        """Inline IR for float32 functions in `INLINE`, else as `Target` does."""
        if not intrinsic and name in self.INLINE and polymath.supports(name, args[0].type):
            return polymath.emit(name, b, args[0])
        return super().call(b, name, args, intrinsic)


HOST = HostTarget()
# by LLVM module triple; a module with any other triple is compiled for the host
TARGETS: dict[str, Target] = {}


class Ctx:
    """What an emitter may use: the builder, the module, loop indices, buffers, error reporting."""

    def __init__(
        self,
        builder: ir.IRBuilder,
        module: ir.Module,
        indices,
        buffer_of,
        report,
        combiners=(),
        fastmath: tuple[str, ...] = (),
    ):
        self.b, self.module = builder, module
        self.fastmath = fastmath  # LLVM fast-math flags for float arithmetic (`jit(fastmath=)`)
        self.target = TARGETS.get(module.triple, HOST)
        # float ops that only fold values into a reduction's accumulator: they may be
        # reassociated, which is what lets the loop vectorizer split the sum into lanes
        self.combiners = combiners
        self.indices = indices  # loop index values (i64), by loop dim
        self.buffer_of = buffer_of  # IR tensor value -> Buffer (for s.extract)
        self.report = report  # (op, i1 failed) -> record a run-time error for this op's location

    def const(self, ty: ir.Type, value) -> ir.Constant:
        return ir.Constant(ty, value)

    def call_math(self, name: str, args: list[ir.Value], intrinsic: bool) -> ir.Value:
        """Call math function `name` (an intrinsic or a libm name) on float operands."""
        return self.target.call(self.b, name, args, intrinsic)


Emitter = Callable[[Ctx, list[ir.Value], Operation], ir.Value]
EMIT: dict[str, Emitter] = {}


def _dtype(op: Operation, i: int = 0):
    return op.operands[i].type


def _float16_promoted(fn: Emitter) -> Emitter:
    """Run a float emitter in float32 for float16 operands, rounding the result back."""

    def run(ctx: Ctx, args, op):
        if args and args[0].type == ir.HalfType():
            wide = [ctx.b.fpext(a, ir.FloatType()) for a in args]
            r = fn(ctx, wide, op)
            return ctx.b.fptrunc(r, ir.HalfType()) if r.type == ir.FloatType() else r
        return fn(ctx, args, op)

    return run


def emits(*names: str, promote: bool = True):
    def wrap(fn: Emitter) -> Emitter:
        for n in names:
            EMIT[n] = _float16_promoted(fn) if promote else fn
        return fn

    return wrap


def _is_float(op, i=0) -> bool:
    t = _dtype(op, i)
    return isinstance(t, T.DType) and t.is_float


def _signed(op, i=0) -> bool:
    t = _dtype(op, i)
    return isinstance(t, T.IndexType) or t.kind == "i"


# ---- floating-point math ----------------------------------------------------------------------

# libm functions (vectorized through libmvec where available, see vecmath.py)
_LIBM = {
    "exp": "exp", "log": "log", "log1p": "log1p", "expm1": "expm1", "cbrt": "cbrt",
    "sin": "sin", "cos": "cos", "tan": "tan", "tanh": "tanh", "sinh": "sinh", "cosh": "cosh",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "erf": "erf", "arctan2": "atan2",
}  # fmt: skip
# functions that are single instructions: LLVM intrinsics
_INTRINSIC = {"sqrt": "sqrt", "floor": "floor", "ceil": "ceil", "round": "roundeven"}

for _name, _fn in _LIBM.items():
    emits(f"s.{_name}")(lambda ctx, a, op, _fn=_fn: ctx.call_math(_fn, a, intrinsic=False))
for _name, _fn in _INTRINSIC.items():
    emits(f"s.{_name}")(lambda ctx, a, op, _fn=_fn: ctx.call_math(_fn, a, intrinsic=True))


@emits("s.isnan")
def _isnan(ctx, a, op):
    return ctx.b.fcmp_unordered("uno", a[0], a[0])


def _fabs(ctx, x):
    return ctx.call_math("fabs", [x], intrinsic=True)


@emits("s.isinf")
def _isinf(ctx, a, op):
    return ctx.b.fcmp_ordered("==", _fabs(ctx, a[0]), ir.Constant(a[0].type, float("inf")))


@emits("s.isfinite")
def _isfinite(ctx, a, op):
    return ctx.b.fcmp_ordered("<", _fabs(ctx, a[0]), ir.Constant(a[0].type, float("inf")))


# ---- arithmetic -------------------------------------------------------------------------------


def _flags(ctx, op) -> tuple[str, ...]:
    """Fast-math flags of float arithmetic `op`: the function's, plus reassoc where `op` only
    folds values into a reduction's accumulator."""
    if op in ctx.combiners and "reassoc" not in ctx.fastmath:
        return (*ctx.fastmath, "reassoc")
    return ctx.fastmath


@emits("s.add")
def _add(ctx, a, op):
    if _is_float(op):
        return ctx.b.fadd(*a, flags=_flags(ctx, op))
    return ctx.b.or_(*a) if a[0].type == I1 else ctx.b.add(*a)  # numpy: bool + is or


@emits("s.sub")
def _sub(ctx, a, op):
    return ctx.b.fsub(*a, flags=ctx.fastmath) if _is_float(op) else ctx.b.sub(*a)


@emits("s.mul")
def _mul(ctx, a, op):
    if _is_float(op):
        return ctx.b.fmul(*a, flags=_flags(ctx, op))
    return ctx.b.and_(*a) if a[0].type == I1 else ctx.b.mul(*a)


@emits("s.div")
def _div(ctx, a, op):
    return ctx.b.fdiv(*a, flags=ctx.fastmath)


@emits("s.neg")
def _neg(ctx, a, op):
    return ctx.b.fneg(a[0], flags=ctx.fastmath) if _is_float(op) else ctx.b.neg(a[0])


@emits("s.abs")
def _abs(ctx, a, op):
    if _is_float(op):
        return _fabs(ctx, a[0])
    if not _signed(op):
        return a[0]
    neg = ctx.b.icmp_signed("<", a[0], ir.Constant(a[0].type, 0))
    return ctx.b.select(neg, ctx.b.neg(a[0]), a[0])


@emits("s.sign")
def _sign(ctx, a, op):
    x, b = a[0], ctx.b
    if _is_float(op):
        one, zero = ir.Constant(x.type, 1.0), ir.Constant(x.type, 0.0)
        r = b.select(b.fcmp_ordered("==", x, zero), zero, x)  # NaN stays NaN, -0.0 becomes 0.0
        r = b.select(b.fcmp_ordered("<", x, zero), ir.Constant(x.type, -1.0), r)
        return b.select(b.fcmp_ordered(">", x, zero), one, r)
    zero = ir.Constant(x.type, 0)
    if not _signed(op):
        return b.zext(b.icmp_unsigned("!=", x, zero), x.type)
    pos = b.zext(b.icmp_signed(">", x, zero), x.type)
    return b.sub(pos, b.zext(b.icmp_signed("<", x, zero), x.type))


@emits("s.max", "s.min")
def _maxmin(ctx, a, op):
    x, y = a
    b = ctx.b
    is_max = op.name == "s.max"
    if _is_float(op) and op in ctx.combiners:
        # NaN-propagating like numpy; which of -0.0/0.0 a reduction keeps is order-dependent
        # in numpy too, hence nsz: without it AVX-512 orders the zeros by a sign blend, 6
        # instructions per vector instead of 3 (row max: 6.4 -> 3.4 cycles per 16 floats). The
        # intrinsic is what the vectorizer turns into a vector reduction.
        fn = ctx.target.math(ctx.module, "maximum" if is_max else "minimum", x.type, 2, True)
        return b.call(fn, [x, y], fastmath=("nsz",))
    if _is_float(op):
        # numpy: (x >= y || isnan(x)) ? x : y for maximum; keeps its -0.0/0.0 choice
        keep = b.or_(b.fcmp_ordered(">=" if is_max else "<=", x, y), b.fcmp_unordered("uno", x, x))
        return b.select(keep, x, y)
    cmp = b.icmp_signed if _signed(op) else b.icmp_unsigned
    return b.select(cmp(">=" if is_max else "<=", x, y), x, y)


def _fmod_sign_fix(ctx, x, y):
    """(mod, floordiv) of floats exactly as numpy's npy_divmod computes them."""
    b = ctx.b
    ty = x.type
    zero = ir.Constant(ty, 0.0)
    m = b.frem(x, y)
    fix = b.and_(
        b.fcmp_unordered("!=", m, zero),
        b.icmp_unsigned("!=", b.fcmp_ordered("<", y, zero), b.fcmp_ordered("<", m, zero)),
    )
    mod = b.select(fix, b.fadd(m, y), m)
    copysign = lambda mag, sgn: ctx.call_math("copysign", [mag, sgn], intrinsic=True)  # noqa: E731
    mod = b.select(b.fcmp_ordered("==", m, zero), copysign(zero, y), mod)
    div = b.fdiv(b.fsub(x, m), y)
    div = b.select(fix, b.fsub(div, ir.Constant(ty, 1.0)), div)
    fl = ctx.call_math("floor", [div], intrinsic=True)
    fl = b.select(
        b.fcmp_ordered(">", b.fsub(div, fl), ir.Constant(ty, 0.5)),
        b.fadd(fl, ir.Constant(ty, 1.0)),
        fl,
    )
    floordiv = b.select(b.fcmp_ordered("==", div, zero), copysign(zero, b.fdiv(x, y)), fl)
    y_zero = b.fcmp_ordered("==", y, zero)
    return b.select(y_zero, m, mod), b.select(y_zero, b.fdiv(x, y), floordiv)


def _int_divmod(ctx, x, y, signed: bool):
    """numpy's integer floor division and modulo; y == 0 gives 0 and MIN // -1 wraps."""
    b = ctx.b
    zero, one = ir.Constant(x.type, 0), ir.Constant(x.type, 1)
    y_zero = b.icmp_unsigned("==", y, zero)
    if not signed:
        safe = b.select(y_zero, one, y)
        return (b.select(y_zero, zero, b.udiv(x, safe)), b.select(y_zero, zero, b.urem(x, safe)))
    minus_one = b.icmp_signed("==", y, ir.Constant(x.type, -1))
    safe = b.select(b.or_(y_zero, minus_one), one, y)  # no trap on /0 or MIN / -1
    q, r = b.sdiv(x, safe), b.srem(x, safe)
    adjust = b.and_(
        b.icmp_signed("!=", r, zero),
        b.icmp_unsigned("!=", b.icmp_signed("<", r, zero), b.icmp_signed("<", y, zero)),
    )
    q = b.select(adjust, b.sub(q, one), q)
    r = b.select(adjust, b.add(r, y), r)
    q = b.select(minus_one, b.neg(x), b.select(y_zero, zero, q))
    r = b.select(b.or_(y_zero, minus_one), zero, r)
    return q, r


@emits("s.floordiv", "s.mod")
def _divmod(ctx, a, op):
    if _is_float(op):
        mod, div = _fmod_sign_fix(ctx, *a)
    elif a[0].type == I1:
        return ctx.b.and_(*a) if op.name == "s.floordiv" else ir.Constant(I1, 0)
    else:
        div, mod = _int_divmod(ctx, *a, _signed(op))
    return div if op.name == "s.floordiv" else mod


@emits("s.pow")
def _pow(ctx, a, op):
    if _is_float(op):
        return ctx.call_math("pow", a, intrinsic=False)
    return _int_pow(ctx, *a, _signed(op))


def _int_pow(ctx, base, exp, signed: bool):
    """Square-and-multiply; negative exponents truncate (1, +-1 for base +-1, else 0)."""
    b = ctx.b
    ty = base.type
    zero, one = ir.Constant(ty, 0), ir.Constant(ty, 1)
    entry = b.block
    loop = b.append_basic_block("pow.loop")
    done = b.append_basic_block("pow.done")
    negative = b.icmp_signed("<", exp, zero) if signed else ir.Constant(I1, 0)
    start_e = b.select(negative, zero, exp)
    b.branch(loop)
    b.position_at_end(loop)
    r = b.phi(ty)
    x = b.phi(ty)
    e = b.phi(ty)
    r.add_incoming(one, entry)
    x.add_incoming(base, entry)
    e.add_incoming(start_e, entry)
    odd = b.trunc(e, I1)
    r2 = b.select(odd, b.mul(r, x), r)
    x2 = b.mul(x, x)
    e2 = b.lshr(e, one)
    r.add_incoming(r2, loop)
    x.add_incoming(x2, loop)
    e.add_incoming(e2, loop)
    b.cbranch(b.icmp_unsigned("!=", e2, zero), loop, done)
    b.position_at_end(done)
    result = b.phi(ty)
    result.add_incoming(r2, loop)
    if not signed:
        return result
    is_one = b.icmp_signed("==", base, one)
    is_m1 = b.icmp_signed("==", base, ir.Constant(ty, -1))
    odd_e = b.trunc(exp, I1)
    special = b.select(
        is_one, one, b.select(is_m1, b.select(odd_e, ir.Constant(ty, -1), one), zero)
    )
    return b.select(negative, special, result)


# ---- comparisons and logic ----------------------------------------------------------------------

_CMP = {"s.eq": "==", "s.ne": "!=", "s.lt": "<", "s.le": "<=", "s.gt": ">", "s.ge": ">="}


@emits(*_CMP)
def _cmp(ctx, a, op):
    pred = _CMP[op.name]
    if _is_float(op):
        # != is true for NaN operands, every other comparison false
        return ctx.b.fcmp_unordered(pred, *a) if pred == "!=" else ctx.b.fcmp_ordered(pred, *a)
    if _signed(op):
        return ctx.b.icmp_signed(pred, *a)
    return ctx.b.icmp_unsigned(pred, *a)


EMIT["s.and"] = lambda ctx, a, op: ctx.b.and_(*a)
EMIT["s.or"] = lambda ctx, a, op: ctx.b.or_(*a)
EMIT["s.xor"] = lambda ctx, a, op: ctx.b.xor(*a)
EMIT["s.not"] = lambda ctx, a, op: ctx.b.not_(a[0])
EMIT["s.select"] = lambda ctx, a, op: ctx.b.select(*a)


@emits("s.shl", "s.shr")
def _shift(ctx, a, op):
    x, n = a
    b = ctx.b
    bits = x.type.width
    signed = _signed(op)
    too_big = b.icmp_unsigned(">=", n, ir.Constant(n.type, bits))  # negatives are huge unsigned
    safe = b.select(too_big, ir.Constant(n.type, 0), n)
    if op.name == "s.shl":
        return b.select(too_big, ir.Constant(x.type, 0), b.shl(x, safe))
    if not signed:
        return b.select(too_big, ir.Constant(x.type, 0), b.lshr(x, safe))
    fill = b.ashr(x, ir.Constant(x.type, bits - 1))
    return b.select(too_big, fill, b.ashr(x, safe))


# ---- conversions, constants, indices ------------------------------------------------------------


@emits("s.cast", promote=False)
def _cast(ctx, a, op):
    return convert(ctx, a[0], _dtype(op), op.attrs["dtype"])


def convert(ctx: Ctx, x: ir.Value, src, dst) -> ir.Value:
    """numpy's astype for one scalar."""
    b = ctx.b
    to = ll_type(dst)
    s_float = isinstance(src, T.DType) and src.is_float
    d_float = isinstance(dst, T.DType) and dst.is_float
    d_bool = isinstance(dst, T.DType) and dst.is_bool
    if src == dst:
        return x
    if d_bool:
        if s_float:
            return b.fcmp_unordered("!=", x, ir.Constant(x.type, 0.0))
        return b.icmp_unsigned("!=", x, ir.Constant(x.type, 0))
    if s_float and d_float:
        if src.bits < dst.bits:
            return b.fpext(x, to)
        if src.bits == 64 and dst.bits == 16:
            x = _round_to_odd_f32(ctx, x)
        return b.fptrunc(x, to)
    if s_float:
        # As numpy on x86: convert to int64, then keep the low bits, so -1.0 -> uint8 is 255 and
        # 200.0 -> int8 is -56. The saturating intrinsic keeps NaN and out-of-range values
        # (undefined in numpy) from becoming LLVM poison; uint64 above 2**63 converts unsigned.
        wide = b.call(
            declare(ctx.module, f"llvm.fptosi.sat.i64.{_suffix(x.type)}", I64, [x.type]), [x]
        )
        if isinstance(dst, T.DType) and dst.kind == "u" and dst.bits == 64 and src.bits > 16:
            big = b.fcmp_ordered(">=", x, ir.Constant(x.type, 2.0**63))
            unsigned = b.call(
                declare(ctx.module, f"llvm.fptoui.sat.i64.{_suffix(x.type)}", I64, [x.type]), [x]
            )
            return b.select(big, unsigned, wide)
        return wide if to.width == 64 else b.trunc(wide, to)
    src_signed = isinstance(src, T.IndexType) or src.kind == "i"
    if d_float:
        return b.sitofp(x, to) if src_signed else b.uitofp(x, to)
    if x.type.width == to.width:
        return x
    if x.type.width > to.width:
        return b.trunc(x, to)
    return b.sext(x, to) if src_signed else b.zext(x, to)


def _round_to_odd_f32(ctx: Ctx, x: ir.Value) -> ir.Value:
    """double -> float rounded to odd, so a following float -> half rounding equals numpy's
    direct double -> half rounding (no double-rounding error, and no libgcc helper needed)."""
    b = ctx.b
    f = b.fptrunc(x, ir.FloatType())
    back = b.fpext(f, x.type)
    bits = b.bitcast(f, I32)
    fabs = ctx.call_math("fabs", [back], intrinsic=True)
    overshoot = b.fcmp_ordered(">", fabs, ctx.call_math("fabs", [x], intrinsic=True))
    bits = b.select(overshoot, b.sub(bits, ir.Constant(I32, 1)), bits)  # truncate toward zero
    inexact = b.fcmp_ordered("!=", back, x)
    bits = b.select(inexact, b.or_(bits, ir.Constant(I32, 1)), bits)
    return b.bitcast(bits, ir.FloatType())


@emits("s.constant", promote=False)
def _constant(ctx, a, op):
    ty = ll_type(op.attrs["dtype"])
    v = op.attrs["value"]
    return ir.Constant(
        ty, float(v) if isinstance(ty, ir.HalfType | ir.FloatType | ir.DoubleType) else int(v)
    )


EMIT["s.index"] = lambda ctx, a, op: ctx.indices[op.attrs["dim"]]


@emits("s.extract", promote=False)
def _extract(ctx, a, op):
    buf = ctx.buffer_of(op.operands[0])
    return buf.load(ctx.b, a[1:])


@emits("s.wrap_index", promote=False)
def _wrap_index(ctx, a, op):
    b = ctx.b
    i = convert(ctx, a[0], _dtype(op), T.index)
    size = ir.Constant(I64, op.attrs["size"])
    signed = isinstance(_dtype(op), T.IndexType) or _dtype(op).kind == "i"
    if signed:
        i = b.select(b.icmp_signed("<", i, ir.Constant(I64, 0)), b.add(i, size), i)
    bad = b.icmp_unsigned(">=", i, size)  # negative after wrapping is huge unsigned
    ctx.report(op, bad)
    return b.select(bad, ir.Constant(I64, 0), i)
