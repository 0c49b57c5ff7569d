"""Scalar ops that only `tir.generic` bodies use (the elementwise `s.*` ops live in
`ops_elementwise.py`): constants, the loop index, reads from whole tensors, yield."""

from __future__ import annotations

from . import types as T
from .opdef import Attr, IRTypeError, OpDef, register


def _yield_infer(types, attrs):
    return []


def _constant_infer(types, attrs):
    return [attrs["dtype"]]


def _index_infer(types, attrs):
    return [T.index]


def _extract_infer(types, attrs):
    t, *idx = types
    if not isinstance(t, T.TensorType):
        raise IRTypeError(f"s.extract reads from a tensor, got {t}")
    if len(idx) != t.rank or any(i != T.index for i in idx):
        raise IRTypeError(f"s.extract from {t} needs {t.rank} index operands")
    return [t.dtype]


def _wrap_infer(types, attrs):
    (t,) = types
    if not (isinstance(t, T.DType) and t.is_int) and t != T.index:
        raise IRTypeError(f"s.wrap_index expects an integer, got {t}")
    return [T.index]


register(OpDef("s.yield", _yield_infer, None, doc="the values a generic body produces"))
register(
    OpDef(
        "s.constant",
        _constant_infer,
        0,
        attrs={"value": Attr((bool, int, float)), "dtype": Attr((T.DType, T.IndexType))},
        traits=frozenset({"pure"}),
        doc="a scalar constant",
    )
)
register(
    OpDef(
        "s.index",
        _index_infer,
        0,
        attrs={"dim": Attr(int)},
        traits=frozenset({"pure"}),
        doc="the current index of loop dimension `dim` of the enclosing generic",
    )
)
register(
    OpDef(
        "s.extract",
        _extract_infer,
        None,
        traits=frozenset({"pure"}),
        doc="the element of a tensor (defined outside the body) at computed indices",
    )
)
register(
    OpDef(
        "s.wrap_index",
        _wrap_infer,
        1,
        attrs={"size": Attr(int)},
        doc="numpy index normalization: i + size if i < 0; out of [-size, size) is a run-time "
        "IndexError, reported by the compiled function",
    )
)
