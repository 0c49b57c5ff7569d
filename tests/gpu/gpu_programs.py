"""Programs every GPU test runs (PTX assembly, emulation, execution on a device), with their
arguments and numpy-computed expectations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from programs import layernorm, softmax

import tensorir


@dataclass
class Program:
    """`fn(*args)` in numpy is the reference; the compiled kernels must match it to `rtol`."""

    name: str
    fn: Callable
    args: tuple
    rtol: float = 1e-5
    atol: float = 1e-6


rng = np.random.default_rng(7)


def f32(*shape) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def chain(a, b):
    return a * b + np.exp(-a) - np.sqrt(np.abs(b)) + np.tanh(a) / (1.0 + np.cosh(b))


def mlp_loss(w1, w2, x, y):
    h = np.maximum(x @ w1, 0.0)
    z = h @ w2
    return np.mean((z - y) ** 2)


def mlp_loss_grads(w1, w2, x, y):
    """The hand-derived gradient of `mlp_loss` in numpy: the reference for tensorir.grad."""
    pre = x @ w1
    h = np.maximum(pre, 0.0)
    dz = 2.0 * (h @ w2 - y) / y.size
    dh = (dz @ w2.T) * (pre > 0)
    return x.T @ dh, h.T @ dz


def int_math(i, j):
    return (i // j) * 3 + i % j - np.abs(i) + np.maximum(i, j)


def gather(x, idx):
    return x[idx] * 2.0


x2 = f32(37, 53)
PROGRAMS = [
    Program("chain", chain, (f32(1000), f32(1000)), rtol=1e-5, atol=1e-5),
    Program("broadcast", lambda a, r, c: a + r[None, :] * c[:, None], (x2, f32(53), f32(37))),
    Program("transpose", lambda a, b: a.T * 2.0 + b, (x2, f32(53, 37))),
    Program("sum_axis0", lambda a: a.sum(axis=0), (x2,), rtol=1e-5, atol=1e-5),
    Program("sum_axis1", lambda a: a.sum(axis=1), (x2,), rtol=1e-5, atol=1e-5),
    Program("sum_all_long", lambda a: a.sum(), (f32(300, 111),), rtol=1e-5, atol=1e-4),
    Program(
        "split_row_stats",
        lambda a: (np.abs(a).max(axis=1), (a * 2.0).sum(axis=1), np.exp(a).min()),
        (f32(3, 20001),),
        rtol=1e-5,
        atol=1e-4,
    ),
    Program("sum_long_columns", lambda a: a.sum(axis=0), (f32(700, 45),), rtol=1e-5, atol=1e-5),
    Program(
        "column_stats",
        lambda a: (np.abs(a).max(axis=0), (a * a).sum(axis=(0, 2)), a.argmin(axis=0)),
        (f32(300, 5, 3),),
        rtol=1e-5,
        atol=1e-5,
    ),
    Program("sum_axes02", lambda a: a.sum(axis=(0, 2)), (f32(5, 6, 7),), atol=1e-5),
    Program("max_axis1", lambda a: a.max(axis=1), (x2,)),
    Program("min_all", lambda a: a.min(), (x2,)),
    Program("mean_all", lambda a: np.mean(a * a), (x2,), rtol=1e-5),
    Program("argmax", lambda a: a.argmax(axis=1), (x2,)),
    Program("int_sum_rows", lambda i: i.sum(axis=1), (rng.integers(-9, 9, (37, 53), np.int32),)),
    Program("any_all_rows", lambda a: (np.any(a > 1.5, axis=1), np.all(a > -3, axis=1)), (x2,)),
    Program("half_sum_rows", lambda a: (a * a).sum(axis=1), (x2.astype(np.float16),), rtol=2e-3),
    Program("softmax", softmax, (f32(33, 129),), rtol=1e-5, atol=1e-7),
    Program("softmax_long_rows", softmax, (f32(5, 1000),), rtol=1e-5, atol=1e-7),
    Program("softmax_3d", softmax, (f32(3, 4, 70),), rtol=1e-5, atol=1e-7),
    Program(
        "normalize_planes",
        lambda a: (
            (a - a.mean(axis=(1, 2), keepdims=True)) / np.abs(a).max(axis=(1, 2), keepdims=True)
        ),
        (f32(4, 6, 50),),
        rtol=1e-5,
        atol=1e-6,
    ),
    Program(
        "log_softmax_and_argmax",
        lambda a: (a - np.log(np.exp(a).sum(axis=1, keepdims=True)), a.argmax(axis=1)),
        (f32(9, 300),),
        rtol=1e-5,
        atol=1e-6,
    ),
    Program("layernorm", layernorm, (f32(19, 67), f32(67), f32(67)), rtol=1e-4, atol=1e-5),
    Program("matmul", lambda a, b: a @ b, (f32(31, 45), f32(45, 23)), rtol=1e-4, atol=1e-5),
    Program(
        "matmul_tiles_and_edges",
        lambda a, b: (a * 2.0) @ np.exp(b),
        (f32(130, 9), f32(9, 270)),
        rtol=1e-4,
        atol=1e-5,
    ),
    Program("matmul_f64_transposed", lambda a, b: a.T @ b, (f32(45, 31) * 1.0, f32(45, 7) * 1.0)),
    Program(
        "matmul_batched",
        lambda a, b: np.matmul(a, b),
        (f32(3, 20, 30), f32(3, 30, 10)),
        rtol=1e-4,
        atol=1e-5,
    ),
    Program(
        "matmul_bias_relu",
        lambda a, b, c: np.maximum(a @ b + c, 0.0),
        (f32(16, 40), f32(40, 24), f32(24)),
        rtol=1e-4,
        atol=1e-5,
    ),
    Program(
        "mlp_grad",
        lambda *a: tuple(tensorir.grad(mlp_loss, argnums=(0, 1))(*a)),
        (f32(12, 20), f32(20, 5), f32(32, 12), f32(32, 5)),
        rtol=1e-4,
        atol=1e-5,
    ),
    Program("float64", lambda a: np.log1p(np.abs(a)) ** 1.5 + np.arctan2(a, 2.0), (x2 * 1.0,)),
    Program("int_math", int_math, (np.arange(-50, 50), np.arange(1, 101) % 7 + 1)),
    Program("compare_where", lambda a, b: np.where(a > b, a, b * 2.0), (f32(300), f32(300))),
    Program("gather", gather, (f32(40), rng.integers(-40, 40, 77))),
    Program(
        "gather_reduce",
        lambda a, i: (np.exp(a) * 2.0)[i].sum(axis=1) + a.max(),
        (f32(40), rng.integers(-40, 40, (9, 70))),
        rtol=1e-5,
    ),
    Program("returns_input", lambda a: (a, a + 1.0), (f32(10),)),
    Program("returns_constant", lambda a: (a + 1.0, np.arange(5.0)), (f32(3),)),
    Program("scalars", lambda a, b: a * b + 1.0, (np.float32(2.0), np.float32(3.0))),
    Program("empty_rows", lambda a: np.exp(a).sum(axis=1), (f32(0, 4),)),
    Program("empty_reduction", lambda a: np.exp(a).sum(axis=1), (f32(3, 0),)),
    Program(
        "reshape_slice",
        lambda a: a.reshape(6, 4)[1:, ::2].T @ np.ones(5, np.float32),
        (f32(2, 3, 4),),
        rtol=1e-5,
    ),
]

# what numpy computes where the traced function is not plain numpy
REFERENCE = {"mlp_grad": mlp_loss_grads}


def expected(p: Program) -> list[np.ndarray]:
    """numpy's results of program `p`, as a list."""
    out = REFERENCE.get(p.name, p.fn)(*p.args)
    return [np.asarray(o) for o in (out if isinstance(out, tuple) else (out,))]


def check(p: Program, got: list) -> None:
    """Assert the compiled results `got` (numpy arrays) equal numpy's."""
    want = expected(p)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_allclose(g, w, rtol=p.rtol, atol=p.atol)
