"""Transcendental functions as inline LLVM IR: range reduction plus a polynomial, no call.

A vectorized loop that calls libmvec (`_ZGVeN16v_expf`) pays the call, and since the vector ABI
clobbers every vector register, the loop's accumulators and constants are spilled around it. The
functions here are emitted straight into the loop body as branch-free IR (selects, no branches),
so the loop vectorizer widens them with the rest of the loop and the scheduler interleaves them
with the loads and the arithmetic around them.

Each function is the textbook construction, for float32 (exp also for float64):

- exp, expm1: Cody-Waite reduction `x = n ln2 + r`, |r| <= ln2/2, with ln2 split into a short
  head and a tail, both products taken with an FMA; `expm1(r) = r + r^2 Q(r)`; the result scaled
  by 2^n built in the exponent bits (in two halves for exp, so results that are subnormal are
  rounded once, at the last multiply; with AVX-512, exp scales by `llvm.ldexp`, one
  `vscalefps` that rounds once itself).
- log, log1p: `x = 2^k m`, m in [sqrt(1/2), sqrt(2)), from the exponent bits (subnormals are
  scaled by 2^23 first); `log x = k ln2 + log1p(m - 1)`, `log1p(f) = f + f^2 P(f)`. log1p adds
  the rounding error of `1 + x`, recovered exactly by 2Sum, to `f` (scaled by 2^-k).
- tanh: odd polynomial `x + x^3 T(x^2)` for |x| < 0.625, else `1 - 2 / (exp(2|x|) + 1)`, with
  the sign copied back; |x| is clamped to 9.1, beyond which float32's tanh rounds to 1.

Coefficients: minimax for *relative* error on the reduced interval, fitted at development time
with numpy in float64 by Lawson's algorithm (iteratively reweighted least squares on 4000
Chebyshev nodes, 200 iterations) and rounded to float32. Relative errors after rounding: Q 1.7e-8
on |r| <= 0.347, P 3.0e-8 (log) and 6.1e-9 (log1p) on [-0.293, 0.414], T 7.0e-9 on [0, 0.625],
each a fraction of a float32 ulp (6e-8 to 1.2e-7). Measured over all 2^32 float32 inputs
against float64 numpy rounded to float32, every function is within 1 ulp; float64 exp is within
1 ulp of long double's (tests/test_vecmath_accuracy.py checks sweeps of both).

Special values come out by construction or by a final select: NaN in gives NaN, exp(-inf) = 0,
exp(inf) = inf, log(0) = -inf, log(x < 0) = NaN, tanh(+-inf) = +-1, and -0.0 is kept where the
function is odd at 0.

>>> from llvmlite import ir
>>> fn = ir.Function(ir.Module(), ir.FunctionType(ir.FloatType(), [ir.FloatType()]), "f")
>>> b = ir.IRBuilder(fn.append_basic_block())
>>> _ = b.ret(emit("exp", b, fn.args[0]))
>>> # the only calls: intrinsics that are one instruction (FMA; vscalefps with AVX-512)
>>> {g.name for g in fn.module.functions if g is not fn} <= {"llvm.fma.f32", "llvm.ldexp.f32.i32"}
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llvmlite import ir

from . import host

F32, F64, I32, I64 = ir.FloatType(), ir.DoubleType(), ir.IntType(32), ir.IntType(64)
LOG2E = 1 / math.log(2)


def _floats(*hexes: str) -> tuple[float, ...]:
    return tuple(float.fromhex(h) for h in hexes)


@dataclass(frozen=True)
class _Format:
    """What exp's construction needs to know about one float type."""

    ty: ir.Type
    ity: ir.IntType  # the integer type of the same width
    bias: int  # exponent bias
    mant: int  # mantissa bits
    # ln2 = ln2_hi + ln2_lo; ln2_hi has few enough bits that n * ln2_hi is exact for every n
    # exp's reduction meets
    ln2_hi: float
    ln2_lo: float
    expm1_q: tuple[float, ...]  # expm1(r) = r + r^2 Q(r), |r| <= ln2/2
    exp_lo: float  # exp(x) is 0 below, and infinite above exp_hi: x is clamped to these
    exp_hi: float

    @property
    def suffix(self) -> str:
        return f"f{self.ity.width}"

    @property
    def shifter(self) -> float:
        """Adding 1.5 * 2^mant rounds a float of magnitude < 2^(mant - 1) to an integer, left in
        the low mantissa bits: integer conversion without fptosi (poison for NaN and inf)."""
        return 1.5 * 2.0**self.mant


