"""One SGD step (forward + backward + update) of a 784 -> 256 -> 10 MLP with softmax
cross-entropy, batch 256, float32: tensorir (`jit` of `grad`) against numpy with hand-written
gradients of the same math, and JAX / PyTorch where they are installed. Prints a markdown table.

Run with one thread for the goal of the issue (`OMP_NUM_THREADS=1 python benchmarks/sgd_step.py`);
ratios measured side by side are the figures to read.
"""

from __future__ import annotations

import os
import platform
import timeit

import numpy as np

import tensorir

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


def per_call(fn, *args) -> float:
    """Best-of-7 seconds per call."""
    timer = timeit.Timer(lambda: fn(*args))
    n, _ = timer.autorange()
    return min(timer.repeat(repeat=7, number=max(n, 1))) / max(n, 1)


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


def optional_rows(params, x, onehot) -> list[tuple[str, float]]:
    """JAX and PyTorch, when importable (never test dependencies)."""
    rows = []
    try:
        import jax
        import jax.numpy as jnp

        def jloss(p, x, y):
            h = jnp.maximum(x @ p["w1"] + p["b1"], 0.0)
            return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(h @ p["w2"] + p["b2"]), axis=1))

        @jax.jit
        def jstep(p, x, y):
            g = jax.grad(jloss)(p, x, y)
            return {k: p[k] - LR * g[k] for k in p}

        jp = {k: jnp.asarray(v) for k, v in params.items()}
        jstep(jp, x, onehot)
        rows.append(("JAX jit", per_call(lambda: jax.block_until_ready(jstep(jp, x, onehot)))))
    except ImportError:
        pass
    try:
        import torch

        tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        tx, ty = torch.tensor(x), torch.tensor(onehot)

        def tstep():
            h = torch.relu(tx @ tp["w1"] + tp["b1"])
            out = -(ty * torch.log_softmax(h @ tp["w2"] + tp["b2"], dim=1)).sum(1).mean()
            gs = torch.autograd.grad(out, list(tp.values()))
            with torch.no_grad():
                return {k: v - LR * g for (k, v), g in zip(tp.items(), gs, strict=True)}

        rows.append(("PyTorch eager", per_call(tstep)))
    except ImportError:
        pass
    return rows


def main() -> None:
    params, x, onehot = data()
    ours = tensorir_step(params, x, onehot)
    want = numpy_step(params, x, onehot)
    for k in params:
        np.testing.assert_allclose(ours[k], want[k], rtol=1e-4, atol=1e-6)
    base = per_call(numpy_step, params, x, onehot)
    rows = [("numpy, hand-written gradients", base)]
    rows.append(("tensorir jit(grad)", per_call(tensorir_step, params, x, onehot)))
    rows += optional_rows(params, x, onehot)
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    print(f"SGD step, MLP {N_IN}->{N_HIDDEN}->{N_OUT}, batch {BATCH}, float32")
    print(
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads {threads})"
    )
    print()
    print("| implementation | ms / step | speed vs numpy |")
    print("| --- | ---: | ---: |")
    for name, t in rows:
        print(f"| {name} | {t * 1e3:.2f} | {base / t:.2f}x |")


if __name__ == "__main__":
    main()
