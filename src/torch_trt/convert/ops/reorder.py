"""Converters: reordering elements (flip).

``flip`` is one ISliceLayer with stride -1 starting at the last element of each flipped dim
(x = d - 1 - y) [OP/Slice]; a dynamic dim's start ``d - 1`` is computed from its run-time size.
``roll``, ``tril`` and ``triu`` need no converter: the core-ATen decompositions turn them into
``index_select`` over a shifted ``arange`` and a ``where`` over an ``arange`` comparison, which
convert (dynamic shapes included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from torch_trt.convert.context import ConversionContext, normalize_dim
from torch_trt.convert.ops.shape import is_static, size_of
from torch_trt.convert.registry import converter

aten = torch.ops.aten


@converter(aten.flip.default, dynamic=True)
def convert_flip(ctx: ConversionContext, self: Any, dims: Sequence[int]) -> Any:
    """Reverse the order along ``dims``: a stride -1 slice."""
    x = ctx.itensor(self)
    rank = len(ctx.shape(x))
    flipped = {normalize_dim(d, rank) for d in dims}
    if rank == 0 or not flipped:
        return x
    size = [size_of(ctx, x, i) for i in range(rank)]
    start: list[Any] = []
    for i, d in enumerate(size):
        if i not in flipped:
            start.append(0)
        elif isinstance(d, int):
            start.append(max(d - 1, 0))
        else:
            start.append(ctx.elementwise(d, ctx.sym(1), "SUB"))
    stride = tuple(-1 if i in flipped else 1 for i in range(rank))
    layer = ctx.net.add_slice(x, (0,) * rank, (1,) * rank, stride)
    if is_static(start):
        layer.start = tuple(start)
    else:
        layer.set_input(1, ctx.shape_tensor(start))
    if is_static(size):
        layer.shape = tuple(size)
    else:
        layer.set_input(2, ctx.shape_tensor(size))
    return layer.get_output(0)
