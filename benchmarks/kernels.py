"""Fused-kernel benchmarks: tensorir on one thread and on all of them (`TENSORIR_NUM_THREADS`,
default every CPU this process may use) vs numpy, numexpr (one thread) and numba
(`parallel=True`, as many threads), and the bandwidth
tensorir reaches against a STREAM triad measured in the same run on as many threads (numba).
The speedup column sits next to STREAM's own: a memory-bound kernel cannot gain more.

Optional peers, each where importable (`make bench-peers` installs them; never test
dependencies): JAX (`jax.jit`) and PyTorch (eager and `torch.compile`), on 1 and as many threads,
the same programs written op for op with their ops. PyTorch runs in this process
(`torch.set_num_threads`). XLA sizes its thread pools by the CPUs the process may use when JAX
starts, so JAX runs in two worker processes that time a case when asked, in turn with the other
columns: each starts JAX limited to as many CPUs as its threads (`sched_setaffinity`, as
`taskset` does), then lifts the limit so its threads run on whichever CPU is free, as the other
columns' threads do. The one-thread worker also gets `XLA_FLAGS="--xla_cpu_multi_thread_eigen=
false intra_op_parallelism_threads=1"`, but those flags alone do not make XLA:CPU serial: on two
CPUs its runtime still ran parts of a fusion on two threads at once (CPU time 1.9x wall time).

Run: `python benchmarks/kernels.py` (part of `make bench`). Prints a markdown table.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMEXPR_MAX_THREADS", "1")  # one thread for every peer

import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
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


def case_inputs(i: int) -> list[np.ndarray]:
    """The inputs of CASES[i], the same in every process."""
    rng = np.random.default_rng(i)
    return [rng.standard_normal(s).astype(np.float32) for s in CASES[i][2]]


def check(got, args, fn) -> None:
    """A peer's result against numpy's, once before timing."""
    np.testing.assert_allclose(np.asarray(got), fn(*args), rtol=2e-3, atol=2e-2)


# Optional peers: the programs of CASES written with JAX's and PyTorch's ops, op for op
def jax_versions(jnp) -> list:
    def chain_j(a, b, c):
        return a * b + c * jnp.exp(-a) - jnp.sqrt(jnp.abs(b)) + jnp.tanh(c)

    def softmax_j(x):
        e = jnp.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def layernorm_j(x):
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
        return (x - mu) / jnp.sqrt(var + 1e-5)

    def row_norm_j(x):
        return (x - x.mean(axis=1, keepdims=True)) / x.max(axis=1, keepdims=True)

    return [chain_j, chain_j, softmax_j, layernorm_j, row_norm_j,
            lambda x: x.sum(axis=1), lambda x: x.sum(axis=0), lambda x: x.sum()]  # fmt: skip


def torch_versions(torch) -> list:
    def chain_t(a, b, c):
        return a * b + c * torch.exp(-a) - torch.sqrt(torch.abs(b)) + torch.tanh(c)

    def softmax_t(x):
        e = torch.exp(x - x.amax(dim=-1, keepdim=True))
        return e / e.sum(dim=-1, keepdim=True)

    def layernorm_t(x):
        mu = x.mean(dim=-1, keepdim=True)
        var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5)

    def row_norm_t(x):
        return (x - x.mean(dim=1, keepdim=True)) / x.amax(dim=1, keepdim=True)

    return [chain_t, chain_t, softmax_t, layernorm_t, row_norm_t,
            lambda x: x.sum(dim=1), lambda x: x.sum(dim=0), lambda x: x.sum()]  # fmt: skip


JAX_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def jax_worker(threads: int) -> None:
    """`kernels.py --jax-worker N`: reads case indices from stdin, answers with JSON lines
    [seconds per call, process CPU time / wall time while timing]."""
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, sorted(cpus)[-threads:])  # XLA sizes its pools by it
    import jax
    import jax.numpy as jnp

    jax.devices()  # starts the CPU client and its pools
    for task in os.listdir("/proc/self/task"):  # then every thread may run on any CPU
        os.sched_setaffinity(int(task), cpus)
    fns, current = jax_versions(jnp), {}
    for line in sys.stdin:
        i = int(line)
        if i not in current:
            args = case_inputs(i)
            jf, jargs = jax.jit(fns[i]), [jax.device_put(a) for a in args]
            check(jf(*jargs), args, CASES[i][1])
            current = {i: lambda jf=jf, jargs=jargs: jf(*jargs).block_until_ready()}
        cpu, wall = time.process_time(), time.perf_counter()
        t = best(current[i], repeat=3)
        load = (time.process_time() - cpu) / (time.perf_counter() - wall)
        print(json.dumps([t, load]), flush=True)


class JaxWorker:
    """JAX in a worker process whose thread count was fixed before JAX was imported."""

    def __init__(self, threads: int):
        env = dict(os.environ)
        if threads == 1:
            env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {JAX_ONE_THREAD}".strip()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--jax-worker", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def time(self, i: int) -> tuple[float, float]:
        self.proc.stdin.write(f"{i}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the JAX worker stopped (its error is above)")
        t, load = json.loads(line)
        return t, load

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


class JaxPeer:
    name = "JAX jit"

    def __init__(self, threads: int):
        self.workers = {n: JaxWorker(n) for n in sorted({1, threads})}

    def prepare(self, i: int, args) -> None:
        pass  # each worker builds, compiles and checks case i when first asked to time it

    def time(self, i: int, threads: int) -> tuple[float, float]:
        return self.workers[threads].time(i)

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()


class TorchPeer:
    """PyTorch eager or `torch.compile` in this process, on `torch.set_num_threads(n)`."""

    def __init__(self, torch, threads: int, compiled: bool):
        self.name = "torch.compile" if compiled else "torch eager"
        self.torch, self.compiled, self.counts = torch, compiled, sorted({1, threads})
        self.fns = torch_versions(torch)

    def prepare(self, i: int, args) -> None:
        self.args = [self.torch.from_numpy(a) for a in args]
        self.fn = self.fns[i]
        if self.compiled:  # dynamo compiles once per thread count (a guard); both stay cached
            self.fn = self.torch.compile(self.fn, dynamic=False)
        for n in self.counts:  # checks, and warms torch.compile up on each thread count
            self.torch.set_num_threads(n)
            check(self.fn(*self.args), args, CASES[i][1])

    def time(self, i: int, threads: int) -> tuple[float, float]:
        self.torch.set_num_threads(threads)
        cpu, wall = time.process_time(), time.perf_counter()
        t = best(self.fn, *self.args, repeat=3)
        return t, (time.process_time() - cpu) / (time.perf_counter() - wall)

    def close(self) -> None:
        self.torch.set_num_threads(max(self.counts))


def optional_peers(threads: int) -> list:
    """JAX jit, torch eager and torch.compile, those that are importable."""
    peers = []
    if importlib.util.find_spec("jax") is not None:
        peers.append(JaxPeer(threads))
    try:
        import torch
    except ImportError:
        return peers
    return peers + [TorchPeer(torch, threads, False), TorchPeer(torch, threads, True)]


def main() -> None:
    threads = tensorir.get_num_threads()
    counts = sorted({1, threads})
    peers = optional_peers(threads)
    stream1, stream_n = stream_gbs(1), stream_gbs(threads)
    print(
        f"STREAM triad (numba): {stream1:.1f} GB/s on 1 thread, {stream_n:.1f} GB/s on "
        f"{threads} ({stream_n / stream1:.2f}x)\n"
    )
    on = " / ".join(map(str, counts))
    print(
        f"| workload | numpy ms | numexpr ms | numba parallel, {threads} threads ms | "
        f"tensorir 1 thread ms | {threads} threads ms | speedup | numpy/tensorir | "
        f"numpy/numba | GB/s | of STREAM |"
        + "".join(f" {p.name} ms, {on} threads | {p.name} / tensorir, {on} |" for p in peers)
    )
    print("|" + " --- |" * (11 + 2 * len(peers)))
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    load = {}  # CPU time / wall time while timing a peer, the most seen
    for i, (name, fn, _shapes, expr, nb) in enumerate(CASES):
        args = case_inputs(i)
        ours = tensorir.jit(fn)
        np.testing.assert_allclose(ours(*args), fn(*args), rtol=2e-3, atol=2e-3)
        for p in peers:
            p.prepare(i, args)
        t_one, t_ours = float("inf"), float("inf")
        t_peer = {(p.name, n): float("inf") for p in peers for n in counts}
        for _ in range(3):  # alternated, so a noisy neighbour hits every column alike
            tensorir.set_num_threads(1)
            t_one = min(t_one, best(ours, *args, repeat=3))
            tensorir.set_num_threads(threads)
            t_ours = min(t_ours, best(ours, *args, repeat=3))
            for p in peers:
                for n in counts:
                    t, cpu = p.time(i, n)
                    t_peer[p.name, n] = min(t_peer[p.name, n], t)
                    load[p.name, n] = max(load.get((p.name, n), 0.0), cpu)
        t_np = best(fn, *args)
        t_ne = float("nan")
        if ne is not None and expr is not None:
            names = dict(zip("abc" if len(args) == 3 else "x", args, strict=False))
            t_ne = best(lambda e=expr, d=names: ne.evaluate(e, local_dict=d))
        np.testing.assert_allclose(nb(*args), fn(*args), rtol=2e-3, atol=2e-2)
        t_nb = best(nb, *args)
        moved = sum(a.nbytes for a in args) + ours(*args).nbytes
        gbs = moved / t_ours / 1e9
        ours_on = {1: t_one, threads: t_ours}
        cells = "".join(
            " "
            + " / ".join(f"{t_peer[p.name, n] * 1e3:.3f}" for n in counts)
            + " | "
            + " / ".join(f"{t_peer[p.name, n] / ours_on[n]:.2f}x" for n in counts)
            + " |"
            for p in peers
        )
        print(
            f"| {name} | {t_np * 1e3:.3f} | {t_ne * 1e3:.3f} | {t_nb * 1e3:.3f} | "
            f"{t_one * 1e3:.3f} | {t_ours * 1e3:.3f} | {t_one / t_ours:.2f}x | "
            f"{t_np / t_ours:.2f}x | {t_np / t_nb:.2f}x | {gbs:.1f} | {gbs / stream_n:.0%} |"
            + cells
        )
    for p in peers:
        p.close()
    if peers:
        print(
            "\nCPU time / wall time while timing, the most over the cases (threads kept busy): "
            + ", ".join(f"{name} on {n}: {cpu:.2f}" for (name, n), cpu in load.items())
        )
        print(peer_versions())
    reused_output(np.random.default_rng(len(CASES)))


def peer_versions() -> str:
    out = []
    for package in ("jax", "jaxlib", "torch"):
        if importlib.util.find_spec(package) is not None:
            out.append(f"{package} {importlib.metadata.version(package)}")
    return "Peers: " + ", ".join(out)


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
    if sys.argv[1:2] == ["--jax-worker"]:
        jax_worker(int(sys.argv[2]))
    else:
        main()
