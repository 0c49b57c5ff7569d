"""Constant folding equals each op's numpy `eval`, bit for bit: registry-driven over every
elementwise op and every dtype its type rule accepts, on dense constants of edge values and on
splats (which fold on a single element, never on the whole tensor)."""

from __future__ import annotations

import numpy as np
import pytest
from passcheck import assert_same_bits, edge_values, optimize, run

from tensorir.ir import REGISTRY, IRTypeError
from tensorir.ir import types as T
from tensorir.ir.builder import Builder
from tensorir.ir.core import Function
from tensorir.passes.pattern import const_attr

ELEMENTWISE = sorted(
    n for n, d in REGISTRY.items() if n.startswith("tir.") and "elementwise" in d.traits
)
N = 24


def _constants_op(name: str, dtype: T.DType, consts: list[np.ndarray]) -> Function | None:
    """@f() -> name(constants...), or None when the op does not take `dtype`."""
    f = Function("f", [], [])
    b = Builder.at_end(f.body)
    types = [T.TensorType(c.shape, dtype) for c in consts]
    if name == "tir.select":
        types[0] = types[0].with_dtype(T.bool_)
    try:
        values = [b.constant(c.astype(t.dtype.np), t) for c, t in zip(consts, types, strict=True)]
        attrs = {"dtype": T.f32 if dtype != T.f32 else T.int16} if name == "tir.cast" else {}
        out = b.op(name, *values, **attrs)
    except IRTypeError:
        return None
    b.create("func.return", [out])
    f.set_result_types([out.type])
    return f


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_folding_equals_eval(name: str):
    arity = REGISTRY[name].num_operands
    folded = 0
    for dtype in T.ALL_DTYPES:
        dense = [edge_values(dtype.np, N, seed=k) for k in range(arity)]
        splats = [np.array(edge_values(dtype.np, N, seed=7 + k)[: N // 2]) for k in range(arity)]
        cases = [dense] + [[np.asarray(s[i]) for s in splats] for i in range(N // 2)]
        for consts in cases:
            f = _constants_op(name, dtype, [np.broadcast_to(c, (N,)).copy() for c in consts])
            if f is None:
                break
            want = run(f, [])[0]
            g, _ = optimize(f, "fold")
            (ret,) = g.return_op.operands
            attr = const_attr(ret)
            assert attr is not None, f"{name} on {dtype} did not fold"
            assert attr.splat == all(c.ndim == 0 for c in consts)
            assert_same_bits(attr.full(), want)
            folded += 1
    assert folded, f"{name} folded for no dtype"


def test_fold_cap_keeps_big_dense_results_out():
    """A non-splat result above MAX_FOLDED_ELEMENTS is computed at run time, not embedded."""
    f = Function("f", [], [])
    b = Builder.at_end(f.body)
    t = T.TensorType((300, 300), T.f32)
    iota = np.arange(90_000, dtype=np.float32).reshape(300, 300)
    out = b.op("tir.exp", b.constant(iota, t))
    b.create("func.return", [out])
    f.set_result_types([t])
    g, _ = optimize(f, "fold")
    assert [op.name for op in g.body.ops] == ["tir.constant", "tir.exp", "func.return"]
