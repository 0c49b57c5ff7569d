"""One SGD step (forward + backward + update) of a 784 -> 256 -> 10 MLP with softmax
cross-entropy, batch 256, float32: tensorir (`jit` of `grad`) against numpy with hand-written
gradients of the same math, and JAX (`jit` of `grad`) and PyTorch (eager autograd, and
`torch.compile` of the whole step through `torch.func.grad`) where they are installed
(`make bench-peers`). Each result is checked against numpy's before timing. Prints a markdown table.

Run: `python benchmarks/sgd_step.py --threads N`. The thread count is fixed before anything is
imported: the process is limited to N CPUs (`sched_setaffinity`, as `taskset` does; XLA sizes
its pools by it), and `TENSORIR_NUM_THREADS`, `OPENBLAS_NUM_THREADS` (numpy's BLAS),
`OMP_NUM_THREADS` and `MKL_NUM_THREADS` (PyTorch, with `torch.set_num_threads`) are set, and on
one thread `XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"` (JAX;
those flags alone left XLA:CPU running work on two threads at once). Without `--threads` each
library keeps its own default.
The implementations are timed in turn, three rounds, best of each, so a noisy neighbour hits
them alike: the ratios measured side by side are the figures to read. The last column, process
CPU time over wall time while timing (the most of the rounds), shows how many threads worked.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import timeit

if __name__ == "__main__":
    _cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _cli.add_argument("--threads", type=int, help="for every library (default: each its own)")
    THREADS = _cli.parse_args().threads
    if THREADS is not None:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[-THREADS:])
        for _var in (
            "TENSORIR_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
        ):
            os.environ[_var] = str(THREADS)
    if THREADS == 1:
        _xla = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_xla}".strip()
else:
    THREADS = None

import numpy as np  # noqa: E402

import tensorir  # noqa: E402

BATCH, N_IN, N_HIDDEN, N_OUT, LR = 256, 784, 256, 10, 0.1


def loss(params, x, onehot):
    """Mean softmax cross-entropy of a ReLU MLP."""
    h = np.maximum(x @ params["w1"] + params["b1"], 0.0)
    logits = h @ params["w2"] + params["b2"]
    m = tensorir.stop_gradient(np.max(logits, axis=1, keepdims=True))
    z = logits - m
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.sum(onehot * logp) / x.shape[0]


@tensorir.jit
def tensorir_step(params, x, onehot):
    g = tensorir.grad(loss)(params, x, onehot)
    return {k: params[k] - np.float32(LR) * g[k] for k in params}


def numpy_step(params, x, onehot):
    """The same step with the gradients written by hand."""
    w1, b1, w2, b2 = params["w1"], params["b1"], params["w2"], params["b2"]
    a = x @ w1 + b1
    h = np.maximum(a, 0.0)
    logits = h @ w2 + b2
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    dlogits = (p - onehot) / np.float32(x.shape[0])
    dh = (dlogits @ w2.T) * (a > 0)
    grads = {"w1": x.T @ dh, "b1": dh.sum(axis=0), "w2": h.T @ dlogits, "b2": dlogits.sum(axis=0)}
    return {k: params[k] - np.float32(LR) * grads[k] for k in params}


def per_call(fn, *args, repeat: int = 5) -> float:
    """Best-of-`repeat` seconds per call."""
    timer = timeit.Timer(lambda: fn(*args))
    n, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=max(n, 1))) / max(n, 1)


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {
        "w1": (rng.standard_normal((N_IN, N_HIDDEN)) * 0.05).astype(np.float32),
        "b1": np.zeros(N_HIDDEN, np.float32),
        "w2": (rng.standard_normal((N_HIDDEN, N_OUT)) * 0.05).astype(np.float32),
        "b2": np.zeros(N_OUT, np.float32),
    }
    x = rng.standard_normal((BATCH, N_IN)).astype(np.float32)
    onehot = np.eye(N_OUT, dtype=np.float32)[rng.integers(0, N_OUT, BATCH)]
    return params, x, onehot


def optional_rows(params, x, onehot, want) -> list[tuple[str, object]]:
    """JAX and PyTorch, when importable (never test dependencies); each result checked against
    numpy's (`want`) before timing."""
    rows = []
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        jax = None
    if jax is not None:

        def jloss(p, x, y):
            h = jnp.maximum(x @ p["w1"] + p["b1"], 0.0)
            return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(h @ p["w2"] + p["b2"]), axis=1))

        @jax.jit
        def jstep(p, x, y):
            g = jax.grad(jloss)(p, x, y)
            return {k: p[k] - LR * g[k] for k in p}

        jp = {k: jnp.asarray(v) for k, v in params.items()}
        jx, jy = jnp.asarray(x), jnp.asarray(onehot)
        close(jstep(jp, jx, jy), want)
        rows.append(("JAX jit(grad)", lambda: jax.block_until_ready(jstep(jp, jx, jy))))
    try:
        import torch
    except ImportError:
        return rows
    if THREADS is not None:
        torch.set_num_threads(THREADS)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tx, ty = torch.tensor(x), torch.tensor(onehot)

    def tstep():
        h = torch.relu(tx @ tp["w1"] + tp["b1"])
        out = -(ty * torch.log_softmax(h @ tp["w2"] + tp["b2"], dim=1)).sum(1).mean()
        gs = torch.autograd.grad(out, list(tp.values()))
        with torch.no_grad():
            return {k: v - LR * g for (k, v), g in zip(tp.items(), gs, strict=True)}

    close(tstep(), want)
    rows.append(("PyTorch eager (autograd)", tstep))

    def tloss(p, x, y):
        h = torch.relu(x @ p["w1"] + p["b1"])
        return -(y * torch.log_softmax(h @ p["w2"] + p["b2"], dim=1)).sum(1).mean()

    @torch.compile(fullgraph=True, dynamic=False)
    def cstep(p, x, y):
        g = torch.func.grad(tloss)(p, x, y)
        return {k: p[k] - LR * g[k] for k in p}

    cp = {k: torch.tensor(v) for k, v in params.items()}
    close(cstep(cp, tx, ty), want)  # compiles; the timed calls reuse it
    rows.append(("PyTorch torch.compile(func.grad)", lambda: cstep(cp, tx, ty)))
    return rows


