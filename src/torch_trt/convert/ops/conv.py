"""Converters: convolution and transposed convolution (``aten.convolution``).

One converter covers 1-D, 2-D and 3-D, grouped, dilated and transposed convolutions. TensorRT
windows need 2 or 3 spatial dims on a batched input, so conv1d runs as a 2-D convolution with a
(1, k) kernel between two reshapes, and an unbatched input gets a leading batch dim.

Dynamic shapes: batch and spatial dims may be symbolic (the reshapes take size tensors and the
transposed convolution's zero padding is a FILL slice); channels and kernels must be static,
since TensorRT fixes them when the layer is added.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext, trt_dtype
from torch_trt.convert.registry import arg_val, converter, node_args
from torch_trt.dynamo.precision import ROUNDED_FROM_KEY

aten = torch.ops.aten

# IConvolutionLayer / IDeconvolutionLayer take float tensors only (int32 fails to build).
_FLOAT = (torch.float32, torch.float16, torch.bfloat16)


def _is_constant(node: fx.Node, name: str) -> bool:
    value = node_args(node)[name]
    return not isinstance(value, fx.Node) or value.op == "get_attr"


def _check_convolution(node: fx.Node) -> str | None:
    x, w = arg_val(node, "input"), arg_val(node, "weight")
    if not isinstance(w, torch.Tensor):
        return "the weight carries no tensor metadata"
    if x.dtype not in _FLOAT:
        return f"convolution needs a float input, got {x.dtype}"
    if w.dtype != x.dtype:
        return f"weight dtype {w.dtype} differs from input dtype {x.dtype}"
    nd = w.dim() - 2
    if nd not in (1, 2, 3):
        return f"{nd}-D convolution (TensorRT supports 1-D via 2-D, 2-D and 3-D)"
    if x.dim() not in (nd + 1, nd + 2):
        return f"rank-{x.dim()} input for a {nd}-D convolution"
    if not all(isinstance(d, int) for d in w.shape):
        return f"the weight has a dynamic shape {tuple(w.shape)} (kernels must be static)"
    if not isinstance(x.shape[x.dim() - nd - 1], int):
        return "the input channel dim is dynamic (TensorRT needs static channels)"
    if arg_val(node, "transposed"):
        if not _is_constant(node, "weight"):
            return (
                "transposed convolution with a non-constant weight (needs constant kernel weights)"
            )
        # TensorRT-RTX 1.7.1 fails the build: "Strided & Dilated Deconv are currently not
        # supported" (checked with stride 2, dilation 2).
        if max(arg_val(node, "stride")) > 1 and max(arg_val(node, "dilation")) > 1:
            return "transposed convolution with both stride > 1 and dilation > 1"
        # Myelin "Could not infer output types" for a bf16 deconvolution, with Weights or a
        # kernel tensor alike (TensorRT-RTX 1.7.1).
        if x.dtype == torch.bfloat16:
            return "bfloat16 transposed convolution (TensorRT cannot build it)"
    return None


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(value.shape)


def _as_2d(ctx: ConversionContext, weight: Any, params: list[list[int]]) -> Any:
    # conv1d as conv2d: kernel (..., 1, k); every per-dim parameter gets a neutral H entry
    # (stride 1, padding 0, dilation 1, output_padding 0).
    for p, neutral in zip(params, (1, 0, 1, 0), strict=True):
        p.insert(0, neutral)
    shape = (*_shape(weight)[:2], 1, _shape(weight)[2])
    if isinstance(weight, torch.Tensor):
        return weight.reshape(shape)
    return ctx.reshape(weight, shape)


@converter(
    aten.convolution.default,
    check=_check_convolution,
    dynamic=True,
    host_args=("weight", "bias"),
)
def convert_convolution(
    ctx: ConversionContext,
    input: Any,
    weight: Any,
    bias: Any,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    output_padding: Sequence[int],
    groups: int,
) -> Any:
    """N-D (transposed) convolution: IConvolutionLayer or IDeconvolutionLayer."""
    dtype = ctx.out.dtype
    nd = len(_shape(weight)) - 2
    params = [_expand(v, nd) for v in (stride, padding, dilation, output_padding)]
    x = ctx.cast(input, dtype)
    unbatched = len(ctx.shape(x)) == nd + 1
    if unbatched:
        x = ctx.reshape(x, (1, *_dims(ctx, x)))
    if nd == 1:
        n, c, length = _dims(ctx, x)
        x = ctx.reshape(x, (n, c, 1, length))
        weight = _as_2d(ctx, weight, params)
    if transposed:
        y = _deconvolution(ctx, x, weight, bias, params, groups)
    else:
        y, layer = _convolution(ctx, x, weight, bias, params, groups)
        if layer is not None and not unbatched:  # unbatched: channels are not dim 1
            assert ctx.node is not None
            ctx.foldable[ctx.node.name] = FoldableConv(layer, weight, bias, dtype, y)
    if nd == 1 or unbatched:
        # Drop the H dim added for conv1d, then the batch dim added for an unbatched input.
        dims = _dims(ctx, y)
        if nd == 1:
            del dims[2]
        if unbatched:
            del dims[0]
        y = ctx.reshape(y, dims)
        if ctx.node is not None and ctx.node.name in ctx.foldable:
            ctx.foldable[ctx.node.name].output = y
    return y


@dataclasses.dataclass
class FoldableConv:
    """A convolution whose kernel and bias are host weights, so that a per-output-channel affine
    map applied to its output (inference batch norm) can be folded into them."""

    layer: Any
    weight: torch.Tensor  # as given to the layer (conv1d: the (K, C, 1, k) view)
    bias: torch.Tensor | None
    dtype: torch.dtype
    output: Any  # the ITensor the converter returned


def fold_affine(ctx: ConversionContext, x: Any, scale: torch.Tensor, shift: torch.Tensor) -> bool:
    """Fold ``x * scale + shift`` (per channel of dim 1) into the convolution that produced ``x``.

    Folds only when the current node's ``input`` is a convolution converted in this network with
    host weights, read by nothing else, of the current node's dtype. The new kernel and bias are
    computed in float64 and rounded once: ``w' = w * scale``, ``b' = b * scale + shift``.

    Returns:
        True when folded (``x`` is then the affine map's result), False otherwise.
    """
    assert ctx.node is not None
    producer = node_args(ctx.node)["input"]
    rec = ctx.foldable.get(producer.name) if isinstance(producer, fx.Node) else None
    if rec is None or rec.output is not x or len(producer.users) != 1:
        return False
    if rec.dtype != ctx.out.dtype or tuple(scale.shape) != (rec.weight.shape[0],):
        return False
    # Start from the weights the autocast rounded to low precision, if it did: round once.
    args = node_args(producer)
    weight = _unrounded(args["weight"], rec.weight)
    kernel = _scaled_kernel(weight, scale.double(), rec.dtype)
    conv_bias = None if rec.bias is None else _unrounded(args["bias"], rec.bias)
    bias = shift.double() if conv_bias is None else conv_bias.double() * scale + shift
    ctx.set_weights(rec.layer, "kernel", kernel, rec.dtype)
    ctx.set_weights(rec.layer, "bias", bias, rec.dtype)
    del ctx.foldable[producer.name]  # its output is now the folded value
    return True


def _unrounded(arg: Any, value: torch.Tensor) -> torch.Tensor:
    """The tensor the autocast rounded the constant ``arg`` (holding ``value``) from, in
    ``value``'s shape; ``value`` itself when it was not rounded."""
    source = arg.meta.get(ROUNDED_FROM_KEY) if isinstance(arg, fx.Node) else None
    if not isinstance(source, torch.Tensor) or source.numel() != value.numel():
        return value
    return source.reshape(value.shape)


def _scaled_kernel(weight: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``weight * scale`` per output channel, computed in float64 and rounded once to ``dtype``,
    a few channels at a time so that no float64 copy of a whole kernel is ever made."""
    out = torch.empty(weight.shape, dtype=dtype)
    view = (-1,) + (1,) * (weight.dim() - 1)
    step = max(1, (1 << 22) // max(weight[0].numel(), 1))  # at most 32 MB of float64
    for i in range(0, weight.shape[0], step):
        rows = slice(i, i + step)
        out[rows] = weight[rows].double().mul_(scale[rows].reshape(view))
    return out


def _dims(ctx: ConversionContext, t: Any) -> list[Any]:
    """The dims of ``t``: ints where static, (1,) int64 size tensors where dynamic."""
    return [d if d >= 0 else ctx.dim(t, i) for i, d in enumerate(ctx.shape(t))]


def _expand(value: Sequence[int], nd: int) -> list[int]:
    values = list(value)
    return values * nd if len(values) == 1 else values


def _set_kernel(ctx: ConversionContext, layer: Any, weight: Any, dtype: torch.dtype) -> bool:
    """Give ``layer`` (made with empty kernel weights) its kernel: host weights in ``dtype``
    when it is a torch tensor (True), else an ITensor as layer input 1 (False)."""
    if isinstance(weight, torch.Tensor):
        ctx.set_weights(layer, "kernel", weight, dtype)
        return True
    layer.set_input(1, ctx.itensor(weight, dtype))
    return False


def _convolution(
    ctx: ConversionContext,
    x: Any,
    weight: Any,
    bias: Any,
    params: list[list[int]],
    groups: int,
) -> tuple[Any, Any]:
    """The output, and the layer when its kernel and bias are host weights (foldable)."""
    stride, padding, dilation, _ = params
    dtype = ctx.out.dtype
    empty = ctx.trt.Weights(trt_dtype(dtype))
    layer = ctx.net.add_convolution_nd(x, _shape(weight)[0], _shape(weight)[2:], empty, None)
    host_kernel, host_bias = _set_kernel(ctx, layer, weight, dtype), isinstance(bias, torch.Tensor)
    if host_bias:
        ctx.set_weights(layer, "bias", bias, dtype)
    layer.stride_nd = tuple(stride)
    layer.padding_nd = tuple(padding)
    layer.dilation_nd = tuple(dilation)
    layer.num_groups = groups
    y = layer.get_output(0)
    if bias is not None and not host_bias:
        return _add_bias(ctx, y, bias), None
    return y, (layer if host_kernel else None)


def _deconvolution(
    ctx: ConversionContext,
    x: Any,
    weight: Any,
    bias: Any,
    params: list[list[int]],
    groups: int,
) -> Any:
    # Torch output = (I-1)S - 2p + DK + output_padding = TensorRT's with pre=p, post=p-op. A
    # negative post-padding is refused by TensorRT with only an error log, so when op > p the
    # missing rows are appended as zeros: they lie beyond the full transposed extent and hold
    # only the bias in torch, so the bias is then added after the padding.
    stride, padding, dilation, out_pad = params
    dtype = ctx.out.dtype
    extra = [max(op - p, 0) for p, op in zip(padding, out_pad, strict=True)]
    k_out = _shape(weight)[1] * groups
    empty = ctx.trt.Weights(trt_dtype(dtype))
    layer = ctx.net.add_deconvolution_nd(x, k_out, _shape(weight)[2:], empty, None)
    _set_kernel(ctx, layer, weight, dtype)
    late_bias = bias is not None and (any(extra) or not isinstance(bias, torch.Tensor))
    if not late_bias and bias is not None:
        ctx.set_weights(layer, "bias", bias, dtype)
    layer.stride_nd = tuple(stride)
    layer.dilation_nd = tuple(dilation)
    layer.num_groups = groups
    layer.pre_padding = tuple(padding)
    layer.post_padding = tuple(p - op + e for p, op, e in zip(padding, out_pad, extra, strict=True))
    y = layer.get_output(0)
    for i, e in enumerate(extra):
        if e:
            y = _zero_pad_end(ctx, y, 2 + i, e)
    if late_bias:
        y = _add_bias(ctx, y, bias)
    return y


def _zero_pad_end(ctx: ConversionContext, y: Any, dim: int, count: int) -> Any:
    # A FILL-mode slice reading past the end of ``dim`` appends zeros; its size may be a shape
    # tensor, so this works when other dims (or ``dim`` itself) are dynamic.
    rank = len(ctx.shape(y))
    size = _dims(ctx, y)
    d = size[dim]
    size[dim] = d + count if isinstance(d, int) else ctx.elementwise(d, ctx.sym(count), "SUM")
    layer = ctx.net.add_slice(y, (0,) * rank, (1,) * rank, (1,) * rank)
    if all(isinstance(v, int) for v in size):
        layer.shape = tuple(size)
    else:
        layer.set_input(2, ctx.shape_tensor(size))
    layer.mode = ctx.trt.SampleMode.FILL
    layer.set_input(4, ctx.constant(torch.zeros(()), ctx.dtype(y)))
    return layer.get_output(0)


def _add_bias(ctx: ConversionContext, y: Any, bias: Any) -> Any:
    # Per-output-channel bias broadcast as (1, K, 1, ...) over an N-C-spatial tensor.
    rank = len(ctx.shape(y))
    shape = (1, -1) + (1,) * (rank - 2)
    if isinstance(bias, torch.Tensor):
        b = ctx.constant(bias.reshape(shape), ctx.dtype(y))
    else:
        b = ctx.reshape(ctx.cast(bias, ctx.dtype(y)), shape)
    return ctx.elementwise(y, b, "SUM")
