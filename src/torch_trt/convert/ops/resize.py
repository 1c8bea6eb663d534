"""Converters: upsampling (nearest, nearest-exact, linear, bilinear, bicubic, trilinear) as
IResizeLayer.

One table maps each overload to its TensorRT mode and spatial rank; one converter sets the
coordinate mapping that reproduces torch's:

* ``nearest``: src = floor(dst · L_in/L_out) = ASYMMETRIC + FLOOR.
* ``nearest-exact``: src = floor((dst + 0.5) · L_in/L_out) = HALF_PIXEL + HALF_UP (round
  (dst + 0.5)·L_in/L_out − 0.5 half up).
* linear / bilinear / trilinear / bicubic: ALIGN_CORNERS when ``align_corners`` (torch samples
  coordinate 0 when an output length is 1: selector UPPER), else HALF_PIXEL; TensorRT's CUBIC
  coefficient −0.75 is torch's bicubic A, and both read taps past the border as the border pixel.

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

# overload -> (torch mode, spatial dims)
_RESIZE: dict[Any, tuple[str, int]] = {}
for _name, _mode, _nd in (
    ("upsample_nearest1d", "nearest", 1),
    ("upsample_nearest2d", "nearest", 2),
    ("upsample_nearest3d", "nearest", 3),
    ("_upsample_nearest_exact1d", "nearest-exact", 1),
    ("_upsample_nearest_exact2d", "nearest-exact", 2),
    ("_upsample_nearest_exact3d", "nearest-exact", 3),
    ("upsample_linear1d", "linear", 1),
    ("upsample_bilinear2d", "linear", 2),
    ("upsample_trilinear3d", "linear", 3),
    ("upsample_bicubic2d", "cubic", 2),
):
    _packet = getattr(aten, _name)
    _RESIZE[_packet.vec] = (_mode, _nd)
    _RESIZE[_packet.default] = (_mode, _nd)


def _scales(args: dict[str, Any], nd: int) -> list[float | None]:
    """The per-dim scale torch uses for coordinates (None: the length ratio)."""
    if "scale_factors" in args:
        factors = args["scale_factors"]
        return [None] * nd if factors is None else [float(f) for f in factors]
    if "scales" in args:
        return [args["scales"]]
    return [args[f"scales_{d}"] for d in "dhw"[3 - nd :]]


def _check_resize(node: fx.Node) -> str | None:
    _, nd = _RESIZE[node.target]
    args = node_args(node)
    x = args["input"] if "input" in args else args["self"]
    xv, out = x.meta["val"], node.meta["val"]
    if xv.dtype not in _FLOAT:
        return f"resize needs a float input, got {xv.dtype}"
    if xv.dim() != nd + 2:
        return f"rank-{xv.dim()} input ({nd}-D upsampling needs N, C and {nd} spatial dims)"
    if not all(isinstance(d, int) for d in out.shape[2:]):
        return (
            f"dynamic output spatial size {tuple(out.shape[2:])} (resize needs static output "
            "sizes; only batch and channel may be dynamic)"
        )
    if args.get("align_corners", False):
        return None  # torch ignores the scale with align_corners=True
    scales = _scales(args, nd)
    if not all(isinstance(d, int) for d in xv.shape[2:]) and any(s is not None for s in scales):
        return "scale factors with dynamic input spatial dims (pass size= instead)"
    for n_in, n_out, scale in zip(xv.shape[2:], out.shape[2:], scales, strict=True):
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
    if mode == "nearest":
        layer.resize_mode = trt.InterpolationMode.NEAREST
        layer.coordinate_transformation = trt.ResizeCoordinateTransformation.ASYMMETRIC
        layer.nearest_rounding = trt.ResizeRoundMode.FLOOR
    elif mode == "nearest-exact":
        layer.resize_mode = trt.InterpolationMode.NEAREST
        layer.coordinate_transformation = trt.ResizeCoordinateTransformation.HALF_PIXEL
        layer.nearest_rounding = trt.ResizeRoundMode.HALF_UP
    else:
        cubic = mode == "cubic"
        layer.resize_mode = trt.InterpolationMode.CUBIC if cubic else trt.InterpolationMode.LINEAR
        if cubic:
            layer.cubic_coeff = -0.75
            layer.exclude_outside = False
        if align_corners:
            layer.coordinate_transformation = trt.ResizeCoordinateTransformation.ALIGN_CORNERS
            # torch samples coordinate 0 when an output length is 1 (its scale is 0).
            layer.selector_for_single_pixel = trt.ResizeSelector.UPPER
        else:
            layer.coordinate_transformation = trt.ResizeCoordinateTransformation.HALF_PIXEL
            layer.selector_for_single_pixel = trt.ResizeSelector.FORMULA
    return layer.get_output(0)


def _targets(overload: str, nearest: bool) -> list[Any]:
    return [
        t
        for t, (mode, _) in _RESIZE.items()
        if t._overloadname == overload and mode.startswith("nearest") == nearest
    ]


def _node_mode(ctx: ConversionContext) -> str:
    assert ctx.node is not None
    return _RESIZE[ctx.node.target][0]


@converter(*_targets("vec", nearest=True), check=_check_resize, dynamic=True)
def convert_upsample_nearest_vec(
    ctx: ConversionContext,
    input: Any,
    output_size: Sequence[int] | None,
    scale_factors: Sequence[float] | None,
) -> Any:
    """Nearest / nearest-exact upsampling to a size or by scale factors (scale factors only
    where in · scale is the output size); static output spatial sizes."""
    return _resize(ctx, input, _node_mode(ctx), False)


@converter(*_targets("default", nearest=True), check=_check_resize, dynamic=True)
def convert_upsample_nearest(
    ctx: ConversionContext,
    self: Any,
    output_size: Sequence[int],
    scales: float | None = None,
    scales_d: float | None = None,
    scales_h: float | None = None,
    scales_w: float | None = None,
) -> Any:
    """Nearest / nearest-exact upsampling to ``output_size`` (a given scale only where
    in · scale is the output size); static output spatial sizes."""
    return _resize(ctx, self, _node_mode(ctx), False)


@converter(*_targets("vec", nearest=False), check=_check_resize, dynamic=True)
def convert_upsample_interp_vec(
    ctx: ConversionContext,
    input: Any,
    output_size: Sequence[int] | None,
    align_corners: bool,
    scale_factors: Sequence[float] | None,
) -> Any:
    """Linear / bilinear / trilinear / bicubic upsampling to a size or by scale factors (scale
    factors only with align_corners or where in · scale is the output size); static output
    spatial sizes."""
    return _resize(ctx, input, _node_mode(ctx), align_corners)


@converter(*_targets("default", nearest=False), check=_check_resize, dynamic=True)
def convert_upsample_interp(
    ctx: ConversionContext,
    self: Any,
    output_size: Sequence[int],
    align_corners: bool,
    scales: float | None = None,
    scales_d: float | None = None,
    scales_h: float | None = None,
    scales_w: float | None = None,
) -> Any:
    """Linear / bilinear / trilinear / bicubic upsampling to ``output_size`` (a given scale only
    with align_corners or where in · scale is the output size); static output spatial sizes."""
    return _resize(ctx, self, _node_mode(ctx), align_corners)


# -- antialiased bilinear / bicubic: one constant matrix per resized dim --------------------------
# torch's antialiased resize is separable and linear in the input: along each dim, output i is a
# normalized filter over the inputs near center = scale · (i + 0.5), the filter stretched by the
# scale when downsampling (PIL's resampling). With static sizes each dim is a constant (O, I)
# matrix, computed here from that definition, and the resize is y = A_h · x · A_wᵀ.
_AA: dict[Any, int] = {
    aten._upsample_bilinear2d_aa.vec: 2,
    aten._upsample_bilinear2d_aa.default: 2,
    aten._upsample_bicubic2d_aa.vec: 4,
    aten._upsample_bicubic2d_aa.default: 4,
}


def _aa_filter(x: float, taps: int) -> float:
    x = abs(x)
    if taps == 2:  # triangle
        return max(0.0, 1.0 - x)
    a = -0.5  # torch's antialiased bicubic uses Keys' kernel with A = -0.5 (as PIL)
    if x < 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    if x < 2:
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return 0.0


def _aa_matrix(n_in: int, n_out: int, taps: int, align: bool, given: float | None) -> torch.Tensor:
    """The (n_out, n_in) antialiased interpolation matrix of one dim."""
    if align:
        scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        scale = 1.0 / given if given is not None and given > 0 else n_in / n_out
    support = taps / 2 * scale if scale >= 1 else taps / 2
    inv = 1.0 / scale if scale >= 1 else 1.0
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        w = [_aa_filter((j - center + 0.5) * inv, taps) for j in range(lo, hi)]
        total = sum(w)
        if total != 0:
            m[i, lo:hi] = torch.tensor(w, dtype=torch.float64) / total
    return m


def _check_aa(node: fx.Node) -> str | None:
    args = node_args(node)
    x = args["input"] if "input" in args else args["self"]
    xv, out = x.meta["val"], node.meta["val"]
    if xv.dtype not in _FLOAT:
        return f"resize needs a float input, got {xv.dtype}"
    if xv.dim() != 4:
        return f"rank-{xv.dim()} input (2-D upsampling needs NCHW)"
    if not all(isinstance(d, int) for d in (*xv.shape[2:], *out.shape[2:])):
        return "antialiased resize with dynamic spatial sizes (its filters need static sizes)"
    return None


def _resize_aa(
    ctx: ConversionContext, x: Any, align_corners: bool, scales: Sequence[float | None]
) -> Any:
    assert ctx.node is not None
    taps = _AA[ctx.node.target]
    dtype = ctx.out.dtype
    (h, w), (oh, ow) = ctx.shape(x)[2:], tuple(int(d) for d in ctx.out.shape[2:])
    a_h = _aa_matrix(h, oh, taps, align_corners, scales[0]).reshape(1, 1, oh, h)
    a_w = _aa_matrix(w, ow, taps, align_corners, scales[1]).T.reshape(1, 1, w, ow)
    none = ctx.trt.MatrixOperation.NONE
    y = ctx.cast(x, torch.float32)
    y = ctx.net.add_matrix_multiply(ctx.constant(a_h, torch.float32), none, y, none)
    y = ctx.net.add_matrix_multiply(y.get_output(0), none, ctx.constant(a_w, torch.float32), none)
    return ctx.cast(y.get_output(0), dtype)


@converter(
    aten._upsample_bilinear2d_aa.vec, aten._upsample_bicubic2d_aa.vec, check=_check_aa, dynamic=True
)
def convert_upsample_aa_vec(
    ctx: ConversionContext,
    input: Any,
    output_size: Sequence[int] | None,
    align_corners: bool,
    scale_factors: Sequence[float] | None,
) -> Any:
    """Antialiased bilinear / bicubic resize as two matmuls with constant filter matrices;
    static spatial sizes."""
    scales = list(scale_factors) if scale_factors is not None else [None, None]
    return _resize_aa(ctx, input, align_corners, scales)


@converter(
    aten._upsample_bilinear2d_aa.default,
    aten._upsample_bicubic2d_aa.default,
    check=_check_aa,
    dynamic=True,
)
def convert_upsample_aa(
    ctx: ConversionContext,
    self: Any,
    output_size: Sequence[int],
    align_corners: bool,
    scales_h: float | None = None,
    scales_w: float | None = None,
) -> Any:
    """Antialiased bilinear / bicubic resize to ``output_size`` as two matmuls with constant
    filter matrices; static spatial sizes."""
    return _resize_aa(ctx, self, align_corners, [scales_h, scales_w])
