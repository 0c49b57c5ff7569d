"""The GPU kernels of every test program, emulated on the CPU with the GPU's grid mapping (and
with a tiny grid, so each thread strides over many points), equal numpy; every memory access is
bounds-checked and every element written at most once per launch, so an indexing or mapping bug
in a kernel fails here without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_programs import PROGRAMS, Program, check, softmax
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorir.frontend.trace import trace
from tensorir.ir import affine as A
from tensorir.ir.core import Module
from tensorir.lower_ptx import Emulator, emulate, launch_config, lower_kernels
from tensorir.passes import run_pipeline

# (threads per block, most blocks): the GPU's choice, and one where the grid is far smaller
# than most domains
CONFIGS = {"gpu": {}, "tiny": {"block": 32, "max_grid": 3}}


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("p", PROGRAMS, ids=lambda p: p.name)
def test_emulated_equals_numpy(p: Program, config: str) -> None:
    em = emulate(trace(p.fn, p.args).function, **CONFIGS[config])
    check(p, em(*p.args))


def test_emulation_uses_the_gpu_launches() -> None:
    x = np.ones((300, 7), np.float32)
    em = emulate(trace(lambda a: a.sum(axis=1) * 2.0, (x,)).function)
    (kernel,) = em.lowered.kernels
    assert (kernel.points, kernel.lanes) == (300, 32)  # a warp per row sum
    assert [grid for _, grid in em.launches()] == [launch_config(300 * 32)]


def test_out_of_bounds_gather_index_raises() -> None:
    x, idx = np.zeros(8, np.float32), np.array([1, 8])
    em = emulate(trace(lambda a, i: a[i], (x, idx)).function)
    with pytest.raises(IndexError, match="size 8"):
        em(x, idx)


def test_indexing_bug_is_caught() -> None:
    """A kernel reading past its input (a map shifted by hand, as a lowering bug would) fails
    with the input named instead of reading neighbouring memory."""
    a, b = np.ones(9, np.float32), np.ones(8, np.float32)
    traced = trace(lambda x, y: x[1:] + y, (a, b)).function
    g = run_pipeline(Module([traced]), "generalize,fuse,dce").functions[0]
    (op,) = [op for op in g.body.ops if op.name == "tir.generic"]
    maps = list(op.attrs["indexing_maps"])
    maps[op.operands.index(g.args[0])] = A.AffineMap(1, (A.add(A.Dim(0), A.Const(2)),))
    op.attrs["indexing_maps"] = tuple(maps)
    em = Emulator(lower_kernels(g, host=True, name="tensorir_test_shifted"))
    with pytest.raises(IndexError, match="out-of-bounds access of input 0"):
        em(a, b)


def test_double_write_is_caught() -> None:
    """Two points writing one element in a parallel loop (an output map d0 floordiv 2, as a
    wrong mapping would produce) is a race on a GPU: the emulator reports it."""
    x = np.ones(8, np.float32)
    g = run_pipeline(Module([trace(lambda a: a * 2.0, (x,)).function]), "generalize").functions[0]
    (op,) = [op for op in g.body.ops if op.name == "tir.generic"]
    maps = list(op.attrs["indexing_maps"])
    maps[-1] = A.AffineMap(1, (A.floordiv(A.Dim(0), 2),))
    op.attrs["indexing_maps"] = tuple(maps)
    em = Emulator(lower_kernels(g, host=True, name="tensorir_test_race"))
    with pytest.raises(IndexError, match="two threads wrote one element of output 0"):
        em(x)


def centred_by_peak(a):
    return (a - a.mean(axis=1, keepdims=True)) / (np.abs(a).max(axis=1, keepdims=True) + 1.0)


@settings(max_examples=12, deadline=None)
@given(
    rows=st.integers(1, 20),
    cols=st.integers(1, 700),
    config=st.sampled_from(sorted(CONFIGS)),
    seed=st.integers(0, 2**16),
)
def test_random_row_kernels(rows, cols, config, seed):
    """Softmax and layernorm-like row kernels over random shapes (rows shorter and longer than
    a block, partial warps), emulated with the GPU's launch and with a tiny grid."""
    x = np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)
    for fn in (softmax, centred_by_peak):
        (got,) = emulate(trace(fn, (x,)).function, **CONFIGS[config])(x)
        np.testing.assert_allclose(got, fn(x), rtol=1e-4, atol=1e-5)
