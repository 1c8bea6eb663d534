"""Whole models in fp16 and bf16: as accurate as eager in the same type, finite, and the report
says which layers run low and which stayed fp32."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch

import torch_trt
from torch_trt.testing import randomize_norm_stats, rel_error

LOW = {"fp16": torch.float16, "bf16": torch.bfloat16}
# The acceptance bound: compiled error vs fp64 at most this times eager's in the same type.
SLACK = 1.5


def _resnet50() -> tuple[torch.nn.Module, tuple[Any, ...], dict[str, Any]]:
    import torchvision

    model = randomize_norm_stats(torchvision.models.resnet50().eval())
    return model, (torch.randn(1, 3, 64, 64),), {}


def _vit() -> tuple[torch.nn.Module, tuple[Any, ...], dict[str, Any]]:
    from torchvision.models.vision_transformer import VisionTransformer

    # ViT-B/16 widths (768 hidden, 12 heads, 3072 MLP) at reduced depth and image size.
    model = VisionTransformer(
        image_size=64, patch_size=16, num_layers=2, num_heads=12, hidden_dim=768, mlp_dim=3072
    ).eval()
    torch.nn.init.normal_(model.heads.head.weight, std=0.02)  # torchvision zero-inits the head
    return model, (torch.randn(1, 3, 64, 64),), {}


def _bert() -> tuple[torch.nn.Module, tuple[Any, ...], dict[str, Any]]:
    import transformers

    # BERT-base widths (768 hidden, 12 heads, 3072 intermediate), 4 layers, random weights; a
    # small vocabulary keeps the test fast (the embedding lookup is not precision-sensitive).
    config = transformers.BertConfig(
        num_hidden_layers=4, vocab_size=1024, max_position_embeddings=64
    )
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, config.vocab_size, (1, 32))
    mask = torch.ones(1, 32, dtype=torch.int64)
    mask[0, 24:] = 0
    return model, (ids,), {"attention_mask": mask}


MODELS: dict[str, Callable[[], tuple[torch.nn.Module, tuple[Any, ...], dict[str, Any]]]] = {
    "resnet50": _resnet50,
    "vit_b_16_2layers": _vit,
    "bert_4layers": _bert,
}
# Node-name prefixes of ops that must run low, and of ops that must stay fp32, per model.
# (Attention runs low too, but its converter does bf16 mask bookkeeping in fp32: it is checked
# for low layers, not for low layers only.)
LOW_NODES = {
    "resnet50": ("convolution",),
    "vit_b_16_2layers": ("convolution", "linear"),
    "bert_4layers": ("linear",),
}
FP32_NODES = {
    "resnet50": ("mean",),
    "vit_b_16_2layers": ("layer_norm",),
    "bert_4layers": ("layer_norm",),
}


def _first(out: Any) -> torch.Tensor:
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out


def _to(args: tuple[Any, ...], dtype: torch.dtype) -> tuple[Any, ...]:
    return tuple(a.to(dtype) if a.is_floating_point() else a for a in args)


def _node_precisions(rep: torch_trt.Report) -> dict[str, set[str]]:
    """Per fx node, the float precisions its layers compute in, from the report (casts and
    integer/bool bookkeeping layers, e.g. of attention masks, left out)."""
    out: dict[str, set[str]] = {}
    for engine, layers in rep.layer_precision.items():
        for layer, precision in layers.items():
            if precision in ("fp32", "fp16", "bf16"):
                out.setdefault(rep.layer_to_node[engine][layer], set()).add(precision)
    return out


@pytest.fixture(scope="module", params=sorted(MODELS))
def model_case(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A model, its inputs and its fp64 eager output."""
    torch.manual_seed(0)
    model, args, kwargs = MODELS[request.param]()
    with torch.no_grad():
        fp64 = _first(copy.deepcopy(model).double()(*_to(args, torch.float64), **kwargs))
    return {"name": request.param, "model": model, "args": args, "kwargs": kwargs, "fp64": fp64}


