"""Tensor-level ops (`tir.*` other than the elementwise table): each declaration holds its type
rule, numpy reference and its rewrite into `tir.generic` (loops described by indexing maps).

Movement ops (broadcast, transpose, slice, reshape) become indexing maps, never loops of their
own once fused; data-dependent reads (gather, concatenate, pad) use `s.extract` in the body.

Derivative rules sit beside each op (see `derivative.py`). Linear ops give only their transpose
(`deflinear`); broadcast's transpose is the one place a cotangent is summed back to its
source's shape.
"""

from __future__ import annotations

import numpy as np

from . import affine as A
from . import types as T
from .affine import AffineMap
from .core import DenseAttr
from .derivative import Sym, add, cast, deflinear, eq, where, zeros
from .inline import inline
from .opdef import REGISTRY, Attr, IRTypeError, OpDef, register

INTS = (int,)
TUPLE = (tuple,)


def _tensor(opname: str, t) -> T.TensorType:
    if not isinstance(t, T.TensorType):
        raise IRTypeError(f"{opname} expects a tensor operand, got {t}")
    return t


def _static(opname: str, t: T.TensorType) -> None:
    if not t.is_static:
        raise IRTypeError(f"{opname} needs static shapes, got {t}")


def defop(name: str, num_operands, attrs=None, traits=("pure",), doc=""):
    """Register the decorated type rule as op `name`; `eval`/`to_generic` are added later by
    `@impl(name)` so each stays next to the rule it belongs to."""

    def wrap(infer):
        register(
            OpDef(
                name,
                infer,
                num_operands,
                {
                    k: Attr(*v) if isinstance(v, tuple) else Attr(v)
                    for k, v in (attrs or {}).items()
                },
                frozenset(traits),
                doc=doc or infer.__doc__ or "",
            )
        )
        return infer

    return wrap


def impl(name: str, field: str):
    def wrap(fn):
        setattr(REGISTRY[name], field, fn)
        return fn

    return wrap


# ---- sources ------------------------------------------------------------------------------------


@defop("tir.constant", 0, {"value": DenseAttr})
def _constant(types, attrs):
    """A constant tensor."""
    return [attrs["value"].type]


@impl("tir.constant", "eval")
def _constant_eval(args, attrs):
    return [np.array(attrs["value"].full())]


@defop("tir.empty", 0, {"shape": TUPLE, "dtype": T.DType})
def _empty(types, attrs):
    """A tensor whose contents are undefined: the destination of a generic that writes it all."""
    return [T.TensorType(tuple(attrs["shape"]), attrs["dtype"])]


@defop("tir.iota", 0, {"shape": TUPLE, "dtype": T.DType, "dim": INTS})
def _iota(types, attrs):
    """out[i0, ..., in] = i<dim>, converted to dtype."""
    shape = tuple(attrs["shape"])
    if not 0 <= attrs["dim"] < len(shape):
        raise IRTypeError(f"tir.iota: dim {attrs['dim']} out of range for shape {shape}")
    return [T.TensorType(shape, attrs["dtype"])]


@impl("tir.iota", "eval")
def _iota_eval(args, attrs):
    shape, dim = tuple(attrs["shape"]), attrs["dim"]
    idx = np.arange(shape[dim]).reshape([-1 if i == dim else 1 for i in range(len(shape))])
    return [np.broadcast_to(idx, shape).astype(attrs["dtype"].np)]


@impl("tir.iota", "to_generic")
def _iota_generic(b, op):
    t = op.result.type
    out = b.empty(t)

    def body(bb, acc):
        return [bb.op("s.cast", bb.op("s.index", dim=op.attrs["dim"]), dtype=t.dtype)]

    return b.generic([], [out], [AffineMap.identity(t.rank)], ["parallel"] * t.rank, body)


# ---- movement -----------------------------------------------------------------------------------


@defop("tir.broadcast", 1, {"shape": TUPLE, "dims": TUPLE})
def _broadcast(types, attrs):
    """Operand dim i becomes result dim dims[i]; a size-1 operand dim stretches."""
    t = _tensor("tir.broadcast", types[0])
    shape, dims = tuple(attrs["shape"]), tuple(attrs["dims"])
    if (
        len(dims) != t.rank
        or sorted(set(dims)) != list(dims)
        or any(not 0 <= d < len(shape) for d in dims)
    ):
        raise IRTypeError(f"tir.broadcast: dims {dims} invalid for {t} -> shape {shape}")
    for i, d in enumerate(dims):
        if t.shape[i] not in (1, shape[d]):
            raise IRTypeError(f"tir.broadcast: cannot broadcast {t} to shape {shape}")
    return [T.TensorType(shape, t.dtype)]


@impl("tir.broadcast", "eval")
def _broadcast_eval(args, attrs):
    shape, dims = tuple(attrs["shape"]), tuple(attrs["dims"])
    expanded = [1] * len(shape)
    for i, d in enumerate(dims):
        expanded[d] = args[0].shape[i]
    return [np.broadcast_to(args[0].reshape(expanded), shape).copy()]


@impl("tir.broadcast", "to_generic")
def _broadcast_generic(b, op):
    (x,) = op.operands
    shape, dims = op.attrs["shape"], op.attrs["dims"]
    exprs = tuple(
        A.Const(0) if x.type.shape[i] == 1 and shape[d] != 1 else A.Dim(d)
        for i, d in enumerate(dims)
    )
    return _copy_generic(b, x, op.result.type, AffineMap(len(shape), exprs))


def _broadcast_transpose(b, op, ct):
    # un-broadcasting: sum over the new dims and the stretched size-1 dims, then put the 1s back
    (x,) = op.operands
    shape, dims = op.attrs["shape"], op.attrs["dims"]
    stretched = {d for i, d in enumerate(dims) if x.type.shape[i] == 1 and shape[d] != 1}
    axes = tuple(d for d in range(len(shape)) if d not in dims or d in stretched)
    return [_reshaped(b, b.op("tir.reduce_sum", ct, axes=axes) if axes else ct, x.type.shape)]


