"""Named passes and pipelines: `run_pipeline(module, "dce,generalize")`.

A pass is a function Module -> Module registered under a kebab-case name. The pass manager runs a
comma-separated pipeline, verifying and timing each pass, and can keep the text of every stage
(what `as_text(stage)` of a lowered function returns).

>>> from tensorir.ir.parser import parse_module
>>> m = parse_module('''func.func @f(%arg0: tensor<2xf32>) -> tensor<2xf32> {
...   %0 = "tir.exp"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>
...   %1 = "tir.neg"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>
...   "func.return"(%0) : (tensor<2xf32>) -> ()
... }''')
>>> print(run_pipeline(m, "dce").functions[0].body.ops[0].name)
tir.exp
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..ir.core import Module
from ..ir.verifier import verify

PASSES: dict[str, Callable[[Module], Module]] = {}


def register_pass(name: str):
    """Register `fn(module) -> module` as pass `name`."""

    def wrap(fn):
        if name in PASSES:
            raise ValueError(f"pass {name} registered twice")
        PASSES[name] = fn
        return fn

    return wrap


def parse_pipeline(pipeline: str) -> list[str]:
    """Pass names of a comma-separated pipeline, checked against the registry."""
    _load_passes()
    names = [p.strip() for p in pipeline.split(",") if p.strip()]
    for name in names:
        if name not in PASSES:
            raise KeyError(f"unknown pass '{name}' (known: {', '.join(sorted(PASSES))})")
    return names


def stage_names(pipeline: str) -> list[str]:
    """The name of the IR after each pass; a pass run again is `name.2`, `name.3`, ..."""
    seen: dict[str, int] = {}
    out = []
    for name in parse_pipeline(pipeline):
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}.{seen[name]}")
    return out


@dataclass
class PassManager:
    """Runs a pipeline, timing each pass; verifies after each (cheap: under a millisecond for
    typical functions) unless told not to, and keeps the text after each when `keep_text`."""

    pipeline: str
    verify_each: bool = True
    keep_text: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    stages: dict[str, str] = field(default_factory=dict)

    def run(self, module: Module) -> Module:
        for name, stage in zip(
            parse_pipeline(self.pipeline), stage_names(self.pipeline), strict=True
        ):
            t0 = time.perf_counter()
            module = PASSES[name](module)
            self.timings[stage] = time.perf_counter() - t0
            if self.verify_each:
                try:
                    verify(module)
                except Exception as e:
                    raise type(e)(f"after pass '{stage}': {e}") from e
            if self.keep_text:
                self.stages[stage] = str(module)
        return module


def run_pipeline(module: Module, pipeline: str, verify_each: bool = True) -> Module:
    """Run the comma-separated pass names in `pipeline` on `module`."""
    return PassManager(pipeline, verify_each).run(module)


def _load_passes() -> None:
    from . import (  # noqa: F401  (registering imports)
        autodiff,
        canonicalize,
        cse,
        dce,
        fold,
        fusion,
        generalize,
        stabilize,
    )
