"""Scaled dot-product attention converter (one TensorRT IAttention) checked against eager."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torch_trt
from torch_trt import Input
from torch_trt.convert.registry import Reason
from torch_trt.testing import (
    FnModule,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    random_inputs,
    ranged,
)

SDPA = torch.ops.aten.scaled_dot_product_attention.default


@dataclasses.dataclass
class Case:
    id: str
    fn: Callable[..., Any]
    q: tuple[int, ...]
    kv: tuple[int, ...]
    mask: tuple[int, ...] | None = None
    mask_dtype: torch.dtype = torch.bool
    dtype: torch.dtype = torch.float32


def _inputs(case: Case) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(s, generator=g).to(case.dtype) for s in (case.q, case.kv, case.kv)]
    if case.mask is not None:
        if case.mask_dtype == torch.bool:
            m = torch.rand(case.mask, generator=g) > 0.4
            m[..., 0] = True  # every query attends somewhere: no all-masked (NaN) rows
        else:
            m = torch.randn(case.mask, generator=g).to(case.mask_dtype)
        xs.append(m)
    return xs


def sdpa(**kwargs: Any) -> Callable[..., Any]:
    """``F.scaled_dot_product_attention`` with fixed keyword arguments and an optional mask."""

    def fn(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *mask: torch.Tensor) -> Any:
        attn_mask = mask[0] if mask else None
        return F.scaled_dot_product_attention(q, k, v, attn_mask, **kwargs)

    return fn


F16, BF16 = torch.float16, torch.bfloat16

CASES = [
    Case("sdpa_no_mask", sdpa(), (2, 2, 4, 8), (2, 2, 4, 8)),
    Case("sdpa_cross_lengths", sdpa(), (1, 3, 5, 8), (1, 3, 7, 8)),
    Case("sdpa_single_query", sdpa(), (2, 2, 1, 16), (2, 2, 6, 16)),
    Case("sdpa_rank3", sdpa(), (2, 5, 8), (2, 6, 8)),
    Case("sdpa_bool_mask", sdpa(), (2, 2, 4, 8), (2, 2, 6, 8), (2, 1, 4, 6)),
    Case("sdpa_bool_mask_full", sdpa(), (2, 2, 4, 8), (2, 2, 6, 8), (2, 2, 4, 6)),
    Case("sdpa_bool_mask_key_padding", sdpa(), (2, 2, 4, 8), (2, 2, 6, 8), (2, 1, 1, 6)),
    Case("sdpa_float_mask_2d", sdpa(), (2, 2, 4, 8), (2, 2, 6, 8), (4, 6), torch.float32),
    Case("sdpa_float_mask_bcast", sdpa(), (2, 2, 4, 8), (2, 2, 6, 8), (1, 2, 1, 6), torch.float32),
    Case("sdpa_rank3_bool_mask", sdpa(), (2, 5, 8), (2, 6, 8), (2, 5, 6)),
    Case("sdpa_causal", sdpa(is_causal=True), (1, 2, 6, 8), (1, 2, 6, 8)),
    Case("sdpa_causal_cross_lengths", sdpa(is_causal=True), (1, 2, 4, 8), (1, 2, 6, 8)),
    Case("sdpa_custom_scale", sdpa(scale=0.7), (2, 2, 4, 8), (2, 2, 4, 8)),
    Case("sdpa_causal_scale", sdpa(is_causal=True, scale=0.05), (1, 2, 5, 8), (1, 2, 5, 8)),
    Case("sdpa_gqa", sdpa(enable_gqa=True), (1, 4, 4, 8), (1, 2, 6, 8)),
    Case("sdpa_mqa_causal", sdpa(enable_gqa=True, is_causal=True), (2, 4, 5, 8), (2, 1, 5, 8)),
    Case("sdpa_fp16", sdpa(), (1, 2, 4, 8), (1, 2, 6, 8), dtype=F16),
    Case("sdpa_fp16_d64_causal", sdpa(is_causal=True), (1, 2, 8, 64), (1, 2, 8, 64), dtype=F16),
    Case("sdpa_fp16_float_mask", sdpa(), (1, 2, 4, 8), (1, 2, 6, 8), (1, 1, 4, 6), F16, F16),
    Case("sdpa_bf16", sdpa(), (1, 2, 4, 8), (1, 2, 6, 8), dtype=BF16),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_sdpa_matches_eager(case: Case) -> None:
    """Attention lands in one engine and the reference runtime matches eager."""
    check_conversion(FnModule(case.fn), _inputs(case), ops=[SDPA])


def test_sdpa_same_tensor_as_query_key_value() -> None:
    """One tensor passed as query, key and value converts (the check once indexed the node's
    distinct inputs and crashed here)."""
    x = torch.randn(2, 2, 5, 8, generator=torch.Generator().manual_seed(3))
    check_conversion(FnModule(lambda t: F.scaled_dot_product_attention(t, t, t)), [x], ops=[SDPA])


class BertSelfAttention(nn.Module):
    """A small Hugging Face BERT self-attention layer of (hidden states, attention mask); the
    layer is a submodule, so its weights stay parameters."""

    def __init__(self) -> None:
        super().__init__()
        import transformers  # a dev dependency: its absence must fail, not skip

        cfg = transformers.BertConfig(
            hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64
        )
        cfg._attn_implementation = "sdpa"
        self.layer = transformers.models.bert.modeling_bert.BertSelfAttention(cfg).eval()

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> Any:
        return self.layer(x, attention_mask=m)[0]


def test_sdpa_bert_self_attention() -> None:
    """A Hugging Face BERT layer's SDPA (bool padding mask, explicit scale) converts."""
    module = BertSelfAttention()
    hidden = torch.randn(2, 7, 32, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(2, 1, 7, 7, dtype=torch.bool)
    mask[0] = True
    mask[1, ..., :5] = True
    check_conversion(module, [hidden, mask], ops=[SDPA])


FALLBACKS = [
    ("sdpa_dropout", sdpa(dropout_p=0.1), (1, 2, 4, 8), (1, 2, 4, 8), "dropout_p=0.1"),
    ("sdpa_value_dim", None, (1, 2, 4, 8), (1, 2, 4, 8), "value head dim 6 differs"),
    ("sdpa_rank5", sdpa(), (1, 2, 2, 4, 8), (1, 2, 2, 4, 8), "ranks 5/5/5"),
]


@pytest.mark.parametrize(("name", "fn", "q", "kv", "reason"), FALLBACKS, ids=lambda v: v)
def test_sdpa_refusal_has_reason(
    name: str, fn: Callable[..., Any] | None, q: tuple[int, ...], kv: tuple[int, ...], reason: str
) -> None:
    """Attention the converter cannot honour runs in PyTorch, with a report that says why."""
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(s, generator=g) for s in (q, kv, kv)]
    if fn is None:  # a value head dim unlike the query's
        xs[2] = torch.randn(*kv[:-1], 6, generator=g)
        fn = sdpa()
    module = FnModule(fn).eval()
    compiled = torch_trt.dynamo.compile(module, xs, runtime="reference", min_block_size=1)
    placement = torch_trt.report(compiled).placement("scaled_dot_product_attention")
    assert placement.engine is None
    assert placement.reason == Reason.UNSUPPORTED_ARGUMENTS
    assert reason in placement.detail
    if name != "sdpa_dropout":  # dropout is random: compare only the deterministic cases
        torch.testing.assert_close(compiled(*xs), module(*xs))


