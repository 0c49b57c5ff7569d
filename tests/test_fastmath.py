"""`jit(fastmath=...)`: LLVM's fast-math flags on the float arithmetic, results still within
float tolerance of float64 numpy, NaN and infinity kept by the default set."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import layernorm, softmax

import tensorir


def _chain(a, b):
    return a * b + np.exp(-a) / (1.0 + b * b) - np.sqrt(np.abs(b))


def test_flags_reach_the_float_arithmetic():
    x = np.ones((4, 8), np.float32)
    fast = tensorir.jit(softmax, fastmath=True).lower(x).as_text("llvm-unoptimized")
    assert "fdiv reassoc contract arcp nsz float" in fast
    plain = tensorir.jit(softmax).lower(x).as_text("llvm-unoptimized")
    assert "arcp" not in plain and "fdiv float" in plain
    picked = tensorir.jit(softmax, fastmath={"arcp"}).lower(x).as_text("llvm-unoptimized")
    assert "fdiv arcp float" in picked


def test_the_division_by_a_row_sum_becomes_a_multiply():
    """What `arcp` buys softmax: the reciprocal of each row's sum, once, then multiplies."""
    x = np.ones((64, 256), np.float32)
    asm = tensorir.jit(softmax, fastmath=True).lower(x).as_text("asm")
    assert "vdivps" not in asm and "divps" not in asm.replace("vdivss", "")


@settings(max_examples=25, deadline=None)
@given(
    rows=st.integers(1, 9),
    cols=st.sampled_from([1, 7, 33, 1025]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_results_stay_within_float_tolerance(rows, cols, dtype):
    rng = np.random.default_rng(rows * cols)
    x = (rng.standard_normal((rows, cols)) * 3).astype(dtype)
    y = rng.standard_normal((rows, cols)).astype(dtype)
    g, b = y[0], x[0]
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for fn, args in [(softmax, (x,)), (layernorm, (x, g, b)), (_chain, (x, y))]:
        got = tensorir.jit(fn, fastmath=True)(*args)
        want = fn(*(a.astype(np.float64) for a in args))
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_default_flags_keep_nan_and_infinity():
    f = tensorir.jit(lambda a, b: a / b - a * 0.5, fastmath=True)
    a = np.array([1.0, -1.0, np.nan, np.inf, 0.0], np.float32)
    b = np.array([0.0, 0.0, 1.0, 2.0, 0.0], np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(f(a, b), a / b - a * 0.5)


def test_bad_flags_are_clear_errors():
    with pytest.raises(ValueError, match=r"fastmath: unknown flags \['fast'\]"):
        tensorir.jit(softmax, fastmath={"fast"})
    for bad in ("nnan", 1, [1]):
        with pytest.raises(TypeError, match="fastmath must be a bool or a set of flag names"):
            tensorir.jit(softmax, fastmath=bad)
