"""The test programs run on an NVIDIA GPU through cupy and equal numpy; skipped without cupy or
a device."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_programs import PROGRAMS, Program, check

import tensorir
from tensorir.frontend.trace import trace
from tensorir.lower_ptx import compile_ptx, device_arch

ARCH = device_arch()
pytestmark = pytest.mark.skipif(ARCH is None, reason="needs cupy and an NVIDIA GPU")


@pytest.mark.parametrize("p", PROGRAMS, ids=lambda p: p.name)
def test_gpu_equals_numpy(p: Program) -> None:
    import cupy

    program = compile_ptx(trace(p.fn, p.args).function, arch=ARCH)
    outs = program(*[cupy.asarray(a) for a in p.args])
    assert all(isinstance(o, cupy.ndarray) for o in outs)
    check(p, [cupy.asnumpy(o) for o in outs])


def test_out_of_bounds_gather_index_raises() -> None:
    import cupy

    x, idx = np.zeros(8, np.float32), np.array([1, 8])
    program = compile_ptx(trace(lambda a, i: a[i], (x, idx)).function, arch=ARCH)
    with pytest.raises(IndexError, match="size 8"):
        program(cupy.asarray(x), cupy.asarray(idx))


def test_jit_on_cupy_arrays_selects_the_gpu() -> None:
    """cupy arguments select the GPU without asking; results stay cupy arrays on the device."""
    import cupy

    f = tensorir.jit(lambda a, b: np.tanh(a @ b).sum(axis=1) + 1.0)
    a, b = rng_arrays((64, 32), (32, 16))
    out = f(cupy.asarray(a), cupy.asarray(b))
    assert isinstance(out, cupy.ndarray)
    np.testing.assert_allclose(
        cupy.asnumpy(out), np.tanh(a @ b).sum(axis=1) + 1.0, rtol=1e-5, atol=1e-5
    )
    assert f.lower(cupy.asarray(a), cupy.asarray(b)).device == "cuda"
    assert f.lower(a, b).device == "cpu"  # numpy arguments keep the CPU


def test_jit_device_cuda_takes_numpy_and_pytrees() -> None:
    import cupy

    f = tensorir.jit(lambda d, s: {"y": d["x"] * s, "m": d["x"].max()}, device="cuda")
    (x,) = rng_arrays((100,))
    out = f({"x": x}, 3.0)
    assert isinstance(out["y"], cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(out["y"]), x * 3.0, rtol=1e-6)
    assert float(out["m"]) == x.max()


def test_jit_gpu_honours_the_current_stream() -> None:
    import cupy

    f = tensorir.jit(lambda a: np.exp(a) * 2.0)
    (x,) = rng_arrays((1 << 20,))
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        out = f(cupy.asarray(x))
    stream.synchronize()
    np.testing.assert_allclose(cupy.asnumpy(out), np.exp(x) * 2.0, rtol=1e-6)


def test_jit_gpu_takes_dlpack_without_copies() -> None:
    """A DLPack producer's memory is read in place: the kernel sees a write made through it."""
    import cupy

    x = cupy.arange(10, dtype=cupy.float32)

    class Producer:  # a foreign GPU library's array, known only through DLPack
        def __dlpack__(self, **kwargs):
            return x.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return x.__dlpack_device__()

    f = tensorir.jit(lambda a: a * 2.0)
    x[3] = 100.0
    np.testing.assert_array_equal(cupy.asnumpy(f(Producer())), cupy.asnumpy(x) * 2.0)


def rng_arrays(*shapes):
    rng = np.random.default_rng(3)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def test_jit_gpu_writes_into_out() -> None:
    import cupy

    f = tensorir.jit(lambda a: np.tanh(a) * 2.0)
    (x,) = rng_arrays((1000,))
    out = cupy.empty(1000, np.float32)
    assert f(cupy.asarray(x), out=out) is out
    np.testing.assert_allclose(cupy.asnumpy(out), np.tanh(x) * 2.0, rtol=1e-6)
    with pytest.raises(TypeError, match="cupy float32 array"):
        f(cupy.asarray(x), out=np.empty(1000, np.float32))
