"""Text form of the IR in MLIR's generic op syntax; `parser.py` reads it back exactly.

Functions use `func.func`'s custom form (as `mlir-opt` prints it); every other op is printed
generically, `%0 = "tir.add"(%a, %b) {attrs} : (types) -> type loc(...)`, so `mlir-opt
--allow-unregistered-dialect` accepts the text unchanged.

>>> from tensorir.ir import types as T
>>> from tensorir.ir.core import Function, Operation
>>> f = Function("id", [T.TensorType((2,), T.f32)], [T.TensorType((2,), T.f32)])
>>> _ = f.body.append(Operation("func.return", [f.args[0]]))
>>> print(print_function(f))
func.func @id(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  "func.return"(%arg0) : (tensor<2xf32>) -> ()
}
"""

from __future__ import annotations

import math

import numpy as np

from .affine import AffineMap
from .core import DenseAttr, Function, Location, Module, Operation, Value
from .types import DType, FunctionType, IndexType, TensorType

HEX_THRESHOLD = 16  # dense constants with more elements print as raw little-endian hex


def format_float(x: float, dtype: DType | None = None) -> str:
    """A float literal MLIR accepts that reads back to the same value in `dtype`.

    Non-finite values print as the hex of their bits, as MLIR does.
    """
    d = dtype.np if dtype is not None else np.dtype(np.float64)
    v = d.type(x)
    if not math.isfinite(float(v)):
        bits = np.array(v, dtype=d).view(f"u{d.itemsize}").item()
        return f"0x{bits:0{d.itemsize * 2}X}"
    text = repr(float(v)) if d == np.float64 else str(v)
    if "e" in text and "." not in text.split("e")[0]:
        mant, exp = text.split("e")
        text = f"{mant}.0e{exp}"
    elif "." not in text and "e" not in text:
        text += ".0"
    return text


def format_scalar(x, dtype: DType) -> str:
    if dtype.is_bool:
        return "true" if bool(x) else "false"
    if dtype.is_float:
        return format_float(x, dtype)
    return str(int(x))


def format_dense(a: DenseAttr) -> str:
    dt = a.type.dtype
    if a.type.is_static and a.type.size == 0:
        body = ""
    elif a.splat:
        body = format_scalar(a.array[()], dt)
    elif a.array.size > HEX_THRESHOLD and not dt.is_bool:
        body = '"0x' + a.array.astype(a.array.dtype.newbyteorder("<")).tobytes().hex().upper() + '"'
    else:

        def nest(x):
            if x.ndim == 0:
                return format_scalar(x[()], dt)
            return "[" + ", ".join(nest(y) for y in x) + "]"

        body = nest(a.array)
    return f"dense<{body}> : {a.type}"


def format_attr(v) -> str:
    """MLIR text of an attribute value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        text = format_float(v)
        return f"{text} : f64" if text.startswith("0x") else text
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, tuple | list):
        return "[" + ", ".join(format_attr(x) for x in v) + "]"
    if isinstance(v, AffineMap | DType | TensorType | IndexType | FunctionType):
        return str(v)
    if isinstance(v, DenseAttr):
        return format_dense(v)
    raise TypeError(f"cannot print attribute of type {type(v).__name__}: {v!r}")


def quote(s: str) -> str:
    """An MLIR string literal."""
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + s.replace("\v", "\\0B").replace("\f", "\\0C") + '"'


def format_loc(loc: Location | None) -> str:
    if loc is None:
        return ""
    return f" loc({quote(loc.file)}:{loc.line}:{loc.col})"


class _Printer:
    def __init__(self):
        self.names: dict[Value, str] = {}
        self.next_result = 0
        self.next_arg = 0
        self.lines: list[str] = []

    def name(self, v: Value) -> str:
        return self.names[v]

    def name_args(self, args) -> str:
        parts = []
        for a in args:
            self.names[a] = f"%arg{self.next_arg}"
            self.next_arg += 1
            parts.append(f"{self.names[a]}: {a.type}")
        return ", ".join(parts)

    def op(self, op: Operation, indent: str) -> None:
        head = ""
        if len(op.results) == 1:
            self.names[op.results[0]] = f"%{self.next_result}"
            head = f"%{self.next_result} = "
        elif op.results:
            base = f"%{self.next_result}"
            for i, r in enumerate(op.results):
                self.names[r] = f"{base}#{i}"
            head = f"{base}:{len(op.results)} = "
        if op.results:
            self.next_result += 1
        operands = ", ".join(self.name(v) for v in op.operands)
        text = f'{indent}{head}"{op.name}"({operands})'
        if op.regions:
            self.lines.append(text + " ({")
            for i, r in enumerate(op.regions):
                if i:
                    self.lines.append(f"{indent}}}, {{")
                for b in r.blocks:
                    self.lines.append(f"{indent}^bb0({self.name_args(b.args)}):")
                    for inner in b.ops:
                        self.op(inner, indent + "  ")
            text = f"{indent}}})"
        if op.attrs:
            text += " {" + ", ".join(f"{k} = {format_attr(v)}" for k, v in op.attrs.items()) + "}"
        in_types = ", ".join(str(v.type) for v in op.operands)
        res = [str(r.type) for r in op.results]
        single = len(res) == 1 and not isinstance(op.results[0].type, FunctionType)
        out = res[0] if single else "(" + ", ".join(res) + ")"
        self.lines.append(f"{text} : ({in_types}) -> {out}{format_loc(op.loc)}")

    def function(self, f: Function, indent: str) -> None:
        res = [str(t) for t in f.type.results]
        arrow = ""
        if len(res) == 1:
            arrow = f" -> {res[0]}"
        elif res:
            arrow = " -> (" + ", ".join(res) + ")"
        self.lines.append(f"{indent}func.func @{f.sym_name}({self.name_args(f.args)}){arrow} {{")
        for op in f.body.ops:
            self.op(op, indent + "  ")
        self.lines.append(f"{indent}}}")


def print_function(f: Function) -> str:
    """The text of one function."""
    p = _Printer()
    p.function(f, "")
    return "\n".join(p.lines)


def print_module(m: Module) -> str:
    """The text of a module: `module { func.func ... }`."""
    p = _Printer()
    p.lines.append("module {")
    for f in m.functions:
        p.names.clear()
        p.next_result = p.next_arg = 0
        p.function(f, "  ")
    p.lines.append("}")
    return "\n".join(p.lines)
