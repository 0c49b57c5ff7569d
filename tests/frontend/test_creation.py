"""Creation functions: splat constants and iota-based ranges inside a trace, numpy outside."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from runner import check
from strategies import DTYPES, SETTINGS

from tensorir import numpy as tnp
from tensorir.frontend import trace

shape_args = st.one_of(st.integers(0, 4), st.lists(st.integers(0, 3), max_size=3).map(tuple))


@SETTINGS
@given(shape=shape_args, dtype=st.sampled_from(DTYPES + [None]), fill=st.integers(0, 1))
def test_filled(shape, dtype, fill):
    kw = {} if dtype is None else {"dtype": dtype}
    check(
        lambda: (tnp.zeros(shape, **kw), tnp.ones(shape, **kw), tnp.empty(shape, **kw).shape),
    )
    check(lambda: (tnp.full(shape, fill, **kw), tnp.full(shape, 2.5), tnp.full(shape, True)))


@SETTINGS
@given(
    start=st.integers(-5, 5) | st.floats(-5, 5),
    stop=st.none() | st.integers(-5, 10) | st.floats(-5, 10),
    step=st.sampled_from([1, 2, -1, -3, 0.5, -0.25, 3]),
    dtype=st.sampled_from([None, np.int32, np.float32, np.float64]),
)
def test_arange(start, stop, step, dtype):
    if stop is None:
        start = abs(start)
        check(lambda: tnp.arange(start, dtype=dtype))
    else:
        check(lambda: tnp.arange(start, stop, step, dtype=dtype))


@SETTINGS
@given(
    start=st.integers(-5, 5) | st.floats(-5, 5),
    stop=st.integers(-5, 10) | st.floats(-5, 10),
    num=st.integers(0, 7),
    endpoint=st.booleans(),
    dtype=st.sampled_from([None, np.float32, np.int64]),
)
def test_linspace(start, stop, num, endpoint, dtype):
    check(lambda: tnp.linspace(start, stop, num, endpoint=endpoint, dtype=dtype))


@pytest.mark.parametrize("k", [-2, 0, 1, 5])
def test_eye_identity(k):
    check(lambda: (tnp.eye(3, k=k), tnp.eye(2, 4, k, dtype=np.int8), tnp.identity(3, np.bool_)))


def test_like_dispatch():
    x = np.ones((2, 3), np.float32)
    check(lambda a: a + np.zeros((2, 3), like=a) + np.arange(3, like=a), x)


def test_big_ranges_are_not_big_constants():
    t = trace(lambda: tnp.arange(10**7) * 2 + tnp.zeros((4096, 4096)).sum(), ())
    for op in t.function.body.ops:
        if op.name == "tir.constant":
            assert op.attrs["value"].splat
    assert any(op.name == "tir.iota" for op in t.function.body.ops)


def test_eager_outside_tracing():
    assert isinstance(tnp.arange(3), np.ndarray)
    np.testing.assert_array_equal(tnp.exp(np.zeros(2)), np.ones(2))
    assert tnp.erf(0.0) == 0.0
