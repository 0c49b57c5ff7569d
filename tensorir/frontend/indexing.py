"""numpy indexing on tracers: `x[key]`, `x[key] = v`, np.take and np.take_along_axis.

Basic indices (ints, slices with any step, None, ...) become one `tir.slice` and a `tir.reshape`;
one integer array among them becomes a `tir.gather`. Item assignment is functional: it builds the
updated array (`tir.insert_slice`, `tir.scatter` or `tir.select`) and rebinds the tracer to it, so
code that assigns into an array and reads it afterwards traces as numpy runs it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .errors import DTypeError, ShapeError, TraceIndexError, UnsupportedError
from .numpy_api import implements
from .promote import as_tracer, broadcast_shapes, broadcast_to, coerce, shape_of
from .shapes import axis_index, moveaxis, permute, reshape_to
from .tracer import Tracer, constant, emit

_VALID = (
    "only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and integer or "
    "boolean arrays are valid indices"
)
_MASK_HINT = "use np.where(mask, x, other) to keep the shape static"


def _classify(k) -> tuple[str, object]:
    """One index entry as (kind, value): 'none', 'ellipsis', 'slice', 'int', 'array', 'mask'."""
    if k is None:
        return "none", None
    if k is Ellipsis:
        return "ellipsis", None
    if isinstance(k, slice):
        return "slice", k
    if isinstance(k, Tracer):
        if k.dtype.kind not in "iub":
            raise TraceIndexError(f"{_VALID}, got a traced {k.dtype} array")
        return ("mask" if k.dtype == np.bool_ else "array"), k
    if isinstance(k, int | np.integer) and not isinstance(k, bool | np.bool_):
        return "int", int(k)
    a = np.asarray(k)
    if a.dtype == np.bool_:
        return "mask", a
    if a.size == 0 and a.dtype.kind == "f":  # `x[[]]` indexes with an empty integer list
        a = a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise TraceIndexError(f"{_VALID}, got {k!r}")
    return ("int", int(a)) if a.ndim == 0 else ("array", a)


def _width(kind: str, v) -> int:
    if kind == "mask":
        return v.ndim
    return kind in ("slice", "int", "array")


def _expand(x: Tracer, key) -> list[tuple[str, object]]:
    """The key's entries with `...` (or the missing tail) spelled out as full slices."""
    entries = [_classify(k) for k in (key if isinstance(key, tuple) else (key,))]
    used = sum(_width(k, v) for k, v in entries)
    if used > x.ndim:
        raise TraceIndexError(
            f"too many indices for array: array is {x.ndim}-dimensional, but {used} were indexed"
        )
    fill = [("slice", slice(None))] * (x.ndim - used)
    ellipses = [i for i, (k, _) in enumerate(entries) if k == "ellipsis"]
    if len(ellipses) > 1:
        raise TraceIndexError("an index can only have a single ellipsis ('...')")
    if ellipses:
        i = ellipses[0]
        return entries[:i] + fill + entries[i + 1 :]
    return entries + fill


class _Plan(NamedTuple):
    """The basic part of an index: a slice of x, then a reshape to `shape`."""

    starts: tuple[int, ...]
    steps: tuple[int, ...]
    sizes: tuple[int, ...]
    shape: tuple[int, ...]  # int dims dropped, None dims inserted
    array_dims: tuple[int, ...]  # where the integer-array entries are in `shape`


def _plan(x: Tracer, entries) -> _Plan:
    starts, steps, sizes, shape, array_dims = [], [], [], [], []
    dims = iter(enumerate(x.shape))
    for kind, v in entries:
        if kind == "none":
            shape.append(1)
            continue
        axis, n = next(dims)
        if kind == "int":
            if not -n <= v < n:
                raise TraceIndexError(f"index {v} is out of bounds for axis {axis} with size {n}")
            start, step, size = v % n, 1, 1
        else:
            start, stop, step = v.indices(n) if kind == "slice" else (0, n, 1)
            size = len(range(start, stop, step))
            start, step = (start, step) if size else (0, 1)
            if kind == "array":
                array_dims.append(len(shape))
            shape.append(size)
        starts.append(start)
        steps.append(step)
        sizes.append(size)
    return _Plan(tuple(starts), tuple(steps), tuple(sizes), tuple(shape), tuple(array_dims))


def _is_whole(plan: _Plan, shape) -> bool:
    return plan.sizes == tuple(shape) and set(plan.steps) <= {1} and not any(plan.starts)


