"""numpy's functions by name, for traced and plain arrays alike.

Most are numpy's own functions: on a tracer they dispatch to the frontend through
`__array_ufunc__` / `__array_function__`, on arrays they run numpy. `erf` (which numpy lacks)
and the creation functions choose by themselves: IR while tracing, numpy otherwise.

>>> import numpy as np
>>> from tensorir import numpy as tnp
>>> tnp.exp(np.zeros(2))
array([1., 1.])
>>> float(tnp.erf(np.float64(0.5)).round(6))
0.5205
"""

from __future__ import annotations

import math

import numpy as np

from .frontend import creation
from .frontend import numpy_api as _api
from .frontend.tracer import Tracer, current

_erf = np.vectorize(math.erf, otypes=[np.float64])


def erf(x):
    """The error function, elementwise; float dtypes as numpy's `exp` gives them."""
    if isinstance(x, Tracer):
        return _api.erf(x)
    dt = np.exp.resolve_dtypes((np.asarray(x).dtype, None))[-1]
    return _erf(x).astype(dt)[()]


def _creating(numpy_fn, traced_fn):
    """A creation function: IR constants / iota while tracing, numpy otherwise."""

    def create(*args, **kwargs):
        return (traced_fn if current() is not None else numpy_fn)(*args, **kwargs)

    create.__name__, create.__doc__ = numpy_fn.__name__, f"numpy.{numpy_fn.__name__}, traceable."
    return create


zeros = _creating(np.zeros, creation.zeros)
ones = _creating(np.ones, creation.ones)
empty = _creating(np.empty, creation.zeros)
full = _creating(np.full, creation.full)
arange = _creating(np.arange, creation.arange)
linspace = _creating(np.linspace, creation.linspace)
eye = _creating(np.eye, creation.eye)
identity = _creating(np.identity, creation.identity)

# numpy's own functions: on tracers they dispatch to the frontend
from numpy import (  # noqa: E402, F401, I001
    add,
    subtract,
    multiply,
    divide,
    true_divide,
    floor_divide,
    remainder,
    mod,
    power,
    negative,
    positive,
    absolute,
    abs,
    fabs,
    sign,
    exp,
    exp2,
    log,
    log2,
    log10,
    log1p,
    expm1,
    sqrt,
    square,
    cbrt,
    reciprocal,
    sin,
    cos,
    tan,
    tanh,
    sinh,
    cosh,
    arcsin,
    arccos,
    arctan,
    arctan2,
    floor,
    ceil,
    rint,
    trunc,
    isnan,
    isinf,
    isfinite,
    maximum,
    minimum,
    fmax,
    fmin,
    logical_and,
    logical_or,
    logical_xor,
    logical_not,
    bitwise_and,
    bitwise_or,
    bitwise_xor,
    invert,
    left_shift,
    right_shift,
    equal,
    not_equal,
    less,
    less_equal,
    greater,
    greater_equal,
    matmul,
    sum,
    prod,
    max,
    min,
    amax,
    amin,
    mean,
    var,
    std,
    argmax,
    argmin,
    any,
    all,
    reshape,
    ravel,
    transpose,
    swapaxes,
    moveaxis,
    expand_dims,
    squeeze,
    broadcast_to,
    flip,
    concatenate,
    stack,
    hstack,
    vstack,
    pad,
    where,
    clip,
    astype,
    copy,
    take,
    take_along_axis,
    dot,
    einsum,
    zeros_like,
    ones_like,
    full_like,
    empty_like,
)
