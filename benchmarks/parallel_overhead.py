"""What one parallel loop costs to start and join, per thread runtime: tensorir's pool
(`tensorir/lower_llvm/parallel_runtime.py`), numba's workqueue and OpenMP layers, and GNU
OpenMP's `GOMP_parallel` called directly. Each runs the same loop (add 1 to n int64s) from a
native driver that calls the runtime `reps` times, so no Python sits between calls.

Run: `python benchmarks/parallel_overhead.py [threads]`. Prints a markdown table: microseconds
per call, workers hot (back-to-back calls) and asleep (a call after 20 ms idle, timed through
ctypes, whose own ~1 us is included), and the serial time of the same loop.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys
import time

import llvmlite.binding as llvm
import numpy as np

from tensorir.lower_llvm import parallel_runtime
from tensorir.lower_llvm.engine import _engine, _lock, optimize

_INC = r"""
define internal void @inc(ptr %a, i64 %lo, i64 %hi) {
entry:
  br label %h
h:
  %i = phi i64 [ %lo, %entry ], [ %i1, %b ]
  %c = icmp slt i64 %i, %hi
  br i1 %c, label %b, label %d
b:
  %p = getelementptr i64, ptr %a, i64 %i
  %v = load volatile i64, ptr %p
  %v1 = add i64 %v, 1
  store volatile i64 %v1, ptr %p
  %i1 = add i64 %i, 1
  br label %h
d:
  ret void
}

"""

_NUMBA = r"""
declare void @bench_numba_for(ptr, ptr, ptr, ptr, ptr, i64, i64, i32)

; numba's gufunc-style task: args[0] is this task's part of the array, dims[0] its length
define internal void @inc_numba(ptr %args, ptr %dims, ptr %steps, ptr %data) {
  %a = load ptr, ptr %args
  %n = load i64, ptr %dims
  call void @inc(ptr %a, i64 0, i64 %n)
  ret void
}

define void @drive_numba(ptr %a, i64 %n, i64 %reps, i32 %nt) {
entry:
  %args = alloca ptr
  store ptr %a, ptr %args
  %dims = alloca i64
  store i64 %n, ptr %dims
  %steps = alloca i64
  store i64 8, ptr %steps
  br label %h
h:
  %r = phi i64 [ 0, %entry ], [ %r1, %b ]
  %c = icmp slt i64 %r, %reps
  br i1 %c, label %b, label %d
b:
  call void @bench_numba_for(ptr @inc_numba, ptr %args, ptr %dims, ptr %steps, ptr null,
                             i64 0, i64 1, i32 %nt)
  %r1 = add i64 %r, 1
  br label %h
d:
  ret void
}
"""

_GOMP = r"""
declare void @GOMP_parallel(ptr, ptr, i32, i32)
declare i32 @omp_get_thread_num()
declare i32 @omp_get_num_threads()

; GOMP_parallel runs the function on every thread; each takes its share of [0, n)
define internal void @inc_gomp(ptr %job) {
  %a = load ptr, ptr %job
  %np = getelementptr i64, ptr %job, i64 1
  %n = load i64, ptr %np
  %t32 = call i32 @omp_get_thread_num()
  %k32 = call i32 @omp_get_num_threads()
  %t = zext i32 %t32 to i64
  %k = zext i32 %k32 to i64
  %lo0 = mul i64 %t, %n
  %lo = udiv i64 %lo0, %k
  %t1 = add i64 %t, 1
  %hi0 = mul i64 %t1, %n
  %hi = udiv i64 %hi0, %k
  call void @inc(ptr %a, i64 %lo, i64 %hi)
  ret void
}

define void @drive_gomp(ptr %a, i64 %n, i64 %reps, i32 %nt) {
entry:
  %job = alloca [2 x i64]
  store ptr %a, ptr %job
  %np = getelementptr i64, ptr %job, i64 1
  store i64 %n, ptr %np
  br label %h
h:
  %r = phi i64 [ 0, %entry ], [ %r1, %b ]
  %c = icmp slt i64 %r, %reps
  br i1 %c, label %b, label %d
b:
  call void @GOMP_parallel(ptr @inc_gomp, ptr %job, i32 %nt, i32 0)
  %r1 = add i64 %r, 1
  br label %h
d:
  ret void
}
"""

_OURS = r"""
declare void @tensorir_parallel_for(ptr, ptr, i64, i64, i64, i64)

