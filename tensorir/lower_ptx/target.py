"""The NVPTX target: how GPU code calls math functions, and LLVM IR -> PTX.

Single-instruction math (sqrt, floor, fabs, fmaximum, ...) stays LLVM intrinsics, which the
NVPTX backend selects. The rest (exp, log, tanh, pow, ...) calls CUDA's libdevice (`__nv_expf`),
whose bitcode ships with every CUDA toolkit; it is linked into the module before optimization,
so the PTX is self-contained. Without libdevice those functions raise a clear error.
"""

from __future__ import annotations

import functools
import glob
import os

import llvmlite.binding as llvm
from llvmlite import ir

from ..lower_llvm.scalar import TARGETS, Target, declare

PTX_TRIPLE = "nvptx64-nvidia-cuda"
DEFAULT_ARCH = "sm_80"
LIBDEVICE_PREFIX = "__nv_"


class LibdeviceMissing(RuntimeError):
    """A kernel needs a libdevice math function and no libdevice bitcode was found."""


class NVPTXTarget(Target):
    """Math calls for NVIDIA GPUs: LLVM intrinsics where NVPTX selects them, else libdevice."""

    def math(
        self, module: ir.Module, name: str, ty: ir.Type, nargs: int, intrinsic: bool
    ) -> ir.Function:
        """The intrinsic, or `__nv_<name>[f]` from libdevice (float32 names end in `f`)."""
        if intrinsic:
            return super().math(module, name, ty, nargs, intrinsic)
        fname = LIBDEVICE_PREFIX + name + ("f" if ty == ir.FloatType() else "")
        fn = declare(module, fname, ty, [ty] * nargs)
        fn.attributes.add("nounwind")
        return fn


TARGETS[PTX_TRIPLE] = NVPTXTarget()


@functools.cache
def libdevice_path() -> str | None:
    """libdevice.10.bc of the CUDA toolkit ($CUDA_HOME, $CUDA_PATH, /usr/local/cuda*)."""
    roots = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    roots += sorted(glob.glob("/usr/local/cuda-*"), reverse=True)
    for root in filter(None, roots):
        path = os.path.join(root, "nvvm", "libdevice", "libdevice.10.bc")
        if os.path.exists(path):
            return path
    return None


@functools.cache
def _libdevice_bytes() -> bytes:
    path = libdevice_path()
    if path is None:
        raise LibdeviceMissing(
            "this kernel calls a math function (exp, log, tanh, ...) that the GPU backend takes "
            "from CUDA's libdevice, and no libdevice.10.bc was found; set CUDA_HOME"
        )
    with open(path, "rb") as fh:
        return fh.read()


@functools.cache
def target_machine(arch: str) -> llvm.TargetMachine:
    """An NVPTX target machine for compute capability `arch` (`sm_80`, `sm_90`, ...), at -O3."""
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    return llvm.Target.from_triple(PTX_TRIPLE).create_target_machine(cpu=arch, opt=3)


def optimize_ptx_module(module: ir.Module, arch: str = DEFAULT_ARCH) -> llvm.ModuleRef:
    """`module` (triple nvptx64-nvidia-cuda) with libdevice linked where it is called, at -O3."""
    tm = target_machine(arch)
    mod = llvm.parse_assembly(str(module))
    mod.triple = PTX_TRIPLE
    mod.data_layout = str(tm.target_data)
    mod.verify()
    if any(f.name.startswith(LIBDEVICE_PREFIX) for f in mod.functions):
        lib = llvm.parse_bitcode(_libdevice_bytes())
        lib.triple = PTX_TRIPLE
        lib.data_layout = mod.data_layout
        mod.link_in(lib)
        # only the kernels are entry points: the rest of libdevice is dropped once inlined
        kernels = kernel_names(module)
        for f in mod.functions:
            if not f.is_declaration and f.name not in kernels:
                f.linkage = llvm.Linkage.internal
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def emit_ptx(module: ir.Module, arch: str = DEFAULT_ARCH) -> str:
    """PTX for `module` (triple nvptx64-nvidia-cuda), libdevice linked where it is called."""
    return target_machine(arch).emit_assembly(optimize_ptx_module(module, arch))


def kernel_names(module: ir.Module) -> set[str]:
    """Names of the functions of `module` that are kernels."""
    return {
        f.name
        for f in module.functions
        if isinstance(f, ir.Function) and f.calling_convention == "ptx_kernel"
    }