def _reshaped(b, v, shape):
    return v if v.type.shape == tuple(shape) else b.op("tir.reshape", v, shape=tuple(shape))


deflinear("tir.broadcast", _broadcast_transpose)


def _copy_generic(b, x, out_type, in_map):
    """out[d] = x[in_map(d)]: every movement op is this with its own map."""
    out = b.empty(out_type)
    n = out_type.rank
    return b.generic(
        [x], [out], [in_map, AffineMap.identity(n)], ["parallel"] * n, lambda bb, v, acc: [v]
    )


@defop("tir.transpose", 1, {"perm": TUPLE})
def _transpose(types, attrs):
    """out.shape[i] = x.shape[perm[i]]."""
    t = _tensor("tir.transpose", types[0])
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(t.rank)):
        raise IRTypeError(f"tir.transpose: {perm} is not a permutation of {t.rank} dims")
    return [T.TensorType(tuple(t.shape[p] for p in perm), t.dtype)]


@impl("tir.transpose", "eval")
def _transpose_eval(args, attrs):
    return [np.transpose(args[0], attrs["perm"]).copy()]


@impl("tir.transpose", "to_generic")
def _transpose_generic(b, op):
    perm = op.attrs["perm"]
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return _copy_generic(b, op.operands[0], op.result.type, AffineMap.select(len(perm), inv))


def _transpose_transpose(b, op, ct):
    perm = op.attrs["perm"]
    return [b.op("tir.transpose", ct, perm=tuple(perm.index(i) for i in range(len(perm))))]


deflinear("tir.transpose", _transpose_transpose)


@defop("tir.reshape", 1, {"shape": TUPLE})
def _reshape(types, attrs):
    """The same elements in C order, in a new shape."""
    t = _tensor("tir.reshape", types[0])
    _static("tir.reshape", t)
    shape = tuple(attrs["shape"])
    if (
        any(not isinstance(d, int) or d < 0 for d in shape)
        or int(np.prod(shape, dtype=np.int64)) != t.size
    ):
        raise IRTypeError(f"tir.reshape: cannot reshape {t} to {shape}")
    return [T.TensorType(shape, t.dtype)]


@impl("tir.reshape", "eval")
def _reshape_eval(args, attrs):
    return [args[0].reshape(attrs["shape"]).copy()]


def c_strides(shape) -> list[int]:
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= max(d, 1)
    return strides[::-1]


@impl("tir.reshape", "to_generic")
def _reshape_generic(b, op):
    (x,) = op.operands
    out_shape = op.result.type.shape
    linear = A.Const(0)
    for i, s in enumerate(c_strides(out_shape)):
        if out_shape[i] != 1:
            linear = A.add(linear, A.mul(A.Dim(i), s))
    exprs = []
    for d, s in zip(x.type.shape, c_strides(x.type.shape), strict=True):
        exprs.append(A.Const(0) if d == 1 else A.mod(A.floordiv(linear, s), d) if d else linear)
    # the outermost dim needs no `mod`: the linear index never exceeds the size
    if exprs and isinstance(exprs[0], A.Bin) and exprs[0].op == "mod":
        exprs[0] = exprs[0].lhs
    return _copy_generic(b, x, op.result.type, AffineMap(len(out_shape), tuple(exprs)))


deflinear("tir.reshape", lambda b, op, ct: [_reshaped(b, ct, op.operands[0].type.shape)])


@defop("tir.slice", 1, {"starts": TUPLE, "steps": TUPLE, "sizes": TUPLE})
def _slice(types, attrs):
    """out[i] = x[starts + i * steps] for i < sizes (steps may be negative)."""
    t = _tensor("tir.slice", types[0])
    starts, steps, sizes = (tuple(attrs[k]) for k in ("starts", "steps", "sizes"))
    if not len(starts) == len(steps) == len(sizes) == t.rank:
        raise IRTypeError(f"tir.slice: starts/steps/sizes must each have {t.rank} entries")
    for d, st, sp, sz in zip(t.shape, starts, steps, sizes, strict=True):
        if (
            sp == 0
            or sz < 0
            or (sz > 0 and d is not None and not (0 <= st < d and 0 <= st + (sz - 1) * sp < d))
        ):
            raise IRTypeError(f"tir.slice: start {st} step {sp} size {sz} out of bounds for {t}")
    return [T.TensorType(sizes, t.dtype)]


def _slices(attrs):
    out = []
    for st, sp, sz in zip(attrs["starts"], attrs["steps"], attrs["sizes"], strict=True):
        stop = st + sz * sp
        out.append(slice(st, stop if stop >= 0 else None, sp))
    return tuple(out)


@impl("tir.slice", "eval")
def _slice_eval(args, attrs):
    return [args[0][_slices(attrs)].copy()]


@impl("tir.slice", "to_generic")
def _slice_generic(b, op):
    exprs = tuple(
        A.add(A.mul(A.Dim(i), sp), A.Const(st))
        for i, (st, sp) in enumerate(zip(op.attrs["starts"], op.attrs["steps"], strict=True))
    )
    return _copy_generic(b, op.operands[0], op.result.type, AffineMap(len(exprs), exprs))


def _slice_transpose(b, op, ct):
    return [b.op("tir.insert_slice", zeros(b, op.operands[0].type), ct, **op.attrs)]


deflinear("tir.slice", _slice_transpose)


@defop("tir.insert_slice", 2, {"starts": TUPLE, "steps": TUPLE, "sizes": TUPLE})
def _insert_slice(types, attrs):
    """A copy of x whose slice (as in tir.slice) is replaced by v: numpy's x[s] = v."""
    x, v = (_tensor("tir.insert_slice", t) for t in types)
    (sliced,) = _slice([x], attrs)
    if v != sliced:
        raise IRTypeError(f"tir.insert_slice: value must be {sliced}, got {v}")
    return [x]


