"""Converters: writing into a tensor (copy, slice_scatter, scatter, scatter_add, index_put).

* ``copy`` is ``src`` cast to ``self``'s dtype (as ``.to``) and broadcast to its shape.
* ``slice_scatter`` selects, per position p along ``dim``, ``src`` where p is in the slice
  (``p >= start``, ``(p - start) % step == 0``, ``(p - start) / step < len(src)``) and ``self``
  elsewhere; ``src`` is gathered at ``(p - start) / step``. No scatter layer, dynamic dims work.
* ``scatter`` (src / value) is IScatterLayer in ELEMENT mode (ONNX ScatterElements, which is
  ``torch.scatter``) [OP/Scatter]. Torch leaves duplicate indices undefined, and so does
  TensorRT: any of the updates may win.
* IScatterLayer has no reduction, so ``scatter_add``, ``scatter(reduce=...)`` and
  ``index_put(accumulate=True)`` are composed: compare every index with every position along
  the dim (a one-hot of shape index.shape with the dim's size inserted), select the update or
  the neutral element (0 for sums, 1 for products), reduce over the index's own dim, and
  combine with ``self``. Exact for integers; this costs ``index.numel() * dim size`` elements.
* ``index_put`` without accumulate is IScatterLayer in ND mode: the index tensors (broadcast,
  negatives wrapped) stacked into coordinate tuples over the leading dims.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import fx
from torch.fx.experimental.symbolic_shapes import statically_known_true

from torch_trt.convert.context import ConversionContext, normalize_dim
from torch_trt.convert.ops.compare import select
from torch_trt.convert.ops.index import wrap_negative
from torch_trt.convert.ops.nonzero import put_mask_problem, put_with_mask
from torch_trt.convert.ops.reduce import iota, reduce
from torch_trt.convert.ops.shape import expand_to, is_static, size_of, slice_any, to_dtype
from torch_trt.convert.registry import arg_val, converter, meta_val, node_args

aten = torch.ops.aten

_COMBINE_DTYPES = frozenset(
    {torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64}
)
_SCATTER_AS = {torch.bfloat16: torch.float32}  # bf16 data is not in the tested scatter dtypes


def _sizes(ctx: ConversionContext, t: Any) -> list[Any]:
    return [size_of(ctx, t, i) for i in range(len(ctx.shape(t)))]


def _unsqueeze(ctx: ConversionContext, t: Any, axis: int) -> Any:
    return ctx.net.add_unsqueeze(t, ctx.axes_tensor([axis])).get_output(0)


# --- copy -------------------------------------------------------------------------------------


@converter(aten.copy.default, dynamic=True)
def convert_copy(ctx: ConversionContext, self: Any, src: Any, non_blocking: bool = False) -> Any:
    """``self.copy_(src)`` as a value: ``src`` in ``self``'s dtype and shape."""
    x = ctx.itensor(self)
    value = to_dtype(ctx, ctx.itensor(src), ctx.dtype(x))
    return expand_to(ctx, value, _sizes(ctx, x))


# --- slice_scatter ----------------------------------------------------------------------------


def _slice_scatter_check(node: fx.Node) -> str | None:
    start, step = arg_val(node, "start"), arg_val(node, "step")
    if isinstance(step, torch.SymInt):
        return "a symbolic slice step is not supported"
    if isinstance(start, torch.SymInt) and not statically_known_true(start >= 0):
        return f"a symbolic slice start ({start}) that may be negative is not supported"
    x, dim = arg_val(node, "self"), arg_val(node, "dim")
    if x.dim() == 0:
        return "slice_scatter into a 0-D tensor"
    d = x.shape[normalize_dim(dim, x.dim())]
    if isinstance(start, int) and start < 0 and not isinstance(d, int):
        return "a negative slice start on a dynamic dim is not supported"
    if step < 1:
        return "slice step must be positive"
    return None


def _first_index(ctx: ConversionContext, start: Any, x: Any, axis: int) -> Any:
    """torch's slice start normalization (negative counts from the end, clamped to [0, d]); a
    symbolic start (a size tensor, checked >= 0) is clamped to d at run time."""
    d = ctx.shape(x)[axis]
    if not isinstance(start, int | None):
        return ctx.elementwise(ctx.sym(start), ctx.dim(x, axis), "MIN")
    lo = 0 if start is None else start
    return min(max(lo + d if lo < 0 else lo, 0), d) if d >= 0 else lo


