"""Converters: shape manipulation (view, permute, expand, cat, slice, select, split, casts).

With static shapes every view-like op is fully described by the output shape torch recorded
for the node, so reshape-like ops share one converter that reshapes to ``ctx.out.shape``.
Slicing normalizes torch's forgiving indices (None, negative, out of range) to the explicit
in-bounds starts and sizes TensorRT's ISliceLayer needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext, normalize_dim
from torch_trt.convert.registry import arg_val, converter, meta_val

aten = torch.ops.aten

# TensorRT tensors have at most 8 dims.
MAX_RANK = 8


# -- shared helpers (also used by the index and creation families) ------------------------------
def rank_problem(node: fx.Node) -> str | None:
    """A reason when an input or output of ``node`` has more dims than TensorRT allows."""
    vals = [n.meta.get("val") for n in node.all_input_nodes] + [node.meta.get("val")]
    for v in vals:
        for t in v if isinstance(v, list | tuple) else [v]:
            if isinstance(t, torch.Tensor) and t.dim() > MAX_RANK:
                return f"rank {t.dim()} exceeds TensorRT's limit of {MAX_RANK} dims"
    return None


def layout_problem(node: fx.Node) -> str | None:
    """A reason when ``node`` asks for a non-strided layout (sparse, mkldnn, ...)."""
    layout = arg_val(node, "layout")
    if layout is not None and layout != torch.strided:
        return f"layout {layout} is not supported (TensorRT tensors are dense)"
    return rank_problem(node)


def slice_static(
    ctx: ConversionContext,
    t: Any,
    start: Sequence[int],
    size: Sequence[int],
    stride: Sequence[int],
) -> Any:
    """An ISliceLayer with static start/size/stride (stride 0 repeats an element)."""
    return ctx.net.add_slice(t, tuple(start), tuple(size), tuple(stride)).get_output(0)


def expand_to(ctx: ConversionContext, t: Any, shape: Sequence[int]) -> Any:
    """``t`` broadcast to ``shape`` (numpy rules): leading 1s, then stride-0 slicing."""
    t = ctx.unsqueeze_to(t, len(shape))
    have = ctx.shape(t)
    if have == tuple(shape):
        return t
    stride = [0 if h == 1 and s != 1 else 1 for h, s in zip(have, shape, strict=True)]
    return slice_static(ctx, t, [0] * len(shape), shape, stride)


def to_dtype(ctx: ConversionContext, t: Any, dtype: torch.dtype) -> Any:
    """``t.to(dtype)`` with torch's semantics where a bare ICastLayer's are undocumented.

    To bool: ``x != 0`` (torch) rather than a cast. Float to int: truncate toward zero in the
    float type first (sign(x) * floor(|x|)), so the cast only sees integral values; TensorRT
    documents truncation for positive values only.
    """
    src = ctx.dtype(t)
    if src == dtype:
        return t
    rank = len(ctx.shape(t))
    if dtype == torch.bool:
        zero = ctx.itensor(0, src, rank)
        return ctx.unary(ctx.elementwise(t, zero, "EQUAL"), "NOT")
    if src.is_floating_point and not dtype.is_floating_point:
        mag = ctx.unary(ctx.unary(t, "ABS"), "FLOOR")
        t = ctx.elementwise(mag, ctx.unary(t, "SIGN"), "PROD")
    return ctx.cast(t, dtype)


def _slice_bounds(size: int, start: int | None, end: int | None, step: int) -> tuple[int, int]:
    """torch's slice normalization: (first index, element count) for ``x[start:end:step]``."""
    lo = 0 if start is None else start
    hi = size if end is None else end
    lo = min(max(lo + size if lo < 0 else lo, 0), size)
    hi = min(max(hi + size if hi < 0 else hi, 0), size)
    count = max(0, (hi - lo + step - 1) // step)
    return (lo if count else 0), count


def _slice_dim(ctx: ConversionContext, t: Any, dim: int, first: int, count: int, step: int) -> Any:
    shape = list(ctx.shape(t))
    start, size, stride = [0] * len(shape), list(shape), [1] * len(shape)
    start[dim], size[dim], stride[dim] = first, count, step
    return slice_static(ctx, t, start, size, stride)


# -- view-like ops: the recorded output shape says everything ----------------------------------
_RESHAPE_LIKE = (
    aten.view.default,
    aten._unsafe_view.default,
    aten.reshape.default,
    aten.squeeze.default,
    aten.squeeze.dim,
    aten.squeeze.dims,
    aten.unsqueeze.default,
    aten.flatten.using_ints,
)


@converter(*_RESHAPE_LIKE, check=rank_problem)
def convert_reshape_like(ctx: ConversionContext, self: Any, **_shape_args: Any) -> Any:
    """view/reshape/squeeze/unsqueeze/flatten: reshape to the output shape torch recorded."""
    target = tuple(ctx.out.shape)
    if ctx.shape(self) == target:
        return self
    return ctx.reshape(self, target)


@converter(aten.permute.default, check=rank_problem)
def convert_permute(ctx: ConversionContext, self: Any, dims: Sequence[int]) -> Any:
    """``self.permute(dims)`` (negative dims allowed)."""
    rank = len(ctx.shape(self))
    perm = [normalize_dim(d, rank) for d in dims]
    if perm == list(range(rank)):
        return self
    return ctx.permute(self, perm)


@converter(aten.transpose.int, check=rank_problem)
def convert_transpose(ctx: ConversionContext, self: Any, dim0: int, dim1: int) -> Any:
    """``self.transpose(dim0, dim1)``."""
    rank = len(ctx.shape(self))
    perm = list(range(rank))
    a, b = normalize_dim(dim0, rank), normalize_dim(dim1, rank)
    perm[a], perm[b] = perm[b], perm[a]
    return self if a == b else ctx.permute(self, perm)


@converter(aten.t.default)
def convert_t(ctx: ConversionContext, self: Any) -> Any:
    """``self.t()``: rank < 2 is returned as is."""
    return ctx.permute(self, (1, 0)) if len(ctx.shape(self)) == 2 else self


@converter(aten.expand.default, check=rank_problem)
def convert_expand(
    ctx: ConversionContext, self: Any, size: Sequence[int], *, implicit: bool = False
) -> Any:
    """``self.expand(size)`` (-1 keeps a dim); stride-0 slicing repeats size-1 dims."""
    return expand_to(ctx, ctx.itensor(self), tuple(ctx.out.shape))


def _repeat_check(node: fx.Node) -> str | None:
    # (r0, s0, r1, s1, ...) is formed internally and must fit TensorRT's rank limit.
    if 2 * len(arg_val(node, "repeats")) > MAX_RANK:
        return f"repeat over more than {MAX_RANK // 2} dims"
    return rank_problem(node)


@converter(aten.repeat.default, check=_repeat_check)
def convert_repeat(ctx: ConversionContext, self: Any, repeats: Sequence[int]) -> Any:
    """``self.repeat(repeats)``: interleave size-1 dims, expand them, merge back."""
    self = ctx.itensor(self)
    shape = (1,) * (len(repeats) - len(ctx.shape(self))) + ctx.shape(self)
    split = [v for s in shape for v in (1, s)]
    wide = [v for r, s in zip(repeats, shape, strict=True) for v in (r, s)]
    t = expand_to(ctx, ctx.reshape(self, split), wide)
    return ctx.reshape(t, tuple(ctx.out.shape))


# -- concatenation ------------------------------------------------------------------------------
@converter(aten.cat.default, check=rank_problem)
def convert_cat(ctx: ConversionContext, tensors: Sequence[Any], dim: int = 0) -> Any:
    """``torch.cat(tensors, dim)``: inputs cast to the promoted output dtype."""
    out = ctx.out
    rank = out.dim()
    parts = [ctx.itensor(t) for t in tensors]
    # torch skips legacy empty 1-D (0,) inputs whatever the other ranks are.
    parts = [p for p in parts if rank == 1 or ctx.shape(p) != (0,)]
    parts = [to_dtype(ctx, p, out.dtype) for p in parts]
    if len(parts) == 1:
        return parts[0]
    layer = ctx.net.add_concatenation(parts)
    layer.axis = normalize_dim(dim, rank)  # TensorRT rejects negative axes
    return layer.get_output(0)


# -- slicing ------------------------------------------------------------------------------------
@converter(aten.slice.Tensor, check=rank_problem)
def convert_slice(
    ctx: ConversionContext,
    self: Any,
    dim: int = 0,
    start: int | None = None,
    end: int | None = None,
    step: int = 1,
) -> Any:
    """``self[start:end:step]`` along ``dim``, with torch's clamping of out-of-range bounds."""
    shape = ctx.shape(self)
    d = normalize_dim(dim, len(shape))
    first, count = _slice_bounds(shape[d], start, end, step)
    if (first, count, step) == (0, shape[d], 1):
        return self
    return _slice_dim(ctx, self, d, first, count, step)


@converter(aten.select.int, check=rank_problem)
def convert_select(ctx: ConversionContext, self: Any, dim: int, index: int) -> Any:
    """``self.select(dim, index)`` (negative index counts from the end)."""
    shape = ctx.shape(self)
    d = normalize_dim(dim, len(shape))
    if not -shape[d] <= index < shape[d]:
        raise ctx.fail(f"index {index} out of range for dim {d} of size {shape[d]}")
    t = _slice_dim(ctx, self, d, index % shape[d], 1, 1)
    return ctx.reshape(t, tuple(ctx.out.shape))


def _split(ctx: ConversionContext, self: Any, sizes: Sequence[int], dim: int) -> list[Any]:
    shape = ctx.shape(self)
    d = normalize_dim(dim, len(shape))
    parts, first = [], 0
    for n in sizes:
        parts.append(_slice_dim(ctx, self, d, first if n else 0, n, 1))  # keep empty in bounds
        first += n
    return parts


@converter(aten.split_with_sizes.default, check=rank_problem)
def convert_split_with_sizes(
    ctx: ConversionContext, self: Any, split_sizes: Sequence[int], dim: int = 0
) -> list[Any]:
    """``self.split([n0, n1, ...], dim)``: one slice per output."""
    return _split(ctx, self, split_sizes, dim)


@converter(aten.split.Tensor, check=rank_problem)
def convert_split(ctx: ConversionContext, self: Any, split_size: int, dim: int = 0) -> list[Any]:
    """``self.split(split_size, dim)``: the last piece may be shorter."""
    d = normalize_dim(dim, len(ctx.shape(self)))
    return _split(ctx, self, [int(o.shape[d]) for o in _outs(ctx)], d)


@converter(aten.unbind.int, check=rank_problem)
def convert_unbind(ctx: ConversionContext, self: Any, dim: int = 0) -> list[Any]:
    """``self.unbind(dim)``: one slice per index, the dim dropped."""
    shape = ctx.shape(self)
    d = normalize_dim(dim, len(shape))
    outs = _outs(ctx)
    return [
        ctx.reshape(_slice_dim(ctx, self, d, i, 1, 1), tuple(o.shape)) for i, o in enumerate(outs)
    ]


def _outs(ctx: ConversionContext) -> list[torch.Tensor]:
    assert ctx.node is not None
    return list(ctx.node.meta["val"])


# -- copies and casts ---------------------------------------------------------------------------
@converter(aten.clone.default, check=rank_problem)
def convert_clone(ctx: ConversionContext, self: Any, *, memory_format: Any = None) -> Any:
    """``self.clone()``: a value copy; memory_format only changes strides, not values."""
    return ctx.itensor(self)


def _to_copy_check(node: fx.Node) -> str | None:
    src = meta_val(node.all_input_nodes[0]) if node.all_input_nodes else None
    device = arg_val(node, "device")
    if device is not None and src is not None:
        to = torch.device(device)
        same_index = to.index is None or src.device.index is None or to.index == src.device.index
        if to.type != src.device.type or not same_index:
            return f"device change {src.device} -> {to} stays in PyTorch"
    return layout_problem(node)


@converter(aten._to_copy.default, check=_to_copy_check)
def convert_to_copy(
    ctx: ConversionContext,
    self: Any,
    *,
    dtype: torch.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool | None = None,
    non_blocking: bool = False,
    memory_format: Any = None,
) -> Any:
    """``self.to(dtype)``; device and layout changes are refused by the check."""
    return to_dtype(ctx, ctx.itensor(self), ctx.out.dtype)
