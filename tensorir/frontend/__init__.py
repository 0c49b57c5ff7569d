"""The numpy tracing frontend: unmodified numpy code traced into tensor-level IR."""

from . import creation, indexing, linalg, numpy_api, reductions, shapes  # noqa: F401  (registering)
from .errors import (
    DTypeError,
    ShapeError,
    TraceError,
    TraceIndexError,
    TraceOverflowError,
    TracerBoolError,
    UnsupportedError,
)
from .trace import Traced, trace
from .tracer import TraceContext, Tracer

__all__ = [
    "DTypeError", "ShapeError", "TraceContext", "TraceError", "TraceIndexError",
    "TraceOverflowError", "Traced", "Tracer", "TracerBoolError", "UnsupportedError", "trace",
]  # fmt: skip
