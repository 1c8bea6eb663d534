"""The backend-specific SDPA forms (flash, flash for CPU, memory-efficient, cuDNN): output 0 is
one IAttention, checked against eager ``F.scaled_dot_product_attention``.

The CUDA-only forms have no CPU kernel, so their compiled result is compared with eager SDPA on
the same arguments (which is what the kernels compute); the CPU flash form runs eagerly itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import torch_trt
from torch_trt import Input
from torch_trt.convert.registry import Reason
from torch_trt.testing import (
    FnModule,
    assert_close,
    check_conversion,
    check_dynamic_conversion,
    random_inputs,
    ranged,
)

aten = torch.ops.aten
FLASH = aten._scaled_dot_product_flash_attention.default
FLASH_CPU = aten._scaled_dot_product_flash_attention_for_cpu.default
EFFICIENT = aten._scaled_dot_product_efficient_attention.default
CUDNN = aten._scaled_dot_product_cudnn_attention.default


def qkv(q: tuple[int, ...], kv: tuple[int, ...], dtype: torch.dtype = torch.float32) -> list[Any]:
    """Deterministic query, key and value tensors."""
    g = torch.Generator().manual_seed(len(q) + sum(q) + sum(kv))
    return [torch.randn(s, generator=g).to(dtype) for s in (q, kv, kv)]


def bias(*shape: int) -> torch.Tensor:
    """An additive float mask with some -inf entries (never a whole row)."""
    g = torch.Generator().manual_seed(7)
    b = torch.randn(shape, generator=g)
    b[..., 1::3] = float("-inf")
    return b


# (id, the fused op call on (q, k, v, *extra), eager SDPA on the same, shapes, extra inputs, op)
Case = tuple[str, Callable[..., Any], Callable[..., Any], list[Any], Any]
S4, S6 = (1, 2, 4, 8), (1, 2, 6, 8)
CUDA_CASES: list[Case] = [
    (
        "flash",
        lambda q, k, v: FLASH(q, k, v)[0],
        F.scaled_dot_product_attention,
        qkv(S4, S6),
        FLASH,
    ),
    (
        "flash_causal_scale",
        lambda q, k, v: FLASH(q, k, v, 0.0, True, scale=0.3)[0],
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3),
        qkv(S6, S6),
        FLASH,
    ),
    (
        "efficient",
        lambda q, k, v: EFFICIENT(q, k, v, None, False)[0],
        F.scaled_dot_product_attention,
        qkv(S4, S6),
        EFFICIENT,
    ),
    (
        "efficient_bias",
        lambda q, k, v, b: EFFICIENT(q, k, v, b, False)[0],
        lambda q, k, v, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b),
        [*qkv(S4, S6), bias(1, 2, 4, 6)],
        EFFICIENT,
    ),
    (
        "efficient_causal_fp16",
        lambda q, k, v: EFFICIENT(q, k, v, None, False, 0.0, True)[0],
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        qkv(S4, S4, torch.float16),
        EFFICIENT,
    ),
    (
        "cudnn",
        lambda q, k, v: CUDNN(q, k, v, None, False)[0],
        F.scaled_dot_product_attention,
        qkv(S4, S6),
        CUDNN,
    ),
    (
        "cudnn_bias_scale",
        lambda q, k, v, b: CUDNN(q, k, v, b, False, scale=0.5)[0],
        lambda q, k, v, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b, scale=0.5),
        [*qkv(S4, S6), bias(1, 1, 4, 6)],
        CUDNN,
    ),
]


def _fp64(fn: Callable[..., Any], xs: list[torch.Tensor]) -> torch.Tensor | None:
    if xs[0].dtype == torch.float32:
        return None
    return fn(*(x.double() for x in xs))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("fused", "eager", "inputs", "op"), [c[1:] for c in CUDA_CASES], ids=[c[0] for c in CUDA_CASES]
)
def test_cuda_forms_match_eager_sdpa(
    fused: Callable[..., Any], eager: Callable[..., Any], inputs: list[Any], op: Any
) -> None:
    """The CUDA-only form lands in one engine and its output 0 matches eager SDPA."""
    compiled = torch_trt.dynamo.compile(
        FnModule(fused).eval(), inputs, runtime="reference", min_block_size=1
    )
    rep = torch_trt.report(compiled)
    assert rep.engines == 1 and rep.fallbacks == []
    assert any(p.op == str(op).replace("aten::", "aten.") for p in rep.placements), rep
    want = eager(*inputs)
    assert_close(compiled(*inputs), want, _fp64(eager, inputs))


CPU_CASES: list[tuple[str, Callable[..., Any], list[Any]]] = [
    ("flash_cpu", lambda q, k, v: FLASH_CPU(q, k, v)[0], qkv(S4, S6)),
    ("flash_cpu_causal", lambda q, k, v: FLASH_CPU(q, k, v, 0.0, True)[0], qkv(S6, S6)),
    (
        "flash_cpu_float_mask",
        lambda q, k, v, m: FLASH_CPU(q, k, v, attn_mask=m, scale=0.4)[0],
        [*qkv(S4, S6), bias(1, 2, 4, 6)],
    ),
    ("flash_cpu_bf16", lambda q, k, v: FLASH_CPU(q, k, v)[0], qkv(S4, S6, torch.bfloat16)),
    (
        "sdpa_via_flash_cpu_unused_lse",
        lambda q, k, v: FLASH_CPU(q, k, v)[0] * 2,
        qkv((2, 1, 3, 4), (2, 1, 5, 4)),
    ),
]


@pytest.mark.parametrize(
    ("fn", "inputs"), [c[1:] for c in CPU_CASES], ids=[c[0] for c in CPU_CASES]
)
def test_flash_for_cpu_matches_eager(fn: Callable[..., Any], inputs: list[Any]) -> None:
    """The CPU flash form stays whole through lowering, lands in one engine, matches eager."""
    check_conversion(FnModule(fn), inputs, ops=[FLASH_CPU])


REFUSALS: list[tuple[str, Callable[..., Any], Any, str]] = [
    (
        "flash_cpu_logsumexp_used",
        lambda q, k, v: FLASH_CPU(q, k, v)[1] + 1,
        FLASH_CPU,
        "outputs other than the attention output are used",
    ),
    (
        "efficient_compute_log_sumexp",
        lambda q, k, v: EFFICIENT(q, k, v, None, True)[0],
        EFFICIENT,
        "compute_log_sumexp=True is not supported",
    ),
    (
        "flash_debug_mask",
        lambda q, k, v: FLASH(q, k, v, 0.0, False, True)[0],
        FLASH,
        "return_debug_mask=True is not supported",
    ),
    (
        "flash_dropout",
        lambda q, k, v: FLASH(q, k, v, 0.2)[0],
        FLASH,
        "dropout_p=0.2",
    ),
]


@pytest.mark.parametrize(
    ("fn", "op", "detail"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_refusals_have_a_reason(fn: Callable[..., Any], op: Any, detail: str) -> None:
    """Training-only uses (statistics outputs, dropout, debug masks) stay in PyTorch, with the
    reason in the report (checked on the report only: the CUDA forms cannot run here)."""
    compiled = torch_trt.dynamo.compile(
        FnModule(fn).eval(), qkv(S4, S6), runtime="reference", min_block_size=1
    )
    name = str(op).replace("aten::", "aten.")
    placed = [p for p in torch_trt.report(compiled).placements if p.op == name]
    assert placed, torch_trt.report(compiled)
    for p in placed:
        assert p.engine is None and p.reason == Reason.UNSUPPORTED_ARGUMENTS, p
        assert detail in p.detail, p.detail


# --- dynamic shapes ---------------------------------------------------------------------------

BATCH, SEQ = (1, 2, 3), (2, 5, 9)
QKV = ranged(BATCH, 2, SEQ, 8)


def test_flash_for_cpu_dynamic() -> None:
    """The CPU flash form with dynamic batch and sequence: one engine, eager at min/opt/max."""
    fn = FnModule(lambda q, k, v: FLASH_CPU(q, k, v, 0.0, True)[0])
    check_dynamic_conversion(fn, [QKV, QKV, QKV], ops=[FLASH_CPU])


@pytest.mark.parametrize("op", [EFFICIENT, CUDNN, FLASH], ids=["efficient", "cudnn", "flash"])
def test_cuda_forms_dynamic(op: Any) -> None:
    """A CUDA-only form with dynamic batch and sequence builds one engine whose output matches
    eager SDPA at the min, opt and max shapes."""
    call = (
        (lambda q, k, v: op(q, k, v)[0])
        if op is FLASH
        else (lambda q, k, v: op(q, k, v, None, False)[0])
    )
    specs: list[Input] = [QKV, QKV, QKV]
    compiled = torch_trt.dynamo.compile(
        FnModule(call).eval(), specs, runtime="reference", min_block_size=1
    )
    rep = torch_trt.report(compiled)
    assert rep.engines == 1 and rep.fallbacks == []
    for point in ("min", "opt", "max"):
        xs = random_inputs(specs, point)
        assert_close(compiled(*xs), F.scaled_dot_product_attention(*xs), None)