@impl("tir.insert_slice", "eval")
def _insert_slice_eval(args, attrs):
    out = args[0].copy()
    out[_slices(attrs)] = args[1]
    return [out]


@impl("tir.insert_slice", "to_generic")
def _insert_slice_generic(b, op):
    x, v = op.operands
    t = x.type
    if v.type.size == 0:
        return [x]

    def body(bb, xv, acc):
        inside, src = None, []
        for dim, (st, sp, sz) in enumerate(
            zip(op.attrs["starts"], op.attrs["steps"], op.attrs["sizes"], strict=True)
        ):
            off = bb.op("s.sub", bb.op("s.index", dim=dim), _idx(bb, st))
            q = bb.op("s.floordiv", off, _idx(bb, sp))
            hit = bb.op("s.eq", bb.op("s.mul", q, _idx(bb, sp)), off)
            hit = bb.op("s.and", hit, _in_range(bb, q, sz))
            inside = hit if inside is None else bb.op("s.and", inside, hit)
            src.append(_clamp(bb, q, sz))
        return [bb.op("s.select", inside, bb.op("s.extract", v, *src), xv)]

    out = b.empty(t)
    ident = AffineMap.identity(t.rank)
    return b.generic([x], [out], [ident, ident], ["parallel"] * t.rank, body)


def _insert_slice_transpose(b, op, ct):
    v = op.operands[1]
    return [
        b.op("tir.insert_slice", ct, zeros(b, v.type), **op.attrs),
        b.op("tir.slice", ct, **op.attrs),
    ]


deflinear("tir.insert_slice", _insert_slice_transpose)


def _idx(bb, value: int):
    return bb.scalar_constant(int(value), T.index)


def _in_range(bb, i, size: int):
    """0 <= i < size, on index values."""
    return bb.op("s.and", bb.op("s.ge", i, _idx(bb, 0)), bb.op("s.lt", i, _idx(bb, size)))


def _clamp(bb, i, size: int):
    """i clamped into [0, size - 1], so a read the select discards stays in bounds."""
    return bb.op("s.min", bb.op("s.max", i, _idx(bb, 0)), _idx(bb, max(size - 1, 0)))


@defop("tir.concatenate", None, {"axis": INTS})
def _concatenate(types, attrs):
    """Operands joined along `axis`; all other dims equal."""
    if not types:
        raise IRTypeError("tir.concatenate needs at least one operand")
    ts = [_tensor("tir.concatenate", t) for t in types]
    axis = attrs["axis"]
    first = ts[0]
    if not 0 <= axis < first.rank:
        raise IRTypeError(f"tir.concatenate: axis {axis} out of range for {first}")
    for t in ts[1:]:
        if (
            t.rank != first.rank
            or t.dtype != first.dtype
            or any(
                a != b
                for i, (a, b) in enumerate(zip(t.shape, first.shape, strict=True))
                if i != axis
            )
        ):
            raise IRTypeError(f"tir.concatenate: {t} does not match {first} off axis {axis}")
    total = sum(t.shape[axis] for t in ts)
    return [T.TensorType(first.shape[:axis] + (total,) + first.shape[axis + 1 :], first.dtype)]


@impl("tir.concatenate", "eval")
def _concatenate_eval(args, attrs):
    return [np.concatenate(args, axis=attrs["axis"])]


@impl("tir.concatenate", "to_generic")
def _concatenate_generic(b, op):
    axis, t = op.attrs["axis"], op.result.type
    parts = [v for v in op.operands if v.type.shape[axis] != 0]

    def body(bb, acc):
        i = bb.op("s.index", dim=axis)
        idx = [bb.op("s.index", dim=d) for d in range(t.rank)]
        result, offset = None, 0
        for v in parts:
            n = v.type.shape[axis]
            local = _clamp(bb, bb.op("s.sub", i, _idx(bb, offset)), n)
            val = bb.op("s.extract", v, *idx[:axis], local, *idx[axis + 1 :])
            if result is None:
                result = val
            else:
                result = bb.op("s.select", bb.op("s.lt", i, _idx(bb, offset)), result, val)
            offset += n
        return [result]

    if not parts:
        return [b.empty(t)]
    return b.generic([], [b.empty(t)], [AffineMap.identity(t.rank)], ["parallel"] * t.rank, body)


def _concatenate_transpose(b, op, ct):
    axis, t, out, offset = op.attrs["axis"], ct.type, [], 0
    for v in op.operands:
        starts = tuple(offset if d == axis else 0 for d in range(t.rank))
        out.append(b.op("tir.slice", ct, starts=starts, steps=(1,) * t.rank, sizes=v.type.shape))
        offset += v.type.shape[axis]
    return out


deflinear("tir.concatenate", _concatenate_transpose)


@defop("tir.pad", 2, {"low": TUPLE, "high": TUPLE})
def _pad(types, attrs):
    """x surrounded by low[i] / high[i] copies of the 0-d `value` along each dim."""
    x, v = (_tensor("tir.pad", t) for t in types)
    low, high = tuple(attrs["low"]), tuple(attrs["high"])
    if v != T.TensorType((), x.dtype):
        raise IRTypeError(f"tir.pad: value must be {T.TensorType((), x.dtype)}, got {v}")
    if len(low) != x.rank or len(high) != x.rank or min(low + high, default=0) < 0:
        raise IRTypeError(f"tir.pad: low {low} / high {high} invalid for {x}")
    return [
        T.TensorType(
            tuple(d + lo + hi for d, lo, hi in zip(x.shape, low, high, strict=True)), x.dtype
        )
    ]


@impl("tir.pad", "eval")
def _pad_eval(args, attrs):
    if args[0].ndim == 0:
        return [args[0].copy()]
    widths = list(zip(attrs["low"], attrs["high"], strict=True))
    return [np.pad(args[0], widths, constant_values=args[1].item())]


