"""The verifier accepts well-formed IR and names the op, the location and the problem otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.ir import Builder, Function, VerifyError, verify
from tensorir.ir import types as T
from tensorir.ir.opdef import REGISTRY, IRTypeError, missing
from tensorir.ir.parser import parse_module
from tensorir.passes import run_pipeline
from tensorir.passes.manager import PASSES, PassManager, register_pass

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


# -- IR read from text: errors give the file, line and column of the op ---------------------

NO_LOC = """module {
  func.func @f(%arg0: tensor<2xf32>) -> tensor<3xf32> {
    %0 = "tir.exp"(%arg0) : (tensor<2xf32>) -> tensor<3xf32>
    "func.return"(%0) : (tensor<3xf32>) -> ()
  }
}"""


def verify_error(text: str) -> VerifyError:
    with pytest.raises(VerifyError) as info:
        verify(parse_module(text, "m.mlir"))
    return info.value


def test_parsed_op_without_loc_gives_file_line_and_column():
    e = verify_error(NO_LOC)
    reason = "'tir.exp': result types (tensor<3xf32>) differ from the inferred (tensor<2xf32>)"
    assert (e.reason, str(e)) == (reason, f"m.mlir:3:5: {reason}")
    assert (e.at.filename, e.at.line, e.at.col) == ("m.mlir", 3, 5)
    assert e.at.excerpt() == '    %0 = "tir.exp"(%arg0) : (tensor<2xf32>) -> tensor<3xf32>\n    ^'


def test_parsed_op_with_loc_gives_both_positions():
    text = NO_LOC.replace("tensor<3xf32>\n", 'tensor<3xf32> loc("m.py":7:3)\n', 1)
    assert str(verify_error(text)).startswith("m.mlir:3:5: 'tir.exp' at m.py:7: result types")


def test_op_in_a_region_is_found():
    m = run_pipeline(parse_module(NO_LOC.replace("3xf32", "2xf32")), "generalize")
    text = str(m).replace('"s.exp"', '"s.nope"')
    e = verify_error(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if '"s.nope"' in s)
    assert (e.at.line, e.at.col) == (line, 7) and e.reason == "'s.nope': unknown op 's.nope'"
    assert e.at.source_line.strip().startswith('%2 = "s.nope"')


def test_function_errors_point_at_func_func():
    lines = NO_LOC.replace("3xf32", "2xf32").splitlines(keepends=True)
    e = verify_error("".join(line for line in lines if "func.return" not in line))
    assert (str(e.at), e.reason) == ("m.mlir:2:3", "function @f does not end in func.return")


def test_ir_built_in_memory_has_no_text_position():
    t = T.TensorType((2,), T.f32)
    f = Function("f", [t], [T.TensorType((3,), T.f32)])
    b = Builder.at_end(f.body)
    b.create("func.return", [b.op("tir.exp", f.args[0])])
    with pytest.raises(VerifyError) as info:
        verify(f)
    assert info.value.at is None and str(info.value) == info.value.reason
    assert str(info.value).startswith("'func.return': returns (tensor<2xf32>)")


def test_error_after_a_pass_keeps_the_position():
    @register_pass("test-retype-exp")
    def retype(module):
        op = module.functions[0].body.ops[0]
        op.results[0].type = op.results[0].type.with_dtype(T.f64)
        return module

    try:
        with pytest.raises(VerifyError, match=r"^after pass 'test-retype-exp': m\.mlir:3:5: 'tir"):
            PassManager("test-retype-exp").run(
                parse_module(NO_LOC.replace("3xf32", "2xf32"), "m.mlir")
            )
    finally:
        del PASSES["test-retype-exp"]
