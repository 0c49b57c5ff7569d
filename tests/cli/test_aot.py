"""`tensorir.compile`: native code called from Python, and a shared library called from real C."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tensorir
from tensorir.ir.parser import parse_module

DATA = Path(__file__).parent.parent / "data"
CC = shutil.which("cc")

# Inputs every C program and numpy agree on exactly: small multiples of 1/4.
C_PROGRAM = r"""
#include <stdio.h>
#include <stdint.h>
#include "HEADER"

static void fill(float *p, int n) { for (int i = 0; i < n; i++) p[i] = (i * 7 % 13 - 6) / 4.0f; }
static void filld(double *p, int n) { for (int i = 0; i < n; i++) p[i] = (i * 5 % 11) / 4.0; }

int main(void) {
    float x[4][3], w[3][2], b[2], out[4][2];
    fill(&x[0][0], 12); fill(&w[0][0], 6); fill(b, 2);
    void *data[] = {x, w, b, out};
    int64_t sx[] = {4, 3}, sw[] = {3, 2}, sb[] = {2}, so[] = {4, 2};
    int64_t tx[] = {12, 4}, tw[] = {8, 4}, tb[] = {4}, to[] = {8, 4};
    const int64_t *shapes[] = {sx, sw, sb, so}, *strides[] = {tx, tw, tb, to};
    int rc = mlp_c(data, shapes, strides);
    printf("mlp %d", rc);
    for (int i = 0; i < 8; i++) printf(" %.9g", (&out[0][0])[i]);
    printf("\n");

    /* y is the transpose of yt: shape {4, 3}, byte strides {8, 32} */
    double xs[3][4], yt[3][4], z[3][4], norms[3];
    filld(&xs[0][0], 12); filld(&yt[0][0], 12);
    void *d2[] = {xs, yt, z, norms};
    int64_t s0[] = {3, 4}, s1[] = {4, 3}, s2[] = {3, 4}, s3[] = {3};
    int64_t t0[] = {32, 8}, t1[] = {8, 32}, t2[] = {32, 8}, t3[] = {8};
    const int64_t *sh2[] = {s0, s1, s2, s3}, *st2[] = {t0, t1, t2, t3};
    rc = stats_c(d2, sh2, st2);
    printf("stats %d", rc);
    for (int i = 0; i < 12; i++) printf(" %.17g", (&z[0][0])[i]);
    for (int i = 0; i < 3; i++) printf(" %.17g", norms[i]);
    printf("\n");
    return 0;
}
"""


def _fill(n, dtype):
    i = np.arange(n)
    if dtype == np.float32:
        return ((i * 7 % 13 - 6) / 4).astype(np.float32)
    return (i * 5 % 11) / 4


@pytest.mark.skipif(CC is None, reason="no C compiler (cc)")
def test_c_program_links_the_shared_library_and_agrees_with_numpy(tmp_path):
    compiled = tensorir.compile(parse_module((DATA / "two_functions.mlir").read_text()),
                                contiguous=False)  # fmt: skip
    lib, header = compiled.save(tmp_path / "libmodel.so")
    src = tmp_path / "main.c"
    src.write_text(C_PROGRAM.replace("HEADER", header.name))
    exe = tmp_path / "main"
    subprocess.run(
        [
            CC,
            "-Wall",
            "-Werror",
            "-o",
            exe,
            src,
            "-L",
            tmp_path,
            "-lmodel",
            f"-Wl,-rpath,{tmp_path}",
        ],
        check=True,
    )
    lines = subprocess.run([exe], capture_output=True, text=True, check=True).stdout.splitlines()

    x, w, b = (
        _fill(12, np.float32).reshape(4, 3),
        _fill(6, np.float32).reshape(3, 2),
        _fill(2, np.float32),
    )
    name, rc, *vals = lines[0].split()
    assert (name, rc) == ("mlp", "0")
    np.testing.assert_allclose(
        np.array(vals, np.float32).reshape(4, 2), np.maximum(x @ w + b, 0), rtol=1e-6
    )

    xs, yt = _fill(12, np.float64).reshape(3, 4), _fill(12, np.float64).reshape(3, 4)
    name, rc, *vals = lines[1].split()
    assert (name, rc) == ("stats", "0")
    vals = np.array(vals, np.float64)
    z = xs * yt.T.T  # stats(x, y) computes x * y.T with y = yt.T
    np.testing.assert_array_equal(vals[:12].reshape(3, 4), z)
    np.testing.assert_allclose(vals[12:], np.sqrt(z.sum(axis=1)), rtol=1e-15)


@pytest.mark.skipif(CC is None, reason="no C compiler (cc)")
def test_header_documents_the_convention(tmp_path):
    compiled = tensorir.compile((DATA / "softmax.mlir").read_text())
    _, header = compiled.save(tmp_path / "libsoftmax.so")
    text = header.read_text()
    assert "strides[k] its strides in BYTES" in text
    assert "/* softmax: n_in = 1; (f32[4,5]) -> (f32[4,5]) */" in text
    assert "int32_t softmax_c(void **data, const int64_t *const *shapes, " in text
    # the header is valid C and C++
    for lang in ("c", "c++"):
        cmd = [CC, "-x", lang, "-fsyntax-only", "-Wall", "-Werror", header]
        assert subprocess.run(cmd, capture_output=True).returncode == 0


def test_python_call_checks_arguments_and_leaves_the_module_unchanged():
    m = parse_module((DATA / "two_functions.mlir").read_text())
    before = str(m)
    compiled = tensorir.compile(m)
    assert str(m) == before
    rng = np.random.default_rng(0)
    x, y = rng.random((3, 4)), rng.random((4, 3))
    z, norms = compiled["stats"](x, y)
    np.testing.assert_allclose(z, x * y.T)
    np.testing.assert_allclose(norms, np.sqrt((x * y.T).sum(axis=1)))
    with pytest.raises(TypeError, match="pick one"):
        compiled(x, y)
    with pytest.raises(
        TypeError, match=r"argument 1: expected tensor<4x3xf64>, got float64\[3, 4\]"
    ):
        compiled["stats"](x, x)
    with pytest.raises(KeyError, match="no function 'nope'"):
        compiled["nope"]
    assert "@stats_c" in compiled.llvm_ir and "stats_c:" in compiled.asm


def test_dlpack_inputs_are_accepted_without_a_copy():
    compiled = tensorir.compile((DATA / "softmax.mlir").read_text(), contiguous=False)
    x = np.random.default_rng(2).standard_normal((4, 5)).astype(np.float32)

    class Producer:  # any object with the DLPack protocol, as torch or cupy tensors have
        def __init__(self, a):
            self.a = a

        def __dlpack__(self, **kwargs):
            return self.a.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()

    view = np.from_dlpack(Producer(x))
    assert np.shares_memory(view, x)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(compiled(Producer(x)), e / e.sum(axis=1, keepdims=True), rtol=1e-6)


def test_dynamic_dims_take_any_length():
    compiled = tensorir.compile("""func.func @total(%arg0: tensor<?xf32>) -> tensor<f32> {
      %0 = "tir.reduce_sum"(%arg0) {axes = [0]} : (tensor<?xf32>) -> tensor<f32>
      "func.return"(%0) : (tensor<f32>) -> ()
    }""")
    for n in (1, 5, 1000):
        x = np.arange(n, dtype=np.float32)
        np.testing.assert_allclose(compiled(x), x.sum(), rtol=1e-6)


def test_compile_rejects_unknown_targets():
    with pytest.raises(ValueError, match="target 'cuda' is not supported"):
        tensorir.compile((DATA / "softmax.mlir").read_text(), target="cuda")


def test_numba_calls_the_c_entry_point():
    numba = pytest.importorskip("numba")
    import ctypes

    compiled = tensorir.compile((DATA / "mlp.mlir").read_text())
    # pointers travel as intp: the same registers as `void *` in the x86-64 and AArch64 C ABIs
    proto = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_ssize_t, ctypes.c_ssize_t, ctypes.c_ssize_t)
    mlp_c = proto(compiled.c_address("mlp"))

    @numba.njit
    def relu_layer(x, w, b):
        out = np.empty((x.shape[0], w.shape[1]), np.float32)
        data = np.array([x.ctypes.data, w.ctypes.data, b.ctypes.data, out.ctypes.data])
        # row k holds argument k's dims (then its strides); unused entries stay zero
        dims = np.zeros((4, 2), np.int64)
        strides = np.zeros((4, 2), np.int64)
        dims[0, :], strides[0, :] = x.shape, x.strides
        dims[1, :], strides[1, :] = w.shape, w.strides
        dims[2, 0], strides[2, 0] = b.shape[0], b.strides[0]
        dims[3, :], strides[3, :] = out.shape, out.strides
        row = np.arange(4) * 16  # bytes per row of two int64
        dim_rows, stride_rows = dims.ctypes.data + row, strides.ctypes.data + row
        rc = mlp_c(data.ctypes.data, dim_rows.ctypes.data, stride_rows.ctypes.data)
        # numba frees an array after its last use: keep the pointer tables alive past the call
        return rc, out, data.sum() + dims.sum() + strides.sum() + dim_rows[0] + stride_rows[0]

    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((4, 3), (3, 2), (2,)))
    rc, out, _ = relu_layer(x, w, b)
    assert rc == 0
    np.testing.assert_allclose(out, np.maximum(x @ w + b, 0), rtol=1e-6)


def test_shared_library_with_a_matmul_is_self_contained(tmp_path):
    """Matmuls may call numpy's BLAS under jit; a saved library uses the generated micro-kernel
    and must load without numpy."""
    import ctypes

    m = parse_module(
        """func.func @mm(%arg0: tensor<64x64xf32>, %arg1: tensor<64x64xf32>) -> tensor<64x64xf32> {
  %0 = "tir.matmul"(%arg0, %arg1) : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
  "func.return"(%0) : (tensor<64x64xf32>) -> ()
}"""
    )
    compiled = tensorir.compile(m)
    assert "tensorir.ukernel" in compiled.llvm_ir
    path = tmp_path / "libmm.so"
    compiled.save(str(path))
    ctypes.CDLL(str(path))  # raises on an unresolved symbol
    a = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    np.testing.assert_allclose(compiled(a, a.T.copy()), a @ a.T, rtol=1e-5)
