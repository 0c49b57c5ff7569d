"""Ahead-of-time compilation: a module of tensor IR to native code for Python, C and numba.

`compile(module)` runs the pass pipeline on every function, lowers each to its native entry point
`i32 tensorir_entry_NAME(PyArrayObject *in..., PyArrayObject *out...)` and adds a C-ABI wrapper

    int32_t NAME_c(void **data, const int64_t *const *shapes, const int64_t *const *strides);

The entry reads only three fields of each array object: the data pointer, the pointer to its
int64 dims and the pointer to its int64 byte strides (offsets in `lower_llvm/pyarray.py`). So the
wrapper builds a small fake header with those fields on its stack per argument and calls the
entry: C callers pass plain pointers and never see a Python object. Object code goes through the
disk cache (`tensorir.cache`); `save(path)` links it into a shared library with a C header.

>>> import numpy as np
>>> from tensorir.ir.parser import parse_module
>>> m = parse_module('''func.func @twice(%arg0: tensor<3xf32>) -> tensor<3xf32> {
...   %0 = "tir.add"(%arg0, %arg0) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
...   "func.return"(%0) : (tensor<3xf32>) -> ()
... }''')
>>> compile(m)(np.arange(3, dtype=np.float32))
array([0., 2., 4.], dtype=float32)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from . import cache
from .ir import types as T
from .ir.core import Function, Module
from .ir.parser import parse_module, parse_type
from .ir.printer import print_module
from .ir.verifier import verify
from .lower_llvm import host
from .lower_llvm.codegen import lower_function
from .lower_llvm.engine import DEFAULT_PIPELINE
from .lower_llvm.pyarray import ARRAY_DATA, ARRAY_DIMS, ARRAY_STRIDES
from .passes.manager import PassManager

__all__ = ["Compiled", "compile"]

PTR = ir.PointerType()
I32, I64 = ir.IntType(32), ir.IntType(64)
_C_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENTRY = "tensorir_entry_"  # prefix of each function's Python-object entry point


@dataclass(frozen=True)
class Signature:
    """One compiled function: its name, argument and result types, and run-time error texts."""

    name: str
    inputs: tuple[T.TensorType, ...]
    outputs: tuple[T.TensorType, ...]
    errors: tuple[str, ...]


class Compiled:
    """Native code for every function of a module; call it (or `compiled["name"]`) on arrays.

    `llvm_ir` is the optimized LLVM IR, `asm` the host assembly, `obj` the object code;
    `save(path)` writes a shared library and its C header. `c_address(name)` is the address of
    the C-ABI wrapper in this process (for numba or ctypes).
    """

    def __init__(self, signatures: list[Signature], code: cache.CachedCode, contiguous: bool):
        self.signatures = {s.name: s for s in signatures}
        self.obj = code.obj
        self.llvm_ir = code.llvm_ir
        self.cache_hit = code.hit
        self.contiguous = contiguous
        # A private MCJIT engine per compiled module: the symbols keep their C names (`f`,
        # `f_c`) without clashing with another module's, in this process or in the .so.
        if "_ZGV" in code.llvm_ir:
            _load_libmvec()
        tm = _jit_target_machine()
        self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
        self._engine.add_object_file(llvm.ObjectFileRef.from_data(code.obj))
        self._engine.finalize_object()
        self._cfuncs = {}
        for s in signatures:
            n = len(s.inputs) + len(s.outputs)
            proto = ctypes.CFUNCTYPE(ctypes.c_int32, *[ctypes.py_object] * n)
            self._cfuncs[s.name] = proto(self._engine.get_function_address(_ENTRY + s.name))

    @property
    def asm(self) -> str:
        """The host assembly of the optimized module."""
        return cache.pic_target_machine().emit_assembly(llvm.parse_assembly(self.llvm_ir))

    def c_address(self, name: str | None = None) -> int:
        """Address of `NAME_c` (the C-ABI wrapper) in this process; valid while self lives."""
        return self._engine.get_function_address(self._name(name) + "_c")

    def __getitem__(self, name: str):
        """The function `name` as a Python callable."""
        name = self._name(name)
        return lambda *arrays: self._call(name, arrays)

    def __call__(self, *arrays: np.ndarray):
        """Run the module's only function: one array result, or a tuple of them."""
        return self._call(self._name(None), arrays)

    def _name(self, name: str | None) -> str:
        if name is None:
            if len(self.signatures) != 1:
                raise TypeError(f"the module has functions {list(self.signatures)}; pick one")
            return next(iter(self.signatures))
        if name not in self.signatures:
            raise KeyError(f"no function {name!r}; compiled: {list(self.signatures)}")
        return name

    def _call(self, name: str, arrays) -> np.ndarray | tuple[np.ndarray, ...]:
        sig = self.signatures[name]
        if len(arrays) != len(sig.inputs):
            raise TypeError(f"{name} takes {len(sig.inputs)} arrays, got {len(arrays)}")
        args = []
        for i, (a, t) in enumerate(zip(arrays, sig.inputs, strict=True)):
            if not isinstance(a, np.ndarray) and hasattr(a, "__dlpack__"):
                a = np.from_dlpack(a)  # a view of the producer's memory, no copy
            a = np.asarray(a)
            if a.dtype != t.dtype.np or len(a.shape) != t.rank or not _fits(a.shape, t.shape):
                raise TypeError(f"{name} argument {i}: expected {t}, got {a.dtype}{list(a.shape)}")
            args.append(np.ascontiguousarray(a) if self.contiguous else a)
        outs = [np.empty(t.shape, t.dtype.np) for t in sig.outputs]
        rc = self._cfuncs[name](*args, *outs)
        if rc:
            raise IndexError(sig.errors[rc - 1])
        return outs[0] if len(outs) == 1 else tuple(outs)

    def header(self, guard: str = "TENSORIR_MODULE_H") -> str:
        """The C header declaring each function's `NAME_c` wrapper, with its convention."""
        from . import __version__

        lines = [
            f"/* Generated by tensorir {__version__}. Native code for this CPU. */",
            f"#ifndef {guard}",
            f"#define {guard}",
            "",
            "#include <stdint.h>",
            "",
            "/* Calling convention of every NAME_c below. Argument k is input k for k < n_in,",
            " * output k - n_in after that (n_in and the types are listed per function).",
            " *   data[k]    pointer to the first element of argument k",
            " *   shapes[k]  its dims, int64 each",
            " *   strides[k] its strides in BYTES, int64 each (a C-contiguous float32[4][8] has",
            " *              strides {32, 4}); never NULL",
            " * Outputs are C-contiguous arrays of the listed shape, allocated by the caller.",
            " * Inputs must be C-contiguous as well (compiled with contiguous=True)."
            if self.contiguous
            else " * Inputs may have any strides (compiled with contiguous=False).",
            " * Returns 0 on success, k > 0 for run-time error k (listed per function).",
            " * Calls are thread-safe; no function keeps a pointer after it returns. */",
            "",
            "#ifdef __cplusplus",
            'extern "C" {',
            "#endif",
            "",
        ]
        for s in self.signatures.values():
            ins = ", ".join(_c_type(t) for t in s.inputs)
            outs = ", ".join(_c_type(t) for t in s.outputs)
            lines.append(f"/* {s.name}: n_in = {len(s.inputs)}; ({ins}) -> ({outs})")
            lines += [f" * error {k}: {e}" for k, e in enumerate(s.errors, 1)]
            lines[-1] += " */"
            lines.append(
                f"int32_t {s.name}_c(void **data, const int64_t *const *shapes, "
                "const int64_t *const *strides);"
            )
            lines.append("")
        lines += ["#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */", ""]
        return "\n".join(lines)

    def save(self, path: str | os.PathLike) -> tuple[Path, Path]:
        """Write the shared library to `path` and its C header beside it (suffix `.h`)."""
        path = Path(path)
        header = path.with_suffix(".h")
        cc = shutil.which(os.environ.get("CC", "cc"))
        if cc is None:
            raise RuntimeError("linking a shared library needs a C compiler (cc or $CC)")
        with tempfile.TemporaryDirectory() as tmp:
            obj = Path(tmp) / "module.o"
            obj.write_bytes(self.obj)
            libs = ["-lm"] + (["-lmvec"] if "_ZGV" in self.llvm_ir else [])
            r = subprocess.run(
                [cc, "-shared", "-o", str(path), str(obj), *libs], capture_output=True, text=True
            )
            if r.returncode:
                raise RuntimeError(f"{cc} -shared failed: {r.stderr.strip()}")
        guard = re.sub(r"\W", "_", header.name).upper()
        header.write_text(self.header(guard))
        return path, header


