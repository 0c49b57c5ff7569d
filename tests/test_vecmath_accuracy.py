"""Accuracy of the compiled float32 transcendental functions (inline polynomials on the CPU,
`lower_llvm/polymath.py`) against numpy's float64 result rounded to float32, over the whole
float32 range: a stride sweep over all bit patterns, every float near each overflow/underflow
edge and polynomial boundary, the special values, and hypothesis examples. float64 exp, also
inline, is checked the same way against long double.

The error is counted in ulps: the distance between the two float32 results in the ordered
sequence of float32 values (so across zero and into subnormals it counts representable values,
not a relative error)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorir
from tensorir.frontend.trace import trace
from tensorir.lower_llvm import polymath
from tensorir.lower_ptx import compile_ptx, libdevice_path

# max error in ulps, per function; an exhaustive run over all 2^32 inputs measured 1 for each
BOUND = {"exp": 1, "expm1": 1, "log": 1, "log1p": 1, "tanh": 1}
FUNCS = {name: getattr(np, name) for name in BOUND}
assert set(BOUND) == polymath.NAMES

INF, NAN = np.float32(np.inf), np.float32(np.nan)
TINY = np.float32(2.0**-149)  # the smallest subnormal


def compiled(name: str):
    return tensorir.jit(lambda x: FUNCS[name](x))


_COMPILED = {name: compiled(name) for name in BOUND}


def reference(name: str, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return FUNCS[name](x.astype(np.float64)).astype(np.float32)


def ordered(v: np.ndarray) -> np.ndarray:
    """Floats as integers in the same order, adjacent floats differing by 1."""
    bits = v.dtype.itemsize * 8
    i = v.view(f"i{bits // 8}").astype(np.int64)
    return np.where(i < 0, -(i & (2 ** (bits - 1) - 1)), i)


def ulp_errors(name: str, x: np.ndarray) -> np.ndarray:
    """Per input, ulps between the compiled result and the reference; NaN must match NaN."""
    x = np.ascontiguousarray(x, np.float32)
    ours, ref = _COMPILED[name](x), reference(name, x)
    nan_mismatch = np.isnan(ours) != np.isnan(ref)
    assert not nan_mismatch.any(), f"{name}: NaN differs at {x[nan_mismatch][:8]}"
    d = np.abs(ordered(ours) - ordered(ref))
    d[np.isnan(ours)] = 0
    return d


def assert_within_bound(name: str, x: np.ndarray) -> None:
    d = ulp_errors(name, x)
    i = int(np.argmax(d))
    assert d[i] <= BOUND[name], f"{name}({x[i]!r}) is {d[i]} ulp off"


def floats_in(lo: float, hi: float, most: int = 1 << 20) -> np.ndarray:
    """The float32 values in [lo, hi], all of them or `most` evenly spaced in bit pattern."""
    if lo < 0 < hi:
        return np.concatenate([floats_in(lo, -0.0, most // 2), floats_in(0.0, hi, most // 2)])
    sign = -1 if hi <= 0 and np.signbit(hi) else 1
    a, b = sorted(np.array([abs(lo), abs(hi)], np.float32).view(np.int32).tolist())
    step = max(1, (b - a) // most)
    return sign * np.arange(a, b + 1, step, dtype=np.int32).view(np.float32)


@pytest.mark.parametrize("name", BOUND)
def test_bit_pattern_sweep(name):
    """Every 997th float32 bit pattern: 4.3M values over both signs, all binades, subnormals,
    infinities and NaNs."""
    x = np.arange(0, 2**32, 997, dtype=np.uint64).astype(np.uint32).view(np.float32)
    assert_within_bound(name, x)


# dense ranges around each edge of each function: overflow, the start of subnormal results,
# underflow to 0, the ends of the reduced intervals, where results round to +-1
EDGES = {
    "exp": [(88.0, 89.0), (-87.5, -87.0), (-104.0, -103.5), (-0.36, 0.36), (-1e-6, 1e-6)],
    "expm1": [(88.0, 89.0), (-18.0, -16.0), (-0.36, 0.36), (0.3, 0.4), (-1e-6, 1e-6)],
    "log": [(0.70, 0.71), (1.41, 1.42), (0.99, 1.01), (2.0**-149, 2.0**-120), (3e38, 3.4e38)],
    "log1p": [(-1.0, -0.99), (-0.3, -0.29), (0.41, 0.42), (-1e-6, 1e-6), (1.6e7, 1.7e7)],
    "tanh": [(0.6, 0.65), (-0.65, -0.6), (8.9, 9.2), (-1e-6, 1e-6), (2.0**-149, 1e-30)],
}


@pytest.mark.parametrize("name", BOUND)
def test_edges(name):
    assert_within_bound(name, np.concatenate([floats_in(lo, hi) for lo, hi in EDGES[name]]))


def test_exp_thresholds():
    f = _COMPILED["exp"]
    # float32: exp(x) is finite up to 88.72283, subnormal below -87.33655, 0 below -103.97208
    top = np.float32(88.72283)
    r = f(np.array([top, np.nextafter(top, INF), 100.0, 1e30], np.float32))
    assert np.isfinite(r[0]) and np.isinf(r[1:]).all()
    r = f(np.array([-87.0, -88.0, -100.0, -103.9, -103.98, -104.0, -1e30], np.float32))
    assert r[0] >= np.finfo(np.float32).tiny > r[1] > r[2] > r[3] > 0
    assert (r[4:] == 0).all()
    assert f(np.array([-103.972], np.float32))[0] == TINY  # rounds up to the last subnormal


SPECIAL_INPUTS = np.array(
    [0.0, -0.0, INF, -INF, NAN, -NAN, TINY, -TINY, 1.0, -1.0, np.finfo(np.float32).max],
    np.float32,
)


@pytest.mark.parametrize("name", BOUND)
def test_special_values_as_numpy(name):
    """Specials give exactly numpy's float64 answer (signed zeros and infinities included)."""
    ours = _COMPILED[name](SPECIAL_INPUTS)
    ref = reference(name, SPECIAL_INPUTS)
    np.testing.assert_array_equal(ours, ref)
    assert (np.signbit(ours) == np.signbit(ref))[~np.isnan(ref)].all()


