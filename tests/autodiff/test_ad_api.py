"""The user API: grad, value_and_grad, vjp, jvp, jacobians, stop_gradient and custom_vjp, on
pytrees, with argnums and has_aux, eagerly, under `jit` and nested in each other.

References are central finite differences of plain numpy code (float64) or closed forms.
"""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import assert_close, numeric_grad, run

import tensorir
from tensorir import (
    custom_vjp,
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    stop_gradient,
    value_and_grad,
    vjp,
)

rng = np.random.default_rng(0)
W, X, Y = rng.standard_normal((3, 2)), rng.standard_normal((5, 3)), rng.standard_normal((5, 2))


def loss(w, x, y):
    return np.mean((np.tanh(x @ w) - y) ** 2)


def test_issue_example():
    g = tensorir.grad(loss)
    gw = tensorir.jit(g)(W, X, Y)
    assert_close(gw, numeric_grad(lambda w: loss(w, X, Y), W))
    v, (gw2, gx) = tensorir.jit(tensorir.value_and_grad(loss, argnums=(0, 1)))(W, X, Y)
    assert np.isclose(v, loss(W, X, Y))
    assert_close(gw2, gw)
    assert_close(gx, numeric_grad(lambda x: loss(W, x, Y), X))
    text = tensorir.jit(g).lower(W, X, Y).as_text()
    assert "tir.matmul" in text and "tir.tanh" in text  # the gradient is plain IR


def test_second_derivative_closed_form():
    d2 = grad(grad(lambda t: np.sin(t) * t))(1.5)
    assert np.isclose(d2, -np.sin(1.5) * 1.5 + 2 * np.cos(1.5), rtol=1e-12)
    assert d2.dtype == np.float64


def test_eager_equals_jit_and_is_cached():
    g = grad(loss, argnums=1)
    first = g(W, X, Y)
    assert_close(first, tensorir.jit(g)(W, X, Y), rtol=1e-12)
    assert_close(g(W, X, Y), first, rtol=0)


def test_argnums():
    f = lambda a, b, c: np.sum(a * b * c)  # noqa: E731
    a, b, c = rng.standard_normal((3, 4))
    ga, gc = run(grad(f, argnums=(0, -1)), a, b, c)
    assert_close(ga, b * c)
    assert_close(gc, a * b)
    (gb,) = run(grad(f, argnums=(1,)), a, b, c)
    assert_close(gb, a * c)
    with pytest.raises(ValueError, match="argnums"):
        run(grad(f, argnums=3), a, b, c)


def test_has_aux():
    def f(x):
        return np.sum(x**2), {"mean": np.mean(x), "n": x.shape[0]}

    x = np.array([1.0, 2.0, 4.0])
    g, aux = grad(f, has_aux=True)(x)
    assert_close(g, 2 * x)
    assert np.isclose(aux["mean"], x.mean()) and aux["n"] == 3
    (v, aux2), g2 = run(value_and_grad(f, has_aux=True), x)
    assert np.isclose(v, 21.0) and np.isclose(aux2["mean"], x.mean())
    with pytest.raises(TypeError, match="has_aux"):
        run(grad(lambda x: np.sum(x), has_aux=True), x)


def test_pytrees():
    params = {"w": rng.standard_normal((3, 2)), "b": [rng.standard_normal(2), 0.5]}

    def f(p, x):
        return np.sum(np.tanh(x @ p["w"] + p["b"][0]) * p["b"][1])

    g = tensorir.jit(grad(f))(params, X)
    assert set(g) == {"w", "b"} and isinstance(g["b"], list)
    for path, x0 in (("w", params["w"]), ("b0", params["b"][0]), ("b1", params["b"][1])):

        def along(v, path=path):
            p = {"w": params["w"], "b": list(params["b"])}
            if path == "w":
                p["w"] = v
            else:
                p["b"][int(path[1])] = v
            return f(p, X)

        got = {"w": g["w"], "b0": g["b"][0], "b1": g["b"][1]}[path]
        assert_close(got, numeric_grad(along, np.asarray(x0)))


