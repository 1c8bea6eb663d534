"""Converter families; importing this package registers every converter."""

from __future__ import annotations

from torch_trt.convert.ops import (  # noqa: F401
    activation,
    attention,
    compare,
    conv,
    creation,
    elementwise,
    index,
    kv_cache,
    matmul,
    norm,
    pad,
    pool,
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
