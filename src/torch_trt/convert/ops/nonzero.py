"""Converters whose output size depends on the data: nonzero, masked_select, ``x[mask]``.

All of them rest on one primitive, :func:`compact`: the positions of the True elements of a 1-D
bool tensor, in order, as an int64 tensor whose length TensorRT only knows once the engine runs
(a ``-1`` dim in the network, an unbacked ``u0`` in torch).

TensorRT's own layer for this, INonZeroLayer, does not build in TensorRT-RTX 1.7.1 ("NonZero has
no runners that implement it", for every dtype; NVIDIA/TensorRT-RTX#32), so the positions are
composed from layers that build in both flavours:

1. ``before[i]`` = number of True elements before ``i`` (ICumulativeLayer SUM, exclusive, over
   the mask padded with one 0, whose last entry is the count ``c``);
2. every element gets a slot: True ones ``before[i]`` (in order, from 0), False ones
   ``c + i - before[i]`` (after them, in order): a permutation of ``0..n-1``, so the IScatterLayer
   (ELEMENT) ``perm[slot[i]] = i`` writes every position exactly once;
3. the first ``c`` entries of ``perm`` (an ISliceLayer whose size is computed from data) are the
   positions. TensorRT calls such a size *implicitly data-dependent*; the engine's output
   allocator receives its value when the engine runs (runtime/engine.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.compare import select
from torch_trt.convert.ops.reduce import iota
from torch_trt.convert.ops.shape import expand_to, resolve_shape, size_of, to_dtype
from torch_trt.convert.registry import arg_val, converter, meta_val

aten = torch.ops.aten


# -- the primitive -------------------------------------------------------------------------------
def _slice_1d(ctx: ConversionContext, t: Any, start: Any, size: Any) -> Any:
    """``t[start:start + size]`` of a 1-D tensor; start and size are ints or size tensors."""
    layer = ctx.net.add_slice(t, (0,), (1,), (1,))
    for i, v in ((1, start), (2, size)):
        if isinstance(v, int):
            v = ctx.sym(v)
        layer.set_input(i, ctx.shape_tensor([v]))
    return layer.get_output(0)


def _total(ctx: ConversionContext, before_all: Any) -> Any:
    """The count (the largest, i.e. last, entry of the running count) as a 1-element tensor.

    It becomes a size, and TensorRT treats every tensor a size is computed from as a *shape
    tensor* (at most 64 elements) back to the first layer that cannot compute shapes. Slicing
    the last entry would make the whole running count one; ITopKLayer (k=1, MAX) cannot compute
    shapes, so only its 1-element output is."""
    rows = ctx.net.add_unsqueeze(before_all, ctx.axes_tensor([0])).get_output(0)
    top = ctx.net.add_topk(rows, ctx.trt.TopKOperation.MAX, 1, 1 << 1)
    return ctx.reshape(top.get_output(0), (1,))


def compact(ctx: ConversionContext, keep: Any) -> tuple[Any, Any]:
    """Positions of the True elements of the 1-D bool ``keep``, in increasing order (int64, of
    data-dependent length), and their count (a 1-element int64 tensor)."""
    n = size_of(ctx, keep, 0)
    ones = ctx.cast(keep, torch.int64)
    if n == 0:  # nothing to select: keep's own empty tensor
        return ones, ctx.sym(0)
    padded = ctx.net.add_concatenation([ones, ctx.constant(torch.zeros(1), torch.int64)])
    padded.axis = 0
    axis = ctx.constant(torch.tensor(0, dtype=torch.int32), torch.int32)
    before_all = ctx.net.add_cumulative(
        padded.get_output(0), axis, ctx.trt.CumulativeOperation.SUM, True, False
    ).get_output(0)
    count = _total(ctx, before_all)
    before = _slice_1d(ctx, before_all, 0, n)
    i = iota(ctx, keep, 0)
    after = ctx.elementwise(ctx.elementwise(i, before, "SUB"), count, "SUM")
    slot = select(ctx, keep, before, after)
    zeros = ctx.elementwise(i, ctx.itensor(0, torch.int64, 1), "PROD")
    scatter = ctx.net.add_scatter(zeros, slot, i, ctx.trt.ScatterMode.ELEMENT)
    scatter.axis = 0
    return _slice_1d(ctx, scatter.get_output(0), 0, count), count


def _take(ctx: ConversionContext, data: Any, positions: Any, axis: int) -> Any:
    """``data`` gathered at ``positions`` along ``axis``."""
    return ctx.net.add_gather(data, positions, axis).get_output(0)


def int8_problem(dtype: torch.dtype) -> str | None:
    """int8 results of data-dependent size are refused: TensorRT-RTX 1.7.1 fails to build an
    engine with such an output (an internal "count >= 0" assertion in weightsPtr.cpp)."""
    if dtype == torch.int8:
        return "an int8 result of data-dependent size (TensorRT-RTX 1.7.1 cannot build it)"
    return None


def _flatten(ctx: ConversionContext, t: Any) -> Any:
    return ctx.reshape(t, (-1,)) if len(ctx.shape(t)) != 1 else t


def _sizes(ctx: ConversionContext, t: Any) -> list[Any]:
    return [size_of(ctx, t, d) for d in range(len(ctx.shape(t)))]


def _product(ctx: ConversionContext, sizes: Sequence[Any]) -> Any:
    out: Any = 1
    for s in sizes:
        if isinstance(out, int) and isinstance(s, int):
            out *= s
        else:
            out = ctx.elementwise(ctx.sym(out), ctx.sym(s), "PROD")
    return out


# -- nonzero -------------------------------------------------------------------------------------
def _nonzero_check(node: fx.Node) -> str | None:
    if arg_val(node, "self").dim() == 0:
        return "nonzero of a 0-D tensor is not supported"
    return None


@converter(aten.nonzero.default, check=_nonzero_check, dynamic=True)
def convert_nonzero(ctx: ConversionContext, self: Any) -> Any:
    """``torch.nonzero(self)``: the (count, rank) int64 coordinates of the non-zero elements in
    row-major order; count is data-dependent (known once the engine ran). Not for 0-D inputs."""
    x = ctx.itensor(self)
    sizes = _sizes(ctx, x)
    flat, _ = compact(ctx, to_dtype(ctx, _flatten(ctx, x), torch.bool))
    coords = []
    rest = flat
    for d in reversed(range(len(sizes))):
        if d == 0:
            coords.append(rest)
            break
        size = ctx.sym(sizes[d])
        above = ctx.elementwise(rest, size, "FLOOR_DIV")
        coords.append(ctx.elementwise(rest, ctx.elementwise(above, size, "PROD"), "SUB"))
        rest = above
    columns = [ctx.net.add_unsqueeze(c, ctx.axes_tensor([1])).get_output(0) for c in coords[::-1]]
    if len(columns) == 1:
        return columns[0]
    layer = ctx.net.add_concatenation(columns)
    layer.axis = 1
    return layer.get_output(0)


# -- masked_select -------------------------------------------------------------------------------
def _broadcast(ctx: ConversionContext, x: Any, mask: Any) -> tuple[Any, Any]:
    """``self`` and ``mask`` expanded to their broadcast shape (sizes from torch metadata)."""
    assert ctx.node is not None
    fakes = [arg_val(ctx.node, "self"), arg_val(ctx.node, "mask")]
    shape = torch.broadcast_shapes(*(f.shape for f in fakes))  # type: ignore[no-untyped-call]
    sizes = resolve_shape(ctx, shape, ("self", "mask"), self=x, mask=mask)
    if any(s is None for s in sizes):
        raise ctx.fail(f"cannot express the broadcast shape {tuple(shape)} in sizes")
    return expand_to(ctx, x, sizes), expand_to(ctx, mask, sizes)


def _masked_select_check(node: fx.Node) -> str | None:
    return int8_problem(arg_val(node, "self").dtype)


@converter(aten.masked_select.default, check=_masked_select_check, dynamic=True)
def convert_masked_select(ctx: ConversionContext, self: Any, mask: Any) -> Any:
    """``torch.masked_select(self, mask)``: the elements where ``mask`` (broadcast) is True, as a
    1-D tensor of data-dependent length, in row-major order. Not for int8."""
    x, m = _broadcast(ctx, ctx.itensor(self), ctx.itensor(mask))
    positions, _ = compact(ctx, _flatten(ctx, m))
    return _take(ctx, _flatten(ctx, x), positions, 0)


# -- boolean-mask indexing -----------------------------------------------------------------------
def mask_index_problem(indices: Sequence[Any], data: torch.Tensor) -> str | None:
    """Why ``data[indices]`` with a bool index cannot convert, or ``None`` (one bool mask of
    rank >= 1 after optional full slices, no other index tensors)."""
    vals = [i.meta.get("val") if isinstance(i, fx.Node) else i for i in indices]
    given = [(k, v) for k, v in enumerate(vals) if v is not None]
    masks = [k for k, v in given if isinstance(v, torch.Tensor) and v.dtype == torch.bool]
    if len(given) != 1 or not masks:
        return "a boolean mask mixed with other index tensors is not supported"
    mask = vals[masks[0]]
    assert isinstance(mask, torch.Tensor)
    if mask.dim() == 0:
        return "a 0-D boolean index is not supported"
    if masks[0] + mask.dim() > data.dim():
        return f"a {mask.dim()}-D mask at dim {masks[0]} indexes past the {data.dim()} dims"
    return None


def _masked_dims(ctx: ConversionContext, x: Any, at: int, rank: int) -> tuple[Any, list[Any]]:
    """``x`` with dims ``at .. at + rank - 1`` merged into one; and ``x``'s sizes."""
    sizes = _sizes(ctx, x)
    merged = _product(ctx, sizes[at : at + rank])
    if rank == 1:
        return x, sizes
    return ctx.reshape(x, [*sizes[:at], merged, *sizes[at + rank :]]), sizes


