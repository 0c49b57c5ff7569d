"""NVIDIA GPU backend: one kernel per `tir.generic`, PTX through LLVM's NVPTX target, launched
with cupy (an optional extra), or emulated on the CPU with the same grid mapping.

>>> import numpy as np
>>> from tensorir.frontend.trace import trace
>>> x = np.arange(6, dtype=np.float32).reshape(2, 3)
>>> program = compile_ptx(trace(lambda a: (a * 2.0).sum(axis=1), (x,)).function)
>>> ".entry" in program.ptx, [k.points for k in program.kernels]
(True, [2])
>>> emulate(trace(lambda a: (a * 2.0).sum(axis=1), (x,)).function)(x)
[array([ 6., 24.], dtype=float32)]
"""

from .kernels import KernelInfo, KernelModule, lower_kernels
from .runtime import (
    GPU_PIPELINE,
    Emulator,
    GpuProgram,
    as_device_array,
    compile_ptx,
    device_arch,
    emulate,
    is_device_array,
    launch_config,
)
from .target import DEFAULT_ARCH, emit_ptx, libdevice_path

__all__ = [
    "DEFAULT_ARCH", "GPU_PIPELINE", "Emulator", "GpuProgram", "KernelInfo", "KernelModule",
    "as_device_array", "compile_ptx", "device_arch", "emit_ptx", "emulate", "is_device_array",
    "launch_config", "libdevice_path", "lower_kernels",
]  # fmt: skip
