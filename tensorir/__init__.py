"""tensorir: numpy code traced into a typed SSA tensor IR, optimized, compiled with LLVM.

>>> import numpy as np, tensorir
>>> f = tensorir.jit(lambda x: np.sqrt(x) + 1)
>>> f(np.array([4.0, 9.0]))
array([3., 4.])
"""

import importlib

__version__ = "0.1.0"
__all__ = ["JitFunction", "Lowered", "compile_function", "jit", "numpy"]

_LAZY = {
    "jit": "tensorir.frontend.jit",
    "JitFunction": "tensorir.frontend.jit",
    "Lowered": "tensorir.frontend.jit",
    "compile_function": "tensorir.lower_llvm.engine",
}


def __getattr__(name: str):
    # the compiler (llvmlite, the op registry) loads on first use, keeping `import tensorir` light
    if name == "numpy":
        return importlib.import_module("tensorir.numpy")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tensorir' has no attribute {name!r}")
