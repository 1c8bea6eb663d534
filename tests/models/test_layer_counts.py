"""TensorRT layer counts of whole models, exact, so that a regression in network size shows.

The counts are what the converters emit today (batch norm folded into convolutions, linear as
one matrix multiply plus one sum, constants made once, no identity shuffles or casts). When a
converter change moves a count, check the new network is really leaner or needed, then update
the number here with the reason in the commit message.
"""

from __future__ import annotations

import torch

import torch_trt
from torch_trt.testing import FP32_RTOL, randomize_norm_stats, rel_error


def _layers(compiled: torch.nn.Module) -> list[int]:
    rep = torch_trt.report(compiled)
    assert rep.fallbacks == []
    return [e.layers for e in rep.engine_info]


def test_resnet18_layer_count() -> None:
    """ResNet-18: 20 convolutions (batch norms folded in), 17 relus, 8 residual sums, max pool,
    mean, flatten and the classifier (2 constants, matrix multiply, bias sum): 52 layers in one
    engine, matching eager."""
    import torchvision.models as tvm

    torch.manual_seed(0)
    model = randomize_norm_stats(tvm.resnet18().eval())
    x = torch.randn(1, 3, 64, 64)
    compiled = torch_trt.dynamo.compile(model, [x], runtime="reference")
    assert _layers(compiled) == [52]
    with torch.no_grad():
        assert rel_error(compiled(x), model(x)) < FP32_RTOL


def test_bert_layer_count() -> None:
    """A one-layer Hugging Face BERT (hidden 64) with an attention mask: 66 layers in one
    engine, matching eager."""
    import transformers

    config = transformers.BertConfig(
        num_hidden_layers=1,
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
    mask[1, 10:] = 0
    compiled = torch_trt.dynamo.compile(
        model, [ids], kwarg_inputs={"attention_mask": mask}, runtime="reference"
    )
    assert _layers(compiled) == [66]
    with torch.no_grad():
        got = compiled(ids, attention_mask=mask).last_hidden_state
        want = model(ids, attention_mask=mask).last_hidden_state
    assert rel_error(got, want) < FP32_RTOL