def index_with_mask(ctx: ConversionContext, self: Any, indices: Sequence[Any]) -> Any:
    """``self[..., mask]``: the elements (or sub-tensors) where ``mask`` is True, the masked
    dims replaced by one of data-dependent length."""
    at = next(k for k, i in enumerate(indices) if i is not None)
    mask = ctx.itensor(indices[at])
    x, _ = _masked_dims(ctx, ctx.itensor(self), at, len(ctx.shape(mask)))
    positions, _ = compact(ctx, _flatten(ctx, mask))
    return _take(ctx, x, positions, at)


def _values_per_element(values: Any, rest: int) -> bool:
    """Whether ``values`` has a dim for the masked elements (one row per True element), which
    torch checks against the mask's count at run time."""
    if not isinstance(values, torch.Tensor) or values.dim() <= rest:
        return False
    return not (isinstance(values.shape[-rest - 1], int) and values.shape[-rest - 1] == 1)


def put_mask_problem(node: fx.Node) -> str | None:
    """Why ``self[mask] = values`` cannot convert, or ``None``."""
    data, values = meta_val(node), arg_val(node, "values")
    problem = mask_index_problem(arg_val(node, "indices"), data)
    if problem is not None:
        return problem
    at = next(k for k, i in enumerate(arg_val(node, "indices")) if i is not None)
    mask = arg_val(node, "indices")[at].meta["val"]
    if _values_per_element(values, data.dim() - at - mask.dim()):
        return (
            "values with one entry per True element of the mask: torch checks their number "
            "against the mask while running, an engine cannot"
        )
    if bool(arg_val(node, "accumulate")) and data.dtype == torch.bool:
        return "index_put(accumulate=True) on torch.bool is not supported"
    return None


def put_with_mask(
    ctx: ConversionContext, self: Any, indices: Sequence[Any], values: Any, accumulate: bool
) -> Any:
    """``self[..., mask] = values`` (``+=`` with accumulate) where ``values`` broadcasts over the
    masked elements: a select, since a mask names every element at most once."""
    x = ctx.itensor(self)
    dtype, rank = ctx.dtype(x), len(ctx.shape(x))
    at = next(k for k, i in enumerate(indices) if i is not None)
    mask = ctx.itensor(indices[at])
    k = len(ctx.shape(mask))
    # mask -> (1,)*at + mask.shape + (1,)*rest; values -> torch's layout with the masked
    # element dim of size 1, then k - 1 more 1s: both broadcast against x.
    cond = ctx.reshape(mask, [*([1] * at), *_sizes(ctx, mask), *([1] * (rank - at - k))])
    v = ctx.unsqueeze_to(to_dtype(ctx, ctx.itensor(values), dtype), rank - k + 1)
    if k > 1:
        v = ctx.net.add_unsqueeze(v, ctx.axes_tensor(range(at + 1, at + k))).get_output(0)
    if accumulate:
        v = ctx.elementwise(x, v, "SUM")
    return select(ctx, cond, v, x)
