"""GPU benchmarks of the GPU issue: tensorir's PTX kernels against cupy's own kernels and the
device's copy bandwidth, all measured in the same run on the same card.

Run on a machine with an NVIDIA GPU and cupy: `python benchmarks/gpu.py`. Times are medians of
CUDA-event timings (`cupyx.profiler.benchmark`) after warm-up; every result is first checked
against numpy in float64. Prints a markdown table. The "cupy ops" peer is the numpy program of
`kernels.py` run unchanged on cupy arrays (NEP 13/18 dispatch): a cupy kernel per op.
"""

from __future__ import annotations

import sys

import numpy as np
from kernels import chain, layernorm, softmax

import tensorir

try:
    import cupy as cp
    from cupyx.profiler import benchmark
except ImportError:
    sys.exit("benchmarks/gpu.py needs cupy and an NVIDIA GPU")


def gpu_ms(fn, *args, n_repeat: int = 50) -> float:
    """Median milliseconds of `fn(*args)` on the device, by CUDA events, after warm-up."""
    r = benchmark(fn, args, n_repeat=n_repeat, n_warmup=5)
    return float(np.median(r.gpu_times)) * 1e3


def copy_gbs(nbytes: int) -> float:
    """Device-to-device copy bandwidth, bytes read plus bytes written."""
    src = cp.ones(nbytes // 4, np.float32)
    dst = cp.empty_like(src)
    return 2 * nbytes / gpu_ms(lambda: dst.__setitem__(Ellipsis, src)) / 1e6


chain_kernel = cp.ElementwiseKernel(
    "float32 a, float32 b, float32 c",
    "float32 y",
    "y = a * b + c * expf(-a) - sqrtf(fabsf(b)) + tanhf(c)",
    "tensorir_bench_chain",
)


def matmul(a, b):
    return a @ b


def check(name: str, got, fn, args, rtol: float) -> None:
    """Compare a device result with numpy in float64 by relative norm; exit loudly if off."""
    want = fn(*[cp.asnumpy(a).astype(np.float64) for a in args])
    g = cp.asnumpy(got).astype(np.float64)
    err = np.linalg.norm(g - want) / np.linalg.norm(want)
    if not np.isfinite(err) or err > rtol:
        sys.exit(f"{name}: relative error {err:.2e} > {rtol:.0e}")


def main() -> None:
    rng = np.random.default_rng(0)
    dev = cp.cuda.Device()
    name = cp.cuda.runtime.getDeviceProperties(dev.id)["name"].decode()
    bw = copy_gbs(1 << 30)
    print(f"device: {name} (sm_{dev.compute_capability}), cupy {cp.__version__}")
    print(f"device-to-device copy: {bw:.0f} GB/s (read + write)\n")
    print("| workload | tensorir ms | peer | peer ms | peer / tensorir | GB/s | of copy |")
    print("| --- | --- | --- | --- | --- | --- | --- |")

    def f32(*shape):
        return cp.asarray(rng.standard_normal(shape, dtype=np.float32))

    n = 1 << 26
    rows = [
        ("chain 2^26 f32", chain, (f32(n), f32(n), f32(n)), 1e-5,
         [("cupy ops", chain), ("cupy ElementwiseKernel", chain_kernel)]),
        ("softmax 8192x4096 f32", softmax, (f32(8192, 4096),), 1e-5,
         [("cupy ops", softmax)]),
        ("layernorm 8192x4096 f32", layernorm, (f32(8192, 4096),), 1e-5,
         [("cupy ops", layernorm)]),
        ("sum axis=1 8192x4096 f32", lambda x: x.sum(axis=1), (f32(8192, 4096),), 1e-5,
         [("cupy", lambda x: x.sum(axis=1))]),
        ("sum axis=0 8192x4096 f32", lambda x: x.sum(axis=0), (f32(8192, 4096),), 1e-5,
         [("cupy", lambda x: x.sum(axis=0))]),
        ("sum all 8192x4096 f32", lambda x: x.sum(), (f32(8192, 4096),), 1e-5,
         [("cupy", lambda x: x.sum())]),
        ("matmul 4096^3 f32", matmul, (f32(4096, 4096), f32(4096, 4096)), 1e-4,
         [("cupy (cuBLAS)", matmul)]),
    ]  # fmt: skip
    for label, fn, args, rtol, peers in rows:
        f = tensorir.jit(fn, device="cuda")
        check(label, f(*args), fn, args, rtol)
        ms = gpu_ms(f, *args, n_repeat=20 if "matmul" in label else 50)
        out = f(*args)
        nbytes = sum(a.nbytes for a in args) + out.nbytes
        for peer, pf in peers:
            check(f"{label} ({peer})", pf(*args), fn, args, rtol)
            pms = gpu_ms(pf, *args, n_repeat=20 if "matmul" in label else 50)
            gbs = nbytes / ms / 1e6
            print(
                f"| {label} | {ms:.3f} | {peer} | {pms:.3f} | {pms / ms:.2f}× | {gbs:.0f} "
                f"| {gbs / bw:.0%} |"
            )
        if "matmul" in label:
            flops = 2 * args[0].shape[0] * args[0].shape[1] * args[1].shape[1]
            print(f"|   ↳ {flops / ms / 1e9:.1f} TFLOP/s | | | | | | |")


if __name__ == "__main__":
    main()
