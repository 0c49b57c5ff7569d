"""tensorir benchmarks: dispatch overhead, first-call compile time, and a few kernels, each against
numpy (and numba where it applies) measured in the same run. Prints a markdown report.

Absolute times on a shared 2-core machine are noise; the ratios measured side by side are the
figures to read. Compile times run in fresh processes so no cache helps them.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
from kernels import best, chain, softmax  # the same timing and programs as kernels.py

import tensorir


def dispatch() -> list[tuple[str, float]]:
    import numba

    a = np.arange(8.0)
    b = np.ones(8)
    ours = tensorir.jit(lambda x, y: x + y)
    nb = numba.njit(lambda x, y: x + y)
    out = np.empty(8)
    ours(a, b)
    nb(a, b)
    return [
        ("numpy `a + b`", best(np.add, a, b)),
        ("numpy `np.add(a, b, out=out)`", best(lambda: np.add(a, b, out=out))),
        ("numba njit", best(nb, a, b)),
        ("tensorir jit", best(ours, a, b)),
        ("tensorir jit, `out=out`", best(lambda: ours(a, b, out=out))),
    ]


COMPILE_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    t0 = time.perf_counter()
    import tensorir
    from tensorir.lower_llvm.engine import host_target_machine
    host_target_machine()
    t_import = time.perf_counter() - t0

    def chain20(a, b, c):
        x = a * b + c
        x = np.exp(-x) * a - np.sqrt(np.abs(b)) + np.tanh(c)
        x = x * 0.5 + a * c - b / (np.abs(c) + 1.0)
        x = np.maximum(x, 0.0) + np.minimum(a, b) * 2.0
        return np.sin(x) + np.cos(a) * np.log1p(np.abs(b))

    def layer(x, w, b):
        h = np.maximum(x @ w + b, 0.0)
        return (h - h.mean(axis=1, keepdims=True)) / (h.std(axis=1, keepdims=True) + 1e-5)

    which = sys.argv[1]
    if which == "chain20":
        args = [np.ones(1024, np.float32)] * 3
        fn = chain20
    else:
        args = [np.ones((64, 32), np.float32), np.ones((32, 16), np.float32),
                np.ones(16, np.float32)]
        fn = layer
    f = tensorir.jit(fn)
    t0 = time.perf_counter()
    f(*args)
    t_first = time.perf_counter() - t0
    n_ops = f.lower(*args).as_text().count(' = "tir.')
    print(json.dumps({"first_call": t_first, "import": t_import, "ops": n_ops}))
    """
)


def compile_times() -> list[tuple[str, dict, dict]]:
    """(function, cold run, warm run): cold compiles into an empty disk cache, warm finds the
    object code the cold run left there."""
    out = []
    for which in ("chain20", "mlp_forward"):
        colds, warms = [], []
        for _ in range(3):
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "PYTHONHASHSEED": "0", "TENSORIR_CACHE_DIR": cache}
                for runs in (colds, warms):
                    r = subprocess.run(
                        [sys.executable, "-c", COMPILE_SCRIPT, which],
                        capture_output=True,
                        text=True,
                        check=True,
                        env=env,
                    )
                    runs.append(json.loads(r.stdout))
        best = lambda runs: min(runs, key=lambda d: d["first_call"])  # noqa: E731
        out.append((which, best(colds), best(warms)))
    return out


def kernels() -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(0)

    def row_norm(x):
        return x / x.sum(axis=1, keepdims=True)

    n = 1 << 20
    a, b, c = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    x = rng.standard_normal((1024, 1024)).astype(np.float32)
    rows = []
    for name, fn, args in (
        ("elementwise chain 2^20 f32", chain, (a, b, c)),
        ("softmax 1024x1024 f32", softmax, (x,)),
        ("row normalization 1024x1024 f32", row_norm, (x,)),
        ("sum axis=1 1024x1024 f32", lambda v: v.sum(axis=1), (x,)),
    ):
        f = tensorir.jit(fn)
        f(*args)
        rows.append((name, best(fn, *args), best(f, *args)))
    return rows


def main() -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, numpy {np.__version__}\n"
    )
    print("## Dispatch overhead (cached call, `a + b` on 8 float64)\n")
    print("| call | µs |\n| --- | --- |")
    for name, t in dispatch():
        print(f"| {name} | {t * 1e6:.2f} |")
    print("\n## First-call compile time, fresh process (trace + passes + LLVM -O3 + JIT)\n")
    print("| function | tensor ops | cold ms | disk-cache hit ms | import + target ms |")
    print("| --- | --- | --- | --- | --- |")
    for name, cold, warm in compile_times():
        print(
            f"| {name} | {cold['ops']} | {cold['first_call'] * 1e3:.0f} | "
            f"{warm['first_call'] * 1e3:.0f} | {cold['import'] * 1e3:.0f} |"
        )
    print("\n## Kernels, one thread\n")
    print("| workload | numpy ms | tensorir ms | numpy / tensorir |\n| --- | --- | --- | --- |")
    for name, tn, tt in kernels():
        print(f"| {name} | {tn * 1e3:.2f} | {tt * 1e3:.2f} | {tn / tt:.2f}x |")


if __name__ == "__main__":
    main()
