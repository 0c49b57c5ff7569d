"""Machine code for the host: optimize LLVM IR at -O3 for this CPU, JIT it with llvmlite's MCJIT,
and wrap the entry point as a Python callable.

>>> import numpy as np
>>> from tensorir.ir import Builder, Function, types as T
>>> t = T.TensorType((3,), T.f64)
>>> f = Function("f", [t], [t])
>>> b = Builder.at_end(f.body)
>>> _ = b.create("func.return", [b.op("tir.exp", f.args[0])])
>>> compile_function(f)(np.zeros(3))
[array([1., 1., 1.])]
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import threading
import time

import llvmlite.binding as llvm
import numpy as np

from ..cache import compile_object
from ..ir.core import Function, Module
from ..passes.manager import PassManager
from . import host, parallel_runtime
from .codegen import Lowered, lower_function
from .results import new_result

_names = itertools.count()
_lock = threading.Lock()


@functools.cache
def host_target_machine() -> llvm.TargetMachine:
    """The host CPU with all its features (AVX-512 and the like), at -O3."""
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    llvm.initialize_native_asmparser()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=host.feature_string(), opt=3, jit=True
    )


@functools.cache
def _engine() -> llvm.ExecutionEngine:
    tm = host_target_machine()
    return llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)


def optimize(text: str) -> llvm.ModuleRef:
    """Parse LLVM IR text and run the -O3 pipeline (loop and SLP vectorization) on it."""
    tm = host_target_machine()
    mod = llvm.parse_assembly(text)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    # Unrolling and interleaving vectorized loops triple the machine code and the compile time
    # (110 -> 55 ms for a 20-op function) and gained nothing measurable on our memory-bound loops
    # with 512-bit vectors; kernels that need them (matmul) will get explicit register blocking.
    pto.loop_interleaving = False
    pto.loop_unrolling = False
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


class Executable:
    """A compiled function: call it with numpy arrays (one per argument); returns a list of arrays.

    `llvm_ir` is the optimized LLVM IR that runs; `memory_stats()` reports the memory plan.
    """

    def __init__(self, lowered: Lowered, in_types, out_types, contiguous_args, pipeline: str):
        self.lowered = lowered
        self._ins = [
            (t.shape, t.dtype.np, c) for t, c in zip(in_types, contiguous_args, strict=True)
        ]
        self.llvm_ir_unoptimized = str(lowered.module)
        # object code comes from the disk cache when this IR was compiled before (any process)
        code = compile_object(self.llvm_ir_unoptimized, pipeline, "cpu")
        self.llvm_ir = code.llvm_ir
        self.cache_hit = code.hit
        if any(
            name in self.llvm_ir_unoptimized
            for name in (parallel_runtime.SYMBOL, parallel_runtime.THREADS_SYMBOL)
        ):
            parallel_runtime.pool()  # links the symbol the object calls
        with _lock:
            engine = _engine()
            engine.add_object_file(llvm.ObjectFileRef.from_data(code.obj))
            engine.finalize_object()
            addr = engine.get_function_address(lowered.name)
        n = len(lowered.module.globals[lowered.name].args)
        # CFUNCTYPE calls release the GIL; the arrays stay alive in the caller's frame
        self.cfunc = ctypes.CFUNCTYPE(ctypes.c_int32, *[ctypes.py_object] * n)(addr)
        self.out_specs = [(tuple(t.shape), t.dtype.np) for t in out_types]
        self.errors = lowered.errors

    @property
    def asm(self) -> str:
        return host_target_machine().emit_assembly(llvm.parse_assembly(self.llvm_ir))

    def memory_stats(self) -> dict:
        """Intermediate buffers: how many, their total bytes, the peak bytes live at once, and
        the workspace they are placed in (reused between calls)."""
        p = self.lowered.plan
        return {
            "intermediates": len(p.nbytes),
            "intermediate_bytes": sum(p.nbytes.values()),
            "peak_intermediate_bytes": p.peak_bytes,
            "workspace_bytes": p.arena_bytes,
        }

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Run on arrays of the compiled types (checked: wrong ones raise, never crash)."""
        if len(arrays) != len(self._ins):
            raise TypeError(f"expected {len(self._ins)} arrays, got {len(arrays)}")
        for i, (a, (shape, dtype, contig)) in enumerate(zip(arrays, self._ins, strict=True)):
            if not isinstance(a, np.ndarray) or a.dtype != dtype or len(a.shape) != len(shape):
                raise TypeError(
                    f"argument {i}: expected a {dtype} array of shape {shape}, got {a!r}"
                )
            if any(s is not None and s != n for s, n in zip(shape, a.shape, strict=True)):
                raise TypeError(f"argument {i}: expected shape {shape}, got {a.shape}")
            if contig and not a.flags.c_contiguous:
                raise TypeError(f"argument {i}: compiled for C-contiguous arrays")
        return self.call_unchecked(*arrays)

    def call_unchecked(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Run on arrays the caller guarantees match the compiled types (the jit fast path)."""
        outs = [new_result(s, d) for s, d in self.out_specs]
        rc = self.cfunc(*arrays, *outs)
        if rc:
            self.raise_error(rc)
        return outs

    def raise_error(self, rc: int) -> None:
        """Raise the run-time error the compiled code reported as `rc`."""
        raise IndexError(self.errors[rc - 1])


DEFAULT_PIPELINE = "canonicalize,cse,stabilize,canonicalize,cse,generalize,fuse,dce"


def compile_function(
    f: Function,
    contiguous_args: list[bool] | None = None,
    name: str | None = None,
    pipeline: str = DEFAULT_PIPELINE,
    matmul: str = "auto",
    fastmath: tuple[str, ...] = (),
) -> Executable:
    """Run `pipeline` on `f` (tensor-level IR; it is modified) and compile it for the host CPU.

    `contiguous_args[i]` promises that argument i is always C-contiguous, which makes its strides
    compile-time constants; by default every argument's strides are read at run time.
    `matmul` picks how matmuls run and `fastmath` the float arithmetic's LLVM flags
    (`codegen.lower_function`).
    """
    pm = PassManager(pipeline)
    g = pm.run(Module([f])).functions[0]
    if contiguous_args is None:
        contiguous_args = [False] * len(g.args)
    name = name or f"tensorir_{g.sym_name}_{next(_names)}"
    lowered = lower_function(g, name, contiguous_args, matmul, fastmath=fastmath)
    t0 = time.perf_counter()
    exe = Executable(lowered, g.type.inputs, g.type.results, contiguous_args, pipeline)
    exe.generic_function = g
    exe.timings = {**pm.timings, "llvm": time.perf_counter() - t0}
    return exe
