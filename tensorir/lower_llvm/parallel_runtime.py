"""The CPU thread pool that compiled kernels split their outer loops across.

The pool is itself LLVM IR, compiled once per process into the shared MCJIT engine: no C
compiler at install time, no dependence on an OpenMP or TBB library being installed, and every
policy below is ours. Generated code calls one symbol:

    void tensorir_parallel_for(void (*fn)(ctx, lo, hi), ptr ctx, i64 n, i64 min_chunk,
                               i64 align, i64 per_thread)

which runs `fn` over chunks covering [0, n) and returns when all are done. Chunks are at least
`min_chunk` indices (the cost model's floor) and multiples of `align`; there are `per_thread`
per thread, claimed dynamically from one atomic ticket, so a thread the OS does not schedule (a
shared machine) costs one chunk, not its share: the caller works too and never waits for a
chunk nobody has started. (A chunk that strides through memory, a block of columns, wants one
per thread: the fewer and wider the blocks, the longer each contiguous run.)

Safety rules, each a branch in `tensorir_parallel_for`:
- one job at a time: the caller takes the pool with a compare-and-swap; when it is taken (another
  Python thread's call, or a kernel started from a worker) the caller runs all of [0, n) itself,
  so concurrent and nested calls never wait on each other and cannot deadlock;
- workers start lazily on the first parallel call, and again after `fork()` (a child has none);
- idle workers spin briefly (the next call of a Python loop comes within microseconds) and then
  sleep on a condition variable, so an idle process burns no CPU; a spinning worker, like a
  caller waiting for the last chunks, yields the CPU every 32 polls, for machines with more
  runnable threads than cores.

The ticket packs (job generation : 24 bits, chunk count : 20, next chunk : 20); a worker that
claims a chunk with a compare-and-swap on it knows the job is the one it saw and cannot finish
before that chunk does, so the job's fields stay valid while it reads them.

>>> set_num_threads(2)
>>> get_num_threads()
2
>>> set_num_threads(default_num_threads())
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading

import llvmlite.binding as llvm

SYMBOL = "tensorir_parallel_for"
THREADS_SYMBOL = "tensorir_pool_threads"  # the thread count, for a choice made at run time
# pause/yield iterations an idle worker polls for a new job before sleeping: ~0.2 ms on x86
# (a PAUSE is ~40-140 cycles), far longer than the gap between calls in a Python loop
SPIN = 4096
_MAX_WORKERS = 1023

_IR = r"""
@tir.ticket = internal global i64 0, align 64
@tir.gen = internal global i32 0, align 64
@tir.done = internal global i64 0, align 64
@tir.busy = internal global i32 0, align 64
@tir.sleepers = internal global i32 0, align 64
@tir.job = internal global { ptr, ptr, i64, i64 } zeroinitializer, align 64
@tir.nthreads = internal global i32 1, align 64
@tir.nworkers = internal global i32 0, align 64
@tir.dispatches = internal global i64 0, align 64
@tir.mutex = internal global [128 x i8] zeroinitializer, align 64
@tir.cond = internal global [128 x i8] zeroinitializer, align 64
@tir.threads = internal global [MAXW x i64] zeroinitializer, align 64

declare i32 @pthread_create(ptr, ptr, ptr, ptr)
declare i32 @pthread_detach(i64)
declare i32 @pthread_mutex_init(ptr, ptr)
declare i32 @pthread_mutex_lock(ptr)
declare i32 @pthread_mutex_unlock(ptr)
declare i32 @pthread_cond_init(ptr, ptr)
declare i32 @pthread_cond_wait(ptr, ptr)
declare i32 @pthread_cond_broadcast(ptr)
declare i32 @sched_yield()
RELAX_DECL

define internal void @tir.relax() {
  RELAX_CALL
  ret void
}

; every 32nd poll gives the CPU away: where threads outnumber cores (a shared machine), a
; poller must not take the slice of the thread it waits for
define internal void @tir.yield_every(i64 %k) {
entry:
  %r = and i64 %k, 31
  %now = icmp eq i64 %r, 0
  br i1 %now, label %yield, label %exit
yield:
  %y = call i32 @sched_yield()
  br label %exit
exit:
  ret void
}

