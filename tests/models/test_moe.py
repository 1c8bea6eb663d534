"""Hugging Face mixture-of-experts models (tiny configs, random weights): the whole model,
routing included, is one engine whose reference run matches eager (fp32 rel < 1e-4).

transformers 5 picks the experts' code by ``config._experts_implementation``: ``"grouped_mm"``
(the default: sort by expert, ``histc`` counts, ``cumsum`` offsets, grouped products) or
``"batched_mm"`` (one gathered weight matrix per token and expert, ``bmm``); ``"eager"`` loops
in Python over the experts hit and cannot be exported (its capture error says so).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch

import torch_trt
from torch_trt.testing import FP32_RTOL, assert_close, rel_error

transformers = pytest.importorskip("transformers")

EXPERTS = 4


def mixtral(impl: str | None) -> torch.nn.Module:
    """A 2-layer Mixtral: 4 experts, top-2 routing, grouped-query attention."""
    cfg = transformers.MixtralConfig(
        num_hidden_layers=2,
        hidden_size=64,
        intermediate_size=128,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_local_experts=EXPERTS,
        num_experts_per_tok=2,
        vocab_size=256,
        max_position_embeddings=64,
    )
    if impl is not None:
        cfg._experts_implementation = impl
    torch.manual_seed(0)
    return transformers.MixtralModel(cfg).eval()


def qwen2_moe(impl: str | None) -> torch.nn.Module:
    """A 2-layer Qwen2-MoE: 4 routed experts (top-2, unnormalised weights) and a gated shared
    expert."""
    cfg = transformers.Qwen2MoeConfig(
        num_hidden_layers=2,
        hidden_size=64,
        intermediate_size=128,
        moe_intermediate_size=32,
        shared_expert_intermediate_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_experts=EXPERTS,
        num_experts_per_tok=2,
        vocab_size=256,
        max_position_embeddings=64,
    )
    if impl is not None:
        cfg._experts_implementation = impl
    torch.manual_seed(0)
    return transformers.Qwen2MoeModel(cfg).eval()


def experts_hit(model: torch.nn.Module, ids: torch.Tensor) -> set[int]:
    """The experts eager routing picks for ``ids`` in any layer (read from the routers)."""
    hit: set[int] = set()

    def record(_m: Any, _i: Any, out: tuple[torch.Tensor, ...]) -> None:
        hit.update(int(e) for e in out[-1].flatten())

    routers = [m for n, m in model.named_modules() if n.endswith("mlp.gate")]
    handles = [m.register_forward_hook(record) for m in routers]
    try:
        with torch.no_grad():
            model(ids, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return hit


def check_one_engine(
    model: torch.nn.Module,
    spec: Any,
    runs: list[torch.Tensor],
    fp32: torch.nn.Module | None = None,
) -> torch_trt.Report:
    """Compile with ``spec`` (a tensor or ranged Input), compare with eager on every run input
    (whose routing must reach every expert), then assert one engine and no fallback. With
    ``fp32`` (the float32 original of a bf16 ``model``) the low-precision policy applies.
    """
    compiled = torch_trt.dynamo.compile(
        model, [spec], kwarg_inputs={"use_cache": False}, runtime="reference"
    )
    rep = torch_trt.report(compiled)
    for ids in runs:
        assert experts_hit(model, ids) == set(range(EXPERTS))  # routing is exercised
        with torch.no_grad():
            got = compiled(ids, use_cache=False).last_hidden_state
            want = model(ids, use_cache=False).last_hidden_state
            exact = None if fp32 is None else fp32(ids, use_cache=False).last_hidden_state
        if exact is None:
            err = rel_error(got, want)
            assert err < FP32_RTOL, (tuple(ids.shape), err)
        else:
            assert_close(got, want, exact)
    assert [f"{p.node} {p.op}: {p.reason} {p.detail}" for p in rep.fallbacks] == []
    assert rep.engines == 1
    return rep


def ids(*shape: int) -> torch.Tensor:
    """Token ids, deterministic per shape."""
    return torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(sum(shape)))


MODELS: list[tuple[str, Callable[[str | None], torch.nn.Module], str | None]] = [
    ("mixtral_grouped_mm", mixtral, None),
    ("mixtral_batched_mm", mixtral, "batched_mm"),
    ("qwen2_moe_grouped_mm", qwen2_moe, None),
    ("qwen2_moe_batched_mm", qwen2_moe, "batched_mm"),
]


@pytest.mark.parametrize(
    ("build", "impl"),
    [pytest.param(m[1], m[2], id=m[0]) for m in MODELS],
)
def test_moe_model_is_one_engine(
    build: Callable[[str | None], torch.nn.Module], impl: str | None
) -> None:
    """The MoE model (both experts implementations that trace) is one engine matching eager."""
    model = build(impl)
    assert model.config._experts_implementation == (impl or "grouped_mm")
    x = ids(2, 8)
    rep = check_one_engine(model, x, [x])
    if impl is None:  # the default path's grouped product is in the engine, decomposed
        assert any(p.op == "aten.bmm.default" and p.engine for p in rep.placements)


def test_mixtral_bf16_grouped_products() -> None:
    """With bfloat16 weights transformers calls torch's _grouped_mm itself: it lands in the
    engine, and the engine is no further from the float32 model than bf16 eager is (x2)."""
    fp32 = mixtral(None)
    model = copy.deepcopy(fp32).to(torch.bfloat16)
    x = ids(2, 8)
    rep = check_one_engine(model, x, [x], fp32=fp32)
    assert any(p.op == "aten._grouped_mm.default" and p.engine for p in rep.placements)


def test_mixtral_dynamic_tokens() -> None:
    """One engine serves every batch and sequence length of its range (default experts path:
    the sort, counts and inverse permutation all have data-sized shapes)."""
    spec = torch_trt.Input(min_shape=(1, 2), opt_shape=(1, 8), max_shape=(2, 16), dtype=torch.int64)
    check_one_engine(mixtral(None), spec, [ids(1, 4), ids(2, 16), ids(2, 5)])


def test_eager_experts_capture_error_names_remedy() -> None:
    """The eager experts loop cannot be exported; the error says which implementation to use."""
    model = mixtral("eager")
    with pytest.raises(torch_trt.CaptureError) as e:
        torch_trt.dynamo.compile(model, [ids(1, 8)], kwarg_inputs={"use_cache": False})
    first = str(e.value).splitlines()[0]
    assert "experts_implementation='eager'" in first and "'grouped_mm'" in first
