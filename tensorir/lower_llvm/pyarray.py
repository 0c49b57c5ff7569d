"""Where numpy keeps an array's data pointer, dims and strides inside the array object.

These fields of `PyArrayObject` have kept their order since numpy 1.0 and follow the object
header (`object.__basicsize__` bytes, larger on free-threaded builds). The offsets are checked
against numpy's own answers at import, so a layout change fails loudly instead of reading junk.
"""

from __future__ import annotations

import ctypes

import numpy as np

_HEAD = object.__basicsize__
ARRAY_DATA = _HEAD  # char *data
ARRAY_NDIM = _HEAD + 8  # int nd
ARRAY_DIMS = _HEAD + 16  # npy_intp *dimensions
ARRAY_STRIDES = _HEAD + 24  # npy_intp *strides


def _check_layout() -> None:
    a = np.zeros((3, 5), dtype=np.float32)[:, ::2]
    base = id(a)
    data = ctypes.c_void_p.from_address(base + ARRAY_DATA).value
    ndim = ctypes.c_int.from_address(base + ARRAY_NDIM).value
    dims = ctypes.cast(
        ctypes.c_void_p.from_address(base + ARRAY_DIMS).value, ctypes.POINTER(ctypes.c_ssize_t)
    )
    strides = ctypes.cast(
        ctypes.c_void_p.from_address(base + ARRAY_STRIDES).value, ctypes.POINTER(ctypes.c_ssize_t)
    )
    ok = (
        data == a.ctypes.data
        and ndim == a.ndim
        and (dims[0], dims[1]) == a.shape
        and (strides[0], strides[1]) == a.strides
    )
    if not ok:
        raise ImportError(
            f"tensorir: numpy {np.__version__}'s array layout differs from the one tensorir's "
            "compiled code reads; please report this"
        )


_check_layout()
