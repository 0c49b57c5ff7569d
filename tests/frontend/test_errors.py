"""Every error class: the message names the user's file:line, its source, and what was wrong."""

from __future__ import annotations

import numpy as np
import pytest
from runner import run_traced

from tensorir.frontend import (
    DTypeError,
    ShapeError,
    TraceError,
    TraceIndexError,
    TraceOverflowError,
    TracerBoolError,
    UnsupportedError,
)


def _if(x):
    if x.sum() > 0:
        return x
    return -x


def _while(x):
    while x.max() < 10:
        x = x * 2
    return x


CASES = [
    (_if, TracerBoolError, ["Python `if`/`while`/`bool()`", "np.where", "if x.sum() > 0:"]),
    (_while, TracerBoolError, ["np.where", "while x.max() < 10:"]),
    (lambda x: bool(x[0]), TracerBoolError, ["bool()", "shape ()"]),
    (lambda x: int(x[0]), TracerBoolError, ["`int()`", "static argument"]),
    (lambda x: float(x.sum()), TracerBoolError, ["`float()`"]),
    (lambda x: list(range(x[0])), TracerBoolError, ["Python integer use", "static"]),
    (lambda x: x.item(), TracerBoolError, ["`.item()`"]),
    (lambda x: np.asarray(x), TracerBoolError, ["to a numpy array", "np.stack"]),
    (lambda x: x + np.ones(4), ShapeError, ["shapes (3,) and (4,) do not broadcast"]),
    (lambda x: x.reshape(2, 2), ShapeError, ["cannot reshape array of size 3 into shape (2, 2)"]),
    (lambda x: x @ np.ones((2, 2)), ShapeError, ["matmul", "(3,) and (2, 2)"]),
    (lambda x: np.concatenate([x, x[None]]), ShapeError, ["(3,) and (1, 3)"]),
    (lambda x: x.sum(axis=1), ShapeError, ["axis 1 is out of bounds for array of dimension 1"]),
    (lambda x: x * 1j, DTypeError, ["complex"]),
    (lambda x: x.astype(np.complex64), DTypeError, ["complex64 is not supported"]),
    (lambda x: -(x > 0), DTypeError, ["np.negative", "(bool)"]),
    (lambda x: x + np.array(["a"]), DTypeError, ["dtype <U1 is not supported"]),
    (lambda x: x + np.array([None]), DTypeError, ["dtype object is not supported"]),
    (lambda x: x < np.array(["2024-01-01"], "M8[D]"), DTypeError, ["datetime64[D]"]),
    (lambda x: x << 1, DTypeError, ["np.left_shift", "float64"]),
    (lambda x: np.sort(x), UnsupportedError, ["np.sort is not supported"]),
    (lambda x: np.linalg.inv(x), UnsupportedError, ["np.linalg.inv is not supported"]),
    (lambda x: np.sum(x, out=x), UnsupportedError, ["keyword `out=` of np.sum"]),
    (lambda x: np.exp(x, where=x > 0), UnsupportedError, ["keyword `where=` of np.exp"]),
    (lambda x: np.cumsum(x), UnsupportedError, ["np.cumsum"]),
    (lambda x: np.where(x > 0), UnsupportedError, ["np.where with one argument"]),
    (lambda x: np.pad(x, 1, mode="edge"), UnsupportedError, ["mode='edge'"]),
    (lambda x: np.add.accumulate(x), UnsupportedError, ["np.add.accumulate"]),
    (lambda x: x[x > 0], UnsupportedError, ["boolean mask", "np.where"]),
    (lambda x: x[7], TraceIndexError, ["index 7 is out of bounds for axis 0 with size 3"]),
    (lambda x: x.astype(np.int8) + 1000, TraceOverflowError, ["1000 out of bounds for int8"]),
]


@pytest.mark.parametrize(("fn", "error", "fragments"), CASES)
def test_error_names_user_line(fn, error, fragments):
    with pytest.raises(error) as info:
        run_traced(fn, np.arange(3.0))
    message = str(info.value)
    assert message.startswith("tensorir: ")
    assert isinstance(info.value, TraceError)
    body_line = fn.__code__.co_firstlineno + (fn.__name__ != "<lambda>")
    assert f"test_errors.py:{body_line} (`" in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_errors_are_builtin_exception_kinds():
    assert issubclass(TracerBoolError, TypeError) and issubclass(DTypeError, TypeError)
    assert issubclass(ShapeError, ValueError) and issubclass(TraceIndexError, IndexError)
    assert issubclass(UnsupportedError, NotImplementedError)
    assert issubclass(TraceOverflowError, OverflowError)
