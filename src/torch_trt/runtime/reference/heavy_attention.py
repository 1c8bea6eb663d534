"""Reference readers and evaluators: matrix multiply, einsum, normalization and attention.

Semantics follow the Python API docstrings (``MatrixOperation``, ``IEinsumLayer``,
``INormalizationLayer``, ``IAttention``, ``CausalMaskKind``), the Normalization and Attention
operator pages and the Fused Attention guide [FA]; ``shared/TENSORRT_SEMANTICS.md`` cites them.

Attention reads back as two layers (checked on TensorRT-RTX 1.7.1): ATTENTION_INPUT takes
(q, k, v[, mask]) and has one output of q's shape, which is ATTENTION_OUTPUT's only input. The
ATTENTION_INPUT evaluator therefore computes the whole attention and ATTENTION_OUTPUT passes its
input through. Choices the documentation leaves open:

* GQA/MQA (Hq = g·Hkv): query head h reads key/value head h // g, i.e. consecutive query heads
  share a kv head (torch's ``enable_gqa`` and ONNX's grouping). TensorRT does not document the
  order; it is unverified.
* A query row whose keys are all masked out gives NaN (softmax of all -inf), as in torch.
* fp16/bf16 matrix products accumulate in fp32 and round once to the layer's dtype (TensorRT does
  not document the accumulator; an assumption, see docs/precision.md). Normalization statistics
  are computed in fp32 and the result rounded once (the compute precision TensorRT's C++ API
  lets one set is not exposed by the RTX Python API; fp32 is assumed).
* Attention keeps the types its definition implies [FA][OP/Attention]: Q·Kᵀ has Q's dtype (a
  float mask, which must have Q's dtype, is added to it there), the softmax result has V's
  dtype (it is BMM2's operand beside V), and BMM2 accumulates like a matrix multiply.
"""

from __future__ import annotations

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

# --- MATRIX_MULTIPLY --------------------------------------------------------------------------


@layer_kind("MATRIX_MULTIPLY", "IMatrixMultiplyLayer")
def read_matrix_multiply(layer: Any) -> dict[str, Any]:
    """The operation applied to each operand: NONE, TRANSPOSE or VECTOR."""
    return {"op0": enum_name(layer.op0), "op1": enum_name(layer.op1)}


@evaluator("MATRIX_MULTIPLY")
def evaluate_matrix_multiply(record: LayerRecord, inputs: Args) -> list[torch.Tensor]:
    """Batched product; batch dims have equal rank and only size-1 dims broadcast.

    TRANSPOSE swaps an operand's last two dims; VECTOR makes its last dim a vector and the rest
    batch, and the vector's dim is absent from the result.
    """
    a, b = need(inputs, 0, record), need(inputs, 1, record)
    op0, op1 = record.attrs["op0"], record.attrs["op1"]
    dtype = compute_dtype(a)
    a, b = a.to(dtype), b.to(dtype)
    if op0 == "TRANSPOSE":
        a = a.transpose(-1, -2)
    if op1 == "TRANSPOSE":
        b = b.transpose(-1, -2)
    a = a.unsqueeze(-2) if op0 == "VECTOR" else a  # (..., K) -> (..., 1, K)
    b = b.unsqueeze(-1) if op1 == "VECTOR" else b  # (..., K) -> (..., K, 1)
    if a.dim() != b.dim():
        raise ReferenceError(
            f"layer {record.name!r}: batch ranks differ ({a.dim() - 2} vs {b.dim() - 2}); "
            "TensorRT broadcasts only size-1 dims of equal-rank batches"
        )
    for i, (m, n) in enumerate(zip(a.shape[:-2], b.shape[:-2], strict=True)):
        if m != n and 1 not in (m, n):
            raise ReferenceError(f"layer {record.name!r}: batch dim {i} is {m} vs {n}")
    y = torch.matmul(a, b)
    if op1 == "VECTOR":
        y = y.squeeze(-1)
    if op0 == "VECTOR":
        y = y.squeeze(-1 if op1 == "VECTOR" else -2)
    return [y.to(record.output_dtypes[0])]


# --- EINSUM -----------------------------------------------------------------------------------