@pytest.mark.parametrize("precision", sorted(LOW))
def test_model_accuracy(model_case: dict[str, Any], precision: str) -> None:
    """Against fp64 eager, the compiled model's error is at most 1.5x eager's in the same low
    type, with no NaN/Inf; the report shows matrix work low and the sensitive ops in fp32."""
    name, model, args, kwargs = (model_case[k] for k in ("name", "model", "args", "kwargs"))
    low = LOW[precision]
    compiled = torch_trt.dynamo.compile(
        model, args, kwarg_inputs=kwargs, runtime="reference", precision=precision
    )
    with torch.no_grad():
        got = _first(compiled(*args, **kwargs))
        eager = _first(copy.deepcopy(model).to(low)(*_to(args, low), **kwargs))
    assert got.dtype == torch.float32  # the model's declared output dtype
    assert torch.isfinite(got).all()
    err, eager_err = rel_error(got, model_case["fp64"]), rel_error(eager, model_case["fp64"])
    assert err <= SLACK * eager_err, f"{name} {precision}: {err:.3g} vs eager {eager_err:.3g}"

    rep = torch_trt.report(compiled)
    assert rep.engines == 1 and rep.fallbacks == []
    (engine,) = rep.engine_info
    assert engine.by_precision[precision] > engine.by_precision.get("fp32", 0)
    nodes = _node_precisions(rep)
    low_nodes = [n for n in nodes if n.startswith(LOW_NODES[name])]
    fp32_nodes = [n for n in nodes if n.startswith(FP32_NODES[name])]
    assert low_nodes and all(nodes[n] == {precision} for n in low_nodes)
    assert fp32_nodes and all(nodes[n] == {"fp32"} for n in fp32_nodes)
    attention = [n for n in nodes if n.startswith("scaled_dot_product_attention")]
    assert all(precision in nodes[n] for n in attention)
    assert name == "resnet50" or attention


class HotActivations(torch.nn.Module):
    """Activations in the hundreds into a hand-written layer norm (variance via pow), and
    logits near 20 into a softmax without max subtraction: run naively in fp16, the variance
    overflows (the norm silently becomes 0) and exp overflows (inf / inf = NaN)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(64, 256)
        self.scores = torch.nn.Linear(64, 16)
        with torch.no_grad():
            self.proj.weight.mul_(400.0)  # |h - mean| in the hundreds: its square > 65504
            self.scores.weight.mul_(30.0)  # logits up to ~20: exp(20) ~ 5e8 > 65504

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.proj(x)
        mu = h.mean(-1, keepdim=True)
        var = (h - mu).pow(2).mean(-1, keepdim=True)
        normed = (h - mu) * torch.rsqrt(var + 1e-5)
        e = self.scores(x).exp()
        return normed, e / e.sum(-1, keepdim=True)


def test_large_activations_stay_finite_in_fp16() -> None:
    """Where naive fp16 eager overflows, the fp16 compile stays finite and accurate: the
    variance, the exp and the sum run in fp32 while the matrix work runs in fp16."""
    model, x = HotActivations().eval(), torch.randn(8, 64)
    with torch.no_grad():
        naive = copy.deepcopy(model).half()(x.half())
        fp64 = copy.deepcopy(model).double()(x.double())
    # The properties this test is about: naive fp16 is wrong (norm) and not finite (softmax).
    assert rel_error(naive[0], fp64[0]) > 0.5 and not torch.isfinite(naive[1]).all()
    compiled = torch_trt.dynamo.compile(model, [x], runtime="reference", precision="fp16")
    with torch.no_grad():
        got = compiled(x)
    for g, want in zip(got, fp64, strict=True):
        assert g.dtype == torch.float32 and torch.isfinite(g).all()
        assert rel_error(g, want) < 1e-2
    nodes = _node_precisions(torch_trt.report(compiled))
    assert nodes["linear"] == {"fp16"} and nodes["linear_1"] == {"fp16"}
    assert nodes["pow_1"] == {"fp32"} and nodes["exp"] == {"fp32"} and nodes["sum_1"] == {"fp32"}
