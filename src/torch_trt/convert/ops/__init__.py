"""Converter families; importing this package registers every converter."""

from __future__ import annotations

from torch_trt.convert.ops import (  # noqa: F401
    activation,
    attention,
    compare,
    complex,
    conv,
    creation,
    elementwise,
    fft,
    index,
    matmul,
    norm,
    pad,
    pool,
    recurrent,
    reduce,
    reorder,
    resize,
    scan,
    scatter,
    shape,
    softmax,
    sort,
    special,
    symbolic,
    unary,
)
