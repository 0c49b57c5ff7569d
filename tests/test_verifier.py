"""The verifier accepts well-formed IR and names the op, the location and the problem otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.ir import Builder, Function, VerifyError, verify
from tensorir.ir import types as T
from tensorir.ir.opdef import REGISTRY, IRTypeError, missing
from tensorir.ir.parser import parse_module
from tensorir.passes import run_pipeline

GOOD = """func.func @f(%arg0: tensor<4x8xf32>, %arg1: tensor<8xf32>) -> tensor<4xf32> {
  %0 = "tir.broadcast"(%arg1) {shape = [4, 8], dims = [1]} : (tensor<8xf32>) -> tensor<4x8xf32>
  %1 = "tir.add"(%arg0, %0) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32> loc("m.py":3:4)
  %2 = "tir.reduce_sum"(%1) {axes = [1]} : (tensor<4x8xf32>) -> tensor<4xf32>
  "func.return"(%2) : (tensor<4xf32>) -> ()
}"""


def test_well_formed_module_verifies_before_and_after_generalize():
    m = parse_module(GOOD)
    verify(m)
    verify(run_pipeline(m, "generalize,dce"))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"tir.add"', '"tir.nope"', "unknown op 'tir.nope'"),
        ("{axes = [1]}", "{axes = [2]}", "axes"),
        ("{axes = [1]}", "{axis = [1]}", "missing attribute 'axes'"),
        ("dims = [1]", "dims = [0]", "cannot broadcast"),
        ('"func.return"(%2) : (tensor<4xf32>)', '"func.return"(%1) : (tensor<4x8xf32>)', "returns"),
    ],
)
def test_malformed_ir_is_rejected(old, new, message):
    assert old in GOOD
    m = parse_module(GOOD.replace(old, new))
    with pytest.raises(VerifyError, match=message):
        verify(m)


def test_wrong_result_type_names_op_and_location():
    m = parse_module(
        """func.func @f(%arg0: tensor<2xf32>) -> tensor<3xf32> {
  %0 = "tir.exp"(%arg0) : (tensor<2xf32>) -> tensor<3xf32> loc("m.py":3:4)
  "func.return"(%0) : (tensor<3xf32>) -> ()
}"""
    )
    with pytest.raises(VerifyError, match=r"'tir.exp' at m.py:3: result types \(tensor<3xf32>\)"):
        verify(m)


def test_use_before_definition_is_rejected():
    t = T.TensorType((2,), T.f32)
    f = Function("f", [t], [t])
    b = Builder.at_end(f.body)
    x = b.op("tir.exp", f.args[0])
    y = b.op("tir.neg", x)
    b.create("func.return", [y])
    f.body.ops.reverse()  # neg before exp, return first: broken on purpose
    f.body.ops.append(f.body.ops.pop(0))
    with pytest.raises(VerifyError, match="dominate"):
        verify(f)


def test_builder_rejects_ill_typed_ops():
    f = Function("f", [T.TensorType((2,), T.f32), T.TensorType((3,), T.f32)], [])
    b = Builder.at_end(f.body)
    with pytest.raises(IRTypeError, match="one type"):
        b.op("tir.add", *f.args)
    with pytest.raises(IRTypeError, match="float operands"):
        b.op("tir.exp", b.op("tir.cast", f.args[0], dtype=T.int32))


def test_generic_structure_is_checked():
    m = parse_module(GOOD)
    g = run_pipeline(m, "generalize").functions[0]
    generic = next(op for op in g.body.ops if op.name == "tir.generic")
    generic.attrs["iterator_types"] = ("parallel",)
    with pytest.raises(VerifyError, match="indexing map"):
        verify(g)


def test_every_op_declares_reference_semantics_or_lowering():
    # scalar ops are lowered by the backend table; tensor ops need eval and a generic form
    from tensorir.lower_llvm.scalar import EMIT

    tensor_ops = [n for n in REGISTRY if n.startswith("tir.")]
    no_eval = [n for n in missing("eval") if n.startswith("tir.")]
    assert set(no_eval) <= {"tir.empty", "tir.generic"}
    structural = {"tir.constant", "tir.empty", "tir.generic"}
    assert set(missing("to_generic")) & set(tensor_ops) <= structural
    scalar = [n for n in REGISTRY if n.startswith("s.") and n != "s.yield"]
    assert not [n for n in scalar if n not in EMIT]


def test_dense_constants_keep_bits():
    t = T.TensorType((3,), T.f32)
    f = Function("f", [], [t])
    b = Builder.at_end(f.body)
    b.create("func.return", [b.constant(np.array([-0.0, np.nan, np.inf], np.float32), t)])
    text = parse_module(f"module {{\n{__import__('tensorir').ir.print_function(f)}\n}}")
    verify(text)
