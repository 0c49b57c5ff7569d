"""Hypothesis strategies shared by the frontend tests: dtypes, shapes and arrays."""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

SETTINGS = settings(max_examples=30, deadline=None)
FEW = settings(max_examples=15, deadline=None)

DTYPES = [
    np.dtype(d)
    for d in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
        np.uint64, np.float16, np.float32, np.float64,
    )
]  # fmt: skip
FLOATS = [d for d in DTYPES if d.kind == "f"]
NUMERIC = [d for d in DTYPES if d.kind != "b"]

dtypes = st.sampled_from(DTYPES)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
nonempty_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
broadcast_pairs = hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=3, max_side=4
)


def arrays(dtype, shape) -> st.SearchStrategy[np.ndarray]:
    """Arrays with every kind of value: NaN, +-inf, -0.0, subnormals, extreme integers."""
    return hnp.arrays(dtype, shape)


def small_arrays(dtype, shape) -> st.SearchStrategy[np.ndarray]:
    """Arrays of small finite values, for ops where huge values only test overflow."""
    if np.dtype(dtype).kind == "f":
        elements = st.floats(-8, 8, width=np.dtype(dtype).itemsize * 8)
    elif np.dtype(dtype).kind == "b":
        elements = st.booleans()
    else:
        info = np.iinfo(dtype)
        elements = st.integers(max(int(info.min), -8), min(int(info.max), 8))
    return hnp.arrays(dtype, shape, elements=elements)
