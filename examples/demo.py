"""The tensorir showcase: a real numpy function, jitted, its IR at each stage, checked, timed."""

import time

import numpy as np

import tensorir


@tensorir.jit
def layer(x, w, b):
    h = np.maximum(x @ w + b, 0.0)
    return (h - h.mean(axis=1, keepdims=True)) / (h.std(axis=1, keepdims=True) + 1e-5)


def best_of(fn, *args, repeat=50):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32)).astype(np.float32)
    w = rng.standard_normal((32, 16)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)

    t0 = time.perf_counter()
    got = layer(x, w, b)
    compile_s = time.perf_counter() - t0
    want = layer.__wrapped__(x, w, b)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)

    lowered = layer.lower(x, w, b)
    print("=== traced tensor IR (MLIR generic syntax) ===")
    print(lowered.as_text())
    generic = lowered.as_text("generic").splitlines()
    print(f"\n=== after generalize: {len(generic)} lines of tir.generic loops; the first 25 ===")
    print("\n".join(generic[:25]))
    llvm_ir = lowered.as_text("llvm").splitlines()
    print(f"\n=== optimized LLVM IR that runs: {len(llvm_ir)} lines; the first 25 ===")
    print("\n".join(llvm_ir[:25]))

    t_ours = best_of(layer, x, w, b)
    t_numpy = best_of(layer.__wrapped__, x, w, b)
    print("\n=== result ===")
    print(f"matches numpy (rtol 1e-4): yes; first compile {compile_s * 1e3:.0f} ms")
    print(
        f"tensorir {t_ours * 1e6:.1f} us   numpy {t_numpy * 1e6:.1f} us   "
        f"speedup {t_numpy / t_ours:.2f}x"
    )
    print(f"memory plan: {lowered.memory_stats()}")


if __name__ == "__main__":
    main()
