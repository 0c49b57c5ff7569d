"""The one way frontend tests run traced code: trace, verify, execute, unflatten.

Every numeric test goes through `run_traced`, which runs the traced IR twice: in the reference
interpreter (each op's numpy `eval`) and compiled (passes, fusion, LLVM), and checks that the
two agree before the caller compares with numpy itself.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tensorir.frontend import trace
from tensorir.frontend.pytree import flatten
from tensorir.interpreter import interpret
from tensorir.ir import verify
from tensorir.lower_llvm.engine import compile_function


def run_traced(fn, *args, static_argnums=(), **kwargs):
    """Trace `fn` on the arguments, verify the IR, run it interpreted and compiled, check they
    agree, and return the compiled result in `fn`'s result structure."""
    traced = trace(fn, args, kwargs, static_argnums=static_argnums)
    verify(traced.function)
    flat_args = traced.flat_args(args, kwargs)
    with np.errstate(all="ignore"):
        interpreted = interpret(traced.function, flat_args)
    exe = compile_function(trace(fn, args, kwargs, static_argnums=static_argnums).function)
    compiled = exe(
        *[
            np.asarray(a, dtype=v.type.dtype.np)
            for a, v in zip(flat_args, traced.function.args, strict=True)
        ]
    )
    assert_same(traced.unflatten(compiled), traced.unflatten(interpreted))
    return traced.unflatten(compiled)


TOLERANCE = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-5, np.dtype(np.float16): 2e-3}


def assert_same(got, want, rtol: float | None = None) -> None:
    """numpy's result and ours agree: structure, dtype, shape, values (NaN where NaN)."""
    got_leaves, got_tree = flatten(got)
    want_leaves, want_tree = flatten(want)
    assert got_tree == want_tree, f"structure {got_tree} != {want_tree}"
    for g, w in zip(got_leaves, want_leaves, strict=True):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype, f"dtype {g.dtype} != numpy's {w.dtype}"
        assert g.shape == w.shape, f"shape {g.shape} != numpy's {w.shape}"
        if w.dtype.kind != "f":
            np.testing.assert_array_equal(g, w)
            continue
        tol = rtol if rtol is not None else TOLERANCE[w.dtype]
        finite = np.abs(w[np.isfinite(w)].astype(np.float64))
        scale = max(float(finite.max()), 1.0) if finite.size else 1.0
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * scale, equal_nan=True)


def check(fn, *args, rtol: float | None = None, static_argnums=(), **kwargs):
    """Run `fn` traced and in numpy; assert the results agree. Returns the traced result."""
    want = numpy_result(fn, *args, **kwargs)
    got = run_traced(fn, *args, static_argnums=static_argnums, **kwargs)
    assert_same(got, want, rtol)
    return got


def numpy_result(fn, *args, **kwargs):
    """`fn` run by numpy itself, quietly (no overflow or empty-slice warnings)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


_NUMPY_ERRORS = (OverflowError, TypeError, ValueError, IndexError)


def check_or_raises(fn, *args, **kwargs):
    """`check`, or where numpy raises, tracing raises an error of the same builtin class."""
    try:
        numpy_result(fn, *args, **kwargs)
    except _NUMPY_ERRORS as e:
        base = next(c for c in _NUMPY_ERRORS if isinstance(e, c))
        with pytest.raises(base):
            run_traced(fn, *args, **kwargs)
        return None
    return check(fn, *args, **kwargs)
