"""Differential tests: hypothesis writes random numpy programs of 1-30 steps, each step a form the
rewrites target (identities, double negations, movement chains, casts, constant subexpressions,
softmax, logsumexp, sigmoid logs, ...) over random shapes and dtypes. Each program runs in numpy,
traced and interpreted, optimized and interpreted, and (a few) optimized and compiled; all agree.

Canonicalization and CSE must give numpy's values. A stabilized program may give other values
(that is its point): it must be at least as close as numpy to the same program run in higher
precision (float64 for float32, long double for float64), and finite wherever numpy overflowed
is fine (`test_stabilize.py` checks such values against closed forms). The optimized program must
also be a fixed point of the pipeline.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from passcheck import optimize, run, traced

from tensorir.ir.printer import print_function
from tensorir.lower_llvm.engine import DEFAULT_PIPELINE, compile_function

FLOAT_UNARY = [np.negative, np.abs, np.exp, np.tanh, np.sqrt, np.sin, np.floor, np.log1p]
INT_UNARY = [np.negative, np.abs, np.square, np.sign]
CONSTS = [0, 1, -1, 2, 4, 3, 0.5, 0.25, -0.0]


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis):
    return np.exp(x) / np.sum(np.exp(x), axis=axis, keepdims=True)


def _float_step(kind: str, k: int, a, b, axis: int):
    """One step on float values (numpy arrays or tracers alike); the result has a's shape."""
    if kind == "unary":
        return FLOAT_UNARY[k % len(FLOAT_UNARY)](a)
    if kind == "binary":
        return [np.add, np.subtract, np.multiply, np.true_divide, np.maximum][k % 5](a, b)
    if kind == "const":
        c = CONSTS[k % len(CONSTS)]
        ops = [
            lambda: a + c,
            lambda: c - a,
            lambda: a * c,
            lambda: a / (c or 2),
            lambda: np.power(a, np.full_like(a, abs(c))),
        ]
        return ops[(k // len(CONSTS)) % len(ops)]()
    if kind == "stable":
        forms = [
            lambda: _softmax(a, axis),
            lambda: np.log(_softmax(a, axis)),
            lambda: a - np.log(np.sum(np.exp(a), axis=axis, keepdims=True)),
            lambda: np.log(1 + a * a),
            lambda: np.log(1 - a),
            lambda: np.exp(a) - 1,
            lambda: np.log(_sigmoid(a)),
            lambda: np.log(1 - _sigmoid(a)),
            lambda: (
                -(_sigmoid(b) * np.log(_sigmoid(a)) + (1 - _sigmoid(b)) * np.log(1 - _sigmoid(a)))
            ),
            lambda: np.log(1 + np.exp(a)),
        ]
        return forms[k % len(forms)]()
    if kind == "cast":
        forms = [lambda: a.astype(np.float64).astype(a.dtype), lambda: a.astype(np.float16)]
        return forms[k % 2]().astype(a.dtype)
    raise AssertionError(kind)


def _int_step(kind: str, k: int, a, b, axis: int):
    """One step on integer values."""
    if kind == "unary":
        return INT_UNARY[k % len(INT_UNARY)](a)
    if kind == "binary":
        return [np.add, np.subtract, np.multiply, np.maximum, lambda x, y: x - x + y][k % 5](a, b)
    if kind == "const":
        c = int(CONSTS[k % 6])
        ops = [
            lambda: a + c,
            lambda: c - a,
            lambda: a * c,
            lambda: np.power(a, np.full_like(a, c % 4)),
        ]
        return ops[(k // 6) % len(ops)]()
    if kind == "cast":
        forms = [
            lambda: a.astype(np.float64).astype(a.dtype),
            lambda: a.astype(np.int8).astype(a.dtype),
        ]
        return forms[k % 2]()
    if kind == "stable":
        return ~~a if k % 2 else a * 1 + 0
    raise AssertionError(kind)


def _step(kind: str, k: int, i: int, j: int, pool: list):
    """Apply one recorded step to the pool (numpy arrays or tracers alike)."""
    a, b = pool[i % len(pool)], pool[j % len(pool)]
    shape, rank = np.shape(a), np.ndim(a)
    axis = k % rank
    if np.shape(b) != shape:
        b = a
    if kind == "double":
        forms = [
            lambda: np.negative(-a),
            lambda: abs(abs(a)),
            lambda: a.T.T,
            lambda: abs(-a) + 0 * a,
        ]
        return forms[k % len(forms)]()
    if kind == "movement":
        perm = np.roll(np.arange(rank), k)
        forms = [
            lambda: a.reshape(-1).reshape(shape),
            lambda: np.transpose(np.transpose(a, perm), np.argsort(perm)),
            lambda: np.concatenate([a, b])[::-1][k % (shape[0] + 1) :][: shape[0]],
            lambda: np.concatenate([a, b])[::2],
            lambda: a - np.broadcast_to(a.max(axis=axis, keepdims=True), shape),
            lambda: a * np.sum(b, axis=axis, keepdims=True),
        ]
        return forms[k % len(forms)]()
    if kind == "where":
        return np.where(a > b, a, b) if k % 2 else np.where(bool(k % 3), a, b)
    if kind == "fold":
        return a + (np.ones_like(a) * (k % 5) - np.ones_like(a))
    step = _float_step if np.dtype(a.dtype).kind == "f" else _int_step
    return step(kind, k, a, b, axis)


KINDS = ["unary", "binary", "const", "double", "movement", "where", "fold", "stable", "cast"]
programs = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 50), st.integers(0, 30), st.integers(0, 30)),
    min_size=1,
    max_size=30,
)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
DTYPES = [np.float32, np.float64, np.int32, np.int64]


def _program(steps):
    def fn(x, y):
        pool = [x, y]
        for step in steps:
            pool.append(_step(*step, pool))
        return pool[-1]

    return fn


def _inputs(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return [rng.uniform(-3, 3, shape).astype(dtype) for _ in range(2)]
    return [rng.integers(-20, 20, shape).astype(dtype) for _ in range(2)]


def _tolerance(dtype: np.dtype, want: np.ndarray) -> float:
    """An absolute tolerance: a relative one scaled by the largest finite value."""
    finite = np.abs(want[np.isfinite(want)].astype(np.float64))
    scale = max(float(finite.max()), 1.0) if finite.size else 1.0
    return (2e-4 if dtype == np.float32 else 1e-9) * scale


def _agree(got, want) -> None:
    """`got` is numpy's `want` up to rounding: exactly for integers, NaN where NaN."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want)
        return
    atol = _tolerance(want.dtype, want)
    np.testing.assert_allclose(got, want, rtol=0, atol=atol, equal_nan=True)


def _no_less_accurate(got, want, exact) -> None:
    """Stabilized `got` is as close to `exact` (the program in higher precision) as numpy's
    `want` is, up to rounding; where numpy overflowed, anything is closer."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    exact = np.asarray(exact, np.longdouble)
    with np.errstate(all="ignore"):
        ours = np.abs(got.astype(np.longdouble) - exact)
        numpy_err = np.abs(want.astype(np.longdouble) - exact)
    bound = 4 * np.where(np.isnan(numpy_err), np.inf, numpy_err) + _tolerance(want.dtype, want)
    ok = ~np.isfinite(exact) | (ours <= bound)
    assert ok.all(), f"ours {got[~ok]}, numpy {want[~ok]}, exact {exact[~ok]}"


def _check(steps, dtype, shape, seed, compiled: bool):
    """numpy, traced, canonicalized (exact: numpy's values) and stabilized (numpy's values, or
    closer to the exact ones) all agree; the optimized program is a fixed point of the pipeline;
    `compiled` runs it natively too."""
    fn = _program(steps)
    args = _inputs(dtype, shape, seed)
    with np.errstate(all="ignore"):
        want = fn(*args)
        wide = np.longdouble if np.dtype(dtype) == np.float64 else np.float64
        exact = fn(*(a.astype(wide) if a.dtype.kind == "f" else a for a in args))
    f = traced(fn, *args)
    _agree(run(f, args)[0], want)
    _agree(run(optimize(f, "canonicalize,cse")[0], args)[0], want)
    g, fired = optimize(f)
    again, refired = optimize(g)
    assert not refired and print_function(again) == print_function(g), "not a fixed point"
    check = _agree if not any(n.startswith("stab_") for n in fired) else _no_less_accurate
    results = [run(g, args)[0]]
    if compiled:
        results.append(compile_function(g, pipeline=DEFAULT_PIPELINE)(*args)[0])
    for got in results:
        if check is _agree:
            _agree(got, want)
        else:
            _no_less_accurate(got, want, exact)


@settings(max_examples=150, deadline=None)
@given(programs, st.sampled_from(DTYPES), shapes, st.integers(0, 2**16))
def test_random_programs_agree_with_numpy(steps, dtype, shape, seed):
    _check(steps, dtype, shape, seed, compiled=False)


@settings(max_examples=20, deadline=None)
@given(programs, st.sampled_from(DTYPES), shapes, st.integers(0, 2**16))
def test_random_programs_compiled_agree_with_numpy(steps, dtype, shape, seed):
    _check(steps, dtype, shape, seed, compiled=True)
