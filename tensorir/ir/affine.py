"""Affine expressions and maps: how a structured op's loop indices address each operand.

Expressions are built through `add`/`mul`/`floordiv`/`mod`, which fold constants, so one value has
one form and printing is deterministic (the parser builds through the same functions, which makes
print -> parse -> print a fixed point).

>>> m = AffineMap(2, (add(mul(Dim(0), 8), Dim(1)),))
>>> str(m), m.eval((1, 3))
('affine_map<(d0, d1) -> (d0 * 8 + d1)>', (11,))
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dim:
    """The loop index `d<pos>`."""

    pos: int


@dataclass(frozen=True, slots=True)
class Const:
    """An integer constant."""

    value: int


@dataclass(frozen=True, slots=True)
class Bin:
    """`lhs <op> rhs` for op in '+', '*', 'floordiv', 'mod'; '*', 'floordiv' and 'mod' take a
    constant rhs, which keeps every map affine."""

    op: str
    lhs: Expr
    rhs: Expr


Expr = Dim | Const | Bin


def const(e: Expr) -> int | None:
    return e.value if isinstance(e, Const) else None


def add(a: Expr, b: Expr) -> Expr:
    """a + b, folding constants."""
    ca, cb = const(a), const(b)
    if ca is not None and cb is not None:
        return Const(ca + cb)
    if ca == 0:
        return b
    if cb == 0:
        return a
    if ca is not None:
        return add(b, a)
    if isinstance(a, Bin) and a.op == "+" and const(a.rhs) is not None and cb is not None:
        return add(a.lhs, Const(a.rhs.value + cb))
    return Bin("+", a, b)


def mul(a: Expr, c: int | Expr) -> Expr:
    """a * c for a constant c, folding constants."""
    if isinstance(c, Const | Dim | Bin):
        if const(a) is not None and const(c) is None:
            a, c = c, a
        if const(c) is None:
            raise ValueError("affine multiplication needs a constant factor")
        c = const(c)
    if isinstance(a, Const):
        return Const(a.value * c)
    if c == 1:
        return a
    if c == 0:
        return Const(0)
    if isinstance(a, Bin) and a.op == "*":
        return mul(a.lhs, a.rhs.value * c)
    return Bin("*", a, Const(c))


def floordiv(a: Expr, c: int) -> Expr:
    """a floordiv c for a positive constant c."""
    if c <= 0:
        raise ValueError("affine floordiv needs a positive constant")
    if isinstance(a, Const):
        return Const(a.value // c)
    if c == 1:
        return a
    return Bin("floordiv", a, Const(c))


def mod(a: Expr, c: int) -> Expr:
    """a mod c for a positive constant c (result in [0, c))."""
    if c <= 0:
        raise ValueError("affine mod needs a positive constant")
    if isinstance(a, Const):
        return Const(a.value % c)
    if c == 1:
        return Const(0)
    return Bin("mod", a, Const(c))


_PREC = {"+": 1, "*": 2, "floordiv": 2, "mod": 2}


def expr_str(e: Expr, prec: int = 0) -> str:
    """MLIR's text of an expression."""
    if isinstance(e, Dim):
        return f"d{e.pos}"
    if isinstance(e, Const):
        return str(e.value)
    p = _PREC[e.op]
    if e.op == "+":
        rhs = e.rhs
        if isinstance(rhs, Const) and rhs.value < 0:
            text = f"{expr_str(e.lhs, p)} - {-rhs.value}"
        elif isinstance(rhs, Bin) and rhs.op == "*" and rhs.rhs.value == -1:
            text = f"{expr_str(e.lhs, p)} - {expr_str(rhs.lhs, p + 1)}"
        else:
            text = f"{expr_str(e.lhs, p)} + {expr_str(rhs, p)}"
    else:
        text = f"{expr_str(e.lhs, p)} {e.op} {expr_str(e.rhs, p + 1)}"
    return f"({text})" if p < prec else text


def expr_dims(e: Expr) -> set[int]:
    """The loop dims an affine expression reads.

    >>> sorted(expr_dims(add(mul(Dim(2), 4), Dim(0))))
    [0, 2]
    """
    if isinstance(e, Dim):
        return {e.pos}
    if isinstance(e, Bin):
        return expr_dims(e.lhs) | expr_dims(e.rhs)
    return set()


def eval_expr(e: Expr, dims) -> int:
    """The value of `e` at integer loop indices `dims`."""
    if isinstance(e, Dim):
        return dims[e.pos]
    if isinstance(e, Const):
        return e.value
    a, b = eval_expr(e.lhs, dims), eval_expr(e.rhs, dims)
    return {"+": a + b, "*": a * b, "floordiv": a // b, "mod": a % b}[e.op]


def substitute(e: Expr, dims: tuple[Expr, ...]) -> Expr:
    """`e` with every `d<i>` replaced by `dims[i]` (map composition)."""
    if isinstance(e, Dim):
        return dims[e.pos]
    if isinstance(e, Const):
        return e
    lhs, rhs = substitute(e.lhs, dims), substitute(e.rhs, dims)
    return {"+": add, "*": mul, "floordiv": floordiv, "mod": mod}[e.op](
        lhs, rhs if e.op == "+" else rhs.value
    )


@dataclass(frozen=True, slots=True)
class AffineMap:
    """`(d0, ..., d<n-1>) -> (e0, ..., e<k-1>)`: loop indices to operand indices."""

    num_dims: int
    results: tuple[Expr, ...]

    @staticmethod
    def identity(n: int) -> AffineMap:
        return AffineMap(n, tuple(Dim(i) for i in range(n)))

    @staticmethod
    def select(n: int, dims) -> AffineMap:
        """The projection (d0..d<n-1>) -> (d<dims[0]>, ...)."""
        return AffineMap(n, tuple(Dim(i) for i in dims))

    def compose(self, inner: AffineMap) -> AffineMap:
        """self ∘ inner: first `inner`, then `self`."""
        return AffineMap(inner.num_dims, tuple(substitute(e, inner.results) for e in self.results))

    def eval(self, dims) -> tuple[int, ...]:
        return tuple(eval_expr(e, dims) for e in self.results)

    def bare_dim_positions(self) -> dict[int, int]:
        """{loop dim: result position} for results that are a bare `d<i>`."""
        out: dict[int, int] = {}
        for pos, e in enumerate(self.results):
            if isinstance(e, Dim):
                out.setdefault(e.pos, pos)
        return out

    def __str__(self) -> str:
        dims = ", ".join(f"d{i}" for i in range(self.num_dims))
        return f"affine_map<({dims}) -> ({', '.join(expr_str(e) for e in self.results)})>"