_FLOAT32 = _Format(
    F32, I32, 127, 23,
    # 16 significant bits: |n| <= 150
    ln2_hi=float.fromhex("0x1.62e4p-1"), ln2_lo=math.log(2) - float.fromhex("0x1.62e4p-1"),
    expm1_q=_floats(  # relative error 1.7e-8
        "0x1.fffffep-2", "0x1.5554b0p-3", "0x1.555674p-5", "0x1.1227f6p-7", "0x1.6bebf2p-10"
    ),
    # exp overflows above 88.72 and is 0 below -103.98: n stays in [-150, 129]
    exp_lo=-104.0, exp_hi=89.0,
)  # fmt: skip
_FLOAT64 = _Format(
    F64, I64, 1023, 52,
    # 42 significant bits: |n| <= 1077; ln2 from Python's decimal module at 60 digits
    ln2_hi=float.fromhex("0x1.62e42fefa38p-1"), ln2_lo=float.fromhex("0x1.ef35793c7673p-45"),
    # fitted as the float32 ones, against a 30-term Taylor series in long double: the error of
    # exp(r) is 4.0e-18 relative (ulp 1.1e-16 to 2.2e-16)
    expm1_q=_floats(
        "0x1.0000000000002p-1", "0x1.555555555557cp-3", "0x1.55555555548abp-5",
        "0x1.1111111108151p-7", "0x1.6c16c16ed76f6p-10", "0x1.a01a01d3f9305p-13",
        "0x1.a019f9aedceaap-16", "0x1.71ddacf8463cbp-19", "0x1.27ef2ee3c1598p-22",
        "0x1.afcfa38a5ad97p-26", "0x1.159817a871e8ap-29",
    ),
    # exp overflows above 709.78 and is 0 below -745.13: n stays in [-1077, 1025]
    exp_lo=-746.0, exp_hi=710.0,
)  # fmt: skip
_FORMATS = {F32: _FLOAT32, F64: _FLOAT64}

# log1p(f) = f + f^2 * P(f), f in [sqrt(1/2) - 1, sqrt(2) - 1]: degree 7 for log (relative
# error 3.0e-8; coefficients rounded one at a time, the rest refitted after each), degree 8 for
# log1p (6.1e-9), which measured 2 ulp errors near f = 0.414 with degree 7
LOG_P = _floats(
    "-0x1.fffffap-2", "0x1.5556f2p-2", "-0x1.0004acp-2", "0x1.98d312p-3", "-0x1.535ae0p-3",
    "0x1.3180fap-3", "-0x1.2511b8p-3", "0x1.65f874p-4",
)  # fmt: skip
LOG1P_P = _floats(
    "-0x1.fffff8p-2", "0x1.555550p-2", "-0x1.000428p-2", "0x1.99a404p-3", "-0x1.5426f6p-3",
    "0x1.227010p-3", "-0x1.0f39dep-3", "0x1.0853c8p-3", "-0x1.384008p-4",
)  # fmt: skip
# tanh(x) = x + x^3 * T(x^2), |x| < 0.625 (relative error 7.0e-9)
TANH_T = _floats(
    "-0x1.555532p-2", "0x1.110714p-3", "-0x1.b839d8p-5", "0x1.521578p-6", "-0x1.759214p-8"
)
TANH_SMALL = 0.625
TANH_ONE = 9.1  # float32 tanh rounds to 1 from 9.01 on
EXPM1_LO = -30.0  # float32 expm1(x) rounds to -1 below -17.3