def test_integer_and_bool_inputs_get_zero():
    def f(x, n, mask):
        return np.sum(np.where(mask, x * n, x))

    x, n, mask = np.array([1.0, 2.0]), np.array([3, 4]), np.array([True, False])
    gx, gn, gm = run(grad(f, argnums=(0, 1, 2)), x, n, mask)
    assert_close(gx, [3.0, 1.0])
    assert gn.dtype == n.dtype and not gn.any()
    assert gm.dtype == np.bool_ and not gm.any()


def test_errors_name_shape_and_dtype():
    with pytest.raises(TypeError, match=r"scalar output, got shape \(2,\)"):
        run(grad(lambda x: x * 2), np.ones(2))
    with pytest.raises(TypeError, match="float output, got dtype int64"):
        run(grad(lambda x: np.argmax(x)), np.ones(2))
    with pytest.raises(TypeError, match="scalar output"):
        run(grad(lambda x: (x, x)), np.ones(2))


def test_keyword_arguments_are_not_differentiated():
    g = run(lambda x, s: grad(lambda v, scale: np.sum(v * scale))(x, scale=s), W, 2.0)
    assert_close(g, np.full_like(W, 2.0))


def test_closing_over_traced_values():
    """Values of the enclosing trace that the function uses are constants to its derivative."""

    @tensorir.jit
    def f(x, y):
        return grad(lambda w: np.sum(np.sin(w * y)))(x)

    x, y = np.array([0.3, 1.2]), np.array([2.0, -1.0])
    assert_close(f(x, y), y * np.cos(x * y))


def test_derivative_of_a_closure_over_an_outer_derivative():
    # d/dx [d/dy (x * y**2) at y=3] = d/dx (6 x) = 6: no perturbation confusion
    def outer(x):
        return grad(lambda y: x * y**2)(3.0)

    assert np.isclose(grad(outer)(1.7), 6.0)


def test_vjp():
    def f(x, y):
        return {"s": np.sin(x) * y, "t": x.sum()}

    x, y = rng.standard_normal(3), rng.standard_normal(3)
    out, vjp_fn = vjp(f, x, y)
    assert_close(out["s"], np.sin(x) * y)
    ct = {"s": np.array([1.0, -2.0, 0.5]), "t": np.array(3.0)}
    gx, gy = vjp_fn(ct)
    assert_close(gx, ct["s"] * np.cos(x) * y + 3.0)
    assert_close(gy, ct["s"] * np.sin(x))
    with pytest.raises(TypeError, match="structure"):
        run(lambda a, b: vjp(f, a, b)[1]((a, b)), x, y)
    out, vjp_fn, aux = vjp(lambda v: (v * 2, np.sum(v)), x, has_aux=True)
    assert np.isclose(aux, x.sum()) and np.allclose(vjp_fn(np.ones(3))[0], 2.0)


def test_jvp():
    def f(p):
        return np.tanh(p["a"]) * p["b"]

    p = {"a": rng.standard_normal(4), "b": rng.standard_normal(4)}
    t = {"a": rng.standard_normal(4), "b": rng.standard_normal(4)}
    out, tout = jvp(f, (p,), (t,))
    assert_close(out, f(p))
    assert_close(tout, (1 - np.tanh(p["a"]) ** 2) * t["a"] * p["b"] + np.tanh(p["a"]) * t["b"])
    with pytest.raises(TypeError, match="shape"):
        jvp(f, (p,), ({"a": np.ones(3), "b": t["b"]},))
    with pytest.raises(TypeError, match="structure"):
        jvp(f, (p,), (t["a"],))


def test_jacobians():
    def f(x):
        return np.stack([x[0] * x[1], np.sin(x[2]), x.sum()]) ** 2

    x = np.array([0.5, -1.2, 2.0])
    numeric = np.stack([numeric_grad(lambda v, k=k: f(v)[k], x) for k in range(3)])
    assert_close(jacrev(f)(x), numeric)
    assert_close(jacfwd(f)(x), numeric)
    assert tensorir.jacobian is jacrev


def test_jacobian_shapes_and_trees():
    def f(a, b):
        return {"m": a[:, None] * b[None, :]}

    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    for jac in (jacrev, jacfwd):
        j = run(jac(f, argnums=(0, 1)), a, b)
        assert j["m"][0].shape == (2, 3, 2) and j["m"][1].shape == (2, 3, 3)
        assert_close(j["m"][0][:, :, 0], np.stack([b, np.zeros(3)]))
        assert_close(j["m"][1][1, :, :], 2.0 * np.eye(3))


