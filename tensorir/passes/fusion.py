"""Producer -> consumer fusion of `tir.generic` ops by composing indexing maps.

A parallel generic P whose result R a consumer C reads through map M_c is folded into C: P's
loop point for C's point d is M_p⁻¹(M_c(d)), so each input of P is read at M_in ∘ M_p⁻¹ ∘ M_c
and P's scalar body is cloned into C's body, its `s.index` ops rewritten as index arithmetic
on C's loop indices. R is never written to memory. Elementwise chains become one loop, movement
ops become maps, and elementwise producers fuse into reductions and matmuls.

P fuses when its result map is a permutation (so it has an inverse), its destination is a fresh
`tir.empty`, and C reads R only through its indexing maps. When R has other uses, P stays and
fuses only if its body is cheap (no transcendental functions): an expensive producer is never
computed twice. Instead, when C visits every element of R once (a reduction over all of R, as
softmax's sum of exponentials), C takes P over and writes R as a side output for the later
users, so P's loop disappears without recomputation. Every decision goes to the
`tensorir.fusion` logger (`TENSORIR_LOG=fusion`).

`fuse-recompute` is the same pass for GPUs, where arithmetic is cheap next to memory traffic:
an expensive producer with other users is recomputed in each consumer instead of being stored,
so softmax's exponentials are computed twice and never written.
"""

from __future__ import annotations

import logging

from ..ir import affine as A
from ..ir import types as T
from ..ir.affine import AffineMap
from ..ir.builder import Builder
from ..ir.core import Function, Module, Operation, OpResult, Value
from ..ir.opdef import IRTypeError
from ..ir.ops_tensor import is_pointwise, loop_bounds
from . import log as _log  # noqa: F401  (TENSORIR_LOG)
from .manager import register_pass

log = logging.getLogger("tensorir.fusion")

EXPENSIVE = {
    "s.exp", "s.log", "s.log1p", "s.expm1", "s.sqrt", "s.cbrt", "s.sin", "s.cos", "s.tan",
    "s.tanh", "s.sinh", "s.cosh", "s.arcsin", "s.arccos", "s.arctan", "s.arctan2", "s.erf",
    "s.pow", "s.div", "s.floordiv", "s.mod",
}  # fmt: skip


def _body(op: Operation):
    return op.regions[0].block


def _inverse_permutation(m: AffineMap) -> list[int] | None:
    """For a permutation map (d_i -> result position), position of each dim; else None."""
    dims = [e.pos if isinstance(e, A.Dim) else None for e in m.results]
    if None in dims or sorted(dims) != list(range(m.num_dims)):
        return None
    inv = [0] * m.num_dims
    for pos, d in enumerate(dims):
        inv[d] = pos
    return inv


def _why_not(
    producer: Operation, result: OpResult, consumer: Operation, recompute: bool = False
) -> str | None:
    """The reason `producer` cannot fuse into `consumer`, or None."""
    if producer.name != "tir.generic":
        return "producer is not a generic"
    if "reduction" in producer.attrs["iterator_types"]:
        return "producer reduces"
    n_in = producer.attrs["num_inputs"]
    init = producer.operands[n_in + result.index]
    if not (isinstance(init, OpResult) and init.op.name == "tir.empty"):
        return "producer updates an existing tensor"
    if _inverse_permutation(producer.attrs["indexing_maps"][n_in + result.index]) is None:
        return "producer's result map is not a permutation"
    if len(producer.results) != 1:
        return "producer has several results"
    if _body(producer).args[n_in].uses:
        return "producer reads its destination"
    c_in = consumer.attrs["num_inputs"]
    for user, k in result.uses:
        if user is consumer and k >= c_in:
            return "consumer updates the result in place"
        if user is not consumer and user.parent is _body(consumer):
            return "consumer reads the result at computed indices"
    others = [u for u, _ in result.uses if u is not consumer]
    if (
        others
        and _side_output(producer, recompute)
        and not _can_side_output(result, consumer, others)
    ):
        return f"result has {len(others)} other use(s) and the producer is expensive"
    return None