def compile(
    module: Module | Function | str,
    target: str = "cpu",
    pipeline: str = DEFAULT_PIPELINE,
    contiguous: bool = True,
) -> Compiled:
    """Compile every function of `module` (IR objects or text; left unchanged) for `target`.

    `contiguous=True` compiles for C-contiguous inputs (constant strides, faster code); calls
    from Python copy other inputs, C callers must pass contiguous arrays.

    >>> import numpy as np
    >>> from tensorir.ir.parser import parse_module
    >>> m = parse_module('''func.func @sq(%arg0: tensor<2xf64>) -> tensor<2xf64> {
    ...   %0 = "tir.mul"(%arg0, %arg0) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
    ...   "func.return"(%0) : (tensor<2xf64>) -> ()
    ... }''')
    >>> compile(m)(np.array([3.0, 4.0]))
    array([ 9., 16.])
    """
    if target != "cpu":
        raise ValueError(f"target {target!r} is not supported; targets: cpu")
    text = module if isinstance(module, str) else print_module(_as_module(module))
    options = f"{pipeline};contiguous={contiguous}"
    # keyed on the tensor-level text, so a hit skips the passes and lowering as well as LLVM
    key = cache.cache_key(text, options, target)
    found = cache.load(key)
    if found is not None:
        obj, llvm_ir, meta = found
        signatures = [_signature_from_json(s) for s in json.loads(meta)]
        return Compiled(signatures, cache.CachedCode(obj, llvm_ir.decode(), True), contiguous)
    llvm_ir, signatures = _lower(parse_module(text), pipeline, contiguous)
    obj, opt_ir = cache.build_object(llvm_ir)
    meta = json.dumps([_signature_to_json(s) for s in signatures])
    cache.store(key, [obj, opt_ir.encode(), meta.encode()])
    return Compiled(signatures, cache.CachedCode(obj, opt_ir, False), contiguous)


