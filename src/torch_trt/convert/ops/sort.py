"""Converters: topk, sort (default and stable overloads; argsort lowers to sort).

All are TensorRT's ITopKLayer (MAX for largest/descending, MIN otherwise), whose outputs are the
k extreme values in order and their indices [OP/TopK]; a sort is a TopK with k = the dim's length
(a run-time size for dynamic dims); a topk ``k`` computed from sizes is such a run-time input too
(provably >= 1, bounded by 3840). Limits from [OP/TopK]: k <= 3840 (so sorted dims are at most
3840 long, also for the upper bound of a dynamic dim), the axis is one of the last four dims (an
earlier axis is transposed last), at least two dims (a 1-D input gets a leading 1).

**Ties.** TensorRT does not document the order of equal elements, and torch promises none for
``topk`` or ``sort(stable=False)``: any order is a correct answer there, and the reference
runtime deliberately picks one torch's CPU kernels do not (see runtime/reference/reductions.py).
``sort(stable=True)`` does promise one (equal elements keep their input order), which is made
independent of TensorRT for bool/int8/int32 inputs: they are sorted on the unique int64 key
``x * n + i`` (``x * n + (n - 1 - i)`` descending), exact since ``|x| < 2**31`` and ``n <= 3840``.
Stable sorts of floats and int64 stay in PyTorch with that reason.

NaN: torch orders NaN above every number; TensorRT's NaN order is not documented (unverified).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx
from torch.fx.experimental.symbolic_shapes import statically_known_true

from torch_trt.convert.context import ConversionContext, normalize_dim
from torch_trt.convert.ops.reduce import iota
from torch_trt.convert.ops.shape import length_bound
from torch_trt.convert.registry import arg_val, converter

aten = torch.ops.aten

MAX_K = 3840
_TOPK_DTYPES = frozenset({torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64})
_WIDENED = frozenset({torch.bool, torch.int8})  # sorted as int32, values cast back
_STABLE_KEYED = frozenset({torch.bool, torch.int8, torch.int32})


def _input_problem(node: fx.Node) -> str | None:
    x = arg_val(node, "self")
    if x.dtype not in _TOPK_DTYPES | _WIDENED:
        return f"{node.target} on {x.dtype}: TensorRT TopK takes float32/16, bfloat16, int32/64"
    return None


def _topk_check(node: fx.Node) -> str | None:
    k = arg_val(node, "k")
    if not isinstance(k, int):  # a size computed in the graph: k becomes TopK's input 1
        bound = length_bound(k)
        if not statically_known_true(k >= 1) or bound is None or bound > MAX_K:
            return f"a symbolic k ({k}, up to {bound}): TensorRT TopK takes 1 <= k <= {MAX_K}"
        return _input_problem(node)
    if not 0 < k <= MAX_K:
        return f"k={k}: TensorRT TopK takes 1 <= k <= {MAX_K}"
    return _input_problem(node)


def _sort_check(node: fx.Node) -> str | None:
    x = arg_val(node, "self")
    if x.dim() > 0:
        n = x.shape[normalize_dim(arg_val(node, "dim"), x.dim())]
        bound = length_bound(n)
        if bound is None or bound > MAX_K:
            return f"sorting a dim of length up to {bound}: TensorRT TopK takes k <= {MAX_K}"
    stable = node.target is aten.sort.stable and bool(arg_val(node, "stable"))
    if stable and x.dtype not in _STABLE_KEYED:
        return (
            f"stable sort of {x.dtype}: TensorRT does not document the order of equal elements "
            "(converted for bool/int8/int32 only)"
        )
    return _input_problem(node)


def topk(ctx: ConversionContext, x: Any, k: Any, axis: int, largest: bool) -> tuple[Any, Any]:
    """Values and int64 indices of the ``k`` largest (smallest) elements along ``axis``, in
    order. ``k`` is an int or a 1-element int64 size tensor; ``x`` has rank >= 1."""
    rank = len(ctx.shape(x))
    dtype = ctx.dtype(x)
    y = ctx.cast(x, torch.int32) if dtype in _WIDENED else x
    if rank == 1:
        y, axis = ctx.unsqueeze_to(y, 2), 1
    perm = None
    if axis < len(ctx.shape(y)) - 4:  # TopK's axis must be one of the last four dims
        perm = [d for d in range(len(ctx.shape(y))) if d != axis] + [axis]
        y, axis = ctx.permute(y, perm), len(perm) - 1
    op = ctx.trt.TopKOperation.MAX if largest else ctx.trt.TopKOperation.MIN
    layer = ctx.net.add_topk(y, op, k if isinstance(k, int) else 1, 1 << axis)
    if not isinstance(k, int):
        layer.set_input(1, ctx.cast(ctx.reshape(k, ()), torch.int32))
    layer.indices_type = ctx.trt.int64
    outs = [layer.get_output(0), layer.get_output(1)]
    if perm is not None:
        inverse = [perm.index(d) for d in range(len(perm))]
        outs = [ctx.permute(t, inverse) for t in outs]
    if rank == 1:
        outs = [ctx.net.add_squeeze(t, ctx.axes_tensor([0])).get_output(0) for t in outs]
    return ctx.cast(outs[0], dtype), outs[1]


def _scalar_result(ctx: ConversionContext, x: Any) -> tuple[Any, Any]:
    """topk/sort of a 0-D tensor: itself, at index 0."""
    return x, ctx.constant(torch.zeros((), dtype=torch.int64), torch.int64)


@converter(aten.topk.default, check=_topk_check, dynamic=True)
def convert_topk(
    ctx: ConversionContext,
    self: Any,
    k: int,
    dim: int = -1,
    largest: bool = True,
    sorted: bool = True,
) -> tuple[Any, Any]:
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices, in order.

    ``sorted=False`` lets torch return any order; TensorRT's sorted one is such an order.
    """
    x = ctx.itensor(self)
    rank = len(ctx.shape(x))
    if rank == 0:
        return _scalar_result(ctx, x)
    return topk(ctx, x, k, normalize_dim(dim, rank), largest)


