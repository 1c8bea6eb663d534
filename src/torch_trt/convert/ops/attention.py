"""Converters: scaled dot-product attention, as one TensorRT ``IAttention``.

Besides ``scaled_dot_product_attention`` itself, the backend-specific forms torch dispatches it to
(``_scaled_dot_product_flash_attention`` / ``_efficient_`` / ``_cudnn_`` and the CPU flash form)
convert the same way when only their output 0 is used: their other outputs (log-sum-exp, RNG
state, debug masks) serve training and are checked unused. ``attn_bias`` is an additive float
mask, as a float ``attn_mask`` is.

IAttention computes ``softmax(Q·Kᵀ [+ mask]) · V`` over [B, H, S, D] tensors with no 1/√d
scaling, so Q is multiplied by the scale first. A causal IAttention drops any mask, but torch
refuses ``attn_mask`` together with ``is_causal`` anyway, so each maps directly: ``is_causal`` to
``UPPER_LEFT`` (torch keeps j <= i) and the mask to ``IAttention.mask``. ``decomposable=True``
lets TensorRT fall back to matmul + softmax kernels where no fused kernel exists (f32, small D).

Dynamic shapes: batch and sequence lengths may be dynamic. Size-1 mask dims are broadcast with a
stride-0 slice sized from the run-time shapes; the checks compare sizes only where they are
provably equal where a mismatch would change the math (head dims, GQA head counts), and only
refuse provably different batch and key/value lengths (TensorRT rejects a mismatch at run time).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import fx
from torch.fx.experimental.symbolic_shapes import statically_known_true

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import (
    arg_val,
    converter,
    extra_outputs_used,
    node_args,
)

aten = torch.ops.aten

_FLOATS = (torch.float32, torch.float16, torch.bfloat16)


def _same(a: int | torch.SymInt, b: int | torch.SymInt) -> bool:
    """Sizes equal for every input the graph accepts (symbolic sizes: provably so)."""
    return statically_known_true(a == b)


def _may_match(a: int | torch.SymInt, b: int | torch.SymInt) -> bool:
    """Sizes not provably different. torch.export gives key and value lengths separate symbols
    (nothing in SDPA's shape rule ties them); eager and TensorRT both reject unequal ones at
    run time, so only provably different sizes are refused."""
    return not statically_known_true(a != b)


def _sdpa_check(node: fx.Node, mask_name: str | None = "attn_mask") -> str | None:
    q, k, v = (arg_val(node, name) for name in ("query", "key", "value"))
    args = node_args(node)
    dropout = args.get("dropout_p", 0.0)
    if dropout != 0:
        return f"dropout_p={dropout}: only dropout_p=0 (inference) is supported"
    if q.dtype not in _FLOATS:
        return f"TensorRT attention takes float32/float16/bfloat16 only, got {q.dtype}"
    if not (q.dim() == k.dim() == v.dim() and q.dim() in (3, 4)):
        return f"query/key/value of ranks {q.dim()}/{k.dim()}/{v.dim()}: only 3 or 4 supported"
    batch_kv = k.shape[:-1]
    if not (_may_match(q.shape[0], k.shape[0]) and all(map(_may_match, batch_kv, v.shape[:-1]))):
        shapes = ", ".join(str(tuple(t.shape)) for t in (q, k, v))
        return f"query/key/value batch dims differ: {shapes}"
    if not _same(v.shape[-1], q.shape[-1]):
        return f"value head dim {v.shape[-1]} differs from query head dim {q.shape[-1]}"
    if q.dim() == 4 and not _same(q.shape[1], k.shape[1]):
        heads_q, heads_kv = q.shape[1], k.shape[1]
        static = isinstance(heads_q, int) and isinstance(heads_kv, int)
        if not (args.get("enable_gqa", False) and static and heads_q % heads_kv == 0):
            return f"{q.shape[1]} query heads vs {k.shape[1]} key/value heads"
    mask = arg_val(node, mask_name) if mask_name else None
    if mask is not None and mask.dtype != torch.bool and mask.dtype not in _FLOATS:
        return f"{mask_name} of dtype {mask.dtype}"
    return None


def _mask4d(ctx: ConversionContext, mask: Any, rank: int, q: Any, k: Any) -> Any:
    """The mask as [a0, a1, Sq, Skv] in the attention's layout (bool, or float of Q's dtype)."""
    m = ctx.itensor(mask)
    if ctx.dtype(m) != torch.bool:
        m = ctx.cast(m, ctx.dtype(q))
    m = ctx.unsqueeze_to(m, rank)
    if rank == 3:  # q was (N, L, E), viewed as (N, 1, L, E): the mask gets the head dim too
        m = _unsqueeze1(ctx, m)
    # Size-1 query/key dims of the mask broadcast in torch; IAttention wants them full. A
    # stride-0 slice repeats them to the (possibly run-time) Sq and Skv; other dims keep the
    # mask's own size (a separate symbol TensorRT cannot prove equal to Q's or K's).
    shape = ctx.shape(m)
    # (tensor, axis) each output dim's size is read from
    source = [(m, 0), (m, 1), (m, 2), (m, 3)]
    for i, t in ((2, q), (3, k)):
        if shape[i] == 1 and ctx.shape(t)[2] != 1:
            source[i] = (t, 2)
    if all(t is m for t, _ in source):
        return m
    stride = tuple(1 if t is m else 0 for t, _ in source)
    sizes = [ctx.shape(t)[a] for t, a in source]
    layer = ctx.net.add_slice(m, (0,) * 4, (1,) * 4, stride)
    if all(d >= 0 for d in sizes):
        layer.shape = tuple(sizes)
    else:
        layer.set_input(2, ctx.shape_tensor([ctx.dim(t, a) for t, a in source]))
    return layer.get_output(0)


def _unsqueeze1(ctx: ConversionContext, t: Any) -> Any:
    """``t.unsqueeze(1)`` (no static reshape: batch and length may be dynamic)."""
    return ctx.net.add_unsqueeze(t, ctx.axes_tensor([1])).get_output(0)


def _scale(ctx: ConversionContext, q: Any, scale: float | None) -> Any:
    """The softmax scale as a rank-4 constant of Q's dtype: ``scale`` or 1/√E."""
    dtype = ctx.dtype(q)
    e = ctx.shape(q)[3]
    if scale is not None or e >= 0:
        factor = 1.0 / math.sqrt(e) if scale is None else float(scale)
        return ctx.itensor(factor, dtype, 4)
    # A dynamic head dim: 1/√E at run time, computed in fp32.
    size = ctx.cast(ctx.dim(q, 3), torch.float32)
    factor = ctx.unary(ctx.unary(size, "SQRT"), "RECIP")
    return ctx.reshape(ctx.cast(factor, dtype), (1, 1, 1, 1))


