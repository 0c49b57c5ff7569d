"""Tensor-level IR in MLIR's upstream dialects (`func`, `arith`, `math`, `tensor`, `linalg`).

Each tensor op becomes one structured op on tensors: elementwise ops, broadcasts and reductions
are `linalg.generic`s whose bodies hold `arith`/`math` scalar ops, matmuls are `linalg.matmul` /
`linalg.batch_matmul`, transposes `linalg.transpose`, reshapes `tensor.reshape`, constants
`arith.constant`. Upstream integers are signless, so unsigned tensors become `iN` with the
unsigned flavour of each op (`arith.divui`, `arith.cmpi ult`, `arith.uitofp`). Ops without an
upstream equivalent here (gather, scatter, slices, integer division, ...) raise `ExportError`.

>>> from tensorir.ir.parser import parse_module
>>> m = parse_module('''func.func @f(%arg0: tensor<3xf32>) -> tensor<3xf32> {
...   %0 = "tir.exp"(%arg0) : (tensor<3xf32>) -> tensor<3xf32>
...   "func.return"(%0) : (tensor<3xf32>) -> ()
... }''')
>>> [line.strip() for line in export_mlir(m).splitlines() if "math" in line or "func" in line]
['func.func @f(%arg0: tensor<3xf32>) -> tensor<3xf32> {', '%v4 = math.exp %v2 : f32']
"""

from __future__ import annotations

import itertools

import numpy as np

from .ir import types as T
from .ir.core import Function, Module, Operation, Value

__all__ = ["ExportError", "export_mlir"]


class ExportError(Exception):
    """An op with no translation to the upstream dialects; names the op and its location."""


# tir name -> {kind: template}; kind f (float), s (signed int), u (unsigned int), b (bool).
# A template is an arith/math op taking the operands in order ("arith.addf"), or a callable.
_FLOAT_UNARY = {
    "exp": "math.exp", "log": "math.log", "log1p": "math.log1p", "expm1": "math.expm1",
    "sqrt": "math.sqrt", "cbrt": "math.cbrt", "sin": "math.sin", "cos": "math.cos",
    "tan": "math.tan", "tanh": "math.tanh", "sinh": "math.sinh", "cosh": "math.cosh",
    "arcsin": "math.asin", "arccos": "math.acos", "arctan": "math.atan", "erf": "math.erf",
    "floor": "math.floor", "ceil": "math.ceil", "round": "math.roundeven", "neg": "arith.negf",
    "abs": "math.absf", "arctan2": "math.atan2", "pow": "math.powf", "div": "arith.divf",
}  # fmt: skip
_ARITH = {
    "add": ("arith.addf", "arith.addi", "arith.addi", "arith.xori"),
    "sub": ("arith.subf", "arith.subi", "arith.subi", None),
    "mul": ("arith.mulf", "arith.muli", "arith.muli", "arith.andi"),
    "max": ("arith.maximumf", "arith.maxsi", "arith.maxui", "arith.ori"),
    "min": ("arith.minimumf", "arith.minsi", "arith.minui", "arith.andi"),
    "and": (None, "arith.andi", "arith.andi", "arith.andi"),
    "or": (None, "arith.ori", "arith.ori", "arith.ori"),
    "xor": (None, "arith.xori", "arith.xori", "arith.xori"),
}
# comparison -> (cmpf predicate, cmpi signed, cmpi unsigned); numpy's != is true for NaN: une
_COMPARE = {
    "eq": ("oeq", "eq", "eq"), "ne": ("une", "ne", "ne"), "lt": ("olt", "slt", "ult"),
    "le": ("ole", "sle", "ule"), "gt": ("ogt", "sgt", "ugt"), "ge": ("oge", "sge", "uge"),
}  # fmt: skip
_REDUCE = {"reduce_sum": "add", "reduce_prod": "mul", "reduce_max": "max", "reduce_min": "min"}


def _kind(dt: T.DType) -> str:
    return "b" if dt.is_bool else "f" if dt.is_float else "u" if dt.kind == "u" else "s"


def _elt(dt: T.DType) -> str:
    """The upstream element type: signless for every integer."""
    return "i1" if dt.is_bool else f"f{dt.bits}" if dt.is_float else f"i{dt.bits}"


