"""Converter families; importing this package registers every converter."""

from __future__ import annotations

from torch_trt.convert.ops import (  # noqa: F401
    activation,
    attention,
    compare,
    conv,
    creation,
    distance,
    elementwise,
    embedding_bag,
    index,
    matmul,
    nonzero,
    norm,
    pad,
    pool,
    reduce,
    reorder,
    resize,
    sampling,
    scan,
    scatter,
    shape,
    softmax,
    sort,
    special,
    strided,
    symbolic,
    unary,
    unique,
)
