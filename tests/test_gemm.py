"""Matmuls through packed panels and the generated micro-kernel (`lower_llvm/gemm.py`,
`microkernel.py`): results against a float64 numpy reference for odd sizes that leave
remainders in every blocked loop, transposed, strided and batched operands, fused factors and
epilogues, on one and two threads; and the choice between the kernel, BLAS and loops."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import MATMUL_LAYOUTS

import tensorir
from tensorir.lower_llvm import blas, gemm, microkernel, parallel_runtime

jit = functools.partial(tensorir.jit, matmul="kernel")
DTYPES = [np.float32, np.float64]
MR = microkernel.shape_for(tensorir.ir.types.f32, 1000).mr


def data(dtype, *shapes, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def check(fn, *args, reference=None) -> np.ndarray:
    """`fn` compiled with the micro-kernel against `reference` (default `fn`) in float64."""
    got = jit(fn)(*args)
    want = (reference or fn)(*(a.astype(np.float64) for a in args))
    assert got.dtype == args[0].dtype and got.shape == want.shape
    tol = 2e-5 if args[0].dtype == np.float32 else 1e-12
    k = max(a.shape[-1] for a in args)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.sqrt(k) * np.abs(want).max())
    return got


def uses_kernel(fn, *args) -> bool:
    return "tensorir.ukernel" in fn.lower(*args).as_text("llvm-unoptimized")


def test_micro_kernel_is_inlined_where_it_is_called():
    """An MLP's gradient, whose products LLVM's inliner left calling the kernel out of line (it
    cost the SGD step 13 %): the optimized code must hold no call to it, and the gradients
    must be numpy's, computed by hand in float64."""

    def loss(p, x, y):
        h = np.maximum(x @ p["w1"] + p["b1"], 0.0)
        logits = h @ p["w2"]
        return -np.sum(y * (logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))))

    w1, w2, x = data(np.float32, (200, 128), (128, 10), (128, 200))
    p = {"w1": w1 * 0.1, "b1": np.full(128, 0.01, np.float32), "w2": w2 * 0.1}
    y = np.eye(10, dtype=np.float32)[np.random.default_rng(1).integers(0, 10, 128)]
    f = jit(tensorir.grad(loss))
    assert uses_kernel(f, p, x, y)
    optimized = f.lower(p, x, y).as_text("llvm")
    assert not [line for line in optimized.splitlines() if "call" in line and "ukernel" in line]
    g = f(p, x, y)
    w1, b1, w2, x, y = (a.astype(np.float64) for a in (p["w1"], p["b1"], p["w2"], x, y))
    pre = x @ w1 + b1
    h = np.maximum(pre, 0.0)
    e = np.exp(h @ w2 - (h @ w2).max(axis=1, keepdims=True))
    dlogits = e / e.sum(axis=1, keepdims=True) - y
    dh = (dlogits @ w2.T) * (pre > 0)
    want = {"w1": x.T @ dh, "b1": dh.sum(axis=0), "w2": h.T @ dlogits}
    for k, v in want.items():
        np.testing.assert_allclose(g[k], v, rtol=1e-4, atol=1e-4 * np.abs(v).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("m", "k", "n"),
    [
        (1, 1, 1),
        (7, 31, 33),
        (MR, 1, 1),
        (MR + 1, 7, 31),
        (33, 1023, 7),
        (31, 1025, 65),
        (2 * MR, 300, 1),
    ],
)
def test_odd_sizes(dtype, m, k, n):
    x, y = data(dtype, (m, k), (k, n))
    check(lambda x, y: x @ y, x, y)
    assert uses_kernel(jit(lambda x, y: x @ y), x, y)


def test_a_in_place_or_packed():
    # A is read in place when it has a unit stride, packed when its rows are 4 KiB apart (they
    # would share L1 sets) or it is computed by a fused producer
    def mm(x, y):
        return x @ y

    def mm_t(x, y):
        return x.T @ y

    def packs_a(fn, *args) -> bool:
        return "packa" in jit(fn).lower(*args).as_text("llvm-unoptimized")

    x, y = data(np.float32, (13, 300), (300, 40))
    assert not packs_a(mm, x, y) and not packs_a(mm_t, x.T.copy(), y)
    check(mm_t, x.T.copy(), y)
    assert packs_a(mm, x.T.copy().T, y)  # strides known only at run time
    x, y = data(np.float32, (13, 1024), (1024, 40))
    assert packs_a(mm, x, y)
    check(mm, x, y)


def test_auto_picks_blas_for_small_products_and_the_kernel_for_others():
    small, large = data(np.float32, (32, 32), (256, 300))
    auto = tensorir.jit(lambda x, y: x @ y)
    assert uses_kernel(auto, large, large.T)
    if blas.gemm() is not None:
        assert not uses_kernel(auto, small, small)


def test_thread_count_at_run_time_picks_gemm_or_kernel():
    """A shallow product goes to gemm on one thread and to the kernel on more (the two are
    never mixed on the pool): the count is read when the function runs, so a function compiled
    on two threads and then called on one takes gemm, and the other way round."""
    if blas.gemm() is None:
        pytest.skip("numpy ships no cblas gemm")
    x, y = data(np.float32, (1024, 16), (16, 300))
    f = tensorir.jit(lambda x, y: x @ y + 1.0)
    old = tensorir.get_num_threads()
    try:
        tensorir.set_num_threads(2)
        text = f.lower(x, y).as_text("llvm-unoptimized")
        assert parallel_runtime.THREADS_SYMBOL in text and "tensorir.ukernel" in text
        assert ".one.gemm" in text
        for n in (2, 1, 2):
            tensorir.set_num_threads(n)
            np.testing.assert_allclose(f(x, y), x @ y + 1.0, rtol=1e-5, atol=1e-5)
    finally:
        tensorir.set_num_threads(old)


