"""The verifier: re-runs every op's type rule and structural checks, and checks SSA dominance.

As in JAX's `check_jaxpr`, the type rule is the one the builder ran; a failure names the op, its
source location and what was wrong.

>>> from tensorir.ir.parser import parse_module
>>> m = parse_module('''func.func @f(%arg0: tensor<2xf32>) -> tensor<2xf32> {
...   %0 = "tir.exp"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>
...   "func.return"(%0) : (tensor<2xf32>) -> ()
... }''')
>>> verify(m)
"""

from __future__ import annotations

from .core import Block, Function, Module, Operation, Value
from .opdef import IRTypeError, lookup


class VerifyError(Exception):
    """The IR is malformed; the message names the op and its source location."""


def _fail(op: Operation, msg: str) -> None:
    where = f" at {op.loc}" if op.loc is not None else ""
    raise VerifyError(f"'{op.name}'{where}: {msg}")


def _verify_block(block: Block, visible: set[Value], func: Function) -> None:
    visible = visible | set(block.args)
    for op in block.ops:
        for v in op.operands:
            if v not in visible:
                _fail(op, "uses a value that does not dominate it")
        if op.name == "func.return":
            if op is not block.ops[-1] or block.parent is not func.regions[0]:
                _fail(op, "must terminate the function body")
            got = tuple(v.type for v in op.operands)
            if got != func.type.results:
                _fail(
                    op, f"returns ({_types(got)}), function declares ({_types(func.type.results)})"
                )
            continue
        try:
            opdef = lookup(op.name)
            want = opdef.infer_types([v.type for v in op.operands], op.attrs)
            if opdef.verify is not None:
                opdef.verify(op)
        except (IRTypeError, KeyError) as e:
            _fail(op, e.args[0])
        got = [r.type for r in op.results]
        if want != got:
            _fail(op, f"result types ({_types(got)}) differ from the inferred ({_types(want)})")
        for r in op.regions:
            for b in r.blocks:
                _verify_block(b, visible, func)
        visible.update(op.results)
    if block.parent is func.regions[0] and (not block.ops or block.ops[-1].name != "func.return"):
        raise VerifyError(f"function @{func.sym_name} does not end in func.return")


def _types(ts) -> str:
    return ", ".join(map(str, ts))


def verify(ir: Module | Function) -> None:
    """Check a module or function; raise VerifyError on the first problem."""
    funcs = ir.functions if isinstance(ir, Module) else [ir]
    for f in funcs:
        if f.type.inputs != tuple(a.type for a in f.args):
            raise VerifyError(f"function @{f.sym_name}: argument types differ from its type")
        _verify_block(f.body, set(), f)