@converter(aten.slice_scatter.default, check=_slice_scatter_check, dynamic=True)
def convert_slice_scatter(
    ctx: ConversionContext,
    self: Any,
    src: Any,
    dim: int = 0,
    start: Any = None,
    end: Any = None,
    step: int = 1,
) -> Any:
    """``self`` with ``self[..., start:end:step, ...] = src`` along ``dim`` (start may be a
    non-negative size)."""
    x = ctx.itensor(self)
    s = ctx.cast(ctx.itensor(src), ctx.dtype(x))
    rank = len(ctx.shape(x))
    axis = normalize_dim(dim, rank)
    n = ctx.shape(s)[axis]
    if n == 0:
        return x
    # ``end`` is implied by len(src) (torch checks they agree).
    lo = _first_index(ctx, start, x, axis)
    lo = ctx.itensor(lo, torch.int64, rank) if isinstance(lo, int) else ctx.reshape(lo, (1,) * rank)
    p = iota(ctx, x, axis)
    offset = ctx.elementwise(p, lo, "SUB")
    j = ctx.elementwise(offset, ctx.itensor(step, torch.int64, rank), "FLOOR_DIV")
    length = ctx.reshape(ctx.dim(s, axis), (1,) * rank)
    zero = ctx.itensor(0, torch.int64, rank)
    on_grid = ctx.elementwise(
        ctx.elementwise(j, ctx.itensor(step, torch.int64, rank), "PROD"), offset, "EQUAL"
    )
    inside = ctx.elementwise(
        ctx.unary(ctx.elementwise(offset, zero, "LESS"), "NOT"),
        ctx.elementwise(j, length, "LESS"),
        "AND",
    )
    mask = ctx.elementwise(on_grid, inside, "AND")
    last = ctx.elementwise(length, ctx.itensor(1, torch.int64, rank), "SUB")
    safe = ctx.elementwise(ctx.elementwise(j, zero, "MAX"), last, "MIN")
    flat = ctx.reshape(safe, (-1,))
    gathered = ctx.net.add_gather(s, flat, axis).get_output(0)
    return select(ctx, mask, gathered, x)


# --- scatter (ELEMENT) ------------------------------------------------------------------------


def _scatter_check(node: fx.Node) -> str | None:
    if meta_val(node).dim() == 0:
        return "scatter into a 0-D tensor is not supported"
    return None


def _updates(ctx: ConversionContext, value: Any, index: Any, dtype: torch.dtype) -> Any:
    """The update for each index element: ``src`` cut to the index's shape, or the value."""
    shape = _sizes(ctx, index)
    if isinstance(value, bool | int | float):
        # int8 constants exist only as quantized weights: make an int32 one and cast.
        const = ctx.itensor(value, torch.int32 if dtype == torch.int8 else dtype, len(shape))
        return expand_to(ctx, ctx.cast(const, dtype), shape)
    s = ctx.cast(ctx.itensor(value), dtype)
    if is_static(shape) and ctx.shape(s) == tuple(shape):
        return s
    return slice_any(ctx, s, [0] * len(shape), shape, [1] * len(shape))


@converter(aten.scatter.src, aten.scatter.value, check=_scatter_check, dynamic=True)
def convert_scatter(ctx: ConversionContext, self: Any, dim: int, index: Any, **kw: Any) -> Any:
    """``self`` with ``self[..., index[i], ...] = src[i]`` (or ``value``) along ``dim``."""
    x = ctx.itensor(self)
    dtype = ctx.dtype(x)
    work = _SCATTER_AS.get(dtype, dtype)
    idx = ctx.cast(ctx.itensor(index), torch.int64)
    upd = _updates(ctx, kw["src"] if "src" in kw else kw["value"], idx, work)
    layer = ctx.net.add_scatter(ctx.cast(x, work), idx, upd, ctx.trt.ScatterMode.ELEMENT)
    layer.axis = normalize_dim(dim, len(ctx.shape(x)))
    return ctx.cast(layer.get_output(0), dtype)


