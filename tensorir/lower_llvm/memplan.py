"""Memory plan: which buffer every tensor value of a generalized function lives in.

Destination passing: a generic writes its result into the buffer of its init operand when that
init has no other use (the `tir.empty` or fill it was built on), so no op copies its destination.
Values sharing a buffer form a class; a class holding a returned value is the caller's output
array. The other classes get offsets in one workspace, reused once a class is dead (first fit
over live intervals). The compiled function keeps its workspace between calls (see codegen), so
large intermediates cost no page faults after the first call; alias-scope metadata tells LLVM
which classes never share bytes, since it cannot see that from offsets into one allocation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.core import BlockArgument, Function, Operation, Value

ALIGN = 64


@dataclass
class MemoryPlan:
    """`cls[v]`: class id of value v; `output[c]`: the output array class c is; for an
    intermediate class, `live[c]` is its (first, last) top-level op position, `nbytes[c]` its
    size and `offset[c]` its place in the workspace."""

    cls: dict[Value, int] = field(default_factory=dict)
    output: dict[int, int] = field(default_factory=dict)
    live: dict[int, tuple[int, int]] = field(default_factory=dict)
    nbytes: dict[int, int] = field(default_factory=dict)
    offset: dict[int, int] = field(default_factory=dict)
    copies: list[tuple[Value, int]] = field(default_factory=list)  # (value, output index)
    arena_bytes: int = 0
    peak_bytes: int = 0

    def values_of(self, c: int) -> list[Value]:
        """The values that live in class c's buffer."""
        return [v for v, d in self.cls.items() if d == c]

    def written_values(self, c: int) -> list[Value]:
        """The values loops write into class c's buffer: all but the `tir.empty` it was built
        on, which only names the buffer."""
        return [v for v in self.values_of(c) if v.op.name != "tir.empty"]

    def overlaps(self, c: int, d: int) -> bool:
        """Whether intermediate classes c and d ever use the same bytes."""
        a0, b0 = self.offset[c], self.offset[d]
        return a0 < b0 + self.nbytes[d] and b0 < a0 + self.nbytes[c]


def _nbytes(v: Value) -> int:
    t = v.type
    return max(t.size * t.dtype.itemsize, 1)


def plan(f: Function, together: list[list[Operation]] = ()) -> MemoryPlan:
    """Assign buffers to the tensor values of `f` (after generalize). Each list of generics in
    `together` runs interleaved (a row group: `rows.py`), so whatever one of them touches stays
    live from the first to the last."""
    p = MemoryPlan()
    ops = f.body.ops
    members: dict[int, list[Value]] = {}

    def new_class(v):
        p.cls[v] = len(members)
        members[p.cls[v]] = [v]

    for op in ops:
        if op.name == "tir.generic":
            n_in = op.attrs["num_inputs"]
            for k, r in enumerate(op.results):
                init = op.operands[n_in + k]
                owned = init in p.cls and not isinstance(init, BlockArgument)
                same = init.type == r.type  # an epilogue may change the dtype
                if owned and same and init.uses == [(op, n_in + k)]:
                    p.cls[r] = p.cls[init]
                    members[p.cls[r]].append(r)
                else:
                    new_class(r)
        elif op.name in ("tir.empty",):
            new_class(op.result)

    # a returned value's class is the caller's output array, unless it is taken already
    ret = f.return_op
    for k, v in enumerate(ret.operands):
        c = p.cls.get(v)
        if c is None or c in p.output:
            p.copies.append((v, k))
        else:
            p.output[c] = k

    # live interval of each class, in top-level op positions (uses inside bodies count)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    position = {op: pos for pos, op in enumerate(ops)}
    span = {op: (pos, pos) for pos, op in enumerate(ops)}
    for group in together:
        whole = (position[group[0]], position[group[-1]])
        span.update({op: whole for op in group})
    for op in ops:
        start, end = span[op]
        for inner in op.walk():
            for v in inner.operands + inner.results:
                c = p.cls.get(v)
                if c is not None:
                    first[c] = min(first.get(c, start), start)
                    last[c] = max(last.get(c, end), end)
    placed: list[tuple[int, int, int]] = []  # (offset, end, last use) of live classes
    for c in sorted(first, key=lambda c: first[c]):
        if c in p.output:
            continue
        p.live[c] = (first[c], last[c])
        p.nbytes[c] = _nbytes(members[c][0])
        size = -(-p.nbytes[c] // ALIGN) * ALIGN
        placed = [x for x in placed if x[2] >= first[c]]
        offset = 0
        for start, end, _ in sorted(placed):
            if start - offset >= size:
                break
            offset = max(offset, end)
        p.offset[c] = offset
        placed.append((offset, offset + size, last[c]))
        p.arena_bytes = max(p.arena_bytes, offset + size)
        p.peak_bytes = max(p.peak_bytes, sum(x[1] - x[0] for x in placed))
    return p
