"""tensorir: numpy code traced into a typed SSA tensor IR, optimized, compiled with LLVM.

>>> import numpy as np, tensorir
>>> f = tensorir.jit(lambda x: np.sqrt(x) + 1)
>>> f(np.array([4.0, 9.0]))
array([3., 4.])
"""

import importlib

__version__ = "0.1.0"
__all__ = [
    "Compiled", "JitFunction", "Lowered", "compile", "compile_function", "custom_vjp",
    "export_mlir", "get_num_threads", "grad", "hessian", "jacfwd", "jacobian", "jacrev", "jit",
    "jvp", "numpy", "set_num_threads", "stop_gradient", "value_and_grad", "vjp",
]  # fmt: skip

_LAZY = {
    "jit": "tensorir.frontend.jit",
    "JitFunction": "tensorir.frontend.jit",
    "Lowered": "tensorir.frontend.jit",
    "compile_function": "tensorir.lower_llvm.engine",
    "compile": "tensorir.aot",
    "Compiled": "tensorir.aot",
    "export_mlir": "tensorir.mlir_export",
    "custom_vjp": "tensorir.autodiff",
    "grad": "tensorir.autodiff",
    "hessian": "tensorir.autodiff",
    "jacfwd": "tensorir.autodiff",
    "jacobian": "tensorir.autodiff",
    "jacrev": "tensorir.autodiff",
    "jvp": "tensorir.autodiff",
    "stop_gradient": "tensorir.autodiff",
    "value_and_grad": "tensorir.autodiff",
    "vjp": "tensorir.autodiff",
    "set_num_threads": "tensorir.lower_llvm.parallel_runtime",
    "get_num_threads": "tensorir.lower_llvm.parallel_runtime",
}


def __getattr__(name: str):
    # the compiler (llvmlite, the op registry) loads on first use, keeping `import tensorir` light
    if name == "numpy":
        return importlib.import_module("tensorir.numpy")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tensorir' has no attribute {name!r}")
