"""Random numpy programs (chains of ufuncs, reductions, shape ops, indexing and item assignment)
traced and run, against numpy: the ops must also compose."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from runner import check
from strategies import SETTINGS, small_arrays

UNARY = [np.negative, np.abs, np.exp, np.tanh, np.sqrt, np.floor, np.square, np.sign]
BINARY = [np.add, np.subtract, np.multiply, np.maximum, np.minimum, np.true_divide, np.arctan2]


def _step(kind: str, args: tuple, pool: list):
    """Apply one recorded step to the pool of values (numpy arrays or tracers alike)."""
    a = pool[args[0] % len(pool)]
    if kind == "unary":
        return UNARY[args[1]](a)
    if kind == "binary":
        b = pool[args[2] % len(pool)]
        try:
            np.broadcast_shapes(np.shape(a), np.shape(b))
        except ValueError:
            return a + 1.0
        return BINARY[args[1]](a, b)
    if np.ndim(a) == 0:
        return a * 2.0
    axis = args[1] % np.ndim(a)
    if kind == "sum":
        return a.sum(axis=axis, keepdims=bool(args[2] % 2))
    if kind == "max":
        return a.max(axis=axis) if np.shape(a)[axis] else a
    if kind == "mean":
        return a.mean(axis=axis, keepdims=True)
    if kind == "transpose":
        return np.swapaxes(a, 0, axis)
    if kind == "flip":
        return a[::-1] if np.shape(a)[0] else a
    if kind == "reshape":
        return a.reshape(-1)
    if kind == "where":
        return np.where(a > 0.5, a, -a)
    if kind == "slice":
        return a[1:] if np.shape(a)[0] > 1 else a
    if kind == "assign":
        out = a.copy()
        out[..., :1] = 3.0
        return out
    if kind == "concat":
        return np.concatenate([a, a * 2.0], axis=axis)
    raise AssertionError(kind)


KINDS = [
    "unary", "binary", "sum", "max", "mean", "transpose", "flip", "reshape", "where", "slice",
    "assign", "concat",
]  # fmt: skip
steps = st.lists(
    st.tuples(st.sampled_from(KINDS), st.tuples(*[st.integers(0, 6)] * 3)),
    min_size=1,
    max_size=6,
)


def run(program, x, y):
    pool = [x, y]
    for kind, args in program:
        pool.append(_step(kind, args, pool))
    return pool[-1], pool[-2]


@SETTINGS
@given(
    data=st.data(),
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    program=steps,
)
def test_random_programs(data, dtype, shape, program):
    x = data.draw(small_arrays(dtype, shape))
    y = data.draw(small_arrays(dtype, shape))
    check(lambda a, b: run(program, a, b), x, y)
