"""The multicore runtime: results match numpy on 1 and 2 threads, whatever the sizes, layouts and
reduction axes; small kernels stay serial; concurrent and forked callers are safe.

Most tests lower the cost model's thresholds (`parallel.MIN_WORK`, `MIN_CHUNK_WORK`) so that even
a 7-element loop is split into many chunks: remainders and chunk boundaries get exercised on
sizes that run in microseconds. Two threads run on any machine, one core included.
"""

import ctypes
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from programs import layernorm, softmax

import tensorir
from tensorir.ir import Builder, Function
from tensorir.ir import types as T
from tensorir.lower_llvm import parallel, parallel_runtime
from tensorir.lower_llvm.codegen import lower_function
from tensorir.lower_llvm.engine import _engine, _lock, optimize
from tensorir.passes.manager import PassManager

SIZES = [1, 7, 31, 33, 1023, 1025]


@pytest.fixture
def split_everything(monkeypatch):
    """Every loop with a parallel dim runs as chunks of a few indices."""
    monkeypatch.setattr(parallel, "MIN_WORK", 0)
    monkeypatch.setattr(parallel, "MIN_CHUNK_WORK", 1)


@pytest.fixture
def threads():
    """Set the thread count for one test; restores the previous count."""
    old = tensorir.get_num_threads()
    yield tensorir.set_num_threads
    tensorir.set_num_threads(old)


def on_threads(f, *args, set_threads):
    """f(*args) on 1 thread and on 2, checked equal to each other; returns the 2-thread result."""
    set_threads(1)
    one = f(*args)
    set_threads(2)
    before = parallel_runtime.parallel_dispatches()
    two = f(*args)
    np.testing.assert_array_equal(one, two)
    return two, parallel_runtime.parallel_dispatches() - before


def chain(a, b, c):
    return a * b + c * np.exp(-a) - np.sqrt(np.abs(b)) + np.tanh(c)


@pytest.mark.parametrize("n", SIZES)
def test_elementwise_sizes(n, split_everything, threads):
    rng = np.random.default_rng(n)
    a, b, c = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    got, dispatches = on_threads(tensorir.jit(chain), a, b, c, set_threads=threads)
    np.testing.assert_allclose(got, chain(a, b, c), rtol=2e-6, atol=1e-6)
    # chunks of a contiguous loop are whole vectors: a shorter loop is one chunk, wakes nobody
    assert dispatches == (1 if n > parallel.VECTOR_ALIGN else 0)


@pytest.mark.parametrize("shape", [(1, 1025), (7, 33), (1023, 31), (33, 7, 31)])
@pytest.mark.parametrize("op", ["sum", "max", "mean"])
def test_reductions_along_each_axis(shape, op, split_everything, threads):
    x = np.random.default_rng(len(shape)).standard_normal(shape)
    for axis in [*range(len(shape)), None]:
        f = tensorir.jit(lambda x, axis=axis: getattr(x, op)(axis=axis))
        got, _ = on_threads(f, x, set_threads=threads)
        np.testing.assert_allclose(got, getattr(x, op)(axis=axis), rtol=1e-12, atol=1e-12)


def test_sum_over_axis_0_splits_columns(split_everything, threads):
    """The reduction loop is outside (rows are contiguous): chunks are blocks of columns, each
    with its own scratch accumulators."""
    x = np.random.default_rng(0).random((1025, 33), dtype=np.float32)
    f = tensorir.jit(lambda x: x.sum(axis=0))
    got, dispatches = on_threads(f, x, set_threads=threads)
    np.testing.assert_allclose(got, x.sum(axis=0), rtol=1e-5)
    assert dispatches == 1


@pytest.mark.parametrize(
    "fn",
    [np.sum, np.max, np.min, np.any, np.all, lambda x: np.mean(x, axis=-1), lambda x: x.std()],
    ids=["sum", "max", "min", "any", "all", "mean", "std"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.uint8, np.bool_])
