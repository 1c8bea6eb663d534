"""Converters: matrix products (mm, bmm, addmm, linear).

The core-ATen lowering decomposes ``matmul`` (into view/expand + mm/bmm, or mul + sum for
vector operands) and ``baddbmm`` (into bmm, mul, add), so neither reaches a converter.

Everything ends in one ``IMatrixMultiplyLayer``. TensorRT multiplies only f32/f16/bf16, needs
equal batch ranks (size-1 dims broadcast) and a ``VECTOR`` op for rank-1 operands, so the
converters insert leading 1s and pick the op per operand; the checks refuse integer products
rather than round them through floats. Leading 1s are inserted with ``unsqueeze_to`` (no static
reshape of a possibly dynamic input), so batch, sequence and inner dims may all be dynamic.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import arg_val, converter, meta_val

aten = torch.ops.aten

MATMUL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def float_only(node: fx.Node) -> str | None:
    """Refuse products TensorRT cannot compute: its matrix multiply takes floats only."""
    dtype = meta_val(node).dtype
    if dtype not in MATMUL_DTYPES:
        return f"TensorRT matrix multiply takes float32/float16/bfloat16 only, got {dtype}"
    return None


def _real_scalars(node: fx.Node) -> str | None:
    problem = float_only(node)
    if problem is not None:
        return problem
    for name in ("beta", "alpha"):
        value = arg_val(node, name)
        if not isinstance(value, bool | int | float):
            return f"{name}={value!r} is not a real number"
    return None


def matmul(ctx: ConversionContext, a: Any, b: Any) -> Any:
    """``torch.matmul(a, b)`` for ITensors of one float dtype, with torch's rank broadcasting.

    Rank-1 operands use the ``VECTOR`` op (their dim disappears from the result, as in torch);
    the other operand's batch dims are padded with leading 1s to equal ranks.
    """
    mm = ctx.trt.MatrixOperation
    ra, rb = len(ctx.shape(a)), len(ctx.shape(b))
    op_a = mm.VECTOR if ra == 1 else mm.NONE
    op_b = mm.VECTOR if rb == 1 else mm.NONE
    # Batch rank = rank minus matrix dims (2) or vector dims (1); equalize the batch ranks.
    batch_a, batch_b = ra - (1 if ra == 1 else 2), rb - (1 if rb == 1 else 2)
    if ra == 1 and rb > 1:
        # (K,) @ (..., K, N): the vector has no batch dims; give it the other's as 1s.
        a = ctx.unsqueeze_to(a, batch_b + 1)
    elif rb == 1 and ra > 1:
        b = ctx.unsqueeze_to(b, batch_a + 1)
    elif batch_a < batch_b:
        a = ctx.unsqueeze_to(a, rb)
    elif batch_b < batch_a:
        b = ctx.unsqueeze_to(b, ra)
    return ctx.net.add_matrix_multiply(a, op_a, b, op_b).get_output(0)


def _scaled(ctx: ConversionContext, t: Any, factor: float) -> Any:
    if factor == 1:
        return t
    return ctx.elementwise(t, ctx.itensor(factor, ctx.dtype(t), len(ctx.shape(t))), "PROD")


def _operand(ctx: ConversionContext, value: Any) -> Any:
    # Weights arrive as torch tensors (get_attr); bring them to the node's dtype.
    return ctx.itensor(value, ctx.out.dtype)


@converter(aten.mm.default, aten.bmm.default, check=float_only, dynamic=True)
def convert_mm(ctx: ConversionContext, self: Any, mat2: Any) -> Any:
    """``self @ mat2`` for 2-D (mm) or 3-D (bmm) operands."""
    return matmul(ctx, _operand(ctx, self), _operand(ctx, mat2))


@converter(aten.addmm.default, check=_real_scalars, dynamic=True)
def convert_addmm(
    ctx: ConversionContext, self: Any, mat1: Any, mat2: Any, *, beta: float = 1, alpha: float = 1
) -> Any:
    """``beta * self + alpha * (mat1 @ mat2)``; with ``beta == 0`` ``self`` is ignored (torch)."""
    product = _scaled(ctx, matmul(ctx, _operand(ctx, mat1), _operand(ctx, mat2)), float(alpha))
    if beta == 0:  # torch does not read self then: NaN/inf in it must not propagate
        return product
    bias = _scaled(ctx, _operand(ctx, self), float(beta))
    return ctx.elementwise(product, bias, "SUM")


def _at_rank(ctx: ConversionContext, value: Any, rank: int, dtype: torch.dtype) -> Any:
    """``value`` in ``dtype`` with leading 1s up to ``rank``: a constant made in that shape when
    it is a host tensor (no reshape layer), else cast and unsqueezed."""
    if isinstance(value, torch.Tensor):
        shape = (1,) * max(rank - value.dim(), 0) + tuple(value.shape)
        return ctx.constant(value.reshape(shape), dtype)
    return ctx.unsqueeze_to(ctx.itensor(value, dtype), rank)


@converter(aten.linear.default, check=float_only, dynamic=True, host_args=("weight", "bias"))
def convert_linear(ctx: ConversionContext, input: Any, weight: Any, bias: Any = None) -> Any:
    """``input @ weight.T + bias`` with weight (out, in); input of any rank >= 1.

    One matrix multiply (the weight with the TRANSPOSE op, so no transposed copy is stored) and,
    with a bias, one sum. Constant weight and bias are stored at the input's rank.
    """
    dtype = ctx.out.dtype
    x = ctx.itensor(input, dtype)
    mm = ctx.trt.MatrixOperation
    rank = len(ctx.shape(x))
    if rank == 1:
        w = _at_rank(ctx, weight, 2, dtype)
        y = ctx.net.add_matrix_multiply(x, mm.VECTOR, w, mm.TRANSPOSE).get_output(0)
    else:
        w = _at_rank(ctx, weight, rank, dtype)
        y = ctx.net.add_matrix_multiply(x, mm.NONE, w, mm.TRANSPOSE).get_output(0)
    if bias is None:
        return y
    return ctx.elementwise(y, _at_rank(ctx, bias, len(ctx.shape(y)), dtype), "SUM")