def _lower(module: Module, pipeline: str, contiguous: bool) -> tuple[str, list[Signature]]:
    """Unoptimized LLVM IR of every function (entry and C wrapper) and their signatures."""
    verify(module)
    linked, signatures = None, []
    for f in module.functions:
        if not _C_NAME.fullmatch(f.sym_name):
            raise ValueError(f"function @{f.sym_name} has no C name; rename it")
        g = PassManager(pipeline).run(Module([f])).functions[0]
        # the Python-object entry gets a prefix, so no function name (`free`, `exp`) can
        # interpose a C library symbol from the shared library
        # no BLAS calls: the shared library must load without numpy's bundled OpenBLAS
        lowered = lower_function(
            g, _ENTRY + g.sym_name, [contiguous] * len(g.args), "kernel", threads=False
        )
        _add_c_wrapper(lowered.module, g.sym_name, len(g.args) + len(g.type.results))
        errors = tuple(lowered.errors)
        signatures.append(Signature(g.sym_name, g.type.inputs, g.type.results, errors))
        mod = llvm.parse_assembly(str(lowered.module))
        if linked is None:
            linked = mod
        else:
            linked.link_in(mod)
    if linked is None:
        raise ValueError("the module has no functions")
    return str(linked), signatures


def _signature_to_json(s: Signature) -> dict:
    return {
        "name": s.name,
        "inputs": [str(t) for t in s.inputs],
        "outputs": [str(t) for t in s.outputs],
        "errors": list(s.errors),
    }


def _signature_from_json(d: dict) -> Signature:
    def types(texts):
        return tuple(parse_type(t) for t in texts)

    return Signature(d["name"], types(d["inputs"]), types(d["outputs"]), tuple(d["errors"]))


def _add_c_wrapper(module: ir.Module, name: str, nargs: int) -> None:
    """Define `i32 NAME_c(ptr data, ptr shapes, ptr strides)` calling the entry of `NAME`."""
    entry = module.globals[_ENTRY + name]
    fn = ir.Function(module, ir.FunctionType(I32, [PTR, PTR, PTR]), f"{name}_c")
    fn.attributes.add("nounwind")
    data, shapes, strides = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    # the header is an array of pointer-sized words; the three fields are word-aligned
    header_ty = ir.ArrayType(PTR, max(ARRAY_DATA, ARRAY_DIMS, ARRAY_STRIDES) // 8 + 1)
    zero = ir.Constant(I32, 0)
    headers = []
    for k in range(nargs):
        h = b.alloca(header_ty)
        h.align = 16
        for src, offset in ((data, ARRAY_DATA), (shapes, ARRAY_DIMS), (strides, ARRAY_STRIDES)):
            field = b.load(b.gep(src, [ir.Constant(I64, k)], source_etype=PTR), typ=PTR)
            b.store(field, b.gep(h, [zero, ir.Constant(I32, offset // 8)], inbounds=True))
        headers.append(h)
    b.ret(b.call(entry, headers))


def _load_libmvec() -> None:
    """Make glibc's vector math visible to MCJIT, which binds a missing symbol to address 0."""
    path = ctypes.util.find_library("mvec")
    if path is None:
        raise RuntimeError("the code calls libmvec (glibc's vector math), which is not installed")
    llvm.load_library_permanently(path)


def _jit_target_machine() -> llvm.TargetMachine:
    # MCJIT takes ownership of its target machine, so every engine needs a fresh one
    cache.pic_target_machine()  # initializes LLVM's targets
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=host.feature_string(), opt=3, jit=True
    )


def _as_module(m: Module | Function) -> Module:
    return m if isinstance(m, Module) else Module([m])


def _c_type(t: T.TensorType) -> str:
    dims = ",".join("?" if d is None else str(d) for d in t.shape)
    return f"{t.dtype.mlir}[{dims}]"


def _fits(got: tuple, want: tuple) -> bool:
    return all(w is None or w == g for g, w in zip(got, want, strict=True))