# --- scatter with a reduction -----------------------------------------------------------------

_REDUCE_OPS = {"add": "SUM", "sum": "SUM", "multiply": "PROD"}


def _combine_dtype_check(node: fx.Node) -> str | None:
    dtype = meta_val(node).dtype
    if dtype not in _COMBINE_DTYPES:
        return f"{node.target} on {dtype}: reducing scatters take float and int32/int64"
    if meta_val(node).dim() == 0:
        return "scatter into a 0-D tensor is not supported"
    return None


def _combine_check(node: fx.Node) -> str | None:
    problem = _combine_dtype_check(node)
    if problem is not None:
        return problem
    how = node_args(node).get("reduce")
    if how is not None and how not in _REDUCE_OPS:
        return f"scatter reduce={how!r} is not supported"
    return None


def spread(
    ctx: ConversionContext, x: Any, axis: int, idx: Any, upd: Any, op: str, neutral: float
) -> Any:
    """Per element of ``x``: the ``op`` reduction (SUM, PROD, MAX, MIN) of the updates sent to
    it along ``axis``, or ``neutral`` where none is; shaped and typed like ``x``.

    Args:
        ctx: the conversion context.
        x: the data (rank r).
        axis: the scatter dim.
        idx: int64 indices, rank r, each dim at most x's.
        upd: updates of idx's shape and x's dtype.
        op: the reduction.
        neutral: its neutral element (0, 1, -inf, +inf or an integer extreme).

    Returns:
        The reduced updates, shaped like ``x``.
    """
    dtype = ctx.dtype(x)
    rank = len(ctx.shape(x))
    positions = iota(ctx, _unsqueeze(ctx, x, axis), axis + 1)  # D along the new dim axis + 1
    hit = ctx.elementwise(_unsqueeze(ctx, idx, axis + 1), positions, "EQUAL")
    picked = select(ctx, hit, _unsqueeze(ctx, upd, axis + 1), ctx.itensor(neutral, dtype, rank + 1))
    combined = reduce(ctx, picked, op, [axis], False)  # one value per (other dims, position)
    layer = ctx.net.add_slice(combined, (0,) * rank, (1,) * rank, (1,) * rank)
    size = _sizes(ctx, x)  # the index may cover fewer elements than x in the other dims
    if is_static(size):
        layer.shape = tuple(size)
    else:
        layer.set_input(2, ctx.shape_tensor(size))
    layer.mode = ctx.trt.SampleMode.FILL
    layer.set_input(4, ctx.constant(torch.tensor(neutral), dtype))
    return layer.get_output(0)


def scatter_combine(ctx: ConversionContext, x: Any, axis: int, idx: Any, upd: Any, op: str) -> Any:
    """``x`` combined (``op`` SUM or PROD) with every update sent to ``x[..., idx, ...]``."""
    return ctx.elementwise(x, spread(ctx, x, axis, idx, upd, op, 0 if op == "SUM" else 1), op)


def _reduced_scatter(
    ctx: ConversionContext, self: Any, dim: int, index: Any, value: Any, op: str
) -> Any:
    x = ctx.itensor(self)
    idx = ctx.cast(ctx.itensor(index), torch.int64)
    upd = _updates(ctx, value, idx, ctx.dtype(x))
    return scatter_combine(ctx, x, normalize_dim(dim, len(ctx.shape(x))), idx, upd, op)


@converter(aten.scatter_add.default, check=_combine_check, dynamic=True)
def convert_scatter_add(ctx: ConversionContext, self: Any, dim: int, index: Any, src: Any) -> Any:
    """``self`` plus every ``src`` element added at its index along ``dim`` (duplicates sum)."""
    return _reduced_scatter(ctx, self, dim, index, src, "SUM")


@converter(aten.scatter.reduce, aten.scatter.value_reduce, check=_combine_check, dynamic=True)
def convert_scatter_reduce(
    ctx: ConversionContext, self: Any, dim: int, index: Any, **kw: Any
) -> Any:
    """``scatter`` with ``reduce='add'`` or ``'multiply'``: updates combine with ``self``."""
    value = kw["src"] if "src" in kw else kw["value"]
    return _reduced_scatter(ctx, self, dim, index, value, _REDUCE_OPS[kw["reduce"]])


