"""Generalize: every tensor op becomes `tir.generic` (loops + indexing maps + scalar body) through
its OpDef's `to_generic`; constants and `tir.empty` stay as they are."""

from __future__ import annotations

from ..ir.builder import Builder
from ..ir.core import Function, Module
from ..ir.opdef import lookup
from .manager import register_pass


def _generalize_function(f: Function) -> None:
    # to_generic may emit tensor ops of its own (a cast after a widened sum): repeat until none
    changed = True
    while changed:
        changed = False
        for op in list(f.body.ops):
            rule = lookup(op.name).to_generic if op.name != "func.return" else None
            if rule is None:
                continue
            new = rule(Builder.before(op), op)
            for old, v in zip(op.results, new, strict=True):
                old.replace_all_uses_with(v)
            op.erase()
            changed = True


@register_pass("generalize")
def generalize(module: Module) -> Module:
    """Rewrite all tensor ops of `module` into `tir.generic` form."""
    for f in module.functions:
        _generalize_function(f)
    return module
