"""Donated inputs: which results may be written straight into an input array the caller gives up.

An SGD update `w - lr * g` need not allocate a new `w`: if the caller donates `w`, the result can
overwrite it in place, sparing the fresh pages of a new array on every step. That is safe when
the one loop writing the result reads the input only at the element it writes (the same map,
a permutation of all its dims, so every element is read before it is overwritten and by the same
iteration), nothing after that loop reads the input, and the loop is not interleaved with others
(a row group). `donations` finds, for each result, such an input among the donated ones.

>>> import numpy as np
>>> from tensorir.frontend.trace import trace
>>> from tensorir.lower_llvm.engine import compile_function
>>> w, g = np.ones(4), np.ones(4)
>>> exe = compile_function(trace(lambda w, g: w - 0.1 * g, (w, g)).function, [True, True])
>>> donations(exe.generic_function, exe.lowered.plan, {0, 1}, [True, True])
{0: 0}
"""

from __future__ import annotations

from ..ir.core import BlockArgument, Function
from ..ir.ops_tensor import is_pointwise
from .memplan import MemoryPlan
from .rows import row_groups


def donations(
    g: Function, p: MemoryPlan, donated: set[int], contiguous: list[bool]
) -> dict[int, int]:
    """{result index: input index} for results that can overwrite a donated input of generalized
    function `g` (memory plan `p`); `contiguous[i]` says input i is C-contiguous."""
    ops = list(g.body.ops)
    position = {op: n for n, op in enumerate(ops)}
    grouped = {op for members, _ in row_groups(ops) for op in members}
    out: dict[int, int] = {}
    for c, k in p.output.items():
        written = p.written_values(c)
        if len(written) != 1 or written[0].op.name != "tir.generic":
            continue  # written by several loops in turn, or not by a loop
        v = written[0]
        writer = v.op
        if writer in grouped or "reduction" in writer.attrs["iterator_types"]:
            continue
        n_in = writer.attrs["num_inputs"]
        write_map = writer.attrs["indexing_maps"][n_in + v.index]
        if not is_pointwise(write_map):
            continue
        for j in sorted(donated - set(out.values())):
            arg = g.args[j]
            if arg.type != v.type or not contiguous[j] or _returned(g, arg):
                continue
            if _reads_only_before_or_in_place(g, arg, writer, position, write_map):
                out[k] = j
                break
    return out


def _returned(g: Function, arg: BlockArgument) -> bool:
    return any(u is g.return_op for u, _ in arg.uses)


def _reads_only_before_or_in_place(g: Function, arg, writer, position, write_map) -> bool:
    """Whether every read of `arg` is by a loop before `writer`, or by `writer` itself through
    its operands at exactly the element it writes."""
    maps = writer.attrs["indexing_maps"]
    n_in = writer.attrs["num_inputs"]
    for user, index in arg.uses:
        top = user
        while top.parent is not g.body:  # a read inside a loop body (s.extract) is the loop's
            top = top.parent.parent.parent
        if top is writer:
            if user is not writer or index >= n_in or maps[index] != write_map:
                return False
        elif top not in position or position[top] > position[writer]:
            return False
    return True