; claim and run chunks of the job of generation %g until none is left
define internal void @tir.work(i64 %g) {
entry:
  %t0 = load atomic i64, ptr @tir.ticket acquire, align 8
  br label %loop
loop:
  %t = phi i64 [ %t0, %entry ], [ %seen, %claim ], [ %t1, %run ]
  %tg = lshr i64 %t, 40
  %same = icmp eq i64 %tg, %g
  br i1 %same, label %check, label %exit
check:
  %next = and i64 %t, 1048575
  %lim0 = lshr i64 %t, 20
  %limit = and i64 %lim0, 1048575
  %more = icmp ult i64 %next, %limit
  br i1 %more, label %claim, label %exit
claim:
  %t2 = add i64 %t, 1
  %pair = cmpxchg ptr @tir.ticket, i64 %t, i64 %t2 acq_rel acquire
  %seen = extractvalue { i64, i1 } %pair, 0
  %ok = extractvalue { i64, i1 } %pair, 1
  br i1 %ok, label %run, label %loop
run:
  %fn = load ptr, ptr @tir.job, align 8
  %ctxp = getelementptr { ptr, ptr, i64, i64 }, ptr @tir.job, i32 0, i32 1
  %ctx = load ptr, ptr %ctxp, align 8
  %np = getelementptr { ptr, ptr, i64, i64 }, ptr @tir.job, i32 0, i32 2
  %n = load i64, ptr %np, align 8
  %cp = getelementptr { ptr, ptr, i64, i64 }, ptr @tir.job, i32 0, i32 3
  %chunk = load i64, ptr %cp, align 8
  %lo = mul i64 %next, %chunk
  %hi0 = add i64 %lo, %chunk
  %fits = icmp ult i64 %hi0, %n
  %hi = select i1 %fits, i64 %hi0, i64 %n
  call void %fn(ptr %ctx, i64 %lo, i64 %hi)
  %unused = atomicrmw add ptr @tir.done, i64 1 release
  %t1 = load atomic i64, ptr @tir.ticket acquire, align 8
  br label %loop
exit:
  ret void
}

; worker %arg (its number, 1..): wait for a new generation, spinning then sleeping; take part
; in the job when its number is below the thread count
define internal ptr @tir.worker(ptr %arg) {
entry:
  %idx = ptrtoint ptr %arg to i64
  %g0 = load atomic i32, ptr @tir.gen acquire, align 4
  br label %wait
wait:
  %known = phi i32 [ %g0, %entry ], [ %g, %got ], [ %g, %dowork ]
  br label %spin
spin:
  %k = phi i64 [ 0, %wait ], [ %k1, %spinnext ]
  %gs = load atomic i32, ptr @tir.gen acquire, align 4
  %changed = icmp ne i32 %gs, %known
  br i1 %changed, label %got, label %spinnext
spinnext:
  call void @tir.relax()
  %k1 = add i64 %k, 1
  call void @tir.yield_every(i64 %k1)
  %spinning = icmp ult i64 %k1, SPIN
  br i1 %spinning, label %spin, label %sleep
sleep:
  %l = call i32 @pthread_mutex_lock(ptr @tir.mutex)
  %s0 = atomicrmw add ptr @tir.sleepers, i32 1 seq_cst
  br label %recheck
recheck:
  %gw = load atomic i32, ptr @tir.gen seq_cst, align 4
  %same = icmp eq i32 %gw, %known
  br i1 %same, label %block, label %woke
block:
  %w = call i32 @pthread_cond_wait(ptr @tir.cond, ptr @tir.mutex)
  br label %recheck
woke:
  %s1 = atomicrmw sub ptr @tir.sleepers, i32 1 seq_cst
  %u = call i32 @pthread_mutex_unlock(ptr @tir.mutex)
  br label %got
got:
  %g = phi i32 [ %gs, %spin ], [ %gw, %woke ]
  %nt = load atomic i32, ptr @tir.nthreads monotonic, align 4
  %nt64 = zext i32 %nt to i64
  %part = icmp ult i64 %idx, %nt64
  br i1 %part, label %dowork, label %wait
dowork:
  %g64 = zext i32 %g to i64
  %gm = and i64 %g64, 16777215
  call void @tir.work(i64 %gm)
  br label %wait
}

; start workers up to the thread count; a failed pthread_create lowers the count
define internal void @tir.start_workers(i32 %nt) {
entry:
  br label %loop
loop:
  %nw = load i32, ptr @tir.nworkers, align 4
  %nw1 = add i32 %nw, 1
  %need = icmp ult i32 %nw1, %nt
  br i1 %need, label %create, label %exit
create:
  %nw64 = zext i32 %nw to i64
  %slot = getelementptr [MAXW x i64], ptr @tir.threads, i64 0, i64 %nw64
  %num = zext i32 %nw1 to i64
  %arg = inttoptr i64 %num to ptr
  %rc = call i32 @pthread_create(ptr %slot, ptr null, ptr @tir.worker, ptr %arg)
  %ok = icmp eq i32 %rc, 0
  br i1 %ok, label %created, label %failed
created:
  %tid = load i64, ptr %slot, align 8
  %d = call i32 @pthread_detach(i64 %tid)
  store i32 %nw1, ptr @tir.nworkers, align 4
  br label %loop
failed:
  store atomic i32 %nw1, ptr @tir.nthreads monotonic, align 4
  br label %exit
exit:
  ret void
}

