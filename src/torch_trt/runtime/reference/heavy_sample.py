"""Reference reader and evaluator: grid sample (IGridSampleLayer).

Written from TensorRT's GridSample operator page, the ``IGridSampleLayer`` docstring and the
ONNX GridSample definition that TensorRT's ONNX parser maps onto this layer:

* The input is (N, C, D1..Dr) with r = 2 or 3 (the docstring: rank 4 or 5) and the grid
  (N, O1..Or, r); the output is (N, C, O1..Or). The last grid entry holds normalized coordinates
  in reverse dim order: entry 0 is the innermost (width) dim, entry 1 the height, entry 2 depth.
* A normalized g in [-1, 1] maps to a pixel coordinate x = (g + 1)/2 · (L − 1) with
  ``align_corners`` (the extrema are the centres of the corner pixels), else
  x = ((g + 1)·L − 1)/2 (the extrema are the outer edges of the corner pixels) [ONNX].
* ``sample_mode`` handles a coordinate outside the pixel range, [0, L − 1] with align_corners,
  else [−0.5, L − 0.5] [ONNX]: CLAMP takes the border value (the coordinate is clamped to
  [0, L − 1]); REFLECT reflects it by the borders until it lies inside ("x = −3.5 reflects by −1
  to 1.5, then by 1 to 0.5" [ONNX]); FILL leaves it. Each interpolation tap outside [0, L − 1]
  then reads 0 (FILL), the nearest border pixel (CLAMP) or the reflected pixel (REFLECT). The
  operator page's example (3x3 input, LINEAR, FILL, align_corners off) is a test of exactly this:
  a sample outside the range still mixes in its in-range taps.
* NEAREST rounds half to even [ONNX] (then applies the sample mode); LINEAR is N-linear on the 2
  taps per dim; CUBIC is Keys' convolution with A = −0.75 on 4 taps per dim [ONNX reference;
  TensorRT's Resize documents the same coefficient], **unverified** on TensorRT itself.
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
    enum_name,
    evaluator,
    layer_kind,
)

# The taps (offsets from floor(x)) each interpolation mode reads per dim.
_TAPS = {"NEAREST": (0,), "LINEAR": (0, 1), "CUBIC": (-1, 0, 1, 2)}
_A = -0.75


@layer_kind("GRID_SAMPLE", "IGridSampleLayer")
def read_grid_sample(layer: Any) -> dict[str, Any]:
    """Interpolation mode, align_corners and sample mode."""
    return {
        "interpolation_mode": enum_name(layer.interpolation_mode),
        "align_corners": bool(layer.align_corners),
        "sample_mode": enum_name(layer.sample_mode),
    }


def reflect(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """``x`` reflected by the borders ``lo`` and ``hi`` until it lies in [lo, hi]."""
    span = hi - lo
    if span <= 0:
        return torch.full_like(x, lo)
    d = (x - lo).abs()
    flips = torch.floor(d / span)
    rest = d - flips * span
    return torch.where(flips % 2 == 0, lo + rest, hi - rest)


def _keys(t: torch.Tensor) -> torch.Tensor:
    """Keys' cubic weights of the 4 taps at distances 1 + t, t, 1 − t, 2 − t."""
    d = torch.stack([1 + t, t, 1 - t, 2 - t], dim=-1)
    near = ((_A + 2) * d - (_A + 3)) * d * d + 1
    far = ((_A * d - 5 * _A) * d + 8 * _A) * d - 4 * _A
    return torch.where(d <= 1, near, far)


def _axis(
    a: dict[str, Any], g: torch.Tensor, n: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(tap indices, tap weights, tap in range) along one dim of length ``n``; each (..., taps)."""
    mode, sample = a["interpolation_mode"], a["sample_mode"]
    x = (g + 1) / 2 * (n - 1) if a["align_corners"] else ((g + 1) * n - 1) / 2
    lo, hi = (0.0, n - 1.0) if a["align_corners"] else (-0.5, n - 0.5)
    if mode == "NEAREST":
        x = torch.round(x)  # half to even
    outside = (x < lo) | (x > hi)
    if sample == "CLAMP":
        x = torch.where(outside, x.clamp(0, n - 1), x)
    elif sample == "REFLECT":
        x = torch.where(outside, reflect(x, lo, hi), x)
    base = torch.floor(x)
    t = x - base
    taps = base.unsqueeze(-1) + torch.tensor(_TAPS[mode], dtype=x.dtype)
    if mode == "NEAREST":
        w = torch.ones_like(taps)
    elif mode == "LINEAR":
        w = torch.stack([1 - t, t], dim=-1)
    else:
        w = _keys(t)
    if sample == "CLAMP":
        taps = taps.clamp(0, n - 1)
    elif sample == "REFLECT":
        taps = reflect(taps, lo, hi).clamp(0, n - 1)
    inside = (taps >= 0) & (taps <= n - 1)
    return taps.clamp(0, n - 1).long(), w, inside


@evaluator("GRID_SAMPLE")
def evaluate_grid_sample(record: LayerRecord, inputs: Args) -> list[torch.Tensor]:
    """Separable interpolation: every combination of per-dim taps, gathered and weighted."""
    x, grid = need(inputs, 0, record), need(inputs, 1, record)
    a = record.attrs
    r = x.dim() - 2
    if r not in (2, 3) or grid.dim() != x.dim() or grid.shape[-1] != r:
        raise ReferenceError(
            f"layer {record.name!r}: grid sample of a rank-{x.dim()} input with a grid of shape "
            f"{tuple(grid.shape)} (needs rank 4 or 5 and a last grid dim of {r})"
        )
    if grid.shape[0] != x.shape[0]:
        raise ReferenceError(f"layer {record.name!r}: input and grid batch sizes differ")
    if a["interpolation_mode"] not in _TAPS or a["sample_mode"] not in ("FILL", "CLAMP", "REFLECT"):
        raise ReferenceError(
            f"layer {record.name!r}: grid sample mode {a['interpolation_mode']} / "
            f"{a['sample_mode']} is not defined"
        )
    dt = compute_dtype(x)
    g = grid.to(dt)
    spatial = list(x.shape[2:])
    n, c = x.shape[:2]
    out_sp = list(grid.shape[1:-1])
    flat = torch.zeros(n, *out_sp, 1, dtype=torch.long)
    weight = torch.ones(n, *out_sp, 1, dtype=dt)
    # Dims outermost first; grid entry r − 1 − d holds dim d.
    for d in range(r):
        idx, w, inside = _axis(a, g[..., r - 1 - d], spatial[d])
        w = torch.where(inside, w, torch.zeros_like(w))
        flat = (flat.unsqueeze(-1) * spatial[d] + idx.unsqueeze(-2)).flatten(-2)
        weight = (weight.unsqueeze(-1) * w.unsqueeze(-2)).flatten(-2)
    taps = flat.shape[-1]
    src = x.to(dt).reshape(n, c, math.prod(spatial))
    # (N, C, prod(O) * taps): every tap of every output position.
    picked = torch.gather(src, 2, flat.reshape(n, 1, -1).expand(n, c, -1))
    picked = picked.reshape(n, c, *out_sp, taps)
    y = (picked * weight.unsqueeze(1)).sum(-1)
    return [y.to(record.output_dtypes[0])]