define void @drive_serial(ptr %a, i64 %n, i64 %reps, i32 %nt) {
entry:
  br label %h
h:
  %r = phi i64 [ 0, %entry ], [ %r1, %b ]
  %c = icmp slt i64 %r, %reps
  br i1 %c, label %b, label %d
b:
  call void @inc(ptr %a, i64 0, i64 %n)
  %r1 = add i64 %r, 1
  br label %h
d:
  ret void
}

define void @drive_tensorir(ptr %a, i64 %n, i64 %reps, i32 %nt) {
entry:
  br label %h
h:
  %r = phi i64 [ 0, %entry ], [ %r1, %b ]
  %c = icmp slt i64 %r, %reps
  br i1 %c, label %b, label %d
b:
  call void @tensorir_parallel_for(ptr @inc, ptr %a, i64 %n, i64 1, i64 1, i64 1)
  %r1 = add i64 %r, 1
  br label %h
d:
  ret void
}
"""

_DRIVE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int32)


def _numba_layer(name: str, threads: int):
    """numba's `parallel_for` of threading layer `name`, its workers started, or None."""
    try:
        if name == "workqueue":
            from numba.np.ufunc import workqueue as lib
        else:
            from numba.np.ufunc import omppool as lib
    except ImportError:  # omppool needs libgomp
        return None
    ctypes.CFUNCTYPE(None, ctypes.c_int)(lib.launch_threads)(threads)
    return lib.parallel_for


def _driver(runtime: str, threads: int, n: int):
    """The native driver that calls `runtime`'s parallel loop `reps` times, or None."""
    parallel_runtime.pool()
    parallel_runtime.set_num_threads(threads)
    text, name = _INC + _OURS, {"serial": "drive_serial", "tensorir": "drive_tensorir"}.get(runtime)
    if runtime == "gomp":
        gomp = ctypes.util.find_library("gomp")
        if not gomp:  # absent on a machine without GCC's runtime
            return None
        llvm.load_library_permanently(gomp)
        text, name = _INC + _GOMP, "drive_gomp"
    elif runtime.startswith("numba-"):
        fn = _numba_layer(runtime[6:], threads)
        if fn is None:
            return None
        llvm.add_symbol("bench_numba_for", fn)
        text, name = _INC + _NUMBA, "drive_numba"
    with _lock:
        engine = _engine()
        engine.add_module(optimize(text))
        engine.finalize_object()
        return _DRIVE(engine.get_function_address(name))


def _per_call(drive, a: np.ndarray, threads: int) -> tuple[float, float]:
    """(us per call back to back, median us of a call after 20 ms idle)."""
    drive(a.ctypes.data, a.size, 100, threads)  # warm up, start the workers
    reps, elapsed = 100, 0.0
    while elapsed < 0.2:
        reps *= 4
        t = time.perf_counter()
        drive(a.ctypes.data, a.size, reps, threads)
        elapsed = time.perf_counter() - t
    hot = elapsed / reps * 1e6
    cold = []
    for _ in range(25):
        time.sleep(0.02)
        t = time.perf_counter()
        drive(a.ctypes.data, a.size, 1, threads)
        cold.append((time.perf_counter() - t) * 1e6)
    return hot, sorted(cold)[len(cold) // 2]


RUNTIMES = ("serial", "tensorir", "gomp", "numba-omp", "numba-workqueue")
SIZES = (16, 4096, 65536)


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else len(os.sched_getaffinity(0))
    if len(sys.argv) > 2:  # one runtime per process: spinning workers of another would compete
        for n in SIZES:
            drive = _driver(sys.argv[2], threads, n)
            if drive is not None:
                a = np.zeros(n, np.int64)
                print(sys.argv[2], n, *(f"{t:.2f}" for t in _per_call(drive, a, threads)))
        return
    print(f"{threads} threads; microseconds per parallel loop over n int64s (+1 each)\n")
    print("| runtime | n | hot (back to back) | after 20 ms idle |")
    print("| --- | ---: | ---: | ---: |")
    for runtime in RUNTIMES:
        cmd = [sys.executable, __file__, str(threads), runtime]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            name, n, hot, cold = line.split()
            print(f"| {name} | {n} | {hot} | {cold} |")


if __name__ == "__main__":
    main()