# --- dynamic shapes ---------------------------------------------------------------------------


BATCH, SEQ, KV = (1, 2, 3), (2, 5, 9), (3, 4, 7)
QKV = ranged(BATCH, 4, SEQ, 16)  # BERT-style (B, heads, S, head_dim)


@dataclasses.dataclass
class DynCase:
    id: str
    fn: Callable[..., Any]
    specs: list[Input]


DYNAMIC_CASES = [
    DynCase("sdpa_dyn_no_mask", sdpa(), [QKV, QKV, QKV]),
    DynCase("sdpa_dyn_bert_mask", sdpa(scale=0.25), [QKV, QKV, QKV, ranged(BATCH, 1, SEQ, SEQ)]),
    DynCase("sdpa_dyn_key_padding", sdpa(scale=0.25), [QKV] * 3 + [ranged(BATCH, 1, 1, SEQ)]),
    DynCase(
        "sdpa_dyn_float_mask_bcast",
        sdpa(),
        [QKV, QKV, QKV, ranged(1, 1, 1, SEQ, dtype=torch.float32)],
    ),
    DynCase("sdpa_dyn_causal", sdpa(is_causal=True), [QKV, QKV, QKV]),
    DynCase(
        "sdpa_dyn_cross_lengths",
        sdpa(),
        [ranged(BATCH, 2, SEQ, 8), ranged(BATCH, 2, KV, 8), ranged(BATCH, 2, KV, 8)],
    ),
    DynCase(
        "sdpa_dyn_rank3_mask",
        sdpa(),
        [ranged(BATCH, SEQ, 8)] * 3 + [ranged(BATCH, 1, SEQ)],
    ),
]