# --- scatter_reduce ---------------------------------------------------------------------------

_TWO_OPS = {"sum": "SUM", "prod": "PROD", "amax": "MAX", "amin": "MIN", "mean": "SUM"}


def _scatter_reduce_check(node: fx.Node) -> str | None:
    problem = _combine_dtype_check(node)
    how = arg_val(node, "reduce")
    if problem is None and how not in _TWO_OPS:
        return f"scatter_reduce reduce={how!r} is not supported"
    if problem is None and how == "mean" and not meta_val(node).dtype.is_floating_point:
        return "scatter_reduce mean on integers (torch floors the division) is not supported"
    return problem


def _neutral(op: str, dtype: torch.dtype) -> float:
    if op in ("SUM", "PROD"):
        return 0 if op == "SUM" else 1
    if dtype.is_floating_point:
        return -math.inf if op == "MAX" else math.inf
    info = torch.iinfo(dtype)
    return info.min if op == "MAX" else info.max


@converter(aten.scatter_reduce.two, check=_scatter_reduce_check, dynamic=True)
def convert_scatter_reduce_two(
    ctx: ConversionContext,
    self: Any,
    dim: int,
    index: Any,
    src: Any,
    reduce: str,
    *,
    include_self: bool = True,
) -> Any:
    """``self`` with the updates sent to each element reduced (sum, prod, mean, amax, amin)
    into it; with ``include_self=False`` an element that receives updates drops its value."""
    x = ctx.itensor(self)
    dtype, rank = ctx.dtype(x), len(ctx.shape(x))
    axis = normalize_dim(dim, rank)
    idx = ctx.cast(ctx.itensor(index), torch.int64)
    upd = _updates(ctx, src, idx, dtype)
    op = _TWO_OPS[reduce]
    got = spread(ctx, x, axis, idx, upd, op, _neutral(op, dtype))
    ones = expand_to(ctx, ctx.itensor(1, dtype, rank), _sizes(ctx, idx))
    count = spread(ctx, x, axis, idx, ones, "SUM", 0)
    if include_self:
        got = ctx.elementwise(x, got, op)
    if reduce == "mean":
        extra = ctx.itensor(1 if include_self else 0, dtype, rank)
        total = ctx.elementwise(
            ctx.elementwise(count, extra, "SUM"), ctx.itensor(1, dtype, rank), "MAX"
        )
        got = ctx.elementwise(got, total, "DIV")
    received = ctx.elementwise(count, ctx.itensor(0, dtype, rank), "GREATER")
    return select(ctx, received, got, x)


# --- index_put --------------------------------------------------------------------------------


def _index_put_check(node: fx.Node) -> str | None:
    indices = [t.meta.get("val") if isinstance(t, fx.Node) else t for t in arg_val(node, "indices")]
    if any(getattr(t, "dtype", None) == torch.bool for t in indices):
        return put_mask_problem(node)
    given = [i for i, t in enumerate(indices) if t is not None]
    if not given:
        return "index_put without index tensors is not supported"
    if given != list(range(given[0], given[0] + len(given))):
        return "index tensors separated by a full slice (x[i, :, j] = v) are not supported"
    for i in given:
        dtype = getattr(indices[i], "dtype", None)
        if dtype not in (torch.int32, torch.int64):
            return f"index {i} has dtype {dtype}; only int32/int64 indices are supported"
    if meta_val(node).dtype not in _COMBINE_DTYPES | {torch.bool, torch.int8}:
        return f"index_put on {meta_val(node).dtype} is not supported"
    if bool(arg_val(node, "accumulate")) and meta_val(node).dtype not in _COMBINE_DTYPES:
        return f"index_put(accumulate=True) on {meta_val(node).dtype} is not supported"
    return None


