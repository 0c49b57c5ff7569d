"""The test programs run on an NVIDIA GPU through cupy and equal numpy; skipped without cupy or
a device."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_programs import PROGRAMS, Program, check

from tensorir.frontend.trace import trace
from tensorir.lower_ptx import compile_ptx, device_arch

ARCH = device_arch()
pytestmark = pytest.mark.skipif(ARCH is None, reason="needs cupy and an NVIDIA GPU")


@pytest.mark.parametrize("p", PROGRAMS, ids=lambda p: p.name)
def test_gpu_equals_numpy(p: Program) -> None:
    import cupy

    program = compile_ptx(trace(p.fn, p.args).function, arch=ARCH)
    outs = program(*[cupy.asarray(a) for a in p.args])
    assert all(isinstance(o, cupy.ndarray) for o in outs)
    check(p, [cupy.asnumpy(o) for o in outs])


def test_out_of_bounds_gather_index_raises() -> None:
    import cupy

    x, idx = np.zeros(8, np.float32), np.array([1, 8])
    program = compile_ptx(trace(lambda a, i: a[i], (x, idx)).function, arch=ARCH)
    with pytest.raises(IndexError, match="size 8"):
        program(cupy.asarray(x), cupy.asarray(idx))
