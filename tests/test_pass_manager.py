"""Pass infrastructure: named pipelines, every stage printable, dumps, timings, verification."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tensorir
from tensorir.ir import VerifyError
from tensorir.ir.parser import parse_module
from tensorir.passes.manager import PASSES, PassManager, register_pass, stage_names


def f(x, y):
    return np.exp(x) * y + 1.0


X = np.ones((4, 3), np.float32)


def test_every_stage_prints_and_parses_back():
    lowered = tensorir.jit(f).lower(X, X)
    for stage in lowered.stages():
        text = lowered.as_text(stage)
        assert text
        if stage not in ("llvm-unoptimized", "llvm", "asm"):
            assert str(parse_module(text)) == text  # every IR stage round-trips
    assert lowered.as_text("generalize") != lowered.as_text("traced")
    assert '"tir.generic"' in lowered.as_text("fuse")
    with pytest.raises(ValueError, match="unknown stage"):
        lowered.as_text("nope")


def test_repeated_passes_get_numbered_stages():
    assert stage_names("dce,generalize,dce") == ["dce", "generalize", "dce.2"]
    with pytest.raises(KeyError, match="unknown pass 'nope'"):
        stage_names("dce,nope")


def test_custom_pipeline_changes_the_code():
    unfused = tensorir.jit(f, pipeline="generalize,dce")
    fused = tensorir.jit(f)
    np.testing.assert_allclose(unfused(X, X), fused(X, X), rtol=1e-6)
    count = lambda j: j.lower(X, X).as_text("generic").count('"tir.generic"')  # noqa: E731
    assert count(fused) == 1 < count(unfused)


def test_timings_cover_each_pass_and_llvm():
    timings = tensorir.jit(f).lower(X, X).timings
    assert {"generalize", "fuse", "dce", "llvm"} <= set(timings)
    assert all(t >= 0 for t in timings.values())


def test_verification_after_each_pass_names_the_pass():
    @register_pass("test-break-types")
    def breaks(module):
        op = module.functions[0].body.ops[0]
        op.results[0].type = op.results[0].type.with_dtype(tensorir.ir.types.f64)
        return module

    try:
        m = parse_module(tensorir.jit(f).lower(X, X).as_text())
        with pytest.raises(VerifyError, match="after pass 'test-break-types'"):
            PassManager("test-break-types").run(m)
    finally:
        del PASSES["test-break-types"]


def test_dump_writes_every_stage(tmp_path):
    script = textwrap.dedent(
        """
        import numpy as np, tensorir
        tensorir.jit(lambda x: np.sin(x) + 1)(np.zeros(3))
        """
    )
    env = {"TENSORIR_DUMP": str(tmp_path), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env)
    (d,) = tmp_path.iterdir()
    names = sorted(p.name for p in d.iterdir())
    assert names[0] == "00-traced.mlir" and names[-1].endswith("asm.s")
    assert any(n.endswith("-fuse.mlir") for n in names)
    assert any(n.endswith("-llvm.ll") for n in names)
