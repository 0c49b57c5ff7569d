"""Derivative checks against independent references, in float64.

`check_function` runs a function's reverse and forward derivatives (the IR transforms) with the
reference interpreter and compares them with central finite differences of the function itself,
and with each other: <vjp(u), t> = <u, jvp(t)>. `numeric_grad` differentiates plain numpy code.
"""

from __future__ import annotations

import numpy as np

from tensorir.frontend import trace
from tensorir.interpreter import interpret
from tensorir.ir import Function, verify
from tensorir.passes.autodiff import forward, reverse

EPS = 1e-6


def run(fn, *args):
    """`fn` traced and run by the interpreter: the traced path of the API, without compiling."""
    t = trace(fn, args)
    verify(t.function)
    with np.errstate(all="ignore"):
        return t.unflatten(interpret(t.function, t.flat_args(args)))


def numeric_grad(f, x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """d f / d x of scalar-valued numpy `f` by central differences."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        h = np.zeros_like(x)
        h[i] = eps
        g[i] = (float(f(x + h)) - float(f(x - h))) / (2 * eps)
    return g


def assert_close(got, want, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale)


def _is_float(a: np.ndarray) -> bool:
    return np.asarray(a).dtype.kind == "f"


def check_function(
    f: Function, args: list[np.ndarray], seed: int = 0, rtol: float = 1e-5, eps: float = EPS
) -> None:
    """Check `reverse(f)` and `forward(f)` at `args` against central differences of `f`."""
    rng = np.random.default_rng(seed)
    args = [np.asarray(a) for a in args]
    outs = interpret(f, args)
    us = [rng.standard_normal(o.shape).astype(o.dtype) for o in outs]

    def loss(xs):
        ys = interpret(f, xs)
        return sum(float(np.sum(u * y)) for u, y in zip(us, ys, strict=True) if _is_float(y))

    g = reverse(f)
    verify(g)
    cts = interpret(g, args + us)[len(outs) :]
    for i, (x, ct) in enumerate(zip(args, cts, strict=True)):
        assert ct.dtype == x.dtype and ct.shape == x.shape
        if not _is_float(x):
            assert not ct.any(), "an integer argument has a nonzero cotangent"
            continue

        def along(xi, i=i):
            return loss(args[:i] + [xi] + args[i + 1 :])

        assert_close(ct, numeric_grad(along, x, eps), rtol)

    h = forward(f)
    verify(h)
    ts = [rng.standard_normal(x.shape).astype(x.dtype) if _is_float(x) else x for x in args]
    tys = interpret(h, args + ts)[len(outs) :]
    moved = [
        [x + s * eps * t if _is_float(x) else x for x, t in zip(args, ts, strict=True)]
        for s in (1, -1)
    ]
    plus, minus = interpret(f, moved[0]), interpret(f, moved[1])
    for y, ty, p, m in zip(outs, tys, plus, minus, strict=True):
        assert ty.dtype == y.dtype and ty.shape == y.shape
        if _is_float(y):
            assert_close(ty, (p - m) / (2 * eps), rtol)
        else:
            assert not ty.any(), "an integer result has a nonzero tangent"

    def dot(xs, ys):
        return sum(float(np.sum(x * y)) for x, y in zip(xs, ys, strict=True) if _is_float(x))

    # an identity of the rules, up to rounding
    assert np.isclose(dot(cts, ts), dot(us, tys), rtol=rtol * 1e-2, atol=rtol * 1e-2)


def check_traced(fn, *args, seed: int = 0, rtol: float = 1e-5, eps: float = EPS) -> None:
    """`check_function` on numpy code `fn` traced at `args`."""
    check_function(trace(fn, args).function, list(args), seed, rtol, eps)