def _zero_fully_masked(ctx: ConversionContext, y: Any, mask: Any) -> Any:
    """Zero the query rows whose mask allows no key, as torch's SDPA does (its safe softmax
    returns 0 there, where a plain softmax over only -inf gives NaN)."""
    allowed = mask
    if ctx.dtype(mask) != torch.bool:
        neg_inf = ctx.itensor(float("-inf"), ctx.dtype(mask), 4)
        allowed = ctx.elementwise(mask, neg_inf, "GREATER")
    as_int = ctx.cast(allowed, torch.int32)
    any_key = ctx.net.add_reduce(as_int, ctx.trt.ReduceOperation.MAX, 1 << 3, True).get_output(0)
    row_ok = ctx.elementwise(any_key, ctx.itensor(0, torch.int32, 4), "GREATER")
    dtype = ctx.dtype(y)
    work = torch.float32 if dtype == torch.bfloat16 else dtype  # ISelectLayer takes no bf16
    zero = ctx.itensor(0.0, work, 4)
    out = ctx.net.add_select(row_ok, ctx.cast(y, work), zero).get_output(0)
    return ctx.cast(out, dtype)


@converter(aten.scaled_dot_product_attention.default, check=_sdpa_check, dynamic=True)
def convert_sdpa(
    ctx: ConversionContext,
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Any:
    """``softmax(Q·Kᵀ·scale + mask) · V`` (scale defaults to 1/√E), rank-3 or rank-4 inputs."""
    return attention(ctx, query, key, value, attn_mask, is_causal, scale)


def attention(
    ctx: ConversionContext,
    query: Any,
    key: Any,
    value: Any,
    mask: Any,
    is_causal: bool,
    scale: float | None,
) -> Any:
    """One IAttention for ``softmax(Q·Kᵀ·scale + mask) · V`` on rank-3 or rank-4 operands."""
    q, k, v = (ctx.itensor(t) for t in (query, key, value))
    rank = len(ctx.shape(q))
    if rank == 3:  # (N, L, E) -> (N, 1, L, E): IAttention is rank-4 only
        q, k, v = (_unsqueeze1(ctx, t) for t in (q, k, v))
    q = ctx.elementwise(q, _scale(ctx, q, scale), "PROD")
    trt = ctx.trt
    causal = trt.CausalMaskKind.UPPER_LEFT if is_causal else trt.CausalMaskKind.NONE
    attn = ctx.net.add_attention_v2(q, k, v, trt.AttentionNormalizationOp.SOFTMAX, causal)
    if attn is None:
        raise ctx.fail("add_attention_v2 refused the inputs")
    attn.decomposable = True
    y = attn.get_output(0)
    if mask is not None:
        attn.mask = _mask4d(ctx, mask, rank, q, k)
        y = _zero_fully_masked(ctx, y, attn.mask)
    if rank == 3:
        y = ctx.net.add_squeeze(y, ctx.axes_tensor([1])).get_output(0)
    return y


# --- the backend-specific forms (output 0 only) ----------------------------------------------


def _fused_check(mask_name: str | None, *flags: str) -> Any:
    """The SDPA check, plus: only output 0 is used and the named training flags are off."""

    def check(node: fx.Node) -> str | None:
        if extra_outputs_used(node):
            return "outputs other than the attention output are used (only output 0 converts)"
        args = node_args(node)
        for flag in flags:
            if args.get(flag):
                return f"{flag}=True is not supported (inference only)"
        return _sdpa_check(node, mask_name)

    return check


def _outputs(ctx: ConversionContext, y: Any) -> list[Any]:
    """``y`` in slot 0 of the node's output list; the unused other outputs are not produced."""
    assert ctx.node is not None
    return [y] + [None] * (len(ctx.node.meta["val"]) - 1)


@converter(
    aten._scaled_dot_product_flash_attention.default,
    check=_fused_check(None, "return_debug_mask"),
    dynamic=True,
)
def convert_sdpa_flash(
    ctx: ConversionContext,
    query: Any,
    key: Any,
    value: Any,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    return_debug_mask: bool = False,
    *,
    scale: float | None = None,
) -> list[Any]:
    """Flash attention's output 0: SDPA without a mask (the statistics outputs are unused)."""
    return _outputs(ctx, attention(ctx, query, key, value, None, is_causal, scale))


@converter(
    aten._scaled_dot_product_flash_attention_for_cpu.default,
    check=_fused_check("attn_mask"),
    dynamic=True,
)
def convert_sdpa_flash_cpu(
    ctx: ConversionContext,
    query: Any,
    key: Any,
    value: Any,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    attn_mask: Any = None,
    scale: float | None = None,
) -> list[Any]:
    """The CPU flash kernel's output 0: SDPA with an optional mask (log-sum-exp unused)."""
    return _outputs(ctx, attention(ctx, query, key, value, attn_mask, is_causal, scale))


@converter(
    aten._scaled_dot_product_efficient_attention.default,
    aten._scaled_dot_product_cudnn_attention.default,
    check=_fused_check("attn_bias", "compute_log_sumexp", "return_debug_mask"),
    dynamic=True,
)
def convert_sdpa_efficient(
    ctx: ConversionContext,
    query: Any,
    key: Any,
    value: Any,
    attn_bias: Any,
    compute_log_sumexp: bool,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    return_debug_mask: bool = False,
    *,
    scale: float | None = None,
) -> list[Any]:
    """Memory-efficient / cuDNN attention's output 0: SDPA with ``attn_bias`` as the mask."""
    return _outputs(ctx, attention(ctx, query, key, value, attn_bias, is_causal, scale))
