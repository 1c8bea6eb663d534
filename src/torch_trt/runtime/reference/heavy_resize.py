"""Reference readers and evaluators: resize, parametric ReLU and scale layers.

Resize follows TensorRT's Resize operator page and ``IResizeLayer`` docstrings: one output
coordinate maps back per dim with ALIGN_CORNERS x·(L_in−1)/(L_out−1), ASYMMETRIC x·L_in/L_out or
HALF_PIXEL (x+0.5)·L_in/L_out − 0.5, using lengths even when ``scales`` set the output size (the
documented formula; whether TensorRT uses the scale instead is unverified). Each resized dim is
interpolated in turn (separable), which is exact for NEAREST, (multi)linear and cubic. Choices:

* NEAREST rounds with ``nearest_rounding`` (HALF_UP = floor(x+0.5), HALF_DOWN = ceil(x−0.5)) and
  clamps the index into the input.
* LINEAR clamps the sampled indices into the input, which equals clamping the coordinate.
* CUBIC uses Keys' kernel with ``cubic_coeff`` A over the 4 neighbours, indices clamped into the
  input (border replicate); ``exclude_outside`` zeroes out-of-input neighbours and renormalizes.
* ``selector_for_single_pixel=UPPER`` maps every coordinate to 0 when the output length is 1;
  with FORMULA, ALIGN_CORNERS and an output length of 1 also use 0 (the formula divides by 0).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from torch_trt.runtime.reference.data import Args, need
from torch_trt.runtime.reference.heavy_nn import compute_dtype
from torch_trt.runtime.reference.program import (
    LayerRecord,
    ReferenceError,
    dims,
    enum_name,
    evaluator,
    layer_kind,
    weights_tensor,
)

# --- RESIZE -----------------------------------------------------------------------------------


@layer_kind("RESIZE", "IResizeLayer")
def read_resize(layer: Any) -> dict[str, Any]:
    """Mode, coordinate mapping, rounding, cubic settings and the static shape or scales."""
    dynamic = layer.num_inputs > 1 and layer.get_input(1) is not None
    scales = [] if dynamic else [float(s) for s in layer.scales]
    # Reading `shape` on a dynamic resize logs an ERROR, so only read it for static ones.
    shape = None if dynamic or scales else dims(layer.shape)
    return {
        "resize_mode": enum_name(layer.resize_mode),
        "coordinate_transformation": enum_name(layer.coordinate_transformation),
        "selector_for_single_pixel": enum_name(layer.selector_for_single_pixel),
        "nearest_rounding": enum_name(layer.nearest_rounding),
        "exclude_outside": bool(layer.exclude_outside),
        "cubic_coeff": float(layer.cubic_coeff),
        "shape": shape,
        "scales": tuple(scales),
    }


def _output_shape(record: LayerRecord, x: torch.Tensor, inputs: Args) -> list[int]:
    a = record.attrs
    if len(inputs) > 1 and inputs[1] is not None:
        return [int(v) for v in inputs[1].reshape(-1).tolist()]
    if a["scales"]:
        if len(a["scales"]) != x.dim():
            raise ReferenceError(
                f"layer {record.name!r}: {len(a['scales'])} scales for a rank-{x.dim()} input"
            )
        return [math.floor(n * s) for n, s in zip(x.shape, a["scales"], strict=True)]
    if a["shape"] is None:
        raise ReferenceError(f"layer {record.name!r}: resize has no shape, scales or input 1")
    return list(a["shape"])


def _source_coords(a: dict[str, Any], n_in: int, n_out: int, dev: torch.device) -> torch.Tensor:
    x = torch.arange(n_out, dtype=torch.float64, device=dev)
    mode = a["coordinate_transformation"]
    if n_out == 1 and (a["selector_for_single_pixel"] == "UPPER" or mode == "ALIGN_CORNERS"):
        return torch.zeros_like(x)
    if mode == "ALIGN_CORNERS":
        return x * ((n_in - 1) / (n_out - 1))
    if mode == "ASYMMETRIC":
        return x * (n_in / n_out)
    if mode == "HALF_PIXEL":
        return (x + 0.5) * (n_in / n_out) - 0.5
    raise ReferenceError(f"unknown resize coordinate transformation {mode}")


def _round(coord: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "FLOOR":
        return torch.floor(coord)
    if mode == "CEIL":
        return torch.ceil(coord)
    if mode == "HALF_UP":
        return torch.floor(coord + 0.5)
    if mode == "HALF_DOWN":
        return torch.ceil(coord - 0.5)
    raise ReferenceError(f"unknown resize rounding mode {mode}")


def _cubic_weights(t: torch.Tensor, coeff: float) -> torch.Tensor:
    # Keys' cubic convolution kernel at distances 1+t, t, 1−t, 2−t from the 4 neighbours.
    d = torch.stack([1 + t, t, 1 - t, 2 - t], dim=-1).abs()
    near = ((coeff + 2) * d - (coeff + 3)) * d * d + 1
    far = ((coeff * d - 5 * coeff) * d + 8 * coeff) * d - 4 * coeff
    return torch.where(d <= 1, near, torch.where(d < 2, far, torch.zeros_like(d)))


def _resize_dim(a: dict[str, Any], x: torch.Tensor, dim: int, n_out: int) -> torch.Tensor:
    n_in = x.shape[dim]
    coord = _source_coords(a, n_in, n_out, x.device)
    mode = a["resize_mode"]
    if mode == "NEAREST":
        idx = _round(coord, a["nearest_rounding"]).long().clamp(0, n_in - 1)
        return x.index_select(dim, idx)
    base = torch.floor(coord)
    t = coord - base
    if mode == "LINEAR":
        offsets, w = [0, 1], torch.stack([1 - t, t], dim=-1)
    elif mode == "CUBIC":
        offsets, w = [-1, 0, 1, 2], _cubic_weights(t, a["cubic_coeff"])
    else:
        raise ReferenceError(f"unknown resize mode {mode}")
    idx = torch.stack([base.long() + o for o in offsets], dim=-1)
    if mode == "CUBIC" and a["exclude_outside"]:
        w = torch.where((idx >= 0) & (idx < n_in), w, torch.zeros_like(w))
        w = w / w.sum(dim=-1, keepdim=True)
    idx = idx.clamp(0, n_in - 1)
    # Gather the neighbours along `dim` and contract with the weights.
    picked = x.index_select(dim, idx.reshape(-1)).movedim(dim, -1)
    picked = picked.reshape(*picked.shape[:-1], n_out, len(offsets))
    y = (picked * w.to(x.dtype)).sum(dim=-1)
    return y.movedim(-1, dim)


@evaluator("RESIZE")
def evaluate_resize(record: LayerRecord, inputs: Args) -> list[torch.Tensor]:
    """Interpolate every dim whose size changes, one dim at a time."""
    x = need(inputs, 0, record)
    out_shape = _output_shape(record, x, inputs)
    if len(out_shape) != x.dim():
        raise ReferenceError(f"layer {record.name!r}: resize shape {out_shape} for rank {x.dim()}")
    y = x.to(torch.float64 if x.dtype == torch.float64 else compute_dtype(x))
    if not y.is_floating_point():
        y = y.to(torch.float32)
    for d, n_out in enumerate(out_shape):
        if n_out != x.shape[d]:
            y = _resize_dim(record.attrs, y, d, n_out)
    return [y.to(record.output_dtypes[0])]


# --- PARAMETRIC_RELU --------------------------------------------------------------------------


@layer_kind("PARAMETRIC_RELU", "IParametricReLULayer")
def read_parametric_relu(layer: Any) -> dict[str, Any]:
    """No attributes: the slopes are input 1."""
    return {}


@evaluator("PARAMETRIC_RELU")
def evaluate_parametric_relu(record: LayerRecord, inputs: Args) -> list[torch.Tensor]:
    """x where x ≥ 0, else slope·x; slopes broadcast from equal rank."""
    x, slope = need(inputs, 0, record), need(inputs, 1, record)
    y = torch.where(x >= 0, x, x * slope)
    return [y.to(record.output_dtypes[0])]


# --- SCALE ------------------------------------------------------------------------------------


@layer_kind("SCALE", "IScaleLayer")
def read_scale(layer: Any) -> dict[str, Any]:
    """Mode, channel axis and the flat shift/scale/power weights (empty = default)."""
    return {
        "mode": enum_name(layer.mode),
        "channel_axis": int(layer.channel_axis),
        "shift": weights_tensor(layer.shift, role="shift"),
        "scale": weights_tensor(layer.scale, role="scale"),
        "power": weights_tensor(layer.power, role="power"),
    }


@evaluator("SCALE")
def evaluate_scale(record: LayerRecord, inputs: Args) -> list[torch.Tensor]:
    """(x·scale + shift)^power per tensor (UNIFORM), per channel (CHANNEL) or per element.

    CHANNEL weights run along ``channel_axis``; ELEMENTWISE weights cover the dims from
    ``channel_axis`` on. Empty weights default to scale 1, shift 0, power 1.
    """
    x = need(inputs, 0, record)
    a = record.attrs
    dtype = compute_dtype(x)
    axis = a["channel_axis"]
    if a["mode"] == "UNIFORM":
        shape: tuple[int, ...] = ()
    elif a["mode"] == "CHANNEL":
        shape = (x.shape[axis], *([1] * (x.dim() - axis - 1)))
    else:
        shape = tuple(x.shape[axis:])

    def coef(name: str, default: float) -> torch.Tensor | float:
        w: torch.Tensor = a[name]
        return default if w.numel() == 0 else w.to(x.device, dtype).reshape(shape)

    y = x.to(dtype) * coef("scale", 1.0) + coef("shift", 0.0)
    power = coef("power", 1.0)
    if not (isinstance(power, float) and power == 1.0):
        y = y**power
    return [y.to(record.output_dtypes[0])]
