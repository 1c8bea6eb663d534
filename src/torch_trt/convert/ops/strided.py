"""Converters: strided views that are not reshapes (diagonal, unfold, as_strided).

TensorRT tensors have no strides, so each view becomes the gather that reads the same elements:

* ``diagonal``: the two dims moved last and merged, then one gather of the flat positions
  i·(B + 1) + offset (offset ≥ 0) or (i − offset)·B + i (offset < 0).
* ``unfold``: one gather along the dim with a constant (windows, size) index, the window axis
  moved last.
* ``as_strided``: a slice and reshape when the strides are the contiguous strides of the size
  (a plain view of consecutive elements), else a gather of the flattened input with the flat
  positions offset + Σ iₖ·strideₖ. The input must be a contiguous tensor at storage offset 0
  (its storage order is then its element order; a graph input or any computed tensor is), and
  every position must lie inside it.

Dynamic shapes: ``diagonal`` and ``unfold`` take symbolic dims other than the ones they index;
``as_strided`` is static (its positions are computed at conversion).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext, normalize_dim
from torch_trt.convert.ops.shape import size_of
from torch_trt.convert.registry import arg_val, converter

aten = torch.ops.aten


def _gather(ctx: ConversionContext, x: Any, positions: torch.Tensor, axis: int) -> Any:
    """ONNX Gather of constant positions: x.shape[:axis] + positions.shape + x.shape[axis+1:]."""
    idx = ctx.constant(positions.to(torch.int32), torch.int32)
    return ctx.net.add_gather(x, idx, axis).get_output(0)


# -- diagonal -----------------------------------------------------------------------------------
def _check_diagonal(node: fx.Node) -> str | None:
    x = arg_val(node, "self")
    rank = x.dim()
    d1, d2 = (normalize_dim(arg_val(node, n), rank) for n in ("dim1", "dim2"))
    if d1 == d2:
        return "diagonal with dim1 == dim2"
    if not all(isinstance(x.shape[d], int) for d in (d1, d2)):
        return "diagonal over dynamic dims (the positions need static sizes)"
    if node.meta["val"].shape[-1] == 0:
        return "empty diagonal (offset past the matrix)"
    return None


@converter(aten.diagonal.default, aten.diagonal_copy.default, check=_check_diagonal, dynamic=True)
def convert_diagonal(
    ctx: ConversionContext, self: Any, offset: int = 0, dim1: int = 0, dim2: int = 1
) -> Any:
    """``torch.diagonal``: the (dim1, dim2) diagonal as a new last dim, via one gather."""
    rank = len(ctx.shape(self))
    d1, d2 = normalize_dim(dim1, rank), normalize_dim(dim2, rank)
    rest = [d for d in range(rank) if d not in (d1, d2)]
    x = ctx.permute(self, [*rest, d1, d2]) if [*rest, d1, d2] != list(range(rank)) else self
    a, b = ctx.shape(self)[d1], ctx.shape(self)[d2]
    lead = [size_of(ctx, x, i) for i in range(rank - 2)]
    x = ctx.reshape(x, [*lead, a * b])
    n = int(ctx.out.shape[-1])
    i = torch.arange(n)
    rows, cols = (i, i + offset) if offset >= 0 else (i - offset, i)
    return _gather(ctx, x, rows * b + cols, rank - 2)


# -- unfold -------------------------------------------------------------------------------------
def _check_unfold(node: fx.Node) -> str | None:
    x = arg_val(node, "self")
    if x.dim() == 0:
        return "unfold of a 0-D tensor"
    d = normalize_dim(arg_val(node, "dimension"), x.dim())
    if not isinstance(x.shape[d], int):
        return "unfold along a dynamic dim (the windows need a static size)"
    if node.meta["val"].numel() == 0:
        return "unfold with no windows"
    return None


@converter(aten.unfold.default, check=_check_unfold, dynamic=True)
def convert_unfold(ctx: ConversionContext, self: Any, dimension: int, size: int, step: int) -> Any:
    """``x.unfold(dimension, size, step)``: one gather of the windows, window axis last."""
    rank = len(ctx.shape(self))
    d = normalize_dim(dimension, rank)
    windows = (ctx.shape(self)[d] - size) // step + 1
    positions = torch.arange(windows)[:, None] * step + torch.arange(size)[None, :]
    y = _gather(ctx, self, positions, d)  # (..., windows, size, ...)
    perm = [i for i in range(rank + 1) if i != d + 1] + [d + 1]
    return y if d + 1 == rank else ctx.permute(y, perm)


# -- as_strided ---------------------------------------------------------------------------------
def _positions(size: Sequence[int], stride: Sequence[int], offset: int) -> torch.Tensor:
    pos = torch.full(tuple(size), offset, dtype=torch.int64)
    for k, (n, s) in enumerate(zip(size, stride, strict=True)):
        view = [1] * len(size)
        view[k] = n
        pos = pos + (torch.arange(n) * s).reshape(view)
    return pos


def _contiguous_strides(size: Sequence[int]) -> list[int]:
    strides, acc = [], 1
    for n in reversed(size):
        strides.append(acc)
        acc *= n
    return strides[::-1]


def _check_as_strided(node: fx.Node) -> str | None:
    x = arg_val(node, "self")
    size, stride = arg_val(node, "size"), arg_val(node, "stride")
    offset = arg_val(node, "storage_offset")
    if not x.is_contiguous() or x.storage_offset() != 0:
        return (
            "as_strided of a non-contiguous or offset view (its storage order is not its "
            "element order)"
        )
    if math.prod(size) == 0:
        return "as_strided to an empty tensor"
    pos = _positions(size, stride, offset or 0)
    if int(pos.min()) < 0 or int(pos.max()) >= x.numel():
        return (
            f"as_strided reads positions [{int(pos.min())}, {int(pos.max())}] outside the "
            f"input's {x.numel()} elements"
        )
    return None


@converter(aten.as_strided.default, aten.as_strided_copy.default, check=_check_as_strided)
def convert_as_strided(
    ctx: ConversionContext,
    self: Any,
    size: Sequence[int],
    stride: Sequence[int],
    storage_offset: int | None = None,
) -> Any:
    """``torch.as_strided`` on a contiguous input: a slice when the strides are contiguous,
    else a gather of the flat positions; static shapes."""
    offset = storage_offset or 0
    flat = ctx.reshape(self, [math.prod(ctx.shape(self))])
    size = [int(n) for n in size]
    if list(stride) == _contiguous_strides(size) or math.prod(size) == 1:
        span = math.prod(size)
        part = ctx.net.add_slice(flat, (offset,), (span,), (1,)).get_output(0)
        return ctx.reshape(part, size)
    return _gather(ctx, flat, _positions(size, stride, offset), 0)