def _broadcast_indices(ctx: ConversionContext, x: Any, indices: Sequence[Any]) -> list[Any]:
    """The index tensors as int64, negatives wrapped, broadcast to one shape (exactly: each gets
    ``0 * other`` added, which broadcasts dynamic shapes too)."""
    idx = [
        ctx.cast(wrap_negative(ctx, t, size_of(ctx, x, d)), torch.int64)
        for d, t in enumerate(indices)
    ]
    idx = ctx.broadcast(*idx)
    zeros = [
        ctx.elementwise(t, ctx.itensor(0, torch.int64, len(ctx.shape(t))), "PROD") for t in idx
    ]
    out = []
    for k, t in enumerate(idx):
        for j, z in enumerate(zeros):
            if j != k:
                t = ctx.elementwise(t, z, "SUM")
        out.append(t)
    return out


@converter(aten.index_put.default, check=_index_put_check, dynamic=True)
def convert_index_put(
    ctx: ConversionContext,
    self: Any,
    indices: Sequence[Any],
    values: Any,
    accumulate: bool = False,
) -> Any:
    """``self[indices] = values`` (``+=`` with accumulate, where duplicates sum) for adjacent
    index tensors (``x[i, j] = v``, ``x[:, i] = v``), or a boolean mask (``x[mask] = v``, with
    ``v`` broadcast over the selected elements, not one value per element)."""
    if any(t is not None and ctx.dtype(t) == torch.bool for t in indices):
        return put_with_mask(ctx, self, indices, values, accumulate)
    x = ctx.itensor(self)
    dtype = ctx.dtype(x)
    first = next(i for i, t in enumerate(indices) if t is not None)
    given = [t for t in indices if t is not None]
    k, rank = len(given), len(ctx.shape(x))
    # Indexed dims first (ScatterND indexes leading dims), the others after in order.
    perm = [*range(first, first + k), *range(first), *range(first + k, rank)]
    xp = ctx.permute(x, perm) if first else x
    idx = _broadcast_indices(ctx, xp, given)
    point = _sizes(ctx, idx[0])  # the broadcast index shape
    sizes = _sizes(ctx, x)
    # torch lays the values out as x.shape[:first] + point + x.shape[first + k:].
    v = expand_to(
        ctx, ctx.cast(ctx.itensor(values), dtype), sizes[:first] + point + sizes[first + k :]
    )
    if first:
        n = len(point)
        v = ctx.permute(
            v, [*range(first, first + n), *range(first), *range(first + n, len(ctx.shape(v)))]
        )
    out = _accumulate(ctx, xp, idx, v) if accumulate else _scatter_nd(ctx, xp, idx, v)
    return ctx.permute(out, [perm.index(d) for d in range(rank)]) if first else out


def _scatter_nd(ctx: ConversionContext, x: Any, idx: Sequence[Any], v: Any) -> Any:
    """ScatterND of ``v`` at the coordinate tuples stacked from ``idx`` (x's leading dims)."""
    dtype = ctx.dtype(x)
    point_rank = len(ctx.shape(idx[0]))
    coords = ctx.net.add_concatenation([_unsqueeze(ctx, t, point_rank) for t in idx])
    coords.axis = point_rank
    work = _SCATTER_AS.get(dtype, dtype)
    layer = ctx.net.add_scatter(
        ctx.cast(x, work), coords.get_output(0), ctx.cast(v, work), ctx.trt.ScatterMode.ND
    )
    return ctx.cast(layer.get_output(0), dtype)


def _accumulate(ctx: ConversionContext, x: Any, idx: Sequence[Any], v: Any) -> Any:
    """Sum ``v`` into ``x`` at the coordinates ``idx`` over x's leading dims: flatten those
    dims into one, linearize the coordinates, and scatter-add along dim 0."""
    k = len(idx)
    sizes = _sizes(ctx, x)
    point_rank = len(ctx.shape(idx[0]))
    rest = sizes[k:]
    linear = idx[0]
    for d in range(1, k):
        scale = ctx.reshape(ctx.dim(x, d), (1,) * point_rank)
        linear = ctx.elementwise(ctx.elementwise(linear, scale, "PROD"), idx[d], "SUM")
    flat_x = ctx.reshape(x, [-1, *rest])
    flat_v = ctx.reshape(v, [-1, *rest])
    flat_i = ctx.reshape(linear, [-1] + [1] * len(rest))
    flat_i = expand_to(ctx, flat_i, _sizes(ctx, flat_v))
    summed = scatter_combine(ctx, flat_x, 0, flat_i, flat_v, "SUM")
    return ctx.reshape(summed, sizes)
