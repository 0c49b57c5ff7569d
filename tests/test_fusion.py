"""Fusion: how many loops pass over the data, and that fused code computes what unfused code and
numpy compute."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import layernorm, softmax

import tensorir
from tensorir.frontend.trace import trace
from tensorir.ir import verify
from tensorir.ir.core import Module
from tensorir.lower_llvm.engine import compile_function
from tensorir.passes import run_pipeline


def chain(a, b, c):
    return a * b + c * np.exp(-a) - np.sqrt(np.abs(b)) + np.tanh(c)


def data_loops(fn, *args) -> int:
    """Generic ops of the compiled function whose loop domain is as large as the first argument:
    the passes over the data (loops over a reduced shape, e.g. 16 row means, are not)."""
    g = run_pipeline(Module([trace(fn, args).function]), "generalize,fuse,dce").functions[0]
    verify(g)
    n = args[0].size
    count = 0
    for op in g.body.ops:
        if op.name != "tir.generic":
            continue
        shapes = [v.type.shape for v in op.operands]
        size = max(int(np.prod(s)) for s in shapes)
        count += size >= n
    return count


X = np.random.default_rng(0).standard_normal((64, 128)).astype(np.float32)


def test_elementwise_chain_is_one_loop():
    a = X.ravel()
    assert data_loops(chain, a, a + 1, a - 1) == 1


def test_softmax_is_three_loops():
    assert data_loops(softmax, X) == 3


def test_layernorm_is_three_loops():
    assert data_loops(layernorm, X, X[0], X[1]) == 3


def test_movement_ops_fuse_into_consumers():
    def f(x):
        return (x.T[::2] * 2.0).reshape(-1, 8).sum(axis=1)

    assert data_loops(f, X) == 1
    np.testing.assert_allclose(tensorir.jit(f)(X), f(X), rtol=1e-5, atol=1e-5)


def test_expensive_producer_is_not_recomputed():
    def f(x):
        e = np.exp(x)
        return e + 1.0, e * 2.0  # two parallel consumers: e is written once, read twice

    g = run_pipeline(Module([trace(f, (X,)).function]), "generalize,fuse,dce").functions[0]
    exps = sum(1 for op in g.walk() if op.name == "s.exp")
    assert exps == 1


@pytest.mark.parametrize("fn", [chain, softmax, layernorm])
def test_fused_equals_unfused_and_numpy(fn):
    args = (X, X[0], X[1]) if fn is layernorm else (X,) * (3 if fn is chain else 1)
    outs = []
    for pipeline in ("generalize,dce", "generalize,fuse,dce"):
        f = trace(fn, args).function
        (got,) = compile_function(f, [True] * len(args), pipeline=pipeline)(*args)
        outs.append(got)
    # scalar and vectorized libm calls may differ in the last bit
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(outs[1], fn(*args), rtol=1e-5, atol=1e-6)


UNARY = [np.exp, np.tanh, np.abs, np.negative, np.sin, lambda v: v * v, lambda v: v + 1.5]
BINARY = [np.add, np.subtract, np.multiply, np.maximum, np.minimum]


@st.composite
def programs(draw):
    """A random program: unary/binary elementwise ops, broadcasts against rows and columns,
    transposes, slices and reductions, over a small 2-d input."""
    steps = draw(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 6)), min_size=1, max_size=12))

    def fn(x, row, col):
        vals = [x]
        for kind, k in steps:
            v = vals[-1]
            if kind == 0:
                v = UNARY[k % len(UNARY)](v)
            elif kind == 1:
                v = BINARY[k % len(BINARY)](v, vals[k % len(vals)])
            elif kind == 2:
                v = BINARY[k % len(BINARY)](v, row if k % 2 else col)
            elif kind == 3:
                v = v.T.T if k % 2 else v[:, ::-1]
            elif kind == 4:
                v = v - v.max(axis=k % 2, keepdims=True)
            else:
                v = v * v.mean(axis=1, keepdims=True)
            vals.append(np.clip(v, -1e3, 1e3))
        return vals[-1], vals[len(vals) // 2].sum(axis=0)

    return fn


@settings(max_examples=30, deadline=None)
@given(programs(), st.sampled_from([np.float32, np.float64]))
def test_random_programs_fused_unfused_numpy_agree(fn, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 6)).astype(dtype)
    row, col = rng.standard_normal(6).astype(dtype), rng.standard_normal((5, 1)).astype(dtype)
    want = fn(x, row, col)
    results = []
    for pipeline in ("generalize,dce", "generalize,fuse,dce"):
        f = trace(fn, (x, row, col)).function
        results.append(compile_function(f, [True] * 3, pipeline=pipeline)(x, row, col))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for unfused, fused, ref in zip(results[0], results[1], want, strict=True):
        np.testing.assert_allclose(fused, unfused, rtol=tol, atol=tol)
        np.testing.assert_allclose(fused, ref, rtol=tol, atol=tol)


def test_sibling_reductions_share_one_pass():
    def f(x):
        return x.max(axis=1), x.sum(axis=1), (x * x).sum(axis=1)

    assert data_loops(f, X) == 1
    for got, want in zip(tensorir.jit(f)(X), f(X), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_dependent_reductions_are_not_merged():
    assert data_loops(softmax, X) == 3  # the sum needs the max: two passes, then the division


def test_matmul_epilogue_is_fused():
    def relu_layer(x, w, b):
        return np.maximum(x @ w + b, 0.0)

    w, b = X[16:32].T.copy(), X[0, :16].copy()
    x = X[:16]  # (16, 128) @ (128, 16)
    assert data_loops(relu_layer, x, w, b) == 1  # the matmul loop; bias and relu in registers
    want = relu_layer(x, w, b)  # float32 dot products of 128 terms: absolute rounding error
    np.testing.assert_allclose(tensorir.jit(relu_layer)(x, w, b), want, rtol=1e-5, atol=1e-4)


def test_reduction_epilogue_round_trips_as_text():
    from tensorir.ir.parser import parse_module

    lowered = tensorir.jit(lambda x: x.sum(axis=1) * 2.0).lower(X)
    text = lowered.as_text("generic")
    assert text.count('"tir.generic"') == 1 and "result_dtypes = [f32]" in text
    assert str(parse_module(text)) == text
    verify(parse_module(text))
