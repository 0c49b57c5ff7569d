"""Fused-kernel benchmarks: tensorir on one thread and on all of them (`TENSORIR_NUM_THREADS`,
default every CPU this process may use) vs numpy vs numexpr (one thread), and the bandwidth
tensorir reaches against a STREAM triad measured in the same run on as many threads (numba).
The speedup column sits next to STREAM's own: a memory-bound kernel cannot gain more.

Run: `python benchmarks/kernels.py` (part of `make bench`). Prints a markdown table.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMEXPR_MAX_THREADS", "1")  # one thread for every peer

import timeit  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402

import tensorir  # noqa: E402

try:
    import numexpr as ne

    ne.set_num_threads(1)
except ImportError:  # an optional peer
    ne = None


def best(fn, *args, repeat=7) -> float:
    fn(*args)
    n, _ = timeit.Timer(lambda: fn(*args)).autorange()
    return min(timeit.repeat(lambda: fn(*args), number=n, repeat=repeat)) / n


@numba.njit(cache=False)
def _triad(a, b, c, s):
    for i in range(a.size):
        a[i] = b[i] + s * c[i]


@numba.njit(parallel=True, cache=False)
def _triad_parallel(a, b, c, s):
    for i in numba.prange(a.size):
        a[i] = b[i] + s * c[i]


def stream_gbs(threads: int = 1) -> float:
    """STREAM triad bandwidth on `threads` threads (numba's own pool), GB/s."""
    n = 1 << 25
    a, b, c = (np.ones(n, np.float32) for _ in range(3))
    if threads == 1:
        return 3 * a.nbytes / best(_triad, a, b, c, np.float32(3.0)) / 1e9
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return 3 * a.nbytes / best(_triad_parallel, a, b, c, np.float32(3.0)) / 1e9


def chain(a, b, c):
    return a * b + c * np.exp(-a) - np.sqrt(np.abs(b)) + np.tanh(c)


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def layernorm(x):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5)


def row_norm(x):
    return (x - x.mean(axis=1, keepdims=True)) / x.max(axis=1, keepdims=True)


CASES = [
    # name, function, input shapes, bytes moved at best (inputs read once + output written)
    ("elementwise chain 2^24", chain, [(1 << 24,)] * 3, "a*b + c*exp(-a) - sqrt(abs(b)) + tanh(c)"),
    ("elementwise chain 2^16", chain, [(1 << 16,)] * 3, "a*b + c*exp(-a) - sqrt(abs(b)) + tanh(c)"),
    ("softmax 4096x1024", softmax, [(4096, 1024)], None),
    ("layernorm 4096x1024", layernorm, [(4096, 1024)], None),
    ("row normalization 4096x4096", row_norm, [(4096, 4096)], None),
    ("sum axis=1 4096x4096", lambda x: x.sum(axis=1), [(4096, 4096)], "sum(x, axis=1)"),
    ("sum axis=0 4096x4096", lambda x: x.sum(axis=0), [(4096, 4096)], "sum(x, axis=0)"),
    ("sum all 4096x4096", lambda x: x.sum(), [(4096, 4096)], "sum(x)"),
]


def main() -> None:
    rng = np.random.default_rng(0)
    threads = tensorir.get_num_threads()
    stream1, stream_n = stream_gbs(1), stream_gbs(threads)
    print(
        f"STREAM triad (numba): {stream1:.1f} GB/s on 1 thread, {stream_n:.1f} GB/s on "
        f"{threads} ({stream_n / stream1:.2f}x)\n"
    )
    print(
        f"| workload | numpy ms | numexpr ms | tensorir 1 thread ms | {threads} threads ms | "
        f"speedup | numpy/tensorir | GB/s | of STREAM |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, fn, shapes, expr in CASES:
        args = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        ours = tensorir.jit(fn)
        np.testing.assert_allclose(ours(*args), fn(*args), rtol=2e-3, atol=2e-3)
        t_one, t_ours = float("inf"), float("inf")
        for _ in range(3):  # alternated, so a noisy neighbour hits both columns alike
            tensorir.set_num_threads(1)
            t_one = min(t_one, best(ours, *args, repeat=3))
            tensorir.set_num_threads(threads)
            t_ours = min(t_ours, best(ours, *args, repeat=3))
        t_np = best(fn, *args)
        t_ne = float("nan")
        if ne is not None and expr is not None:
            names = dict(zip("abc" if len(args) == 3 else "x", args, strict=False))
            t_ne = best(lambda e=expr, d=names: ne.evaluate(e, local_dict=d))
        moved = sum(a.nbytes for a in args) + ours(*args).nbytes
        gbs = moved / t_ours / 1e9
        print(
            f"| {name} | {t_np * 1e3:.3f} | {t_ne * 1e3:.3f} | {t_one * 1e3:.3f} | "
            f"{t_ours * 1e3:.3f} | {t_one / t_ours:.2f}x | {t_np / t_ours:.2f}x | {gbs:.1f} | "
            f"{gbs / stream_n:.0%} |"
        )
    reused_output(rng)


def reused_output(rng) -> None:
    """The chain 2^24 into a fresh output every call (numpy's way) and into one reused through
    `out=`: a fresh 64 MiB array costs its page faults on every call."""
    args = [rng.standard_normal(1 << 24).astype(np.float32) for _ in range(3)]
    ours = tensorir.jit(chain)
    out = np.empty_like(args[0])
    np.testing.assert_allclose(ours(*args, out=out), chain(*args), rtol=2e-3, atol=2e-3)
    t_np, t_fresh = best(chain, *args), best(ours, *args)
    t_out = best(lambda: ours(*args, out=out))
    print(
        f"\nchain 2^24, {tensorir.get_num_threads()} threads: numpy {t_np * 1e3:.1f} ms, "
        f"tensorir fresh output {t_fresh * 1e3:.1f} ms ({t_np / t_fresh:.2f}x), "
        f"out= reused {t_out * 1e3:.1f} ms ({t_np / t_out:.2f}x)"
    )


if __name__ == "__main__":
    main()
