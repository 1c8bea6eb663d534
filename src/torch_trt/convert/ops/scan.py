"""Converters: cumulative scans (cumsum, cumprod).

``cumsum`` is TensorRT's ICumulativeLayer (SUM, inclusive, forward; the axis is a build-time
0-D constant) [OP/Cumulative]. TensorRT has no cumulative product, so ``cumprod`` is a
Hillis-Steele scan: ``ceil(log2 n)`` rounds of ``y = y * shift(y, 2**k)``, where the shift is a
FILL-mode slice that reads 1 before the start of the dim. It is exact for integers (wrapping on
overflow as torch's int64 does) and, for floats, within ``log2(n)`` roundings of torch's
sequential product. Along a dynamic dim the round count comes from the dim's upper bound.

Both follow torch's dtype rule: bool and integer inputs accumulate in int64 unless ``dtype``
says otherwise, so the input is cast to the output dtype first. A 0-D input is its own scan.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext, normalize_dim
from torch_trt.convert.ops.shape import is_static, length_bound, size_of
from torch_trt.convert.registry import arg_val, converter, meta_val

aten = torch.ops.aten

_SCAN_DTYPES = frozenset({torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64})
_SCAN_WHY = "TensorRT scans take float32/float16/bfloat16/int32/int64"


def _dtype_problem(node: fx.Node) -> str | None:
    dtype = meta_val(node).dtype
    if dtype not in _SCAN_DTYPES:
        return f"{node.target} to {dtype}: {_SCAN_WHY}"
    return None


@converter(aten.cumsum.default, check=_dtype_problem, dynamic=True)
def convert_cumsum(
    ctx: ConversionContext, self: Any, dim: int, *, dtype: torch.dtype | None = None
) -> Any:
    """Running sum along ``dim``: one ICumulativeLayer."""
    x = ctx.cast(ctx.itensor(self), ctx.out.dtype)
    rank = len(ctx.shape(x))
    axis = normalize_dim(dim, rank)
    if rank == 0:
        return x
    axis_t = ctx.constant(torch.tensor(axis, dtype=torch.int32), torch.int32)
    op = ctx.trt.CumulativeOperation.SUM
    return ctx.net.add_cumulative(x, axis_t, op, False, False).get_output(0)


def _cumprod_check(node: fx.Node) -> str | None:
    problem = _dtype_problem(node)
    if problem is not None:
        return problem
    x = arg_val(node, "self")
    if x.dim() == 0:
        return None
    n = x.shape[normalize_dim(arg_val(node, "dim"), x.dim())]
    if length_bound(n) is None:
        return f"cumprod along a dim of unbounded length ({n}): the scan needs an upper bound"
    return None


def _shifted(ctx: ConversionContext, y: Any, axis: int, by: int, one: Any) -> Any:
    """``y`` moved ``by`` places forward along ``axis``, with 1s entering at the start."""
    rank = len(ctx.shape(y))
    size = [size_of(ctx, y, i) for i in range(rank)]
    start = tuple(-by if i == axis else 0 for i in range(rank))
    layer = ctx.net.add_slice(y, start, (1,) * rank, (1,) * rank)
    if is_static(size):
        layer.shape = tuple(size)
    else:
        layer.set_input(2, ctx.shape_tensor(size))
    layer.mode = ctx.trt.SampleMode.FILL
    layer.set_input(4, one)
    return layer.get_output(0)


@converter(aten.cumprod.default, check=_cumprod_check, dynamic=True)
def convert_cumprod(
    ctx: ConversionContext, self: Any, dim: int, *, dtype: torch.dtype | None = None
) -> Any:
    """Running product along ``dim``: a log-depth scan of products with shifted copies."""
    y = ctx.cast(ctx.itensor(self), ctx.out.dtype)
    rank = len(ctx.shape(y))
    axis = normalize_dim(dim, rank)
    if rank == 0:
        return y
    # Enough rounds for the longest run: the static length, or a dynamic dim's upper bound
    # (a shift past the end reads only 1s, so extra rounds are harmless).
    assert ctx.node is not None
    x_val = arg_val(ctx.node, "self")
    n = length_bound(x_val.shape[axis])
    assert n is not None  # the check refused unbounded dims
    one = ctx.constant(torch.ones((), dtype=ctx.out.dtype), ctx.out.dtype)
    for k in range(math.ceil(math.log2(n)) if n > 1 else 0):
        y = ctx.elementwise(y, _shifted(ctx, y, axis, 2**k, one), "PROD")
    return y
