"""Matmuls on the CPU: numpy (its bundled OpenBLAS) against tensorir with each matmul lowering
(`jit(matmul=...)`: "blas" calls the same OpenBLAS per row block, "kernel" packs panels for the
generated micro-kernel, "auto" picks per shape), and JAX (`jax.jit`), PyTorch eager and
`torch.compile` where installed (`make bench-peers`), on 1 thread and on every core. Prints a
markdown table of numpy time / each one's time, and GFMA/s of the micro-kernel.

Each thread count runs in its own process, since OpenBLAS and XLA read their thread counts at
start; the one-thread process is also pinned to one CPU (XLA_FLAGS alone leaves XLA on two):
    python benchmarks/matmul.py            # 1 thread and all threads
    python benchmarks/matmul.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import timeit

import numpy as np


def plain(x, w, b):
    return x @ w


def dense(x, w, b):
    """A dense layer: the bias and relu are the matmul's epilogue."""
    return np.maximum(x @ w + b, 0)


WORKLOADS = [
    ("matmul 64³ f32", (64, 64, 64), "float32", False),
    ("matmul 128³ f32", (128, 128, 128), "float32", False),
    ("matmul 256³ f32", (256, 256, 256), "float32", False),
    ("matmul 512³ f32", (512, 512, 512), "float32", False),
    ("matmul 1024³ f32", (1024, 1024, 1024), "float32", False),
    ("matmul 1024³ f64", (1024, 1024, 1024), "float64", False),
    ("SGD forward x@W1, 256×784 @ 784×256", (256, 784, 256), "float32", False),
    ("SGD h@W2, 256×256 @ 256×10", (256, 256, 10), "float32", False),
    ("relu(x@W+b) 4096×1024×1024 f32", (4096, 1024, 1024), "float32", True),
]
CHOICES = ("blas", "kernel", "auto")


def peers(threads: int) -> dict:
    """name -> maker(numpy function) of a callable on numpy arrays, for the importable peers."""
    found = {}
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)  # else float64 inputs run in float32

        def make_jax(fn):
            jitted = jax.jit(
                lambda x, w, b: fn(x, w, b) if fn is plain else jnp.maximum(x @ w + b, 0)
            )

            def run(x, w, b):
                return np.asarray(jitted(x, w, b).block_until_ready())

            return run

        found["JAX"] = make_jax
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(threads)

        def make_torch(compiled: bool):
            def make(fn):
                def body(x, w, b):
                    return x @ w if fn is plain else torch.relu(x @ w + b)

                if compiled:
                    torch.compiler.reset()  # one compiled function per workload, not recompiles
                    body = torch.compile(body, dynamic=False)

                def run(x, w, b):
                    with torch.no_grad():
                        args = [torch.from_numpy(a) for a in (x, w, b)]
                        return body(*args).numpy()

                return run

            return make

        found["torch"] = make_torch(False)
        found["torch.compile"] = make_torch(True)
    except ImportError:
        pass
    return found


def per_call(fn, *args) -> float:
    """Best-of-5 seconds per call."""
    timer = timeit.Timer(lambda: fn(*args))
    n, _ = timer.autorange()
    return min(timer.repeat(repeat=5, number=max(n, 1))) / max(n, 1)


def run(threads: int) -> None:
    import tensorir

    rng = np.random.default_rng(0)
    others = peers(threads)
    print(f"\n{threads} thread(s)\n")
    names = ["tensorir " + c for c in CHOICES] + list(others)
    print(f"| workload | numpy ms | {' | '.join(names)} | kernel GFMA/s |")
    print("| --- " * (len(names) + 3) + "|")
    for name, (m, k, n), dtype, epilogue in WORKLOADS:
        x = rng.standard_normal((m, k)).astype(dtype)
        w = rng.standard_normal((k, n)).astype(dtype)
        b = rng.standard_normal(n).astype(dtype)

        reference = dense if epilogue else plain
        want = reference(x, w, b)
        t_numpy = per_call(reference, x, w, b)
        ratios, t_kernel = [], None
        for choice in CHOICES:
            f = tensorir.jit(reference, matmul=choice)
            np.testing.assert_allclose(f(x, w, b), want, rtol=1e-3, atol=1e-3 * np.sqrt(k))
            t = per_call(f, x, w, b)
            t_kernel = t if choice == "kernel" else t_kernel
            ratios.append(f"{t_numpy / t:.2f}×")
        for make in others.values():
            f = make(reference)
            np.testing.assert_allclose(f(x, w, b), want, rtol=1e-3, atol=1e-3 * np.sqrt(k))
            ratios.append(f"{t_numpy / per_call(f, x, w, b):.2f}×")
        gfma = m * k * n / t_kernel / 1e9
        print(f"| {name} | {t_numpy * 1e3:.3f} | {' | '.join(ratios)} | {gfma:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads is not None:
        run(args.threads)
        return
    cpus = sorted(os.sched_getaffinity(0))
    for threads in (1, len(cpus)):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), TENSORIR_NUM_THREADS=str(threads))
        env["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
        subprocess.run(
            [sys.executable, __file__, "--threads", str(threads)],
            env=env,
            check=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus[-1:])) if threads == 1 else None,
        )


if __name__ == "__main__":
    main()
