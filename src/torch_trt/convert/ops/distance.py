"""Converters: pairwise distances (``_cdist_forward``, ``_pdist_forward``).

The p-norm of the differences, ``(Σ |a − b|^p)^(1/p)``, with torch's special cases: p = 0 counts
the non-zero differences, p = ∞ takes the largest, p = 1 and p = 2 skip the power.

For p = 2 ``cdist`` follows torch's choice of formula (``compute_mode``): the matmul form
sqrt(max(|a|² + |b|² − 2·a·b, 0)) when torch uses it (by default when either point set has more
than 25 points), else the direct form on broadcast differences. ``pdist`` gathers the row pairs
i < j in torch's order (row-major upper triangle) and measures them directly.

Dynamic shapes: ``cdist`` takes symbolic batch and point counts; ``pdist`` needs a static row
count (the pairs are constant indices).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import arg_val, converter

aten = torch.ops.aten

_FLOAT = (torch.float32, torch.float16, torch.bfloat16)
# torch's compute_mode: None / 0 use the matmul form past 25 points, 1 always, 2 never.
_MM_THRESHOLD = 25


def _pnorm(ctx: ConversionContext, diff: Any, p: float, axis: int) -> Any:
    """The p-norm of ``diff`` over ``axis`` (dropped), for float p ≥ 0 or ∞."""
    mask = 1 << axis
    red = ctx.trt.ReduceOperation
    if p == 0:
        zero = ctx.elementwise(diff, ctx.itensor(0.0, torch.float32, 1), "EQUAL")
        ones = ctx.cast(ctx.unary(zero, "NOT"), torch.float32)
        return ctx.net.add_reduce(ones, red.SUM, mask, False).get_output(0)
    mag = ctx.unary(diff, "ABS")
    if math.isinf(p):
        return ctx.net.add_reduce(mag, red.MAX, mask, False).get_output(0)
    if p == 1:
        return ctx.net.add_reduce(mag, red.SUM, mask, False).get_output(0)
    if p == 2:
        sq = ctx.elementwise(mag, mag, "PROD")
        return ctx.unary(ctx.net.add_reduce(sq, red.SUM, mask, False).get_output(0), "SQRT")
    powered = ctx.elementwise(mag, ctx.itensor(float(p), torch.float32, 1), "POW")
    total = ctx.net.add_reduce(powered, red.SUM, mask, False).get_output(0)
    return ctx.elementwise(total, ctx.itensor(1.0 / p, torch.float32, 1), "POW")


def _check_p(x: torch.Tensor, p: float) -> str | None:
    if x.dtype not in _FLOAT:
        return f"distances of dtype {x.dtype} (float only)"
    if p < 0 or math.isnan(p):
        return f"p = {p} (torch needs p >= 0)"
    return None


def _check_cdist(node: fx.Node) -> str | None:
    x1, x2 = arg_val(node, "x1"), arg_val(node, "x2")
    if x1.dim() < 2 or x2.dim() < 2:
        return "cdist of tensors with fewer than 2 dims"
    if x1.dtype != x2.dtype:
        return f"cdist of mixed dtypes {x1.dtype} and {x2.dtype}"
    return _check_p(x1, float(arg_val(node, "p")))


def _uses_mm(ctx: ConversionContext, x1: Any, x2: Any, p: float, mode: int | None) -> bool:
    if p != 2 or mode == 2:
        return False
    if mode == 1:
        return True
    # With a symbolic point count torch picks the form per call; one engine cannot, so it uses
    # the direct form (the more accurate of the two) for every size.
    p1, p2 = ctx.shape(x1)[-2], ctx.shape(x2)[-2]
    return (p1 > _MM_THRESHOLD or p2 > _MM_THRESHOLD) and p1 >= 0 and p2 >= 0


@converter(aten._cdist_forward.default, check=_check_cdist, dynamic=True)
def convert_cdist(
    ctx: ConversionContext, x1: Any, x2: Any, p: float, compute_mode: int | None = None
) -> Any:
    """``torch.cdist``: p-norm distances of every row pair, torch's matmul form for p = 2 where
    torch uses it, else broadcast differences."""
    dtype = ctx.out.dtype
    a, b = ctx.broadcast(ctx.cast(x1, torch.float32), ctx.cast(x2, torch.float32))
    rank = len(ctx.shape(a))
    if _uses_mm(ctx, a, b, float(p), compute_mode):
        red = ctx.trt.ReduceOperation.SUM
        na = ctx.net.add_reduce(ctx.elementwise(a, a, "PROD"), red, 1 << (rank - 1), True)
        nb = ctx.net.add_reduce(ctx.elementwise(b, b, "PROD"), red, 1 << (rank - 1), True)
        trans = ctx.trt.MatrixOperation
        ab = ctx.net.add_matrix_multiply(a, trans.NONE, b, trans.TRANSPOSE).get_output(0)
        nbt = ctx.permute(nb.get_output(0), [*range(rank - 2), rank - 1, rank - 2])
        sq = ctx.elementwise(na.get_output(0), nbt, "SUM")
        twice = ctx.elementwise(ab, ctx.itensor(2.0, torch.float32, rank), "PROD")
        sq = ctx.elementwise(sq, twice, "SUB")
        sq = ctx.elementwise(sq, ctx.itensor(0.0, torch.float32, rank), "MAX")
        return ctx.cast(ctx.unary(sq, "SQRT"), dtype)
    # (..., P, 1, M) - (..., 1, R, M)
    ea = ctx.net.add_unsqueeze(a, ctx.axes_tensor([rank - 1])).get_output(0)
    eb = ctx.net.add_unsqueeze(b, ctx.axes_tensor([rank - 2])).get_output(0)
    diff = ctx.elementwise(ea, eb, "SUB")
    return ctx.cast(_pnorm(ctx, diff, float(p), rank), dtype)


def _check_pdist(node: fx.Node) -> str | None:
    x = arg_val(node, "self")
    if x.dim() != 2:
        return f"pdist of a {x.dim()}-D tensor (torch takes 2-D)"
    if not isinstance(x.shape[0], int):
        return "pdist with a dynamic row count (the row pairs need a static count)"
    if x.shape[0] < 2:
        return "pdist of fewer than 2 rows (no pairs)"
    return _check_p(x, float(arg_val(node, "p")))


@converter(aten._pdist_forward.default, check=_check_pdist, dynamic=True)
def convert_pdist(ctx: ConversionContext, self: Any, p: float = 2) -> Any:
    """``F.pdist``: p-norm distances of the row pairs i < j (row-major), static row count."""
    n = ctx.shape(self)[0]
    pairs = torch.triu_indices(n, n, offset=1)
    x = ctx.cast(self, torch.float32)
    rows = [
        ctx.net.add_gather(x, ctx.constant(idx.to(torch.int32), torch.int32), 0).get_output(0)
        for idx in pairs
    ]
    diff = ctx.elementwise(rows[0], rows[1], "SUB")  # (K, M)
    return ctx.cast(_pnorm(ctx, diff, float(p), 1), ctx.out.dtype)
