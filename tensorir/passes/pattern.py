"""Rewrite patterns: the `Rewriter` every IR change goes through, the declarative `Pat` matcher,
pattern sets indexed by root op, and the greedy driver that applies them to a fixed point.

A pattern is a short `Pat` plus a small named callback whose docstring states its algebra. The
callback gets a builder that inserts before the matched op, the op, and the captured values; it
returns the replacement value(s), or None to decline (deciding before it builds anything).

>>> from tensorir.ir.parser import parse_module
>>> NEG = PatternSet("example")
>>> @NEG.pattern(Pat("tir.neg", Pat("tir.neg", Pat.var("x"))))
... def canon_neg_neg(b, op, x):
...     "-(-x) -> x"
...     return x
>>> m = parse_module('''func.func @f(%arg0: tensor<2xf32>) -> tensor<2xf32> {
...   %0 = "tir.neg"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>
...   %1 = "tir.neg"(%0) : (tensor<2xf32>) -> tensor<2xf32>
...   "func.return"(%1) : (tensor<2xf32>) -> ()
... }''')
>>> apply_patterns(m, NEG)
Counter({'canon_neg_neg': 1})
>>> [op.name for op in m.functions[0].body.ops]
['func.return']
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..ir.builder import Builder
from ..ir.core import DenseAttr, Function, Module, Operation, OpResult, Value
from ..ir.opdef import REGISTRY

Replacement = Value | Sequence[Value] | None
Callback = Callable[..., Replacement]


def const_attr(v: Value) -> DenseAttr | None:
    """The value of `v` if a `tir.constant` defines it, else None."""
    if isinstance(v, OpResult) and v.op.name == "tir.constant":
        return v.op.attrs["value"]
    return None


def splat_value(v: Value) -> np.generic | None:
    """The single element of `v` if it is a splat `tir.constant`, else None."""
    a = const_attr(v)
    return a.array[()] if a is not None and a.splat else None


def is_pure(op: Operation) -> bool:
    """Whether `op` has no effect beyond its results (unregistered ops are assumed impure)."""
    # REGISTRY, not `lookup`: this runs for every op a driver visits, and importing `ir` has
    # registered every dialect already
    opdef = REGISTRY.get(op.name)
    return opdef is not None and "pure" in opdef.traits


class Rewriter:
    """Mutates IR and records which ops a change may concern, so a driver can revisit them.

    `touched` collects, in order, the ops created, the users of replaced values and the defining
    ops of erased ops' operands (which may now be dead or newly matchable).
    """

    def __init__(self) -> None:
        self.touched: dict[Operation, None] = {}

    def before(self, op: Operation) -> Builder:
        """A builder inserting before `op`, with its location; the ops it creates are recorded."""
        return _RecordingBuilder(self, op)

    def replace(self, op: Operation, values: Value | Sequence[Value]) -> None:
        """Replace every use of `op`'s results by `values` (one per result), then erase `op`."""
        new = [values] if isinstance(values, Value) else list(values)
        if any(isinstance(v, OpResult) and v.op is op for v in new):
            raise ValueError(f"replacing {op.name} with its own result")
        if [v.type for v in new] != [r.type for r in op.results]:
            got = ", ".join(str(v.type) for v in new)
            want = ", ".join(str(r.type) for r in op.results)
            raise TypeError(f"replacing {op.name} ({want}) with values of type ({got})")
        for old, v in zip(op.results, new, strict=True):
            for user, _ in old.uses:
                self.touch(user)
            old.replace_all_uses_with(v)
            if isinstance(v, OpResult):
                self.touch(v.op)
        self.erase(op)

    def erase(self, op: Operation) -> None:
        """Erase `op`, whose results must be unused."""
        for v in op.operands:
            if isinstance(v, OpResult):
                self.touch(v.op)
        op.erase()

    def touch(self, op: Operation) -> None:
        """Record that `op` may need another look."""
        self.touched[op] = None


class _RecordingBuilder(Builder):
    def __init__(self, rewriter: Rewriter, anchor: Operation):
        super().__init__(anchor.parent, anchor, anchor.loc)
        self._rewriter = rewriter

    def insert(self, op: Operation) -> Operation:
        self._rewriter.touch(op)
        return super().insert(op)


