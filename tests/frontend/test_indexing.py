"""Indexing: basic slicing (generated), integer-array gathers, item assignment, take."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from runner import check, check_or_raises, run_traced
from strategies import SETTINGS, dtypes, shapes, small_arrays

from tensorir.frontend import TraceIndexError, UnsupportedError


@SETTINGS
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_basic_indexing(data, dtype, shape):
    x = data.draw(small_arrays(dtype, shape))
    key = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    check(lambda a: a[key], x)


@SETTINGS
@given(data=st.data(), shape=shapes.filter(len))
def test_integer_array_indexing(data, shape):
    x = data.draw(small_arrays(np.int32, shape))
    axis = data.draw(st.integers(0, len(shape) - 1))
    n = shape[axis]
    idx_shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    elems = st.integers(-n, n - 1) if n else st.nothing()
    idx = data.draw(hnp.arrays(np.int64, idx_shape if n else (0,), elements=elems))
    key = (slice(None),) * axis + (idx,)
    check(lambda a: a[key], x)
    check(lambda a, i: a[(slice(None),) * axis + (i,)], x, idx)  # traced indices
    check(lambda a: (np.take(a, idx, axis=axis), a.take(idx, axis)), x)


def test_mixed_advanced_indexing():
    x = np.arange(24).reshape(2, 3, 4)
    i = np.array([0, 2, -1])
    check(lambda a: (a[0, :, i], a[:, 0, i], a[1, i], a[None, 0, i], a[0, None, i]), x)
    check(lambda a: (a[[1, -2], :, 0], a[..., [1, 3]], a[[1]], a[[]], a[-1, [0, 0], 1:]), x)
    check(lambda a: (np.take(a, 5), np.take(a, [[1, -1]]), np.take(a, [2, 0], axis=-1)), x)


@SETTINGS
@given(data=st.data(), shape=hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=3))
def test_several_integer_arrays(data, shape):
    x = data.draw(small_arrays(np.int16, shape))
    drawn = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=False))
    key = list(drawn) if isinstance(drawn, tuple) else [drawn]  # a bare int or slice too
    key += [slice(None)] * (len(shape) - sum(k is not None for k in key))
    axes = [i for i, k in enumerate(key) if k is not None]
    chosen = data.draw(st.lists(st.sampled_from(axes), min_size=2, max_size=3, unique=True))
    ishape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    arrays = {}
    for i in sorted(chosen):
        n = shape[sum(k is not None for k in key[:i])]
        arrays[i] = data.draw(hnp.arrays(np.int32, ishape, elements=st.integers(-n, n - 1)))
    full = tuple(arrays.get(i, k) for i, k in enumerate(key))
    check(lambda a: a[full], x)

    def traced(a, *idx):
        it = iter(idx)
        return a[tuple(next(it) if i in arrays else k for i, k in enumerate(key))]

    check(traced, x, *arrays.values())


@SETTINGS
@given(data=st.data(), dtype=dtypes, shape=shapes.filter(len))
def test_take_along_axis(data, dtype, shape):
    x = data.draw(small_arrays(dtype, shape))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    ishape = list(shape)
    ishape[axis] = data.draw(st.integers(0, 3)) if n else 0
    for d in range(len(shape)):  # other dims broadcast: size 1 on either side
        if d != axis % len(shape) and data.draw(st.booleans()):
            ishape[d] = 1
    elems = st.integers(-n, n - 1) if n else st.nothing()
    idx = data.draw(hnp.arrays(np.int64, tuple(ishape), elements=elems))
    check(lambda a, i: np.take_along_axis(a, i, axis=axis), x, idx)


@SETTINGS
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_setitem_basic(data, dtype, shape):
    x = data.draw(small_arrays(dtype, shape))
    key = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    target = x[key].shape
    vshape = data.draw(hnp.broadcastable_shapes(target, max_dims=len(target), min_side=0))
    v = data.draw(small_arrays(data.draw(dtypes), vshape))

    def assign(a, v):
        a = a.copy()
        with np.errstate(all="ignore"):
            a[key] = v
        return a * 1 if a.dtype != np.bool_ else a

    check_or_raises(assign, x, v)


def test_setitem_forms():
    def fn(x, v, idx, mask):
        x = x.copy()
        x[1:-1] = 0
        x[0] = v
        x[:, ::-2] = 7.9  # numpy truncates into the int array
        x[idx] = -x[0]
        x[:, [0, 2]] = 11
        x[mask] = 5
        x[..., -1] += 100
        return x

    x = np.arange(20, dtype=np.int32).reshape(5, 4)
    mask = (x % 3) == 0
    check(fn, x, np.arange(4, dtype=np.int64), np.array([4, -1]), mask)
    check(lambda x, i: _assign_rows(x, i), x, np.array([3, 1]))


def _assign_rows(x, i):
    x = x.copy()
    x[i] = np.array([[1], [2]])
    return x


def test_setitem_rebinds_only_the_tracer():
    def fn(x):
        y = x.copy()
        z = y  # the same tracer: sees the assignment, as in numpy
        y[0] = -1.0
        return x, y, z

    check(fn, np.ones(3))


def test_iteration_and_len():
    x = np.arange(12.0).reshape(3, 4)
    check(lambda a: [r.sum() for r in a] + [len(a)], x)
    check(lambda a: sum(a) + np.stack(list(a)).sum(0), x)
    with pytest.raises(TypeError, match="iteration over a 0-d array"):
        run_traced(lambda a: list(a.sum()), x)


@pytest.mark.parametrize(
    ("fn", "error", "message"),
    [
        (lambda a: a[3], TraceIndexError, "index 3 is out of bounds for axis 0 with size 3"),
        (lambda a: a[:, -5], TraceIndexError, "index -5 is out of bounds for axis 1 with size 4"),
        (lambda a: a[[0, 7]], TraceIndexError, "index 7 is out of bounds for axis 0 with size 3"),
        (lambda a: a[0, 0, 0], TraceIndexError, "too many indices"),
        (lambda a: a[..., ...], TraceIndexError, "single ellipsis"),
        (lambda a: a[1.5], TraceIndexError, "valid indices"),
        (lambda a: a[a > 0], UnsupportedError, "boolean mask indexing"),
        (lambda a: a[[0, 1], [1, 2, 3]], TraceIndexError, "could not be broadcast"),
        (lambda a: a[[0, 1], [4]], TraceIndexError, "index 4 is out of bounds for axis 1"),
        (lambda a: a[a[0, 0] : 2], TypeError, "static argument"),
    ],
)
def test_indexing_errors(fn, error, message):
    with pytest.raises(error, match=message) as info:
        run_traced(fn, np.arange(12.0).reshape(3, 4))
    assert "test_indexing.py:" in str(info.value)


def test_traced_integer_indices():
    x = np.arange(12.0).reshape(3, 4)
    check(lambda a, i: (a[i], a[:, i], a[i, -1], a[np.int64(1)], a[np.array(2)]), x, 2)
    check(lambda a, i: a[i] * 2, x, np.int32(-1))

    def assign(a, i):
        a = a.copy()
        a[i] = 0.0
        a[:, i] += 1
        return a

    check(assign, x, 1)
    check(assign, x, np.int64(-2))


def test_slices_feeding_other_ops():
    # a slice from index 0 reads a prefix through the identity map: its loop extent must stay
    x = np.arange(24.0).reshape(4, 6)
    check(lambda a: (a[:2].sum(), a[:3, :2] * 2, a[:, :2].max(1), (a + 1)[:3].sum(0)), x)
    check(lambda a: np.exp(a[:1]) + a[1:2], x)