define void @tensorir_parallel_for(ptr %fn, ptr %ctx, i64 %n, i64 %min_chunk, i64 %align,
                                   i64 %per_thread) {
entry:
  %nt32 = load atomic i32, ptr @tir.nthreads monotonic, align 4
  %nt = zext i32 %nt32 to i64
  %one = icmp ule i64 %nt, 1
  %small = icmp ule i64 %n, %min_chunk
  %alone = or i1 %one, %small
  br i1 %alone, label %serial, label %lock
serial:
  call void %fn(ptr %ctx, i64 0, i64 %n)
  ret void
lock:
  %p = cmpxchg ptr @tir.busy, i32 0, i32 1 acquire monotonic
  %taken = extractvalue { i32, i1 } %p, 1
  br i1 %taken, label %start, label %serial
start:
  call void @tir.start_workers(i32 %nt32)
  ; per_thread chunks per thread, at least min_chunk and at most 2^20 - 1 of them
  %parts = mul i64 %nt, %per_thread
  %np1 = add i64 %n, %parts
  %np2 = sub i64 %np1, 1
  %c0 = udiv i64 %np2, %parts
  %big = icmp ugt i64 %c0, %min_chunk
  %c1 = select i1 %big, i64 %c0, i64 %min_chunk
  %nmax = add i64 %n, 1048574
  %cmin = udiv i64 %nmax, 1048575
  %big2 = icmp ugt i64 %c1, %cmin
  %c2 = select i1 %big2, i64 %c1, i64 %cmin
  %ca = add i64 %c2, %align
  %ca1 = sub i64 %ca, 1
  %cq = udiv i64 %ca1, %align
  %chunk = mul i64 %cq, %align
  %nc0 = add i64 %n, %chunk
  %nc1 = sub i64 %nc0, 1
  %nchunks = udiv i64 %nc1, %chunk
  %single = icmp ule i64 %nchunks, 1
  br i1 %single, label %unlock_serial, label %publish
unlock_serial:
  store atomic i32 0, ptr @tir.busy release, align 4
  br label %serial
publish:
  store ptr %fn, ptr @tir.job, align 8
  %ctxp = getelementptr { ptr, ptr, i64, i64 }, ptr @tir.job, i32 0, i32 1
  store ptr %ctx, ptr %ctxp, align 8
  %np = getelementptr { ptr, ptr, i64, i64 }, ptr @tir.job, i32 0, i32 2
  store i64 %n, ptr %np, align 8
  %cp = getelementptr { ptr, ptr, i64, i64 }, ptr @tir.job, i32 0, i32 3
  store i64 %chunk, ptr %cp, align 8
  store atomic i64 0, ptr @tir.done monotonic, align 8
  %d0 = atomicrmw add ptr @tir.dispatches, i64 1 monotonic
  %gold = load atomic i32, ptr @tir.gen monotonic, align 4
  %g = add i32 %gold, 1
  %g64 = zext i32 %g to i64
  %gm = and i64 %g64, 16777215
  %gt = shl i64 %gm, 40
  %ct = shl i64 %nchunks, 20
  %ticket = or i64 %gt, %ct
  store atomic i64 %ticket, ptr @tir.ticket release, align 8
  store atomic i32 %g, ptr @tir.gen seq_cst, align 4
  %sl = load atomic i32, ptr @tir.sleepers seq_cst, align 4
  %asleep = icmp ne i32 %sl, 0
  br i1 %asleep, label %wake, label %work
wake:
  %l = call i32 @pthread_mutex_lock(ptr @tir.mutex)
  %b = call i32 @pthread_cond_broadcast(ptr @tir.cond)
  %u = call i32 @pthread_mutex_unlock(ptr @tir.mutex)
  br label %work
work:
  call void @tir.work(i64 %gm)
  br label %join
join:
  %j = phi i64 [ 0, %work ], [ %j1, %relax ]
  %done = load atomic i64, ptr @tir.done acquire, align 8
  %finished = icmp uge i64 %done, %nchunks
  br i1 %finished, label %exit, label %relax
relax:
  call void @tir.relax()
  %j1 = add i64 %j, 1
  call void @tir.yield_every(i64 %j1)
  br label %join
exit:
  store atomic i32 0, ptr @tir.busy release, align 4
  ret void
}

