"""Reads the text `printer.py` writes back into IR, so print -> parse -> print is a fixed point.

The grammar is the part of MLIR's syntax the printer uses: `module { ... }`, `func.func`'s custom
form, generic ops with regions, builtin types, and the attribute values of `format_attr`. A lazy
tokenizer feeds a recursive-descent parser; every error is a `ParseError` pointing at the token
that broke the grammar.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any, NamedTuple, NoReturn

import numpy as np

from . import affine
from .affine import AffineMap
from .core import Block, DenseAttr, Function, Location, Module, Operation, Region, Value
from .types import FunctionType, TensorType, Type, dtype_from_mlir, f64, index

__all__ = [
    "ParseError", "TextPosition", "parse_attr", "parse_function", "parse_module", "parse_type",
]  # fmt: skip


@dataclass(frozen=True, eq=False, slots=True)
class TextPosition:
    """A place in IR text. The parser gives one to every op it reads (`op.parsed_at`); line and
    column are worked out only when asked, so recording them costs no scan of the text.

    >>> at = TextPosition("a.mlir", 'module {\\n  %0 = "tir.exp"', 11)
    >>> str(at), at.line, at.col
    ('a.mlir:2:3', 2, 3)
    >>> print(at.excerpt())
      %0 = "tir.exp"
      ^
    """

    filename: str
    text: str = field(repr=False)
    offset: int

    @property
    def line(self) -> int:
        """1-based line number."""
        return self.text.count("\n", 0, self.offset) + 1

    @property
    def col(self) -> int:
        """1-based column, counted in characters."""
        return self.offset - self.text.rfind("\n", 0, self.offset)

    @property
    def source_line(self) -> str:
        """The whole line the position is on, without its newline."""
        start = self.text.rfind("\n", 0, self.offset) + 1
        end = self.text.find("\n", self.offset)
        return self.text[start : end if end >= 0 else len(self.text)]

    def excerpt(self) -> str:
        """The source line and a caret under the position, as compilers show them."""
        line = self.source_line
        # Tabs stay tabs under the caret so it lines up however the terminal expands them.
        pad = "".join(c if c == "\t" else " " for c in line[: self.col - 1])
        return f"{line}\n{pad}^"

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.col}"


class ParseError(Exception):
    """Text that is not IR: `file:line:col: expected <what>, got <token>`, the line and a caret."""

    def __init__(self, reason: str, at: TextPosition):
        super().__init__(f"{at}: {reason}\n{at.excerpt()}")
        self.reason, self.at = reason, at
        self.filename, self.line, self.col = at.filename, at.line, at.col


class _Tok(NamedTuple):
    kind: str  # a group name of _TOKEN, or 'string', 'eof', 'error'
    text: str  # the source text (strings keep their quotes and escapes)
    pos: int
    value: str | None = None  # a string's decoded contents


_SKIP = re.compile(r"(?:\s+|//[^\n]*)*")
_NAME = r"[\w$.\-]+"
_TOKEN = re.compile(
    rf"(?P<value>%{_NAME}(?:#\d+)?)|(?P<block>\^{_NAME})|(?P<symbol>@{_NAME})"
    r"|(?P<float>\d+\.\d*(?:[eE][+-]?\d+)?)|(?P<hex>0x[0-9a-fA-F]+)|(?P<int>\d+)"
    r"|(?P<ident>[A-Za-z_][\w$.]*)|(?P<punct>->|[(){}\[\]<>,:=*+\-])",
    re.ASCII,
)
# MLIR lexes `4x?xf32` as one run, so the dims of a tensor type are scanned from the raw text.
_DIMS = re.compile(r"(?:(?:\d+|\?)x)*", re.ASCII)
_STRING_RUN = re.compile(r'[^"\\\n]*')
_ESCAPES = {'"': b'"', "\\": b"\\", "n": b"\n", "t": b"\t"}
_HEX_BYTES = re.compile(r"0x(?:[0-9a-fA-F]{2})*")


def _describe(tok: _Tok) -> str:
    if tok.kind == "eof":
        return "end of input"
    text = tok.text if len(tok.text) <= 40 else tok.text[:37] + "..."
    return f"'{text}'"


def _int(tok: _Tok) -> int:
    return int(tok.text, 16 if tok.kind == "hex" else 10)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


class _Parser:
    def __init__(self, text: str, filename: str):
        self.text, self.filename = text, filename
        self.pos = 0  # where lexing resumes
        self.prev_end = 0  # end of the last consumed token: the end of a multi-token span
        self.scopes: list[dict[str, list[Value]]] = []
        self.tok = self._lex()

    # -- tokens and errors ------------------------------------------------------------------

    def _lex(self) -> _Tok:
        pos = _SKIP.match(self.text, self.pos).end()
        if pos == len(self.text):
            tok = _Tok("eof", "", pos)
        elif self.text[pos] == '"':
            tok = self._lex_string(pos)
        else:
            m = _TOKEN.match(self.text, pos)
            tok = _Tok(m.lastgroup, m.group(), pos) if m else _Tok("error", self.text[pos], pos)
        self.pos = pos + len(tok.text)
        return tok

    def _lex_string(self, start: int) -> _Tok:
        text, i, parts = self.text, start + 1, []
        while True:
            run = _STRING_RUN.match(text, i)
            parts.append(run.group().encode("utf-8", "surrogatepass"))
            i = run.end()
            if i == len(text) or text[i] == "\n":
                end = "end of input" if i == len(text) else "end of line"
                self.fail("'\"' to end the string", start, end)
            if text[i] == '"':
                break
            esc = text[i + 1 : i + 3]
            if esc[:1] in _ESCAPES:
                parts.append(_ESCAPES[esc[0]])
                i += 2
            elif re.fullmatch(r"[0-9a-fA-F]{2}", esc):
                parts.append(bytes.fromhex(esc))
                i += 3
            else:
                self.fail('an escape (\\\\, \\", \\n, \\t or two hex digits)', i, f"'\\{esc[:1]}'")
        try:
            value = b"".join(parts).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            self.fail("a string of UTF-8 bytes", start, "invalid UTF-8")
        return _Tok("string", text[start : i + 1], start, value)

    def advance(self) -> _Tok:
        tok = self.tok
        self.prev_end = tok.pos + len(tok.text)
        self.tok = self._lex()
        return tok

    def fail(self, what: str, pos: int, got: str) -> NoReturn:
        raise ParseError(f"expected {what}, got {got}", self.position(pos))

    def position(self, pos: int) -> TextPosition:
        return TextPosition(self.filename, self.text, pos)

    def error(self, what: str, tok: _Tok | None = None) -> NoReturn:
        tok = self.tok if tok is None else tok
        self.fail(what, tok.pos, _describe(tok))

    def accept(self, text: str) -> bool:
        if self.tok.text == text:
            self.advance()
            return True
        return False

    def expect(self, text: str, what: str | None = None) -> None:
        if not self.accept(text):
            self.error(what or f"'{text}'")

    def expect_kind(self, kind: str, what: str) -> _Tok:
        if self.tok.kind != kind:
            self.error(what)
        return self.advance()

    def expect_end(self) -> None:
        if self.tok.kind != "eof":
            self.error("end of input")

    def comma_list(self, close: str, item) -> list:
        """`item()`s separated by ',' up to `close`; the opening bracket is already consumed."""
        items: list = []
        if self.accept(close):
            return items
        while True:
            items.append(item())
            if self.accept(close):
                return items
            self.expect(",", f"',' or '{close}'")

    # -- types ------------------------------------------------------------------------------

    def type_(self) -> Type:
        tok = self.tok
        if self.accept("("):
            inputs = self.comma_list(")", self.type_)
            self.expect("->")
            return FunctionType(tuple(inputs), tuple(self.result_types()))
        if tok.kind == "ident":
            if tok.text == "tensor":
                return self.tensor_type()
            t = index if tok.text == "index" else dtype_from_mlir(tok.text)
            if t is not None:
                self.advance()
                return t
        self.error("a type")

    def spanned_type(self) -> tuple[Type, int, int]:
        start = self.tok.pos
        t = self.type_()
        return t, start, self.prev_end

    def result_types(self) -> list[Type]:
        if self.accept("("):
            return self.comma_list(")", self.type_)
        return [self.type_()]

    def tensor_type(self) -> TensorType:
        self.advance()
        if self.tok.text != "<":
            self.error("'<'")
        dims = _DIMS.match(self.text, self.pos)
        self.pos = dims.end()
        self.advance()
        shape = tuple(None if d == "?" else int(d) for d in dims.group().split("x")[:-1])
        dtype = dtype_from_mlir(self.tok.text) if self.tok.kind == "ident" else None
        if dtype is None:
            self.error("an element type")
        self.advance()
        self.expect(">")
        return TensorType(shape, dtype)

    # -- attributes -------------------------------------------------------------------------

    def attr(self) -> Any:
        tok = self.tok
        if tok.kind == "string":
            return self.advance().value
        if self.accept("["):
            return tuple(self.comma_list("]", self.attr))
        if tok.text in ("true", "false"):
            return self.advance().text == "true"
        if tok.kind in ("int", "float", "hex") or tok.text == "-":
            return self.number()
        if tok.text == "affine_map":
            return self.affine_map()
        if tok.text == "dense":
            return self.dense()
        if tok.text in ("(", "tensor", "index") or dtype_from_mlir(tok.text) is not None:
            return self.type_()
        self.error("an attribute value")

    def attr_dict(self) -> dict[str, Any]:
        self.expect("{")
        attrs: dict[str, Any] = {}

        def entry() -> None:
            key = self.expect_kind("ident", "an attribute name")
            if key.text in attrs:
                self.error("a new attribute name", key)
            self.expect("=")
            attrs[key.text] = self.attr()

        self.comma_list("}", entry)
        return attrs

    def number(self) -> int | float:
        neg = self.accept("-")
        tok = self.advance()
        if tok.kind == "float":
            return -float(tok.text) if neg else float(tok.text)
        if tok.kind == "int" or (tok.kind == "hex" and self.tok.text != ":"):
            return -_int(tok) if neg else _int(tok)
        if tok.kind != "hex":
            self.error("a number", tok)
        # `0x... : f64` is how the printer writes a float without a decimal form (inf, NaN).
        self.advance()
        type_tok = self.tok
        if self.type_() != f64:
            self.error("f64", type_tok)
        if neg or _int(tok) >> 64:
            self.error("the 64 bits of an f64 in hex", tok)
        return struct.unpack("<d", _int(tok).to_bytes(8, "little"))[0]

    def affine_map(self) -> AffineMap:
        self.advance()
        self.expect("<")
        self.expect("(")
        dims: dict[str, int] = {}
        for tok in self.comma_list(")", lambda: self.expect_kind("ident", "a dimension name")):
            if tok.text in dims:
                self.error("a new dimension name", tok)
            dims[tok.text] = len(dims)
        self.expect("->")
        self.expect("(")
        results = self.comma_list(")", lambda: self.affine_expr(dims))
        self.expect(">")
        return AffineMap(len(dims), tuple(results))

    def affine_expr(self, dims: dict[str, int]) -> affine.Expr:
        e = self.affine_term(dims)
        while self.tok.text in ("+", "-"):
            sub = self.advance().text == "-"
            rhs = self.affine_term(dims)
            e = affine.add(e, affine.mul(rhs, -1) if sub else rhs)
        return e

    def affine_term(self, dims: dict[str, int]) -> affine.Expr:
        e = self.affine_unary(dims)
        while self.tok.text in ("*", "floordiv", "mod"):
            op = self.advance().text
            rhs_tok = self.tok
            rhs = self.affine_unary(dims)
            c = affine.const(rhs)
            if op == "*":
                if c is None and affine.const(e) is None:
                    self.error("a constant factor", rhs_tok)
                e = affine.mul(e, rhs)
            else:
                if c is None or c <= 0:
                    self.error(f"a positive constant after '{op}'", rhs_tok)
                e = affine.floordiv(e, c) if op == "floordiv" else affine.mod(e, c)
        return e

    def affine_unary(self, dims: dict[str, int]) -> affine.Expr:
        if self.accept("-"):
            return affine.mul(self.affine_unary(dims), -1)
        tok = self.tok
        if tok.kind == "int":
            return affine.Const(_int(self.advance()))
        if tok.text in dims:
            return affine.Dim(dims[self.advance().text])
        if self.accept("("):
            e = self.affine_expr(dims)
            self.expect(")")
            return e
        self.error("an affine expression")

    def dense(self) -> DenseAttr:
        self.advance()
        self.expect("<")
        # `dense<>` is how MLIR writes a tensor without elements.
        body = ("empty", self.tok) if self.tok.text == ">" else self.dense_literal()
        self.expect(">")
        self.expect(":")
        type_tok = self.tok
        t = self.type_()
        if not isinstance(t, TensorType) or not t.is_static:
            self.error("a static tensor type", type_tok)
        if body[0] == "empty":
            if t.size:
                self.error(f"the {_plural(t.size, 'element')} of {t}", body[1])
            return DenseAttr(t, np.zeros(t.shape, t.dtype.np))
        if body[0] == "string":
            return DenseAttr(t, self.dense_hex(body[1], t))
        if body[0] == "scalar":
            return DenseAttr(t, self.dense_array([body], t).reshape(()))
        flat: list = []
        self.flatten(body, t.shape, flat)
        return DenseAttr(t, self.dense_array(flat, t).reshape(t.shape))

    def dense_literal(self) -> tuple:
        """('string', tok) | ('list', '[' tok, [literals]) | ('scalar', tok, negated)."""
        if self.tok.kind == "string":
            return "string", self.advance()
        if self.tok.text == "[":
            return "list", self.advance(), self.comma_list("]", self.dense_literal)
        neg = self.accept("-")
        tok = self.tok
        if tok.kind not in ("int", "float", "hex") and tok.text not in ("true", "false"):
            self.error("a dense element")
        return "scalar", self.advance(), neg

    def flatten(self, lit: tuple, shape: tuple, out: list) -> None:
        if not shape:
            if lit[0] != "scalar":
                self.error("a scalar element", lit[1])
            out.append(lit)
            return
        if lit[0] != "list" or len(lit[2]) != shape[0]:
            got = _plural(len(lit[2]), "element") if lit[0] == "list" else _describe(lit[1])
            self.fail(f"a list of {_plural(shape[0], 'element')}", lit[1].pos, got)
        for item in lit[2]:
            self.flatten(item, shape[1:], out)

    def dense_array(self, lits: list, t: TensorType) -> np.ndarray:
        dt = t.dtype
        if dt.is_float:
            # Elements go through their bits so NaN payloads written in hex stay exact.
            bits = [self.float_bits(tok, neg, t) for _, tok, neg in lits]
            return np.array(bits, dtype=f"u{dt.itemsize}").view(dt.np)
        if dt.is_bool:
            for _, tok, neg in lits:
                if neg or tok.text not in ("true", "false"):
                    self.error("true or false", tok)
            return np.array([tok.text == "true" for _, tok, _ in lits], dtype=dt.np)
        info, values = np.iinfo(dt.np), []
        for _, tok, neg in lits:
            if tok.kind not in ("int", "hex"):
                self.error(f"an integer element of {t}", tok)
            v = -_int(tok) if neg else _int(tok)
            if not info.min <= v <= info.max:
                self.error(f"an integer in [{info.min}, {info.max}]", tok)
            values.append(v)
        return np.array(values, dtype=dt.np)

    def float_bits(self, tok: _Tok, neg: bool, t: TensorType) -> int:
        dt = t.dtype
        if tok.kind == "hex":
            if neg or _int(tok) >> dt.bits:
                self.error(f"the {dt.bits} bits of an {dt} in hex", tok)
            return _int(tok)
        if tok.kind not in ("int", "float"):
            self.error(f"a float element of {t}", tok)
        with np.errstate(over="ignore"):
            v = np.array(-float(tok.text) if neg else float(tok.text), dtype=dt.np)
        if not np.isfinite(v):
            self.error(f"a value in the range of {dt}", tok)
        return v.view(f"u{dt.itemsize}").item()

    def dense_hex(self, tok: _Tok, t: TensorType) -> np.ndarray:
        dt, nbytes = t.dtype, t.size * t.dtype.itemsize
        if dt.is_bool or not _HEX_BYTES.fullmatch(tok.value) or len(tok.value) != 2 + 2 * nbytes:
            self.error(f"'0x' and {_plural(nbytes, 'hex byte')} for {t}", tok)
        raw = bytes.fromhex(tok.value[2:])
        return np.frombuffer(raw, dtype=dt.np.newbyteorder("<")).astype(dt.np).reshape(t.shape)

    def location(self) -> Location | None:
        if not self.accept("loc"):
            return None
        self.expect("(")
        file = self.expect_kind("string", "a file name string").value
        self.expect(":")
        line = int(self.expect_kind("int", "a line number").text)
        self.expect(":")
        col = int(self.expect_kind("int", "a column number").text)
        self.expect(")")
        return Location(file, line, col)

    # -- values, ops, regions, functions ----------------------------------------------------

    def define(self, tok: _Tok, values: list[Value]) -> None:
        if "#" in tok.text or any(tok.text in scope for scope in self.scopes):
            self.error("a new value name", tok)
        self.scopes[-1][tok.text] = values

    def use(self) -> tuple[_Tok, Value]:
        tok = self.expect_kind("value", "a value")
        name, _, num = tok.text.partition("#")
        for scope in reversed(self.scopes):
            if name in scope:
                values = scope[name]
                if int(num or 0) >= len(values):
                    self.error(f"a result number below {len(values)}", tok)
                return tok, values[int(num or 0)]
        self.error("a value defined before this use", tok)

    def typed_name(self) -> tuple[_Tok, Type]:
        tok = self.expect_kind("value", "a value name")
        self.expect(":")
        return tok, self.type_()

    def operation(self) -> Operation:
        # as in MLIR, an op is at its first token: the result name, else the op name
        at = self.position(self.tok.pos)
        head, count = None, 0
        if self.tok.kind == "value":
            head, count = self.advance(), 1
            if self.accept(":"):
                if self.tok.kind != "int" or int(self.tok.text) == 0:
                    self.error("a result count")
                count = int(self.advance().text)
            self.expect("=")
        elif self.tok.kind != "string":
            self.error("an operation or '}'")
        name = self.expect_kind("string", "an op name string").value
        self.expect("(")
        uses = self.comma_list(")", self.use)
        regions = []
        if self.accept("("):
            regions.append(self.region())
            while self.accept(","):
                regions.append(self.region())
            self.expect(")", "',' or ')'")
        attrs = self.attr_dict() if self.tok.text == "{" else {}
        self.expect(":")
        sig = self.tok
        self.expect("(")
        in_types = self.comma_list(")", self.spanned_type)
        if len(in_types) != len(uses):
            self.fail(_plural(len(uses), "operand type"), sig.pos, str(len(in_types)))
        for (tok, v), (t, start, end) in zip(uses, in_types, strict=True):
            if t != v.type:
                self.fail(f"{v.type} (the type of {tok.text})", start, f"'{self.text[start:end]}'")
        self.expect("->")
        res = self.tok
        result_types = self.result_types()
        if head is not None and len(result_types) != count:
            self.fail(_plural(count, "result type"), res.pos, str(len(result_types)))
        loc = self.location()
        op = Operation(name, [v for _, v in uses], result_types, attrs, regions, loc)
        op.parsed_at = at
        if head is not None:
            self.define(head, op.results)
        return op

    def region(self) -> Region:
        """`{ ^bb0(args): ops }`: one block; its ops also see the values of enclosing scopes."""
        self.expect("{")
        if self.accept("}"):
            return Region()
        args = []
        if self.tok.kind == "block":
            self.advance()
            if self.accept("("):
                args = self.comma_list(")", self.typed_name)
            self.expect(":")
        block = Block([t for _, t in args])
        self.scopes.append({})
        for (tok, _), arg in zip(args, block.args, strict=True):
            self.define(tok, [arg])
        while not self.accept("}"):
            block.append(self.operation())
        self.scopes.pop()
        return Region([block])

    def function(self) -> Function:
        at = self.position(self.tok.pos)
        self.expect("func.func")
        name = self.expect_kind("symbol", "a function name '@...'").text[1:]
        self.expect("(")
        args = self.comma_list(")", self.typed_name)
        results = self.result_types() if self.accept("->") else []
        extra = self.attr_dict() if self.accept("attributes") else {}
        f = Function(name, [t for _, t in args], results)
        f.parsed_at = at
        f.attrs.update(extra)
        # func.func is isolated from above: its body sees only its own arguments.
        self.scopes = [{}]
        for (tok, _), arg in zip(args, f.args, strict=True):
            self.define(tok, [arg])
        self.expect("{")
        while not self.accept("}"):
            f.body.append(self.operation())
        f.loc = self.location()
        return f

    def module(self) -> Module:
        functions = []
        if self.accept("module"):
            self.expect("{")
            while not self.accept("}"):
                if self.tok.text != "func.func":
                    self.error("'func.func' or '}'")
                functions.append(self.function())
        else:
            while self.tok.kind != "eof":
                functions.append(self.function())
        self.expect_end()
        return Module(functions)


def parse_module(text: str, filename: str = "<string>") -> Module:
    """The module in `text`: `module { func.func ... }` or a bare sequence of `func.func`s.

    >>> m = parse_module('''
    ... func.func @neg(%arg0: f32) -> f32 {
    ...   %0 = "tir.neg"(%arg0) {k = [1, 2.5]} : (f32) -> f32 loc("a.py":3:4)
    ...   "func.return"(%0) : (f32) -> ()
    ... }''')
    >>> m.get("neg").body.ops[0].attrs, m.get("neg").body.ops[0].loc
    ({'k': (1, 2.5)}, Location(file='a.py', line=3, col=4))
    >>> print(m)
    module {
      func.func @neg(%arg0: f32) -> f32 {
        %0 = "tir.neg"(%arg0) {k = [1, 2.5]} : (f32) -> f32 loc("a.py":3:4)
        "func.return"(%0) : (f32) -> ()
      }
    }
    """
    return _Parser(text, filename).module()


def parse_function(text: str, filename: str = "<string>") -> Function:
    """The single `func.func` in `text`, as `print_function` writes it."""
    p = _Parser(text, filename)
    f = p.function()
    p.expect_end()
    return f


def parse_type(text: str, filename: str = "<string>") -> Type:
    """The type spelled `text` (`f32`, `index`, `tensor<4x?xf32>`, `(f32) -> f32`)."""
    p = _Parser(text, filename)
    t = p.type_()
    p.expect_end()
    return t


def parse_attr(text: str, filename: str = "<string>") -> Any:
    """The attribute value spelled `text`, as `format_attr` writes it."""
    p = _Parser(text, filename)
    v = p.attr()
    p.expect_end()
    return v
