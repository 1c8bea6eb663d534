"""Converters: scaled dot-product attention, as one TensorRT ``IAttention``.

IAttention computes ``softmax(Q·Kᵀ [+ mask]) · V`` over [B, H, S, D] tensors with no 1/√d
scaling, so Q is multiplied by the scale first. A causal IAttention drops any mask, but torch
refuses ``attn_mask`` together with ``is_causal`` anyway, so each maps directly: ``is_causal`` to
``UPPER_LEFT`` (torch keeps j <= i) and the mask to ``IAttention.mask``. ``decomposable=True``
lets TensorRT fall back to matmul + softmax kernels where no fused kernel exists (f32, small D).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import arg_val, converter, meta_val

aten = torch.ops.aten

_FLOATS = (torch.float32, torch.float16, torch.bfloat16)


def _sdpa_check(node: fx.Node) -> str | None:
    q, k, v = (meta_val(node.all_input_nodes[i]) for i in range(3))
    dropout = arg_val(node, "dropout_p")
    if dropout != 0:
        return f"dropout_p={dropout}: only dropout_p=0 (inference) is supported"
    if q.dtype not in _FLOATS:
        return f"TensorRT attention takes float32/float16/bfloat16 only, got {q.dtype}"
    if not (q.dim() == k.dim() == v.dim() and q.dim() in (3, 4)):
        return f"query/key/value of ranks {q.dim()}/{k.dim()}/{v.dim()}: only 3 or 4 supported"
    if q.shape[0] != k.shape[0] or k.shape[:-1] != v.shape[:-1]:
        shapes = ", ".join(str(tuple(t.shape)) for t in (q, k, v))
        return f"query/key/value batch dims differ: {shapes}"
    if v.shape[-1] != q.shape[-1]:
        return f"value head dim {v.shape[-1]} differs from query head dim {q.shape[-1]}"
    heads_q, heads_kv = q.shape[1], k.shape[1]
    if (
        q.dim() == 4
        and heads_q != heads_kv
        and (not arg_val(node, "enable_gqa") or heads_q % heads_kv)
    ):
        return f"{q.shape[1]} query heads vs {k.shape[1]} key/value heads"
    mask = arg_val(node, "attn_mask")
    if mask is not None and mask.dtype != torch.bool and mask.dtype not in _FLOATS:
        return f"attn_mask of dtype {mask.dtype}"
    return None


def _mask4d(ctx: ConversionContext, mask: Any, rank: int, sq: int, skv: int, dtype: Any) -> Any:
    """The mask as [a0, a1, Sq, Skv] in the attention's layout (bool, or float of Q's dtype)."""
    m = ctx.itensor(mask)
    if ctx.dtype(m) != torch.bool:
        m = ctx.cast(m, dtype)
    m = ctx.unsqueeze_to(m, rank)
    shape = ctx.shape(m)
    if rank == 3:  # q was (N, L, E), viewed as (N, 1, L, E): the mask gets the head dim too
        m = ctx.reshape(m, (shape[0], 1, *shape[1:]))
        shape = ctx.shape(m)
    if shape[-2:] != (sq, skv):
        # Size-1 query/key dims of the mask broadcast in torch; IAttention wants them full.
        full = torch.zeros((1, 1, sq, skv), dtype=ctx.dtype(m))
        m = ctx.elementwise(m, ctx.itensor(full), "OR" if ctx.dtype(m) == torch.bool else "SUM")
    return m


@converter(aten.scaled_dot_product_attention.default, check=_sdpa_check)
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
    q, k, v = (ctx.itensor(t) for t in (query, key, value))
    dtype = ctx.dtype(q)
    rank = len(ctx.shape(q))
    if rank == 3:  # (N, L, E) -> (N, 1, L, E): IAttention is rank-4 only
        q, k, v = (ctx.reshape(t, (ctx.shape(t)[0], 1, *ctx.shape(t)[1:])) for t in (q, k, v))
    sq, skv, e = ctx.shape(q)[2], ctx.shape(k)[2], ctx.shape(q)[3]
    factor = 1.0 / math.sqrt(e) if scale is None else float(scale)
    q = ctx.elementwise(q, ctx.itensor(factor, dtype, 4), "PROD")
    trt = ctx.trt
    causal = trt.CausalMaskKind.UPPER_LEFT if is_causal else trt.CausalMaskKind.NONE
    attn = ctx.net.add_attention_v2(q, k, v, trt.AttentionNormalizationOp.SOFTMAX, causal)
    if attn is None:
        raise ctx.fail("add_attention_v2 refused the inputs")
    attn.decomposable = True
    if attn_mask is not None:
        attn.mask = _mask4d(ctx, attn_mask, rank, sq, skv, dtype)
    y = attn.get_output(0)
    if rank == 3:
        y = ctx.reshape(y, tuple(ctx.out.shape))
    return y
