"""Reference readers and evaluators: convolution, deconvolution, pooling and padding layers.

Semantics follow TensorRT's operator pages (Convolution, Deconvolution, Pooling, Padding) and the
``PaddingMode`` formulas of NvInfer.h; ``shared/TENSORRT_SEMANTICS.md`` cites them. Choices the
documentation leaves open are stated where they are made:

* Padded cells of MAX pooling hold ``-inf``: padding never wins a max, and a window lying wholly
  in padding yields ``-inf``. (TensorRT does not document the value; execution could not be
  checked on our CPU-only machines.)
* ``EXPLICIT_ROUND_UP`` lets the last window run past the post-padding. The overhang behaves like
  padding for convolution (zeros) and MAX pooling (``-inf``) and is never counted in an AVERAGE
  divisor, which the Pooling API defines as the window's overlap with the (un)padded input.
* ``SAME_*`` modes ignore the explicit pads (TensorRT keeps reporting stale values), so pads are
  recomputed from the formulas; a negative ``P`` crops.
* fp16/bf16 convolutions accumulate in fp32 and round once to the layer's dtype, as do AVERAGE
  pools. TensorRT does not document the accumulator of reduced-precision kernels; this is an
  assumption (docs/precision.md says where it matters).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torch_trt.runtime.reference.program import (
    LayerRecord,
    ReferenceError,
    evaluator,
    layer_kind,
    weights_tensor,
)

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _weights(w: Any, role: str) -> torch.Tensor | None:
    # Empty weights mean "not given": the value then comes from an input tensor, or is absent.
    # bf16 weights come from the side table under ``<layer>/<role>`` (see weights_tensor).
    t = weights_tensor(w, role=role)
    if t.numel() == 0:
        return None
    return t


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype to accumulate in: fp32 for fp16/bf16 (assumed, docs/precision.md), else x's."""
    return torch.float32 if x.dtype in _LOW_PRECISION else x.dtype


def _dims(d: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in d)


def _same_pads(mode: str, pad: int) -> tuple[int, int]:
    # SAME_UPPER puts the odd cell after the data, SAME_LOWER before; floor division keeps the
    # formula B = floor(P / 2) also for a negative P.
    small, big = pad // 2, pad - pad // 2
    return (small, big) if mode == "SAME_UPPER" else (big, small)


