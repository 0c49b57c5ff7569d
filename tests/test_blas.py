"""Matmul-shaped generics through numpy's own BLAS (`lower_llvm/blas.py`): results against a
float64 numpy reference, and the choice between a gemm call and the loop nest."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from programs import MATMUL_LAYOUTS

import tensorir
from tensorir.lower_llvm import blas

pytestmark = pytest.mark.skipif(blas.gemm() is None, reason="numpy ships no cblas gemm here")

DTYPES = [np.float32, np.float64]
# these tests are about the BLAS path; `auto` may pick the micro-kernel (tests/test_gemm.py)
jit = functools.partial(tensorir.jit, matmul="blas")


def gemm_calls(fn, *args) -> int:
    """How many gemm calls the compiled code of `fn` holds (the symbol shows in its LLVM IR)."""
    text = fn.lower(*args).as_text("llvm-unoptimized")
    return sum(text.count(f'call void @"{s}"') for s in (blas.gemm().sgemm, blas.gemm().dgemm))


def calls_gemm(fn, *args) -> bool:
    """Whether the compiled code of `fn` calls gemm."""
    return gemm_calls(fn, *args) > 0


def data(dtype, *shapes, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def check(fn, reference, *args) -> None:
    """`fn` compiled against `reference` run in float64 on the same inputs."""
    got = jit(fn)(*args)
    want = reference(*(a.astype(np.float64) for a in args))
    assert got.dtype == args[0].dtype and got.shape == want.shape
    tol = 2e-4 if args[0].dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("fn", "shapes"),
    [
        (lambda x, y: x @ y, [(70, 45), (45, 33)]),
        *MATMUL_LAYOUTS,
        (lambda x, y: x @ y, [(300,), (300, 200)]),
        (lambda x, y: x @ y, [(200, 300), (300,)]),
    ],
)
def test_matmul_calls_gemm(dtype, fn, shapes):
    args = data(dtype, *shapes)
    check(fn, fn, *args)
    assert calls_gemm(jit(fn), *args)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "fn",
    [
        lambda x, w, b, r: np.maximum(x @ w + b, 0),
        lambda x, w, b, r: (x @ w) * 2.5,
        lambda x, w, b, r: x @ w + r,
        lambda x, w, b, r: np.tanh(x.T.T @ w + b) - r,
    ],
)
def test_fused_epilogue_runs_per_row_block(dtype, fn):
    # 1024 columns make row blocks of a few hundred rows: 600 rows leave a partial last block
    x, w, b, r = data(dtype, (600, 24), (24, 1024), (1024,), (600, 1024))
    check(fn, fn, x, w, b, r)
    assert calls_gemm(jit(fn), x, w, b, r)


def test_fused_epilogue_batched():
    fn = lambda x, w, b: np.maximum(x @ w + b, 0)  # noqa: E731
    args = data(np.float32, (2, 70, 40), (40, 300), (300,))
    check(fn, fn, *args)
    assert calls_gemm(jit(fn), *args)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiny_products_stay_loops(dtype):
    fn = lambda x, w, b: np.maximum(x @ w + b, 0)  # noqa: E731
    args = data(dtype, (8, 4), (4, 6), (6,))
    check(fn, fn, *args)
    assert not calls_gemm(jit(fn), *args)


def test_other_dtypes_and_bodies_stay_loops():
    ints = [a.astype(np.int64) for a in data(np.float64, (64, 64), (64, 64))]
    check(lambda x, y: x @ y, lambda x, y: x @ y, *ints)
    assert not calls_gemm(jit(lambda x, y: x @ y), *ints)
    # cblas has no float16 gemm
    halves = data(np.float16, (64, 64), (64, 64))
    assert not calls_gemm(jit(lambda x, y: x @ y), *halves)


def test_strided_operand_is_packed():
    # strides known only at run time: the operand is copied into a contiguous buffer for gemm
    x, y = data(np.float32, (64, 128), (64, 48))
    fn = jit(lambda x, y: x @ y)
    got = fn(x[:, ::2], y)
    np.testing.assert_allclose(got, x[:, ::2].astype(np.float64) @ y, rtol=2e-4, atol=1e-3)
    assert calls_gemm(fn, x[:, ::2], y)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_producers_are_packed_once(dtype):
    # fusion puts relu(x@w1+b1) and tanh(w2) inside the second matmul's body: gemm reads them
    # from a scratch buffer computed once, and both products stay gemm calls
    def mlp(x, w1, b1, w2):
        return np.maximum(x @ w1 + b1, 0) @ np.tanh(w2) * 0.5

    args = data(dtype, (96, 80), (80, 64), (64,), (64, 40))
    check(mlp, mlp, *args)
    assert gemm_calls(jit(mlp), *args) == 2
    assert ".pack." in jit(mlp).lower(*args).as_text("llvm-unoptimized")


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, y, w: np.exp(x * 0.1) @ y,  # packed per batch
        lambda x, y, w: x @ np.tanh(w),  # packed once, shared by the batches
        lambda x, y, w: np.maximum(np.swapaxes(y, 1, 2) @ np.abs(w.T).T + 1, 0),
    ],
)
def test_batched_packed_factors(fn):
    x, y, w = data(np.float64, (3, 30, 40), (3, 40, 20), (40, 20))
    check(fn, fn, x, y, w)
    assert calls_gemm(jit(fn), x, y, w)
    assert ".pack." in jit(fn).lower(x, y, w).as_text("llvm-unoptimized")


@pytest.mark.parametrize("matmul", ["blas", "kernel"])
def test_gradient_of_an_mlp_layer(matmul):
    # the backward product's factor relu'(h) * 2h is fused: packed for gemm, computed into the
    # micro-kernel's panels of B
    def loss(w, x):
        return np.sum(np.maximum(x @ w, 0.0) ** 2)

    w, x = data(np.float64, (100, 60), (80, 100))
    got = tensorir.jit(tensorir.grad(loss), matmul=matmul)(w, x)
    h = x @ w
    np.testing.assert_allclose(got, x.T @ (2 * np.maximum(h, 0)), rtol=1e-11, atol=1e-9)
