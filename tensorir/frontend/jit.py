"""`jit`: trace on first call per argument signature, compile, cache; later calls run native code.

The cache key is each array argument's (dtype, shape, C-contiguity), each Python scalar's type
(its value is a run-time argument, weakly typed as in JAX) and the static arguments' values.
A cache hit costs a dict lookup and one native call; the arrays go to the compiled code as they
are, whatever their strides. With `device="cuda"`, or when an argument is a device array (cupy,
`__cuda_array_interface__`, CUDA DLPack), the function compiles to PTX and runs on the GPU.

>>> import numpy as np, tensorir
>>> f = tensorir.jit(lambda a, b: np.tanh(a @ b).sum(axis=1))
>>> a = np.ones((2, 3), np.float32); b = np.ones((3, 4), np.float32)
>>> np.allclose(f(a, b), np.tanh(a @ b).sum(axis=1))
True
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ..ir import types as T
from ..ir.core import Module
from ..ir.parser import parse_module
from ..ir.printer import print_module
from ..lower_llvm.codegen import MATMUL_CHOICES, fastmath_flags
from ..lower_llvm.donation import donations
from ..lower_llvm.engine import DEFAULT_PIPELINE, Executable, compile_function
from ..lower_llvm.results import HUGE_RESULT_BYTES, new_result
from ..lower_ptx.runtime import as_device_array, is_device_array
from ..passes.manager import PassManager, stage_names
from . import pytree
from .errors import TraceError
from .trace import _split as split_static
from .trace import _static_positions as static_positions
from .trace import trace
from .tracer import current

_SCALARS = {bool: np.bool_, int: np.int64, float: np.float64}
_TREES = (tuple, list, dict, type(None))


@dataclass
class Lowered:
    """Every stage of one compiled specialization; `as_text(stage)` prints one.

    Stages: `traced` (tensor IR as traced), the name of each pass of the pipeline (the IR after
    it; a repeated pass is `name.2`), `generic` (the IR that is lowered, after all passes),
    `llvm-unoptimized`, `llvm` (after -O3: what runs) and `asm` on the CPU, `ptx` on the GPU.
    """

    traced: str
    generic: str
    executable: Executable  # or a lower_ptx.GpuProgram on the GPU
    out_tree: pytree.TreeDef
    pipeline: str
    device: str = "cpu"
    donation: dict = field(default_factory=dict)  # result index -> donated input it overwrites

    def stages(self) -> list[str]:
        passes = stage_names(self.pipeline)
        code = "ptx" if self.device == "cuda" else "asm"
        return ["traced", *passes, "generic", "llvm-unoptimized", "llvm", code]

    def as_text(self, stage: str = "traced") -> str:
        """The IR at `stage` (see `stages()`)."""
        fixed = {
            "traced": lambda: self.traced,
            "generic": lambda: self.generic,
            "llvm": lambda: self.executable.llvm_ir,
            "llvm-unoptimized": lambda: self.executable.llvm_ir_unoptimized,
            "asm": lambda: self.executable.asm,
            "ptx": lambda: self.executable.ptx,
        }
        if stage in ("asm", "ptx") and stage not in self.stages():
            raise ValueError(f"no {stage} stage on device {self.device!r}")
        if stage in fixed:
            return fixed[stage]()
        if stage not in self.stages():
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(self.stages())}")
        # passes are deterministic: re-running them on the traced text reproduces every stage
        pm = PassManager(self.pipeline, keep_text=True)
        pm.run(parse_module(self.traced))
        return pm.stages[stage]

    @property
    def timings(self) -> dict[str, float]:
        """Seconds spent in each pass and in LLVM for this specialization."""
        return self.executable.timings

    def dump(self, directory: str) -> None:
        """Write every stage into `directory`, numbered in pipeline order."""
        os.makedirs(directory, exist_ok=True)
        for i, stage in enumerate(self.stages()):
            ext = {"asm": "s", "ptx": "ptx"}.get(
                stage, "ll" if stage.startswith("llvm") else "mlir"
            )
            with open(os.path.join(directory, f"{i:02d}-{stage}.{ext}"), "w") as fh:
                fh.write(self.as_text(stage) + "\n")

    def memory_stats(self) -> dict:
        return self.executable.memory_stats()

    def run_into(self, out, *arrays):
        """Run, writing the results into `out` (arrays in the structure of the result) instead
        of new arrays; returns `out`. Each must have the result's shape and dtype, be
        C-contiguous and writeable, and share no memory with the inputs."""
        if self.out_tree is pytree.LEAF and not isinstance(out, _TREES):
            leaves = (out,)  # the common case, without flattening: this is a cached call's cost
        else:
            leaves, tree = pytree.flatten(out)
            if tree != self.out_tree:
                kind = self.out_tree.kind
                raise TypeError(f"out= must have the structure of the result ({kind})")
        gpu = self.device == "cuda"
        for i, (o, (shape, dtype)) in enumerate(zip(leaves, self._out_specs, strict=True)):
            _check_out(o, i, shape, dtype, arrays, gpu)
        if gpu:
            self.executable(*arrays, outs=leaves)
        else:
            rc = self.executable.cfunc(*arrays, *leaves)
            if rc:
                self.executable.raise_error(rc)
        return out

    def __post_init__(self):
        self._out_specs = (
            [(tuple(t.shape), t.dtype.np) for t in self.executable.lowered.out_types]
            if self.device == "cuda"
            else self.executable.out_specs
        )
        if self.device == "cuda":
            program, tree = self.executable, self.out_tree
            if tree.kind == "leaf":
                self.run = lambda *arrays: program(*arrays)[0]
            else:
                self.run = lambda *arrays: pytree.unflatten(tree, program(*arrays))
        elif self.donation:
            self.run = _donating_runner(self.executable, self.out_tree, self.donation)
        else:
            self.run = _runner(self.executable, self.out_tree)


def _runner(exe: Executable, out_tree: pytree.TreeDef) -> Callable:
    """`run(*arrays)` -> the caller's result; a single array output gets a closure with nothing
    but the allocation and the native call, since this is the whole cost of a cached call."""
    if out_tree.kind != "leaf":
        return lambda *arrays: pytree.unflatten(out_tree, exe.call_unchecked(*arrays))
    cfunc, (shape, dtype) = exe.cfunc, exe.out_specs[0]
    # decided once here rather than by new_result on every call: this closure is the hot path
    small = math.prod(shape) * np.dtype(dtype).itemsize < HUGE_RESULT_BYTES
    empty = np.empty if small else new_result

    def run(*arrays):
        out = empty(shape, dtype)
        rc = cfunc(*arrays, out)
        if rc:
            exe.raise_error(rc)
        return out

    return run


def _donating_runner(exe: Executable, out_tree: pytree.TreeDef, donation: dict) -> Callable:
    """`run(*arrays)` writing result k into input `donation[k]` whenever that array can take
    it (a writeable, C-contiguous numpy array sharing no memory with the other inputs); else
    into a new array, so donating never changes a result."""

    def run(*arrays):
        outs = []
        for k, (shape, dtype) in enumerate(exe.out_specs):
            j = donation.get(k)
            a = arrays[j] if j is not None else None
            if a is None or not _can_receive(a, j, arrays):
                a = new_result(shape, dtype)
            outs.append(a)
        rc = exe.cfunc(*arrays, *outs)
        if rc:
            exe.raise_error(rc)
        return outs[0] if out_tree.kind == "leaf" else pytree.unflatten(out_tree, outs)

    return run


def _can_receive(a, j: int, arrays) -> bool:
    if type(a) is not np.ndarray or not (a.flags.writeable and a.flags.c_contiguous):
        return False
    return not any(np.may_share_memory(a, b) for i, b in enumerate(arrays) if i != j)


class JitFunction:
    """A function compiled per argument signature; see `jit`."""

    def __init__(
        self,
        fn: Callable,
        static_argnums=(),
        static_argnames=(),
        pipeline: str | None = None,
        device: str | None = None,
        arch: str | None = None,
        donate_argnums=(),
        matmul: str = "auto",
        fastmath: bool | Iterable[str] = False,
    ):
        if device not in (None, "cpu", "cuda"):
            raise ValueError(f"tensorir.jit: device must be 'cpu' or 'cuda', got {device!r}")
        functools.update_wrapper(self, fn)
        self._fn = fn
        self._pipeline = pipeline
        self._device, self._arch = device, arch
        self._donate = frozenset(_as_tuple(donate_argnums))
        if matmul not in MATMUL_CHOICES:
            raise ValueError(
                f"tensorir.jit: matmul must be one of {MATMUL_CHOICES}, got {matmul!r}"
            )
        self._matmul = matmul
        self._fastmath = fastmath_flags(fastmath)
        self._dumps = 0
        self._static_argnums = tuple(sorted(_as_tuple(static_argnums)))
        self._static_argnames = frozenset(_as_tuple(static_argnames))
        self._simple = not self._static_argnums and not self._static_argnames
        self._cache: dict = {}
        self._fast: dict = {}  # hot-path keys of positional arrays -> entry
        self._fast_trees: dict = {}  # (tree, keys of its leaves) -> entry, for pytree arguments
        self._positions: dict = {}  # number of positional arguments -> static positions
        try:
            self._params = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            self._params = []
        self._own_out = "out" in self._params  # else out= names arrays for the results

    def __call__(self, *args, **kwargs):
        into = "out" in kwargs and not self._own_out
        out = kwargs.pop("out") if into else None
        hit = self._cached(args) if self._simple and not kwargs else None
        if hit is None:
            if current() is not None and not into:  # called while tracing (grad, a jit): inline
                return self._fn(*args, **kwargs)
            entry, leaves = self._entry(args, kwargs)
            if self._simple and not kwargs:
                self._remember(args, entry)
        else:
            entry, leaves = hit
        return entry.run_into(out, *leaves) if into else entry.run(*leaves)

    def _cached(self, args) -> tuple[Lowered, tuple | list] | None:
        """The hot path: (entry, array leaves) on a cache hit for positional arrays, or pytrees
        of arrays and Python scalars, without building the full signature; else None.
        type(a) in the key keeps numpy scalars and ndarray subclasses off this path."""
        try:
            return self._fast[_fast_key(args)], args
        except (AttributeError, KeyError):
            pass
        if not self._fast_trees:
            return None
        leaves, tree = pytree.flatten(args)
        try:
            entry = self._fast_trees[tree, tuple([_leaf_key(a) for a in leaves])]
        except (AttributeError, KeyError):
            return None
        return entry, [
            np.asarray(a, _SCALARS[type(a)]) if type(a) in _SCALARS else a for a in leaves
        ]

    def _remember(self, args, entry: Lowered) -> None:
        """Let later calls with arguments like `args` take the hot path."""
        if all(_fast_path_array(a) for a in args):
            table, key = self._fast, _fast_key(args)
        else:
            leaves, tree = pytree.flatten(args)
            if not all(type(a) in _SCALARS or _fast_path_array(a) for a in leaves):
                return
            table, key = self._fast_trees, (tree, tuple([_leaf_key(a) for a in leaves]))
        if len(table) > 256:  # many distinct strides: start over rather than grow
            table.clear()
        table[key] = entry

    def lower(self, *args, **kwargs) -> Lowered:
        """Trace and compile for these arguments (cached) and return every stage."""
        return self._entry(args, kwargs)[0]

    def _entry(self, args, kwargs) -> tuple[Lowered, list]:
        """The compiled specialization for this call (compiled on a miss) and its array leaves."""
        key, leaves = self._signature(args, kwargs)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._cache[key] = self._compile(args, kwargs, key)
        return entry, leaves

    def _signature(self, args, kwargs):
        names = self._static_argnames
        positions = self._positions.get(len(args))
        if positions is None:  # inspects the signature: once per number of arguments
            positions = static_positions(self._fn, len(args), self._static_argnums, names)
            self._positions[len(args)] = positions
        dynamic, _ = split_static(args, kwargs, positions, tuple(names))
        static = tuple((i, args[i]) for i in sorted(positions))
        static += tuple(sorted((k, v) for k, v in kwargs.items() if k in names))
        leaves, tree = pytree.flatten(dynamic)
        arrays, key = [], [tree, static]
        for i, leaf in enumerate(leaves):
            a, k = self._leaf(leaf, i)
            arrays.append(a)
            key.append(k)
        try:
            hash(static)
        except TypeError:
            raise TraceError(
                f"tensorir.jit({self.__name__}): static arguments must be hashable, got {static!r}"
            ) from None
        return tuple(key), arrays

    def _leaf(self, x, i: int):
        if self._device != "cpu" and is_device_array(x):
            a = as_device_array(x)
            self._check_dtype(a.dtype, i)
            return a, (a.dtype, a.shape, "cuda")
        if type(x) in _SCALARS:
            return np.asarray(x, dtype=_SCALARS[type(x)]), (type(x),)
        a = x if isinstance(x, np.ndarray) else None
        if a is None and isinstance(x, np.generic):
            a = np.asarray(x)
        if a is None:
            raise TypeError(
                f"tensorir.jit({self.__name__}): {self._arg_name(i)} is a {type(x).__name__}; "
                "expected a numpy array, a numpy scalar or a Python bool/int/float "
                "(mark other arguments static with static_argnums/static_argnames)"
            )
        self._check_dtype(a.dtype, i)
        if not a.dtype.isnative:
            a = a.astype(a.dtype.newbyteorder("="))
        return a, (a.dtype, a.shape, a.flags.c_contiguous)

    def _donated_leaves(self, args, static) -> set[int]:
        """Array leaves of the positional arguments in `donate_argnums` (all of a pytree's)."""
        donated, first = set(), 0
        for i, a in enumerate(args):
            if i in static:
                continue
            n = len(pytree.flatten(a)[0])
            if i in self._donate:
                donated.update(range(first, first + n))
            first += n
        return donated

    def _check_dtype(self, dtype, i: int) -> None:
        try:
            T.DType.from_numpy(dtype)
        except TypeError as e:
            raise TypeError(f"tensorir.jit({self.__name__}): {self._arg_name(i)}: {e}") from None

    def _arg_name(self, i: int) -> str:
        if i < len(self._params):
            return f"argument '{self._params[i]}' (array leaf {i})"
        return f"array leaf {i}"

    def _compile(self, args, kwargs, key) -> Lowered:
        on_gpu = self._device == "cuda" or any(k[-1] == "cuda" for k in key[2:] if len(k) == 3)
        if on_gpu:
            args, kwargs = _traceable(args, kwargs)
        traced = trace(self._fn, args, kwargs, self._static_argnums, self._static_argnames)
        f = traced.function
        text = print_module(Module([f]))
        donation: dict = {}
        if on_gpu:
            from ..lower_ptx import DEFAULT_ARCH, GPU_PIPELINE, compile_ptx, device_arch

            arch = self._arch or device_arch() or DEFAULT_ARCH
            pipeline = self._pipeline or GPU_PIPELINE
            exe = compile_ptx(f, arch, pipeline=pipeline)
        else:
            contiguous = [k[2] if len(k) == 3 else True for k in key[2:]]
            pipeline = self._pipeline or DEFAULT_PIPELINE
            exe = compile_function(
                f, contiguous, pipeline=pipeline, matmul=self._matmul, fastmath=self._fastmath
            )
            if self._donate:
                leaves = self._donated_leaves(args, set(traced.static_argnums))
                donation = donations(exe.generic_function, exe.lowered.plan, leaves, contiguous)
        generic = print_module(Module([exe.generic_function]))
        device = "cuda" if on_gpu else "cpu"
        lowered = Lowered(text, generic, exe, traced.out_tree, pipeline, device, donation)
        dump_root = os.environ.get("TENSORIR_DUMP")
        if dump_root:
            self._dumps += 1
            lowered.dump(os.path.join(dump_root, f"{f.sym_name}-{os.getpid()}-{self._dumps}"))
        return lowered


def jit(
    fn: Callable | None = None,
    *,
    static_argnums=(),
    static_argnames=(),
    pipeline: str | None = None,
    device: str | None = None,
    arch: str | None = None,
    donate_argnums=(),
    matmul: str = "auto",
    fastmath: bool | Iterable[str] = False,
):
    """Compile `fn` (numpy code); usable as `@jit` or `@jit(static_argnums=...)`.

    `pipeline` names the passes run before code generation (`tensorir.passes.PASSES`); by
    default `DEFAULT_PIPELINE` on the CPU and `lower_ptx.GPU_PIPELINE` on the GPU.
    Setting `TENSORIR_DUMP=<dir>` writes every stage of every compilation under `<dir>`.

    `device`: None runs on the CPU unless an argument is a device array (cupy,
    `__cuda_array_interface__`, CUDA DLPack), which selects the GPU; "cuda" always runs on the
    GPU (numpy arguments are copied there) and returns cupy arrays; "cpu" never uses the GPU.
    `arch` is the GPU's compute capability (`sm_90`); by default the current device's.

    Calls take `out=`: arrays (in the structure of the result) that receive the results
    instead of new ones, which spares a large result its fresh pages on every call; a
    function with a parameter named `out` gets it as usual. `donate_argnums` (as in JAX) lets
    results overwrite those arguments' arrays on the CPU where that is safe (an update
    `w - lr * g` in place; see `lower_llvm/donation.py`): the caller must not use them after
    the call.

    `matmul` says how matrix products run on the CPU: "kernel" (packed panels through a
    micro-kernel generated for the host's vectors, epilogue fused), "blas" (numpy's bundled
    BLAS per block, epilogue on each block), "loops" (plain loop nests), or "auto": whichever
    is faster for the shape (`lower_llvm/gemm.blas_preferred`). The choice shows in the LLVM IR.

    `fastmath` (CPU), as in Numba: LLVM's fast-math flags on the function's float arithmetic
    (add, subtract, multiply, divide, negate). True means `reassoc contract arcp nsz`: results
    may differ from numpy's in the last bits (a division by a row's sum becomes a multiply by
    its reciprocal), but NaN and infinity keep their meaning; a set of flag names picks others
    ("nnan", "ninf" and "afn" too). Sums keep their float32 blocks either way, and the inline
    exp, log and tanh their accuracy.

    >>> import numpy as np, tensorir
    >>> @tensorir.jit
    ... def f(x):
    ...     return np.exp(x) * 2.0
    >>> f(np.zeros(2, np.float32))
    array([2., 2.], dtype=float32)
    >>> buf = np.empty(2, np.float32)
    >>> f(np.ones(2, np.float32), out=buf) is buf
    True
    """
    options = (
        static_argnums,
        static_argnames,
        pipeline,
        device,
        arch,
        donate_argnums,
        matmul,
        fastmath,
    )
    if fn is None:
        return lambda f: JitFunction(f, *options)
    return JitFunction(fn, *options)


def _check_out(o, i: int, shape: tuple, dtype, inputs, gpu: bool) -> None:
    """Raise a clear error unless `o` can receive result `i`."""
    array_type = np.ndarray
    if gpu:
        import cupy

        array_type = cupy.ndarray
    fits = (
        isinstance(o, array_type)
        and o.shape == shape
        and (o.dtype is dtype or o.dtype == dtype)
        and o.flags.c_contiguous
    )
    if not fits:  # the message is built only here: checking is part of every call's cost
        want = f"a C-contiguous {'cupy' if gpu else 'numpy'} {dtype} array of shape {shape}"
        if not isinstance(o, array_type):
            raise TypeError(f"out leaf {i}: expected {want}, got {type(o).__name__}")
        layout = "C-contiguous" if o.flags.c_contiguous else "non-contiguous"
        raise TypeError(f"out leaf {i}: expected {want}, got {layout} {o.dtype} {o.shape}")
    if not gpu and not o.flags.writeable:
        raise ValueError(f"out leaf {i}: the array is read-only")
    overlaps = np.may_share_memory if not gpu else _device_overlap
    if any(overlaps(o, a) for a in inputs):
        raise ValueError(f"out leaf {i} shares memory with an input; pass a separate array")


def _device_overlap(a, b) -> bool:
    """Whether device arrays `a` and `b` may share bytes (their extents intersect)."""
    lo_a, lo_b = a.data.ptr, getattr(getattr(b, "data", None), "ptr", None)
    if lo_b is None:
        return False
    return lo_a < lo_b + b.nbytes and lo_b < lo_a + a.nbytes


def _fast_key(arrays) -> tuple:
    """The hot-path key of positional arrays (AttributeError for anything else)."""
    return tuple([(type(a), a.dtype, a.shape, a.strides) for a in arrays])


def _leaf_key(a) -> tuple:
    """A pytree leaf's part of a hot-path key: an array's as in `_fast_key` (spelled out again
    there, inline, since that comprehension is the cost of every plain call), a Python
    scalar's its type, its value being a run-time argument."""
    return (type(a),) if type(a) in _SCALARS else (type(a), a.dtype, a.shape, a.strides)


def _fast_path_array(a) -> bool:
    """Whether `a` can go to the compiled code as it is: a native-endian numpy array or a cupy
    array (its type is part of the fast path's key)."""
    if type(a) is np.ndarray:
        return a.dtype.isnative
    return type(a).__module__.startswith("cupy") and hasattr(a, "__cuda_array_interface__")


def _traceable(args, kwargs):
    """`args` and `kwargs` with device arrays known only through DLPack viewed as cupy arrays
    (tracing reads shapes and dtypes; numpy and cupy arrays trace as they are)."""

    def move(x):
        if hasattr(x, "__cuda_array_interface__") or not is_device_array(x):
            return x
        return as_device_array(x)

    leaves, tree = pytree.flatten((args, kwargs))
    return pytree.unflatten(tree, [move(x) for x in leaves])


def _as_tuple(x) -> tuple:
    if x is None:
        return ()
    return tuple(x) if isinstance(x, list | tuple | set | frozenset) else (x,)
