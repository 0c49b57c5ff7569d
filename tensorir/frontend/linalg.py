"""Contractions: matmul (`@`), dot and einsum, all lowered onto `tir.matmul`.

`tir.matmul` takes equal-rank operands with equal batch dims, so numpy's 1-D promotion and batch
broadcasting happen here; einsum transposes each pair of operands into (batch, free, contracted)
order, reshapes them into one matmul, and sums out labels no later operand or output needs.
"""

from __future__ import annotations

import math
import string

import numpy as np

from .errors import ShapeError, UnsupportedError
from .numpy_api import implements
from .promote import as_tracer, broadcast_shapes, broadcast_to, resolve_ufunc, result_type
from .reductions import reduce
from .shapes import moveaxis, permute, reshape_to
from .tracer import Tracer, emit


@implements(np.matmul)
def matmul(x1, x2, dtype=None) -> Tracer:
    (da, db), _ = resolve_ufunc(np.matmul, [x1, x2], dtype)
    a, b = as_tracer(x1, da), as_tracer(x2, db)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(
            f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}"
        )
    a2 = reshape_to(a, (1,) + a.shape) if a.ndim == 1 else a
    b2 = reshape_to(b, b.shape + (1,)) if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ShapeError(
            f"matmul: mismatch in core dimension of shapes {a.shape} and {b.shape} "
            f"({a2.shape[-1]} is different from {b2.shape[-2]})"
        )
    batch = broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a3 = broadcast_to(a2, batch + a2.shape[-2:])
    b3 = broadcast_to(b2, batch + b2.shape[-2:])
    out = emit("tir.matmul", a3, b3)
    m, n = out.shape[-2:]
    return reshape_to(out, batch + (m,) * (a.ndim > 1) + (n,) * (b.ndim > 1))


@implements(np.dot)
def dot(a, b) -> Tracer:
    x, y = as_tracer(a), as_tracer(b)
    if x.ndim == 0 or y.ndim == 0:
        return np.multiply(x, y)
    if y.ndim <= 2 and x.ndim <= 2 or y.ndim == 1:
        return matmul(x, y)
    # dot(x, y)[i..., j..., n] = sum_k x[i..., k] * y[j..., k, n]: one 2-D matmul
    k = x.shape[-1]
    if y.shape[-2] != k:
        raise ShapeError(
            f"shapes {x.shape} and {y.shape} not aligned: {k} (dim {x.ndim - 1}) != "
            f"{y.shape[-2]} (dim {y.ndim - 2})"
        )
    rows = reshape_to(x, (math.prod(x.shape[:-1]), k))
    cols = moveaxis(y, -2, 0)
    cols = reshape_to(cols, (k, math.prod(cols.shape[1:])))
    return reshape_to(matmul(rows, cols), x.shape[:-1] + y.shape[:-2] + y.shape[-1:])


# ---- einsum -------------------------------------------------------------------------------------


def _parse(subscripts: str, shapes) -> tuple[list[str], str]:
    """Operand and output labels, with each `...` spelled out as unused uppercase letters
    (right-aligned, so shorter ellipses broadcast against longer ones)."""
    text = subscripts.replace(" ", "")
    ins, arrow, out = text.partition("->")
    terms = ins.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(f"einsum: {len(terms)} operand subscripts for {len(shapes)} operands")
    spare = [c for c in string.ascii_uppercase if c not in text]
    ranks = [len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes, strict=True)]
    ell_rank = max((r for r, t in zip(ranks, terms, strict=True) if "..." in t), default=0)
    ell = "".join(spare[:ell_rank])
    labels = []
    for t, s, n in zip(terms, shapes, ranks, strict=True):
        labels.append(t.replace("...", ell[ell_rank - n :] if n > 0 else ""))
        if len(labels[-1]) != len(s) or not all(c.isalpha() for c in labels[-1]):
            raise ShapeError(f"einsum: subscripts {t!r} do not fit operand of shape {tuple(s)}")
    if not arrow:
        counts = "".join(labels)
        out = ell + "".join(sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return labels, out


@implements(np.einsum)
def einsum(*operands, dtype=None, optimize=False) -> Tracer:
    subscripts, *arrays = operands
    if not isinstance(subscripts, str):
        raise UnsupportedError("np.einsum with sublist operands (use a subscripts string)")
    dt = result_type(*arrays) if dtype is None else np.dtype(dtype)
    xs = [as_tracer(a, dt) for a in arrays]
    labels, out = _parse(subscripts, [x.shape for x in xs])
    sizes: dict[str, int] = {}
    for lab, x in zip(labels, xs, strict=True):
        if len(set(lab)) != len(lab):
            raise UnsupportedError(f"einsum with a repeated label in {lab!r} (diagonals/traces)")
        for c, d in zip(lab, x.shape, strict=True):
            prev = sizes.setdefault(c, d)
            if 1 not in (prev, d) and prev != d:
                raise ShapeError(f"einsum: label {c!r} has sizes {prev} and {d}")
            sizes[c] = d if prev == 1 else prev
    xs = [broadcast_to(x, tuple(sizes[c] for c in lab)) for x, lab in zip(xs, labels, strict=True)]
    x, xl = xs[0], labels[0]
    for i in range(1, len(xs)):
        later = set(out).union(*labels[i + 1 :])
        x, xl = _contract(x, xl, xs[i], labels[i], later)
    x, xl = _sum_out(x, xl, set(out))
    return permute(x, [xl.index(c) for c in out])


def _sum_out(x: Tracer, lab: str, keep) -> tuple[Tracer, str]:
    axes = tuple(i for i, c in enumerate(lab) if c not in keep)
    return reduce("tir.reduce_sum", x, axes), "".join(c for c in lab if c in keep)


def _contract(x: Tracer, xl: str, y: Tracer, yl: str, later: set) -> tuple[Tracer, str]:
    """x * y summed over the labels both have and nothing later needs, as one matmul."""
    x, xl = _sum_out(x, xl, later | set(yl))
    y, yl = _sum_out(y, yl, later | set(xl))
    batch = [c for c in xl if c in yl and c in later]
    inner = [c for c in xl if c in yl and c not in later]
    xf, yf = [c for c in xl if c not in yl], [c for c in yl if c not in xl]

    def arrange(t: Tracer, lab: str, rows: list[str], cols: list[str]) -> Tracer:
        """t as (batch..., prod(rows), prod(cols))."""
        t = permute(t, [lab.index(c) for c in batch + rows + cols])
        size = {c: d for c, d in zip(batch + rows + cols, t.shape, strict=True)}
        merged = (math.prod(size[c] for c in rows), math.prod(size[c] for c in cols))
        return reshape_to(t, tuple(size[c] for c in batch) + merged)

    a = arrange(x, xl, xf, inner)
    b = arrange(y, yl, inner, yf)
    out = emit("tir.matmul", a, b)
    lab = batch + xf + yf
    full = [x.shape[xl.index(c)] if c in xl else y.shape[yl.index(c)] for c in lab]
    return reshape_to(out, tuple(full)), "".join(lab)