def _static_index(v: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Static indices for an axis of size n, bounds-checked and made non-negative."""
    bad = v[(v < -n) | (v >= n)]
    if bad.size:
        raise TraceIndexError(f"index {bad.flat[0]} is out of bounds for axis {axis} with size {n}")
    return np.where(v < 0, v + n, v).astype(np.int64)


def _index_tensor(v, n: int, axis: int) -> Tracer:
    """An index array for an axis of size n; traced indices wrap at run time."""
    return v if isinstance(v, Tracer) else constant(_static_index(v, n, axis))


def _linear_index(raws, sizes, axes) -> Tracer:
    """The flat position in the (C-ordered) block of indexed dims that several integer arrays
    select together, broadcast against each other as numpy does."""
    strides = [math.prod(sizes[i + 1 :]) for i in range(len(sizes))]
    if not any(isinstance(r, Tracer) for r in raws):
        parts = [_static_index(r, n, a) for r, n, a in zip(raws, sizes, axes, strict=True)]
        try:
            parts = np.broadcast_arrays(*parts)
        except ValueError:
            shapes = " ".join(str(p.shape) for p in parts)
            raise TraceIndexError(
                f"shape mismatch: indexing arrays could not be broadcast together with shapes "
                f"{shapes}"
            ) from None
        return constant(sum(p * s for p, s in zip(parts, strides, strict=True)).astype(np.int64))
    total = 0
    for r, n, a, s in zip(raws, sizes, axes, strides, strict=True):
        t = _index_tensor(r, n, a).astype(np.int64)
        if isinstance(r, Tracer):
            t = np.where(t < 0, t + n, t)
        total = total + t * s
    return total


def _move_block(t: Tracer, start: int, n: int, to: int) -> Tracer:
    """`t` with its dims start..start+n moved to position `to` among the others."""
    block = list(range(start, start + n))
    rest = [d for d in range(t.ndim) if d not in block]
    return permute(t, rest[:to] + block + rest[to:])


def getitem(x: Tracer, key) -> Tracer:
    """numpy's `x[key]`."""
    entries = _expand(x, key)
    if any(k == "mask" for k, _ in entries):
        raise UnsupportedError(
            "boolean mask indexing `x[mask]` (its result shape depends on the data)", _MASK_HINT
        )
    plan = _plan(x, entries)
    y = x
    if not _is_whole(plan, x.shape):
        y = emit("tir.slice", x, starts=plan.starts, steps=plan.steps, sizes=plan.sizes)
    y = reshape_to(y, plan.shape)
    arrays = [i for i, (k, _) in enumerate(entries) if k == "array"]
    if not arrays:
        return y if y is not x else x.copy()
    axes = [sum(_width(k, v) for k, v in entries[:i]) for i in arrays]
    raws = [entries[i][1] for i in arrays]
    dims = plan.array_dims
    if len(arrays) == 1:
        idx = _index_tensor(raws[0], x.shape[axes[0]], axes[0])
        out, at = emit("tir.gather", y, idx, axis=dims[0]), dims[0]
    else:
        # several arrays: gather from the indexed dims flattened into one, at the linear index
        block = permute(y, list(dims) + [d for d in range(y.ndim) if d not in dims])
        sizes = [x.shape[a] for a in axes]
        block = reshape_to(block, (math.prod(sizes),) + block.shape[len(dims) :])
        idx = _linear_index(raws, sizes, axes)
        out, at = emit("tir.gather", block, idx, axis=0), 0
    advanced = [i for i, (k, _) in enumerate(entries) if k in ("int", "array")]
    adjacent = advanced == list(range(advanced[0], advanced[-1] + 1))
    # numpy puts the indices' dims where the first advanced index was when the advanced indices
    # are adjacent, and first otherwise
    return _move_block(out, at, idx.ndim, dims[0] if adjacent else 0)


def _value(v, dtype, shape) -> Tracer:
    """The assigned value cast (unsafely, as numpy's item assignment) and broadcast to `shape`."""
    vs = tuple(shape_of(v))
    extra = len(vs) - len(shape)
    if extra > 0 and all(d == 1 for d in vs[:extra]):
        v, vs = np.reshape(v, vs[extra:]), vs[extra:]
    try:
        if broadcast_shapes(vs, shape) == tuple(shape):
            return coerce(v, dtype, shape)
    except ShapeError:
        pass
    raise ShapeError(f"could not broadcast input array from shape {vs} into shape {tuple(shape)}")


def setitem(x: Tracer, key, v) -> None:
    """numpy's `x[key] = v`, as an update that rebinds `x` to the new array."""
    entries = _expand(x, key)
    kinds = [k for k, _ in entries]
    if "mask" in kinds:
        x.value = _set_masked(x, entries, v).value
        return
    arrays = [i for i, k in enumerate(kinds) if k == "array"]
    if len(arrays) > 1:
        raise UnsupportedError("item assignment with more than one integer array")
    if arrays:
        x.value = _set_rows(x, entries, arrays[0], v).value
        return
    plan = _plan(x, entries)
    value = reshape_to(_value(v, x.dtype, plan.shape), plan.sizes)
    if math.prod(plan.sizes) == 0:
        return
    if _is_whole(plan, x.shape):
        x.value = value.value
        return
    x.value = emit(
        "tir.insert_slice", x, value, starts=plan.starts, steps=plan.steps, sizes=plan.sizes
    ).value


def _set_masked(x: Tracer, entries, v) -> Tracer:
    mask = entries[0][1]
    if len(entries) != 1 or tuple(mask.shape) != x.shape:
        raise UnsupportedError(
            f"boolean mask assignment with a mask of shape {tuple(mask.shape)} other than the "
            f"array's {x.shape}",
            "use x = np.where(mask, value, x)",
        )
    if math.prod(shape_of(v)) != 1:
        raise UnsupportedError(
            f"`x[mask] = v` with v of shape {tuple(shape_of(v))} (only a scalar value)",
            "use x = np.where(mask, value, x)",
        )
    value = _value(np.reshape(v, ()) if shape_of(v) else v, x.dtype, x.shape)
    return emit("tir.select", coerce(mask, np.bool_, x.shape), value, x)


def _set_rows(x: Tracer, entries, pos: int, v) -> Tracer:
    if any(k != "slice" or s != slice(None) for i, (k, s) in enumerate(entries) if i != pos):
        raise UnsupportedError("item assignment mixing an integer array with other indices")
    raw = entries[pos][1]
    if len(shape_of(raw)) > 1:
        raise UnsupportedError("item assignment with a multi-dimensional integer index array")
    idx = reshape_to(_index_tensor(raw, x.shape[pos], pos), (math.prod(shape_of(raw)),))
    target = x.shape[:pos] + tuple(shape_of(raw)) + x.shape[pos + 1 :]
    rows = reshape_to(_value(v, x.dtype, target), x.shape[:pos] + idx.shape + x.shape[pos + 1 :])
    out = emit("tir.scatter", moveaxis(x, pos, 0), idx, moveaxis(rows, pos, 0))
    return moveaxis(out, 0, pos)


@implements(np.take)
def take(a, indices, axis=None, out=None, mode=None) -> Tracer:
    if mode not in (None, "raise"):
        raise UnsupportedError(f"np.take with mode={mode!r}")
    x = as_tracer(a)
    if axis is None:
        x, axis = reshape_to(x, (x.size,)), 0
    ax = axis_index(axis, x.ndim)
    kind, v = _classify(indices)
    if kind == "int":
        v = np.asarray(v)
    elif kind != "array":
        raise DTypeError(f"np.take indices must be integers, got {kind} index")
    return emit("tir.gather", x, _index_tensor(v, x.shape[ax], ax), axis=ax)


@implements(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1) -> Tracer:
    x, idx = as_tracer(arr), as_tracer(indices)
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"np.take_along_axis indices must be integers, got {idx.dtype}")
    if axis is None:
        x, axis = reshape_to(x, (x.size,)), 0
    if x.ndim != idx.ndim:
        raise ShapeError(
            f"`indices` (shape {idx.shape}) and `arr` (shape {x.shape}) must have the same "
            "number of dimensions"
        )
    ax = axis_index(axis, x.ndim)
    common = broadcast_shapes(*(s[:ax] + (1,) + s[ax + 1 :] for s in (x.shape, idx.shape)))
    x = broadcast_to(x, common[:ax] + x.shape[ax : ax + 1] + common[ax + 1 :])
    idx = broadcast_to(idx, common[:ax] + idx.shape[ax : ax + 1] + common[ax + 1 :])
    return emit("tir.take_along_axis", x, idx, axis=ax)