def _type(t: T.TensorType) -> str:
    return f"tensor<{''.join(f'{d}x' for d in t.shape)}{_elt(t.dtype)}>"


def _map(n: int, results) -> str:
    dims = ", ".join(f"d{i}" for i in range(n))
    return f"affine_map<({dims}) -> ({', '.join(results)})>"


def _scalar(x, dt: T.DType) -> str:
    """A scalar attribute; floats as exact bit patterns, so inf and NaN need no spelling."""
    if dt.is_bool:
        return "true" if x else "false"
    if dt.is_float:
        bits = np.asarray(x, dt.np).view(f"u{dt.bits // 8}")
        return f"0x{int(bits):0{dt.bits // 4}X}"
    return str(int(np.asarray(x, dt.np).astype(np.int64 if dt.kind == "i" else np.uint64)))


def _dense(array: np.ndarray, t: T.TensorType) -> str:
    if array.ndim == 0 or t.dtype.is_float:
        if array.ndim == 0:
            return f"dense<{_scalar(array[()], t.dtype)}>"
        raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        return f'dense<"0x{raw.hex().upper()}">'

    def nest(a):
        if a.ndim == 0:
            return _scalar(a[()], t.dtype)
        return "[" + ", ".join(nest(x) for x in a) + "]"

    return f"dense<{nest(array)}>"