def test_special_values_spelled_out():
    def run(name, *xs):
        return _COMPILED[name](np.array(xs, np.float32)).tolist()

    assert run("exp", -np.inf, np.inf, 0.0, -0.0) == [0.0, np.inf, 1.0, 1.0]
    assert run("expm1", -np.inf, np.inf) == [-1.0, np.inf]
    assert np.signbit(run("expm1", -0.0)[0]) and np.signbit(run("tanh", -0.0)[0])
    assert np.signbit(run("log1p", -0.0)[0])
    assert run("tanh", -np.inf, np.inf, 20.0, -20.0) == [-1.0, 1.0, 1.0, -1.0]
    assert run("log", 0.0, -0.0, np.inf, 1.0) == [-np.inf, -np.inf, np.inf, 0.0]
    assert run("log1p", -1.0, np.inf) == [-np.inf, np.inf]
    assert np.isnan(run("log", -1.0, -TINY, -np.inf, np.nan)).all()
    assert np.isnan(run("log1p", -1.5, -np.inf, np.nan)).all()
    for name in BOUND:
        assert np.isnan(run(name, np.nan, -np.nan)).all(), name
    # log of subnormals: log(2^-149) = -149 ln 2
    assert run("log", TINY)[0] == np.float32(-149 * np.log(2.0))
    assert run("log", 2.0**-130)[0] == np.float32(-130 * np.log(2.0))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(BOUND)),
    st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=1, max_size=64),
)
def test_hypothesis(name, xs):
    assert_within_bound(name, np.array(xs, np.float32))


def test_inline_not_called():
    """On the CPU the functions are inline IR: the optimized module calls no libm or libmvec."""
    x = np.ones(64, np.float32)
    for name in BOUND:
        text = _COMPILED[name].lower(x).as_text("llvm")
        assert f"{name}f" not in text and "_ZGV" not in text, name
    assert "_ZGV" not in _COMPILED["exp"].lower(np.ones(64)).as_text("llvm")  # float64 exp too
    # float64 tanh still goes through libm/libmvec
    text = compiled("tanh").lower(np.ones(64)).as_text("llvm-unoptimized")
    assert 'call double @"tanh"' in text


def test_float16_through_float32():
    """float16 is computed in float32 and rounded: within 1 float16 ulp of float64's result."""
    x = np.linspace(-12, 12, 4001).astype(np.float16)
    for name in BOUND:
        ours = _COMPILED[name](x)
        with np.errstate(all="ignore"):
            ref = FUNCS[name](x.astype(np.float64)).astype(np.float16)
        assert (np.isnan(ours) == np.isnan(ref)).all()
        d = np.abs(ordered(ours) - ordered(ref))
        assert d[~np.isnan(ref)].max() <= 1, name


# -- float64 exp, against long double (64-bit mantissa on x86) ---------------------------------

needs_long_double = pytest.mark.skipif(
    np.finfo(np.longdouble).nmant < 63, reason="long double is no wider than double here"
)


def exp64_ulp_errors(x: np.ndarray) -> np.ndarray:
    ours = _COMPILED["exp"](x)
    with np.errstate(all="ignore"):
        ref = np.exp(x.astype(np.longdouble)).astype(np.float64)
    assert (np.isnan(ours) == np.isnan(ref)).all()
    d = np.abs(ordered(ours) - ordered(ref))
    d[np.isnan(ours)] = 0
    return d


@needs_long_double
def test_float64_exp_sweep_and_edges():
    """4M float64 bit patterns spread over all of them, and dense grids over exp's range, its
    overflow edge (709.78) and its subnormal results (below -708.4) down to 0 (below -745.13)."""
    patterns = (np.arange(1 << 22, dtype=np.uint64) * np.uint64(4398046511111)).view(np.float64)
    grids = [np.linspace(-746, 710, 2_000_001), np.linspace(709, 710, 100_001)]
    grids += [np.linspace(-746, -707, 400_001), np.linspace(-1, 1, 1_000_001)]
    d = exp64_ulp_errors(np.concatenate([patterns, *grids]))
    assert d.max() <= 1


@needs_long_double
def test_float64_exp_specials():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 709.782712893384, 709.7827128933841,
                  -745.1332191019411, -745.1332191019412, -746.0, 5e-324, -5e-324])  # fmt: skip
    r = _COMPILED["exp"](x)
    assert r[:4].tolist() == [1.0, 1.0, np.inf, 0.0] and np.isnan(r[4])
    assert np.isfinite(r[5]) and np.isinf(r[6])
    assert r[7] == 5e-324 and r[8] == 0.0 and r[9] == 0.0
    assert exp64_ulp_errors(x).max() <= 1


@needs_long_double
@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=64))
def test_float64_exp_hypothesis(xs):
    assert exp64_ulp_errors(np.array(xs, np.float64)).max() <= 1


@pytest.mark.skipif(libdevice_path() is None, reason="no CUDA libdevice")
def test_gpu_keeps_libdevice():
    x = np.ones(64, np.float32)
    program = compile_ptx(trace(lambda a: np.exp(a) + np.tanh(a) + np.log(a), (x,)).function)
    for fn in ("__nv_expf", "__nv_tanhf", "__nv_logf"):
        assert fn in program.llvm_ir_unoptimized
