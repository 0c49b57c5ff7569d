"""Memory plan: outputs written in place, intermediates freed after their last use."""

from __future__ import annotations

import numpy as np

import tensorir


def chain(x):
    a = np.exp(x)
    b = np.sin(a)
    c = np.cos(b)
    d = np.tanh(c)
    return d * 2.0


X = np.linspace(-1, 1, 1000)


def test_unfused_chain_reuses_dead_intermediates():
    f = tensorir.jit(chain, pipeline="generalize,dce")
    np.testing.assert_allclose(f(X), chain(X), rtol=1e-13)
    stats = f.lower(X).memory_stats()
    assert stats["intermediates"] == 4  # a, b, c, d; the result goes straight to the output
    assert stats["intermediate_bytes"] == 4 * X.nbytes
    assert stats["peak_intermediate_bytes"] == 2 * X.nbytes  # only a producer and its consumer


def test_fused_chain_needs_no_intermediates():
    f = tensorir.jit(chain)
    np.testing.assert_allclose(f(X), chain(X), rtol=1e-13)
    assert f.lower(X).memory_stats()["peak_intermediate_bytes"] == 0


def test_results_that_alias_are_copied_not_shared():
    f = tensorir.jit(lambda x: (np.exp(x), np.exp(x), x))
    a, b, c = f(X)
    assert a is not b and c is not X
    before = b.copy()
    a[:] = 7.0
    c[:] = 7.0
    np.testing.assert_array_equal(b, before)
    assert X[0] == -1.0


def test_concurrent_calls_each_get_a_workspace():
    from concurrent.futures import ThreadPoolExecutor

    f = tensorir.jit(chain, pipeline="generalize,dce")  # intermediates live in the workspace
    inputs = [np.linspace(-1, 1, 200_000) * (i + 1) / 8 for i in range(8)]
    want = [f(x) for x in inputs]
    with ThreadPoolExecutor(4) as pool:  # the GIL is released during native calls
        for _ in range(5):
            got = list(pool.map(f, inputs))
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g, w)
