"""Converters: softmax and log_softmax.

ISoftMaxLayer's default axis is ``max(0, rank - 3)`` (dim 0 of a (B, N) input), so the axis bit
is always set from ``dim``. The layer needs rank >= 2: lower ranks are viewed as (1, N) first.
log_softmax is ``x - max - log(sum(exp(x - max)))`` rather than ``log(softmax(x))``, which would
underflow to -inf where torch stays finite. Any dim may be dynamic: the axis is static and the
only reshapes are (N,) <-> (1, N).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext, normalize_dim
from torch_trt.convert.ops.reduce import reduce
from torch_trt.convert.registry import converter, meta_val

aten = torch.ops.aten

_FLOATS = (torch.float32, torch.float16, torch.bfloat16)


def float_output(node: fx.Node) -> str | None:
    """TensorRT's softmax takes f32/f16/bf16 only."""
    dtype = meta_val(node).dtype
    if dtype not in _FLOATS:
        return f"TensorRT softmax takes float32/float16/bfloat16 only, got {dtype}"
    return None


def _at_least_2d(ctx: ConversionContext, x: Any, dim: int) -> tuple[Any, int]:
    """``x`` with rank >= 2 and the axis to normalize over in it."""
    shape = ctx.shape(x)
    if len(shape) >= 2:
        return x, normalize_dim(dim, len(shape))
    normalize_dim(dim, len(shape))  # range check only
    return ctx.reshape(x, (1, shape[0] if shape else 1)), 1


def _softmax(ctx: ConversionContext, self: Any, dim: int, log: bool) -> Any:
    out = ctx.out
    x, axis = _at_least_2d(ctx, ctx.cast(self, out.dtype), dim)
    if log:
        shifted = ctx.elementwise(x, reduce(ctx, x, "MAX", [axis], True), "SUB")
        total = reduce(ctx, ctx.unary(shifted, "EXP"), "SUM", [axis], True)
        y = ctx.elementwise(shifted, ctx.unary(total, "LOG"), "SUB")
    else:
        layer = ctx.net.add_softmax(x)
        layer.axes = 1 << axis
        y = layer.get_output(0)
    if len(ctx.shape(y)) != out.dim():  # back from (1, N) to (N,) or ()
        y = ctx.reshape(y, [d if isinstance(d, int) else -1 for d in out.shape])
    return y


@converter(aten.softmax.int, check=float_output, dynamic=True)
def convert_softmax(
    ctx: ConversionContext, self: Any, dim: int, dtype: torch.dtype | None = None
) -> Any:
    """``softmax(self, dim)``, after casting to ``dtype`` when given."""
    return _softmax(ctx, self, dim, log=False)


@converter(aten._softmax.default, check=float_output, dynamic=True)
def convert__softmax(ctx: ConversionContext, self: Any, dim: int, half_to_float: bool) -> Any:
    """``softmax(self, dim)``; ``half_to_float`` gives an fp32 result from fp16 input."""
    return _softmax(ctx, self, dim, log=False)


@converter(aten.log_softmax.int, check=float_output, dynamic=True)
def convert_log_softmax(
    ctx: ConversionContext, self: Any, dim: int, dtype: torch.dtype | None = None
) -> Any:
    """``log_softmax(self, dim)``, after casting to ``dtype`` when given."""
    return _softmax(ctx, self, dim, log=True)


@converter(aten._log_softmax.default, check=float_output, dynamic=True)
def convert__log_softmax(ctx: ConversionContext, self: Any, dim: int, half_to_float: bool) -> Any:
    """``log_softmax(self, dim)``; ``half_to_float`` gives an fp32 result from fp16 input."""
    return _softmax(ctx, self, dim, log=True)
