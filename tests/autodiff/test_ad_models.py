"""Whole models, compiled: gradients of logistic regression, a 2-layer MLP with softmax
cross-entropy, layernorm and a stencil energy against finite differences of the same numpy code;
second derivatives against finite differences of the first; stable forms at large inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import assert_close, numeric_grad

import tensorir
from tensorir import grad, hessian, stop_gradient

rng = np.random.default_rng(1)


def logsumexp(z, axis=-1):
    m = stop_gradient(np.max(z, axis=axis, keepdims=True))
    return m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))


def logistic_loss(w, b, x, y):
    z = x @ w + b
    # log(1 + exp(-y z)) written to stay finite for any z
    t = -y * z
    return np.mean(np.maximum(t, 0.0) + np.log1p(np.exp(-np.abs(t))))


def mlp_loss(params, x, labels):
    h = np.tanh(x @ params["w1"] + params["b1"])
    logits = h @ params["w2"] + params["b2"]
    logp = logits - logsumexp(logits)
    return -np.mean(np.take_along_axis(logp, labels[:, None], axis=1))


def layernorm(x, gamma, beta, r):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return np.sum(((x - mu) / np.sqrt(var + 1e-5) * gamma + beta) * r)


def stencil_energy(u):
    dx = u[1:, :] - u[:-1, :]
    dy = u[:, 1:] - u[:, :-1]
    return 0.5 * np.sum(dx * dx) + 0.5 * np.sum(dy * dy) + 0.25 * np.sum(u**4)


def _check_all_args(loss, args, argnums, rtol=1e-5):
    grads = tensorir.jit(grad(loss, argnums=argnums))(*args)
    for i, g in zip(argnums, grads, strict=True):
        flat_args = list(args)

        def along(v, i=i, flat_args=flat_args):
            return loss(*flat_args[:i], v, *flat_args[i + 1 :])

        assert_close(g, numeric_grad(along, args[i]), rtol)


def test_logistic_regression():
    x = rng.standard_normal((20, 4))
    y = np.sign(rng.standard_normal(20))
    _check_all_args(logistic_loss, (rng.standard_normal(4), 0.3, x, y), (0, 1, 2))


def test_mlp_softmax_cross_entropy():
    params = {
        "w1": rng.standard_normal((6, 5)) * 0.5,
        "b1": rng.standard_normal(5) * 0.1,
        "w2": rng.standard_normal((5, 3)) * 0.5,
        "b2": rng.standard_normal(3) * 0.1,
    }
    x, labels = rng.standard_normal((4, 6)), np.array([0, 2, 1, 2])
    g = tensorir.jit(grad(mlp_loss))(params, x, labels)
    for k, v in params.items():

        def along(p, k=k):
            return mlp_loss({**params, k: p}, x, labels)

        assert_close(g[k], numeric_grad(along, v))


def test_layernorm():
    x, gamma, beta, r = (rng.standard_normal(s) for s in ((3, 5), (5,), (5,), (3, 5)))
    _check_all_args(layernorm, (x, gamma, beta, r), (0, 1, 2))


def test_stencil_energy_and_its_hessian():
    u = rng.standard_normal((4, 5))
    _check_all_args(stencil_energy, (u,), (0,))
    # the Hessian unrolls one forward pass per input element: keep the grid small
    v = rng.standard_normal((3, 3))
    h = hessian(lambda w: stencil_energy(w.reshape(3, 3)))(v.ravel())
    g = grad(lambda w: stencil_energy(w.reshape(3, 3)))
    numeric = np.stack([numeric_grad(lambda w, k=k: g(w)[k], v.ravel()) for k in range(9)])
    assert_close(h, numeric, rtol=1e-5)


@pytest.mark.parametrize("t", [-2.0, 0.4, 1.5])
def test_second_derivative_against_differences_of_the_first(t):
    def f(v):
        return np.exp(np.sin(v)) * np.sqrt(v * v + 1.0)

    d1, d2 = grad(f), grad(grad(f))
    assert np.isclose(d2(t), (d1(t + 1e-5) - d1(t - 1e-5)) / 2e-5, rtol=1e-6)


def test_stable_forms_have_finite_gradients_at_large_inputs():
    z = np.array([[1000.0, 1001.0, 999.0], [-1000.0, 0.0, 1000.0]])
    g = grad(lambda v: np.sum(logsumexp(v)))(z)
    softmax = np.exp(z - z.max(axis=1, keepdims=True))
    assert_close(g, softmax / softmax.sum(axis=1, keepdims=True))
    labels = np.array([2, 0])
    g = grad(lambda v: -np.mean(np.take_along_axis(v - logsumexp(v), labels[:, None], axis=1)))(z)
    assert np.all(np.isfinite(g))
    # log-sigmoid: log(1 / (1 + exp(-x))) = -(max(-x, 0) + log1p(exp(-|x|)))
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    g = grad(lambda v: -np.sum(np.maximum(-v, 0.0) + np.log1p(np.exp(-np.abs(v)))))(x)
    assert_close(g, 1 / (1 + np.exp(x)))


def test_float32_model_step():
    """A float32 SGD step: the gradient keeps the parameters' dtype."""
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = np.sign(rng.standard_normal(8)).astype(np.float32)
    w = np.zeros(4, np.float32)

    @tensorir.jit
    def step(w, x, y):
        return w - 0.1 * grad(logistic_loss)(w, np.float32(0.0), x, y)

    w1 = step(w, x, y)
    assert w1.dtype == np.float32
    want = w - 0.1 * numeric_grad(lambda v: logistic_loss(v, 0.0, x, y), w)
    assert_close(w1, want, rtol=1e-4)
