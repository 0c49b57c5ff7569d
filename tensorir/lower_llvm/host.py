"""What the host CPU can do, asked of LLVM once: its feature flags (avx512f, avx2, fma, ...).

Code generators consult these to pick instructions LLVM only lowers well on some CPUs (the
micro-kernel's vector width, libmvec's variants, `vscalefps` for exp's scaling).

>>> has("avx512f") == ("+avx512f" in feature_string())
True
"""

from __future__ import annotations

import functools

import llvmlite.binding as llvm


@functools.cache
def feature_string() -> str:
    """The host CPU's features as LLVM spells them for a target machine (`+avx512f,-amx-tile,
    ...`); empty where LLVM cannot tell."""
    try:
        return llvm.get_host_cpu_features().flatten()
    except RuntimeError:
        return ""


@functools.cache
def has(feature: str) -> bool:
    """Whether the host CPU has `feature` (LLVM's name: "avx512f", "avx2", ...)."""
    return f"+{feature}" in feature_string().split(",")