def _side_output(producer: Operation, recompute: bool) -> bool:
    """Whether a producer with other users is stored (taken over as a side output) rather
    than recomputed in each consumer."""
    return not recompute and any(op.name in EXPENSIVE for op in _body(producer).ops)


def extents(operands, maps, n: int) -> list[int | None]:
    """Loop sizes a generic with these operands and maps has (see `loop_bounds`)."""
    out: list[int | None] = [None] * n
    for v, m in zip(operands, maps, strict=True):
        for d, pos in m.bare_dim_positions().items():
            size = v.type.shape[pos]
            if size is not None and (out[d] is None or size < out[d]):
                out[d] = size
    return out


def _can_side_output(result: OpResult, consumer: Operation, others) -> bool:
    """Whether `consumer` visits every element of `result` once (reads it through a permutation
    of all its loop dims) and precedes its other users, so it can write the result as a side
    output instead of the producer writing it."""
    c_in = consumer.attrs["num_inputs"]
    read = [consumer.attrs["indexing_maps"][k] for k, v in enumerate(consumer.operands[:c_in])]
    read = [m for m, v in zip(read, consumer.operands, strict=False) if v is result]
    if not read or not is_pointwise(read[0]):
        return False
    n = len(consumer.attrs["iterator_types"])
    sizes = extents(consumer.operands, consumer.attrs["indexing_maps"], n)
    if [sizes[e.pos] for e in read[0].results] != list(result.type.shape):
        return False  # the consumer visits only part of the result
    ops = consumer.parent.ops
    at = ops.index(consumer)
    return all(u.parent is consumer.parent and ops.index(u) > at for u in others)


def _emit_index(b: Builder, e: A.Expr) -> Value:
    """Index arithmetic in a body computing affine expression `e` of the loop indices."""
    if isinstance(e, A.Dim):
        return b.op("s.index", dim=e.pos)
    if isinstance(e, A.Const):
        return b.scalar_constant(e.value, T.index)
    lhs, rhs = _emit_index(b, e.lhs), _emit_index(b, e.rhs)
    name = {"+": "s.add", "*": "s.mul", "floordiv": "s.floordiv", "mod": "s.mod"}[e.op]
    return b.op(name, lhs, rhs)


def _clone_body_ops(b: Builder, ops, env: dict, index_exprs=None) -> None:
    """Clone scalar ops into `b`, mapping operands through `env` (extended with the clones);
    `s.index` becomes the given index expressions of the new loop nest."""
    for op in ops:
        if op.name == "s.index" and index_exprs is not None:
            env[op.result] = _emit_index(b, index_exprs[op.attrs["dim"]])
            continue
        new = b.create(
            op.name,
            [env.get(v, v) for v in op.operands],
            dict(op.attrs),
            result_types=[r.type for r in op.results],
        )
        new.loc = op.loc
        for old, r in zip(op.results, new.results, strict=True):
            env[old] = r


