"""IR types: scalar dtypes, tensors with static or dynamic dims, the loop `index` type.

Types are immutable and hashable; equal types compare equal, so passes can compare them freely.
Their text is MLIR's builtin syntax (`f32`, `ui8`, `i1`, `tensor<4x?xf32>`, `index`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class DType:
    """A scalar element type; `kind` is 'b' (bool), 'i' (signed), 'u' (unsigned) or 'f' (float).

    >>> f32.np, DType.from_numpy(np.int8).mlir
    (dtype('float32'), 'i8')
    """

    kind: str
    bits: int

    @property
    def np(self) -> np.dtype:
        if self.kind == "b":
            return np.dtype(np.bool_)
        return np.dtype(f"{self.kind}{self.bits // 8}")

    @property
    def mlir(self) -> str:
        if self.kind == "b":
            return "i1"
        prefix = {"i": "i", "u": "ui", "f": "f"}[self.kind]
        return f"{prefix}{self.bits}"

    @property
    def itemsize(self) -> int:
        return 1 if self.kind == "b" else self.bits // 8

    @property
    def is_float(self) -> bool:
        return self.kind == "f"

    @property
    def is_int(self) -> bool:
        return self.kind in "iu"

    @property
    def is_bool(self) -> bool:
        return self.kind == "b"

    @staticmethod
    def from_numpy(dt) -> DType:
        """The IR dtype of a numpy dtype; raises TypeError for dtypes the IR does not have."""
        d = np.dtype(dt)
        if d == np.bool_:
            return bool_
        if d.kind in "iuf" and d.itemsize * 8 in _BITS[d.kind]:
            return DType(d.kind, d.itemsize * 8)
        raise TypeError(f"unsupported dtype {d} (supported: {', '.join(SUPPORTED_NAMES)})")

    def __str__(self) -> str:
        return self.mlir


_BITS = {"i": (8, 16, 32, 64), "u": (8, 16, 32, 64), "f": (16, 32, 64)}
bool_ = DType("b", 1)
int8, int16, int32, int64 = (DType("i", b) for b in (8, 16, 32, 64))
uint8, uint16, uint32, uint64 = (DType("u", b) for b in (8, 16, 32, 64))
float16, float32, float64 = (DType("f", b) for b in (16, 32, 64))
f16, f32, f64 = float16, float32, float64
ALL_DTYPES = (
    bool_, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, float32, float64,
)  # fmt: skip
SUPPORTED_NAMES = tuple(str(d.np) for d in ALL_DTYPES)
_BY_MLIR = {d.mlir: d for d in ALL_DTYPES}


def dtype_from_mlir(text: str) -> DType | None:
    """The dtype spelled `text` in MLIR (`f32`, `ui8`, `i1`), or None."""
    return _BY_MLIR.get(text)


@dataclass(frozen=True, slots=True)
class IndexType:
    """The loop-index type (MLIR `index`): a machine-word integer."""

    def __str__(self) -> str:
        return "index"


index = IndexType()


@dataclass(frozen=True, slots=True)
class TensorType:
    """A ranked tensor; a dim of None is dynamic (`?`), known only at run time.

    >>> str(TensorType((4, None), f32))
    'tensor<4x?xf32>'
    """

    shape: tuple[int | None, ...]
    dtype: DType

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(d is not None for d in self.shape)

    @property
    def size(self) -> int:
        assert self.is_static, "size of a dynamic tensor"
        return int(np.prod(self.shape, dtype=np.int64))

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(self.shape, dtype)

    def __str__(self) -> str:
        dims = "".join(("?" if d is None else str(d)) + "x" for d in self.shape)
        return f"tensor<{dims}{self.dtype.mlir}>"


@dataclass(frozen=True, slots=True)
class FunctionType:
    """The type of a function: input and result types."""

    inputs: tuple
    results: tuple

    def __str__(self) -> str:
        res = ", ".join(map(str, self.results))
        if len(self.results) != 1 or isinstance(self.results[0], FunctionType):
            res = f"({res})"
        return f"({', '.join(map(str, self.inputs))}) -> {res}"


Type = DType | IndexType | TensorType | FunctionType


def element_type(t: Type) -> DType | IndexType:
    """The scalar type of a tensor, or the type itself for a scalar."""
    return t.dtype if isinstance(t, TensorType) else t
