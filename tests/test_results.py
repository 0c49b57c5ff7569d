"""Large results come from recycled huge-page mappings: reused once dropped, never while any
array (a view included) still uses them, also with calls from several threads."""

import threading

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tensorir
from tensorir.lower_llvm.results import (
    COLORS,
    HUGE_PAGE,
    HUGE_RESULT_BYTES,
    STAGGER,
    ResultPool,
)

N = HUGE_RESULT_BYTES // 8 + 3  # float64 elements: just over the threshold, not page-sized


def _x(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(N)


def test_a_dropped_result_is_reused_with_the_right_values():
    f = tensorir.jit(lambda a: a * 2.0)
    x, y = _x(0), _x(1)
    first = f(x)
    address = first.ctypes.data
    del first
    second = f(y)
    assert second.ctypes.data == address
    np.testing.assert_array_equal(second, y * 2.0)


def test_memory_a_view_still_uses_is_not_handed_out():
    f = tensorir.jit(lambda a: a + 1.0)
    x, y = _x(0), _x(1)
    view = f(x)[7:]  # the result itself is dropped at once; only the view keeps its memory
    other = f(y)
    assert not np.shares_memory(view, other)
    np.testing.assert_array_equal(view, x[7:] + 1.0)
    np.testing.assert_array_equal(other, y + 1.0)


def test_results_of_several_outputs_and_sizes_are_distinct():
    f = tensorir.jit(lambda a: (a * 3.0, np.abs(a), a[: N // 2 + HUGE_PAGE].astype(np.float32)))
    x = _x(2)
    for _ in range(3):
        a, b, c = f(x)
        np.testing.assert_array_equal(a, x * 3.0)
        np.testing.assert_array_equal(b, np.abs(x))
        assert not np.shares_memory(a, b)
        del a, b, c


def _in_threads(work, n: int = 4) -> list:
    """Run `work(k)` on threads k = 0..n-1 and return the exceptions they raised."""
    errors = []

    def run(k: int) -> None:
        try:
            work(k)
        except Exception as e:  # reported by the caller
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_calls_from_several_threads_get_their_own_results():
    f = tensorir.jit(lambda a, s: a * s)
    x = _x(3)
    results = {}

    def work(k: int) -> None:
        results[k] = [f(x, float(k + 10 * r)) for r in range(3)]

    assert not _in_threads(work)
    arrays = [(k + 10 * r, a) for k, kept in results.items() for r, a in enumerate(kept)]
    assert len({a.ctypes.data for _, a in arrays}) == len(arrays)
    for scale, a in arrays:
        np.testing.assert_array_equal(a, x * float(scale))


def test_threads_taking_and_dropping_results_never_clobber_each_other():
    """Churn: every thread's result is checked after the others have taken and dropped theirs,
    so two threads handed one mapping at once would see each other's values."""
    f = tensorir.jit(lambda a, s: a + s)
    x = _x(4)
    clobbered = []
    barrier = threading.Barrier(4, timeout=60)  # a thread that fails breaks it, not hangs

    def work(k: int) -> None:
        for r in range(8):
            got = f(x, float(100 * k + r))
            barrier.wait()  # all four results alive at once, then checked
            if not np.array_equal(got, x + float(100 * k + r)):
                clobbered.append((k, r))
            barrier.wait()
            del got

    assert not _in_threads(work)
    assert not clobbered


def test_idle_mappings_beyond_the_limit_are_unmapped():
    slack = 4 * COLORS * STAGGER  # each mapping is longer by its array's staggered offset
    pool = ResultPool(idle_limit=2 * HUGE_RESULT_BYTES + slack)
    held = [pool.take((HUGE_RESULT_BYTES,), np.uint8) for _ in range(4)]
    assert pool.idle_bytes() == 0
    del held
    assert 4 * HUGE_RESULT_BYTES <= pool.idle_bytes() <= 4 * HUGE_RESULT_BYTES + slack
    new = pool.take((2 * HUGE_RESULT_BYTES,), np.uint8)  # none idle fits: trims, then maps
    assert 2 * HUGE_RESULT_BYTES <= pool.idle_bytes() <= 2 * HUGE_RESULT_BYTES + slack
    assert new.nbytes == 2 * HUGE_RESULT_BYTES


def test_consecutive_mappings_start_their_arrays_at_staggered_offsets():
    """Where each array starts in its mapping: the next color each time, so arrays the kernel
    maps a power of two apart do not agree in their low address bits."""
    pool = ResultPool()
    arrays = [pool.take((HUGE_RESULT_BYTES,), np.uint8) for _ in range(COLORS + 1)]
    starts = [a.ctypes.data - np.frombuffer(a.base.base.obj, np.uint8).ctypes.data for a in arrays]
    assert starts == [k % COLORS * STAGGER for k in range(COLORS + 1)]


_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("take"), st.integers(1, 3), st.sampled_from(["u1", "f4", "f8"])),
        st.tuples(st.just("view"), st.integers(0, 7), st.just("")),
        st.tuples(st.just("drop"), st.integers(0, 7), st.just("")),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(_STEPS)
@example([("take", 3, "u1")] * 3 + [("drop", 0, "")] * 3 + [("take", 3, "f8")])  # trims on reuse
def test_random_takes_views_and_drops_never_share_live_memory(steps):
    """Arrays taken from the pool, some replaced by views of themselves, some dropped, in any
    order: no take ever lands on memory a live array (or view) uses, each keeps what was
    written into it, and after a take the idle mappings stay within the limit."""
    pool = ResultPool(idle_limit=2 * HUGE_PAGE)
    held: list[tuple[int, np.ndarray]] = []  # (stamp, array or view)
    for n, (what, k, code) in enumerate(steps):
        if what == "take":
            dtype = np.dtype(code)
            a = pool.take((k * HUGE_PAGE // dtype.itemsize - 3,), dtype)
            a[...] = n % 200 + 1
            held.append((n % 200 + 1, a))
            assert pool.idle_bytes() <= 2 * HUGE_PAGE
        elif held:
            i = k % len(held)
            stamp, a = held.pop(i)
            if what == "view":
                held.insert(i, (stamp, a[k + 1 :]))
            del a
        _check(held)


def _check(held: list[tuple[int, np.ndarray]]) -> None:
    """(A function, so that its loop variables hold no array once it returns.)"""
    for stamp, a in held:
        assert (a == stamp).all()
    for i, (_, a) in enumerate(held):
        for _, b in held[i + 1 :]:
            assert not np.shares_memory(a, b)
