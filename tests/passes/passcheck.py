"""Helpers shared by the pass tests: run a pipeline on a copy of a function, interpret, compare
bit for bit, and the edge values every exactness test feeds in."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tensorir.frontend import trace
from tensorir.interpreter import interpret
from tensorir.ir.core import Function, Module
from tensorir.ir.parser import parse_function
from tensorir.ir.printer import print_function
from tensorir.passes import run_pipeline
from tensorir.passes.canonicalize import CANON
from tensorir.passes.stabilize import STABILIZE

OPTIMIZE = "canonicalize,cse,stabilize,canonicalize,cse"  # what jit runs before generalize


def clone(f: Function) -> Function:
    """An independent copy of `f` (through its text, which also checks the round trip)."""
    return parse_function(print_function(f))


def optimize(f: Function, pipeline: str = OPTIMIZE) -> tuple[Function, Counter]:
    """A copy of `f` after `pipeline` (verified after each pass), and the patterns that fired."""
    before = CANON.counts + STABILIZE.counts
    g = run_pipeline(Module([clone(f)]), pipeline, verify_each=True).functions[0]
    return g, (CANON.counts + STABILIZE.counts) - before


def run(f: Function, args) -> list[np.ndarray]:
    """`f` interpreted with numpy, quietly."""
    with np.errstate(all="ignore"):
        return interpret(f, list(args))


def traced(fn, *args) -> Function:
    return trace(fn, args).function


def edge_values(dtype, n: int = 24, seed: int = 0) -> np.ndarray:
    """`n` values of `dtype` that break sloppy rewrites: signed zeros, infinities, NaN, the
    extremes, subnormals, and integers around the wrap-around points; shuffled by `seed`."""
    d = np.dtype(dtype)
    if d.kind == "f":
        info = np.finfo(d)
        vals = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, 3.0, -3.5, 1e-3, 7.0, -0.25, 100.0]
        vals += [
            float(info.max),
            -float(info.max),
            float(info.tiny),
            float(info.smallest_subnormal),
        ]
        vals += [np.inf, -np.inf, np.nan, 1e4, -1e-4, 0.1, 65.5, -9.0]
    elif d.kind == "b":
        vals = [True, False] * 12
    else:
        info = np.iinfo(d)
        vals = [0, 1, -1, 2, -2, 3, 7, -8, 100, 127, -128, 255, 1000, -1000]
        vals += [info.min, info.max, info.min + 1, info.max - 1, 5, -5, 64, 33, 12, -77]
    with np.errstate(all="ignore"):
        a = np.array([np.array(v).astype(d) for v in vals[:n]], dtype=d)
    return np.random.default_rng(seed).permutation(a)


def assert_same_bits(got: np.ndarray, want: np.ndarray, ulps: int = 0) -> None:
    """Equal dtype, shape and values bit for bit (any NaN equals any NaN); floats may differ by
    `ulps` units in the last place where asked."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got, want)
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want)
        return
    both_nan = np.isnan(got) & np.isnan(want)
    bits = got.view(f"i{got.itemsize}").astype(np.int64)
    ref = want.view(f"i{want.itemsize}").astype(np.int64)
    close = np.abs(bits - ref) <= ulps
    same_sign = np.signbit(got) == np.signbit(want)
    ok = both_nan | (close & same_sign)
    assert ok.all(), f"differ at {np.argwhere(~ok).tolist()}:\n got {got[~ok]}\nwant {want[~ok]}"