class Pat:
    """Matches a value by its defining op: the op's name (one or several), a pattern per operand
    (tried in both orders when `commutative`), a `where` predicate on the value, and a `name`
    under which the value is captured. A name captured twice must bind the same value, so
    `Pat("tir.sub", x, x)` with `x = Pat.var("x")` matches only `v - v`.

    At the root of a pattern, the op itself is matched and `where` sees its first result.
    """

    __slots__ = ("ops", "operands", "name", "commutative", "where")

    def __init__(
        self,
        op: str | tuple[str, ...] | None = None,
        *operands: Pat,
        name: str | None = None,
        commutative: bool = False,
        where: Callable[[Value], bool] | None = None,
    ):
        if commutative and len(operands) != 2:
            raise ValueError("a commutative pattern takes two operand patterns")
        self.ops = (op,) if isinstance(op, str) else op
        self.operands, self.name = operands, name
        self.commutative, self.where = commutative, where

    @staticmethod
    def var(name: str, where: Callable[[Value], bool] | None = None) -> Pat:
        """Any value, captured as `name`."""
        return Pat(name=name, where=where)

    @staticmethod
    def splat(
        test: Callable[[np.generic], bool] | float | None = None, name: str | None = None
    ) -> Pat:
        """A splat constant: any, or one whose element equals `test` (compared as numbers, so 0
        matches -0.0), or satisfies it when `test` is a predicate."""

        def where(v: Value) -> bool:
            c = splat_value(v)
            if c is None or test is None:
                return c is not None
            return bool(test(c)) if callable(test) else bool(c == test)

        return Pat("tir.constant", name=name, where=where)

    @staticmethod
    def const(name: str | None = None) -> Pat:
        """Any `tir.constant`, splat or not."""
        return Pat("tir.constant", name=name)

    def match(self, op: Operation) -> dict[str, Value] | None:
        """The captures if `op` matches this pattern as its root, else None."""
        if self.where is not None and not (op.results and self.where(op.results[0])):
            return None
        return self._match_op(op, {})

    def match_value(self, v: Value) -> dict[str, Value] | None:
        """The captures if `v` matches this pattern, else None."""
        return self._match_value(v, {})

    def _match_op(self, op: Operation, caps: dict[str, Value]) -> dict[str, Value] | None:
        if self.ops is not None and op.name not in self.ops:
            return None
        if not self.operands:
            return caps
        if len(op.operands) != len(self.operands):
            return None
        orders = [op.operands]
        if self.commutative:
            orders.append(op.operands[::-1])
        for operands in orders:
            got: dict[str, Value] | None = dict(caps)
            for p, v in zip(self.operands, operands, strict=True):
                got = p._match_value(v, got)
                if got is None:
                    break
            if got is not None:
                return got
        return None

    def _match_value(self, v: Value, caps: dict[str, Value]) -> dict[str, Value] | None:
        if self.name is not None and caps.get(self.name, v) is not v:
            return None
        if self.ops is not None:
            if not isinstance(v, OpResult):
                return None
            got = self._match_op(v.op, caps)
            if got is None:
                return None
            caps = got
        if self.where is not None and not self.where(v):
            return None
        if self.name is not None:
            caps = {**caps, self.name: v}
        return caps


@dataclass(frozen=True)
class Pattern:
    """A `Pat` and the callback that rewrites what it matches; named after the callback."""

    pat: Pat
    fn: Callback

    @property
    def name(self) -> str:
        """The callback's name, under which the pattern's rewrites are counted."""
        return self.fn.__name__


class PatternSet:
    """Patterns indexed by their root op's name (a root without a name applies to every op);
    `counts` accumulates how often each pattern rewrote, over every run."""

    def __init__(self, name: str, include: Iterable[PatternSet] = ()):
        self.name = name
        self.patterns: list[Pattern] = [p for s in include for p in s.patterns]
        self.counts: Counter[str] = Counter()
        self._index: dict[str, list[Pattern]] | None = None

    def pattern(self, pat: Pat) -> Callable[[Callback], Callback]:
        """Decorator: add `pat`, rewritten by the callback `fn(builder, op, **captures)`."""

        def wrap(fn: Callback) -> Callback:
            if not (fn.__doc__ or "").strip():
                raise ValueError(f"pattern {fn.__name__} needs a docstring stating its algebra")
            self.patterns.append(Pattern(pat, fn))
            self._index = None
            return fn

        return wrap

    def for_op(self, name: str) -> list[Pattern]:
        """The patterns that may match an op called `name`, in declaration order."""
        if self._index is None:
            self._index = {}
            for p in self.patterns:
                for root in p.pat.ops or ("",):
                    self._index.setdefault(root, []).append(p)
        return self._index.get(name, []) + self._index.get("", [])


class RewriteLimitError(RuntimeError):
    """The patterns kept rewriting past the driver's cap: most likely two of them undo each
    other; the message lists the last rewrites."""


def apply_patterns(
    ir: Module | Function, patterns: PatternSet, max_rewrites: int | None = None
) -> Counter[str]:
    """Rewrite `ir` with `patterns` until none matches, erasing pure ops left unused.

    The worklist starts with every op in program order; after a rewrite the ops it touched
    (see `Rewriter`) are queued again. Returns how often each pattern rewrote. More than
    `max_rewrites` (default: 20 per op, plus 100) raises `RewriteLimitError`.
    """
    funcs = ir.functions if isinstance(ir, Module) else [ir]
    queue = deque(op for f in funcs for op in f.walk() if not isinstance(op, Function))
    queued = set(queue)
    limit = max_rewrites if max_rewrites is not None else 20 * len(queue) + 100
    rw, counts, recent, done = Rewriter(), Counter(), deque(maxlen=8), 0
    while queue:
        op = queue.popleft()
        queued.discard(op)
        if op.parent is None:  # erased since it was queued
            continue
        if op.results and is_pure(op) and not any(r.uses for r in op.results):
            rw.erase(op)
        else:
            for p in patterns.for_op(op.name):
                caps = p.pat.match(op)
                new = None if caps is None else p.fn(rw.before(op), op, **caps)
                if new is None:
                    continue
                recent.append(f"{p.name} on {op.name}" + (f" at {op.loc}" if op.loc else ""))
                rw.replace(op, new)
                counts[p.name] += 1
                done += 1
                if done > limit:
                    last = "\n  ".join(recent)
                    raise RewriteLimitError(
                        f"{patterns.name}: no fixed point after {limit} rewrites; last:\n  {last}"
                    )
                break
        for t in rw.touched:
            if t not in queued:
                queued.add(t)
                queue.append(t)
        rw.touched.clear()
    patterns.counts.update(counts)
    return counts
