"""What several test modules share: reference numpy programs, and one-op IR functions."""

import numpy as np

from tensorir.ir import Builder, Function, verify
from tensorir.ir import types as T


def single_op(opname: str, arrays: list[np.ndarray], attrs: dict | None = None) -> Function:
    """A verified function applying op `opname` to arguments typed like `arrays`."""
    types = [T.TensorType(a.shape, T.DType.from_numpy(a.dtype)) for a in arrays]
    f = Function("t", types, [])
    b = Builder.at_end(f.body)
    op = b.create(opname, f.args, attrs or {})
    b.create("func.return", op.results)
    f.set_result_types([r.type for r in op.results])
    verify(f)
    return f


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def layernorm(x, g, b):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * g + b


# matrix products whose operands are transposed, batched or broadcast over the batch, as
# (numpy program, argument shapes): every matmul lowering must read them all in place
MATMUL_LAYOUTS = [
    (lambda x, y: x.T @ y, [(45, 70), (45, 33)]),
    (lambda x, y: x @ y.T, [(70, 45), (33, 45)]),
    (lambda x, y: x.T @ y.T, [(45, 70), (33, 45)]),
    (lambda x, y: np.matmul(x, y), [(3, 40, 50), (3, 50, 30)]),
    (lambda x, y: x @ y, [(3, 40, 50), (50, 30)]),
    (lambda x, y: np.swapaxes(x, 1, 2) @ y, [(3, 50, 40), (3, 50, 30)]),
]