def fuse(producer: Operation, consumer: Operation, recompute: bool = False) -> Operation:
    """Fold `producer` into `consumer`; returns the new consumer (the old one is erased).
    `recompute`: an expensive producer with other users is recomputed, never stored."""
    result = producer.result
    p_maps = producer.attrs["indexing_maps"]
    p_in = producer.attrs["num_inputs"]
    c_maps = consumer.attrs["indexing_maps"]
    c_in = consumer.attrs["num_inputs"]
    c_inputs = consumer.operands[:c_in]
    reads = [k for k, v in enumerate(c_inputs) if v is result]
    read_map = c_maps[reads[0]]
    if any(c_maps[k] != read_map for k in reads):
        raise ValueError("consumer reads the result through different maps")
    inv = _inverse_permutation(p_maps[p_in])
    p_point = tuple(read_map.results[inv[j]] for j in range(len(inv)))  # P's dims, in C's dims
    n_c = len(consumer.attrs["iterator_types"])
    to_p = AffineMap(n_c, p_point)

    keep = [k for k in range(c_in) if k not in reads]
    reads_of = [(c_inputs[k], c_maps[k]) for k in keep]
    reads_of += [
        (v, m.compose(to_p)) for v, m in zip(producer.operands[:p_in], p_maps, strict=False)
    ]
    unique = list(dict.fromkeys(reads_of))  # each input is read once per point
    slot = [unique.index(r) for r in reads_of]
    inputs = [v for v, _ in unique]
    maps = [m for _, m in unique] + list(c_maps[c_in:])
    inits = list(consumer.operands[c_in:])
    iterators = list(consumer.attrs["iterator_types"])
    # an expensive producer with other users is taken over; a cheap one is recomputed here
    others = any(u is not consumer for u, _ in result.uses)
    side_output = others and _side_output(producer, recompute)
    if side_output:  # the consumer also writes the producer's result, for its other users
        inits.append(producer.operands[p_in])
        maps.append(read_map)
    if extents(inputs + inits, maps, n_c) != extents(consumer.operands, c_maps, n_c):
        raise ValueError("the fused loop's sizes would not follow from its operands")
    c_block, p_block = _body(consumer), _body(producer)

    def body(b: Builder, *args):
        n_keep = len(keep)
        read = [args[i] for i in slot]
        env: dict = {}
        for k, a in zip(keep, read[:n_keep], strict=True):
            env[c_block.args[k]] = a
        for pa, a in zip(p_block.args[:p_in], read[n_keep:], strict=True):
            env[pa] = a
        _clone_body_ops(b, p_block.ops[:-1], env, p_point)
        fused_value = env.get(p_block.ops[-1].operands[0], p_block.ops[-1].operands[0])
        for k in reads:
            env[c_block.args[k]] = fused_value
        c_accs = args[len(unique) : len(unique) + len(c_block.args) - c_in]
        for ca, a in zip(c_block.args[c_in:], c_accs, strict=True):
            env[ca] = a
        _clone_body_ops(b, c_block.ops[:-1], env)
        yields = [env.get(v, v) for v in c_block.ops[-1].operands]
        return yields + [fused_value] if side_output else yields

    b = Builder.before(consumer)
    new = b.generic(inputs, inits, maps, iterators, body)
    new_op = new[0].op
    for old, r in zip(consumer.results, new, strict=False):
        old.replace_all_uses_with(r)
    if side_output:
        result.replace_all_uses_with(new[-1])
    consumer.erase()
    if not result.uses:
        init = producer.operands[p_in]
        producer.erase()
        if not init.uses:
            init.op.erase()
    return new_op


def _fuse_function(f: Function, recompute: bool = False) -> None:
    said: set[tuple[int, int, str]] = set()

    def note(msg: str, *key) -> None:
        if key not in said:  # the driver revisits pairs after every change; say things once
            said.add(key)
            log.debug(msg)

    changed = True
    while changed:
        changed = False
        for consumer in list(f.body.ops):
            if consumer.name != "tir.generic" or consumer.parent is None:
                continue
            for v in consumer.operands[: consumer.attrs["num_inputs"]]:
                if not isinstance(v, OpResult):
                    continue
                reason = _why_not(v.op, v, consumer, recompute)
                if reason is None:
                    try:
                        fused = fuse(v.op, consumer, recompute)
                    except (ValueError, IRTypeError) as e:
                        reason = str(e)
                if reason is not None:
                    where = f"{v.op.name} at {v.op.loc} into {_where(consumer)}"
                    note(f"not fusing {where}: {reason}", id(v.op), id(consumer), reason)
                    continue
                note(f"fused a producer into {_where(fused)}", id(fused), 0, "")
                changed = True
                break
            if changed:
                break
    _fuse_epilogues(f)
    _fuse_siblings(f)


