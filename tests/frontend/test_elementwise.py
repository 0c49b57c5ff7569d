"""Every supported ufunc over every dtype (pair), random shapes with broadcasting, and all kinds
of values, against numpy itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from runner import check, check_or_raises, run_traced
from strategies import SETTINGS, arrays, broadcast_pairs, dtypes, shapes, small_arrays

from tensorir import numpy as tnp

UNARY = [
    np.negative, np.positive, np.absolute, np.fabs, np.sign, np.exp, np.exp2, np.log, np.log2,
    np.log10, np.log1p, np.expm1, np.sqrt, np.square, np.cbrt, np.reciprocal, np.sin, np.cos,
    np.tan, np.tanh, np.sinh, np.cosh, np.arcsin, np.arccos, np.arctan, np.floor, np.ceil,
    np.rint, np.trunc, np.isnan, np.isinf, np.isfinite, np.logical_not, np.invert,
]  # fmt: skip
BINARY = [
    np.add, np.subtract, np.multiply, np.true_divide, np.floor_divide, np.remainder, np.power,
    np.arctan2, np.maximum, np.minimum, np.fmax, np.fmin, np.logical_and, np.logical_or,
    np.logical_xor, np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.left_shift,
    np.right_shift, np.equal, np.not_equal, np.less, np.less_equal, np.greater,
    np.greater_equal,
]  # fmt: skip


def check_ufunc(fn, *args):
    """`fn` traced agrees with numpy, or both reject the dtypes with a TypeError."""
    try:
        with np.errstate(all="ignore"):
            fn(*args)
    except TypeError:
        with pytest.raises(TypeError):
            run_traced(fn, *args)
        return
    except ValueError:  # numpy's run-time value checks (negative integer powers)
        assume(False)
    check(fn, *args)


@pytest.mark.parametrize("ufunc", UNARY, ids=lambda u: u.__name__)
@SETTINGS
@given(data=st.data(), dtype=dtypes, shape=shapes)
def test_unary(ufunc, data, dtype, shape):
    x = data.draw(arrays(dtype, shape))
    if ufunc is np.reciprocal and dtype.kind in "iu":
        x[x == 0] = 1  # numpy's integer 1 / 0 is whatever C's float->int cast of inf gives
    check_ufunc(ufunc, x)


@pytest.mark.parametrize("ufunc", BINARY, ids=lambda u: u.__name__)
@SETTINGS
@given(data=st.data(), d1=dtypes, d2=dtypes, shapes=broadcast_pairs)
def test_binary(ufunc, data, d1, d2, shapes):
    a = data.draw(arrays(d1, shapes.input_shapes[0]))
    b = data.draw(arrays(d2, shapes.input_shapes[1]))
    check_ufunc(ufunc, a, b)


OPERATORS = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b, "//": lambda a, b: a // b, "%": lambda a, b: a % b,
    "**": lambda a, b: a**b, "&": lambda a, b: a & b, "|": lambda a, b: a | b,
    "^": lambda a, b: a ^ b, "<<": lambda a, b: a << b, ">>": lambda a, b: a >> b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "divmod": divmod,
}  # fmt: skip


@pytest.mark.parametrize("op", OPERATORS, ids=str)
@SETTINGS
@given(data=st.data(), d1=dtypes, d2=dtypes, shapes=broadcast_pairs, reflected=st.booleans())
def test_operators(op, data, d1, d2, shapes, reflected):
    """Python operators on a tracer and a numpy array (which defers to the tracer when left)."""
    a = data.draw(small_arrays(d1, shapes.input_shapes[0]))
    b = data.draw(small_arrays(d2, shapes.input_shapes[1]))
    fn = OPERATORS[op]
    if reflected:  # the numpy array on the left: ndarray.__op__ must defer to the tracer
        check_ufunc(lambda y: fn(a, y), b)
    else:
        check_ufunc(lambda x: fn(x, b), a)


@pytest.mark.parametrize("op", ["-", "+", "abs", "~"])
@SETTINGS
@given(dtype=dtypes, data=st.data(), shape=shapes)
def test_unary_operators(op, dtype, data, shape):
    fn = {"-": lambda x: -x, "+": lambda x: +x, "abs": abs, "~": lambda x: ~x}[op]
    check_ufunc(fn, data.draw(arrays(dtype, shape)))


SCALARS = st.one_of(
    st.booleans(),
    st.integers(-300, 300),
    st.sampled_from([2**31, -(2**40), 2**63 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
)


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "//", "%", "==", "<", ">=", "&", "**"])
@SETTINGS
@given(data=st.data(), dtype=dtypes, shape=shapes, scalar=SCALARS, left=st.booleans())
def test_weak_python_scalars(op, data, dtype, shape, scalar, left):
    """NEP 50: a Python scalar takes the array's dtype when it can (`x_f32 * 2.0` is float32),
    an int that does not fit raises OverflowError, comparisons are exact."""
    x = data.draw(small_arrays(dtype, shape))
    fn = OPERATORS[op]
    traced = (lambda a: fn(scalar, a)) if left else (lambda a: fn(a, scalar))
    try:
        with np.errstate(all="ignore"):
            traced(x)
    except OverflowError:
        with pytest.raises(OverflowError, match="out of bounds"):
            run_traced(traced, x)
        return
    except (TypeError, ValueError):
        assume(False)
    check(traced, x)


@pytest.mark.parametrize("op", ["+", "*", "/", "-", "==", "<", ">", "!="])
@SETTINGS
@given(data=st.data(), dtype=dtypes, shape=shapes, kind=st.sampled_from([bool, int, float]))
def test_weak_scalar_arguments(op, data, dtype, shape, kind):
    """A Python scalar passed as an argument is traced as a weakly typed 0-d value."""
    x = data.draw(small_arrays(dtype, shape))
    scalar = kind(data.draw(st.integers(-100, 100) if kind is not bool else st.booleans()))
    fn = OPERATORS[op]
    try:
        with np.errstate(all="ignore"):
            fn(x, scalar)
    except (OverflowError, TypeError):
        assume(False)
    check(fn, x, scalar)


def test_weak_examples():
    x32 = np.arange(4, dtype=np.float32)
    i8 = np.arange(4, dtype=np.int8)
    assert run_traced(lambda x: x * 2.0, x32).dtype == np.float32
    assert run_traced(lambda x: x + 1, i8).dtype == np.int8
    assert run_traced(lambda x: x * 2.5, i8).dtype == np.float64
    assert run_traced(lambda x: x * np.float64(2), x32).dtype == np.float64
    assert run_traced(lambda x, s: x * s, x32, 2.0).dtype == np.float32
    with pytest.raises(OverflowError, match="1000 out of bounds for int8"):
        run_traced(lambda x: x + 1000, i8)
    u8 = np.array([0, 7, 255], np.uint8)
    check(lambda x: (x < -1, x > 300, x == -1, x != 256), u8)
    check(lambda x, s: (x < s, x == s), u8, -1)


@SETTINGS
@given(data=st.data(), shape=shapes, dtype=dtypes)
def test_erf(data, shape, dtype):
    x = data.draw(arrays(dtype, shape))
    with np.errstate(all="ignore"):
        want = tnp.erf(x)
    got = run_traced(tnp.erf, x)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=2e-3 if want.dtype == np.float16 else 1e-6)


def test_ufunc_methods():
    x = np.arange(12.0).reshape(3, 4)
    check(lambda a: np.add.reduce(a), x)
    check(lambda a: np.maximum.reduce(a, axis=1, keepdims=True), x)
    check(lambda a: np.logical_or.reduce(a > 5, axis=None), x)
    check(lambda a: np.multiply.outer(a[0], a[:, 1]), x)
    check(lambda a: np.add(a, 1, dtype=np.float32), x)


def test_in_place_operators():
    def floats(x, y):
        z = x.copy()
        alias = z  # sees every update, as in numpy
        z += y
        z *= 2
        z -= 1.5
        z[1:] /= 2
        np.add(z, 1, out=z)
        return alias, z, x

    def ints(x):
        x = x.copy()
        a = x
        a += 1
        a //= 2
        a <<= 1
        a %= 5
        a **= 2
        a &= 6
        a |= 1
        a ^= 3
        a >>= 1
        a *= np.int64(3)  # int64 results cast back to int16 (same kind)
        return x

    check(floats, np.arange(4.0), np.ones(4))
    check(ints, np.arange(6, dtype=np.int16))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x.__iadd__(1.5),  # float into int: not same_kind
        lambda x: x.__iadd__(np.ones((2, 3), np.int32)),  # output cannot broadcast
        lambda x: np.round(x, -1),
        lambda x: np.round(x.astype(np.float32) / 7, 2),
        lambda x: np.round(x / 4),
    ],
)
def test_in_place_errors_and_round(fn):
    check_or_raises(lambda a: fn(a.copy()), np.arange(-6, 6, 3, dtype=np.int32))


def test_power_operator_takes_numpy_fast_paths():
    # `a ** 0.5` is sqrt and `a ** -1` reciprocal in numpy, whose roundings differ from pow
    x = np.array([-0.0, -np.inf, np.inf, 4.0, 3.0, 7.0, 1e-300, 0.1], np.float64)
    check(lambda a: (a**0.5, a**-1, a**1, a**2.0, a**3, a**-1.0), x)
    check(lambda a: (a**0.5, a**-1), x.astype(np.float32))
    check(lambda a: (a**2, a**2.0), np.array([True, False]))
