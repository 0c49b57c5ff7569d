"""Shape functions, joining, padding, where/clip/astype and the *_like constructors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from runner import check, check_or_raises
from strategies import SETTINGS, arrays, dtypes, nonempty_shapes, shapes, small_arrays


@st.composite
def reshape_targets(draw, shape):
    """A shape of the same size: the dims permuted, some merged, 1s inserted, maybe one -1."""
    dims = list(draw(st.permutations(shape)))
    while len(dims) > 1 and draw(st.booleans()):
        i = draw(st.integers(0, len(dims) - 2))
        dims[i : i + 2] = [dims[i] * dims[i + 1]]
    for _ in range(draw(st.integers(0, 2))):
        dims.insert(draw(st.integers(0, len(dims))), 1)
    if dims and draw(st.booleans()) and 0 not in dims:
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return tuple(dims)


@SETTINGS
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_reshape(data, dtype, shape):
    x = data.draw(arrays(dtype, shape))
    target = data.draw(reshape_targets(shape))
    check(lambda a: (a.reshape(target), np.reshape(a, target), a.ravel(), a.flatten()), x)


@SETTINGS
@given(data=st.data(), shape=shapes)
def test_transposes(data, shape):
    x = data.draw(small_arrays(np.float32, shape))
    n = len(shape)
    perm = data.draw(st.permutations(range(n)))
    check(lambda a: (a.T, np.transpose(a, perm), a.transpose(*perm) if n else a.transpose()), x)
    if n:
        i, j = data.draw(st.integers(-n, n - 1)), data.draw(st.integers(-n, n - 1))
        src = data.draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
        dst = data.draw(st.permutations(range(n)))[: len(src)]
        check(lambda a: (np.swapaxes(a, i, j), a.swapaxes(j, i), np.moveaxis(a, src, dst)), x)
    if n >= 2:
        check(lambda a: a.mT, x)


@SETTINGS
@given(data=st.data(), shape=shapes)
def test_expand_squeeze_flip(data, shape):
    x = data.draw(small_arrays(np.int16, shape))
    n = len(shape)
    new = data.draw(st.lists(st.integers(-(n + 2), n + 1), unique=True, min_size=1, max_size=2))
    check_or_raises(lambda a: np.expand_dims(a, tuple(new)), x)
    check(lambda a: (np.squeeze(a), a[None, ..., None].squeeze(0)), x)
    axes = data.draw(st.lists(st.integers(0, max(n - 1, 0)), unique=True, max_size=n))
    check(lambda a: (np.flip(a), np.flip(a, tuple(axes))), x)


@SETTINGS
@given(data=st.data(), dtype=dtypes, shapes=hnp.mutually_broadcastable_shapes(num_shapes=1))
def test_broadcast_to(data, dtype, shapes):
    x = data.draw(arrays(dtype, shapes.input_shapes[0]))
    check(lambda a: np.broadcast_to(a, shapes.result_shape), x)


@SETTINGS
@given(data=st.data(), shape=nonempty_shapes.filter(len), n=st.integers(1, 3))
def test_concatenate_stack(data, shape, n):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    ds = [data.draw(dtypes) for _ in range(n)]
    parts = []
    for d in ds:
        s = list(shape)
        s[axis] = data.draw(st.integers(0, 3))
        parts.append(data.draw(small_arrays(d, tuple(s))))
    check(lambda *xs: np.concatenate(xs, axis=axis), *parts)
    check(lambda *xs: np.concatenate(xs, axis=None), *parts)
    same = [data.draw(small_arrays(d, shape)) for d in ds]
    ax = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check(lambda *xs: (np.stack(xs, ax), np.hstack(xs), np.vstack(xs)), *same)


def test_joining_examples():
    a, b = np.arange(3.0), np.arange(3)
    check(lambda x, y: (np.hstack([x, y]), np.vstack([x, y]), np.stack([x, y], axis=1)), a, b)
    check(lambda x: np.concatenate([x, [1000, 2]]), np.arange(3, dtype=np.int8))
    check(lambda x: np.concatenate([x, x], dtype=np.float32), np.arange(3))


@SETTINGS
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_pad(data, dtype, shape):
    x = data.draw(arrays(dtype, shape))
    widths = [tuple(data.draw(st.lists(st.integers(0, 2), min_size=2, max_size=2))) for _ in shape]
    widths = widths or 0  # numpy rejects 0-d arrays with any other pad width
    value = data.draw(st.integers(0, 1) if dtype.kind in "bu" else st.integers(-3, 3))
    check(lambda a: (np.pad(a, widths, constant_values=value), np.pad(a, 1 if shape else 0)), x)


def test_pad_forms():
    x = np.arange(6.0).reshape(2, 3)
    check(
        lambda a: (np.pad(a, (1, 2)), np.pad(a, ((1, 0),)), np.pad(a, 2, constant_values=-1.5)), x
    )
    check(lambda a: np.pad(a, 1, constant_values=a[0, 0]), x)


@SETTINGS
@given(data=st.data(), d1=dtypes, d2=dtypes, shapes=hnp.mutually_broadcastable_shapes(num_shapes=3))
def test_where(data, d1, d2, shapes):
    c = data.draw(arrays(np.bool_, shapes.input_shapes[0]))
    a = data.draw(arrays(d1, shapes.input_shapes[1]))
    b = data.draw(arrays(d2, shapes.input_shapes[2]))
    check(lambda c, a, b: np.where(c, a, b), c, a, b)
    check(lambda a: np.where(a > 0, a, 0), a)


@SETTINGS
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_clip(data, dtype, shape):
    x = data.draw(arrays(dtype, shape))
    lo = data.draw(st.sampled_from([None, 0, -5, 2.5, -1000]))
    hi = data.draw(st.sampled_from([None, 3, 1000, 7.5]))
    check_or_raises(lambda a: np.clip(a, lo, hi), x)
    check_or_raises(lambda a: a.clip(min=lo), x)


@SETTINGS
@given(data=st.data(), src=dtypes, dst=dtypes, shape=shapes)
def test_astype(data, src, dst, shape):
    # float -> int casts of NaN, inf or out-of-range values are undefined in C; numpy gives
    # whatever the platform does, so only representable values are compared
    x = data.draw((small_arrays if dst.kind in "iu" else arrays)(src, shape))
    check(lambda a: (a.astype(dst), np.astype(a, dst), a.copy(), np.copy(a)), x)


@SETTINGS
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_like(data, dtype, shape):
    x = data.draw(arrays(dtype, shape))
    check(
        lambda a: (np.zeros_like(a), np.ones_like(a), np.full_like(a, 1), np.empty_like(a).shape), x
    )
    check(lambda a: (np.zeros_like(a, dtype=np.float32), np.full_like(a, 2, shape=(2, 1))), x)


def test_shape_queries():
    x = np.zeros((2, 3, 4), np.float32)
    check(lambda a: a + (np.shape(a)[1] + np.ndim(a) + np.size(a) + np.size(a, 1) + len(a)), x)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a: a.reshape(5, -1),
        lambda a: a.reshape(-1, -1),
        lambda a: np.transpose(a, (0, 0)),
        lambda a: np.squeeze(a, 0),
        lambda a: np.concatenate([a, a[0]]),
        lambda a: np.stack([a, a[0]]),
        lambda a: np.broadcast_to(a, (4, 3)),
        lambda a: np.sum(a, axis=2),
        lambda a: np.swapaxes(a, 0, 5),
    ],
)
def test_shape_errors_match_numpy(fn):
    check_or_raises(fn, np.zeros((2, 3)))