def _epilogue_consumer(producer: Operation) -> tuple[int, Operation] | None:
    """(result index, consumer) when a reduction's result feeds exactly one parallel generic
    that computes a same-shaped result from it point by point: the consumer can run on the
    final accumulators in registers, as the producer's epilogue."""
    iters = producer.attrs["iterator_types"]
    n_in = producer.attrs["num_inputs"]
    out_maps = producer.attrs["indexing_maps"][n_in:]
    if "reduction" not in iters or any(is_pointwise(m) for m in out_maps):
        return None
    for k, r in enumerate(producer.results):
        users = {u for u, _ in r.uses}
        if len(users) != 1:
            continue
        (c,) = users
        if c.name != "tir.generic" or len(c.regions) != 1 or len(c.results) != 1:
            continue
        c_in = c.attrs["num_inputs"]
        if "reduction" in c.attrs["iterator_types"] or any(i >= c_in for _, i in r.uses):
            continue
        init = c.operands[c_in]
        if not (isinstance(init, OpResult) and init.op.name == "tir.empty"):
            continue
        c_maps = c.attrs["indexing_maps"]
        read = {c_maps[i] for _, i in r.uses}
        if len(read) != 1 or not is_pointwise(next(iter(read))) or c_maps[c_in] not in read:
            continue
        return k, c
    return None


def fuse_epilogue(producer: Operation, k: int, consumer: Operation) -> Operation:
    """Run `consumer` on the final value of `producer`'s k-th accumulator (see tir.generic)."""
    n_p = len(producer.attrs["iterator_types"])
    p_in = producer.attrs["num_inputs"]
    p_maps = producer.attrs["indexing_maps"]
    c_in = consumer.attrs["num_inputs"]
    c_maps = consumer.attrs["indexing_maps"]
    r = producer.results[k]
    # consumer dim i is the producer's dim read at the same position of the result
    c_to_p = [0] * len(consumer.attrs["iterator_types"])
    for e_c, e_p in zip(c_maps[c_in].results, p_maps[p_in + k].results, strict=True):
        c_to_p[e_c.pos] = e_p.pos
    to_p = AffineMap(n_p, tuple(A.Dim(d) for d in c_to_p))
    reads = list(zip(producer.operands[:p_in], p_maps[:p_in], strict=True))
    c_reads = [i for i in range(c_in) if consumer.operands[i] is not r]
    reads += [(consumer.operands[i], c_maps[i].compose(to_p)) for i in c_reads]
    unique = list(dict.fromkeys(reads))
    slot = [unique.index(x) for x in reads]
    inits = list(producer.operands[p_in:])
    maps = [m for _, m in unique] + list(p_maps[p_in:])
    inputs = [v for v, _ in unique]
    if extents(inputs + inits, maps, n_p) != extents(producer.operands, p_maps, n_p):
        raise ValueError("the fused loop's sizes would not follow from its operands")
    p_body, c_body = _body(producer), _body(consumer)
    p_epi = producer.regions[1].block if len(producer.regions) == 2 else None
    n_acc = len(inits)

    def body(b: Builder, *args):
        read = [args[i] for i in slot]
        env = dict(zip(p_body.args, read[:p_in] + list(args[len(unique) :]), strict=True))
        _clone_body_ops(b, p_body.ops[:-1], env)
        return [env.get(v, v) for v in p_body.ops[-1].operands]

    def epilogue(b: Builder, *args):
        finals, read = list(args[:n_acc]), [args[n_acc + i] for i in slot]
        if p_epi is not None:
            env = dict(zip(p_epi.args, finals + read[:p_in], strict=True))
            _clone_body_ops(b, p_epi.ops[:-1], env)
            finals = [env.get(v, v) for v in p_epi.ops[-1].operands]
        env = {}
        for i, a in enumerate(c_body.args[:c_in]):
            env[a] = finals[k] if consumer.operands[i] is r else read[p_in + c_reads.index(i)]
        _clone_body_ops(b, c_body.ops[:-1], env)
        finals[k] = env.get(c_body.ops[-1].operands[0], c_body.ops[-1].operands[0])
        return finals

    iters = list(producer.attrs["iterator_types"])
    new = Builder.before(consumer).generic(inputs, inits, maps, iters, body, epilogue)
    consumer.result.replace_all_uses_with(new[k])
    for j, old in enumerate(producer.results):
        if j != k:
            old.replace_all_uses_with(new[j])
    empty = consumer.operands[c_in]
    consumer.erase()
    producer.erase()
    if not empty.uses:
        empty.op.erase()
    return new[0].op