def test_hessian():
    def f(x):
        return np.sum(np.sin(x) * x[::-1]) + np.prod(x) ** 2

    x = np.array([0.3, -0.7, 1.1])
    h = hessian(f)(x)
    numeric = np.stack([numeric_grad(lambda v, k=k: grad(f)(v)[k], x) for k in range(3)])
    assert_close(h, numeric, rtol=1e-5)
    assert_close(h, h.T, rtol=1e-10)
    # reverse over forward agrees
    assert_close(run(jacrev(jacfwd(f)), x), h, rtol=1e-10)


def test_stop_gradient():
    assert stop_gradient({"a": 1.0})["a"] == 1.0  # outside tracing: the value itself
    x = np.array([2.0, -3.0])
    g = grad(lambda v: np.sum(v * stop_gradient(v) + stop_gradient(v) ** 2))(x)
    assert_close(g, x)


@custom_vjp
def clip_gradient(x, lo, hi):
    return x


clip_gradient.defvjp(
    lambda x, lo, hi: (x, (lo, hi)), lambda res, ct: (np.clip(ct, res[0], res[1]), None, None)
)


def test_custom_vjp():
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(clip_gradient(x, -1.0, 1.0), x)  # eager: the function itself
    g = grad(lambda v: np.sum(clip_gradient(v * 3.0, -1.0, 1.0) * np.array([0.5, 2.0, -4.0])))(x)
    assert_close(g, 3.0 * np.array([0.5, 1.0, -1.0]))
    assert_close(tensorir.jit(lambda v: clip_gradient(v, 0.0, 1.0) * 2)(x), 2 * x)


@custom_vjp
def softplus(x):
    return np.log1p(np.exp(x))


def _softplus_fwd(x):
    return softplus(x), (x,)


def _softplus_bwd(res, ct):
    (x,) = res
    return (ct / (1 + np.exp(-x)),)  # sigmoid, finite where exp(x) overflows


softplus.defvjp(lambda x: (np.log1p(np.exp(x)), (x,)), _softplus_bwd)


def test_custom_vjp_stable_rule_and_second_order():
    x = np.array([-800.0, 0.0, 800.0])
    g = grad(lambda v: np.sum(softplus(v)))(x)
    assert np.all(np.isfinite(g))
    assert_close(g, [0.0, 0.5, 1.0])
    # the second derivative differentiates bwd's IR: sigmoid' = s (1 - s)
    h = grad(lambda t: grad(lambda u: np.sum(softplus(u)))(t).sum())(np.array([0.3]))
    s = 1 / (1 + np.exp(-0.3))
    assert_close(h, [s * (1 - s)])


@custom_vjp
def cube(x):
    return x**3


cube.defvjp(lambda x: (x**3, x * x), lambda res, ct: (3 * res * ct,))


def test_custom_vjp_residuals_carry_second_order():
    """Residuals depend on the input; second order flows through them (d/dx 3x^2 = 6x)."""
    assert np.isclose(grad(grad(cube))(2.0), 12.0)


def test_custom_vjp_errors():
    @custom_vjp
    def f(x):
        return x

    with pytest.raises(TypeError, match="defvjp"):
        run(grad(lambda x: np.sum(f(x))), np.ones(2))
    f.defvjp(lambda x: (x, ()), lambda res, ct: (ct, ct))
    with pytest.raises(TypeError, match="one per argument"):
        run(grad(lambda x: np.sum(f(x))), np.ones(2))
    f.defvjp(lambda x: x, lambda res, ct: (ct,))
    with pytest.raises(TypeError, match=r"\(output, residuals\)"):
        run(grad(lambda x: np.sum(f(x))), np.ones(2))
    f.defvjp(lambda x: (x, ()), lambda res, ct: (ct,))
    with pytest.raises(NotImplementedError, match="tir.custom_vjp_call has no jvp rule"):
        run(lambda x: jvp(f, (x,), (x,)), np.ones(2))