; the thread count, changed only while no job runs (waits for the pool)
define void @tensorir_pool_set_threads(i32 %n) {
entry:
  br label %lock
lock:
  %p = cmpxchg ptr @tir.busy, i32 0, i32 1 acquire monotonic
  %taken = extractvalue { i32, i1 } %p, 1
  br i1 %taken, label %set, label %relax
relax:
  call void @tir.relax()
  br label %lock
set:
  store atomic i32 %n, ptr @tir.nthreads monotonic, align 4
  store atomic i32 0, ptr @tir.busy release, align 4
  ret void
}

define i32 @tensorir_pool_threads() {
  %n = load atomic i32, ptr @tir.nthreads monotonic, align 4
  ret i32 %n
}

define i64 @tensorir_pool_dispatches() {
  %n = load atomic i64, ptr @tir.dispatches monotonic, align 8
  ret i64 %n
}

; a fresh pool: no workers (a forked child has none), a free lock, new mutex and condition
define void @tensorir_pool_reset() {
  store i32 0, ptr @tir.nworkers, align 4
  store i32 0, ptr @tir.sleepers, align 4
  store atomic i32 0, ptr @tir.busy release, align 4
  %m = call i32 @pthread_mutex_init(ptr @tir.mutex, ptr null)
  %c = call i32 @pthread_cond_init(ptr @tir.cond, ptr null)
  ret void
}
"""


def _ir_text() -> str:
    if platform.machine().lower() in ("x86_64", "amd64"):
        decl, call = "declare void @llvm.x86.sse2.pause()", "call void @llvm.x86.sse2.pause()"
    else:  # a plain polling loop elsewhere
        decl, call = "", ""
    return (
        _IR.replace("RELAX_DECL", decl)
        .replace("RELAX_CALL", call)
        .replace("MAXW", str(_MAX_WORKERS))
        .replace("SPIN", str(SPIN))
    )


class _Pool:
    def __init__(self):
        from ..cache import compile_object
        from .engine import _engine, _lock

        code = compile_object(_ir_text(), "", "cpu")
        with _lock:
            engine = _engine()
            engine.add_object_file(llvm.ObjectFileRef.from_data(code.obj))
            engine.finalize_object()
            addr = {
                name: engine.get_function_address(name)
                for name in (
                    SYMBOL,
                    "tensorir_pool_set_threads",
                    THREADS_SYMBOL,
                    "tensorir_pool_dispatches",
                    "tensorir_pool_reset",
                )
            }
        for name in (SYMBOL, THREADS_SYMBOL):  # what the kernels' objects link against
            llvm.add_symbol(name, addr[name])
        self.set_threads = ctypes.CFUNCTYPE(None, ctypes.c_int32)(addr["tensorir_pool_set_threads"])
        self.threads = ctypes.CFUNCTYPE(ctypes.c_int32)(addr[THREADS_SYMBOL])
        self.dispatches = ctypes.CFUNCTYPE(ctypes.c_int64)(addr["tensorir_pool_dispatches"])
        self.reset = ctypes.CFUNCTYPE(None)(addr["tensorir_pool_reset"])
        self.reset()
        self.set_threads(default_num_threads())
        os.register_at_fork(after_in_child=self.reset)


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def pool() -> _Pool:
    """The process's pool, compiled and linked on first use (workers start on the first job)."""
    global _pool
    with _pool_lock:  # two threads compiling their first kernels must not link it twice
        if _pool is None:
            _pool = _Pool()
        return _pool


def default_num_threads() -> int:
    """`TENSORIR_NUM_THREADS` if set, else the CPUs this process may run on.

    >>> default_num_threads() >= 1
    True
    """
    env = os.environ.get("TENSORIR_NUM_THREADS")
    if env:
        return max(1, min(int(env), _MAX_WORKERS + 1))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity API (macOS)
        return os.cpu_count() or 1


def set_num_threads(n: int) -> None:
    """Run parallel loops on `n` threads (the caller included) from the next call on; 1 makes
    every compiled function serial. Waits for a parallel loop running in another thread.

    >>> set_num_threads(1); get_num_threads()
    1
    >>> set_num_threads(default_num_threads())
    """
    if n < 1:
        raise ValueError(f"the thread count must be at least 1, got {n}")
    pool().set_threads(min(n, _MAX_WORKERS + 1))


def get_num_threads() -> int:
    """The thread count parallel loops run on.

    >>> get_num_threads() >= 1
    True
    """
    return pool().threads()


def parallel_dispatches() -> int:
    """How many loops ran split across threads in this process (a counter tests read to tell a
    parallel call from a serial one without timing it).

    >>> parallel_dispatches() >= 0
    True
    """
    return pool().dispatches()
