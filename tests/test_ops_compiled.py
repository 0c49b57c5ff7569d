"""Registry-driven: every op, lowered through generalize + LLVM and run, equals its numpy `eval`.

The reference is the op's own `eval` (numpy), run by the interpreter on the same IR before it is
compiled, over every dtype the op accepts and values that include NaN, +-inf, -0.0, zeros,
-1 and the integer extremes.
"""

from __future__ import annotations

import numpy as np
import pytest
from programs import single_op

from tensorir.interpreter import interpret
from tensorir.ir import Builder, Function
from tensorir.ir import types as T
from tensorir.ir.core import DenseAttr
from tensorir.ir.ops_elementwise import CLASSES, ROWS
from tensorir.lower_llvm.engine import compile_function

SPECIAL_FLOATS = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-300, 7.25]


def values(dtype: T.DType, shape, rng, positive=False) -> np.ndarray:
    n = int(np.prod(shape))
    d = dtype.np
    if dtype.is_bool:
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype.is_int:
        info = np.iinfo(d)
        special = [0, 1, -1, info.min, info.max, 2, -7, 3]
        special = [s for s in special if info.min <= s <= info.max]
        lo, hi = (0, 20) if positive else (max(info.min, -50), min(info.max, 50))
        out = rng.integers(lo, hi, size=n).astype(d)
        if not positive:
            out[: min(n, len(special))] = np.array(special[:n], dtype=d)
        return out.reshape(shape)
    out = (rng.standard_normal(n) * 3).astype(d)
    out[: min(n, len(SPECIAL_FLOATS))] = np.array(SPECIAL_FLOATS[:n], dtype=np.float64).astype(d)
    return out.reshape(shape)


def check(opname: str, arrays, attrs=None, rtol=None, zero_signs=True) -> None:
    f = single_op(opname, arrays, attrs)
    expected = interpret(f, arrays)
    got = compile_function(f)(*arrays)
    for e, g in zip(expected, got, strict=True):
        assert_same(g, e, rtol, zero_signs)


def assert_same(got: np.ndarray, expected: np.ndarray, rtol=None, zero_signs=True) -> None:
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if expected.dtype.kind == "f":
        eps = np.finfo(expected.dtype).eps
        tol = rtol if rtol is not None else 4 * eps
        np.testing.assert_allclose(
            got.astype(np.float64), expected.astype(np.float64), rtol=tol, atol=tol, equal_nan=True
        )
        both_zero = (got == 0) & (expected == 0) & zero_signs
        assert (np.signbit(got[both_zero]) == np.signbit(expected[both_zero])).all(), "sign of 0"
    else:
        np.testing.assert_array_equal(got, expected)


def dtypes_of(cls: str):
    return [d for d in T.ALL_DTYPES if d.kind in CLASSES[cls]]


# libm and numpy's own SIMD routines may differ by an ulp or two; float16 rounds from float32
TRANSCENDENTAL = {
    "exp", "log", "log1p", "expm1", "sqrt", "cbrt", "sin", "cos", "tan", "tanh", "sinh", "cosh",
    "arcsin", "arccos", "arctan", "erf", "arctan2", "pow",
}  # fmt: skip
CASES = [(row, d) for row in ROWS for d in dtypes_of(row.cls)]


@pytest.mark.parametrize(("row", "dtype"), CASES, ids=[f"{r.name}-{d}" for r, d in CASES])
def test_elementwise(row, dtype):
    rng = np.random.default_rng(hash((row.name, str(dtype))) % 2**32)
    shape = (3, 7)
    positive = row.name in ("shl", "shr")
    arrays = [values(dtype, shape, rng, positive) for _ in range(row.arity)]
    if row.arity == 2 and row.name not in ("shl", "shr"):
        arrays[1] = np.roll(arrays[1], 5)  # pair specials with other values
    rtol = None
    if row.name in TRANSCENDENTAL:
        rtol = 2e-3 if dtype == T.f16 else 1e-6 if dtype == T.f32 else 1e-13
    check(f"tir.{row.name}", arrays, rtol=rtol)


