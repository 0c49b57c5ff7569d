"""Tracing errors; each message names the user's source line that caused it.

The line is the innermost stack frame outside tensorir and numpy, so the user sees their own code,
not the dispatch machinery between it and the tracer.
"""

from __future__ import annotations

import functools
import linecache
import os
import sys

import numpy as np

from ..ir.core import Location

_SKIP = (
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
    os.path.dirname(os.path.abspath(np.__file__)) + os.sep,
)


def _user_frame():
    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_SKIP):
        f = f.f_back
    return f


@functools.lru_cache(maxsize=4096)
def _column(code, lasti: int) -> int:
    positions = list(code.co_positions())
    col = positions[lasti // 2][2] if lasti // 2 < len(positions) else None
    return col or 0


def user_location() -> Location | None:
    """Where the user's code is (file, line, column), or None outside any user frame."""
    f = _user_frame()
    if f is None:
        return None
    return Location(f.f_code.co_filename, f.f_lineno, _column(f.f_code, f.f_lasti))


def where() -> str:
    """`file:line (\\`source\\`)` of the user's code, for messages."""
    loc = user_location()
    if loc is None:
        return "<unknown location>"
    src = linecache.getline(loc.file, loc.line).strip()
    return f"{os.path.basename(loc.file)}:{loc.line}" + (f" (`{src}`)" if src else "")


class TraceError(Exception):
    """Base class: `what` went wrong at the user's line; `hint` says what to do instead."""

    def __init__(self, what: str, hint: str = ""):
        self.what, self.hint = what, hint
        super().__init__(f"tensorir: {what} at {where()}" + (f"; {hint}" if hint else ""))


class TracerBoolError(TraceError, TypeError):
    """Python control flow or a Python number conversion needs a traced array's value."""


class ShapeError(TraceError, ValueError):
    """Shapes do not broadcast, reshape or concatenate; or an axis is out of range."""


class DTypeError(TraceError, TypeError):
    """A dtype tensorir lacks (complex, object, ...) or an operation numpy rejects for a dtype."""


class UnsupportedError(TraceError, NotImplementedError):
    """A numpy function, keyword or indexing form the tracer does not implement."""


class TraceIndexError(TraceError, IndexError):
    """A static index is out of range."""


class TraceOverflowError(TraceError, OverflowError):
    """A Python integer does not fit the dtype numpy would convert it to (NEP 50)."""