@impl("tir.pad", "to_generic")
def _pad_generic(b, op):
    x, value = op.operands
    t = op.result.type

    def body(bb, pad, acc):
        if x.type.size == 0:
            return [pad]
        inside, src = None, []
        for dim, (lo, n) in enumerate(zip(op.attrs["low"], x.type.shape, strict=True)):
            j = bb.op("s.sub", bb.op("s.index", dim=dim), _idx(bb, lo))
            hit = _in_range(bb, j, n)
            inside = hit if inside is None else bb.op("s.and", inside, hit)
            src.append(_clamp(bb, j, n))
        if inside is None:
            return [bb.op("s.extract", x)]
        return [bb.op("s.select", inside, bb.op("s.extract", x, *src), pad)]

    n = t.rank
    return b.generic(
        [value], [b.empty(t)], [AffineMap(n, ()), AffineMap.identity(n)], ["parallel"] * n, body
    )


def _pad_transpose(b, op, ct):
    # the padding value's cotangent is what falls outside the interior
    x = op.operands[0]
    every = tuple(range(x.type.rank))
    inner = b.op(
        "tir.slice", ct, starts=op.attrs["low"], steps=(1,) * x.type.rank, sizes=x.type.shape
    )
    total = b.op("tir.reduce_sum", ct, axes=every)
    return [inner, b.op("tir.sub", total, b.op("tir.reduce_sum", inner, axes=every))]


deflinear("tir.pad", _pad_transpose)


# ---- reductions ---------------------------------------------------------------------------------

REDUCTIONS = {
    # name: (scalar combiner, numpy reference, identity for (dtype) -> value)
    "sum": ("s.add", np.sum, lambda d: 0),
    "prod": ("s.mul", np.prod, lambda d: 1),
    "max": ("s.max", np.max, lambda d: _lowest(d)),
    "min": ("s.min", np.min, lambda d: _highest(d)),
}


def _lowest(d: T.DType):
    if d.is_bool:
        return False
    return float("-inf") if d.is_float else int(np.iinfo(d.np).min)


def _highest(d: T.DType):
    if d.is_bool:
        return True
    return float("inf") if d.is_float else int(np.iinfo(d.np).max)


def _check_axes(opname, t, axes):
    if sorted(set(axes)) != list(axes) or any(not 0 <= a < t.rank for a in axes):
        raise IRTypeError(f"{opname}: axes {axes} invalid for {t} (sorted, unique, in range)")


def _reduce_infer(opname):
    def infer(types, attrs):
        t = _tensor(opname, types[0])
        axes = tuple(attrs["axes"])
        _check_axes(opname, t, axes)
        if t.dtype.is_bool and opname in ("tir.reduce_sum", "tir.reduce_prod"):
            raise IRTypeError(f"{opname} of bool: cast first (numpy sums bools as integers)")
        if opname in ("tir.reduce_max", "tir.reduce_min") and any(t.shape[a] == 0 for a in axes):
            raise IRTypeError(f"{opname}: zero-size reduction has no identity ({t}, axes {axes})")
        shape = tuple(d for i, d in enumerate(t.shape) if i not in axes)
        return [T.TensorType(shape, t.dtype)]

    return infer


def _reduce_eval(ref):
    def run(args, attrs):
        x = args[0]
        return [np.asarray(ref(x, axis=tuple(attrs["axes"])), dtype=x.dtype)]

    return run


def _wide(d: T.DType) -> T.DType:
    """Accumulator type of a sum: f16/f32 sums accumulate in f64, so long sums stay within
    numpy's (pairwise) error. Products keep their dtype, as numpy's do: a float16 product that
    overflows on the way is inf (or NaN times 0) in numpy, and must be here too. A float32
    term's widening says `f32_blocks`: the sum owes float32 accuracy only, so the CPU adds it
    in float32 blocks of bounded length and the block sums in float64 (`lower_llvm/loops.py`),
    converting no term, with an error within 22 u sum|x| where numpy's pairwise bound is 16 u
    to 33 u sum|x| (u = 2^-24; tests/test_sum_accuracy.py)."""
    return T.f64 if d in (T.f16, T.f32) else d


def _reduce_generic(kind):
    combine, _, ident = REDUCTIONS[kind]

    def lower(b, op):
        (x,) = op.operands
        t, axes = x.type, op.attrs["axes"]
        res = op.result.type
        acc_t = _wide(t.dtype) if kind == "sum" else t.dtype
        init = _fill(b, res.with_dtype(acc_t), ident(t.dtype))
        keep = [i for i in range(t.rank) if i not in axes]
        iters = ["reduction" if i in axes else "parallel" for i in range(t.rank)]
        maps = [AffineMap.identity(t.rank), AffineMap.select(t.rank, keep)]

        def body(bb, v, acc):
            if acc_t != t.dtype:
                blocks = {"f32_blocks": True} if t.dtype == T.f32 else {}
                v = bb.op("s.cast", v, dtype=acc_t, **blocks)
            return [bb.op(combine, acc, v)]

        (out,) = b.generic([x], [init], maps, iters, body)
        return [out if acc_t == t.dtype else b.op("tir.cast", out, dtype=t.dtype)]

    return lower


def _fill(b, t: T.TensorType, value):
    """A tensor of `value`: a splat constant, which costs one element of memory."""
    return b.constant(value, t)


for _kind, (_combine, _ref, _ident) in REDUCTIONS.items():
    _name = f"tir.reduce_{_kind}"
    register(
        OpDef(
            _name,
            _reduce_infer(_name),
            1,
            {"axes": Attr(tuple)},
            frozenset({"pure", "reduction"}),
            eval=_reduce_eval(_ref),
            to_generic=_reduce_generic(_kind),
            doc=f"{_kind} over `axes` (removed from the shape); NaN-propagating for max/min",
        )
    )


def _unreduce(b, op, v):
    """`v`, shaped like the reduction's result, broadcast back over the reduced axes."""
    x, axes = op.operands[0], op.attrs["axes"]
    dims = tuple(d for d in range(x.type.rank) if d not in axes)
    return b.op("tir.broadcast", v, shape=x.type.shape, dims=dims)


