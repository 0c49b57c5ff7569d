"""Pytrees: nested tuples, lists, dicts and None around leaves, flattened to a list and back.

The tree structure (`TreeDef`) is hashable, so it can be part of a compilation cache key.

>>> leaves, tree = flatten({"a": (1, 2), "b": None, "c": [3]})
>>> leaves
[1, 2, 3]
>>> unflatten(tree, [4, 5, 6])
{'a': (4, 5), 'b': None, 'c': [6]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TreeDef:
    """A tree's shape: `kind` is 'leaf', 'none', 'tuple', 'list', 'dict' or a namedtuple type."""

    kind: Any
    children: tuple[TreeDef, ...] = ()
    keys: tuple = ()

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)

    def __str__(self) -> str:
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = [str(c) for c in self.children]
        if self.kind == "dict":
            return (
                "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(self.keys, inner, strict=True)) + "}"
            )
        if self.kind == "list":
            return "[" + ", ".join(inner) + "]"
        name = "" if self.kind == "tuple" else self.kind.__name__
        return f"{name}({', '.join(inner)}{',' if len(inner) == 1 and not name else ''})"


LEAF = TreeDef("leaf")


def flatten(tree) -> tuple[list, TreeDef]:
    """The leaves of `tree` in order, and its structure."""
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def _flatten(x, leaves: list) -> TreeDef:
    if x is None:
        return TreeDef("none")
    if isinstance(x, tuple):
        kind = type(x) if hasattr(x, "_fields") else "tuple"
        return TreeDef(kind, tuple(_flatten(c, leaves) for c in x))
    if isinstance(x, list):
        return TreeDef("list", tuple(_flatten(c, leaves) for c in x))
    if isinstance(x, dict):
        return TreeDef("dict", tuple(_flatten(v, leaves) for v in x.values()), tuple(x))
    leaves.append(x)
    return LEAF


def unflatten(tree: TreeDef, leaves) -> Any:
    """Rebuild a tree of structure `tree` from `leaves`."""
    it = iter(leaves)
    out = _build(tree, it)
    if next(it, _END) is not _END:
        raise ValueError(f"too many leaves for tree {tree}")
    return out


_END = object()


def _build(t: TreeDef, it):
    if t.kind == "leaf":
        leaf = next(it, _END)
        if leaf is _END:
            raise ValueError("too few leaves for the tree")
        return leaf
    if t.kind == "none":
        return None
    children = [_build(c, it) for c in t.children]
    if t.kind == "tuple":
        return tuple(children)
    if t.kind == "list":
        return children
    if t.kind == "dict":
        return dict(zip(t.keys, children, strict=True))
    return t.kind(*children)
