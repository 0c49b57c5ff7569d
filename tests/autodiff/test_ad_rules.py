"""Every op's derivative rules against central finite differences in float64, and vjp against jvp.

Elementwise ops come from the table (`ROWS`), each on inputs drawn from where it is smooth; the
other ops each have a numpy program exercising them; broadcasting binary ops and reductions are
drawn by hypothesis over shapes. A registry test lists the ops without rules.
"""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_function, check_traced, run
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from programs import single_op

from tensorir.autodiff import grad, jvp, stop_gradient
from tensorir.interpreter import interpret
from tensorir.ir import verify
from tensorir.ir.opdef import REGISTRY, missing
from tensorir.ir.ops_elementwise import CLASSES, ROWS
from tensorir.lower_llvm.engine import compile_function
from tensorir.passes.autodiff import forward, reverse

FEW = settings(max_examples=20, deadline=None)


def _away_from_integers(rng, shape, lo=0.1, hi=0.9):
    return rng.integers(-2, 3, shape) + rng.uniform(lo, hi, shape)


def _nonzero(rng, shape):
    return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


# where each op is smooth (default: uniform in (-2, 2)); one sampler per operand
DOMAINS = {
    "log": [lambda r, s: r.uniform(0.2, 3.0, s)],
    "sqrt": [lambda r, s: r.uniform(0.2, 3.0, s)],
    "cbrt": [_nonzero],
    "log1p": [lambda r, s: r.uniform(-0.8, 3.0, s)],
    "arcsin": [lambda r, s: r.uniform(-0.9, 0.9, s)],
    "arccos": [lambda r, s: r.uniform(-0.9, 0.9, s)],
    "tan": [lambda r, s: r.uniform(-1.2, 1.2, s)],
    "abs": [_nonzero],
    "sign": [_nonzero],
    "floor": [_away_from_integers],
    "ceil": [_away_from_integers],
    "round": [lambda r, s: _away_from_integers(r, s, 0.1, 0.4)],
    "div": [None, _nonzero],
    "pow": [lambda r, s: r.uniform(0.3, 2.0, s), None],
    # x / y stays off integers, where floor jumps
    "floordiv": [lambda r, s: 1.5 * _away_from_integers(r, s), lambda r, s: np.full(s, 1.5)],
    "mod": [lambda r, s: 1.5 * _away_from_integers(r, s), lambda r, s: np.full(s, 1.5)],
}
FLOAT_ROWS = [r for r in ROWS if "f" in CLASSES[r.cls] and r.result == "same"]


@pytest.mark.parametrize("row", FLOAT_ROWS, ids=lambda r: r.name)
@pytest.mark.parametrize("shape", [(), (3, 2)])
def test_elementwise_rule(row, shape):
    rng = np.random.default_rng(len(row.name))
    samplers = DOMAINS.get(row.name, [None] * row.arity)
    args = [
        (s or (lambda r, sh: r.uniform(-2.0, 2.0, sh)))(rng, shape) * np.ones(shape)
        for s in samplers
    ]
    check_function(single_op("tir." + row.name, args), args)


@pytest.mark.parametrize("row", FLOAT_ROWS, ids=lambda r: r.name)
def test_elementwise_rules_keep_float32(row):
    """Derivatives stay in the op's precision: the rules' constants take the operands' type."""
    args = [np.ones((2,), np.float32)] * row.arity
    f = single_op("tir." + row.name, args)
    for g in (reverse(f), forward(f)):
        verify(g)
        assert all(t == f.type.inputs[0] for t in g.type.results)


broadcasting = hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3)
BINARY = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": lambda x, y: x / (y * y + 0.5),
    "power": lambda x, y: (x * x + 0.5) ** y,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "arctan2": np.arctan2,
}


@pytest.mark.parametrize("name", BINARY)
@FEW
@given(shapes=broadcasting, seed=st.integers(0, 2**16))
def test_broadcasting_binary(name, shapes, seed):
    """Cotangents of broadcast operands are summed back to the operands' shapes."""
    rng = np.random.default_rng(seed)
    x, y = (rng.uniform(-2, 2, s) for s in shapes.input_shapes)
    check_traced(BINARY[name], x, y, seed=seed)


REDUCERS = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "mean": np.mean}
REDUCERS.update({"var": np.var, "std": np.std})


@pytest.mark.parametrize("name", REDUCERS)
@FEW
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), data=st.data())
def test_reductions(name, shape, data):
    axes = data.draw(st.sets(st.integers(0, len(shape) - 1)).map(lambda s: tuple(sorted(s))))
    keepdims = data.draw(st.booleans())
    # std of one element is sqrt(0), which has no slope
    assume(name != "std" or np.prod([shape[a] for a in axes or range(len(shape))]) > 1)
    rng = np.random.default_rng(len(shape))
    # distinct values (no ties for max/min), away from 0
    x = rng.permutation(np.linspace(0.5, 1.5, int(np.prod(shape)))).reshape(shape)
    x = x * rng.choice([-1.0, 1.0], shape)
    check_traced(lambda v: REDUCERS[name](v, axis=axes or None, keepdims=keepdims), x)


def test_prod_with_zeros():
    """The product rule where factors are 0: exact, since a product is linear in each factor."""
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.5], [1.0, 2.0, 0.5]])
    check_traced(lambda v: np.prod(v, axis=1), x)
    check_traced(lambda v: np.prod(v, axis=0), x)


