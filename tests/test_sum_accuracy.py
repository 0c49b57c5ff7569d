"""float32 sums add their terms in float32 blocks (`lower_llvm/loops.py`, `_blocked_sums`) and
must stay within numpy's own error.

numpy sums a float32 array pairwise (`pairwise_sum`: halves down to blocks of at most 128,
each summed by 8 interleaved accumulators), so its result is a tree of float32 additions of
depth d_np(n) and |error| <= gamma(d_np(n)) * sum|x|, gamma(d) = d u / (1 - d u), u = 2^-24.
d_np(n) is 16 to 33 for n in [1024, 100k] (it depends on how the halves fall on blocks of 8).

tensorir adds blocks of at most 1024 terms in 64 float32 lanes (16 terms each, in order), joins
the lanes by a halving tree (depth 6) and adds the block sums, and the last n % 64 terms, in
float64: |error| <= gamma(D(n)) * sum|x| + u |sum| + (float64 roundings), with D(n) =
min(1024, 64 floor(n / 64)) / 64 + 5 <= 21, so 22 u sum|x| at most, for any length. Sums of
fewer than 64 terms are float64 throughout: one rounding. `test_bound_is_numpys` checks that
our bound is at most 1.4 times numpy's for every length up to 100k (equal or better for most),
the hypothesis tests that both errors stay within their bounds, and the emulation test that the
order of additions is the documented one, so results do not depend on the CPU, the vectorizer
or the thread count.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorir
from tensorir.ir import types as T
from tensorir.ir.builder import Builder
from tensorir.ir.core import Function
from tensorir.lower_llvm import loops
from tensorir.lower_llvm.engine import compile_function

U = 2.0**-24  # float32 unit roundoff
LANES, BLOCK = loops.SUM_LANES, loops.SUM_BLOCK


def gamma(d: int) -> float:
    return d * U / (1 - d * U)


@functools.cache
def _pairwise_depth(n: int) -> int:
    """Depth of numpy's `pairwise_sum` of n float32 terms (its rounding additions in a row)."""
    if n < 8:
        return max(n - 1, 0)  # res = 0.0; res += a[i]: the first addition is exact
    if n <= 128:
        return n // 8 - 1 + 3 + n % 8  # 8 accumulators, a tree of 3, the rest one by one
    half = n // 2 - (n // 2) % 8
    return 1 + max(_pairwise_depth(half), _pairwise_depth(n - half))


def numpy_depth(n: int) -> int:
    """np.add.reduce starts from x[0] and adds the pairwise sum of the rest."""
    return _pairwise_depth(n - 1) + (n > 1)


def our_depth(n: int) -> int:
    """Float32 depth of tensorir's sum: lanes of at most BLOCK / LANES terms (the first
    addition to -0.0 is exact) and a halving tree of log2(LANES) levels."""
    main = n - n % LANES
    return min(BLOCK, main) // LANES - 1 + int(math.log2(LANES)) if main else 0


def our_bound(x: np.ndarray, exact: float) -> float:
    """|tensorir's error| for the float32 sum of x: float32 blocks, float64 additions of the
    blocks, the leftover terms and up to 128 parts (parallel.PARTS), one final rounding."""
    abs_sum = math.fsum(np.abs(x.astype(np.float64)))
    f64_adds = x.size // LANES + LANES + 256
    return gamma(our_depth(x.size)) * abs_sum + U * abs(exact) + f64_adds * 2.0**-52 * abs_sum


def numpy_bound(x: np.ndarray) -> float:
    return gamma(numpy_depth(x.size)) * math.fsum(np.abs(x.astype(np.float64)))