@pytest.mark.parametrize("shape", [(), (0,), (4, 0, 3), (1,), (2, 3, 4)])
def test_elementwise_shapes(shape):
    rng = np.random.default_rng(0)
    a, b = (values(T.f32, shape, rng) for _ in range(2))
    check("tir.add", [a, b])
    check("tir.select", [np.asarray(a > b), a, b])


@pytest.mark.parametrize("src", T.ALL_DTYPES, ids=str)
@pytest.mark.parametrize("dst", T.ALL_DTYPES, ids=str)
def test_cast(src, dst):
    rng = np.random.default_rng(1)
    x = values(src, (5, 4), rng)
    if src.is_float and not dst.is_float and not dst.is_bool:
        x = np.nan_to_num(x, nan=0, posinf=0, neginf=0)  # numpy leaves these undefined
        info = np.iinfo(dst.np)
        x = np.clip(np.trunc(x), max(info.min, -1e4), min(info.max, 1e4)).astype(src.np)
        if dst.kind == "u":
            x = np.abs(x)
    check("tir.cast", [x], {"dtype": dst})


def test_select_each_dtype():
    rng = np.random.default_rng(2)
    for d in T.ALL_DTYPES:
        a, b = values(d, (6,), rng), values(d, (6,), rng)
        check("tir.select", [rng.integers(0, 2, 6).astype(bool), a, b])


# bool sums and products are not IR ops: numpy counts bools as integers, so the frontend casts
REDUCTION_CASES = [
    (kind, dtype)
    for kind in ("sum", "prod", "max", "min")
    for dtype in (T.f32, T.f64, T.int32, T.uint8, T.bool_, T.f16, T.int64)
    if not (dtype.is_bool and kind in ("sum", "prod"))
]


@pytest.mark.parametrize(
    ("kind", "dtype"), REDUCTION_CASES, ids=[f"{k}-{d}" for k, d in REDUCTION_CASES]
)
@pytest.mark.parametrize("axes", [(), (0,), (1,), (2,), (0, 2), (0, 1, 2)])
def test_reductions(kind, dtype, axes):
    rng = np.random.default_rng(3)
    x = values(dtype, (3, 4, 5), rng)
    if dtype.is_float:
        x = np.where(np.isfinite(x), x, 1.5).astype(dtype.np)
        if kind == "prod":
            x = (np.abs(x) % 2 + 0.5).astype(dtype.np)
    rtol = 2e-3 if dtype == T.f16 else 1e-5 if dtype == T.f32 else None
    # which of -0.0 and 0.0 a min/max reduction keeps depends on numpy's summation order
    check(f"tir.reduce_{kind}", [x], {"axes": axes}, rtol=rtol, zero_signs=False)


def test_reduction_nan_propagates_and_empty_sum():
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
    check("tir.reduce_max", [x], {"axes": (1,)})
    check("tir.reduce_sum", [np.zeros((0, 3), np.float32)], {"axes": (0,)})


@pytest.mark.parametrize("kind", ["max", "min"])
@pytest.mark.parametrize("dtype", [T.f32, T.f64])
def test_vector_min_max_reductions_propagate_nan(kind, dtype):
    """Rows long enough for the vector loop (interleaved accumulators and a remainder), with a
    NaN in each lane position of one row and +-inf, -0.0 and 0.0 around it."""
    n = 203
    x = np.tile(np.array([0.0, -0.0, np.inf, -np.inf, 1.0], dtype.np)[np.arange(n) % 5], (n, 1))
    x[np.arange(n), np.arange(n)] = np.nan  # row i: NaN at column i
    zeros = np.full((3, n), -0.0, dtype.np)  # rows without NaN
    zeros[-1, 7] = 0.0
    x = np.concatenate([x, zeros])
    check(f"tir.reduce_{kind}", [x], {"axes": (1,)}, zero_signs=False)