def test_ties_split_the_slope():
    g = run(grad(lambda v: np.max(v)), np.array([1.0, 3.0, 3.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.5, 0.0])
    a, b = np.array([1.0, 2.0, np.inf]), np.array([1.0, 3.0, np.inf])
    ga, gb = run(grad(lambda x, y: np.sum(np.maximum(x, y)), argnums=(0, 1)), a, b)
    np.testing.assert_array_equal(ga, [0.5, 0.0, 0.5])
    np.testing.assert_array_equal(gb, [0.5, 1.0, 0.5])
    # |x| written as max(x, -x) has slope 0 at 0, like sign(0)
    assert run(grad(lambda x: np.maximum(x, -x)), 0.0) == 0.0


def _setitem_slice(x, v):
    x = x * 1.0
    x[1:3, ::2] = v
    return x


def _setitem_rows(x, v):
    x = x * 1.0
    x[np.array([0, 2, 0, -1])] = v  # row 0 twice: the later write wins
    return x


rng = np.random.default_rng(7)
A, B, C = rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, (2, 3, 4)), rng.uniform(-2, 2, (4, 5))
# one program per non-elementwise op (and per frontend function built from several)
PROGRAMS = {
    "broadcast": (lambda x: np.broadcast_to(x, (2, 3, 4)) * C[:, :4].T[:3], A[:, :1]),
    "transpose": (lambda x: np.transpose(x, (2, 0, 1)) * 1.5, B),
    "reshape": (lambda x: x.reshape(4, 6) ** 2, B),
    "slice": (lambda x: x[1:3, ::-2] * 3.0, A),
    "insert_slice": (_setitem_slice, A, A[1:3, ::2].copy()),
    "concatenate": (lambda x, y: np.concatenate([x, y, x], axis=1), A, C[:3]),
    "stack": (lambda x, y: np.stack([x, y], axis=-1), A, A.T.T),
    "pad": (lambda x, v: np.pad(x, ((1, 2), (0, 1)), constant_values=v), A, np.array(0.5)),
    "matmul": (np.matmul, A, C),
    "matmul_batched": (np.matmul, B, C),
    "matvec": (lambda x, v: x @ v, A, C[:, 0]),
    "einsum": (lambda x, y: np.einsum("bij,jk->bk", x, y), B, C),
    "gather": (lambda x: x[np.array([0, 2, 2, -1])] * 2.0, A),
    "take_2d": (lambda x: np.take(x, np.array([[0, 3], [3, 3]]), axis=1), A),
    "take_along_axis": (lambda x: np.take_along_axis(x, np.array([[0], [3], [1]]), axis=1), A),
    "scatter": (_setitem_rows, A, C[:4, :4]),
    "where": (lambda x, y: np.where(x > 0, x * y, y), A, A[::-1]),
    "clip": (lambda x: np.clip(x, -0.95, 1.05), A),
    "cast": (lambda x, n: x * n.astype(np.float64), A, np.array([1, -2, 3, 4], np.int32)),
    "softmax": (lambda x: np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True), A),
}


@pytest.mark.parametrize("name", PROGRAMS)
def test_op_rules(name):
    fn, *args = PROGRAMS[name]
    check_traced(fn, *args)


def test_cast_to_float32():
    # the round trip through float32 bounds the finite differences' precision
    check_traced(lambda x: (x.astype(np.float32) * 3).astype(np.float64), A, eps=1e-3, rtol=1e-3)


def test_scatter_add():
    x, v = A, rng.uniform(-1, 1, (3, 5))
    idx = np.array([[0, 0, 3, -1, 2], [1, 1, 1, 1, 1], [3, 2, 1, 0, 0]])
    f = single_op("tir.scatter_add", [x, idx, v], {"axis": 1})
    check_function(f, [x, idx, v])
    want = x.copy()
    for i, j in np.ndindex(idx.shape):
        want[i, idx[i, j]] += v[i, j]
    (got,) = interpret(f, [x, idx, v])
    np.testing.assert_allclose(got, want, rtol=1e-15)
    (compiled,) = compile_function(f)(x, idx, v)
    np.testing.assert_allclose(compiled, want, rtol=1e-15)


def test_stop_gradient_rules():
    """x * stop_gradient(x) has slope x, not 2x, in both modes."""
    x = np.array([1.5, -2.0])
    assert np.allclose(run(grad(lambda v: np.sum(v * stop_gradient(v))), x), x)
    t = np.array([1.0, 10.0])
    assert np.allclose(run(lambda v: jvp(lambda u: u * stop_gradient(u), (v,), (t,))[1], x), x * t)


# ops that never carry a derivative: no float operand or no float result
NO_DERIVATIVE = {"tir.constant", "tir.empty", "tir.iota", "tir.argmax", "tir.argmin"}
NO_DERIVATIVE |= {"tir." + r.name for r in ROWS if r.result == "bool" or "f" not in CLASSES[r.cls]}


def test_every_differentiable_op_has_rules():
    """The capability report: which ops lack a vjp or jvp, and why each may."""
    lacking_vjp = {n for n in missing("vjp") if n.startswith("tir.")}
    lacking_jvp = {n for n in missing("jvp") if n.startswith("tir.")}
    # generic is below autodiff's level; a custom vjp defines reverse mode only (as in JAX)
    assert lacking_vjp == NO_DERIVATIVE | {"tir.generic"}
    assert lacking_jvp == NO_DERIVATIVE | {"tir.generic", "tir.custom_vjp_call"}
    assert all(REGISTRY[n].eval is not None for n in ("tir.scatter_add", "tir.stop_gradient"))
