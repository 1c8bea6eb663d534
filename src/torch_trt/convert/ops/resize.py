"""Converters: nearest and bilinear 2-D upsampling (IResizeLayer).

Torch maps output to input coordinates with input/output lengths, except that a given scale
factor replaces the ratio by 1/scale (align_corners=False). TensorRT's documented formulas use
lengths, so scale-factor forms convert only when in * scale is the output length exactly, which
makes both ratios equal.

Dynamic shapes: batch and channel may be symbolic (the output shape is then a shape tensor of the
input's leading dims and the static output sizes); output spatial sizes must be static.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import converter, node_args

aten = torch.ops.aten

# IResizeLayer takes f32, f16, bf16 and int8 (not int32, int64 or bool).
_FLOAT = (torch.float32, torch.float16, torch.bfloat16)


def _scales(args: dict[str, Any]) -> list[float | None]:
    """The per-dim scale torch uses for coordinates (None: the length ratio)."""
    if "scale_factors" in args:
        factors = args["scale_factors"]
        return [None, None] if factors is None else [float(f) for f in factors]
    return [args["scales_h"], args["scales_w"]]


def _check_resize(node: fx.Node) -> str | None:
    args = node_args(node)
    x = args["input"] if "input" in args else args["self"]
    xv, out = x.meta["val"], node.meta["val"]
    if xv.dtype not in _FLOAT:
        return f"resize needs a float input, got {xv.dtype}"
    if xv.dim() != 4:
        return f"rank-{xv.dim()} input (2-D upsampling needs NCHW)"
    if not all(isinstance(d, int) for d in out.shape[2:]):
        return (
            f"dynamic output spatial size {tuple(out.shape[2:])} (resize needs static output "
            "sizes; only batch and channel may be dynamic)"
        )
    if args.get("align_corners", False):
        return None  # torch ignores the scale with align_corners=True
    if not all(isinstance(d, int) for d in xv.shape[2:]) and any(
        s is not None for s in _scales(args)
    ):
        return "scale factors with dynamic input spatial dims (pass size= instead)"
    for n_in, n_out, scale in zip(xv.shape[2:], out.shape[2:], _scales(args), strict=True):
        if scale is not None and n_in * scale != n_out:
            return (
                f"scale_factor {scale} with input size {n_in} gives output {n_out}: torch maps "
                "coordinates by 1/scale_factor, TensorRT by the size ratio (pass size= instead)"
            )
    return None


def _resize(ctx: ConversionContext, x: Any, mode: str, align_corners: bool) -> Any:
    trt = ctx.trt
    layer = ctx.net.add_resize(ctx.cast(x, ctx.out.dtype))
    out = ctx.out.shape
    if all(isinstance(d, int) for d in out):
        layer.shape = tuple(out)
    else:  # symbolic batch/channel (checked): the same size tensors as the input's
        lead = [ctx.dim(x, i) if not isinstance(out[i], int) else out[i] for i in range(2)]
        layer.set_input(1, ctx.shape_tensor([*lead, *out[2:]]))
    if mode == "NEAREST":
        # torch "nearest": floor(x_out * L_in / L_out) = ASYMMETRIC + FLOOR.
        layer.resize_mode = trt.InterpolationMode.NEAREST
        layer.coordinate_transformation = trt.ResizeCoordinateTransformation.ASYMMETRIC
        layer.nearest_rounding = trt.ResizeRoundMode.FLOOR
    else:
        layer.resize_mode = trt.InterpolationMode.LINEAR
        if align_corners:
            layer.coordinate_transformation = trt.ResizeCoordinateTransformation.ALIGN_CORNERS
            # torch samples coordinate 0 when an output length is 1 (its scale is 0).
            layer.selector_for_single_pixel = trt.ResizeSelector.UPPER
        else:
            layer.coordinate_transformation = trt.ResizeCoordinateTransformation.HALF_PIXEL
            layer.selector_for_single_pixel = trt.ResizeSelector.FORMULA
    return layer.get_output(0)


@converter(aten.upsample_nearest2d.vec, check=_check_resize, dynamic=True)
def convert_upsample_nearest2d_vec(
    ctx: ConversionContext,
    input: Any,
    output_size: Sequence[int] | None,
    scale_factors: Sequence[float] | None,
) -> Any:
    """Nearest upsampling given a size or scale factors."""
    return _resize(ctx, input, "NEAREST", False)


@converter(aten.upsample_nearest2d.default, check=_check_resize, dynamic=True)
def convert_upsample_nearest2d(
    ctx: ConversionContext,
    self: Any,
    output_size: Sequence[int],
    scales_h: float | None = None,
    scales_w: float | None = None,
) -> Any:
    """Nearest upsampling to ``output_size``."""
    return _resize(ctx, self, "NEAREST", False)


@converter(aten.upsample_bilinear2d.vec, check=_check_resize, dynamic=True)
def convert_upsample_bilinear2d_vec(
    ctx: ConversionContext,
    input: Any,
    output_size: Sequence[int] | None,
    align_corners: bool,
    scale_factors: Sequence[float] | None,
) -> Any:
    """Bilinear upsampling given a size or scale factors."""
    return _resize(ctx, input, "LINEAR", align_corners)


@converter(aten.upsample_bilinear2d.default, check=_check_resize, dynamic=True)
def convert_upsample_bilinear2d(
    ctx: ConversionContext,
    self: Any,
    output_size: Sequence[int],
    align_corners: bool,
    scales_h: float | None = None,
    scales_w: float | None = None,
) -> Any:
    """Bilinear upsampling to ``output_size``."""
    return _resize(ctx, self, "LINEAR", align_corners)
