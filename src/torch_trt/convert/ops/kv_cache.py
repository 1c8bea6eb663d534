"""Converter: ``torch_trt::kv_cache_update`` as TensorRT's ``IKVCacheUpdateLayer``.

IKVCacheUpdateLayer (LINEAR mode) writes ``update[b, :, s, :]`` to ``cache[b, :, w[b] + s, :]``
*in place*: its cache input must be a network input with a static length dim, its output must be
a network output, and the two are bound to the same device memory [KV][OP/KVCacheUpdate]. So the
layer is used only where that is true of the region: the cache is one of the region's inputs
that nothing else in the region reads (another reader would race with the in-place write), and
the result leaves the region exactly once. The write indices are int32 (TensorRT-RTX 1.7.1
refuses int64 ones at build, although the operator page lists both).

Anywhere else the same values are computed functionally: per position ``p`` of the cache,
``update[b, :, p - w[b], :]`` where ``0 <= p - w[b] < len`` and ``cache`` elsewhere (a batched
gather and a select; no in-place write, any cache tensor).

[KV] https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/transformers-kv-cache.html
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.compare import select
from torch_trt.convert.ops.reduce import iota
from torch_trt.convert.ops.shape import size_of
from torch_trt.convert.registry import arg_val, converter
from torch_trt.llm import ops as _ops  # noqa: F401  (defines torch_trt::kv_cache_update)

_KV_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _check(node: fx.Node) -> str | None:
    cache, update, w = (arg_val(node, n) for n in ("cache", "update", "write_indices"))
    if cache.dim() != 4 or update.dim() != 4:
        return f"cache and update must be rank 4, got {cache.dim()} and {update.dim()}"
    if cache.dtype != update.dtype or cache.dtype not in _KV_DTYPES:
        return f"cache {cache.dtype} / update {update.dtype}: one of float32/float16/bfloat16"
    if w.dtype not in (torch.int32, torch.int64) or w.dim() != 1:
        return f"write_indices must be a 1-D int32/int64 tensor, got {w.dtype} rank {w.dim()}"
    if not isinstance(cache.shape[2], int):
        return "the cache length (dim 2) must be static"
    return None


def in_place_form(node: fx.Node) -> bool:
    """Whether the node's cache can be written in place: a region input read only by this node,
    and the result a region output exactly once (IKVCacheUpdateLayer's rules)."""
    cache = node.args[0] if node.args else node.kwargs.get("cache")
    if not isinstance(cache, fx.Node) or cache.op != "placeholder":
        return False
    # Size nodes read the cache's shape, not its data: they cannot race with the write.
    readers = [u for u in cache.users if not isinstance(u.meta.get("val"), int | torch.SymInt)]
    if readers != [node]:
        return False
    outputs = [u for u in node.users if u.op == "output"]
    if len(outputs) != 1:
        return False
    values = outputs[0].args[0]
    flat = list(values) if isinstance(values, list | tuple) else [values]
    return sum(1 for v in flat if v is node) == 1


@converter(torch.ops.torch_trt.kv_cache_update.default, check=_check, dynamic=True)
def convert_kv_cache_update(
    ctx: ConversionContext, cache: Any, update: Any, write_indices: Any
) -> Any:
    """``cache`` with ``update`` written from ``write_indices[b]`` on along dim 2."""
    w = ctx.cast(ctx.itensor(write_indices), torch.int32)
    if ctx.node is not None and in_place_form(ctx.node):
        layer = ctx.net.add_kv_cache_update(cache, update, w, ctx.trt.KVCacheMode.LINEAR)
        if layer is None:
            raise ctx.fail("add_kv_cache_update refused the inputs")
        return layer.get_output(0)
    return _functional(ctx, cache, update, ctx.cast(w, torch.int64))


def _functional(ctx: ConversionContext, cache: Any, update: Any, w: Any) -> Any:
    """The update without an in-place layer: gather ``update`` at ``p - w[b]`` and select."""
    p = iota(ctx, cache, 2)  # (1, 1, L, 1)
    start = ctx.reshape(w, (-1, 1, 1, 1))
    offset = ctx.elementwise(p, start, "SUB")  # (B, 1, L, 1)
    length = ctx.reshape(ctx.dim(update, 2), (1, 1, 1, 1))
    zero = ctx.itensor(0, torch.int64, 4)
    inside = ctx.elementwise(
        ctx.unary(ctx.elementwise(offset, zero, "LESS"), "NOT"),
        ctx.elementwise(offset, length, "LESS"),
        "AND",
    )
    last = ctx.elementwise(length, ctx.itensor(1, torch.int64, 4), "SUB")
    safe = ctx.elementwise(ctx.elementwise(offset, zero, "MAX"), last, "MIN")
    rows = ctx.reshape(safe, [size_of(ctx, safe, 0), ctx.shape(cache)[2]])  # (B, L)
    layer = ctx.net.add_gather(update, rows, 2)
    layer.num_elementwise_dims = 1  # row b of the indices picks from sequence b
    return select(ctx, inside, layer.get_output(0), cache)
