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
from dataclasses import dataclass, field

import llvmlite.binding as llvm
import numpy as np

from ..ir.core import Function, Module
from ..lower_llvm.engine import DEFAULT_PIPELINE, host_target_machine, optimize
from ..passes.manager import PassManager
from .kernels import KernelInfo, KernelModule, lower_kernels
from .target import DEFAULT_ARCH, emit_ptx

BLOCK = 256  # threads per block
MAX_GRID = 8192  # blocks; the grid-stride loop covers larger domains


def launch_config(threads: int, block: int = BLOCK, max_grid: int = MAX_GRID) -> tuple[int, int]:
    """(blocks, threads per block) for a kernel wanting `threads`: whole warps, no idle
    blocks, at most `max_grid` blocks (the grid-stride loop covers more)."""
    if threads == 0:
        return 0, block
    per_block = min(block, -(-threads // 32) * 32)
    return min(-(-threads // per_block), max_grid), per_block


_names = itertools.count()
_lock = threading.Lock()


@functools.cache
def _host_engine() -> llvm.ExecutionEngine:
    """One JIT for every emulated program: disposing of an MCJIT engine corrupts llvmlite's
    state for later compilations, so modules are added to this one and kept."""
    return llvm.create_mcjit_compiler(llvm.parse_assembly(""), host_target_machine())


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
    """A function compiled to PTX for `arch`; call it with cupy arrays (needs cupy and a GPU).

    `kernels` lists the kernels in launch order, each with its `launch_config`.
    """

    ptx: str
    arch: str
    lowered: KernelModule
    _modules: dict = field(default_factory=dict, repr=False)

    @property
    def kernels(self) -> list[KernelInfo]:
        return self.lowered.kernels

    @property
    def llvm_ir(self) -> str:
        """The kernels' LLVM IR as generated (before libdevice linking and -O3)."""
        return str(self.lowered.module)

    def launches(self) -> list[tuple[str, tuple[int, int]]]:
        """(kernel name, (grid, block)) of every launch, in order."""
        return [(k.name, launch_config(k.threads)) for k in self.kernels]

    def _device_launches(self) -> list:
        """(kernel function, grid, block) of every launch, the module loaded once per device."""
        import cupy

        dev = cupy.cuda.Device().id
        launches = self._modules.get(dev)
        if launches is None:
            mod = cupy.cuda.function.Module()
            mod.load(self.ptx.encode() + b"\0")
            launches = [
                (mod.get_function(name), grid, block)
                for name, (grid, block) in self.launches()
                if grid
            ]
            self._modules[dev] = launches
        return launches

    def __call__(self, *arrays):
        """Run on cupy arrays (on the current stream); returns a list of new cupy arrays."""
        import cupy

        lw = self.lowered
        if len(arrays) != len(lw.in_types):
            raise TypeError(f"expected {len(lw.in_types)} arrays, got {len(arrays)}")
        ins = []
        for i, (a, t) in enumerate(zip(arrays, lw.in_types, strict=True)):
            if a.shape != t.shape or a.dtype != t.dtype.np:
                raise TypeError(f"argument {i}: expected {t}, got {a.dtype}{list(a.shape)}")
            ins.append(cupy.ascontiguousarray(cupy.asarray(a)))
        outs = [cupy.empty(t.shape, t.dtype.np) for t in lw.out_types]
        workspace = cupy.empty(max(lw.plan.arena_bytes, 1), np.uint8)
        err = cupy.zeros(1, np.int32)
        args = (*ins, *outs, workspace, err)
        for kernel, grid, block in self._device_launches():
            kernel((grid,), (block,), args)  # on the current stream
        if lw.errors:  # only kernels that can fail cost a synchronization
            code = int(err.get()[0])
            if code:
                raise IndexError(lw.errors[code - 1])
        return outs


def compile_ptx(
    f: Function, arch: str = DEFAULT_ARCH, pipeline: str = DEFAULT_PIPELINE
) -> GpuProgram:
    """Run `pipeline` on tensor-level `f` (it is modified) and compile its kernels to PTX."""
    lowered = lower_kernels(_generalize(f, pipeline))
    return GpuProgram(emit_ptx(lowered.module, arch), arch, lowered)


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
        return [
            (k.name, launch_config(k.threads, self.block, self.max_grid)) for k, _ in self._drivers
        ]

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
        workspace = _garbage((max(lw.plan.arena_bytes, 1),), np.uint8)
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
    f: Function, pipeline: str = DEFAULT_PIPELINE, block: int = BLOCK, max_grid: int = MAX_GRID
) -> Emulator:
    """Run `pipeline` on tensor-level `f` (it is modified) and build its GPU kernels for
    emulation on the CPU."""
    g = _generalize(f, pipeline)
    lowered = lower_kernels(g, host=True, name=f"tensorir_emu_{g.sym_name}_{next(_names)}")
    return Emulator(lowered, block, max_grid)