class _Exporter:
    def __init__(self):
        self.lines: list[str] = []
        self.names: dict[Value, str] = {}
        self.counter = itertools.count()

    def fresh(self) -> str:
        return f"%v{next(self.counter)}"

    def emit(self, text: str, indent: int = 4) -> None:
        self.lines.append(" " * indent + text)

    def function(self, f: Function) -> None:
        self.names = {a: f"%arg{i}" for i, a in enumerate(f.args)}
        args = ", ".join(f"{self.names[a]}: {_type(a.type)}" for a in f.args)
        res = [_type(t) for t in f.type.results]
        ret = res[0] if len(res) == 1 else f"({', '.join(res)})"
        self.emit(f"func.func @{f.sym_name}({args}) -> {ret} {{", 2)
        for op in f.body.ops:
            if op.name == "func.return":
                vals = ", ".join(self.names[v] for v in op.operands)
                types = ", ".join(_type(v.type) for v in op.operands)
                self.emit(f"return {vals} : {types}" if vals else "return")
            else:
                self.names[op.result] = self.op(op)
        self.emit("}", 2)

    def fail(self, op: Operation, why: str):
        where = f" at {op.loc}" if op.loc is not None else ""
        raise ExportError(f"cannot export '{op.name}'{where} to upstream MLIR: {why}")

    def op(self, op: Operation) -> str:
        name = op.name.removeprefix("tir.")
        t = op.result.type
        ins = [(self.names[v], v.type) for v in op.operands]
        if op.name == "tir.constant":
            r = self.fresh()
            self.emit(f"{r} = arith.constant {_dense(op.attrs['value'].array, t)} : {_type(t)}")
            return r
        if op.name == "tir.broadcast":
            dims, n = op.attrs["dims"], t.rank
            src = ins[0][1]
            res = [f"d{d}" if src.shape[i] == t.shape[d] else "0" for i, d in enumerate(dims)]
            return self.generic(op, ins, [_map(n, res)], ["parallel"] * n, lambda a: a[0])
        if op.name == "tir.transpose":
            init = self.empty(t)
            r = self.fresh()
            perm = ", ".join(map(str, op.attrs["perm"]))
            self.emit(
                f"{r} = linalg.transpose ins({ins[0][0]} : {_type(ins[0][1])}) "
                f"outs({init} : {_type(t)}) permutation = [{perm}]"
            )
            return r
        if op.name == "tir.reshape":
            shape, r = self.fresh(), self.fresh()
            dims = ", ".join(map(str, t.shape))
            self.emit(f"{shape} = arith.constant dense<[{dims}]> : tensor<{t.rank}xi64>")
            self.emit(
                f"{r} = tensor.reshape {ins[0][0]}({shape}) : "
                f"({_type(ins[0][1])}, tensor<{t.rank}xi64>) -> {_type(t)}"
            )
            return r
        if op.name == "tir.matmul":
            return self.matmul(op, ins)
        if name in _REDUCE:
            return self.reduce(op, ins, _REDUCE[name])
        return self.elementwise(op, name, ins)

    def empty(self, t: T.TensorType) -> str:
        r = self.fresh()
        self.emit(f"{r} = tensor.empty() : {_type(t)}")
        return r

    def splat(self, value, t: T.TensorType) -> str:
        r = self.fresh()
        self.emit(f"{r} = arith.constant dense<{_scalar(value, t.dtype)}> : {_type(t)}")
        return r

    def generic(self, op, ins, in_maps, iters, body, init=None) -> str:
        """A linalg.generic over the result's domain; `body(args)` returns the yielded value
        given the block arguments (inputs, then the output's current value)."""
        t = op.result.type
        out = init or self.empty(t)
        n = len(iters)
        maps = [*in_maps, _map(n, [f"d{i}" for i in range(n) if iters[i] == "parallel"])]
        r = self.fresh()
        iter_list = ", ".join(f'"{k}"' for k in iters)
        operands = ", ".join(v for v, _ in ins)
        in_types = ", ".join(_type(ty) for _, ty in ins)
        self.emit(
            f"{r} = linalg.generic {{indexing_maps = [{', '.join(maps)}], "
            f"iterator_types = [{iter_list}]}} ins({operands} : {in_types}) "
            f"outs({out} : {_type(t)}) {{"
        )
        args = [self.fresh() for _ in range(len(ins) + 1)]
        elts = [ty.dtype for _, ty in ins] + [t.dtype]
        block_args = ", ".join(f"{a}: {_elt(d)}" for a, d in zip(args, elts, strict=True))
        self.emit(f"^bb0({block_args}):")
        result = body(args)
        self.emit(f"linalg.yield {result} : {_elt(t.dtype)}", 6)
        self.emit(f"}} -> {_type(t)}")
        return r

    def scalar(self, text: str) -> str:
        r = self.fresh()
        self.emit(f"{r} = {text}", 6)
        return r

    def elementwise(self, op, name, ins) -> str:
        t = op.result.type
        src = ins[0][1].dtype if ins else t.dtype
        k = _kind(src)
        st = _elt(src)
        build = None
        if name in _COMPARE:
            pred = _COMPARE[name][{"f": 0, "s": 1, "u": 2, "b": 2}[k]]
            cmp = "arith.cmpf" if k == "f" else "arith.cmpi"
            build = lambda a: self.scalar(f"{cmp} {pred}, {a[0]}, {a[1]} : {st}")  # noqa: E731
        elif name == "select":
            vt = _elt(t.dtype)
            build = lambda a: self.scalar(f"arith.select {a[0]}, {a[1]}, {a[2]} : {vt}")  # noqa: E731
        elif name == "cast":
            build = self.cast_body(op, src, t.dtype)
        elif name in _ARITH and _ARITH[name]["fsub".index(k)] is not None:
            fn = _ARITH[name]["fsub".index(k)]
            build = lambda a: self.scalar(f"{fn} {', '.join(a[:-1])} : {st}")  # noqa: E731
        elif k == "f" and name in _FLOAT_UNARY:
            fn = _FLOAT_UNARY[name]
            build = lambda a: self.scalar(f"{fn} {', '.join(a[:-1])} : {st}")  # noqa: E731
        elif name in ("isnan", "isinf", "isfinite") and k == "f":
            build = self.float_class(name, st)
        elif name == "not" and k != "f":
            build = lambda a: self.scalar(f"arith.xori {a[0]}, {self.ones(st)} : {st}")  # noqa: E731
        elif name == "neg" and k in "su":
            build = lambda a: self.scalar(f"arith.subi {self.zero(st)}, {a[0]} : {st}")  # noqa: E731
        elif name == "abs" and k in "su":
            build = (lambda a: a[0]) if k == "u" else (
                lambda a: self.scalar(f"math.absi {a[0]} : {st}"))  # fmt: skip
        if build is None or op.attrs.keys() - {"dtype"} or "elementwise" not in _traits(op):
            self.fail(op, f"no upstream equivalent for {op.name} on {src}")
        n = t.rank
        ident = _map(n, [f"d{i}" for i in range(n)])
        return self.generic(op, ins, [ident] * len(ins), ["parallel"] * n, build)

    def zero(self, st: str) -> str:
        return self.scalar(f"arith.constant 0 : {st}")

    def ones(self, st: str) -> str:
        return self.scalar(f"arith.constant {'true' if st == 'i1' else -1} : {st}")

    def float_class(self, name: str, st: str):
        if name == "isnan":
            return lambda a: self.scalar(f"arith.cmpf uno, {a[0]}, {a[0]} : {st}")
        return lambda a: self.scalar(f"math.{name} {a[0]} : {st}")

    def cast_body(self, op, src: T.DType, dst: T.DType):
        s, d = _elt(src), _elt(dst)
        ks, kd = _kind(src), _kind(dst)
        if s == d:
            return lambda a: a[0]
        if kd == "b":
            if ks == "f":
                zero = f"arith.constant 0.0 : {s}"
                return lambda a: self.scalar(f"arith.cmpf une, {a[0]}, {self.scalar(zero)} : {s}")
            return lambda a: self.scalar(f"arith.cmpi ne, {a[0]}, {self.zero(s)} : {s}")
        if ks == "f" and kd == "f":
            fn = "arith.extf" if dst.bits > src.bits else "arith.truncf"
        elif kd == "f":
            fn = "arith.sitofp" if ks == "s" else "arith.uitofp"
        elif ks == "f":
            fn = "arith.fptosi" if kd == "s" else "arith.fptoui"
        elif dst.bits < src.bits:
            fn = "arith.trunci"
        else:
            fn = "arith.extsi" if ks == "s" else "arith.extui"
        return lambda a: self.scalar(f"{fn} {a[0]} : {s} to {d}")

    def reduce(self, op, ins, combine: str) -> str:
        x = ins[0][1]
        t = op.result.type
        axes = set(op.attrs["axes"])
        k = _kind(x.dtype)
        fn = _ARITH[combine]["fsub".index(k)]
        if fn is None:
            self.fail(op, f"no upstream equivalent for {op.name} on {x.dtype}")
        init = self.splat(_identity(combine, x.dtype), t)
        iters = ["reduction" if i in axes else "parallel" for i in range(x.rank)]
        ident = _map(x.rank, [f"d{i}" for i in range(x.rank)])
        st = _elt(x.dtype)
        body = lambda a: self.scalar(f"{fn} {a[1]}, {a[0]} : {st}")  # noqa: E731
        return self.generic(op, ins, [ident], iters, body, init=init)

    def matmul(self, op, ins) -> str:
        t = op.result.type
        init = self.splat(False if t.dtype.is_bool else 0, t)
        a, b = ins
        if t.rank > 3 or t.dtype.is_bool:
            self.fail(op, f"only 2-d and 3-d numeric matmuls are exported, got {t}")
        name = "linalg.matmul" if t.rank == 2 else "linalg.batch_matmul"
        r = self.fresh()
        self.emit(
            f"{r} = {name} ins({a[0]}, {b[0]} : {_type(a[1])}, {_type(b[1])}) "
            f"outs({init} : {_type(t)}) -> {_type(t)}"
        )
        return r


def _traits(op: Operation) -> frozenset:
    from .ir.opdef import lookup

    try:
        return lookup(op.name).traits
    except KeyError:
        return frozenset()


def _identity(combine: str, dt: T.DType):
    if combine == "add":
        return 0
    if combine == "mul":
        return 1
    big = combine == "min"  # the identity of min is the largest value
    if dt.is_float:
        return np.inf if big else -np.inf
    info = np.iinfo(dt.np)
    return info.max if big else info.min


def export_mlir(module: Module | Function) -> str:
    """`module` (tensor level: traced, or after tensor-level passes) in upstream MLIR dialects.

    Raises `ExportError` naming the first op that has no translation.
    """
    ex = _Exporter()
    ex.lines.append("module {")
    for f in module.functions if isinstance(module, Module) else [module]:
        ex.function(f)
    ex.lines.append("}")
    return "\n".join(ex.lines) + "\n"