class _Emitter:
    """Arithmetic in one float format on one builder, constants and intrinsics spelled briefly."""

    def __init__(self, b: ir.IRBuilder, fmt: _Format):
        self.b, self.fmt = b, fmt
        self.ty, self.ity = fmt.ty, fmt.ity

    def f(self, v: float) -> ir.Constant:
        return ir.Constant(self.ty, v)

    def i(self, v: int) -> ir.Constant:
        return ir.Constant(self.ity, v)

    def call(self, full: str, *args: ir.Value) -> ir.Value:
        """A call of intrinsic `full` returning this format's float, declared on first use."""
        fn = self.b.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.b.module, ir.FunctionType(self.ty, [a.type for a in args]), full)
        return self.b.call(fn, list(args))

    def intrinsic(self, name: str, *args: ir.Value) -> ir.Value:
        return self.call(f"llvm.{name}.{self.fmt.suffix}", *args)

    def ldexp(self, x: ir.Value, n: ir.Value) -> ir.Value:
        """x * 2^n for an integer n, rounded once (`llvm.ldexp`, vectorized as `vscalefps`
        with AVX-512; other CPUs may expand it to a call)."""
        return self.call(f"llvm.ldexp.{self.fmt.suffix}.i{self.ity.width}", x, n)

    def fma(self, a: ir.Value, m: ir.Value, c: ir.Value) -> ir.Value:
        return self.intrinsic("fma", a, m, c)

    def horner(self, x: ir.Value, coeffs: Sequence[float]) -> ir.Value:
        acc = self.f(coeffs[-1])
        for c in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, self.f(c))
        return acc

    def clamp(self, x: ir.Value, lo: float, hi: float) -> ir.Value:
        """x limited to [lo, hi] by ordered compares: NaN passes through unchanged."""
        b = self.b
        x = b.select(b.fcmp_ordered(">", x, self.f(hi)), self.f(hi), x)
        return b.select(b.fcmp_ordered("<", x, self.f(lo)), self.f(lo), x)

    def pow2(self, n: ir.Value) -> ir.Value:
        """2^n for an integer n in the normal exponent range, assembled in the exponent field."""
        b = self.b
        return b.bitcast(b.shl(b.add(n, self.i(self.fmt.bias)), self.i(self.fmt.mant)), self.ty)

    def reduce_exp(self, x: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
        """(n as an integer, r, Q(r)) with x = n ln2 + r, |r| <= ln2/2 (Cody-Waite, FMA), so
        that expm1(r) = r + r^2 Q(r)."""
        b, fmt = self.b, self.fmt
        t = self.fma(x, self.f(LOG2E), self.f(fmt.shifter))
        nf = b.fsub(t, self.f(fmt.shifter))
        r = self.fma(nf, self.f(-fmt.ln2_hi), x)  # exact, by the choice of ln2_hi
        r = self.fma(nf, self.f(-fmt.ln2_lo), r)
        n = b.sub(b.bitcast(t, self.ity), b.bitcast(self.f(fmt.shifter), self.ity))
        return n, r, self.horner(r, fmt.expm1_q)

    def expm1_reduced(self, r: ir.Value, q: ir.Value) -> ir.Value:
        """expm1(r) = r + r^2 Q(r)."""
        return self.fma(self.b.fmul(r, r), q, r)

    def log_reduced(self, k: ir.Value, f: ir.Value, coeffs: Sequence[float]) -> ir.Value:
        """k ln2 + log1p(f) for an i32 k and f in [sqrt(1/2) - 1, sqrt(2) - 1], with
        log1p(f) = f + f^2 P(f), P given by `coeffs`. ln2 rounded to float32 is off by 1.9e-9,
        so k ln2 is off by under 0.06 ulp of the result: no head/tail split needed."""
        b = self.b
        p = self.fma(b.fmul(f, f), self.horner(f, coeffs), f)
        return self.fma(b.sitofp(k, self.ty), self.f(math.log(2)), p)

    def split_mantissa(self, bits: ir.Value) -> tuple[ir.Value, ir.Value]:
        """(k, m) with value(bits) = 2^k m and m in [sqrt(1/2), sqrt(2)), for a positive normal
        float's bits: subtracting the bits of sqrt(1/2) puts the mantissa boundary at sqrt(2)."""
        b = self.b
        k = b.ashr(b.sub(bits, self.i(0x3F3504F3)), self.i(self.fmt.mant))
        m = b.bitcast(b.sub(bits, b.shl(k, self.i(self.fmt.mant))), self.ty)
        return k, m


def _exp(e: _Emitter, x: ir.Value) -> ir.Value:
    b = e.b
    n, r, q = e.reduce_exp(e.clamp(x, e.fmt.exp_lo, e.fmt.exp_hi))
    p = e.expm1_reduced(r, q)
    if host.has("avx512f"):
        # vscalefps/pd scales by 2^n, rounding once, also to subnormal or infinite results:
        # 3 instructions for what takes 9 below (softmax's exp-and-sum loop: 13.7 -> 11.6
        # cycles per 16 floats)
        return e.ldexp(b.fadd(p, e.f(1.0)), n)
    # 2^n = 2^n1 * 2^n2, both normal for the n that occur; exp(r) * 2^n1 stays normal, so the
    # one rounding is at the last multiply, also for subnormal and overflowing results
    n1 = b.ashr(n, e.i(1))
    s1, s2 = e.pow2(n1), e.pow2(b.sub(n, n1))
    return b.fmul(e.fma(p, s1, s1), s2)


def _expm1(e: _Emitter, x: ir.Value) -> ir.Value:
    b = e.b
    n, r, q = e.reduce_exp(e.clamp(x, EXPM1_LO, e.fmt.exp_hi))
    # expm1(x) = 2^n expm1(r) + (2^n - 1) = (2^n r + (2^n - 1)) + 2^n r^2 Q(r): the large part
    # (2^n r and 2^n - 1 are exact for |n| <= 24) is rounded once before the small one is
    # added, so the error of Q is not scaled up where 2^n - 1 cancels against 2^n expm1(r).
    # n = 128 uses 2^127 and doubles the result (the -1 is far below its rounding there).
    big = b.icmp_signed(">", n, e.i(e.fmt.bias))
    s = e.pow2(b.select(big, e.i(e.fmt.bias), n))
    sr = b.fmul(s, r)
    y = e.fma(b.fmul(sr, r), q, b.fadd(sr, b.fsub(s, e.f(1.0))))
    y = b.select(big, b.fmul(y, e.f(2.0)), y)
    return b.select(b.fcmp_ordered("==", x, e.f(0.0)), x, y)  # keeps -0.0


def _log(e: _Emitter, x: ir.Value) -> ir.Value:
    b = e.b
    subnormal = b.fcmp_ordered("<", x, e.f(2.0**-126))
    xs = b.select(subnormal, b.fmul(x, e.f(2.0**23)), x)  # exact
    k, m = e.split_mantissa(b.bitcast(xs, I32))
    k = b.select(subnormal, b.sub(k, e.i(23)), k)
    y = e.log_reduced(k, b.fsub(m, e.f(1.0)), LOG_P)  # m - 1 is exact (Sterbenz)
    y = b.select(b.fcmp_ordered("==", x, e.f(math.inf)), x, y)
    y = b.select(b.fcmp_ordered("==", x, e.f(0.0)), e.f(-math.inf), y)
    return b.select(b.fcmp_unordered("<", x, e.f(0.0)), e.f(math.nan), y)  # x < 0 or NaN


def _log1p(e: _Emitter, x: ir.Value) -> ir.Value:
    b = e.b
    one = e.f(1.0)
    u = b.fadd(x, one)
    # 2Sum (Knuth): the exact rounding error c of u = x + 1, whichever operand is larger
    one_part = b.fsub(u, x)
    c = b.fadd(b.fsub(x, b.fsub(u, one_part)), b.fsub(one, one_part))
    k, m = e.split_mantissa(b.bitcast(u, I32))  # u >= 2^-24 is normal wherever x > -1
    # log1p(x) = k ln2 + log1p(m - 1 + c 2^-k); past k = 126, c 2^-k is negligible against k ln2
    scale = e.pow2(b.sub(e.i(0), b.select(b.icmp_signed(">", k, e.i(126)), e.i(126), k)))
    y = e.log_reduced(k, e.fma(c, scale, b.fsub(m, one)), LOG1P_P)
    y = b.select(b.fcmp_ordered("==", x, e.f(math.inf)), x, y)
    y = b.select(b.fcmp_ordered("==", x, e.f(-1.0)), e.f(-math.inf), y)
    y = b.select(b.fcmp_unordered("<", x, e.f(-1.0)), e.f(math.nan), y)  # x < -1 or NaN
    return b.select(b.fcmp_ordered("==", x, e.f(0.0)), x, y)  # keeps -0.0


def _tanh(e: _Emitter, x: ir.Value) -> ir.Value:
    b = e.b
    a = e.intrinsic("fabs", x)
    a2 = b.fmul(a, a)
    small = e.fma(b.fmul(a2, a), e.horner(a2, TANH_T), a)
    # 2|x| <= 18.2, so n <= 27 and 2^n is one normal float
    n, r, q = e.reduce_exp(b.fmul(e.clamp(a, 0.0, TANH_ONE), e.f(2.0)))
    s = e.pow2(n)
    # 1 - 2 / (exp(2a) + 1): the quotient is at most 0.45 here, so its relative error shrinks
    # in the difference
    den = e.fma(e.expm1_reduced(r, q), s, b.fadd(s, e.f(1.0)))
    large = b.fsub(e.f(1.0), b.fdiv(e.f(2.0), den))
    y = b.select(b.fcmp_ordered("<", a, e.f(TANH_SMALL)), small, large)
    return e.intrinsic("copysign", y, x)  # odd; NaN stays NaN


# name -> (emitter, the float types it is written for)
_KERNELS: dict[str, tuple[Callable[[_Emitter, ir.Value], ir.Value], tuple[ir.Type, ...]]] = {
    "exp": (_exp, (F32, F64)),
    "expm1": (_expm1, (F32,)),
    "log": (_log, (F32,)),
    "log1p": (_log1p, (F32,)),
    "tanh": (_tanh, (F32,)),
}
NAMES = frozenset(_KERNELS)


def supports(name: str, ty: ir.Type) -> bool:
    """Whether `emit` computes libm function `name` on floats of LLVM type `ty`.

    >>> supports("exp", ir.DoubleType()), supports("tanh", ir.DoubleType())
    (True, False)
    """
    return name in _KERNELS and ty in _KERNELS[name][1]


def emit(name: str, b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Emit `name(x)` at `b` as inline IR (where `supports(name, x.type)`); returns its value.

    >>> sorted(NAMES)
    ['exp', 'expm1', 'log', 'log1p', 'tanh']
    """
    if not supports(name, x.type):
        raise TypeError(f"polymath has no {name} for {x.type}")
    return _KERNELS[name][0](_Emitter(b, _FORMATS[x.type]), x)