def _length(ctx: ConversionContext, x: Any, axis: int) -> Any:
    """The length of ``axis``: an int when static (a static k keeps the output shape static)."""
    n = ctx.shape(x)[axis]
    return n if n >= 0 else ctx.dim(x, axis)


def _stable_sort(ctx: ConversionContext, x: Any, axis: int, descending: bool) -> tuple[Any, Any]:
    """Sort on the unique key ``x * n + i`` (descending: ``x * n + n - 1 - i``)."""
    n = ctx.reshape(ctx.dim(x, axis), (1,) * len(ctx.shape(x)))
    i = iota(ctx, x, axis)
    if descending:
        last = ctx.elementwise(n, ctx.itensor(1, torch.int64, len(ctx.shape(x))), "SUB")
        i = ctx.elementwise(last, i, "SUB")
    key = ctx.elementwise(ctx.elementwise(ctx.cast(x, torch.int64), n, "PROD"), i, "SUM")
    keys, indices = topk(ctx, key, _length(ctx, x, axis), axis, descending)
    return ctx.cast(ctx.elementwise(keys, n, "FLOOR_DIV"), ctx.dtype(x)), indices


def _sort(
    ctx: ConversionContext, self: Any, dim: int, descending: bool, stable: bool
) -> tuple[Any, Any]:
    x = ctx.itensor(self)
    rank = len(ctx.shape(x))
    if rank == 0:
        return _scalar_result(ctx, x)
    axis = normalize_dim(dim, rank)
    if stable:
        return _stable_sort(ctx, x, axis, descending)
    return topk(ctx, x, _length(ctx, x, axis), axis, descending)


@converter(aten.sort.default, check=_sort_check, dynamic=True)
def convert_sort(
    ctx: ConversionContext, self: Any, dim: int = -1, descending: bool = False
) -> tuple[Any, Any]:
    """Sorted values and their indices along ``dim`` (equal elements in no promised order)."""
    return _sort(ctx, self, dim, descending, stable=False)


@converter(aten.sort.stable, check=_sort_check, dynamic=True)
def convert_sort_stable(
    ctx: ConversionContext,
    self: Any,
    *,
    stable: bool | None = None,
    dim: int = -1,
    descending: bool = False,
) -> tuple[Any, Any]:
    """``sort`` with ``stable=True``: equal elements keep their input order."""
    return _sort(ctx, self, dim, descending, stable=bool(stable))