def _fuse_epilogues(f: Function) -> None:
    """Fold each reduction's point-by-point consumer into it, repeatedly (a chain of them)."""
    changed = True
    while changed:
        changed = False
        for op in list(f.body.ops):
            if op.parent is None or op.name != "tir.generic":
                continue
            found = _epilogue_consumer(op)
            if found is None:
                continue
            k, consumer = found
            if not _movable_before(consumer, op):
                continue
            try:
                fused = fuse_epilogue(op, k, consumer)
            except ValueError as e:
                log.debug("not fusing %s into an epilogue: %s", consumer.loc, e)
                continue
            log.debug("fused a consumer at %s into the epilogue of %s", consumer.loc, _where(fused))
            changed = True
            break


def _movable_before(consumer: Operation, producer: Operation) -> bool:
    """Whether the fused op can sit at the consumer's place: the producer's other results must
    not be used before it (the consumer's own operands come before it already)."""
    ops = consumer.parent.ops
    start, end = ops.index(producer), ops.index(consumer)
    between = set(ops[start + 1 : end])
    return not any(
        _top(u) in between for r in producer.results for u, _ in r.uses if u is not consumer
    )


def _domain(op: Operation) -> tuple | None:
    """(iterator kinds, static loop sizes) of a generic, or None if a size is dynamic."""
    sizes = []
    for k, pos in loop_bounds(op):
        d = op.operands[k].type.shape[pos]
        if d is None:
            return None
        sizes.append(d)
    return tuple(op.attrs["iterator_types"]), tuple(sizes)


def _fuse_siblings(f: Function) -> None:
    """Merge generics over the same domain that read a common input and do not depend on each
    other (e.g. a max and a sum over the same rows): the input is read in one pass."""
    ops = f.body.ops
    i = 0
    while i < len(ops):
        first = ops[i]
        if first.name == "tir.generic" and _domain(first) is not None:
            second = next((b for b in ops[i + 1 :] if _siblings(first, b)), None)
            if second is not None:
                log.debug("merged sibling generics at %s and %s", first.loc, second.loc)
                merge_siblings(first, second)
                continue  # position i now holds the next op
        i += 1


def _siblings(a: Operation, b: Operation) -> bool:
    if b.name != "tir.generic" or _domain(b) != _domain(a):
        return False
    if len(a.regions) + len(b.regions) > 2:  # an epilogue cannot sit beside side outputs
        outs = [m for op in (a, b) for m in op.attrs["indexing_maps"][op.attrs["num_inputs"] :]]
        if any(is_pointwise(m) for m in outs):
            return False
    ins_a = set(a.operands[: a.attrs["num_inputs"]])
    if not ins_a & set(b.operands[: b.attrs["num_inputs"]]):
        return False
    ops = a.parent.ops
    between = ops[ops.index(a) + 1 : ops.index(b)]
    # a can move down to b when nothing up to b uses a's results ...
    span = set(between) | {b}
    if not any(_top(user) in span for r in a.results for user, _ in r.uses):
        return True
    # ... or b up to a when b needs nothing computed in between (sources can move along)
    return all(
        not isinstance(v, OpResult) or v.op is not a and (v.op not in between or not v.op.operands)
        for op in b.walk()
        for v in op.operands
    )