def test_reductions_without_a_parallel_dim_split_into_parts(fn, dtype, threads):
    """A full reduction (or one with a few short parallel dims) folds fixed parts of its
    reduction dim from the combiner's identity; the caller combines them in order, so the
    result is the same on any thread count."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (3, 1 << 17)).astype(dtype)
    if dtype == np.float32:
        x = rng.standard_normal((3, 1 << 17)).astype(dtype)
    if dtype == np.bool_ and fn in (np.any, np.all):
        x[:] = fn is np.all  # the identity's case: any of all-False, all of all-True
        x[1, 1000] = fn is np.any
    f = tensorir.jit(fn)
    assert ".part" in f.lower(x).as_text("llvm-unoptimized")
    got, dispatches = on_threads(f, x, set_threads=threads)
    np.testing.assert_allclose(got, fn(x), rtol=1e-5)
    assert dispatches >= 1  # std reduces twice


@pytest.mark.parametrize("n", [31, 1025])
def test_non_contiguous_inputs(n, split_everything, threads):
    x = np.random.default_rng(1).standard_normal((n, 2 * n))
    f = tensorir.jit(lambda a, b: np.maximum(a, 0.0) * b + 1.0)
    a, b = x[:, ::2], x[::-1, 1::2].T.copy().T  # a strided view; b transposed twice (Fortran)
    got, _ = on_threads(f, a, b, set_threads=threads)
    np.testing.assert_allclose(got, np.maximum(a, 0.0) * b + 1.0)
    got, _ = on_threads(tensorir.jit(lambda a: a.sum(axis=1)), x.T, set_threads=threads)
    np.testing.assert_allclose(got, x.T.sum(axis=1))


@pytest.mark.parametrize("program", [softmax, layernorm])
def test_fused_programs(program, split_everything, threads):
    x = np.random.default_rng(2).standard_normal((33, 1025)).astype(np.float32)
    args = (x,) if program is softmax else (x, x[0], x[1])
    got, _ = on_threads(tensorir.jit(program), *args, set_threads=threads)
    np.testing.assert_allclose(got, program(*args), rtol=2e-5, atol=2e-6)


def test_workspace_intermediates(split_everything, threads):
    """Intermediates in the cached workspace are shared by all chunks of a loop."""
    x = np.random.default_rng(3).standard_normal((31, 1023))

    def f(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).T @ np.ones(31) + e.sum(axis=0)

    got, _ = on_threads(tensorir.jit(f), x, set_threads=threads)
    np.testing.assert_allclose(got, f(x), rtol=1e-12)


def test_small_kernels_stay_serial(threads):
    """Below the cost model's threshold no loop is outlined: the LLVM IR never mentions the
    pool, so a tiny call pays nothing; a large one calls it."""
    small = [np.ones(1 << 10, np.float32)] * 3
    f = tensorir.jit(chain)
    assert parallel_runtime.SYMBOL not in f.lower(*small).as_text("llvm")
    large = [np.ones(1 << 20, np.float32)] * 3
    assert parallel_runtime.SYMBOL in f.lower(*large).as_text("llvm")
    threads(2)
    before = parallel_runtime.parallel_dispatches()
    f(*small)
    assert parallel_runtime.parallel_dispatches() == before
    np.testing.assert_allclose(f(*large), chain(*large), rtol=1e-6)
    assert parallel_runtime.parallel_dispatches() == before + 1


def test_standalone_code_never_calls_the_pool():
    """Code for a shared library (no BLAS) stays serial: the pool only exists in this process."""
    t = T.TensorType((1 << 20,), T.f64)
    f = Function("f", [t], [t])
    b = Builder.at_end(f.body)
    b.create("func.return", [b.op("tir.exp", f.args[0])])
    g = PassManager("generalize").run(tensorir.ir.Module([f])).functions[0]
    assert parallel_runtime.SYMBOL in str(lower_function(g, "p", [True]).module)
    assert parallel_runtime.SYMBOL not in str(
        lower_function(g, "s", [True], "kernel", threads=False).module
    )


def test_index_error_inside_a_parallel_loop(split_everything, threads):
    f = tensorir.jit(lambda x, i: x[i] * 2.0)
    x = np.arange(1025.0)
    i = np.arange(1025) % 1000
    threads(2)
    np.testing.assert_array_equal(f(x, i), x[i] * 2.0)
    i[700] = 5000
    with pytest.raises(IndexError, match="test_parallel.py"):
        f(x, i)


def test_concurrent_calls_from_python_threads(threads):
    """Eight Python threads call parallel kernels at once: one gets the pool, the others run
    their loops themselves; nobody waits on anybody, every result is the one a lone call gives."""
    threads(2)
    f = tensorir.jit(lambda x: np.tanh(x) * 2.0 + x.sum(axis=0))
    inputs = [np.random.default_rng(k).standard_normal((512, 1024)) for k in range(8)]
    alone = [f(x) for x in inputs]
    for x, r in zip(inputs, alone, strict=True):
        np.testing.assert_allclose(r, np.tanh(x) * 2.0 + x.sum(axis=0), rtol=1e-12, atol=1e-12)
    mismatches = []

    def work(k):
        for _ in range(20):
            if not np.array_equal(f(inputs[k]), alone[k]):
                mismatches.append(k)

    pool = [threading.Thread(target=work, args=(k,)) for k in range(len(inputs))]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in pool)
    assert mismatches == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")  # the case under test
def test_forked_child_starts_its_own_workers(threads):
    threads(2)
    f = tensorir.jit(lambda x: np.sqrt(x) + 1.0)
    x = np.arange(1 << 20, dtype=np.float64)
    np.testing.assert_allclose(f(x), np.sqrt(x) + 1.0)  # the parent's workers are running
    pid = os.fork()
    if pid == 0:  # the child: no worker survived the fork; the pool starts new ones
        ok = np.allclose(f(x), np.sqrt(x) + 1.0) and parallel_runtime.get_num_threads() == 2
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


_NESTED = r"""
declare void @tensorir_parallel_for(ptr, ptr, i64, i64, i64, i64)

