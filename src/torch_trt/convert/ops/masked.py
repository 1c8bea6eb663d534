"""Converters: masked writes (masked_scatter).

``self.masked_scatter(mask, source)`` fills the positions where ``mask`` (broadcast to ``self``)
is true, in row-major order, with ``source``'s elements in order (vision-language models splice
image features into token embeddings this way). The k-th true position takes
``source.flatten()[k]``: k is the running count of true positions minus one (one
ICumulativeLayer over the flattened mask), clamped into ``source``'s range, a gather picks the
values and a select keeps ``self`` where the mask is false. Torch raises when ``source`` has
fewer elements than the mask has trues; the engine cannot, and repeats ``source``'s last element
then. The output shape is ``self``'s, so every dim may be dynamic.
"""

from __future__ import annotations

from typing import Any

import torch

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.compare import select
from torch_trt.convert.ops.shape import expand_to, size_of
from torch_trt.convert.registry import converter

aten = torch.ops.aten


@converter(aten.masked_scatter.default, dynamic=True)
def convert_masked_scatter(ctx: ConversionContext, self: Any, mask: Any, source: Any) -> Any:
    """``self`` with its masked positions filled by ``source``'s elements in order."""
    x = ctx.itensor(self)
    sizes = [size_of(ctx, x, i) for i in range(len(ctx.shape(x)))]
    keep = ctx.reshape(expand_to(ctx, ctx.itensor(mask), sizes), (-1,))
    src = ctx.reshape(ctx.cast(ctx.itensor(source), ctx.dtype(x)), (-1,))
    if ctx.shape(src)[0] == 0:  # nothing to write (torch: the mask has no true then)
        return x
    axis = ctx.constant(torch.tensor(0, dtype=torch.int32), torch.int32)
    op = ctx.trt.CumulativeOperation.SUM
    count = ctx.net.add_cumulative(ctx.cast(keep, torch.int32), axis, op, False, False)
    k = ctx.elementwise(count.get_output(0), ctx.itensor(1, torch.int32, 1), "SUB")
    last = ctx.elementwise(
        ctx.cast(ctx.dim(src, 0), torch.int32), ctx.itensor(1, torch.int32, 1), "SUB"
    )
    k = ctx.elementwise(ctx.elementwise(k, ctx.itensor(0, torch.int32, 1), "MAX"), last, "MIN")
    picked = ctx.net.add_gather(src, k, 0).get_output(0)
    flat = select(ctx, keep, picked, ctx.reshape(x, (-1,)))
    return ctx.reshape(flat, sizes)
