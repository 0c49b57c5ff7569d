"""End to end: @tensorir.jit on numpy functions, compiled and run, against numpy itself."""

from __future__ import annotations

import re

import numpy as np
import pytest
from programs import layernorm, softmax

import tensorir


def layer(x, w, b):
    h = np.maximum(x @ w + b, 0.0)
    return (h - h.mean(axis=1, keepdims=True)) / (h.std(axis=1, keepdims=True) + 1e-5)


def mlp(x, w1, b1, w2, b2):
    return softmax(np.tanh(x @ w1 + b1) @ w2 + b2)


def stencil(u):
    out = u.copy()
    out[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
    return out


def rand(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_issue_example():
    f = tensorir.jit(layer)
    x, w, b = rand(64, 32), rand(32, 16, seed=1), rand(16, seed=2)
    np.testing.assert_allclose(f(x, w, b), f.__wrapped__(x, w, b), rtol=1e-5, atol=1e-5)
    lowered = f.lower(x, w, b)
    assert '"tir.matmul"' in lowered.as_text() and "func.func @layer" in lowered.as_text()
    assert re.search(r"define .*i32 @tensorir_layer", lowered.as_text("llvm"))
    assert '"tir.generic"' in lowered.as_text("generic")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_composites(dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    x = rand(16, 33, dtype=dtype)
    np.testing.assert_allclose(tensorir.jit(softmax)(x), softmax(x), rtol=tol, atol=tol)
    g, b = rand(33, dtype=dtype, seed=3), rand(33, dtype=dtype, seed=4)
    np.testing.assert_allclose(
        tensorir.jit(layernorm)(x, g, b), layernorm(x, g, b), rtol=tol * 10, atol=tol * 10
    )
    w1, b1 = rand(33, 20, dtype=dtype, seed=5), rand(20, dtype=dtype, seed=6)
    w2, b2 = rand(20, 7, dtype=dtype, seed=7), rand(7, dtype=dtype, seed=8)
    np.testing.assert_allclose(
        tensorir.jit(mlp)(x, w1, b1, w2, b2), mlp(x, w1, b1, w2, b2), rtol=tol, atol=tol
    )
    u = rand(9, 12, dtype=dtype)
    np.testing.assert_allclose(tensorir.jit(stencil)(u), stencil(u), rtol=tol)


def test_cache_by_signature_and_static_args():
    calls = []

    def f(x, n):
        calls.append(1)
        for _ in range(n):  # a static trip count unrolls
            x = x * 2
        return x

    g = tensorir.jit(f, static_argnums=1)
    x = np.ones(3, np.float32)
    np.testing.assert_array_equal(g(x, 3), x * 8)
    np.testing.assert_array_equal(g(x + 1, 3), (x + 1) * 8)
    assert len(calls) == 1
    np.testing.assert_array_equal(g(x, 2), x * 4)
    np.testing.assert_array_equal(g(np.ones(5), 2), np.ones(5) * 4)
    assert len(calls) == 3


def test_strided_and_special_inputs():
    f = tensorir.jit(lambda a, b: a * 2 + b)
    base = rand(8, 10, dtype=np.float64)
    for a in (base[::2, ::-3], base.T, base[3:4, :], np.asfortranarray(base)):
        b = rand(*a.shape, dtype=np.float64, seed=9)
        np.testing.assert_allclose(f(a, b), a * 2 + b, rtol=1e-15)
    z = np.zeros((0, 4))
    assert f(z, z).shape == (0, 4)
    np.testing.assert_array_equal(f(np.float64(2.0), np.array(1.0)), 5.0)
    big_endian = np.arange(4, dtype=">f8")
    np.testing.assert_array_equal(f(big_endian, big_endian), np.arange(4.0) * 3)


def test_python_scalars_are_weak():
    f = tensorir.jit(lambda x, s: x * s)
    x = np.arange(4, dtype=np.float32)
    out = f(x, 2.5)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x * 2.5)
    np.testing.assert_array_equal(f(x, 3.5), x * 3.5)  # same compiled code, new value


def test_pytrees_in_and_out():
    @tensorir.jit
    def f(params, x):
        y = x @ params["w"] + params["b"]
        return {"y": y, "stats": (y.sum(), y.max())}

    p = {"w": rand(3, 2), "b": rand(2, seed=1)}
    x = rand(4, 3, seed=2)
    out = f(p, x)
    y = x @ p["w"] + p["b"]
    np.testing.assert_allclose(out["y"], y, rtol=1e-6)
    np.testing.assert_allclose(out["stats"][0], y.sum(), rtol=1e-5)
    np.testing.assert_allclose(out["stats"][1], y.max(), rtol=1e-6)


def test_cache_hits_on_pytrees_and_scalars_see_every_change():
    """Repeated calls take the hot path (no signature build); a change of shape, dtype, tree,
    scalar type or scalar value must still give numpy's answer, never a stale program's."""
    f = tensorir.jit(lambda p, s: {k: v * s for k, v in p.items()})
    a, b = rand(3), rand(2, 2, seed=1)
    calls = [
        ({"a": a, "b": b}, 2.0),
        ({"a": a, "b": b}, 3.0),  # the value of a float is a run-time argument
        ({"a": a, "b": b}, 4),  # an int: another specialization
        ({"a": a, "b": b}, True),
        ({"a": a[::-1], "b": b}, 2.0),  # strides
        ({"a": a, "b": b.astype(np.float64)}, 2.0),  # dtype
        ({"b": b, "a": a}, 2.0),  # key order: another tree
        ({"a": rand(5), "b": b}, 2.0),  # shape
        ({"a": a, "b": b.astype(b.dtype.newbyteorder())}, 2.0),  # converted: the slow path
        ({"a": a, "b": b}, np.float32(0.5)),  # a numpy scalar: the slow path
    ]
    for _ in range(2):
        for p, s in calls:
            got = f(p, s)
            assert list(got) == list(p)
            for k, v in p.items():
                np.testing.assert_allclose(got[k], v * s, rtol=1e-6)
    assert len(f._fast_trees) == 7  # every hot-path signature, once


def test_integer_semantics():
    f = tensorir.jit(lambda a, b: (a // b, a % b, a / b))
    a = np.array([7, -7, 7, -7, 0, 5], dtype=np.int32)
    b = np.array([2, 2, -2, -2, 3, 0], dtype=np.int32)
    with np.errstate(all="ignore"):
        for got, want in zip(f(a, b), f.__wrapped__(a, b), strict=True):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_returning_inputs_and_constants():
    f = tensorir.jit(lambda x: (x, x, np.zeros(3), 2.0))
    x = np.arange(3.0)
    a, b, c, d = f(x)
    np.testing.assert_array_equal(a, x)
    assert a is not x
    np.testing.assert_array_equal(c, np.zeros(3))
    assert float(d) == 2.0


def test_bad_arguments():
    f = tensorir.jit(lambda x: x + 1)
    with pytest.raises(TypeError, match="complex128"):
        f(np.zeros(3, np.complex128))
    with pytest.raises(TypeError, match="str"):
        f("hello")
    with pytest.raises(TypeError):
        f(np.zeros(3), np.zeros(3))


def test_shape_mismatch_names_shapes_and_line():
    f = tensorir.jit(lambda a, b: a + b)
    with pytest.raises(Exception, match=r"(?s)\(3,\).*\(4,\).*test_jit.py"):
        f(np.zeros(3), np.zeros(4))


def test_bool_on_tracer_names_line():
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(Exception, match=r"(?s)test_jit.py:\d+.*np.where"):
        tensorir.jit(f)(np.ones(3))


def test_gather_index_error_at_run_time():
    f = tensorir.jit(lambda x, i: x[i])
    x = np.arange(5.0)
    np.testing.assert_array_equal(f(x, np.array([4, -5, 0])), x[[4, -5, 0]])
    with pytest.raises(IndexError, match="test_jit.py"):
        f(x, np.array([5]))


def test_out_writes_results_in_place():
    """f(..., out=arrays) writes the results into the caller's arrays (no fresh allocation)."""
    f = tensorir.jit(lambda a, b: (np.exp(a) * b, (a * b).sum(axis=1)))
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 4, 5))
    outs = (np.empty((4, 5)), np.empty(4))
    got = f(a, b, out=outs)
    assert got is outs
    np.testing.assert_allclose(outs[0], np.exp(a) * b)
    np.testing.assert_allclose(outs[1], (a * b).sum(axis=1))


@pytest.mark.parametrize(
    "out, error",
    [
        (np.empty(5, np.float32), "expected a C-contiguous numpy float64 array of shape"),
        (np.empty(6)[::2][:3], "shape"),
        (np.empty((10,))[::2], "non-contiguous"),
        ((np.empty(5),), "structure of the result"),
        ("x", "got str"),
    ],
)
@pytest.mark.parametrize("cached", [False, True])
def test_out_mismatch_is_a_clear_error(out, error, cached):
    """Also on a cache hit, whose path with out= skips the signature build."""
    f = tensorir.jit(lambda a: a + 1.0)
    if cached:
        f(np.ones(5), out=np.empty(5))
    with pytest.raises(TypeError, match=error):
        f(np.ones(5), out=out)


@pytest.mark.parametrize("cached", [False, True])
def test_out_may_not_alias_an_input_or_be_read_only(cached):
    f = tensorir.jit(lambda a: a[::-1] + 1.0)
    x = np.arange(5.0)
    if cached:
        np.testing.assert_array_equal(f(x, out=np.empty(5)), x[::-1] + 1.0)
    with pytest.raises(ValueError, match="shares memory with an input"):
        f(x, out=x)
    ro = np.empty(5)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        f(x, out=ro)


def test_functions_with_their_own_out_parameter_keep_it():
    f = tensorir.jit(lambda a, out: a * out)
    np.testing.assert_allclose(f(np.ones(3), out=np.full(3, 2.0)), 2.0)


def test_donated_argument_is_updated_in_place():
    step = tensorir.jit(lambda w, g: w - 0.1 * g, donate_argnums=0)
    w, g = np.linspace(0, 1, 1001), np.linspace(1, 2, 1001)
    want = w - 0.1 * g
    assert step(w, g) is w  # the result overwrote the donated array
    np.testing.assert_array_equal(w, want)
    params = {"a": np.ones((3, 4)), "b": np.ones(4)}
    update = tensorir.jit(lambda p, g: {k: p[k] - 0.5 * g[k] for k in p}, donate_argnums=0)
    new = update(params, {"a": np.ones((3, 4)), "b": np.ones(4)})
    assert new["a"] is params["a"] and new["b"] is params["b"]
    np.testing.assert_array_equal(new["b"], 0.5)


DONATION_PROGRAMS = [
    lambda w, g: w[::-1] + g,  # reads other elements than it writes
    lambda w, g: (w * 2.0, w.sum() + g),  # another loop reads w
    lambda w, g: w.T.T * g + w.sum(),  # a reduction of w feeds every element
    lambda w, g: np.exp(w - w.max()) / g,  # a max, then a loop over w
    lambda w, g: (w + g, w),  # w is also returned
    lambda w, g: w * g,  # in place
]


@pytest.mark.parametrize("k", range(len(DONATION_PROGRAMS)))
def test_donation_never_changes_a_result(k):
    """Whatever the program, donating gives numpy's results: where writing in place would be
    wrong, the result gets its own array."""
    fn = DONATION_PROGRAMS[k]
    rng = np.random.default_rng(k)
    w, g = rng.standard_normal(64), rng.standard_normal(64) + 3.0
    want = fn(w.copy(), g)
    got = tensorir.jit(fn, donate_argnums=0)(w.copy(), g)
    want, got = (want, got) if isinstance(want, tuple) else ((want,), (got,))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_donated_input_aliasing_another_falls_back():
    f = tensorir.jit(lambda w, g: w + g, donate_argnums=0)
    w = np.ones(8)
    out = f(w, w)
    assert out is not w
    np.testing.assert_array_equal(out, 2.0)
    np.testing.assert_array_equal(w, 1.0)


def test_large_results_on_huge_pages_behave_as_arrays():
    """Results over HUGE_RESULT_BYTES come from their own mapping: equal, writeable, freed with
    the array, and several at once from one call."""
    from tensorir.lower_llvm.results import HUGE_RESULT_BYTES

    n = HUGE_RESULT_BYTES // 8 + 3
    x = np.random.default_rng(0).standard_normal(n)
    one = tensorir.jit(lambda a: a * 2.0)(x)
    np.testing.assert_array_equal(one, x * 2.0)
    one[0] = 5.0
    a, b = tensorir.jit(lambda a: (a + 1.0, np.sqrt(np.abs(a))))(x)
    np.testing.assert_array_equal(a, x + 1.0)
    np.testing.assert_array_equal(b, np.sqrt(np.abs(x)))
    assert a.flags.writeable and b.flags.c_contiguous
