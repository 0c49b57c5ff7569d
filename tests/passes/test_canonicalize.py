"""Canonicalization is exact: every pattern, on numpy code as traced, gives numpy's bits on edge
values (signed zeros, infinities, NaN, extremes, subnormals, integer wrap-around). The table must
exercise every pattern of the set, so a new pattern cannot land without its exactness test."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest
from passcheck import assert_same_bits, edge_values, optimize, run, traced

from tensorir.ir import types as T
from tensorir.passes.canonicalize import CANON, exact_cast

FLOATS = (np.float16, np.float32, np.float64)
INTS = (np.int8, np.int32, np.int64, np.uint8, np.uint16)
NUMS = FLOATS + INTS
SIGNED = FLOATS + (np.int8, np.int32, np.int64)
SHAPE = (2, 3, 4)


class Case(NamedTuple):
    patterns: set[str]  # that must fire
    fn: Callable  # of x and y (x's values reshuffled), traced and run by numpy
    dtypes: tuple
    ulps: int = 0  # allowed difference in units in the last place


CASES = [
    Case(*c)
    for c in [
        ({"canon_mul_one"}, lambda x, y: (x * 1, 1 * x), NUMS),
        ({"canon_mul_minus_one"}, lambda x, y: x * -1, FLOATS + (np.int8, np.int64)),
        ({"canon_mul_zero_int"}, lambda x, y: (x * 0, 0 * y), INTS),
        ({"canon_add_zero"}, lambda x, y: x + 0, INTS),
        ({"canon_add_zero"}, lambda x, y: (x + -0.0, -0.0 + y), FLOATS),
        ({"canon_sub_zero"}, lambda x, y: (x - 0, y - 0.0), NUMS),
        ({"canon_zero_sub"}, lambda x, y: 0 - x, INTS),
        ({"canon_zero_sub"}, lambda x, y: -0.0 - x, FLOATS),
        ({"canon_sub_self_int"}, lambda x, y: x - x, INTS),
        ({"canon_add_neg", "canon_sub_neg"}, lambda x, y: (x + -y, -y + x, x - -y), NUMS),
        ({"canon_neg_neg"}, lambda x, y: np.negative(-x), NUMS),
        ({"canon_not_not"}, lambda x, y: (~~x, ~~(x > y)), INTS),
        ({"canon_abs_abs"}, lambda x, y: abs(abs(x)), NUMS),
        ({"canon_abs_neg"}, lambda x, y: abs(-y), SIGNED),
        ({"canon_div_power_of_two"}, lambda x, y: (x / 4, y / -0.125, x / 2.0**-10), FLOATS),
        ({"canon_select_const"}, lambda x, y: (np.where(True, x, y), np.where(False, x, y)), NUMS),
        ({"canon_select_same"}, lambda x, y: np.where(x > y, y, y), NUMS),
        # np.power, not `**`: the operator takes numpy's own fast paths for these exponents
        ({"canon_pow_one", "canon_pow_zero"}, lambda x, y: (np.power(x, 1), np.power(y, 0)), NUMS),
        ({"canon_pow_two"}, lambda x, y: np.power(x, 2), INTS),
        # x * x and sqrt are correctly rounded, numpy's float32/64 pow is within an ulp
        ({"canon_pow_two"}, lambda x, y: np.power(x, 2.0), FLOATS, 1),
        ({"canon_pow_half"}, lambda x, y: np.power(x, np.full_like(x, 0.5)), FLOATS, 1),
        (
            {"canon_transpose_transpose", "canon_transpose_identity"},
            lambda x, y: (x.T.T, np.transpose(np.transpose(x, (1, 2, 0)), (0, 2, 1))),
            (np.float32, np.int8),
        ),
        (
            {"canon_reshape_reshape", "canon_same_shape"},
            lambda x, y: (x.reshape(6, 4).reshape(24), y.reshape(-1).reshape(SHAPE)),
            (np.float64, np.uint8),
        ),
        (
            {"canon_broadcast_broadcast", "canon_broadcast_expand"},
            lambda x, y: (
                np.broadcast_to(np.broadcast_to(x[0, 0], (3, 4)), (2, 3, 4)),
                x - x.max(axis=2, keepdims=True),
            ),
            (np.float32, np.int32),
        ),
        (
            {"canon_unary_before_movement"},
            lambda x, y: (np.exp(np.broadcast_to(x[0], SHAPE)), (-x.sum(axis=0, keepdims=True))),
            (np.float32,),
        ),
        (
            {"canon_slice_slice", "canon_slice_full"},
            lambda x, y: (x[::-1][::-1], x[:, ::-1][1:, 1:][:, ::2], y[1:][0][::-2]),
            (np.float16, np.int64),
        ),
        (
            {"canon_cast_cast", "canon_cast_same"},
            lambda x, y: (
                x.astype(np.float64).astype(x.dtype),
                x.astype(np.int64).astype(np.float64),
            ),
            (np.float32, np.int16, np.uint8),
        ),
        (
            {"fold_constant"},
            lambda x, y: x * (np.ones_like(x) * 3 - np.arange(24).reshape(SHAPE)).astype(x.dtype),
            (np.float32, np.int32),
        ),
    ]
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "+".join(sorted(c.patterns)))
def test_canonicalization_is_exact(case: Case):
    for dtype in case.dtypes:
        x = edge_values(dtype, seed=0).reshape(SHAPE)
        y = edge_values(dtype, seed=1).reshape(SHAPE)
        f = traced(case.fn, x, y)
        g, fired = optimize(f, "canonicalize")
        want = case.patterns
        assert want <= set(fired), f"{dtype.__name__}: fired {dict(fired)}, want {want}"
        with np.errstate(all="ignore"):
            ref = case.fn(x, y)
        ref = ref if isinstance(ref, tuple) else (ref,)
        for got, before, r in zip(run(g, [x, y]), run(f, [x, y]), ref, strict=True):
            assert_same_bits(got, before, case.ulps)
            assert_same_bits(got, np.asarray(r), case.ulps)


def test_every_pattern_has_an_exactness_case():
    covered = set().union(*(c.patterns for c in CASES))
    assert covered == {p.name for p in CANON.patterns}


def test_float_identities_that_would_change_bits_stay():
    """x + 0.0 (-0.0 + 0.0 is +0.0), x * 0.0 (inf * 0 is NaN), x - x (inf - inf), 0.0 - x
    (0.0 - 0.0 is +0.0, -(0.0) is -0.0), x / 3 (1/3 inexact), (x * y) / y."""
    x = edge_values(np.float32).reshape(SHAPE)
    f = traced(lambda x, y: (x + 0.0, x * 0.0, x - x, 0.0 - x, x / 3, (x * y) / y), x, x[::-1])
    g, fired = optimize(f, "canonicalize,cse")
    assert not fired
    assert [op.name for op in g.body.ops].count("tir.div") == 2


def _keeps_values(values: np.ndarray, to: np.dtype) -> bool:
    """Every value converts to `to` unchanged, compared as Python numbers (exactly)."""
    with np.errstate(all="ignore"):
        out = values.astype(to)
        same = out.astype(object) == values.astype(object)
        if values.dtype.kind == "f":
            same |= np.isnan(values) & np.isnan(out.astype(np.float64))
    return bool(np.all(same))


def _every_value(d: T.DType) -> np.ndarray:
    if d.is_bool:
        return np.array([False, True])
    if d.is_float:
        return np.arange(2**16, dtype=np.uint16).view(np.float16)
    return np.arange(np.iinfo(d.np).min, np.iinfo(d.np).max + 1).astype(d.np)


@pytest.mark.parametrize("a", T.ALL_DTYPES, ids=str)
def test_exact_cast_means_every_value_is_kept(a: T.DType):
    """For dtypes of at most 16 bits, exhaustively in both directions; wider ones on edges."""
    small = a.is_bool or a.bits <= 16
    values = _every_value(a) if small else edge_values(a.np)
    for b in T.ALL_DTYPES:
        if small:
            assert exact_cast(a, b) == _keeps_values(values, b.np), (a, b)
        elif exact_cast(a, b):
            assert _keeps_values(values, b.np), (a, b)
