"""Converters: the fused products torch.export leaves whole (addmv, addbmm).

``addmm`` and the plain products live in :mod:`torch_trt.convert.ops.matmul`; ``baddbmm`` and
``addr`` decompose into ops that convert. These two have no core-ATen decomposition, so without
a converter they split the graph:

* ``addmv(self, mat, vec)`` is ``beta * self + alpha * (mat @ vec)``, a VECTOR matrix multiply;
* ``addbmm(self, b1, b2)`` is ``beta * self + alpha * sum_b(b1[b] @ b2[b])``: a batched multiply
  reduced over the batch.

As in torch, ``beta == 0`` ignores ``self`` (NaN or inf in it do not propagate). Float only,
like every TensorRT matrix multiply; batch and matrix dims may be dynamic.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.matmul import float_only, matmul
from torch_trt.convert.ops.reduce import reduce
from torch_trt.convert.registry import arg_val, converter

aten = torch.ops.aten


def _real_scalars(node: fx.Node) -> str | None:
    for name in ("beta", "alpha"):
        value = arg_val(node, name)
        if not isinstance(value, bool | int | float):
            return f"{name}={value!r} is not a real number"
    return float_only(node)


def _combine(ctx: ConversionContext, self: Any, product: Any, beta: float, alpha: float) -> Any:
    dtype = ctx.out.dtype
    if alpha != 1:
        product = ctx.elementwise(product, ctx.itensor(float(alpha), dtype, 0), "PROD")
    if beta == 0:  # torch does not read self then
        return product
    bias = ctx.itensor(self, dtype)
    if beta != 1:
        bias = ctx.elementwise(bias, ctx.itensor(float(beta), dtype, 0), "PROD")
    return ctx.elementwise(product, bias, "SUM")


@converter(aten.addmv.default, check=_real_scalars, dynamic=True)
def convert_addmv(
    ctx: ConversionContext, self: Any, mat: Any, vec: Any, *, beta: float = 1, alpha: float = 1
) -> Any:
    """``beta * self + alpha * (mat @ vec)``: one VECTOR matrix multiply."""
    dtype = ctx.out.dtype
    product = matmul(ctx, ctx.itensor(mat, dtype), ctx.itensor(vec, dtype))
    return _combine(ctx, self, product, beta, alpha)


@converter(aten.addbmm.default, check=_real_scalars, dynamic=True)
def convert_addbmm(
    ctx: ConversionContext,
    self: Any,
    batch1: Any,
    batch2: Any,
    *,
    beta: float = 1,
    alpha: float = 1,
) -> Any:
    """``beta * self + alpha * sum_b(batch1[b] @ batch2[b])``: a batched multiply, summed."""
    dtype = ctx.out.dtype
    product = matmul(ctx, ctx.itensor(batch1, dtype), ctx.itensor(batch2, dtype))
    return _combine(ctx, self, reduce(ctx, product, "SUM", [0], False), beta, alpha)
