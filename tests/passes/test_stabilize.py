"""Stabilization: where the plain numpy formula overflows or loses its digits, the stabilized and
compiled function is accurate, against closed forms evaluated in float64 (independent of the
formula under test). Where numpy's result is already right (-inf rows, NaN), ours is the same."""

from __future__ import annotations

import math

import numpy as np
import pytest
from passcheck import OPTIMIZE, optimize, run, traced

from tensorir.lower_llvm.engine import DEFAULT_PIPELINE, compile_function


def softmax(x):
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def bce_with_logits(x, t):
    p = sigmoid(x)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


E = math.e
F32 = np.float32
LSE_1000 = 1001 + math.log1p(math.exp(-1) + math.exp(-2))  # log(e^999 + e^1000 + e^1001)

# (name, fn, float32 inputs, exact float64 result, patterns that must fire)
CASES = [
    (
        "softmax of [1000, 1001]",
        softmax,
        [np.array([[1000, 1001], [1, 2]], F32)],
        [[1 / (1 + E), E / (1 + E)]] * 2,
        {"stab_softmax"},
    ),
    (
        "log softmax of [1000, 1001]",
        lambda x: np.log(softmax(x)),
        [np.array([[1000, 1001]], F32)],
        [[-1 - math.log1p(math.exp(-1)), -math.log1p(math.exp(-1))]],
        {"stab_log_softmax"},
    ),
    (
        "logsumexp of large values",
        lambda x: np.log(np.sum(np.exp(x), axis=1)),
        [np.array([[999, 1000, 1001], [-1001, -1000, -999]], F32)],
        [LSE_1000, LSE_1000 - 2000],
        {"stab_logsumexp"},
    ),
    (
        "logsumexp, keepdims",
        lambda x: np.log(np.exp(x).sum(axis=-1, keepdims=True)),
        [np.array([[999, 1000, 1001]], F32)],
        [[LSE_1000]],
        {"stab_logsumexp"},
    ),
    (
        "log(1 + 1e-10)",
        lambda x: np.log(1 + x),
        [np.full(3, 1e-10, F32)],
        [1e-10] * 3,
        {"stab_log1p"},
    ),
    (
        "log(1 - 1e-10)",
        lambda x: np.log(1 - x),
        [np.full(2, 1e-10, F32)],
        [math.log1p(-1e-10)] * 2,
        {"stab_log1m"},
    ),
    (
        "exp(1e-10) - 1",
        lambda x: np.exp(x) - 1,
        [np.full(3, 1e-10, F32)],
        [math.expm1(1e-10)] * 3,
        {"stab_expm1"},
    ),
    (
        "log(sigmoid(-100))",
        lambda x: np.log(sigmoid(x)),
        [np.array([-100, -20], F32)],
        [-100 - math.log1p(math.exp(-100)), -20 - math.log1p(math.exp(-20))],
        {"stab_log_reciprocal", "stab_log1p", "stab_softplus"},
    ),
    (
        "log(1 - sigmoid(100))",
        lambda x: np.log(1 - sigmoid(x)),
        [np.array([100, 20], F32)],
        [-100 - math.log1p(math.exp(-100)), -20 - math.log1p(math.exp(-20))],
        {"stab_one_minus_sigmoid", "stab_softplus"},
    ),
    (
        "softplus log(1 + exp(100))",
        lambda x: np.log(1 + np.exp(x)),
        [np.array([100, -100], F32)],
        [100 + math.log1p(math.exp(-100)), math.log1p(math.exp(-100))],
        {"stab_softplus"},
    ),
    (
        "sigmoid cross-entropy of large logits",
        bce_with_logits,
        [np.array([-100, 100, 0.5, 30], F32), np.array([1, 0, 1, 1], F32)],
        [100 + math.log1p(math.exp(-100))] * 2
        + [math.log1p(math.exp(-0.5))]
        + [math.log1p(math.exp(-30))],
        {"stab_softplus"},
    ),
    (
        "float16 softmax of [20, 21]",
        softmax,
        [np.array([[20, 21]], np.float16)],
        [[1 / (1 + E), E / (1 + E)]],
        {"stab_softmax"},
    ),
]


def _compiled(fn, args):
    f = traced(fn, *args)
    return compile_function(f, pipeline=f"{OPTIMIZE},{DEFAULT_PIPELINE}")(*args)[0]


@pytest.mark.parametrize(
    ("fn", "args", "exact", "patterns"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_stabilized_where_numpy_fails(fn, args, exact, patterns):
    exact = np.asarray(exact, np.float64)
    dtype = args[0].dtype
    tol = 2 * float(np.finfo(dtype).eps)
    with np.errstate(all="ignore"):
        plain = np.asarray(fn(*args), np.float64)
    worst = np.max(np.abs(plain - exact) / np.maximum(np.abs(exact), 1e-300), initial=0.0)
    assert not np.all(np.isfinite(plain)) or worst > 1e3 * tol, "numpy was already accurate"

    g, fired = optimize(traced(fn, *args))
    assert patterns <= set(fired), dict(fired)
    for got in (run(g, args)[0], _compiled(fn, args)):
        assert got.dtype == dtype
        tiny = float(np.finfo(dtype).smallest_subnormal)  # subnormal results have few digits
        np.testing.assert_allclose(got.astype(np.float64), exact, rtol=4 * tol, atol=4 * tiny)


def test_nonfinite_rows_match_numpy():
    """scipy's guard: a row of -inf has logsumexp -inf (not NaN), softmax NaN as in numpy; a row
    holding +inf or NaN gives what the unshifted formula gives."""
    x = np.array(
        [[-np.inf, -np.inf, -np.inf], [0, np.inf, 1], [np.nan, 0, 1], [-np.inf, 0, 1]], np.float64
    )
    for fn in (softmax, lambda x: np.log(np.sum(np.exp(x), axis=1)), lambda x: np.log(softmax(x))):
        with np.errstate(all="ignore"):
            want = fn(x)
        g, fired = optimize(traced(fn, x))
        assert any(name.startswith("stab_") for name in fired)
        for got in (run(g, [x])[0], _compiled(fn, [x])):
            np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


def test_empty_reduction_keeps_numpy_result():
    x = np.zeros((2, 0), np.float32)
    fn = lambda x: np.log(np.sum(np.exp(x), axis=1))  # noqa: E731
    g, fired = optimize(traced(fn, x))
    assert "stab_logsumexp" not in fired
    np.testing.assert_array_equal(run(g, [x])[0], np.full(2, -np.inf, np.float32))
