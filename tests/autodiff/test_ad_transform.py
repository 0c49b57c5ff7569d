"""The transforms as IR in, IR out: what the derivative program contains and what it does not.

The gradient is plain IR: it verifies, prints and parses back, carries the user's lines, computes
each forward value once, materializes no zeros it does not return, and fuses like any program.
"""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import run

import tensorir
from tensorir import custom_vjp, grad, value_and_grad
from tensorir.frontend import trace
from tensorir.interpreter import interpret
from tensorir.ir import verify
from tensorir.ir.core import Module
from tensorir.ir.parser import parse_module
from tensorir.passes.autodiff import forward, reverse
from tensorir.passes.manager import run_pipeline

X = np.linspace(-1.0, 1.0, 8)


def chain(x):
    return np.sum(np.exp(np.sin(x)) * np.tanh(x))


def _ops(fn, *args) -> list[str]:
    f = trace(fn, args).function
    verify(f)
    run_pipeline(Module([f]), "dce")
    return [op.name for op in f.body.ops]


def test_each_forward_value_is_computed_once():
    names = _ops(grad(chain), X)
    assert names.count("tir.sin") == names.count("tir.exp") == names.count("tir.tanh") == 1
    assert names.count("tir.cos") == 1


def test_grad_computes_no_value_it_does_not_return():
    assert "tir.reduce_sum" not in _ops(grad(chain), X)
    assert "tir.reduce_sum" in _ops(value_and_grad(chain), X)


def test_symbolic_zeros():
    """Nothing is computed for what does not depend on the differentiated argument, and no
    zero tensor is built."""

    def f(x, y, n):
        return np.sum(x * y) + np.sum(np.exp(y) * n)

    names = _ops(grad(f), X, X + 1, np.arange(8))
    # the only constant is the seed, 1.0; y's and n's terms leave nothing behind
    assert names.count("tir.exp") == 0 and names.count("tir.constant") == 1


def test_gradient_of_an_elementwise_chain_fuses():
    lowered = tensorir.jit(grad(chain)).lower(X)
    assert lowered.as_text("traced").count('"tir.') > 10
    assert lowered.as_text("generic").count('"tir.generic"') <= 3
    assert np.allclose(tensorir.jit(grad(chain))(X), run(grad(chain), X))


def test_derivative_ops_carry_the_users_line():
    f = trace(grad(chain), (X,)).function
    lines = {op.loc.line for op in f.body.ops if op.name in ("tir.cos", "tir.mul")}
    assert lines == {chain.__code__.co_firstlineno + 1}


SOURCE = """func.func @f(%x: tensor<3xf64>, %y: tensor<3xf64>) -> tensor<f64> {
  %0 = "tir.mul"(%x, %y) : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  %1 = "tir.sin"(%0) : (tensor<3xf64>) -> tensor<3xf64>
  %2 = "tir.reduce_sum"(%1) {axes = [0]} : (tensor<3xf64>) -> tensor<f64>
  "func.return"(%2) : (tensor<f64>) -> ()
}"""


def test_autodiff_pass_on_text():
    module = run_pipeline(parse_module(SOURCE), "autodiff")
    assert [f.sym_name for f in module.functions] == ["f", "f_vjp", "f_jvp"]
    text = str(module)
    assert str(parse_module(text)) == text
    x, y = np.array([0.1, 0.2, 0.3]), np.array([1.0, -2.0, 0.5])
    _, gx, gy = interpret(module.get("f_vjp"), [x, y, np.array(2.0)])
    assert np.allclose(gx, 2 * y * np.cos(x * y)) and np.allclose(gy, 2 * x * np.cos(x * y))
    _, t = interpret(module.get("f_jvp"), [x, y, np.ones(3), np.zeros(3)])
    assert np.isclose(t, np.sum(y * np.cos(x * y)))


def test_reverse_of_reverse_is_second_order():
    f = parse_module(SOURCE).functions[0]
    g = reverse(f, wrt=[0], values=False)  # (x, y, ct) -> d/dx
    h = forward(g, wrt=[0])  # directional derivative of the gradient: a Hessian-vector product
    verify(h)
    x, y, v = np.array([0.1, 0.2, 0.3]), np.array([1.0, -2.0, 0.5]), np.array([1.0, 0.0, 2.0])
    _, hv = interpret(h, [x, y, np.array(1.0), v])
    assert np.allclose(hv, -(y**2) * np.sin(x * y) * v)


def test_missing_rule_is_reported_with_the_op_and_line():
    f = trace(lambda x: np.sin(x) * 2.0, (X,)).function
    g = run_pipeline(Module([f]), "generalize").functions[0]
    with pytest.raises(NotImplementedError, match=r"tir.generic has no vjp rule.*test_ad_"):
        reverse(g)


@custom_vjp
def _twice(x):
    return 2 * x


_twice.defvjp(lambda x: (2 * x, ()), lambda res, ct: (2 * ct,))


def test_custom_vjp_call_is_ir():
    f = trace(lambda x: _twice(x) + 1.0, (X,)).function
    text = str(Module([f]))
    assert '"tir.custom_vjp_call"' in text and str(parse_module(text)) == text
    (out,) = interpret(f, [X])
    assert np.allclose(out, 2 * X + 1)
