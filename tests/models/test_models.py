"""Whole models: one engine, no fallback, reference runtime equal to eager (fp32 rel < 1e-4)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import torch_trt
from torch_trt.testing import FP32_RTOL, randomize_norm_stats, rel_error


def _assert_one_engine(compiled: torch.nn.Module) -> torch_trt.Report:
    rep = torch_trt.report(compiled)
    fallbacks = [f"{p.node} {p.op}: {p.reason} {p.detail}" for p in rep.fallbacks]
    assert fallbacks == []
    assert rep.engines == 1
    return rep


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_torchvision_model(name: str) -> None:
    """A torchvision classifier with random weights becomes one engine matching eager."""
    import torchvision.models as tvm

    torch.manual_seed(0)
    model = randomize_norm_stats(getattr(tvm, name)().eval())
    x = torch.randn(2, 3, 224, 224)
    compiled = torch_trt.dynamo.compile(model, [x], runtime="reference")
    _assert_one_engine(compiled)
    with torch.no_grad():
        err = rel_error(compiled(x), model(x))
    assert err < FP32_RTOL


def _bert() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    import transformers

    config = transformers.BertConfig(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        intermediate_size=128,
        vocab_size=512,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, 512, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.int64)
    mask[1, 10:] = 0  # a padded sequence, so the mask matters
    return model, ids, mask


def _outputs(out: Any) -> list[torch.Tensor]:
    return [out.last_hidden_state, out.pooler_output]


def test_bert_two_layers() -> None:
    """A 2-layer Hugging Face BERT with an attention mask is one engine matching eager."""
    model, ids, mask = _bert()
    compiled = torch_trt.dynamo.compile(
        model, [ids], kwarg_inputs={"attention_mask": mask}, runtime="reference"
    )
    _assert_one_engine(compiled)
    with torch.no_grad():
        got = _outputs(compiled(ids, attention_mask=mask))
        want = _outputs(model(ids, attention_mask=mask))
    for g, w in zip(got, want, strict=True):
        assert rel_error(g, w) < FP32_RTOL
    # The mask is live: another mask gives another (still matching) answer.
    other = torch.ones_like(mask)
    with torch.no_grad():
        assert (
            rel_error(
                compiled(ids, attention_mask=other).last_hidden_state,
                model(ids, attention_mask=other).last_hidden_state,
            )
            < FP32_RTOL
        )
