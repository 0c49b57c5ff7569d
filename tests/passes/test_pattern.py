"""The rewrite machinery: `Pat` matching, pattern sets, the greedy driver and the `Rewriter`."""

from __future__ import annotations

import numpy as np
import pytest

from tensorir.ir import types as T
from tensorir.ir.builder import Builder
from tensorir.ir.core import Function
from tensorir.ir.parser import parse_module
from tensorir.passes.pattern import (
    Pat,
    PatternSet,
    RewriteLimitError,
    Rewriter,
    apply_patterns,
    splat_value,
)

F4 = T.TensorType((4,), T.f32)


def build(n_args: int, body) -> Function:
    """A function of `n_args` f32[4] arguments returning what `body(builder, *args)` returns."""
    f = Function("f", [F4] * n_args, [])
    b = Builder.at_end(f.body)
    outs = body(b, *f.args)
    outs = outs if isinstance(outs, list) else [outs]
    b.create("func.return", outs)
    f.set_result_types([v.type for v in outs])
    return f


def names(f: Function) -> list[str]:
    return [op.name for op in f.body.ops]


X, Y = Pat.var("x"), Pat.var("y")


def test_nested_operands_and_captures():
    f = build(2, lambda b, a, c: b.op("tir.mul", b.op("tir.exp", a), c))
    caps = Pat("tir.mul", Pat("tir.exp", X), Y).match(f.body.ops[1])
    assert caps == {"x": f.args[0], "y": f.args[1]}
    assert Pat("tir.mul", X, Pat("tir.exp", Y)).match(f.body.ops[1]) is None
    assert Pat("tir.add", X, Y).match(f.body.ops[1]) is None
    assert Pat(("tir.add", "tir.mul"), X, Y).match(f.body.ops[1]) is not None


def test_commutative_tries_both_orders_only_when_asked():
    f = build(2, lambda b, a, c: b.op("tir.mul", a, b.op("tir.exp", c)))
    mul = f.body.ops[1]
    assert Pat("tir.mul", Pat("tir.exp", X), Y).match(mul) is None
    caps = Pat("tir.mul", Pat("tir.exp", X), Y, commutative=True).match(mul)
    assert caps == {"x": f.args[1], "y": f.args[0]}
    with pytest.raises(ValueError, match="two operand"):
        Pat("tir.neg", X, commutative=True)


def test_a_name_captured_twice_binds_one_value():
    f = build(2, lambda b, a, c: [b.op("tir.sub", a, a), b.op("tir.sub", a, c)])
    same = Pat("tir.sub", X, X)
    assert same.match(f.body.ops[0]) == {"x": f.args[0]}
    assert same.match(f.body.ops[1]) is None


def test_commutative_backtracking_keeps_captures_apart():
    # exp(a) * exp(b) against exp(x) * exp(x)-with-x-bound: the first order fails on the second
    # operand; the second order must not see captures of the failed first attempt
    f = build(2, lambda b, a, c: b.op("tir.mul", b.op("tir.exp", a), b.op("tir.exp", a)))
    pat = Pat("tir.mul", Pat("tir.exp", X), Pat("tir.exp", X), commutative=True)
    assert pat.match(f.body.ops[2]) == {"x": f.args[0]}
    g = build(2, lambda b, a, c: b.op("tir.mul", b.op("tir.exp", a), b.op("tir.exp", c)))
    assert pat.match(g.body.ops[2]) is None


def test_splat_predicates_and_where():
    def body(b, a):
        one = b.constant(1.0, F4)
        minus_zero = b.constant(-0.0, F4)
        dense = b.constant([1.0, 1.0, 1.0, 2.0], F4)
        return [b.op("tir.mul", a, one), b.op("tir.mul", a, minus_zero), b.op("tir.mul", a, dense)]

    f = build(1, body)
    muls = [op for op in f.body.ops if op.name == "tir.mul"]
    by_one = Pat("tir.mul", X, Pat.splat(1))
    assert [by_one.match(m) is not None for m in muls] == [True, False, False]
    # numbers compare by value, so 0 matches -0.0; a predicate tells the signs apart
    assert Pat("tir.mul", X, Pat.splat(0)).match(muls[1]) is not None
    positive_zero = Pat.splat(lambda c: c == 0 and not np.signbit(c))
    assert Pat("tir.mul", X, positive_zero).match(muls[1]) is None
    assert Pat("tir.mul", X, Pat.const("c")).match(muls[2])["c"] is muls[2].operands[1]
    assert [Pat("tir.mul", X, Pat.splat()).match(m) is not None for m in muls] == [
        True,
        True,
        False,
    ]
    assert splat_value(muls[2].operands[1]) is None
    assert Pat("tir.mul", Pat.var("x", where=lambda v: v.type.rank == 4), Y).match(muls[0]) is None