deflinear("tir.reduce_sum", lambda b, op, ct: [_unreduce(b, op, ct)])


def _extremum_partial(b, op):
    """d out / d x of max and min: the extremal elements share the slope equally (ties)."""
    x = op.operands[0]
    hit = b.op("tir.cast", b.op("tir.eq", x, _unreduce(b, op, op.result)), dtype=x.type.dtype)
    count = b.op("tir.reduce_sum", hit, axes=op.attrs["axes"])
    return b.op("tir.div", hit, _unreduce(b, op, count))


def _prod_partial(b, op):
    """d out / d x_i of a product is the product of the other factors, also where some are 0:
    the quotient where none is 0, the product of the rest at a lone 0, else 0."""
    x, axes = Sym(b, op.operands[0]), op.attrs["axes"]
    zero = eq(x, 0)
    safe = where(zero, 1, x)  # no division by 0, not even in the branch `where` discards

    def unreduced(name, v):
        return Sym(b, _unreduce(b, op, b.op(name, v.v, axes=axes)))

    rest, zeros_ = unreduced("tir.reduce_prod", safe), unreduced("tir.reduce_sum", cast(zero, x))
    return where(zero, where(eq(zeros_, 1), rest, 0), where(eq(zeros_, 0), rest / safe, 0)).v


def _by_partial(name, partial):
    """vjp = ct broadcast back times d out / d x; jvp = the sum of t * d out / d x."""

    def vjp(b, op, ct):
        return [b.op("tir.mul", _unreduce(b, op, ct), partial(b, op))]

    def jvp(b, op, t):
        return b.op("tir.reduce_sum", b.op("tir.mul", t, partial(b, op)), axes=op.attrs["axes"])

    impl(name, "vjp")(vjp)
    impl(name, "jvp")(jvp)


_by_partial("tir.reduce_max", _extremum_partial)
_by_partial("tir.reduce_min", _extremum_partial)
_by_partial("tir.reduce_prod", _prod_partial)


def _arg_infer(opname):
    def infer(types, attrs):
        t = _tensor(opname, types[0])
        axis = attrs["axis"]
        if not 0 <= axis < t.rank:
            raise IRTypeError(f"{opname}: axis {axis} out of range for {t}")
        if t.shape[axis] == 0:
            raise IRTypeError(f"{opname}: attempt to get {opname[4:]} of an empty sequence")
        return [T.TensorType(t.shape[:axis] + t.shape[axis + 1 :], T.int64)]

    return infer


def _arg_generic(better: str, ident):
    def lower(b, op):
        (x,) = op.operands
        t, axis = x.type, op.attrs["axis"]
        res = op.result.type
        keep = [i for i in range(t.rank) if i != axis]
        iters = ["reduction" if i == axis else "parallel" for i in range(t.rank)]
        inits = [_fill(b, res.with_dtype(t.dtype), ident(t.dtype)), _fill(b, res, 0)]
        out_map = AffineMap.select(t.rank, keep)

        def body(bb, v, best, best_i):
            take = bb.op(better, v, best)
            if t.dtype.is_float:  # the first NaN wins, as in numpy
                first_nan = bb.op(
                    "s.and", bb.op("s.isnan", v), bb.op("s.not", bb.op("s.isnan", best))
                )
                take = bb.op("s.or", take, first_nan)
            i = bb.op("s.cast", bb.op("s.index", dim=axis), dtype=T.int64)
            return [bb.op("s.select", take, v, best), bb.op("s.select", take, i, best_i)]

        outs = b.generic([x], inits, [AffineMap.identity(t.rank), out_map, out_map], iters, body)
        return [outs[1]]

    return lower


for _kind, _better, _ident, _ref in (
    ("argmax", "s.gt", _lowest, np.argmax),
    ("argmin", "s.lt", _highest, np.argmin),
):
    register(
        OpDef(
            f"tir.{_kind}",
            _arg_infer(f"tir.{_kind}"),
            1,
            {"axis": Attr(int)},
            frozenset({"pure", "reduction"}),
            eval=lambda args, attrs, _ref=_ref: [np.asarray(_ref(args[0], axis=attrs["axis"]))],
            to_generic=_arg_generic(_better, _ident),
            doc=f"index of the first {_kind[3:]} along `axis` (the first NaN if any)",
        )
    )


# ---- contraction --------------------------------------------------------------------------------


@defop("tir.matmul", 2)
def _matmul(types, attrs):
    """(..., m, k) @ (..., k, n) -> (..., m, n); batch dims equal (the frontend broadcasts)."""
    a, b = (_tensor("tir.matmul", t) for t in types)
    if a.rank < 2 or a.rank != b.rank or a.dtype != b.dtype:
        raise IRTypeError(f"tir.matmul: operands {a} and {b} must be equal-rank, >= 2-d, one dtype")
    if a.shape[:-2] != b.shape[:-2] or a.shape[-1] != b.shape[-2]:
        raise IRTypeError(f"tir.matmul: shapes {a.shape} and {b.shape} do not match")
    return [T.TensorType(a.shape[:-1] + b.shape[-1:], a.dtype)]


@impl("tir.matmul", "eval")
def _matmul_eval(args, attrs):
    return [np.matmul(*args)]


@impl("tir.matmul", "to_generic")
def _matmul_generic(b, op):
    x, y = op.operands
    res = op.result.type
    nb = res.rank - 2
    n = res.rank + 1  # batch..., m, n, k
    batch = list(range(nb))
    maps = [
        AffineMap.select(n, batch + [nb, nb + 2]),
        AffineMap.select(n, batch + [nb + 2, nb + 1]),
        AffineMap.select(n, batch + [nb, nb + 1]),
    ]
    is_bool = res.dtype.is_bool
    init = _fill(b, res, False if is_bool else 0)

    def body(bb, u, v, acc):
        if is_bool:
            return [bb.op("s.or", acc, bb.op("s.and", u, v))]
        return [bb.op("s.add", acc, bb.op("s.mul", u, v))]

    return b.generic([x, y], [init], maps, ["parallel"] * (nb + 2) + ["reduction"], body)


