"""The verifier: re-runs every op's type rule and structural checks, and checks SSA dominance.

As in JAX's `check_jaxpr`, the type rule is the one the builder ran; a failure names the op, its
source location and what was wrong, and for IR read from text, where in the text the op is.

>>> from tensorir.ir.parser import parse_module
>>> m = parse_module('''func.func @f(%arg0: tensor<2xf32>) -> tensor<2xf32> {
...   %0 = "tir.exp"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>
...   "func.return"(%0) : (tensor<2xf32>) -> ()
... }''')
>>> verify(m)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .core import Block, Function, Module, Operation, Value
from .opdef import IRTypeError, lookup

if TYPE_CHECKING:
    from .parser import TextPosition


class VerifyError(Exception):
    """The IR is malformed: `reason` names the op, its `loc` and what is wrong; `at` is where
    the op was read when the IR was parsed from text (else None), and then leads the message.

    >>> from tensorir.ir.parser import parse_module
    >>> m = parse_module('''func.func @f(%arg0: tensor<2xf32>) -> tensor<3xf32> {
    ...   %0 = "tir.exp"(%arg0) : (tensor<2xf32>) -> tensor<3xf32>
    ...   "func.return"(%0) : (tensor<3xf32>) -> ()
    ... }''', "m.mlir")
    >>> try:
    ...     verify(m)
    ... except VerifyError as e:
    ...     print(e)
    ...     print(e.at.excerpt())
    m.mlir:2:3: 'tir.exp': result types (tensor<3xf32>) differ from the inferred (tensor<2xf32>)
      %0 = "tir.exp"(%arg0) : (tensor<2xf32>) -> tensor<3xf32>
      ^
    """

    def __init__(self, reason: str, at: TextPosition | None = None):
        super().__init__(reason if at is None else f"{at}: {reason}")
        self.reason, self.at = reason, at


def _fail(op: Operation, msg: str) -> None:
    where = f" at {op.loc}" if op.loc is not None else ""
    raise VerifyError(f"'{op.name}'{where}: {msg}", op.parsed_at)


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
        raise VerifyError(f"function @{func.sym_name} does not end in func.return", func.parsed_at)


def _types(ts) -> str:
    return ", ".join(map(str, ts))


def verify(ir: Module | Function) -> None:
    """Check a module or function; raise VerifyError on the first problem."""
    funcs = ir.functions if isinstance(ir, Module) else [ir]
    for f in funcs:
        if f.type.inputs != tuple(a.type for a in f.args):
            raise VerifyError(
                f"function @{f.sym_name}: argument types differ from its type", f.parsed_at
            )
        _verify_block(f.body, set(), f)