def test_root_without_name_matches_every_op_and_where_sees_the_result():
    f = build(1, lambda b, a: b.op("tir.neg", a))
    assert Pat().match(f.body.ops[0]) == {}
    assert Pat(where=lambda v: v.type == F4).match(f.body.ops[0]) == {}
    assert Pat(where=lambda v: v.type != F4).match(f.body.ops[0]) is None
    assert Pat(where=lambda v: True).match(f.body.ops[-1]) is None  # func.return: no result


def _neg_set() -> PatternSet:
    s = PatternSet("negs")

    @s.pattern(Pat("tir.neg", Pat("tir.neg", X)))
    def canon_neg_neg(b, op, x):
        """-(-x) -> x"""
        return x

    return s


def test_driver_reaches_a_fixed_point_and_erases_dead_ops():
    def body(b, a):
        v = a
        for _ in range(6):
            v = b.op("tir.neg", v)
        b.op("tir.exp", a)  # dead from the start
        return v

    f = build(1, body)
    s = _neg_set()
    counts = apply_patterns(f, s)
    assert counts == {"canon_neg_neg": 3}
    assert names(f) == ["func.return"]
    assert f.return_op.operands[0] is f.args[0]
    apply_patterns(f, s)
    assert s.counts == {"canon_neg_neg": 3}  # accumulated over runs; the second found nothing


def test_patterns_are_indexed_by_root_and_declined_rewrites_leave_no_trace():
    s = PatternSet("s")
    seen = []

    @s.pattern(Pat("tir.exp", X))
    def canon_build_then_decline(b, op, x):
        """exp(x) -> exp(x) (declines after building a dead op, which the driver erases)"""
        seen.append(op.name)
        b.op("tir.neg", x)
        return None

    @s.pattern(Pat())
    def canon_anything(b, op):
        """any op -> itself (declines)"""
        seen.append("any:" + op.name)
        return None

    assert [p.name for p in s.for_op("tir.exp")] == ["canon_build_then_decline", "canon_anything"]
    assert [p.name for p in s.for_op("tir.log")] == ["canon_anything"]
    f = build(1, lambda b, a: b.op("tir.log", b.op("tir.exp", a)))
    assert apply_patterns(f, s) == {}
    assert names(f) == ["tir.exp", "tir.log", "func.return"]
    assert seen.count("tir.exp") == 1 and "any:tir.log" in seen


def test_pattern_without_docstring_is_refused():
    s = PatternSet("s")
    with pytest.raises(ValueError, match="docstring"):

        @s.pattern(Pat("tir.neg", X))
        def canon_undocumented(b, op, x):
            return x


def test_iteration_cap_reports_the_last_rewrites():
    s = PatternSet("ping-pong")

    @s.pattern(Pat("tir.exp", X))
    def canon_exp_to_log(b, op, x):
        """exp(x) -> log(x) (wrong on purpose)"""
        return b.op("tir.log", x)

    @s.pattern(Pat("tir.log", X))
    def canon_log_to_exp(b, op, x):
        """log(x) -> exp(x) (wrong on purpose)"""
        return b.op("tir.exp", x)

    m = parse_module(
        """func.func @f(%arg0: tensor<4xf32>) -> tensor<4xf32> {
          %0 = "tir.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32> loc("model.py":7:2)
          "func.return"(%0) : (tensor<4xf32>) -> ()
        }"""
    )
    with pytest.raises(RewriteLimitError) as err:
        apply_patterns(m, s, max_rewrites=10)
    msg = str(err.value)
    assert "ping-pong: no fixed point after 10 rewrites" in msg
    assert "canon_exp_to_log on tir.exp at model.py:7" in msg
    assert "canon_log_to_exp on tir.log at model.py:7" in msg


def test_rewriter_checks_types_and_records_what_changed():
    f = build(1, lambda b, a: b.op("tir.exp", b.op("tir.neg", a)))
    neg, exp, ret = f.body.ops
    rw = Rewriter()
    wrong = rw.before(neg).constant(1.0, F4.with_dtype(T.f64))
    with pytest.raises(TypeError, match=r"replacing tir.neg \(tensor<4xf32>\)"):
        rw.replace(neg, wrong)
    with pytest.raises(ValueError, match="its own result"):
        rw.replace(neg, neg.result)
    rw.erase(wrong.owner)
    rw.touched.clear()
    new = rw.before(neg).op("tir.abs", f.args[0])
    rw.replace(neg, new)
    assert neg.parent is None and exp.operands[0] is new
    assert list(rw.touched) == [new.owner, exp]
    assert names(f) == ["tir.abs", "tir.exp", "func.return"] and ret.operands[0] is exp.result