def _swap_last(b, v):
    r = v.type.rank
    return b.op("tir.transpose", v, perm=(*range(r - 2), r - 1, r - 2))


@impl("tir.matmul", "vjp")
def _matmul_vjp(b, op, ct):
    x, y = op.operands
    return [b.op("tir.matmul", ct, _swap_last(b, y)), b.op("tir.matmul", _swap_last(b, x), ct)]


@impl("tir.matmul", "jvp")
def _matmul_jvp(b, op, tx, ty):
    # bilinear: the product rule
    x, y = op.operands
    return add(
        b,
        None if tx is None else b.op("tir.matmul", tx, y),
        None if ty is None else b.op("tir.matmul", x, ty),
    )


# ---- indexing -----------------------------------------------------------------------------------


def _int_tensor(opname, t):
    t = _tensor(opname, t)
    if not t.dtype.is_int:
        raise IRTypeError(f"{opname}: indices must be integers, got {t}")
    return t


@defop("tir.gather", 2, {"axis": INTS})
def _gather(types, attrs):
    """numpy's take: out = x[:, ..., idx, ...] with idx's dims in place of `axis`."""
    x = _tensor("tir.gather", types[0])
    idx = _int_tensor("tir.gather", types[1])
    axis = attrs["axis"]
    if not 0 <= axis < x.rank:
        raise IRTypeError(f"tir.gather: axis {axis} out of range for {x}")
    return [T.TensorType(x.shape[:axis] + idx.shape + x.shape[axis + 1 :], x.dtype)]


@impl("tir.gather", "eval")
def _gather_eval(args, attrs):
    return [np.take(args[0], args[1], axis=attrs["axis"])]


@impl("tir.gather", "to_generic")
def _gather_generic(b, op):
    x, idx = op.operands
    axis, res = op.attrs["axis"], op.result.type
    q = idx.type.rank
    n = res.rank

    def body(bb, i, acc):
        dims = [bb.op("s.index", dim=d) for d in range(n)]
        j = bb.op("s.wrap_index", i, size=x.type.shape[axis])
        return [bb.op("s.extract", x, *dims[:axis], j, *dims[axis + q :])]

    maps = [AffineMap.select(n, range(axis, axis + q)), AffineMap.identity(n)]
    return b.generic([idx], [b.empty(res)], maps, ["parallel"] * n, body)


def _gather_transpose(b, op, ct):
    # as a take_along_axis with the indices broadcast over the other dims, whose transpose is
    # scatter_add
    x, idx = op.operands
    axis, n = op.attrs["axis"], idx.type.size
    flat = x.type.shape[:axis] + (n,) + x.type.shape[axis + 1 :]
    along = b.op("tir.broadcast", _reshaped(b, idx, (n,)), shape=flat, dims=(axis,))
    add_to = zeros(b, x.type)
    return [b.op("tir.scatter_add", add_to, along, _reshaped(b, ct, flat), axis=axis), None]


deflinear("tir.gather", _gather_transpose, linear=(0,))


def _along_mismatch(x: T.TensorType, idx: T.TensorType, axis: int) -> bool:
    """Whether `idx` cannot index `x` along `axis` (same rank, every other dim equal)."""
    return (
        not 0 <= axis < x.rank
        or idx.rank != x.rank
        or any(a != b for i, (a, b) in enumerate(zip(x.shape, idx.shape, strict=True)) if i != axis)
    )


@defop("tir.take_along_axis", 2, {"axis": INTS})
def _take_along(types, attrs):
    """out[..., i, ...] = x[..., idx[..., i, ...], ...] along `axis`; other dims equal."""
    x = _tensor("tir.take_along_axis", types[0])
    idx = _int_tensor("tir.take_along_axis", types[1])
    axis = attrs["axis"]
    if _along_mismatch(x, idx, axis):
        raise IRTypeError(f"tir.take_along_axis: {x} and indices {idx} mismatch (axis {axis})")
    return [idx.with_dtype(x.dtype)]


@impl("tir.take_along_axis", "eval")
def _take_along_eval(args, attrs):
    return [np.take_along_axis(args[0], args[1], axis=attrs["axis"])]


@impl("tir.take_along_axis", "to_generic")
def _take_along_generic(b, op):
    x, idx = op.operands
    axis, res = op.attrs["axis"], op.result.type
    n = res.rank

    def body(bb, i, acc):
        dims = [bb.op("s.index", dim=d) for d in range(n)]
        dims[axis] = bb.op("s.wrap_index", i, size=x.type.shape[axis])
        return [bb.op("s.extract", x, *dims)]

    ident = AffineMap.identity(n)
    return b.generic([idx], [b.empty(res)], [ident, ident], ["parallel"] * n, body)


def _take_along_transpose(b, op, ct):
    x, idx = op.operands
    return [b.op("tir.scatter_add", zeros(b, x.type), idx, ct, axis=op.attrs["axis"]), None]


deflinear("tir.take_along_axis", _take_along_transpose, linear=(0,))


@defop("tir.scatter", 3)
def _scatter(types, attrs):
    """A copy of x with rows x[idx[j]] = v[j] (later j win): numpy's x[idx] = v for 1-d idx."""
    x = _tensor("tir.scatter", types[0])
    idx = _int_tensor("tir.scatter", types[1])
    v = _tensor("tir.scatter", types[2])
    if x.rank < 1 or idx.rank != 1 or v != T.TensorType(idx.shape + x.shape[1:], x.dtype):
        raise IRTypeError(f"tir.scatter: x {x}, indices {idx} (1-d), values {v} mismatch")
    return [x]