def test_long_float32_sum_is_accurate():
    x = np.random.default_rng(4).random(1_000_003).astype(np.float32)
    f = single_op("tir.reduce_sum", [x], {"axes": (0,)})
    (got,) = compile_function(f)(x)
    np.testing.assert_allclose(got, x.astype(np.float64).sum(), rtol=1e-6)


@pytest.mark.parametrize("kind", ["argmax", "argmin"])
@pytest.mark.parametrize("dtype", [T.f32, T.int16, T.bool_, T.uint64])
@pytest.mark.parametrize("axis", [0, 1])
def test_argreductions(kind, dtype, axis):
    x = values(dtype, (6, 5), np.random.default_rng(5))
    check(f"tir.{kind}", [x], {"axis": axis})


def test_matmul_and_batched():
    rng = np.random.default_rng(6)
    for dtype in (T.f32, T.f64, T.int32, T.bool_):
        a, b = values(dtype, (4, 3), rng), values(dtype, (3, 5), rng)
        if dtype.is_float:
            a, b = np.nan_to_num(a, posinf=1, neginf=-1), np.nan_to_num(b, posinf=1, neginf=-1)
        check("tir.matmul", [a, b], rtol=1e-5)
    a, b = rng.random((2, 4, 3)), rng.random((2, 3, 6))
    check("tir.matmul", [a, b], rtol=1e-12)


def test_movement_ops():
    rng = np.random.default_rng(7)
    x = rng.random((2, 3, 4)).astype(np.float32)
    check("tir.transpose", [x], {"perm": (2, 0, 1)})
    check("tir.reshape", [x], {"shape": (6, 4)})
    check("tir.reshape", [x], {"shape": (4, 1, 6)})
    check("tir.reshape", [x], {"shape": (24,)})
    check("tir.broadcast", [x[:, :1, :]], {"shape": (5, 2, 3, 4), "dims": (1, 2, 3)})
    check("tir.slice", [x], {"starts": (1, 2, 3), "steps": (1, -1, -2), "sizes": (1, 3, 2)})
    check("tir.slice", [x], {"starts": (0, 0, 0), "steps": (1, 2, 1), "sizes": (2, 0, 4)})


def test_concatenate_pad_insert():
    rng = np.random.default_rng(8)
    a, b, c = rng.random((2, 3)), rng.random((2, 0)), rng.random((2, 4))
    f = single_op("tir.concatenate", [a, b, c], {"axis": 1})
    np.testing.assert_array_equal(compile_function(f)(a, b, c)[0], np.concatenate([a, b, c], 1))
    x = rng.random((3, 4)).astype(np.float32)
    check("tir.pad", [x, np.array(-1.0, np.float32)], {"low": (1, 0), "high": (2, 3)})
    v = rng.random((2, 2)).astype(np.float32)
    check("tir.insert_slice", [x, v], {"starts": (2, 3), "steps": (-1, -2), "sizes": (2, 2)})


def test_gather_take_along_scatter():
    rng = np.random.default_rng(9)
    x = rng.random((5, 4))
    idx = np.array([[0, -1], [4, 2]], dtype=np.int64)
    check("tir.gather", [x, idx], {"axis": 0})
    check("tir.gather", [x, (idx % 4).astype(np.int8)], {"axis": 1})
    along = rng.integers(-5, 5, (3, 4)).astype(np.int32)
    check("tir.take_along_axis", [x, along], {"axis": 0})
    rows = np.array([3, 0, 3], dtype=np.int64)
    check("tir.scatter", [x, rows, rng.random((3, 4))])


def test_gather_out_of_bounds_raises():
    x = np.arange(5.0)
    f = single_op("tir.gather", [x, np.array([1, 5])], {"axis": 0})
    with pytest.raises(IndexError, match="size 5"):
        compile_function(f)(x, np.array([1, 5]))


