"""Dead code elimination: pure ops whose results are unused are removed."""

from __future__ import annotations

from ..ir.core import Module
from ..ir.opdef import lookup
from .manager import register_pass


@register_pass("dce")
def dce(module: Module) -> Module:
    """Erase unused pure ops, last to first, so chains of dead ops go in one sweep."""
    for f in module.functions:
        for op in reversed(list(f.body.ops)):
            if op.name == "func.return" or any(r.uses for r in op.results):
                continue
            if "pure" in lookup(op.name).traits:
                op.erase()
    return module
