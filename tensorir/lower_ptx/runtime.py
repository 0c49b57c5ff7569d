"""Compiled GPU programs: PTX launched through cupy, or the same kernels emulated on the CPU.

Both run the kernels in order with the launch configuration `launch_config` picks from each
kernel's domain, on the same memory layout: inputs, outputs, one workspace for intermediates
and an error word. cupy is imported only when a program runs on a GPU.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import threading
import time
from dataclasses import dataclass, field

import llvmlite.binding as llvm
import numpy as np

from ..ir.core import Function, Module
from ..lower_llvm.engine import DEFAULT_PIPELINE, host_target_machine, optimize
from ..passes.manager import PassManager
from .kernels import KernelInfo, KernelModule, lower_kernels
from .target import DEFAULT_ARCH, optimize_ptx_module, target_machine

# on a GPU, recomputing an exponential costs less than storing it and reading it back
GPU_PIPELINE = DEFAULT_PIPELINE.replace("fuse", "fuse-recompute")
BLOCK = 256  # threads per block
MAX_GRID = 8192  # blocks; the grid-stride loop covers larger domains


def launch_config(threads: int, block: int = BLOCK, max_grid: int = MAX_GRID) -> tuple[int, int]:
    """(blocks, threads per block) for a kernel wanting `threads`: whole warps, no idle
    blocks, at most `max_grid` blocks (the grid-stride loop covers more)."""
    if threads == 0:
        return 0, block
    per_block = min(block, -(-threads // 32) * 32)
    return min(-(-threads // per_block), max_grid), per_block


def kernel_launch(k: KernelInfo, block: int = BLOCK, max_grid: int = MAX_GRID) -> tuple[int, int]:
    """(blocks, threads per block) of kernel `k`: a row kernel's own block size, a block per
    row up to `max_grid`; otherwise `launch_config`."""
    if k.block:
        return min(k.points, max_grid), k.block
    return launch_config(k.threads, block, max_grid)


_names = itertools.count()
_lock = threading.Lock()


@functools.cache
def _host_engine() -> llvm.ExecutionEngine:
    """One JIT for every emulated program: disposing of an MCJIT engine corrupts llvmlite's
    state for later compilations, so modules are added to this one and kept."""
    return llvm.create_mcjit_compiler(llvm.parse_assembly(""), host_target_machine())


def _cupy():
    """cupy, or a clear error saying what running on a GPU needs."""
    try:
        import cupy
    except ImportError:
        raise RuntimeError(
            "running on the GPU needs cupy and an NVIDIA GPU (pip install 'tensorir[cuda]'); "
            "compiling and f.lower(...).as_text('ptx') work without them"
        ) from None
    return cupy


def device_arch() -> str | None:
    """`sm_XY` of the current CUDA device, or None without cupy or a device."""
    try:
        import cupy
    except ImportError:
        return None
    try:
        return f"sm_{cupy.cuda.Device().compute_capability}"
    except cupy.cuda.runtime.CUDARuntimeError:
        return None


def _generalize(f: Function, pipeline: str) -> Function:
    return PassManager(pipeline).run(Module([f])).functions[0]


@dataclass
class GpuProgram:
    """A function compiled to PTX for `arch`; call it with device arrays (needs cupy and a GPU).

    `kernels` lists the kernels in launch order, each with its `launch_config`. The stages of
    the compilation stay readable: `generic_function` (the IR lowered), `llvm_ir_unoptimized`
    (the kernels as generated), `llvm_ir` (libdevice linked, after -O3) and `ptx`.
    """

    ptx: str
    arch: str
    lowered: KernelModule
    llvm_ir: str = ""
    generic_function: Function | None = None
    timings: dict = field(default_factory=dict)
    _modules: dict = field(default_factory=dict, repr=False)

    @property
    def kernels(self) -> list[KernelInfo]:
        return self.lowered.kernels

    @property
    def llvm_ir_unoptimized(self) -> str:
        """The kernels' LLVM IR as generated (before libdevice linking and -O3)."""
        return str(self.lowered.module)

    def memory_stats(self) -> dict:
        """Intermediate buffers (placed in one device workspace per call), as on the CPU."""
        p = self.lowered.plan
        return {
            "intermediates": len(p.nbytes),
            "intermediate_bytes": sum(p.nbytes.values()),
            "peak_intermediate_bytes": p.peak_bytes,
            "workspace_bytes": self.lowered.workspace_bytes,
        }

    def launches(self) -> list[tuple[str, tuple[int, int]]]:
        """(kernel name, (grid, block)) of every launch, in order."""
        return [(k.name, kernel_launch(k)) for k in self.kernels]

    def _device_launches(self) -> list:
        """(kernel function, grid, block) of every launch, the module loaded once per device."""
        cupy = _cupy()

        dev = cupy.cuda.Device().id
        launches = self._modules.get(dev)
        if launches is None:
            mod = cupy.cuda.function.Module()
            mod.load(self.ptx.encode() + b"\0")
            launches = [
                (mod.get_function(name), (grid,), (block,))
                for name, (grid, block) in self.launches()
                if grid
            ]
            self._modules[dev] = launches
        return launches

    def __call__(self, *arrays, outs: list | None = None):
        """Run on device arrays (cupy, `__cuda_array_interface__` or CUDA DLPack; numpy arrays
        are copied to the device) on the current stream; returns a list of new cupy arrays, or
        `outs` (C-contiguous cupy arrays of the result types) written in place."""
        cupy = _cupy()

        lw = self.lowered
        if len(arrays) != len(lw.in_types):
            raise TypeError(f"expected {len(lw.in_types)} arrays, got {len(arrays)}")
        ins = []
        for i, (a, t) in enumerate(zip(arrays, lw.in_types, strict=True)):
            a = as_device_array(a)
            if a.shape != t.shape or a.dtype != t.dtype.np:
                raise TypeError(f"argument {i}: expected {t}, got {a.dtype}{list(a.shape)}")
            ins.append(a if a.flags.c_contiguous else cupy.ascontiguousarray(a))
        if outs is None:
            outs = [cupy.empty(t.shape, t.dtype.np) for t in lw.out_types]
        workspace = cupy.empty(max(lw.workspace_bytes, 1), np.uint8)
        err = cupy.zeros(1, np.int32) if lw.errors else workspace
        args = (*ins, *outs, workspace, err)
        for kernel, grid, block in self._device_launches():
            kernel(grid, block, args)  # on the current stream
        if lw.errors:  # only kernels that can fail cost a synchronization
            code = int(err.get()[0])
            if code:
                raise IndexError(lw.errors[code - 1])
        return outs


