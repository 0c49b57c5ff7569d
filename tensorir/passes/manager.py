"""Named passes and pipelines: `run_pipeline(module, "dce,generalize")`.

A pass is a function Module -> Module registered under a kebab-case name. The pass manager runs a
comma-separated pipeline, verifying after each pass when asked, timing each, and can keep the
text of every stage (the `as_text(stage)` of a lowered function).

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


@dataclass
class PassManager:
    """Runs a pipeline; `stages` keeps the IR text after each pass when `keep_text` is set."""

    pipeline: str
    verify_each: bool = False
    keep_text: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    stages: dict[str, str] = field(default_factory=dict)

    def run(self, module: Module) -> Module:
        _load_passes()
        for name in [p.strip() for p in self.pipeline.split(",") if p.strip()]:
            if name not in PASSES:
                raise KeyError(f"unknown pass '{name}' (known: {', '.join(sorted(PASSES))})")
            t0 = time.perf_counter()
            module = PASSES[name](module)
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
            if self.verify_each:
                verify(module)
            if self.keep_text:
                self.stages[name] = str(module)
        return module


def run_pipeline(module: Module, pipeline: str, verify_each: bool = False) -> Module:
    """Run the comma-separated pass names in `pipeline` on `module`."""
    return PassManager(pipeline, verify_each).run(module)


def _load_passes() -> None:
    from . import dce, fusion, generalize  # noqa: F401  (registering imports)
