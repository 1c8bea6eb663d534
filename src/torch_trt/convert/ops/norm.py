"""Converters: batch, layer, group and instance normalization.

Inference batch norm folds into a per-channel scale and shift computed on the host (its weights
and running statistics are constants after lowering): into the kernel and bias of the
convolution before it when it has one (no layer), else one IScaleLayer. Layer, group and
instance norm map to TensorRT's INormalizationLayer (``add_normalization_v2``: per-channel
affine, biased variance, as in torch). The multi-output ATen forms return placeholders for their
statistics outputs, which the checks guarantee nobody reads.

Dynamic shapes: every form takes symbolic batch and spatial/sequence dims (scale and shift are
constants of the input's rank that broadcast); the channel dim and layer norm's normalized dims
carry the affine parameters and must be static.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext, trt_dtype
from torch_trt.convert.ops.conv import fold_affine
from torch_trt.convert.registry import arg_val, converter, extra_outputs_used, node_args

aten = torch.ops.aten

# INormalizationLayer and the folded elementwise form take f32, f16 and bf16.
_FLOAT = (torch.float32, torch.float16, torch.bfloat16)


def _is_constant(node: fx.Node, name: str) -> bool:
    value = node_args(node)[name]
    return not isinstance(value, fx.Node) or value.op == "get_attr"


def _check_common(node: fx.Node, min_rank: int, channels: bool = True) -> str | None:
    # Batch, group and instance norm carry per-channel parameters on dim 1: it must be static.
    x = arg_val(node, "input")
    if x.dtype not in _FLOAT:
        return f"normalization needs a float input, got {x.dtype}"
    if x.dim() < min_rank:
        return f"rank-{x.dim()} input (needs rank >= {min_rank})"
    if extra_outputs_used(node):
        return "the mean/variance outputs are used (only the normalized output is converted)"
    if channels and not isinstance(x.shape[1], int):
        return "the channel dim (dim 1) is dynamic (per-channel parameters need it static)"
    return None


# --- batch norm (inference) -------------------------------------------------------------------


def _check_batch_norm(node: fx.Node) -> str | None:
    args = node_args(node)
    if args.get("training", False):
        return "batch norm in training mode (batch statistics)"
    if args["running_mean"] is None or args["running_var"] is None:
        return "batch norm without running statistics"
    for name in ("weight", "bias", "running_mean", "running_var"):
        if not _is_constant(node, name):
            return f"batch norm {name} is not a constant (it is folded on the host)"
    return _check_common(node, 2)


# Batch-norm parameters are folded into one scale and shift on the host (in fp64).
_BN_HOST = ("weight", "bias", "running_mean", "running_var")


def _fold_batch_norm(
    ctx: ConversionContext, x: Any, weight: Any, bias: Any, mean: Any, var: Any, eps: float
) -> Any:
    # y = x * scale + shift, scale = w / sqrt(var + eps), shift = b - mean * scale; folded in
    # fp64 on the host, then rounded once to the input dtype. Fewest layers first: none when a
    # convolution takes the map into its weights, else one scale layer, else (rank < 4, where
    # IScaleLayer is documented not to apply) a product and a sum.
    dtype = ctx.out.dtype
    var64, mean64 = var.double(), mean.double()
    scale = torch.rsqrt(var64 + eps)
    if weight is not None:
        scale = scale * weight.double()
    shift = -mean64 * scale
    if bias is not None:
        shift = shift + bias.double()
    if fold_affine(ctx, x, scale, shift):
        return x
    x = ctx.cast(x, dtype)
    rank = len(ctx.shape(x))
    if rank >= 4:
        empty = ctx.trt.Weights(trt_dtype(dtype))
        layer = ctx.net.add_scale_nd(x, ctx.trt.ScaleMode.CHANNEL, empty, empty, empty, 1)
        ctx.set_weights(layer, "shift", shift, dtype)
        ctx.set_weights(layer, "scale", scale, dtype)
        return layer.get_output(0)
    view = (1, -1) + (1,) * (rank - 2)
    y = ctx.elementwise(x, ctx.constant(scale.reshape(view), dtype), "PROD")
    return ctx.elementwise(y, ctx.constant(shift.reshape(view), dtype), "SUM")


@converter(
    aten._native_batch_norm_legit_no_training.default,
    aten.native_batch_norm.default,
    check=_check_batch_norm,
    dynamic=True,
    host_args=_BN_HOST,
)
def convert_batch_norm_no_training(
    ctx: ConversionContext,
    input: Any,
    weight: Any,
    bias: Any,
    running_mean: Any,
    running_var: Any,
    momentum: float,
    eps: float,
    training: bool = False,
) -> tuple[Any, None, None]:
    """Inference batch norm (``native_batch_norm`` carries ``training``, checked False); the
    unused, checked statistics outputs are not produced."""
    return _fold_batch_norm(ctx, input, weight, bias, running_mean, running_var, eps), None, None


@converter(aten.batch_norm.default, check=_check_batch_norm, dynamic=True, host_args=_BN_HOST)
def convert_batch_norm(
    ctx: ConversionContext,
    input: Any,
    weight: Any,
    bias: Any,
    running_mean: Any,
    running_var: Any,
    training: bool,
    momentum: float,
    eps: float,
    cudnn_enabled: bool,
) -> Any:
    """``batch_norm`` with ``training=False`` (checked)."""
    return _fold_batch_norm(ctx, input, weight, bias, running_mean, running_var, eps)


# --- INormalizationLayer forms ----------------------------------------------------------------


# Constant affine parameters are stored at the input's rank (no reshape layer).
_AFFINE_HOST = ("weight", "bias")


def _affine(ctx: ConversionContext, value: Any, shape: Sequence[int], fill: float) -> Any:
    """Scale or bias as an ITensor of ``shape`` (x's rank) in the output dtype."""
    dtype = ctx.out.dtype
    if value is None:
        return ctx.constant(torch.full(tuple(shape), fill), dtype)
    if isinstance(value, torch.Tensor):
        return ctx.constant(value.reshape(tuple(shape)), dtype)
    return ctx.reshape(ctx.cast(value, dtype), shape)


def _normalize(
    ctx: ConversionContext,
    x: Any,
    scale: Any,
    bias: Any,
    dims: Sequence[int],
    eps: float,
    groups: int = 1,
) -> Any:
    mask = sum(1 << d for d in dims)
    layer = ctx.net.add_normalization_v2(ctx.cast(x, ctx.out.dtype), scale, bias, mask)
    layer.epsilon = eps
    layer.num_groups = groups
    return layer.get_output(0)


def _check_layer_norm(node: fx.Node) -> str | None:
    problem = _check_common(node, 2, channels=False)
    x, normalized = arg_val(node, "input"), arg_val(node, "normalized_shape")
    if problem is None and len(normalized) >= x.dim():
        return "layer norm over every dim including the batch dim"
    if problem is None and not all(
        isinstance(d, int) for d in x.shape[x.dim() - len(normalized) :]
    ):
        return "a normalized dim is dynamic (the scale and bias need static normalized dims)"
    return problem


def _layer_norm(
    ctx: ConversionContext,
    x: Any,
    normalized_shape: Sequence[int],
    weight: Any,
    bias: Any,
    eps: float,
) -> Any:
    rank, k = len(ctx.shape(x)), len(normalized_shape)
    shape = (1,) * (rank - k) + tuple(normalized_shape)
    scale, shift = _affine(ctx, weight, shape, 1.0), _affine(ctx, bias, shape, 0.0)
    return _normalize(ctx, x, scale, shift, range(rank - k, rank), eps)


@converter(aten.layer_norm.default, check=_check_layer_norm, dynamic=True, host_args=_AFFINE_HOST)
def convert_layer_norm(
    ctx: ConversionContext,
    input: Any,
    normalized_shape: Sequence[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
    cudnn_enable: bool = True,
) -> Any:
    """Layer norm over the trailing ``normalized_shape`` dims."""
    return _layer_norm(ctx, input, normalized_shape, weight, bias, eps)


@converter(
    aten.native_layer_norm.default, check=_check_layer_norm, dynamic=True, host_args=_AFFINE_HOST
)
def convert_native_layer_norm(
    ctx: ConversionContext,
    input: Any,
    normalized_shape: Sequence[int],
    weight: Any,
    bias: Any,
    eps: float,
) -> tuple[Any, None, None]:
    """Layer norm; the (unused, checked) mean and rstd outputs are not produced."""
    return _layer_norm(ctx, input, normalized_shape, weight, bias, eps), None, None


@converter(
    aten.native_group_norm.default,
    check=lambda node: _check_common(node, 2),
    dynamic=True,
    host_args=_AFFINE_HOST,
)
def convert_group_norm(
    ctx: ConversionContext,
    input: Any,
    weight: Any,
    bias: Any,
    N: int,
    C: int,
    HxW: int,
    group: int,
    eps: float,
) -> tuple[Any, None, None]:
    """Group norm: per-group statistics over channels and spatial dims, per-channel affine."""
    x = input
    flat = len(ctx.shape(x)) == 2
    if flat:  # (N, C): give the layer spatial dims to reduce over (N may be a size tensor)
        x = ctx.reshape(x, (N, C, 1, 1))
    rank = len(ctx.shape(x))
    shape = (1, C) + (1,) * (rank - 2)
    scale, shift = _affine(ctx, weight, shape, 1.0), _affine(ctx, bias, shape, 0.0)
    # TensorRT requires the channel bit clear when num_groups != 1; with one group the channel
    # dim is simply part of the statistics.
    dims = range(2, rank) if group != 1 else range(1, rank)
    y = _normalize(ctx, x, scale, shift, dims, eps, group)
    if flat:
        y = ctx.reshape(y, (N, C))
    return y, None, None


def _check_instance_norm(node: fx.Node) -> str | None:
    if not arg_val(node, "training"):
        return "batch norm without running statistics in eval mode"
    # Instance norm lowers to batch statistics over a (1, N*C, ...) view: without affine
    # parameters a symbolic channel dim is fine (scale and shift are then size-1 constants).
    plain = arg_val(node, "weight") is None and arg_val(node, "bias") is None
    return _check_common(node, 3, channels=not plain)


@converter(
    aten._native_batch_norm_legit.no_stats,
    check=_check_instance_norm,
    dynamic=True,
    host_args=_AFFINE_HOST,
)
def convert_batch_norm_no_stats(
    ctx: ConversionContext,
    input: Any,
    weight: Any,
    bias: Any,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[Any, None, None]:
    """Batch statistics per channel (how instance norm lowers): normalize over all but dim 1."""
    rank = len(ctx.shape(input))
    channels = ctx.shape(input)[1] if weight is not None or bias is not None else 1
    shape = (1, channels) + (1,) * (rank - 2)
    scale, shift = _affine(ctx, weight, shape, 1.0), _affine(ctx, bias, shape, 0.0)
    dims = [d for d in range(rank) if d != 1]
    return _normalize(ctx, input, scale, shift, dims, eps), None, None