def window_pads(
    attrs: dict[str, Any], spatial: Sequence[int], windows: Sequence[int]
) -> list[tuple[int, int, int]]:
    """Per spatial dim (pre, post, overhang) for a conv or pool window of dilated size ``windows``.

    The overhang is the extra room ``EXPLICIT_ROUND_UP`` needs so that a floor-rounding torch op
    produces ⌈(M − DK)/S⌉ + 1 outputs.
    """
    mode = attrs["padding_mode"]
    out: list[tuple[int, int, int]] = []
    for i, (size, dk) in enumerate(zip(spatial, windows, strict=True)):
        s = attrs["stride"][i]
        if mode in ("SAME_UPPER", "SAME_LOWER"):
            pre, post = _same_pads(mode, ((size - 1) // s) * s + dk - size)
            out.append((pre, post, 0))
            continue
        pre, post = attrs["pre_padding"][i], attrs["post_padding"][i]
        extra = 0
        if mode == "EXPLICIT_ROUND_UP":
            extra = (-(size + pre + post - dk)) % s
        out.append((pre, post, extra))
    return out


def _torch_pad(pairs: Sequence[tuple[int, int]]) -> list[int]:
    # F.pad lists the last dim first.
    flat: list[int] = []
    for pre, post in reversed(pairs):
        flat += [pre, post]
    return flat


def _read_conv_like(layer: Any, transposed: bool) -> dict[str, Any]:
    ksize = _dims(layer.kernel_size_nd)
    k, groups = int(layer.num_output_maps), int(layer.num_groups)
    flat = _weights(layer.kernel, "kernel")
    kernel = None
    if flat is not None:
        # Conv: (K, C/G, *k). Deconv: (C, K/G, *k). The unknown C comes from the count.
        per_in = (k // groups if transposed else k) * math.prod(ksize)
        lead = (flat.numel() // per_in, k // groups) if transposed else (k, flat.numel() // per_in)
        kernel = flat.reshape(*lead, *ksize)
    return {
        "kernel_size": ksize,
        "num_output_maps": k,
        "num_groups": groups,
        "stride": _dims(layer.stride_nd),
        "dilation": _dims(layer.dilation_nd),
        "pre_padding": _dims(layer.pre_padding),
        "post_padding": _dims(layer.post_padding),
        "padding_mode": layer.padding_mode.name,
        "kernel": kernel,
        "bias": _weights(layer.bias, "bias"),
    }


@layer_kind("CONVOLUTION", "IConvolutionLayer")
def read_convolution(layer: Any) -> dict[str, Any]:
    """Kernel (K, C/G, *k) and bias (None when inputs 1 and 2 give them), window attributes."""
    return _read_conv_like(layer, transposed=False)


@layer_kind("DECONVOLUTION", "IDeconvolutionLayer")
def read_deconvolution(layer: Any) -> dict[str, Any]:
    """Kernel (C, K/G, *k) and bias (None when inputs 1 and 2 give them), window attributes."""
    return _read_conv_like(layer, transposed=True)


def _kernel_and_bias(
    record: LayerRecord, inputs: list[torch.Tensor | None], dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor | None]:
    a = record.attrs
    kernel = a["kernel"] if a["kernel"] is not None else (inputs[1] if len(inputs) > 1 else None)
    if kernel is None:
        raise ReferenceError(f"layer {record.name}: no kernel weights and no kernel input 1")
    bias = a["bias"] if a["bias"] is not None else (inputs[2] if len(inputs) > 2 else None)
    dev = inputs[0].device if inputs[0] is not None else kernel.device
    kernel = kernel.to(dev, dtype)
    return kernel, None if bias is None else bias.to(dev, dtype).reshape(-1)


def _check_rank(record: LayerRecord, x: torch.Tensor, nd: int) -> None:
    if x.dim() != nd + 2:
        raise ReferenceError(
            f"layer {record.name}: a {nd}-D window needs a rank-{nd + 2} input, got {x.dim()}"
        )


@evaluator("CONVOLUTION")
def evaluate_convolution(
    record: LayerRecord, inputs: list[torch.Tensor | None]
) -> list[torch.Tensor]:
    """Cross-correlation of the padded input, as TensorRT and torch define it."""
    a = record.attrs
    x = _first(record, inputs)
    nd = len(a["kernel_size"])
    _check_rank(record, x, nd)
    dtype = compute_dtype(x)
    kernel, bias = _kernel_and_bias(record, inputs, dtype)
    dks = [1 + d * (f - 1) for d, f in zip(a["dilation"], a["kernel_size"], strict=True)]
    pads = window_pads(a, x.shape[2:], dks)
    xp = F.pad(x.to(dtype), _torch_pad([(pre, post + extra) for pre, post, extra in pads]))
    conv = F.conv2d if nd == 2 else F.conv3d
    y = conv(xp, kernel, bias, a["stride"], 0, a["dilation"], a["num_groups"])
    return [y.to(record.output_dtypes[0])]


@evaluator("DECONVOLUTION")
def evaluate_deconvolution(
    record: LayerRecord, inputs: list[torch.Tensor | None]
) -> list[torch.Tensor]:
    """Full transposed convolution, then pre-padding trimmed at the start and post at the end."""
    a = record.attrs
    x = _first(record, inputs)
    nd = len(a["kernel_size"])
    _check_rank(record, x, nd)
    dtype = compute_dtype(x)
    kernel, bias = _kernel_and_bias(record, inputs, dtype)
    deconv = F.conv_transpose2d if nd == 2 else F.conv_transpose3d
    y = deconv(x.to(dtype), kernel, bias, a["stride"], 0, 0, a["num_groups"], a["dilation"])
    trims: list[tuple[int, int]] = []
    for i, f in enumerate(a["kernel_size"]):
        dk = 1 + a["dilation"][i] * (f - 1)
        if a["padding_mode"] in ("SAME_UPPER", "SAME_LOWER"):
            # [OP/Deconvolution]: P = max(DK − S, 0), split like convolution's SAME.
            trims.append(_same_pads(a["padding_mode"], max(dk - a["stride"][i], 0)))
        else:
            trims.append((a["pre_padding"][i], a["post_padding"][i]))
    y = F.pad(y, _torch_pad([(-pre, -post) for pre, post in trims]))
    return [y.to(record.output_dtypes[0])]


def _first(record: LayerRecord, inputs: list[torch.Tensor | None]) -> torch.Tensor:
    if not inputs or inputs[0] is None:
        raise ReferenceError(f"layer {record.name}: input 0 is missing")
    return inputs[0]


@layer_kind("POOLING", "IPoolingLayer")
def read_pooling(layer: Any) -> dict[str, Any]:
    """Pooling type, window, stride, pads, padding mode, divisor rule and blend factor."""
    return {
        "pooling_type": _pooling_type(layer),
        "window_size": _dims(layer.window_size_nd),
        "stride": _dims(layer.stride_nd),
        "pre_padding": _dims(layer.pre_padding),
        "post_padding": _dims(layer.post_padding),
        "padding_mode": layer.padding_mode.name,
        "average_count_excludes_padding": bool(layer.average_count_excludes_padding),
        "blend_factor": float(layer.blend_factor),
    }


def _pooling_type(layer: Any) -> str:
    # IPoolingLayer.type is the PoolingType (it shadows ILayer.type on the typed class).
    return str(layer.type.name)


def _max_pool(xs: torch.Tensor, a: dict[str, Any], full: list[int]) -> torch.Tensor:
    pool = F.max_pool2d if len(a["window_size"]) == 2 else F.max_pool3d
    return pool(F.pad(xs, full, value=-math.inf), a["window_size"], a["stride"])


def _avg_pool(
    xs: torch.Tensor, a: dict[str, Any], pads: list[tuple[int, int, int]], full: list[int]
) -> torch.Tensor:
    # Divisor = window overlap with the unpadded input (excludes) or with the padded input; the
    # ROUND_UP overhang is never counted [Pooling API, setAverageCountExcludesPadding].
    pool = F.avg_pool2d if len(a["window_size"]) == 2 else F.avg_pool3d
    ones = torch.ones((1, 1, *xs.shape[2:]), dtype=xs.dtype, device=xs.device)
    if a["average_count_excludes_padding"]:
        mask = F.pad(ones, full)
    else:
        padded = F.pad(ones, _torch_pad([(p, q) for p, q, _ in pads]), value=1.0)
        mask = F.pad(padded, _torch_pad([(0, e) for _, _, e in pads]))
    win, stride = a["window_size"], a["stride"]
    return pool(F.pad(xs, full), win, stride) / pool(mask, win, stride)


@evaluator("POOLING")
def evaluate_pooling(record: LayerRecord, inputs: list[torch.Tensor | None]) -> list[torch.Tensor]:
    """MAX (padding = -inf), AVERAGE (divisor per the padding rule) or their blend."""
    a = record.attrs
    x = _first(record, inputs)
    nd = len(a["window_size"])
    if x.dim() < nd + 2:
        raise ReferenceError(f"layer {record.name}: a {nd}-D window needs rank >= {nd + 2}")
    spatial = x.shape[-nd:]
    # Pooling is per channel, so every leading dim folds into the batch.
    xs = x.to(compute_dtype(x)).reshape(-1, 1, *spatial)
    pads = window_pads(a, spatial, a["window_size"])
    full = _torch_pad([(pre, post + extra) for pre, post, extra in pads])
    kind = a["pooling_type"]
    if kind == "MAX":
        y = _max_pool(xs, a, full)
    elif kind == "AVERAGE":
        y = _avg_pool(xs, a, pads, full)
    elif kind == "MAX_AVERAGE_BLEND":
        blend = a["blend_factor"]
        y = (1.0 - blend) * _max_pool(xs, a, full) + blend * _avg_pool(xs, a, pads, full)
    else:
        raise ReferenceError(f"layer {record.name}: unknown pooling type {kind}")
    y = y.reshape(*x.shape[:-nd], *y.shape[-nd:])
    return [y.to(record.output_dtypes[0])]


@layer_kind("PADDING", "IPaddingLayer")
def read_padding(layer: Any) -> dict[str, Any]:
    """Pre and post padding of the two innermost dims (negative crops)."""
    return {
        "pre_padding": _dims(layer.pre_padding_nd),
        "post_padding": _dims(layer.post_padding_nd),
    }


@evaluator("PADDING")
def evaluate_padding(record: LayerRecord, inputs: list[torch.Tensor | None]) -> list[torch.Tensor]:
    """Zero-pad (or crop, when negative) the two innermost dims."""
    a = record.attrs
    x = _first(record, inputs)
    pairs = list(zip(a["pre_padding"], a["post_padding"], strict=True))
    return [F.pad(x, _torch_pad(pairs)).to(record.output_dtypes[0])]