@impl("tir.scatter", "eval")
def _scatter_eval(args, attrs):
    out = args[0].copy()
    out[args[1]] = args[2]
    return [out]


@impl("tir.scatter", "to_generic")
def _scatter_generic(b, op):
    # out[i, r] = v[j, r] for the last j with idx[j] == i: a reduction over j whose accumulator
    # starts as x, so no write is data-dependent.
    x, idx, v = op.operands
    r = x.type.rank
    n = r + 1  # i, rest..., j
    maps = [
        AffineMap.select(n, [r]),
        AffineMap.select(n, [r, *range(1, r)]),
        AffineMap.select(n, range(r)),
    ]

    def body(bb, i, val, acc):
        hit = bb.op("s.eq", bb.op("s.wrap_index", i, size=x.type.shape[0]), bb.op("s.index", dim=0))
        return [bb.op("s.select", hit, val, acc)]

    return b.generic([idx, v], [x], maps, ["parallel"] * r + ["reduction"], body)


def _scatter_transpose(b, op, ct):
    x, idx, v = op.operands
    # row j of v survives only if no later j writes its row: scatter j itself and read back
    # which j won each row
    m = idx.type.shape[0]
    j = b.op("tir.iota", shape=(m,), dtype=T.int64, dim=0)
    winner = b.op("tir.scatter", b.constant(-1, T.TensorType(x.type.shape[:1], T.int64)), idx, j)
    won = b.op("tir.eq", b.op("tir.gather", winner, idx, axis=0), j)
    won = b.op("tir.broadcast", won, shape=v.type.shape, dims=(0,))
    ct_v = b.op("tir.select", won, b.op("tir.gather", ct, idx, axis=0), zeros(b, v.type))
    return [b.op("tir.scatter", ct, idx, zeros(b, v.type)), None, ct_v]


deflinear("tir.scatter", _scatter_transpose, linear=(0, 2))


@defop("tir.scatter_add", 3, {"axis": INTS})
def _scatter_add(types, attrs):
    """A copy of x plus v[..., i, ...] at x[..., idx[..., i, ...], ...] along `axis`; repeated
    indices accumulate: the transpose of take_along_axis."""
    x = _tensor("tir.scatter_add", types[0])
    idx = _int_tensor("tir.scatter_add", types[1])
    v = _tensor("tir.scatter_add", types[2])
    axis = attrs["axis"]
    if _along_mismatch(x, idx, axis) or v != idx.with_dtype(x.dtype):
        raise IRTypeError(
            f"tir.scatter_add: x {x}, indices {idx}, values {v} mismatch (axis {axis})"
        )
    return [x]


@impl("tir.scatter_add", "eval")
def _scatter_add_eval(args, attrs):
    x, idx, v = args
    axis = attrs["axis"]
    out = x.copy()
    at = list(np.indices(idx.shape, sparse=True))
    at[axis] = np.where(idx < 0, idx + x.shape[axis], idx)
    np.add.at(out, tuple(at), v)
    return [out]


@impl("tir.scatter_add", "to_generic")
def _scatter_add_generic(b, op):
    # out[.., k, ..] = x[.., k, ..] + sum over i of v[.., i, ..] where idx[.., i, ..] == k: a
    # reduction over i whose accumulator starts as x, so no write is data-dependent
    x, idx, v = op.operands
    axis, r = op.attrs["axis"], x.type.rank
    src = AffineMap.select(r + 1, [r if d == axis else d for d in range(r)])
    maps = [src, src, AffineMap.select(r + 1, range(r))]

    def body(bb, i, val, acc):
        k = bb.op("s.wrap_index", i, size=x.type.shape[axis])
        hit = bb.op("s.eq", k, bb.op("s.index", dim=axis))
        return [bb.op("s.select", hit, bb.op("s.add", acc, val), acc)]

    return b.generic([idx, v], [x], maps, ["parallel"] * r + ["reduction"], body)


def _scatter_add_transpose(b, op, ct):
    return [ct, None, b.op("tir.take_along_axis", ct, op.operands[1], axis=op.attrs["axis"])]


deflinear("tir.scatter_add", _scatter_add_transpose, linear=(0, 2))


# ---- differentiation --------------------------------------------------------------------------


@defop("tir.stop_gradient", 1)
def _stop_gradient(types, attrs):
    """x itself, with a zero derivative: what flows through it is a constant to autodiff."""
    return [_tensor("tir.stop_gradient", types[0])]


impl("tir.stop_gradient", "eval")(lambda args, attrs: [args[0]])
impl("tir.stop_gradient", "to_generic")(lambda b, op: [op.operands[0]])
impl("tir.stop_gradient", "vjp")(lambda b, op, ct: [None])
impl("tir.stop_gradient", "jvp")(lambda b, op, t: None)

# The rules of `tir.custom_vjp_call`s, registered by `tensorir.custom_vjp` while tracing: each has
# `function`, the traced forward (operands -> outputs, then the residuals the rule reads), and
# `vjp(b, op, *cts)`, which traces the user's backward function.
CUSTOM_RULES: list = []


def _custom_rule(attrs):
    if not 0 <= attrs["rule"] < len(CUSTOM_RULES):
        raise IRTypeError(f"tir.custom_vjp_call: no rule {attrs['rule']} in this process")
    return CUSTOM_RULES[attrs["rule"]]


@defop("tir.custom_vjp_call", None, {"rule": INTS})
def _custom_vjp_call(types, attrs):
    """A call of a function with a user-defined vjp: its outputs, then its residuals."""
    ftype = _custom_rule(attrs).function.type
    if tuple(types) != ftype.inputs:
        raise IRTypeError(f"tir.custom_vjp_call: operands ({types}) do not fit {ftype}")
    return list(ftype.results)


@impl("tir.custom_vjp_call", "eval")
def _custom_vjp_call_eval(args, attrs):
    from ..interpreter import interpret  # late: the interpreter imports this registry

    return interpret(_custom_rule(attrs).function, args)


