"""PTX for every test program assembles with ptxas for sm_80 and sm_90 (where ptxas exists), one
kernel per generic, self-contained (libdevice linked), and cupy is never needed to compile."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib.util import find_spec

import numpy as np
import pytest
from gpu_programs import PROGRAMS, Program, layernorm, softmax

from tensorir.frontend.trace import trace
from tensorir.ir import Builder
from tensorir.ir import types as T
from tensorir.ir.core import Function
from tensorir.lower_ptx import compile_ptx, launch_config, libdevice_path

PTXAS = shutil.which("ptxas")
ARCHS = ["sm_80", "sm_90"]


def assemble(ptx: str, arch: str, tmp_path) -> None:
    """Run ptxas on `ptx`; fail the test with its messages if it rejects it."""
    src = tmp_path / "kernels.ptx"
    src.write_text(ptx)
    r = subprocess.run(
        [PTXAS, f"-arch={arch}", str(src), "-o", str(tmp_path / "kernels.cubin")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(PTXAS is None, reason="ptxas is not on PATH")
@pytest.mark.skipif(libdevice_path() is None, reason="no CUDA libdevice for exp/log/tanh")
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("p", PROGRAMS, ids=lambda p: p.name)
def test_ptxas_accepts(p: Program, arch: str, tmp_path) -> None:
    program = compile_ptx(trace(p.fn, p.args).function, arch=arch)
    assert f".target {arch}" in program.ptx
    assert program.ptx.count(".entry") == len(program.kernels)
    assert ".extern" not in program.ptx  # every libdevice function was linked in
    assemble(program.ptx, arch, tmp_path)


def test_kernel_mapping() -> None:
    """Fused softmax is ONE row kernel: a block per row computes the row max, the row sum and
    the normalization, combining its threads' partials with warp shuffles and barriers; a lone
    row sum takes a warp per row."""
    x = np.ones((33, 129), np.float32)
    program = compile_ptx(trace(softmax, (x,)).function)
    assert [(k.points, k.lanes, k.block) for k in program.kernels] == [(33, 160, 160)]
    assert program.launches() == [(program.kernels[0].name, (33, 160))]
    assert "shfl.sync.bfly.b32" in program.ptx and "bar.sync" in program.ptx
    assert "llvm.nvvm" not in program.ptx and "%tid.x" in program.ptx
    rows = compile_ptx(trace(lambda a: a.sum(axis=1) * 2.0, (x,)).function)
    assert [(k.points, k.lanes) for k in rows.kernels] == [(33, 32)]
    assert launch_config(33 * 32) == rows.launches()[0][1]


def test_long_column_sums_share_each_column() -> None:
    """A sum over axis 0 of a tall matrix: blocks of 32 columns, each column's rows split over
    8 threads that meet in shared memory."""
    program = compile_ptx(
        trace(lambda a: a.sum(axis=0), (np.ones((700, 45), np.float32),)).function
    )
    assert [(k.points, k.block) for k in program.kernels] == [(2, 256)]
    assert program.kernels[0].what.startswith("columns")


def test_long_full_reduction_is_split() -> None:
    """x.sum() of a large array: blocks reduce chunks into partials, a second kernel folds
    them in order (a thread per output)."""
    program = compile_ptx(trace(lambda a: a.sum(), (np.ones((512, 1024), np.float32),)).function)
    (parts, fold) = program.kernels
    assert parts.what.startswith("128 parts") and (parts.points, parts.block) == (128, 256)
    assert (fold.points, fold.lanes) == (1, 1)
    assert program.lowered.workspace_bytes >= 128 * 8  # the float64 partials


def test_layernorm_is_one_row_kernel() -> None:
    """Mean, variance and normalization share the rows: one kernel, the row read once from
    device memory (the later members find it in the cache)."""
    x, g = np.ones((19, 67), np.float32), np.ones(67, np.float32)
    program = compile_ptx(trace(layernorm, (x, g, g)).function)
    assert len(program.kernels) == 1 and program.kernels[0].what.startswith("rows:")


def test_launch_config() -> None:
    assert launch_config(0) == (0, 256)
    assert launch_config(5) == (1, 32)
    assert launch_config(1000) == (4, 256)
    assert launch_config(10**9) == (8192, 256)  # the grid-stride loop covers the rest


def test_dynamic_shapes_are_rejected() -> None:
    t = T.TensorType((None,), T.f32)
    f = Function("f", [t], [t])
    b = Builder.at_end(f.body)
    b.create("func.return", [b.op("tir.neg", f.args[0])])
    with pytest.raises(NotImplementedError, match="static shapes"):
        compile_ptx(f)


def test_importing_never_needs_cupy() -> None:
    code = (
        "import sys, numpy as np, tensorir, tensorir.lower_ptx as lp\n"
        "from tensorir.frontend.trace import trace\n"
        "lp.compile_ptx(trace(lambda a: a + 1.0, (np.ones(3),)).function)\n"
        "assert 'cupy' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(PTXAS is None, reason="ptxas is not on PATH")
def test_jit_lowers_to_ptx_without_a_gpu(tmp_path) -> None:
    """`jit(device="cuda").lower(...)` shows every stage down to the PTX, which ptxas takes;
    neither cupy nor a GPU is needed to compile and inspect."""
    import tensorir

    f = tensorir.jit(lambda a: np.exp(a).sum(axis=1), device="cuda", arch="sm_90")
    lowered = f.lower(np.ones((4, 8), np.float32))
    assert lowered.stages()[-3:] == ["llvm-unoptimized", "llvm", "ptx"]
    ptx = lowered.as_text("ptx")
    assert ".target sm_90" in ptx and "__nv_expf" not in lowered.as_text("llvm")
    assert "tir.generic" in lowered.as_text("generic")
    with pytest.raises(ValueError, match="no asm stage"):
        lowered.as_text("asm")
    assemble(ptx, "sm_90", tmp_path)


def test_jit_rejects_an_unknown_device() -> None:
    import tensorir

    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        tensorir.jit(lambda a: a, device="tpu")


@pytest.mark.skipif(find_spec("cupy") is not None, reason="checks a machine without cupy")
def test_running_without_cupy_is_a_clear_error() -> None:
    import tensorir

    f = tensorir.jit(lambda a: a * 2.0, device="cuda")
    with pytest.raises(RuntimeError, match=r"needs cupy and an NVIDIA GPU"):
        f(np.ones(3))
