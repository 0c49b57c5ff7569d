"""Time against size for the elementwise, reduction and matmul workloads: numpy, tensorir on
one thread and on all of them, so the crossover points show (where threads start to pay, where
tensorir starts to beat numpy). Writes benchmarks/plots/*.png.

Run: `make plots` (installs matplotlib, an optional benchmark extra, and runs this).
"""

from __future__ import annotations

import os

import matplotlib
import numpy as np
from kernels import best, chain

import tensorir

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plots")

WORKLOADS = {
    "elementwise": (
        "a*b + c*exp(-a) - sqrt(abs(b)) + tanh(c), float32, n elements",
        chain,
        [1 << k for k in range(8, 25, 2)],
        lambda rng, n: [rng.standard_normal(n).astype(np.float32) for _ in range(3)],
    ),
    "reduction": (
        "x.sum(axis=1), float32, n x 1024",
        lambda x: x.sum(axis=1),
        [1 << k for k in range(2, 15, 2)],
        lambda rng, n: [rng.standard_normal((n, 1024)).astype(np.float32)],
    ),
    "matmul": (
        "x @ w, float32, n x n x n",
        lambda x, w: x @ w,
        [16, 32, 64, 128, 256, 512, 1024],
        lambda rng, n: [rng.standard_normal((n, n)).astype(np.float32) for _ in range(2)],
    ),
}


def measure(fn, sizes, make) -> dict[str, list[float]]:
    """Seconds per call of numpy and of tensorir on 1 and on all threads, for each size."""
    rng = np.random.default_rng(0)
    threads = tensorir.get_num_threads()
    times: dict[str, list[float]] = {"numpy": [], "tensorir, 1 thread": []}
    times[f"tensorir, {threads} threads"] = []
    for n in sizes:
        args = make(rng, n)
        ours = tensorir.jit(fn)
        np.testing.assert_allclose(ours(*args), fn(*args), rtol=2e-3, atol=2e-3)
        times["numpy"].append(best(fn, *args, repeat=3))
        tensorir.set_num_threads(1)
        times["tensorir, 1 thread"].append(best(ours, *args, repeat=3))
        tensorir.set_num_threads(threads)
        times[f"tensorir, {threads} threads"].append(best(ours, *args, repeat=3))
    return times


def main() -> None:
    os.makedirs(HERE, exist_ok=True)
    for name, (title, fn, sizes, make) in WORKLOADS.items():
        times = measure(fn, sizes, make)
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, ts in times.items():
            ax.loglog(sizes, np.array(ts) * 1e6, marker="o", label=label)
        ax.set_xlabel("n")
        ax.set_ylabel("µs per call")
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = os.path.join(HERE, f"{name}.png")
        fig.savefig(path, dpi=100)
        print(f"{path}: " + ", ".join(f"{k} {v[-1] * 1e3:.2f} ms" for k, v in times.items()))


if __name__ == "__main__":
    main()