@layer_kind("EINSUM", "IEinsumLayer")
def read_einsum(layer: Any) -> dict[str, Any]:
    """The equation string (lower-case letters, optional ``->`` output)."""
    return {"equation": str(layer.equation)}


@evaluator("EINSUM")
def evaluate_einsum(record: LayerRecord, inputs: Args) -> list[torch.Tensor]:
    """``torch.einsum`` of the inputs (same letter semantics, implicit output in sorted order)."""
    xs = [need(inputs, i, record) for i in range(len(inputs))]
    dtype = compute_dtype(xs[0])
    y = torch.einsum(record.attrs["equation"], *[x.to(dtype) for x in xs])
    return [y.to(record.output_dtypes[0])]


# --- NORMALIZATION ----------------------------------------------------------------------------


@layer_kind("NORMALIZATION", "INormalizationLayer")
def read_normalization(layer: Any) -> dict[str, Any]:
    """Axes bitmask, epsilon, groups, and the API version (v1 and v2 differ in scale/bias)."""
    return {
        "axes": int(layer.axes),
        "epsilon": float(layer.epsilon),
        "num_groups": int(layer.num_groups),
        "is_v2": bool(layer.is_v2),
    }


@evaluator("NORMALIZATION")
def evaluate_normalization(record: LayerRecord, inputs: Args) -> list[torch.Tensor]:
    """Y = (X − mean) / √(var + ε) · S + B, biased variance over the axes (and channel groups).

    With G = num_groups > 1 the channels (dim 1) split into G groups of consecutive channels and
    the statistics span a group's channels and the axes. v2 scale/bias are per channel
    (1, C, 1, …); v1 scale/bias are per group (1, G, 1, …) and apply to every channel of a group.
    """
    x, scale, bias = (need(inputs, i, record) for i in range(3))
    a = record.attrs
    dtype = compute_dtype(x)
    x, scale, bias = x.to(dtype), scale.to(dtype), bias.to(dtype)
    axes = [d for d in range(x.dim()) if a["axes"] >> d & 1]
    groups = a["num_groups"]
    if groups == 1:
        mean = x.mean(dim=axes, keepdim=True)
        var = (x - mean).square().mean(dim=axes, keepdim=True)
        y = (x - mean) / torch.sqrt(var + a["epsilon"]) * scale + bias
        return [y.to(record.output_dtypes[0])]
    if x.dim() < 2 or x.shape[1] % groups or any(d < 2 for d in axes):
        raise ReferenceError(
            f"layer {record.name!r}: {groups} groups need channels (dim 1) divisible by the "
            f"groups and axes over dims >= 2 (shape {tuple(x.shape)}, axes {axes})"
        )
    n, c = x.shape[0], x.shape[1]
    xg = x.reshape(n, groups, c // groups, *x.shape[2:])
    red = [2, *[d + 1 for d in axes]]
    mean = xg.mean(dim=red, keepdim=True)
    var = (xg - mean).square().mean(dim=red, keepdim=True)
    yg = (xg - mean) / torch.sqrt(var + a["epsilon"])
    if a["is_v2"]:
        y = yg.reshape(x.shape) * scale + bias
    else:  # v1: one scale and bias per group, broadcast over the group's channels
        affine_shape = (scale.shape[0], groups, 1, *scale.shape[2:])
        yg = yg * scale.reshape(affine_shape) + bias.reshape(affine_shape)
        y = yg.reshape(x.shape)
    return [y.to(record.output_dtypes[0])]


# --- ATTENTION --------------------------------------------------------------------------------


def _read_attention(layer: Any) -> dict[str, Any]:
    att = layer.attention
    return {
        "norm_op": enum_name(att.norm_op),
        "causal_kind": enum_name(att.causal_kind),
        "decomposable": bool(att.decomposable),
        "has_mask": att.mask is not None,
        "query_form": enum_name(att.query_form),
        "key_value_form": enum_name(att.key_value_form),
        "has_key_value_lengths": att.key_value_lengths is not None,
        "has_quantized_normalization": att.normalization_quantize_scale is not None,
    }


@layer_kind("ATTENTION_INPUT", "IAttentionInputLayer")
def read_attention_input(layer: Any) -> dict[str, Any]:
    """The IAttention's settings (norm op, causal kind, mask presence, layouts)."""
    return _read_attention(layer)


@layer_kind("ATTENTION_OUTPUT", "IAttentionOutputLayer")
def read_attention_output(layer: Any) -> dict[str, Any]:
    """The IAttention's settings; the output layer itself only forwards the result."""
    return _read_attention(layer)


def _causal_keep(kind: str, sq: int, skv: int, device: torch.device) -> torch.Tensor:
    # [PY CausalMaskKind]: UPPER_LEFT keeps j <= i; LOWER_RIGHT keeps j <= i + (skv - sq).
    i = torch.arange(sq, device=device).unsqueeze(-1)
    j = torch.arange(skv, device=device)
    shift = skv - sq if kind == "LOWER_RIGHT" else 0
    return j <= i + shift


def _check_attention(record: LayerRecord, q: torch.Tensor, k: torch.Tensor) -> None:
    a = record.attrs
    if a["query_form"] != "PADDED_BHND" or a["key_value_form"] != "PADDED_BHND":
        raise ReferenceError(
            f"layer {record.name!r}: only the PADDED_BHND attention layout is "
            f"supported, got {a['query_form']}/{a['key_value_form']}"
        )
    if a["has_key_value_lengths"] or a["has_quantized_normalization"]:
        raise ReferenceError(
            f"layer {record.name!r}: attention with key_value_lengths or a quantized "
            "normalization is not supported by the reference runtime"
        )
    if q.dim() != 4 or k.dim() != 4 or q.shape[1] % k.shape[1]:
        raise ReferenceError(
            f"layer {record.name!r}: attention needs rank-4 q/k/v with query heads a multiple "
            f"of key/value heads, got q {tuple(q.shape)} and k {tuple(k.shape)}"
        )


@evaluator("ATTENTION_INPUT")
def evaluate_attention_input(record: LayerRecord, inputs: Args) -> list[torch.Tensor]:
    """normalize(Q·Kᵀ [+ mask]) · V over s_kv, with no 1/√d scaling [FA].

    A bool mask keeps positions where it is True; a float mask is added to Q·Kᵀ. Causal kinds
    keep j ≤ i (UPPER_LEFT) or j ≤ i + s_kv − s_q (LOWER_RIGHT). norm_op NONE skips the softmax.
    """
    q, k, v = (need(inputs, i, record) for i in range(3))
    _check_attention(record, q, k)
    a = record.attrs
    dtype = compute_dtype(q)
    group = q.shape[1] // k.shape[1]
    kx = k.to(dtype).repeat_interleave(group, dim=1)
    vx = v.to(dtype).repeat_interleave(group, dim=1)
    # BMM1's result is a tensor of Q's dtype: round it there (a no-op for fp32).
    scores = _round(q.to(dtype) @ kx.transpose(-1, -2), q.dtype)
    mask = inputs[3] if len(inputs) > 3 else None
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = _round(scores + mask.to(dtype), q.dtype)
    if a["causal_kind"] != "NONE":
        keep = _causal_keep(a["causal_kind"], q.shape[2], k.shape[2], q.device)
        scores = scores.masked_fill(~keep, float("-inf"))
    if a["norm_op"] == "SOFTMAX":
        scores = _round(torch.softmax(scores, dim=-1), v.dtype)
    elif a["norm_op"] != "NONE":
        raise ReferenceError(f"layer {record.name!r}: unknown norm_op {a['norm_op']}")
    return [(scores @ vx).to(record.output_dtypes[0])]


def _round(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t`` rounded to ``dtype`` and kept in its own (wider) dtype for the next step."""
    return t.to(dtype).to(t.dtype) if dtype != t.dtype else t


@evaluator("ATTENTION_OUTPUT")
def evaluate_attention_output(record: LayerRecord, inputs: Args) -> list[torch.Tensor]:
    """The attention result computed by the ATTENTION_INPUT layer, passed through."""
    return [need(inputs, 0, record).to(record.output_dtypes[0])]