def is_device_array(x) -> bool:
    """Whether `x` lives on a CUDA device: a cupy array, anything with
    `__cuda_array_interface__`, or a DLPack producer reporting a CUDA device."""
    if hasattr(x, "__cuda_array_interface__"):
        return True
    dl = getattr(x, "__dlpack_device__", None)
    if dl is None:
        return False
    try:
        return dl()[0] in (2, 3)  # kDLCUDA, kDLCUDAHost
    except (TypeError, ValueError):
        return False


def as_device_array(x):
    """`x` as a cupy array without a copy when it already lives on the device (cupy, CUDA array
    interface, DLPack); numpy arrays and scalars are copied to the device."""
    cupy = _cupy()

    if isinstance(x, cupy.ndarray):
        return x
    if hasattr(x, "__cuda_array_interface__"):
        return cupy.asarray(x)
    if is_device_array(x):
        return cupy.from_dlpack(x)
    return cupy.asarray(np.asarray(x))


def compile_ptx(f: Function, arch: str = DEFAULT_ARCH, pipeline: str = GPU_PIPELINE) -> GpuProgram:
    """Run `pipeline` on tensor-level `f` (it is modified) and compile its kernels to PTX."""
    pm = PassManager(pipeline)
    g = pm.run(Module([f])).functions[0]
    t0 = time.perf_counter()
    lowered = lower_kernels(g)
    mod = optimize_ptx_module(lowered.module, arch)
    ptx = target_machine(arch).emit_assembly(mod)
    timings = {**pm.timings, "llvm": time.perf_counter() - t0}
    return GpuProgram(ptx, arch, lowered, str(mod), g, timings)


