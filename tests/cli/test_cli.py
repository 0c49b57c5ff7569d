"""The `tensorir` console script, run for real in a subprocess on the IR files in tests/data."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tensorir.lower_ptx import DEFAULT_ARCH, libdevice_path

HERE = Path(__file__).parent
DATA = HERE.parent / "data"
SCRIPT = HERE / "model_script.py"
_EXE = Path(sys.executable).parent / "tensorir"
CLI = [str(_EXE)] if _EXE.exists() else [sys.executable, "-m", "tensorir"]


def tensorir(*args, stdin=None, ok=True):
    r = subprocess.run(
        [*CLI, *map(str, args)], input=stdin, capture_output=True, text=True, timeout=120
    )
    if ok:
        assert r.returncode == 0, r.stderr
    return r


def one_line_error(r) -> str:
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def ir_error(r, text: str) -> str:
    """The first line of an error in IR text, `file:LINE:COL: error: ...`, after checking the
    two lines under it: line LINE of `text`, and a caret at column COL."""
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    first, source, caret = r.stderr.rstrip("\n").split("\n")
    line, col = map(int, re.search(r":(\d+):(\d+): error: ", first).groups())
    assert source == text.splitlines()[line - 1]
    assert caret == " " * (col - 1) + "^"
    return first


@pytest.mark.parametrize("command", ["dump", "opt", "compile", "run"])
def test_help_per_subcommand(command):
    out = tensorir(command, "--help").stdout
    assert out.startswith(f"usage: tensorir {command}")
    assert "--traceback" in out


def test_python_dash_m_runs_the_same_command():
    r = subprocess.run(
        [sys.executable, "-m", "tensorir", "opt", "--list-passes"], capture_output=True, text=True
    )
    assert r.returncode == 0 and re.search(r"^cse\s+\S", r.stdout, re.M)


def test_dump_every_stage():
    args = "f32[4,3], f32[3,2], f32[2]"
    traced = tensorir("dump", f"{SCRIPT}:mlp", "--args", args).stdout
    assert '"tir.matmul"' in traced and "tensor<4x3xf32>" in traced
    assert (
        '"tir.generic"'
        in tensorir("dump", f"{SCRIPT}:mlp", "--args", args, "--stage", "fuse").stdout
    )
    assert "define" in tensorir("dump", f"{SCRIPT}:mlp", "--args", args, "--stage", "llvm").stdout
    asm = tensorir("dump", f"{SCRIPT}:mlp", "--args", args, "--stage", "asm").stdout
    assert "ret" in asm


def test_dump_all_stages_and_stats(tmp_path):
    r = tensorir("dump", f"{SCRIPT}:softmax", "--args", "f32[8,16]", "--all-stages", tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[0] == "00-traced.mlir" and names[-1].endswith("-asm.s")
    assert any(n.endswith("-llvm.ll") for n in names)
    stats = tensorir("dump", f"{SCRIPT}:softmax", "--args", "f32[8,16]", "--stats").stdout
    assert re.search(r"tir\.exp\s+1\n", stats)
    assert re.search(r"generic loops \(lowered\): \d+", stats)
    assert "fusion decisions:\n" in stats
    assert re.search(r"^  fused a producer into generic at .*model_script\.py:\d+$", stats, re.M)
    assert re.search(r"llvm\s+\d+\.\d+", stats) and "workspace_bytes" in stats
    assert r.stdout == ""


def test_round_trip_dump_opt_compile_run(tmp_path):
    traced = tmp_path / "softmax.mlir"
    tensorir("dump", f"{SCRIPT}:softmax", "--args", "f32[5,7]", "-o", traced)
    optimized = tmp_path / "opt.mlir"
    tensorir(
        "opt", traced, "--passes", "canonicalize,cse,stabilize", "--verify-each", "-o", optimized
    )
    x = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    for ir in (traced, optimized):
        tensorir("run", ir, "--inputs", tmp_path / "x.npy", "-o", tmp_path / "out.npz")
        got = np.load(tmp_path / "out.npz")["out0"]
        e = np.exp(x - x.max(axis=1, keepdims=True))
        np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=1e-5)
    tensorir("compile", optimized, "--emit", "shared", "-o", tmp_path / "libsoftmax.so")
    assert "int32_t softmax_c(" in (tmp_path / "libsoftmax.h").read_text()


def test_opt_reads_stdin_and_is_a_fixed_point():
    text = (DATA / "mlp.mlir").read_text()
    once = tensorir("opt", "-", "--passes", "cse", stdin=text).stdout
    assert tensorir("opt", "-", "--passes", "cse", stdin=once).stdout == once


def test_run_two_functions_by_name(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.random((3, 4)), rng.random((4, 3))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    out = tmp_path / "o.npz"
    ir = DATA / "two_functions.mlir"
    tensorir(
        "run", ir, "--func", "stats", "--inputs", tmp_path / "x.npy", tmp_path / "y.npy", "-o", out
    )
    r = np.load(out)
    np.testing.assert_allclose(r["out0"], x * y.T)
    np.testing.assert_allclose(r["out1"], np.sqrt((x * y.T).sum(axis=1)))
    printed = tensorir("run", ir, "--inputs", tmp_path / "x.npy", tmp_path / "y.npy").stdout
    assert printed.startswith("out0: float64[3, 4]\n")


def test_compile_emits_llvm_asm_obj(tmp_path):
    ir = DATA / "two_functions.mlir"
    llvm_ir = tensorir("compile", ir, "--emit", "llvm").stdout
    assert "define" in llvm_ir and "@mlp_c(" in llvm_ir and "@stats_c(" in llvm_ir
    assert "mlp_c:" in tensorir("compile", ir, "--emit", "asm", "--func", "mlp").stdout
    tensorir("compile", ir, "--emit", "obj", "-o", tmp_path / "m.o")
    assert (tmp_path / "m.o").read_bytes()[:4] == b"\x7fELF"


@pytest.mark.parametrize(
    "name, where",
    [("bad_syntax", r"bad_syntax\.mlir:2:24: error: expected ',' or '\)'"),
     ("bad_undefined", r"bad_undefined\.mlir:3:17: error: expected a value defined before")],
)  # fmt: skip
def test_parse_errors_give_position_source_line_and_caret(name, where):
    text = (DATA / f"{name}.mlir").read_text()
    for command in ("opt", "compile", "run"):
        line = ir_error(tensorir(command, DATA / f"{name}.mlir", ok=False), text)
        assert re.search(where, line), line


def test_verify_error_names_op_and_source_line():
    r = tensorir("opt", DATA / "bad_types.mlir", ok=False)
    line = ir_error(r, (DATA / "bad_types.mlir").read_text())
    assert "'tir.exp' at model.py:7" in line and "tensor<2xf32>" in line


@pytest.mark.parametrize(
    "args, message",
    [(["opt", DATA / "mlp.mlir", "--passes", "nope"], "unknown pass 'nope'"),
     (["opt", "missing.mlir"], "missing.mlir: No such file"),
     (["dump", f"{SCRIPT}:nothing", "--args", "f32"], "defines no 'nothing'"),
     (["dump", f"{SCRIPT}:mlp", "--args", "f32[4,3] f32"], "expected ','"),
     (["dump", f"{SCRIPT}:mlp", "--args", "f32[4,3], f32[3,2], f32[2]", "--stage", "x"],
      "unknown stage 'x'"),
     (["compile", DATA / "mlp.mlir", "--target", "gpu"], "invalid choice: 'gpu'"),
     (["compile", DATA / "mlp.mlir", "--emit", "obj"], "give -o OUT"),
     (["run", DATA / "mlp.mlir", "--inputs"], "takes 3 inputs, got 0"),
     (["frobnicate"], "invalid choice")],
)  # fmt: skip
def test_bad_input_gives_one_line_and_status_1(args, message):
    line = one_line_error(tensorir(*args, ok=False))
    assert message in line, line


@pytest.mark.parametrize("before", [True, False])
def test_traceback_flag_shows_the_traceback(before):
    args = ["opt", DATA / "bad_types.mlir"]
    r = tensorir(*(["--traceback", *args] if before else [*args, "--traceback"]), ok=False)
    assert r.returncode == 1 and "Traceback" in r.stderr and "VerifyError" in r.stderr


# -- errors in IR text without loc(...): the position comes from the parser ----------------

BAD_NO_LOC = """module {
  func.func @f(%arg0: tensor<2xf32>) -> tensor<3xf32> {
    %0 = "tir.exp"(%arg0) : (tensor<2xf32>) -> tensor<3xf32>
    "func.return"(%0) : (tensor<3xf32>) -> ()
  }
}
"""


@pytest.mark.parametrize("command", ["opt", "compile", "run"])
def test_verify_error_without_loc_points_at_the_op(tmp_path, command):
    bad = tmp_path / "bad.mlir"
    bad.write_text(BAD_NO_LOC)
    line = ir_error(tensorir(command, bad, ok=False), BAD_NO_LOC)
    assert line == (
        f"{bad}:3:5: error: 'tir.exp': result types (tensor<3xf32>) differ from the inferred "
        "(tensor<2xf32>)"
    )


def test_verify_error_on_stdin_points_at_the_function():
    lines = BAD_NO_LOC.replace("3xf32", "2xf32").splitlines(keepends=True)
    text = "".join(line for line in lines if "func.return" not in line)
    line = ir_error(tensorir("opt", "-", stdin=text, ok=False), text)
    assert line == "<stdin>:2:3: error: function @f does not end in func.return"


def test_opt_output_has_no_positions_added():
    text = (DATA / "bad_types.mlir").read_text().replace("3xf32", "2xf32")
    text = text.replace(' loc("model.py":7:3)', "")
    out = tensorir("opt", "-", stdin=text).stdout
    assert "loc(" not in out
    assert tensorir("opt", "-", stdin=out).stdout == out


# -- PTX for NVIDIA GPUs ---------------------------------------------------------------------

PTXAS = shutil.which("ptxas")
needs_ptxas = pytest.mark.skipif(PTXAS is None, reason="ptxas is not on PATH")
needs_libdevice = pytest.mark.skipif(
    libdevice_path() is None, reason="no CUDA libdevice for exp (softmax)"
)


def ptxas(ptx_file: Path, arch: str) -> None:
    """Assemble with the real ptxas; fail the test with its messages if it rejects the PTX."""
    cubin = ptx_file.with_suffix(".cubin")
    r = subprocess.run(
        [PTXAS, f"-arch={arch}", str(ptx_file), "-o", str(cubin)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert cubin.read_bytes()[:4] == b"\x7fELF"


@needs_ptxas
@pytest.mark.parametrize(
    "ir, options",
    [("mlp", ["--target", "cuda"]),
     ("mlp", ["--emit", "ptx"]),
     ("two_functions", ["--target", "cuda", "--emit", "ptx", "--func", "stats"]),
     pytest.param("softmax", ["--target", "cuda"], marks=needs_libdevice)],
)  # fmt: skip
def test_compile_cuda_writes_ptx_that_ptxas_assembles(tmp_path, ir, options):
    out = tmp_path / f"{ir}.ptx"
    tensorir("compile", DATA / f"{ir}.mlir", *options, "--arch", "sm_90", "-o", out)
    ptx = out.read_text()
    assert ".target sm_90" in ptx and ".entry" in ptx
    ptxas(out, "sm_90")


def test_compile_cuda_emits_the_kernels_llvm_ir():
    llvm_ir = tensorir("compile", DATA / "mlp.mlir", "--target", "cuda", "--emit", "llvm").stdout
    assert "define ptx_kernel void" in llvm_ir


def test_compile_cuda_needs_no_cupy_and_defaults_to_default_arch():
    # cupy is hidden even where it is installed: no device arch, so the default one
    code = (
        "import sys; sys.modules['cupy'] = None\n"
        "from tensorir.cli import main\n"
        f"sys.exit(main(['compile', {str(DATA / 'mlp.mlir')!r}, '--target', 'cuda']))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f".target {DEFAULT_ARCH}\n" in r.stdout


@needs_ptxas
@needs_libdevice
def test_dump_stage_ptx_assembles(tmp_path):
    out = tmp_path / "softmax.ptx"
    args = ["--args", "f32[8,16]", "--stage", "ptx", "--arch", "sm_90", "-o", out]
    tensorir("dump", f"{SCRIPT}:softmax", *args)
    assert ".target sm_90" in out.read_text()
    ptxas(out, "sm_90")


@pytest.mark.parametrize("arch", ["sm_999", "foo", "90"])
@pytest.mark.parametrize("command", ["compile", "dump"])
def test_bad_arch_is_one_line(command, arch):
    first = {
        "compile": ["compile", DATA / "mlp.mlir", "--target", "cuda"],
        "dump": ["dump", f"{SCRIPT}:softmax", "--args", "f32[8,16]", "--stage", "ptx"],
    }[command]
    # one line: LLVM's own warning about the processor does not leak through
    line = one_line_error(tensorir(*first, "--arch", arch, ok=False))
    assert line == (
        f"tensorir {command}: error: --arch {arch}: not a GPU architecture LLVM's NVPTX "
        "backend knows (sm_80, sm_90, ...)"
    )


MLP, TWO = DATA / "mlp.mlir", DATA / "two_functions.mlir"


@pytest.mark.parametrize(
    "args, message",
    [(["compile", MLP, "--target", "cpu", "--emit", "ptx"], "--emit ptx needs --target cuda"),
     (["compile", MLP, "--arch", "sm_90"], "--arch applies to --target cuda"),
     (["compile", MLP, "--target", "cuda", "--emit", "obj"], "emits ptx or llvm, not obj"),
     (["compile", TWO, "--target", "cuda"], "one function: give --func (one of @stats, @mlp)"),
     (["dump", f"{SCRIPT}:softmax", "--args", "f32[8,16]", "--arch", "sm_90"],
      "--arch applies to --stage ptx")],
)  # fmt: skip
def test_bad_gpu_options_give_one_line(args, message):
    line = one_line_error(tensorir(*args, ok=False))
    assert message in line, line


def test_help_documents_the_gpu_options():
    compile_help = " ".join(tensorir("compile", "--help").stdout.split())
    assert (
        "--target {cpu,cuda}" in compile_help and "--emit {llvm,asm,obj,shared,ptx}" in compile_help
    )
    assert "--arch ARCH GPU architecture of the PTX: sm_80, sm_90" in compile_help
    assert f"else {DEFAULT_ARCH})" in compile_help and "cupy is not needed" in compile_help
    dump_help = " ".join(tensorir("dump", "--help").stdout.split())
    assert "ptx compiles the traced function for the GPU (see --arch)" in dump_help
    assert "--arch ARCH" in dump_help
