"""Whole models under torch.compile(backend="torch_trt"): every compute node in an engine and
the reference runtime equal to eager (fp32 rel < 1e-4)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

import torch_trt
from torch_trt.testing import FP32_RTOL, randomize_norm_stats, rel_error

OPTIONS = {"runtime": "reference"}


@pytest.fixture(autouse=True)
def _fresh_dynamo() -> Iterator[None]:
    """Every test starts with empty Dynamo caches."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _assert_all_in_engines(compiled: object) -> torch_trt.Report:
    rep = torch_trt.report(compiled)
    fallbacks = [f"{p.node} {p.op}: {p.reason} {p.detail}" for p in rep.fallbacks]
    assert fallbacks == []
    assert rep.engines >= 1 and len(rep.placements) > 0
    return rep


def test_resnet18_under_torch_compile() -> None:
    """ResNet-18 under torch.compile: one graph, every node in TensorRT, matching eager."""
    import torchvision.models as tvm

    model = randomize_norm_stats(tvm.resnet18().eval())
    compiled = torch.compile(model, backend="torch_trt", options=OPTIONS)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        err = rel_error(compiled(x), model(x))
    assert err < FP32_RTOL
    rep = _assert_all_in_engines(compiled)
    assert rep.engines == 1


def test_bert_two_layers_under_torch_compile() -> None:
    """A 2-layer BERT with a padding mask under torch.compile: all in TensorRT, matching eager."""
    import transformers

    config = transformers.BertConfig(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        intermediate_size=128,
        vocab_size=512,
        max_position_embeddings=64,
    )
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, 512, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.int64)
    mask[1, 10:] = 0
    compiled = torch.compile(model, backend="torch_trt", options=OPTIONS)
    with torch.no_grad():
        got = compiled(ids, attention_mask=mask)
        want = model(ids, attention_mask=mask)
    assert rel_error(got.last_hidden_state, want.last_hidden_state) < FP32_RTOL
    assert rel_error(got.pooler_output, want.pooler_output) < FP32_RTOL
    _assert_all_in_engines(compiled)