define internal void @inc(ptr %a, i64 %lo, i64 %hi) {
entry:
  br label %head
head:
  %i = phi i64 [ %lo, %entry ], [ %next, %body ]
  %more = icmp slt i64 %i, %hi
  br i1 %more, label %body, label %done
body:
  %p = getelementptr i64, ptr %a, i64 %i
  %v = load i64, ptr %p
  %v1 = add i64 %v, 1
  store i64 %v1, ptr %p
  %next = add i64 %i, 1
  br label %head
done:
  ret void
}

; each chunk of the outer loop runs a parallel loop over its own row of 64
define internal void @rows(ptr %a, i64 %lo, i64 %hi) {
entry:
  br label %head
head:
  %r = phi i64 [ %lo, %entry ], [ %next, %body ]
  %more = icmp slt i64 %r, %hi
  br i1 %more, label %body, label %done
body:
  %off = mul i64 %r, 64
  %row = getelementptr i64, ptr %a, i64 %off
  call void @tensorir_parallel_for(ptr @inc, ptr %row, i64 64, i64 1, i64 1, i64 4)
  %next = add i64 %r, 1
  br label %head
done:
  ret void
}

define void @nested_loops(ptr %a, i64 %rows) {
  call void @tensorir_parallel_for(ptr @rows, ptr %a, i64 %rows, i64 1, i64 1, i64 4)
  ret void
}
"""


def test_nested_parallel_loops_run_inline(threads):
    """A loop started from inside a parallel loop finds the pool taken and runs in the thread
    that started it: no deadlock, every element visited once."""
    parallel_runtime.pool()
    threads(2)
    with _lock:
        engine = _engine()
        engine.add_module(optimize(_NESTED))
        engine.finalize_object()
        addr = engine.get_function_address("nested_loops")
    nested = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64)(addr)
    a = np.zeros((33, 64), np.int64)
    for _ in range(10):
        nested(a.ctypes.data, 33)
    np.testing.assert_array_equal(a, 10)


def test_thread_count_from_the_environment():
    code = "import tensorir; print(tensorir.get_num_threads())"
    env = {**os.environ, "TENSORIR_NUM_THREADS": "3"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "3", out.stderr


def test_set_num_threads_rejects_zero():
    with pytest.raises(ValueError, match="at least 1"):
        tensorir.set_num_threads(0)
