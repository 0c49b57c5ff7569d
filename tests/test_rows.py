"""Row groups on the CPU: generics over the same rows run a block of rows at a time (softmax's
max, sum and normalization while the rows are in cache), serially or on the thread pool, and
equal numpy; the memory plan keeps what a group touches live across all of it."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import layernorm, softmax

import tensorir
from tensorir.frontend.trace import trace
from tensorir.ir.core import Module
from tensorir.lower_llvm import parallel, parallel_runtime, rows
from tensorir.lower_llvm.engine import DEFAULT_PIPELINE
from tensorir.lower_llvm.memplan import plan
from tensorir.passes import run_pipeline


def row_norm(x):
    return (x - x.mean(axis=1, keepdims=True)) / np.abs(x).max(axis=1, keepdims=True)


def log_softmax_3d(x):
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


RNG = np.random.default_rng(5)
CASES = [
    (softmax, (33, 1025)),
    (softmax, (1, 7)),
    (row_norm, (31, 1023)),
    (log_softmax_3d, (3, 7, 33)),
    (softmax, (5, 70001)),  # rows longer than a block of the L2 budget: a row per block
]


def grouped(f, *args) -> bool:
    return ".rows.head" in f.lower(*args).as_text("llvm-unoptimized")


@pytest.mark.parametrize("fn, shape", CASES, ids=lambda c: getattr(c, "__name__", str(c)))
def test_row_groups_equal_numpy(fn, shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    f = tensorir.jit(fn)
    np.testing.assert_allclose(f(x), fn(x), rtol=2e-5, atol=2e-6)
    assert grouped(f, x)


@pytest.mark.parametrize("block", [1, 3])
def test_row_blocks_of_any_size(block, monkeypatch):
    """Blocks of one row and blocks leaving a remainder give the same results."""
    monkeypatch.setattr(rows, "_rows_per_block", lambda lows: block)
    x, g, b = (RNG.standard_normal(s).astype(np.float32) for s in [(10, 67), (67,), (67,)])
    f = tensorir.jit(layernorm)
    np.testing.assert_allclose(f(x, g, b), layernorm(x, g, b), rtol=1e-4, atol=1e-5)


def test_row_blocks_fit_the_rows_that_members_touch(monkeypatch):
    """A block holds as many rows as fit L1 (or, for long rows, a quarter of L2), counting each
    tensor the members read or write by row once: softmax's input, exponentials and output,
    12 KiB per 1024-column row plus its max and sum; splat constants count nothing."""
    seen = []
    real = rows._rows_per_block
    monkeypatch.setattr(rows, "_rows_per_block", lambda lows: seen.append(lows) or real(lows))
    tensorir.jit(softmax).lower(np.ones((64, 1024), np.float32))
    (lows,) = seen
    assert rows.row_bytes(lows) == 3 * 4096 + 4 + 8
    assert real(lows) == rows.L1_BLOCK_BYTES // (3 * 4096 + 12) == 1
    seen.clear()
    tensorir.jit(softmax).lower(np.ones((64, 8192), np.float32))
    assert real(seen[0]) == rows.ROW_BLOCK_BYTES // (3 * 32768 + 12) == 2
    seen.clear()
    tensorir.jit(softmax).lower(np.ones((64, 100), np.float32))
    assert real(seen[0]) == rows.L1_BLOCK_BYTES // (3 * 400 + 12)


def test_row_groups_on_the_thread_pool(monkeypatch):
    """A large group is outlined and split by blocks of rows; 1 and 2 threads agree exactly."""
    monkeypatch.setattr(parallel, "MIN_WORK", 0)
    monkeypatch.setattr(parallel, "MIN_CHUNK_WORK", 1)
    old = tensorir.get_num_threads()
    x = RNG.standard_normal((37, 515)).astype(np.float32)
    try:
        results = []
        for n in (1, 2):
            tensorir.set_num_threads(n)
            f = tensorir.jit(softmax)
            results.append(f(x))
            text = f.lower(x).as_text("llvm-unoptimized")
            assert parallel_runtime.SYMBOL in text and '.rows"' in text  # the outlined group
    finally:
        tensorir.set_num_threads(old)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[1], softmax(x), rtol=2e-5, atol=2e-6)


def test_group_keeps_its_buffers_live():
    """An intermediate read only by the first member must not share bytes with a result of a
    later one: the members' loops interleave, so the first still reads it while the later
    writes."""

    def f(x):
        y = np.sin(x) @ np.ones((x.shape[1], x.shape[1]), np.float32)  # an intermediate
        return softmax(y)

    x = RNG.standard_normal((8, 16)).astype(np.float32)
    g = run_pipeline(Module([trace(f, (x,)).function]), DEFAULT_PIPELINE).functions[0]
    groups = rows.row_groups(g.body.ops)
    assert groups, "softmax's generics form a group"
    members = groups[0][0]
    p = plan(g, [members])
    touched = {p.cls[v] for m in members for v in [*m.operands, *m.results] if v in p.cls}
    inter = [c for c in touched if c in p.offset]
    for i, c in enumerate(inter):
        for d in inter[i + 1 :]:
            assert not p.overlaps(c, d)
    np.testing.assert_allclose(tensorir.jit(f)(x), f(x), rtol=2e-5, atol=2e-6)


def test_softmax_exponentials_live_in_a_window():
    """Softmax's exponentials are made and read only inside its row group: they live in a
    window of a block's rows, rewritten in cache, not in a matrix streamed out to memory."""
    x = RNG.standard_normal((8, 16)).astype(np.float32)
    g = run_pipeline(Module([trace(softmax, (x,)).function]), DEFAULT_PIPELINE).functions[0]
    ((members, _),) = rows.row_groups(g.body.ops)
    windowed = rows.windowed_values(members, plan(g, [members]))
    (exps,) = [v for v in windowed if v.type.shape == x.shape]  # and the row max and sum
    assert all(user in members for user, _ in exps.uses)


ROW_PROGRAMS = [
    softmax,
    log_softmax_3d,
    row_norm,
    lambda x: (x - x.mean(axis=-1, keepdims=True)) / np.sqrt(x.var(axis=-1, keepdims=True) + 1.0),
    lambda x: x * np.abs(x).sum(axis=-1, keepdims=True) - x.min(axis=-1, keepdims=True),
    lambda x: softmax(softmax(x) * 3.0),  # two groups in a row
    lambda x: (softmax(x), x.max(axis=-1)),  # a member's result is also returned
]


@settings(max_examples=30, deadline=None)
@given(
    k=st.integers(0, len(ROW_PROGRAMS) - 1),
    rows_=st.integers(1, 40),
    cols=st.integers(1, 300),
    block=st.integers(1, 5),
    threads=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**16),
)
def test_random_row_programs(k, rows_, cols, block, threads, seed):
    """Row-wise programs over random shapes, with blocks of 1-5 rows, serial or split over
    2 threads in chunks of any size, equal numpy."""
    fn = ROW_PROGRAMS[k]
    x = np.random.default_rng(seed).standard_normal((rows_, cols)).astype(np.float32)
    old = tensorir.get_num_threads()
    try:
        tensorir.set_num_threads(threads)
        with (
            mock.patch.object(rows, "_rows_per_block", lambda lows: block),
            mock.patch.object(parallel, "MIN_WORK", 0),
            mock.patch.object(parallel, "MIN_CHUNK_WORK", 1),
        ):
            got = tensorir.jit(fn)(x)
    finally:
        tensorir.set_num_threads(old)
    want = fn(x)
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
