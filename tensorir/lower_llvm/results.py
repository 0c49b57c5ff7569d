"""Memory for large results: mappings on transparent huge pages, recycled once dropped.

A fresh 64 MiB mapping costs its page faults and the kernel's zeroing on first touch: measured
on the 2-core VM, the chain 2^24 into a fresh result took 19.3 ms on one thread and 11.8 ms on
two, into a reused one 13.7 and 7.4. glibc recycles blocks up to 32 MiB itself (its mmap
threshold adapts up to that), so only larger results come from here. A mapping is free again
when no array refers to it any more: every array made from it holds a reference to the mapping
(through its memoryview), so its reference count says whether one is still alive, a view of a
view included. Nothing needs a finalizer, and a result is never handed out twice.

>>> a = new_result((1024, 4096), np.float64)  # 32 MiB: from the pool
>>> address = a.ctypes.data
>>> del a
>>> new_result((4096, 1024), np.float64).ctypes.data == address  # the same mapping, reused
True
"""

from __future__ import annotations

import math
import mmap
import sys
import threading

import numpy as np

# Results at least this large get their own mapping, asking the kernel for 2 MiB pages: a
# fresh 64 MiB result then takes 32 page faults instead of 16384. Smaller ones come from
# numpy's allocator, whose blocks glibc reuses (softmax 4096x1024, a 16 MiB result: a fresh
# mapping per call 3.7 ms, glibc's reused block 2.9 ms, one thread).
HUGE_RESULT_BYTES = 32 << 20
HUGE_PAGE = 2 << 20
# Dropped mappings kept for reuse: after each `take`, at most this many bytes of them (the
# oldest go first). Between calls, results the caller drops may add to them.
IDLE_LIMIT = 512 << 20
# Each new mapping starts its array at the next of COLORS offsets, STAGGER apart (the extra
# length of the mapping says which). The kernel places same-size mappings a power of two
# apart, so without this the arrays of a chain of calls (64 MiB each) agreed in all their low
# address bits: the chain 2^24 on such inputs and output took 16-21 ms on one thread, on
# numpy's arrays (4 KiB apart) 14 ms, on arrays 16 KiB apart 11.6 ms.
STAGGER = 16 << 10
COLORS = 16


class ResultPool:
    """Mappings for large results; `take` reuses one no array refers to any more.

    >>> pool = ResultPool(idle_limit=0)
    >>> x = pool.take((HUGE_RESULT_BYTES,), np.uint8)
    >>> pool.take((HUGE_RESULT_BYTES,), np.uint8).ctypes.data != x.ctypes.data  # x is alive
    True
    """

    def __init__(self, idle_limit: int = IDLE_LIMIT):
        self.idle_limit = idle_limit
        self._maps: list[mmap.mmap] = []
        self._made = 0  # mappings made so far: the next one's color
        self._lock = threading.Lock()
        probe = [object()]
        self._free = self._refs(probe, 0)  # the count of a mapping only this list holds

    @staticmethod
    def _refs(maps: list, i: int) -> int:
        return sys.getrefcount(maps[i])

    def _idle(self, i: int) -> bool:
        return self._refs(self._maps, i) <= self._free

    def take(self, shape: tuple, dtype) -> np.ndarray:
        """An uninitialized C-contiguous array on a mapping no live array uses."""
        dtype = np.dtype(dtype)
        count = math.prod(shape)
        size = -(-count * dtype.itemsize // HUGE_PAGE) * HUGE_PAGE
        with self._lock:  # a mapping is claimed by the array made from it, under the lock
            idle = [i for i in range(len(self._maps)) if self._idle(i)]
            # the most recently used fits best: its pages may still be in the caches and TLB
            fits = [i for i in idle if 0 <= len(self._maps[i]) - size < COLORS * STAGGER]
            found = fits[-1] if fits else None
            memory = None if found is None else self._maps[found]
            self._trim([i for i in idle if i != found])
            if memory is None:
                extra = self._made % COLORS * STAGGER
                self._made += 1
                flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
                memory = mmap.mmap(-1, size + extra, flags=flags)
                if hasattr(mmap, "MADV_HUGEPAGE"):
                    memory.madvise(mmap.MADV_HUGEPAGE)
            # most recently used last: trimming drops the oldest
            self._maps = [m for m in self._maps if m is not memory] + [memory]
            offset = len(memory) - size
            return np.frombuffer(memory, dtype, count, offset).reshape(shape)

    def _trim(self, idle: list[int]) -> None:
        """Unmap the oldest of the `idle` mappings beyond `idle_limit` bytes of them."""
        kept = sum(len(self._maps[i]) for i in idle)
        drop = set()
        for i in idle:
            if kept <= self.idle_limit:
                break
            kept -= len(self._maps[i])
            drop.add(i)
        self._maps = [m for i, m in enumerate(self._maps) if i not in drop]

    def idle_bytes(self) -> int:
        """Bytes of mappings kept for reuse that no array uses now."""
        with self._lock:
            return sum(len(self._maps[i]) for i in range(len(self._maps)) if self._idle(i))


_pool = ResultPool()


def new_result(shape: tuple, dtype) -> np.ndarray:
    """An uninitialized array for a result; large ones from the pool of huge-page mappings.

    >>> new_result((2, 3), np.float32).shape
    (2, 3)
    >>> big = new_result((1024, 4096), np.float64)  # 32 MiB
    >>> big.flags.writeable, big.flags.c_contiguous, big.shape
    (True, True, (1024, 4096))
    """
    dtype = np.dtype(dtype)
    if math.prod(shape) * dtype.itemsize < HUGE_RESULT_BYTES:
        return np.empty(shape, dtype)
    return _pool.take(shape, dtype)
