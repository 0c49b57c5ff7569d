"""Inline math (`lower_llvm/polymath.py`) against libmvec calls, one thread: each float32
function alone on 2^16 floats (in cache: compute-bound) and in fused loops, float64 exp the same,
with numpy in the same run. Each workload is compiled twice, once with the host target's inline
functions turned off (the libmvec calls tensorir made before), and timed interleaved, best of 15
rounds.

Run: `python benchmarks/vecmath.py`. Prints a markdown table.
"""

from __future__ import annotations

import timeit

import numpy as np
from kernels import chain, softmax

import tensorir
from tensorir.lower_llvm import polymath
from tensorir.lower_llvm.scalar import HostTarget


def logchain(a, b):
    return a * np.log(np.abs(b) + 1.0) - np.log1p(np.abs(a)) * b


def row_log_sum(x):
    return np.log(np.abs(x)).sum(axis=1)


def softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def of_abs(f):
    return lambda x: f(np.abs(x))


CASES = [
    # name, function, input shapes
    *[(f"{f.__name__} 2^16", f, [(1 << 16,)]) for f in (np.exp, np.expm1, np.tanh)],
    *[(f"{f.__name__}(abs(x)) 2^16", of_abs(f), [(1 << 16,)]) for f in (np.log, np.log1p)],
    ("a*b + c*exp(-a) - sqrt(abs(b)) + tanh(c), 2^24", chain, [(1 << 24,)] * 3),
    ("softmax 4096x1024", softmax, [(4096, 1024)]),
    ("a*log(abs(b)+1) - log1p(abs(a))*b, 2^22", logchain, [(1 << 22,)] * 2),
    ("sum(log(abs(x)), axis=1) 1024x1024", row_log_sum, [(1024, 1024)]),
    ("sigmoid 2^22", sigmoid, [(1 << 22,)]),
    ("softplus 2^22", softplus, [(1 << 22,)]),
]
# float64: only exp is inline
CASES64 = [
    ("exp 2^16, float64", np.exp, [(1 << 16,)]),
    ("a*b + c*exp(-a), 2^22, float64", lambda a, b, c: a * b + c * np.exp(-a), [(1 << 22,)] * 3),
    ("softmax 1024x1024, float64", softmax, [(1024, 1024)]),
]


def compiled(fn, args: list, inline: frozenset[str]):
    """`fn` jitted and compiled for `args` with only the functions in `inline` inline."""
    HostTarget.INLINE = inline
    try:
        jitted = tensorir.jit(lambda *a: fn(*a))
        np.testing.assert_allclose(jitted(*args), fn(*args), rtol=2e-3, atol=1e-6)
        return jitted
    finally:
        HostTarget.INLINE = polymath.NAMES


def interleaved_best(runs: dict, args: list, rounds: int = 15) -> dict[str, float]:
    """Best seconds per call of each run, the runs timed in turn in every round (so a load
    change on the shared machine hits all of them alike)."""
    n, _ = timeit.Timer(lambda: runs["inline"](*args)).autorange()
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for k, run in runs.items():
            best[k] = min(best[k], timeit.timeit(lambda r=run: r(*args), number=n) / n)
    return best


def main() -> None:
    rng = np.random.default_rng(0)
    print("| workload | numpy ms | libmvec ms | inline ms | numpy / libmvec | numpy / inline |")
    print("| --- | --- | --- | --- | --- | --- |")
    cases = [(c, np.float32) for c in CASES] + [(c, np.float64) for c in CASES64]
    for (name, fn, shapes), dtype in cases:
        args = [rng.standard_normal(s).astype(dtype) for s in shapes]
        runs = {
            "numpy": fn,
            "libmvec": compiled(fn, args, frozenset()),
            "inline": compiled(fn, args, polymath.NAMES),
        }
        best = interleaved_best(runs, args)
        t_np, t_mvec, t_in = best["numpy"], best["libmvec"], best["inline"]
        print(
            f"| {name} | {t_np * 1e3:.3f} | {t_mvec * 1e3:.3f} | {t_in * 1e3:.3f} | "
            f"{t_np / t_mvec:.2f}x | {t_np / t_in:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