@impl("tir.custom_vjp_call", "to_generic")
def _custom_vjp_call_generic(b, op):
    return inline(b, _custom_rule(op.attrs).function, op.operands)


# no jvp: as in JAX, a custom vjp defines reverse mode only
impl("tir.custom_vjp_call", "vjp")(lambda b, op, *cts: _custom_rule(op.attrs).vjp(b, op, *cts))


# ---- the structured op --------------------------------------------------------------------------


GENERIC_ATTRS = {
    "indexing_maps": TUPLE,
    "iterator_types": TUPLE,
    "num_inputs": INTS,
    "result_dtypes": (TUPLE, True),
}


@defop("tir.generic", None, GENERIC_ATTRS)
def _generic(types, attrs):
    """Loops over a domain; operand k is read at indexing_maps[k](d); results are the inits
    (the operands after num_inputs) updated by the body at every point of the domain. A result
    whose map omits the reduction dims accumulates over them; one whose map is a permutation of
    all dims is written once per point.

    An optional second region, the epilogue, runs once per point of the parallel dims after
    the reductions: it takes the final accumulators and the inputs (at that point) and yields
    the results, whose dtypes `result_dtypes` gives when they differ from the inits'. It is
    where a matmul's bias and activation, or a float32 sum's rounding, happen in registers."""
    n_in = attrs["num_inputs"]
    if not 0 <= n_in <= len(types):
        raise IRTypeError(f"tir.generic: num_inputs {n_in} exceeds {len(types)} operands")
    inits = list(types[n_in:])
    dtypes = attrs.get("result_dtypes")
    if dtypes is None:
        return inits
    if len(dtypes) != len(inits) or not all(isinstance(d, T.DType) for d in dtypes):
        raise IRTypeError(f"tir.generic: result_dtypes {dtypes} must give one dtype per init")
    return [t.with_dtype(d) for t, d in zip(inits, dtypes, strict=True)]


def is_pointwise(m: AffineMap) -> bool:
    """A result map that is a permutation of all loop dims: each point writes its own element
    (a side output of a reduction) instead of accumulating."""
    return sorted(e.pos if isinstance(e, A.Dim) else -1 for e in m.results) == list(
        range(m.num_dims)
    )


def loop_bounds(op) -> list[tuple[int, int]]:
    """For each loop dim of a generic, an (operand index, operand dim) that gives its size: the
    smallest static extent among the operands indexed by that bare dim (an operand may be
    larger, as the input of a prefix slice; none may be smaller)."""
    maps = op.attrs["indexing_maps"]
    found: dict[int, tuple[int, int]] = {}
    extent: dict[int, int | None] = {}
    for k, m in enumerate(maps):
        shape = op.operands[k].type.shape
        for d, pos in m.bare_dim_positions().items():
            size = shape[pos]
            if d not in found or (size is not None and (extent[d] is None or size < extent[d])):
                found[d], extent[d] = (k, pos), size
    n = len(op.attrs["iterator_types"])
    missing = [d for d in range(n) if d not in found]
    if missing:
        raise IRTypeError(f"tir.generic: loop dims {missing} are not a bare dim of any operand")
    return [found[d] for d in range(n)]


@impl("tir.generic", "verify")
def _generic_verify(op):
    maps, iters = op.attrs["indexing_maps"], op.attrs["iterator_types"]
    if len(maps) != len(op.operands):
        raise IRTypeError(f"tir.generic: {len(maps)} indexing maps for {len(op.operands)} operands")
    for k, (m, v) in enumerate(zip(maps, op.operands, strict=True)):
        if (
            not isinstance(m, AffineMap)
            or m.num_dims != len(iters)
            or len(m.results) != v.type.rank
        ):
            raise IRTypeError(f"tir.generic: indexing map {k} does not fit operand {v.type}")
    if any(it not in ("parallel", "reduction") for it in iters):
        raise IRTypeError(f"tir.generic: iterator types must be parallel/reduction, got {iters}")
    n_in = op.attrs["num_inputs"]
    for m in maps[n_in:]:
        used = {e.pos for e in m.results if isinstance(e, A.Dim)}
        if any(iters[d] == "reduction" for d in used) and not is_pointwise(m):
            raise IRTypeError(
                "tir.generic: a result indexed by a reduction dim must be written at every point "
                "(its map a permutation of all loop dims)"
            )
    if len(op.regions) not in (1, 2) or any(len(r.blocks) != 1 for r in op.regions):
        raise IRTypeError("tir.generic: needs a body region and at most an epilogue region")
    elems = [T.element_type(v.type) for v in op.operands]
    accs = elems[n_in:]
    _check_block(op.regions[0].block, elems, accs, "body")
    if len(op.regions) == 2:
        if "reduction" not in iters:
            raise IRTypeError("tir.generic: an epilogue needs reduction dims")
        epilogue = op.regions[1].block
        _check_block(
            epilogue, accs + elems[:n_in], [T.element_type(r.type) for r in op.results], "epilogue"
        )
        for k, arg in enumerate(epilogue.args[len(accs) :]):
            used = {e.pos for e in maps[k].results if isinstance(e, A.Dim)}
            if arg.uses and any(iters[d] == "reduction" for d in used):
                raise IRTypeError(
                    f"tir.generic: the epilogue reads input {k} along a reduction dim"
                )
    elif op.attrs.get("result_dtypes") is not None:
        raise IRTypeError("tir.generic: result_dtypes needs an epilogue")
    loop_bounds(op)


def _check_block(block, args, yields, what: str) -> None:
    if [a.type for a in block.args] != args:
        raise IRTypeError(f"tir.generic: {what} must take ({', '.join(map(str, args))})")
    term = block.ops[-1] if block.ops else None
    if term is None or term.name != "s.yield" or [v.type for v in term.operands] != yields:
        raise IRTypeError(
            f"tir.generic: {what} must end in s.yield of ({', '.join(map(str, yields))})"
        )