def _top(op: Operation) -> Operation:
    """The function-level op that contains `op` (itself, or the generic whose body holds it)."""
    while not isinstance(op.parent.parent.parent, Function):
        op = op.parent.parent.parent
    return op


def merge_siblings(a: Operation, b: Operation) -> Operation:
    """One generic computing the results of `a` and `b` (same domain), reading shared inputs
    once; it takes `b`'s place and both are erased."""
    ia, ib = a.attrs["num_inputs"], b.attrs["num_inputs"]
    ma, mb = a.attrs["indexing_maps"], b.attrs["indexing_maps"]
    reads = [(v, m) for v, m in zip(a.operands[:ia], ma, strict=False)]
    reads += [(v, m) for v, m in zip(b.operands[:ib], mb, strict=False)]
    unique = list(dict.fromkeys(reads))
    slot = [unique.index(r) for r in reads]
    inits = list(a.operands[ia:]) + list(b.operands[ib:])
    maps = [m for _, m in unique] + list(ma[ia:]) + list(mb[ib:])
    block_a, block_b = _body(a), _body(b)
    n_ra = len(a.results)

    def body(bld: Builder, *args):
        read = [args[k] for k in slot]
        accs = args[len(unique) :]
        env = dict(zip(block_a.args, read[:ia] + list(accs[:n_ra]), strict=True))
        env.update(zip(block_b.args, read[ia:] + list(accs[n_ra:]), strict=True))
        _clone_body_ops(bld, block_a.ops[:-1], env)
        _clone_body_ops(bld, block_b.ops[:-1], env)
        return [env.get(v, v) for v in block_a.ops[-1].operands + block_b.ops[-1].operands]

    def epilogue(bld: Builder, *args):
        finals, read = args[: len(inits)], [args[len(inits) + k] for k in slot]
        out = []
        for op, fin, inp in ((a, finals[:n_ra], read[:ia]), (b, finals[n_ra:], read[ia:])):
            if len(op.regions) == 1:
                out += fin
                continue
            block = op.regions[1].block
            env = dict(zip(block.args, list(fin) + inp, strict=True))
            _clone_body_ops(bld, block.ops[:-1], env)
            out += [env.get(v, v) for v in block.ops[-1].operands]
        return out

    ops = a.parent.ops
    between = ops[ops.index(a) + 1 : ops.index(b)]
    if any(_top(u) in set(between) | {b} for r in a.results for u, _ in r.uses):
        # b moves up to a: the operand-less ops (constants, empties) it uses move first
        for v in {v for op in b.walk() for v in op.operands}:
            if isinstance(v, OpResult) and v.op in between:
                ops.remove(v.op)
                ops.insert(ops.index(a), v.op)
        at = a
    else:
        at = b
    has_epilogue = len(a.regions) == 2 or len(b.regions) == 2
    new = Builder.before(at).generic(
        [v for v, _ in unique],
        inits,
        maps,
        list(a.attrs["iterator_types"]),
        body,
        epilogue if has_epilogue else None,
    )
    for old, r in zip(a.results + b.results, new, strict=True):
        old.replace_all_uses_with(r)
    a.erase()
    b.erase()
    return new[0].op


def _where(op: Operation) -> str:
    return f"generic at {op.loc}" if op.loc else "generic"


@register_pass("fuse")
def fuse_pass(module: Module) -> Module:
    """Fuse producer generics into their consumers throughout `module`."""
    for f in module.functions:
        _fuse_function(f)
    return module


@register_pass("fuse-recompute")
def fuse_recompute_pass(module: Module) -> Module:
    """Fusion for GPUs: as `fuse`, but expensive producers are recomputed, never stored."""
    for f in module.functions:
        _fuse_function(f, recompute=True)
    return module
