"""The `tensorir` console script, run for real in a subprocess on the IR files in tests/data."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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
def test_parse_errors_are_one_line_with_position(name, where):
    for command in ("opt", "compile", "run"):
        line = one_line_error(tensorir(command, DATA / f"{name}.mlir", ok=False))
        assert re.search(where, line), line


def test_verify_error_names_op_and_source_line():
    line = one_line_error(tensorir("opt", DATA / "bad_types.mlir", ok=False))
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
