"""matmul / @ (1-D, 2-D, batched with broadcasting), dot and einsum, against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from runner import check, check_or_raises
from strategies import NUMERIC, SETTINGS, small_arrays

numeric = st.sampled_from(NUMERIC + [np.dtype(np.bool_)])


@st.composite
def matmul_shapes(draw):
    """Shapes numpy's matmul accepts: 1-D or batched 2-D with broadcastable batch dims."""
    m, k, n = (draw(st.integers(0, 4)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    a = (k,) if draw(st.booleans()) else batch.input_shapes[0] + (m, k)
    b = (k,) if draw(st.booleans()) else batch.input_shapes[1] + (k, n)
    return a, b


@SETTINGS
@given(data=st.data(), shapes=matmul_shapes(), d1=numeric, d2=numeric)
def test_matmul(data, shapes, d1, d2):
    a = data.draw(small_arrays(d1, shapes[0]))
    b = data.draw(small_arrays(d2, shapes[1]))
    check(lambda x, y: (x @ y, np.matmul(x, y)), a, b)
    check(lambda y: a @ y, b)  # ndarray @ tracer defers to the tracer


@SETTINGS
@given(data=st.data(), dtype=numeric, ra=st.integers(0, 3), rb=st.integers(0, 3))
def test_dot(data, dtype, ra, rb):
    k = data.draw(st.integers(1, 3))
    sa = tuple(data.draw(st.integers(1, 3)) for _ in range(ra - 1)) + (k,) if ra else ()
    sb = tuple(data.draw(st.integers(1, 3)) for _ in range(rb - 2)) + (k,) if rb else ()
    if rb >= 2:
        sb = sb + (data.draw(st.integers(1, 3)),)
    a, b = data.draw(small_arrays(dtype, sa)), data.draw(small_arrays(dtype, sb))
    check(lambda x, y: (np.dot(x, y), x.dot(y)), a, b)


EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("i,i->", [(5,), (5,)]),
    ("i,i", [(5,), (5,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("ijk->kj", [(2, 3, 4)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("ij,kj->ik", [(2, 3), (4, 3)]),
    ("ijk,ikl,il->jl", [(2, 3, 4), (2, 4, 5), (2, 5)]),
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 2)]),
    ("...ij,...jk->...ik", [(2, 2, 3), (3, 4)]),
    ("...j,j", [(2, 3), (3,)]),
    ("i...->...", [(2, 3, 4)]),
    ("ij,j->i", [(3, 1), (4,)]),
    (" i j , j k -> i k ", [(2, 3), (3, 4)]),
    ("ij,jk->ik", [(0, 3), (3, 2)]),
]


@pytest.mark.parametrize(("subscripts", "shapes"), EINSUMS, ids=[e[0] for e in EINSUMS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int8, np.int64])
def test_einsum(subscripts, shapes, dtype):
    rng = np.random.default_rng(0)
    xs = [rng.integers(-3, 4, s).astype(dtype) for s in shapes]
    check(lambda *a: np.einsum(subscripts, *a), *xs)


def test_einsum_mixed_dtypes():
    check(lambda a, b: np.einsum("ij,j->i", a, b), np.ones((2, 3), np.float32), np.arange(3))


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: a @ b,
        lambda a, b: np.matmul(a[0, 0], b),
        lambda a, b: np.dot(a, b[0]),
        lambda a, b: np.einsum("ij,jk", a, b),
    ],
)
def test_contraction_errors_match_numpy(fn):
    check_or_raises(fn, np.ones((2, 3)), np.ones((2, 3)))