class Emulator:
    """The GPU kernels of a function run on the CPU: every block and thread of each launch in
    turn, with the GPU's launch configuration (or `block`/`max_grid` given, to exercise the
    grid-stride loop), every access bounds-checked, every element written at most once per
    launch, outputs and workspace starting as garbage (all bits set: NaN for floats) so an
    element no thread writes shows in the result."""

    def __init__(self, lowered: KernelModule, block: int = BLOCK, max_grid: int = MAX_GRID):
        self.lowered, self.block, self.max_grid = lowered, block, max_grid
        self.llvm_ir = str(lowered.module)
        mod = optimize(self.llvm_ir)
        with _lock:
            engine = _host_engine()
            engine.add_module(mod)
            engine.finalize_object()
            addrs = [engine.get_function_address(f"{k.name}_grid") for k in lowered.kernels]
        n = len(lowered.in_types) + len(lowered.out_types) + 3
        proto = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_int32, *[ctypes.c_void_p] * n)
        self._drivers = [(k, proto(a)) for k, a in zip(lowered.kernels, addrs, strict=True)]

    def launches(self) -> list[tuple[str, tuple[int, int]]]:
        """(kernel name, (grid, block)) of every emulated launch, in order."""
        return [(k.name, kernel_launch(k, self.block, self.max_grid)) for k, _ in self._drivers]

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Run on numpy arrays; returns a list of new arrays."""
        lw = self.lowered
        if len(arrays) != len(lw.in_types):
            raise TypeError(f"expected {len(lw.in_types)} arrays, got {len(arrays)}")
        ins = []
        for i, (a, t) in enumerate(zip(arrays, lw.in_types, strict=True)):
            a = np.asarray(a)
            if a.shape != t.shape or a.dtype != t.dtype.np:
                raise TypeError(f"argument {i}: expected {t}, got {a.dtype}{list(a.shape)}")
            ins.append(np.ascontiguousarray(a))
        outs = [_garbage(t.shape, t.dtype.np) for t in lw.out_types]
        workspace = _garbage((max(lw.workspace_bytes, 1),), np.uint8)
        err = np.zeros(1, np.int32)
        shadow = np.zeros(max(lw.shadow_bytes, 1), np.uint8)
        ptrs = [a.ctypes.data for a in (shadow, *ins, *outs, workspace, err)]
        for (kernel, driver), (_, (grid, block)) in zip(
            self._drivers, self.launches(), strict=True
        ):
            shadow[:] = 0
            driver(grid, block, *ptrs)
            if err[0]:
                raise IndexError(f"kernel {kernel.name}: {lw.errors[err[0] - 1]}")
        return outs


def _garbage(shape: tuple, dtype) -> np.ndarray:
    a = np.empty(shape, dtype)
    a.reshape(-1).view(np.uint8)[:] = 0xFF
    return a


def emulate(
    f: Function, pipeline: str = GPU_PIPELINE, block: int = BLOCK, max_grid: int = MAX_GRID
) -> Emulator:
    """Run `pipeline` on tensor-level `f` (it is modified) and build its GPU kernels for
    emulation on the CPU."""
    g = _generalize(f, pipeline)
    lowered = lower_kernels(g, host=True, name=f"tensorir_emu_{g.sym_name}_{next(_names)}")
    return Emulator(lowered, block, max_grid)
