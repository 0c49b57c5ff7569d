"""Fused-kernel benchmarks: tensorir on one thread and on all of them (`TENSORIR_NUM_THREADS`,
default every CPU this process may use) vs numpy, numexpr (one thread) and numba
(`parallel=True`, as many threads), and the bandwidth
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


# numba peers with parallel=True, written as a numba user would: a prange over rows or elements
@numba.njit(parallel=True, cache=False)
def _chain_nb(a, b, c):
    out = np.empty_like(a)
    for i in numba.prange(a.size):
        out[i] = a[i] * b[i] + c[i] * np.exp(-a[i]) - np.sqrt(np.abs(b[i])) + np.tanh(c[i])
    return out


@numba.njit(parallel=True, cache=False)
def _softmax_nb(x):
    out = np.empty_like(x)
    for i in numba.prange(x.shape[0]):
        e = np.exp(x[i] - x[i].max())
        out[i] = e / e.sum()
    return out


@numba.njit(parallel=True, cache=False)
def _layernorm_nb(x):
    out = np.empty_like(x)
    for i in numba.prange(x.shape[0]):
        mu = x[i].mean()
        d = x[i] - mu
        out[i] = d / np.sqrt((d * d).mean() + np.float32(1e-5))
    return out


@numba.njit(parallel=True, cache=False)
def _row_norm_nb(x):
    out = np.empty_like(x)
    for i in numba.prange(x.shape[0]):
        out[i] = (x[i] - x[i].mean()) / x[i].max()
    return out


@numba.njit(parallel=True, cache=False)
def _sum_rows_nb(x):
    out = np.empty(x.shape[0], x.dtype)
    for i in numba.prange(x.shape[0]):
        out[i] = x[i].sum()
    return out


@numba.njit(parallel=True, cache=False)
def _sum_cols_nb(x):
    out = np.zeros(x.shape[1], x.dtype)
    for j in numba.prange(x.shape[1]):
        s = np.float32(0)
        for i in range(x.shape[0]):
            s += x[i, j]
        out[j] = s
    return out


@numba.njit(parallel=True, cache=False)
def _sum_all_nb(x):
    s = np.float32(0)
    for i in numba.prange(x.shape[0]):
        s += x[i].sum()
    return s


CHAIN = "a*b + c*exp(-a) - sqrt(abs(b)) + tanh(c)"
SQUARE = (4096, 4096)
CASES = [
    # name, function, input shapes, numexpr expression, numba peer
    ("elementwise chain 2^24", chain, [(1 << 24,)] * 3, CHAIN, _chain_nb),
    ("elementwise chain 2^16", chain, [(1 << 16,)] * 3, CHAIN, _chain_nb),
    ("softmax 4096x1024", softmax, [(4096, 1024)], None, _softmax_nb),
    ("layernorm 4096x1024", layernorm, [(4096, 1024)], None, _layernorm_nb),
    ("row normalization 4096x4096", row_norm, [(4096, 4096)], None, _row_norm_nb),
    ("sum axis=1 4096x4096", lambda x: x.sum(axis=1), [SQUARE], "sum(x, axis=1)", _sum_rows_nb),
    ("sum axis=0 4096x4096", lambda x: x.sum(axis=0), [SQUARE], "sum(x, axis=0)", _sum_cols_nb),
    ("sum all 4096x4096", lambda x: x.sum(), [SQUARE], "sum(x)", _sum_all_nb),
]  # fmt: skip


def main() -> None:
    rng = np.random.default_rng(0)
    threads = tensorir.get_num_threads()
    stream1, stream_n = stream_gbs(1), stream_gbs(threads)
    print(
        f"STREAM triad (numba): {stream1:.1f} GB/s on 1 thread, {stream_n:.1f} GB/s on "
        f"{threads} ({stream_n / stream1:.2f}x)\n"
    )
    print(
        f"| workload | numpy ms | numexpr ms | numba parallel, {threads} threads ms | "
        f"tensorir 1 thread ms | {threads} threads ms | speedup | numpy/tensorir | "
        f"numpy/numba | GB/s | of STREAM |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    for name, fn, shapes, expr, nb in CASES:
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
        np.testing.assert_allclose(nb(*args), fn(*args), rtol=2e-3, atol=2e-2)
        t_nb = best(nb, *args)
        moved = sum(a.nbytes for a in args) + ours(*args).nbytes
        gbs = moved / t_ours / 1e9
        print(
            f"| {name} | {t_np * 1e3:.3f} | {t_ne * 1e3:.3f} | {t_nb * 1e3:.3f} | "
            f"{t_one * 1e3:.3f} | {t_ours * 1e3:.3f} | {t_one / t_ours:.2f}x | "
            f"{t_np / t_ours:.2f}x | {t_np / t_nb:.2f}x | {gbs:.1f} | {gbs / stream_n:.0%} |"
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
