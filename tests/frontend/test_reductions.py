"""Reductions over every axis combination, with keepdims, for every dtype, against numpy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from runner import check, check_or_raises, run_traced
from strategies import SETTINGS, arrays, dtypes, shapes

REDUCTIONS = [np.sum, np.prod, np.max, np.min, np.mean, np.var, np.std, np.any, np.all]


@st.composite
def axis_args(draw, ndim: int):
    """None, an int (maybe negative) or a tuple of distinct axes."""
    if ndim == 0:
        return draw(st.sampled_from([None, (), 0, -1]))
    subsets = [c for r in range(ndim + 1) for c in itertools.combinations(range(ndim), r)]
    choice = draw(st.sampled_from([None, "int", "tuple"]))
    if choice is None:
        return None
    if choice == "int":
        return draw(st.integers(-ndim, ndim - 1))
    return tuple(draw(st.permutations(draw(st.sampled_from(subsets)))))


@pytest.mark.parametrize("fn", REDUCTIONS, ids=lambda f: f.__name__)
@SETTINGS
@given(data=st.data(), dtype=dtypes, shape=shapes, keepdims=st.booleans())
def test_reduction(fn, data, dtype, shape, keepdims):
    x = data.draw(arrays(dtype, shape))
    axis = data.draw(axis_args(len(shape)))
    check_or_raises(lambda a: fn(a, axis=axis, keepdims=keepdims), x)


@pytest.mark.parametrize("fn", [np.argmax, np.argmin], ids=lambda f: f.__name__)
@SETTINGS
@given(data=st.data(), dtype=dtypes, shape=shapes, keepdims=st.booleans())
def test_arg_reduction(fn, data, dtype, shape, keepdims):
    x = data.draw(arrays(dtype, shape))
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1)) if shape else None
    check_or_raises(lambda a: fn(a, axis=axis, keepdims=keepdims), x)


@SETTINGS
@given(data=st.data(), dtype=dtypes, shape=shapes, ddof=st.integers(0, 2))
def test_var_std_ddof(data, dtype, shape, ddof):
    x = data.draw(arrays(dtype, shape))
    axis = data.draw(axis_args(len(shape)))
    check_or_raises(lambda a: (np.var(a, axis=axis, ddof=ddof), a.std(axis=axis, ddof=ddof)), x)


def test_methods_and_dtype_argument():
    x = np.arange(24, dtype=np.int8).reshape(2, 3, 4)
    check(lambda a: (a.sum(), a.prod(1), a.max(0), a.min((0, 2)), a.mean(-1)), x)
    check(lambda a: (a.argmax(), a.argmin(axis=2), a.any(), a.all(axis=1)), x)
    check(
        lambda a: (a.sum(dtype=np.int8), np.mean(a, dtype=np.float32), a.var(dtype=np.float32)), x
    )
    check(lambda a: (np.amax(a, axis=1), np.amin(a, keepdims=True)), x)
    check(lambda a: (np.sum(a > 3), np.prod(a > 3, axis=0)), x)


def test_empty_reductions():
    x = np.zeros((0, 3), np.float32)
    check(lambda a: (a.sum(0), a.prod(0), a.any(0), a.all(0), a.max(1), a.mean(1)), x)
    with pytest.raises(ValueError, match="zero-size array"):
        run_traced(lambda a: a.max(0), x)
    with pytest.raises(ValueError, match="empty sequence"):
        run_traced(lambda a: a.argmax(), x)


def test_products_overflow_in_their_own_dtype():
    # numpy multiplies float16 in float16: 566**15 is inf on the way, and inf * 0 is NaN
    x = np.full((4, 4), 566.0, np.float16)
    x[3, 2] = 0.0
    check(lambda a: (np.prod(a), a.prod(axis=0)), x)
    check(lambda a: np.prod(a), np.full(40, 1e10, np.float32))
