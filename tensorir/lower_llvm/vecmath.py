"""Vector math: let LLVM's loop vectorizer call glibc's libmvec for exp, log, sin, tanh, ...

A loop that calls scalar `expf` per element runs at libm's speed, 10-40x slower than numpy's own
SIMD loops. glibc ships vector versions of these functions (libmvec, the x86_64 vector ABI:
`_ZGVeN16v_expf` is expf on 16 floats with AVX-512). Declaring the scalar function with the
`vector-function-abi-variant` attribute tells the vectorizer which vector function computes the
same thing at each width, so a vectorized loop calls it instead of the scalar one. Only variants
this machine's libmvec exports and its CPU can run are declared; without libmvec, loops call libm.

float32 exp, expm1, log, log1p, tanh and float64 exp do not come here on the CPU:
`scalar.HostTarget` emits them inline (`polymath.py`), which measured faster than these calls
(benchmarks/RESULTS.md). The other functions (sin, cos, arctan, erf, pow, float64 tanh, ...) do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import llvmlite.binding as llvm
from llvmlite import ir

from . import host

# ISA letter of the x86_64 vector function ABI -> (CPU feature, vector bits)
_ISAS = (("e", "avx512f", 512), ("d", "avx2", 256), ("b", "sse4.2", 128))


@functools.cache
def _libmvec() -> ctypes.CDLL | None:
    path = ctypes.util.find_library("mvec")
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    llvm.load_library_permanently(path)  # so JIT-compiled code can call into it
    return lib


def _host_isas() -> tuple[tuple[str, int], ...]:
    return tuple((letter, bits) for letter, feat, bits in _ISAS if host.has(feat))


def variants(name: str, elem: ir.Type, nargs: int) -> list[tuple[str, int]]:
    """(vector function name, lanes) for each libmvec version of libm function `name`
    (already suffixed: `expf` or `exp`) usable on this machine."""
    lib = _libmvec()
    if lib is None:
        return []
    elem_bits = 32 if elem == ir.FloatType() else 64
    out = []
    for letter, bits in _host_isas():
        lanes = bits // elem_bits
        vname = f"_ZGV{letter}N{lanes}{'v' * nargs}_{name}"
        if hasattr(lib, vname):
            out.append((vname, lanes))
    return out


class _MathAttributes(ir.values.FunctionAttributes):
    """Function attributes plus the string attribute llvmlite does not model."""

    def __init__(self, mapping: str):
        super().__init__(["nounwind", "readnone"])
        self.mapping = mapping

    def _to_list(self, ret_type):
        return [*super()._to_list(ret_type), f'"vector-function-abi-variant"="{self.mapping}"']


def declare_math(module: ir.Module, name: str, elem: ir.Type, nargs: int) -> ir.Function:
    """Declare libm function `name` as pure, with its vector variants where libmvec has them."""
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(elem, [elem] * nargs), name)
    found = variants(name, elem, nargs)
    if not found:
        fn.attributes.add("nounwind")
        fn.attributes.add("readnone")
        return fn
    entries = []
    for vname, lanes in found:
        vec = ir.VectorType(elem, lanes)
        if vname not in module.globals:
            ir.Function(module, ir.FunctionType(vec, [vec] * nargs), vname)
        entries.append(f"_ZGV_LLVM_N{lanes}{'v' * nargs}_{name}({vname})")
    fn.attributes = _MathAttributes(",".join(entries))
    return fn


def keep_vector_declarations(module: ir.Module) -> None:
    """List the vector functions in `llvm.compiler.used`: otherwise dead-declaration removal
    drops them before the vectorizer runs, and it cannot use a function that is not declared."""
    decls = [g for g in module.globals.values() if g.name.startswith("_ZGV")]
    if not decls:
        return
    ptr = ir.PointerType()
    arr = ir.ArrayType(ptr, len(decls))
    used = ir.GlobalVariable(module, arr, "llvm.compiler.used")
    used.linkage = "appending"
    used.section = "llvm.metadata"
    used.initializer = ir.Constant(arr, decls)