def _masked_inputs(specs: list[Input]) -> Callable[[str], list[torch.Tensor]]:
    """Random inputs at a point, with every bool-mask row attending to key 0 (no NaN rows)."""

    def make(point: str) -> list[torch.Tensor]:
        xs = random_inputs(specs, point)
        for x in xs:
            if x.dtype == torch.bool:
                x[..., 0] = True
        return xs

    return make


@pytest.mark.parametrize("case", DYNAMIC_CASES, ids=lambda c: c.id)
def test_sdpa_dynamic(case: DynCase) -> None:
    """With dynamic batch and sequence lengths attention lands in one engine and matches eager
    at the min, opt and max shapes (size-1 mask dims broadcast at run time)."""
    check_dynamic_conversion(
        FnModule(case.fn), case.specs, ops=[SDPA], make_inputs=_masked_inputs(case.specs)
    )


def test_sdpa_bert_self_attention_dynamic() -> None:
    """A Hugging Face BERT layer (linear, view, permute, SDPA with a bool (B, 1, S, S) mask and
    explicit scale) converts as one engine with dynamic batch and sequence."""
    module = BertSelfAttention()
    b, s = ("b", "s")
    specs = [
        Input(
            min_shape=(1, 2, 32), opt_shape=(2, 5, 32), max_shape=(4, 9, 32), dim_names=(b, s, None)
        ),
        Input(
            min_shape=(1, 1, 2, 2),
            opt_shape=(2, 1, 5, 5),
            max_shape=(4, 1, 9, 9),
            dtype=torch.bool,
            dim_names=(b, None, s, s),
        ),
    ]
    check_dynamic_conversion(module, specs, ops=[SDPA], make_inputs=_masked_inputs(specs))


def test_sdpa_dynamic_gqa_heads_refused() -> None:
    """Grouped-query attention with a dynamic query head count runs in PyTorch, with a reason."""
    specs = [ranged(1, (2, 4, 8), 4, 8), ranged(1, 2, 4, 8), ranged(1, 2, 4, 8)]
    detail = "query heads vs 2 key/value heads"
    check_fallback(FnModule(sdpa(enable_gqa=True)), specs, op=SDPA, detail=detail)


@pytest.mark.parametrize("mask_dtype", [torch.bool, torch.float32], ids=["bool", "float"])
def test_sdpa_fully_masked_row_is_zero(mask_dtype: torch.dtype) -> None:
    """A query row whose mask allows no key gives zeros, as torch's SDPA does (not NaN)."""
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(s, generator=g) for s in [(1, 2, 3, 8), (1, 2, 5, 8), (1, 2, 5, 8)])
    mask = torch.rand((1, 1, 3, 5), generator=g) > 0.3
    mask[..., 0] = True
    mask[0, 0, 1] = False  # query 1 may attend to nothing
    if mask_dtype != torch.bool:
        mask = torch.zeros(mask.shape).masked_fill(~mask, float("-inf"))
    result = check_conversion(FnModule(sdpa()), [q, k, v, mask], ops=[SDPA])
    assert torch.equal(result.outputs[0][:, :, 1], torch.zeros(1, 2, 8))
