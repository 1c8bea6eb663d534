"""Converter: ``embedding_bag`` (sum, mean and max bags; offsets, per-sample weights,
include_last_offset, padding_idx).

Bag b reduces the table rows of ``indices[start_b:end_b]``, where start_b = offsets[b] and end_b
is the next offset (with ``include_last_offset`` the offsets list ends with the last bag's end,
else the last bag runs to the end of ``indices``). Entries equal to ``padding_idx`` belong to no
bag; an empty bag gives zeros in every mode.

The offsets are run-time data, so the bags become a 0/1 membership matrix M (bags × entries)
built from comparisons of the entry positions with each bag's start and end:

* sum: M (times the per-sample weights) @ rows, one matmul;
* mean: the sum divided by max(bag size, 1);
* max: the rows masked with M to −inf, reduced over the entries, 0 where a bag is empty.

Only output 0 is produced (offset2bag, bag sizes and max indices must be unused, checked).
Dynamic shapes: the numbers of entries and of bags may be symbolic.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import arg_val, converter, extra_outputs_used

aten = torch.ops.aten

_MODES = {0: "sum", 1: "mean", 2: "max"}
_FLOAT = (torch.float32, torch.float16, torch.bfloat16)


def _check_embedding_bag(node: fx.Node) -> str | None:
    weight, indices = arg_val(node, "weight"), arg_val(node, "indices")
    offsets = arg_val(node, "offsets")
    if extra_outputs_used(node):
        return "embedding_bag's offset2bag / bag_size / max_indices outputs are used"
    if weight.dtype not in _FLOAT:
        return f"embedding_bag weight of dtype {weight.dtype} (float tables only)"
    if indices.dim() != 1 or offsets.dim() != 1:
        return "embedding_bag with indices or offsets that are not 1-D"
    if indices.dtype not in (torch.int32, torch.int64):
        return f"embedding_bag indices of dtype {indices.dtype}"
    mode = _MODES.get(arg_val(node, "mode"))
    if mode is None:
        return f"unknown embedding_bag mode {arg_val(node, 'mode')}"
    if arg_val(node, "per_sample_weights") is not None and mode != "sum":
        return "per_sample_weights outside sum mode (torch refuses it too)"
    if indices.shape[0] == 0:
        return "embedding_bag with no indices"
    return None


def _positions(ctx: ConversionContext, indices: Any) -> Any:
    """0..N-1 as an int64 (1, N) row, N the (possibly symbolic) number of entries."""
    n = ctx.shape(indices)[0]
    if n >= 0:
        return ctx.constant(torch.arange(n).reshape(1, n), torch.int64)
    fill = ctx.net.add_fill((0,), ctx.trt.FillOperation.LINSPACE, ctx.trt.int64)
    fill.set_input(0, ctx.dim(indices, 0))
    fill.alpha, fill.beta = 0.0, 1.0
    return ctx.unsqueeze_to(fill.get_output(0), 2)


def _slice(ctx: ConversionContext, t: Any, start: int, drop: int) -> Any:
    """``t[start : len(t) - drop + start]`` of a 1-D tensor (the length may be symbolic)."""
    n = ctx.shape(t)[0]
    if n >= 0:
        return ctx.net.add_slice(t, (start,), (n - drop,), (1,)).get_output(0)
    layer = ctx.net.add_slice(t, (start,), (0,), (1,))
    layer.set_input(2, ctx.elementwise(ctx.dim(t, 0), ctx.sym(drop), "SUB"))
    return layer.get_output(0)


def _membership(
    ctx: ConversionContext, indices: Any, offsets: Any, include_last: bool, padding_idx: int
) -> Any:
    """The bool (B, N) matrix: entry n belongs to bag b."""
    offsets = ctx.cast(offsets, torch.int64)
    if include_last:
        starts, ends = _slice(ctx, offsets, 0, 1), _slice(ctx, offsets, 1, 1)
    else:
        total = ctx.cast(ctx.dim(indices, 0), torch.int64)
        layer = ctx.net.add_concatenation([offsets, total])
        layer.axis = 0
        starts, ends = offsets, _slice(ctx, layer.get_output(0), 1, 1)
    pos = _positions(ctx, indices)  # (1, N)
    col = ctx.unsqueeze_to(starts, 2)  # (1, B) -> transpose to (B, 1)
    starts = ctx.permute(col, [1, 0])
    ends = ctx.permute(ctx.unsqueeze_to(ends, 2), [1, 0])
    after = ctx.unary(ctx.elementwise(pos, starts, "LESS"), "NOT")
    member = ctx.elementwise(after, ctx.elementwise(pos, ends, "LESS"), "AND")
    if padding_idx >= 0:
        idx = ctx.unsqueeze_to(ctx.cast(indices, torch.int64), 2)
        pad = ctx.elementwise(idx, ctx.itensor(padding_idx, torch.int64, 2), "EQUAL")
        member = ctx.elementwise(member, ctx.unary(pad, "NOT"), "AND")
    return member


@converter(
    aten._embedding_bag.default,
    aten._embedding_bag_forward_only.default,
    check=_check_embedding_bag,
    dynamic=True,
)
def convert_embedding_bag(
    ctx: ConversionContext,
    weight: Any,
    indices: Any,
    offsets: Any,
    scale_grad_by_freq: bool = False,
    mode: int = 0,
    sparse: bool = False,
    per_sample_weights: Any = None,
    include_last_offset: bool = False,
    padding_idx: int = -1,
) -> tuple[Any, None, None, None]:
    """``F.embedding_bag`` (sum / mean / max) via a bag membership matrix; output 0 only."""
    dtype = ctx.out.dtype
    rows = ctx.net.add_gather(weight, indices, 0).get_output(0)  # (N, D)
    rows = ctx.cast(rows, torch.float32)
    member = _membership(ctx, indices, offsets, include_last_offset, padding_idx)
    m = ctx.cast(member, torch.float32)  # (B, N)
    count = ctx.net.add_reduce(m, ctx.trt.ReduceOperation.SUM, 1 << 1, True).get_output(0)
    name = _MODES[mode]
    if name == "max":
        y = _bag_max(ctx, member, rows, count)
    else:
        if per_sample_weights is not None:
            w = ctx.unsqueeze_to(ctx.cast(per_sample_weights, torch.float32), 2)
            m = ctx.elementwise(m, w, "PROD")
        none = ctx.trt.MatrixOperation.NONE
        y = ctx.net.add_matrix_multiply(m, none, rows, none).get_output(0)  # (B, D)
        if name == "mean":
            size = ctx.elementwise(count, ctx.itensor(1.0, torch.float32, 2), "MAX")
            y = ctx.elementwise(y, size, "DIV")
    return ctx.cast(y, dtype), None, None, None


def _bag_max(ctx: ConversionContext, member: Any, rows: Any, count: Any) -> Any:
    """Per bag the max of its rows (0 for an empty bag): rows (N, D), member (B, N)."""
    mask = ctx.net.add_unsqueeze(member, ctx.axes_tensor([2])).get_output(0)  # (B, N, 1)
    vals = ctx.unsqueeze_to(rows, 3)  # (1, N, D)
    low = ctx.itensor(float("-inf"), torch.float32, 3)
    cond, a, b = ctx.broadcast(mask, vals, low)
    masked = ctx.net.add_select(cond, a, b).get_output(0)  # (B, N, D) by broadcasting
    y = ctx.net.add_reduce(masked, ctx.trt.ReduceOperation.MAX, 1 << 1, False).get_output(0)
    empty = ctx.elementwise(count, ctx.itensor(0.0, torch.float32, 2), "EQUAL")  # (B, 1)
    zero = ctx.itensor(0.0, torch.float32, 2)
    cond, a, b = ctx.broadcast(empty, zero, y)
    return ctx.net.add_select(cond, a, b).get_output(0)