def test_iota_and_constants():
    f = Function("t", [], [])
    b = Builder.at_end(f.body)
    i = b.op("tir.iota", shape=(3, 4), dtype=T.f32, dim=1)
    c = b.constant(np.arange(12, dtype=np.float32).reshape(3, 4), T.TensorType((3, 4), T.f32))
    z = b.op("tir.constant", value=DenseAttr.of(2.5, T.TensorType((3, 4), T.f32)))
    b.create("func.return", [b.op("tir.add", b.op("tir.mul", i, z), c), c])
    f.set_result_types([T.TensorType((3, 4), T.f32)] * 2)
    expected = interpret(f, [])
    for e, g in zip(expected, compile_function(f)(), strict=True):
        assert_same(g, e)


def test_non_contiguous_inputs():
    x = np.random.default_rng(10).random((6, 8))[::-2, 1::3]
    f = single_op("tir.exp", [x])
    np.testing.assert_allclose(compile_function(f)(x)[0], np.exp(x), rtol=1e-14)


VECTOR_MATH = ["exp", "log", "log1p", "expm1", "cbrt", "sin", "cos", "tan", "tanh", "sinh",
               "cosh", "arcsin", "arccos", "arctan", "erf"]  # fmt: skip


@pytest.mark.parametrize("name", VECTOR_MATH)
@pytest.mark.parametrize("dtype", [T.f32, T.f64], ids=str)
def test_vectorized_math_within_ulps_of_numpy(name, dtype):
    """Long arrays take the vectorized (libmvec) path; over a wide range, subnormals, +-0, +-inf,
    NaN and the overflow edges, results stay within a few ulp of numpy's."""
    d = dtype.np
    info = np.finfo(d)
    rng = np.random.default_rng(11)
    wide = np.concatenate(
        [
            rng.uniform(-1, 1, 2000),
            rng.uniform(-100, 100, 2000),
            np.logspace(-40, 3, 500) * rng.choice([-1, 1], 500),
            [0.0, -0.0, np.inf, -np.inf, np.nan, float(info.tiny) / 4, -float(info.tiny) / 4],
            [88.7, 88.8, 709.7, 709.8, -87.3, -745.2, 1 - 1e-7, -1 + 1e-7],
        ]
    )
    x = wide.astype(d)
    f = single_op(f"tir.{name}", [x])
    (expected,) = interpret(f, [x])
    (got,) = compile_function(f)(x)
    assert_ulps(got, expected, 8)


def assert_ulps(got: np.ndarray, expected: np.ndarray, ulps: int) -> None:
    same_nan = np.isnan(got) == np.isnan(expected)
    assert same_nan.all(), f"NaN mismatch at {np.flatnonzero(~same_nan)[:5]}"
    finite = np.isfinite(expected) & ~np.isnan(got)
    assert (got[~finite & ~np.isnan(got)] == expected[~finite & ~np.isnan(got)]).all()
    err = np.abs(got[finite].astype(np.float64) - expected[finite])
    spacing = np.spacing(np.abs(expected[finite])).astype(np.float64)
    tiny = np.finfo(expected.dtype).tiny
    bad = err > ulps * np.maximum(spacing, tiny)
    assert not bad.any(), (
        f"{bad.sum()} values off by more than {ulps} ulp, e.g. got {got[finite][bad][:3]}, "
        f"numpy {expected[finite][bad][:3]}"
    )


def test_dynamic_dims_take_loop_bounds_from_the_arrays():
    """One compilation serves every length of a `?` dim: loop bounds are read at run time."""
    t = T.TensorType((None, 4), T.f32)
    f = Function("colmax", [t], [T.TensorType((4,), T.f32)])
    b = Builder.at_end(f.body)
    b.create("func.return", [b.op("tir.reduce_max", b.op("tir.exp", f.args[0]), axes=(0,))])
    assert "tensor<?x4xf32>" in str(f)
    exe = compile_function(f)
    for n in (1, 5, 1000):
        x = np.random.default_rng(n).random((n, 4)).astype(np.float32)
        np.testing.assert_allclose(exe(x)[0], np.exp(x).max(axis=0), rtol=1e-6)
    with pytest.raises(TypeError, match="shape"):
        exe(np.ones((3, 5), np.float32))
