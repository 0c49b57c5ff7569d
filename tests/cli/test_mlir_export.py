"""`export_mlir`: upstream MLIR that the real `mlir-opt` parses, verifies and bufferizes."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tensorir
from tensorir.frontend.trace import trace
from tensorir.ir.core import Module
from tensorir.ir.parser import parse_module
from tensorir.mlir_export import ExportError

DATA = Path(__file__).parent.parent / "data"
MLIR_OPT = shutil.which("mlir-opt-22") or shutil.which("mlir-opt")
needs_mlir = pytest.mark.skipif(MLIR_OPT is None, reason="mlir-opt is not installed")


def mlir_opt(text: str, *flags: str) -> str:
    r = subprocess.run([MLIR_OPT, *flags], input=text, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + text
    return r.stdout


def traced(fn, *args) -> Module:
    return Module([trace(fn, args).function])


def floats(x, y):
    z = np.where(x > y, np.exp(x) * np.tanh(y), -np.sqrt(np.abs(y)) / (x + 2.0))
    m = np.maximum(z, x.T.T) - np.minimum(np.floor(x), np.arctan2(x, y))
    return m.sum(axis=0), m.max(axis=1), np.isnan(z) | np.isfinite(y), m.astype(np.float64)


def ints(a, b, u):
    c = (a + b * 3 - np.abs(a)) ^ (a & b)
    return c.max(axis=0), c.min(), (u + u).sum(), (a >= b) != (u < 7), c.astype(np.float32), ~u


@needs_mlir
@pytest.mark.parametrize(
    "fn, args",
    [(floats, (np.ones((3, 4), np.float32), np.ones((3, 4), np.float32))),
     (ints, (np.ones((2, 5), np.int32), np.ones((2, 5), np.int32), np.ones((2, 5), np.uint8))),
     (lambda x, w: (x @ w).reshape(2, 2, 3) @ np.ones((2, 3, 1), np.float32),
      (np.ones((4, 5), np.float32), np.ones((5, 3), np.float32)))],
)  # fmt: skip
def test_mlir_opt_verifies_and_bufferizes_the_export(fn, args):
    text = tensorir.export_mlir(traced(fn, *args))
    mlir_opt(text, "--verify-each")
    bufferized = mlir_opt(
        text, "--one-shot-bufferize=bufferize-function-boundaries", "--convert-linalg-to-loops"
    )
    assert "memref" in bufferized and "scf.for" in bufferized


@needs_mlir
def test_data_files_export():
    for name in ("mlp", "softmax", "two_functions"):
        text = tensorir.export_mlir(parse_module((DATA / f"{name}.mlir").read_text()))
        assert "linalg." in mlir_opt(text)


@needs_mlir
@pytest.mark.parametrize("stage", ["traced", "generic"])
def test_our_generic_syntax_parses_in_mlir_opt(stage):
    f = tensorir.jit(floats)
    x = np.ones((3, 4), np.float32)
    text = f.lower(x, x).as_text(stage)
    out = mlir_opt(text, "--allow-unregistered-dialect", "--mlir-print-op-generic")
    assert '"tir.' in out


def test_unsupported_ops_raise_naming_the_op_and_line():
    m = traced(lambda x, i: x[i], np.ones(5, np.float32), np.array([1, 2]))
    with pytest.raises(ExportError, match=r"cannot export 'tir\.\w+' at .*test_mlir_export\.py"):
        tensorir.export_mlir(m)


def test_unsigned_integers_become_signless_with_unsigned_ops():
    fn = lambda u: (u < 3, u.max(), u.astype(np.float32))  # noqa: E731
    text = tensorir.export_mlir(traced(fn, np.ones(4, np.uint16)))
    assert "ui16" not in text and "tensor<4xi16>" in text
    assert "arith.cmpi ult" in text and "arith.maxui" in text and "arith.uitofp" in text


MLIR_RUNNER = shutil.which("mlir-runner-22") or shutil.which("mlir-runner")
RUNNER_LIBS = [
    next(iter(sorted(Path("/usr/lib").glob(f"llvm-*/lib/lib{name}.so*"))), None)
    for name in ("mlir_runner_utils", "mlir_c_runner_utils")
]
LOWER_TO_LLVM = [
    "--one-shot-bufferize=bufferize-function-boundaries", "--convert-linalg-to-loops",
    "--convert-scf-to-cf", "--expand-strided-metadata", "--lower-affine",
    "--convert-math-to-llvm", "--convert-arith-to-llvm", "--finalize-memref-to-llvm",
    "--convert-func-to-llvm", "--convert-cf-to-llvm", "--reconcile-unrealized-casts",
]  # fmt: skip


def _literal(a: np.ndarray) -> str:
    if a.ndim == 0:
        return repr(float(a))
    return "[" + ", ".join(_literal(x) for x in a) + "]"


def _f32_tensor(shape) -> str:
    return f"tensor<{''.join(f'{d}x' for d in shape)}f32>"


def run_exported(text: str, name: str, inputs: list[np.ndarray], out_shape) -> np.ndarray:
    """Run exported function `name` (float32 in and out) with MLIR's own JIT; print its result."""
    consts = [
        f"    %x{i} = arith.constant dense<{_literal(a)}> : {_f32_tensor(a.shape)}"
        for i, a in enumerate(inputs)
    ]
    types = ", ".join(_f32_tensor(a.shape) for a in inputs)
    out_t = _f32_tensor(out_shape)
    main = "\n".join([
        "  func.func @main() {", *consts,
        f"    %r = call @{name}({', '.join(f'%x{i}' for i in range(len(inputs)))}) : "
        f"({types}) -> {out_t}",
        f"    %u = tensor.cast %r : {out_t} to tensor<*xf32>",
        "    call @printMemrefF32(%u) : (tensor<*xf32>) -> ()",
        "    return",
        "  }",
        "  func.func private @printMemrefF32(%p: tensor<*xf32>) attributes {llvm.emit_c_interface}",
        "}",
    ])  # fmt: skip
    program = text.rstrip().removesuffix("}") + main
    llvm_dialect = mlir_opt(program, *LOWER_TO_LLVM)
    r = subprocess.run(
        [MLIR_RUNNER, "-e", "main", "-entry-point-result=void",
         f"-shared-libs={RUNNER_LIBS[0]},{RUNNER_LIBS[1]}"],
        input=llvm_dialect, capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = r.stdout.split("data =", 1)[1]
    return np.array(re.findall(r"[-+\w.]+", data), np.float32).reshape(out_shape)


@needs_mlir
@pytest.mark.skipif(MLIR_RUNNER is None or None in RUNNER_LIBS, reason="no mlir-runner")
def test_exported_code_run_by_mlir_agrees_with_numpy():
    rng = np.random.default_rng(4)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((4, 3), (3, 2), (2,)))
    text = tensorir.export_mlir(parse_module((DATA / "mlp.mlir").read_text()))
    got = run_exported(text, "mlp", [x, w, b], (4, 2))
    np.testing.assert_allclose(got, np.maximum(x @ w + b, 0), rtol=2e-5, atol=1e-6)

    x = rng.standard_normal((4, 5)).astype(np.float32)
    text = tensorir.export_mlir(parse_module((DATA / "softmax.mlir").read_text()))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    got = run_exported(text, "softmax", [x], (4, 5))
    np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=2e-5, atol=1e-7)
