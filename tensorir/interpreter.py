"""Reference interpreter: runs tensor-level IR with each op's numpy `eval`.

It is the independent oracle the tests compare compiled code against, and it evaluates
constant subexpressions for folding.

>>> import numpy as np
>>> from tensorir.ir import Builder, Function, types as T
>>> t = T.TensorType((3,), T.f64)
>>> f = Function("f", [t], [t])
>>> b = Builder.at_end(f.body)
>>> _ = b.create("func.return", [b.op("tir.exp", f.args[0])])
>>> interpret(f, [np.zeros(3)])
[array([1., 1., 1.])]
"""

from __future__ import annotations

import numpy as np

from .ir.core import Function
from .ir.opdef import lookup


def interpret(f: Function, args: list[np.ndarray]) -> list[np.ndarray]:
    """Evaluate `f` on numpy arrays; tir.generic is not interpretable (use the backend)."""
    env = {a: np.asarray(x, dtype=a.type.dtype.np) for a, x in zip(f.args, args, strict=True)}
    for op in f.body.ops:
        if op.name == "func.return":
            return [np.asarray(env[v]) for v in op.operands]
        ev = lookup(op.name).eval
        if ev is None:
            raise NotImplementedError(f"{op.name} has no reference semantics")
        outs = ev([env[v] for v in op.operands], op.attrs)
        for r, o in zip(op.results, outs, strict=True):
            env[r] = np.asarray(o, dtype=r.type.dtype.np).reshape(r.type.shape)
    raise ValueError(f"function @{f.sym_name} has no func.return")