def test_choices_are_logged(caplog):
    x, y = data(np.float32, (1024, 16), (16, 300))
    old = tensorir.get_num_threads()
    tensorir.set_num_threads(1)
    with caplog.at_level("DEBUG", logger="tensorir.matmul"):
        tensorir.jit(lambda x, y: x @ y).lower(x, y)
        jit(lambda x, y: x.T @ y).lower(y.T.copy(), y.T.copy())
    tensorir.set_num_threads(old)
    text = caplog.text
    if blas.gemm() is not None:
        assert "1024x16x300 on one thread: gemm, fewer than 32 reductions, one thread" in text
        assert "1024x16x300 on more threads: micro-kernel" in text
    s = microkernel.shape_for(tensorir.ir.types.f32, 16)
    assert f"16x300x16 f32: {s.mr}x{s.nr} tiles, A read in place (cols-major)" in text


def test_blocks_of_every_loop():
    # more rows than one packed block of A, more columns than one of B, k over several blocks
    m = gemm.MC_PANELS * MR + 5
    x, y = data(np.float32, (m, gemm.KC * 2 + 3), (gemm.KC * 2 + 3, gemm.NC + 17))
    check(lambda x, y: x @ y, x, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("fn", "shapes"),
    [
        *MATMUL_LAYOUTS,
        (lambda x, y: x[:, ::2] @ y[1:, :], [(40, 100), (51, 30)]),
    ],
)
def test_transposed_strided_and_batched(dtype, fn, shapes):
    args = data(dtype, *shapes)
    check(fn, *args)
    assert uses_kernel(jit(fn), *args)


def test_run_time_strides():
    # a slice with a step at run time: packing reads through the strides, no copy first
    x, y = data(np.float32, (64, 128), (64, 48))
    got = jit(lambda x, y: x @ y)(x[:, ::2], y)
    np.testing.assert_allclose(got, x[:, ::2].astype(np.float64) @ y, rtol=2e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "fn",
    [
        lambda x, w, b, r: np.maximum(x @ w + b, 0),
        lambda x, w, b, r: np.tanh(x @ w) * 0.5 + r,
        lambda x, w, b, r: (x @ w) * 2.0 - b,
    ],
)
def test_fused_epilogues(dtype, fn):
    # the epilogue runs on each tile after its last k block: k spans several blocks
    x, w, b, r = data(dtype, (50, 600), (600, 70), (70,), (50, 70))
    check(fn, x, w, b, r)
    text = jit(fn).lower(x, w, b, r).as_text("llvm-unoptimized")
    assert "tensorir.ukernel" in text and "epilogue" in text


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_factors_are_computed_while_packing(dtype):
    def mlp(x, w1, b1, w2):
        return np.maximum(x @ w1 + b1, 0) @ np.tanh(w2) * 0.5

    args = data(dtype, (96, 80), (80, 64), (64,), (64, 40))
    check(mlp, *args)
    assert jit(mlp).lower(*args).as_text("llvm-unoptimized").count("packa.p") >= 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_result_on_one_and_two_threads(dtype):
    x, w, b = data(dtype, (300, 200), (200, 130), (130,))
    fn = jit(lambda x, w, b: np.maximum(x @ w + b, 0))
    old = tensorir.get_num_threads()
    tensorir.set_num_threads(1)
    try:
        one = fn(x, w, b)
        tensorir.set_num_threads(2)
        two = fn(x, w, b)
    finally:
        tensorir.set_num_threads(old)
    # each tile is computed by one thread in the same order: bit-identical
    np.testing.assert_array_equal(one, two)
    check(lambda x, w, b: np.maximum(x @ w + b, 0), x, w, b)


@settings(max_examples=40, deadline=None)
@given(
    m=st.integers(1, 40),
    k=st.integers(1, 300),
    n=st.integers(1, 70),
    transpose=st.tuples(st.booleans(), st.booleans()),
    dtype=st.sampled_from(DTYPES),
)
def test_random_products(m, k, n, transpose, dtype):
    x, y = data(dtype, (k, m) if transpose[0] else (m, k), (n, k) if transpose[1] else (k, n))

    def fn(x, y):
        return (x.T if transpose[0] else x) @ (y.T if transpose[1] else y)

    check(fn, x, y)


def test_choice_of_kernel_blas_or_loops():
    x, y = data(np.float32, (64, 64), (64, 64))

    def mm(x, y):
        return x @ y

    assert uses_kernel(jit(mm), x, y)
    assert not uses_kernel(tensorir.jit(mm, matmul="loops"), x, y)
    np.testing.assert_allclose(tensorir.jit(mm, matmul="loops")(x, y), x @ y, rtol=1e-5, atol=1e-4)
    if blas.gemm() is not None:
        text = tensorir.jit(mm, matmul="blas").lower(x, y).as_text("llvm-unoptimized")
        assert blas.gemm().sgemm in text and "tensorir.ukernel" not in text
    with pytest.raises(ValueError, match="matmul must be one of"):
        tensorir.jit(mm, matmul="mkl")
