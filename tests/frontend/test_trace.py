"""trace(): pytrees in and out, static arguments, closures, source locations, the IR it makes."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
from runner import check, run_traced

from tensorir.frontend import TraceError, Tracer, trace
from tensorir.frontend.pytree import flatten, unflatten
from tensorir.ir import print_function

Pair = namedtuple("Pair", "a b")


def test_pytree_round_trip():
    tree = {"x": (1, [2, None, Pair(3, 4)]), "y": []}
    leaves, td = flatten(tree)
    assert leaves == [1, 2, 3, 4]
    assert unflatten(td, leaves) == tree
    assert hash(td) == hash(flatten(tree)[1])
    with pytest.raises(ValueError):
        unflatten(td, [1, 2, 3])


def test_pytrees_in_and_out():
    def fn(params, batch, scale=1.0):
        w, b = params["w"], params["b"]
        out = batch["x"] @ w + b
        return {"out": out * scale, "stats": (out.mean(), [out.max(), None])}, Pair(w.T, 2)

    params = {"w": np.ones((3, 2), np.float32), "b": np.zeros(2, np.float32)}
    batch = {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}
    check(fn, params, batch, scale=0.5)


def test_static_argnums_and_argnames():
    def fn(x, n, mode="sum"):
        for _ in range(n):  # a static trip count unrolls
            x = x * 2
        return x.sum() if mode == "sum" else x.max()

    x = np.arange(4.0)
    check(fn, x, 3, static_argnums=(1,))
    t = trace(fn, (x, 2), {"mode": "max"}, static_argnums=1, static_argnames=("mode",))
    assert len(t.function.args) == 1
    assert [op.name for op in t.function.body.ops].count("tir.mul") == 2
    assert t.static_argnums == (1,) and t.static_argnames == ("mode",)
    t2 = trace(fn, (x, 1, "max"), static_argnames=("n", "mode"))
    assert len(t2.function.args) == 1
    t3 = trace(fn, (x, 1), {"mode": "max"}, static_argnums=1, static_argnames="mode")
    assert len(t3.function.args) == 1


def test_python_scalar_and_numpy_scalar_arguments():
    t = trace(
        lambda x, i, f, b, s: x * f + i + b + s,
        (np.ones(2, np.float32), 1, 2.0, True, np.float32(3)),
    )
    assert [str(a.type) for a in t.function.args] == [
        "tensor<2xf32>", "tensor<i64>", "tensor<f64>", "tensor<i1>", "tensor<f32>",
    ]  # fmt: skip
    assert str(t.function.type.results[0]) == "tensor<2xf32>"  # weak scalars keep float32
    check(lambda x, i, f: x * f + i, np.ones(2, np.float32), 1, 2.0)


def test_constant_results_and_closures():
    table = np.arange(6.0).reshape(2, 3)

    def fn(x):
        return x + table, 3, 2.5, np.int8(4), table

    out = check(fn, np.ones(3))
    assert out[1].dtype == np.int64 and out[3].dtype == np.int8


def test_locations_name_the_user_line():
    def fn(x):
        y = np.exp(x)  # the line every op of this statement carries
        return y.sum()

    t = trace(fn, (np.ones(3),))
    exp = next(op for op in t.function.body.ops if op.name == "tir.exp")
    assert exp.loc.file == __file__
    assert exp.loc.line == fn.__code__.co_firstlineno + 1
    assert exp.loc.col == 12
    assert f'loc("{__file__}":{exp.loc.line}:12)' in print_function(t.function)
    assert t.function.sym_name == "fn"
    assert trace(lambda x: x, (np.ones(1),)).function.sym_name == "_lambda_"


def test_identity_and_aliasing():
    check(lambda x: (x, x), np.arange(3))
    check(lambda x: (x.reshape(3), x.astype(x.dtype), np.copy(x)), np.arange(3))


def test_leaked_tracer():
    leaked = []

    def fn(x):
        leaked.append(x)
        return x

    trace(fn, (np.ones(2),))
    with pytest.raises(TraceError, match="escaped"):
        trace(lambda y: y + leaked[0], (np.ones(2),))
    with pytest.raises(TraceError, match="outside of tracing"):
        leaked[0] + 1


def test_bad_arguments():
    with pytest.raises(TraceError, match="argument of type str"):
        trace(lambda x: x, ("hello",))
    with pytest.raises(OverflowError):
        trace(lambda x: x, (2**70,))
    with pytest.raises(TypeError, match="complex128 is not supported"):
        trace(lambda x: x, (np.ones(2, complex),))


def test_tracer_attributes():
    def fn(x):
        assert isinstance(x, Tracer)
        assert (x.shape, x.dtype, x.ndim, x.size, x.T.shape, x.mT.shape) == (
            (2, 3), np.float32, 2, 6, (3, 2), (3, 2),
        )  # fmt: skip
        assert "tensor<2x3xf32>" in repr(x)
        return x

    run_traced(fn, np.ones((2, 3), np.float32))