def peer_versions() -> str:
    import importlib.metadata

    found = []
    for package in ("jax", "jaxlib", "torch"):
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return "".join(f", {v}" for v in found)


def close(got: dict, want: dict) -> None:
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-4, atol=1e-6)


def main() -> None:
    params, x, onehot = data()
    want = numpy_step(params, x, onehot)
    close(tensorir_step(params, x, onehot), want)
    rows = [
        ("numpy, hand-written gradients", lambda: numpy_step(params, x, onehot)),
        ("tensorir jit(grad)", lambda: tensorir_step(params, x, onehot)),
    ]
    rows += optional_rows(params, x, onehot, want)
    times, load = [float("inf")] * len(rows), [0.0] * len(rows)
    for _ in range(3):  # in turn, so a noisy neighbour hits every row alike
        for i, (_name, fn) in enumerate(rows):
            cpu, wall = time.process_time(), time.perf_counter()
            times[i] = min(times[i], per_call(fn))
            load[i] = max(load[i], (time.process_time() - cpu) / (time.perf_counter() - wall))
    base = times[0]
    threads = tensorir.get_num_threads()
    versions = peer_versions()
    print(f"SGD step, MLP {N_IN}->{N_HIDDEN}->{N_OUT}, batch {BATCH}, float32")
    print(
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads "
        f"{threads if THREADS is None else THREADS}{versions})"
    )
    print()
    print("| implementation | ms / step | speed vs numpy | CPU time / wall time |")
    print("| --- | ---: | ---: | ---: |")
    for (name, _fn), t, cpu in zip(rows, times, load, strict=True):
        print(f"| {name} | {t * 1e3:.2f} | {base / t:.2f}x | {cpu:.2f} |")


if __name__ == "__main__":
    main()