def test_bound_is_numpys():
    """Our depth plus the final rounding is at most 1.4 times numpy's depth for every length
    up to 100k with more than one term, and the bound is 22 u sum|x| at most."""
    assert (BLOCK // LANES - 1 + int(math.log2(LANES))) + 1 == 22
    for n in range(2, 100_001):
        assert our_depth(n) + 1 <= 1.4 * numpy_depth(n), n
    assert numpy_depth(1024) == 22 and numpy_depth(100_000) == 33  # for the docstring


def _sum_function() -> Function:
    """x.sum() of a float32 vector of any length (a `?` dim): one compilation for all."""
    t = T.TensorType((None,), T.f32)
    f = Function("vsum", [t], [T.TensorType((), T.f32)])
    b = Builder.at_end(f.body)
    b.create("func.return", [b.op("tir.reduce_sum", f.args[0], axes=(0,))])
    return f


@functools.cache
def vector_sum():
    return compile_function(_sum_function())


def _values(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "normal":  # mixed signs, mild cancellation
        return rng.standard_normal(n).astype(np.float32)
    if kind == "positive":  # no cancellation: the relative error is the bound's
        return rng.random(n).astype(np.float32)
    if kind == "range":  # 2^-30 .. 2^30, mixed signs: large dynamic range
        mag = np.exp2(rng.uniform(-30, 30, n)) * rng.uniform(1, 2, n)
        return (mag * rng.choice([-1.0, 1.0], n)).astype(np.float32)
    # heavy cancellation: pairs of nearly opposite large values around small ones
    big = rng.uniform(1e3, 1e4, n // 2 + 1)
    mixed = np.concatenate([big, -big * (1 + rng.uniform(-1e-3, 1e-3, big.size))])
    return rng.permutation(mixed)[:n].astype(np.float32)


LENGTHS = st.one_of(
    st.sampled_from([1, 2, 7, 31, 33, 63, 64, 65, 127, 1023, 1024, 1025, 2047, 65_599, 100_000]),
    st.integers(1, 100_000),
)
KINDS = st.sampled_from(["normal", "positive", "range", "cancel"])


@settings(max_examples=60, deadline=None)
@given(n=LENGTHS, kind=KINDS, seed=st.integers(0, 2**32 - 1))
def test_sum_error_within_numpys_bound(n, kind, seed):
    x = _values(kind, n, seed)
    exact = math.fsum(x.astype(np.float64))
    ours = float(vector_sum()(x)[0])
    theirs = float(np.sum(x))
    assert abs(theirs - exact) <= numpy_bound(x) + 2.0**-53 * abs(exact)  # the bound is right
    assert abs(ours - exact) <= our_bound(x, exact)
    if n == 1:
        assert ours == x[0]
    else:
        assert abs(ours - exact) <= 1.4 * numpy_bound(x) + U * abs(exact)


@settings(max_examples=20, deadline=None)
@given(n=LENGTHS, kind=KINDS, seed=st.integers(0, 2**32 - 1))
def test_row_sums_within_numpys_bound(n, kind, seed):
    """Rows reduce with the same blocks (one compilation per shape, so fewer examples)."""
    rows = 3
    x = _values(kind, rows * n, seed).reshape(rows, n)
    got = tensorir.jit(lambda a: a.sum(axis=1))(x)
    for i in range(rows):
        exact = math.fsum(x[i].astype(np.float64))
        assert abs(float(got[i]) - exact) <= our_bound(x[i], exact)


def emulate(row: np.ndarray) -> np.float32:
    """tensorir's float32 sum of one row, in the documented order: float32 lanes of each block
    (lane l adds terms l, l + 64, ... of the block to -0.0), their halving tree, and the block
    sums with the leftover terms in float64 (rounded once here; the compiled code's float64
    roundings are far below float32's)."""
    main = row.size - row.size % LANES
    parts = []
    for j0 in range(0, main, BLOCK):
        lanes = np.full(LANES, -0.0, np.float32)
        for group in row[j0 : min(j0 + BLOCK, main)].reshape(-1, LANES):
            lanes = lanes + group  # float32, one lane at a time
        while lanes.size > 1:
            lanes = lanes[: lanes.size // 2] + lanes[lanes.size // 2 :]
        parts.append(float(lanes[0]))
    parts += row[main:].astype(np.float64).tolist()
    return np.float32(math.fsum(parts))


@pytest.mark.parametrize("n", [1, 7, 31, 33, 64, 65, 1023, 1024, 1025, 3000, 4096 + 7])
def test_order_of_additions(n):
    """Row sums equal the emulation to the bit, on 1 and 2 threads, at any alignment. (With
    fewer than 16 rows a long sum splits its rows into fixed parts instead, `parallel.PARTS`.)"""
    rng = np.random.default_rng(n)
    shape = (24, n)
    x = (rng.standard_normal(shape) * np.exp2(rng.integers(-8, 8, shape))).astype(np.float32)
    want = np.array([emulate(r) for r in x])
    f = tensorir.jit(lambda a: a.sum(axis=1))
    before = tensorir.get_num_threads()
    try:
        for threads in (1, 2):
            tensorir.set_num_threads(threads)
            assert f(x).tobytes() == want.tobytes()
    finally:
        tensorir.set_num_threads(before)
    shifted = np.empty(x.size + 1, np.float32)[1:].reshape(x.shape)  # 4 bytes off alignment
    shifted[...] = x
    np.testing.assert_array_equal(f(shifted), want)


def test_blocked_sums_do_not_depend_on_threads():
    """Full sums split into fixed parts and softmax's fused exp-and-sum give the same bits on
    any thread count."""
    rng = np.random.default_rng(0)
    v = rng.standard_normal(1 << 20).astype(np.float32)
    m = rng.standard_normal((512, 1000)).astype(np.float32)

    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    total, soft = tensorir.jit(lambda a: a.sum()), tensorir.jit(softmax)
    before = tensorir.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            tensorir.set_num_threads(threads)
            results.append((total(v).tobytes(), soft(m).tobytes()))
    finally:
        tensorir.set_num_threads(before)
    assert results[0] == results[1]
    exact = math.fsum(v.astype(np.float64))
    assert abs(float(total(v)) - exact) <= our_bound(v, exact)
    np.testing.assert_allclose(soft(m), softmax(m), rtol=2e-6, atol=1e-9)


def test_explicit_float64_sums_stay_float64():
    """A user's float64 sum of float32 values owes float64 accuracy: no float32 blocks."""
    x = np.ones(1024, np.float32)
    x[0] = 2.0**24  # float32 lane 0 drops every 1 added to it: 2^24 + 1 rounds to 2^24
    wide = tensorir.jit(lambda a: a.astype(np.float64).sum().astype(np.float32))
    assert wide(x) == np.float32(2.0**24 + 1023)
    blocked = tensorir.jit(lambda a: a.sum())(x)
    assert blocked == np.float32(2.0**24 + 1008) == np.sum(x)  # numpy's accumulator too


PROGRAMS = [
    ("sum of two axes", lambda x: x.sum(axis=(1, 2)), (5, 7, 130)),
    ("strided rows", lambda x: x.T.sum(axis=1), (300, 70)),
    ("every other column", lambda x: x[:, ::2].sum(axis=1), (20, 301)),
    ("fused square", lambda x: (x * x).sum(axis=1), (9, 1100)),
    ("mean and variance", lambda x: x.mean(axis=-1) + x.var(axis=-1), (17, 200)),
    ("over axis 0 (float64 scratch)", lambda x: x.sum(axis=0), (300, 70)),
    ("exp side output", lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True), (6, 777)),
]


@pytest.mark.parametrize("name, fn, shape", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_blocked_sums_in_programs(name, fn, shape):
    """Blocks in every shape of reduction the loop emitter meets: several reduction dims,
    strided and transposed inner dims, fused producers and side outputs."""
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(tensorir.jit(fn)(x), fn(x), rtol=2e-5, atol=2e-5)
