"""Dynamic shapes on whole models: one engine over a range of shapes, refused outside it."""

from __future__ import annotations

import json

import pytest
import torch

import torch_trt
from torch_trt import Input
from torch_trt.runtime.op import parse_metadata
from torch_trt.testing import FP32_RTOL, randomize_norm_stats, rel_error

RESNET_INPUT = Input(
    min_shape=(1, 3, 224, 224), opt_shape=(8, 3, 224, 224), max_shape=(32, 3, 224, 224)
)


def _engine_metadata(
    compiled: torch.fx.GraphModule,
) -> list[torch_trt.runtime.engine.EngineMetadata]:
    return [
        parse_metadata(n.args[3])
        for n in compiled.graph.nodes
        if n.target is torch.ops.torch_trt.execute_engine.default
    ]


def _no_fallback(compiled: torch.nn.Module) -> None:
    rep = torch_trt.report(compiled)
    assert [f"{p.node}: {p.reason} {p.detail}" for p in rep.fallbacks] == []
    assert rep.engines == 1


@pytest.fixture(scope="module")
def resnet() -> tuple[torch.nn.Module, torch.nn.Module]:
    """ResNet-18 compiled once for batch 1..32 (opt 8)."""
    import torchvision.models as tvm

    torch.manual_seed(0)
    model = randomize_norm_stats(tvm.resnet18().eval())
    return model, torch_trt.dynamo.compile(model, [RESNET_INPUT], runtime="reference")


def test_resnet_one_engine_with_declared_profile(
    resnet: tuple[torch.nn.Module, torch.fx.GraphModule],
) -> None:
    """One engine; its optimization profile is exactly the declared min/opt/max."""
    _, compiled = resnet
    _no_fallback(compiled)
    (meta,) = _engine_metadata(compiled)
    (binding,) = meta.inputs
    assert binding.profile == (
        RESNET_INPUT.min_shape,
        RESNET_INPUT.opt_shape,
        RESNET_INPUT.max_shape,
    )
    assert isinstance(binding.shape[0], str) and binding.shape[1:] == (3, 224, 224)


@pytest.mark.parametrize("batch", [1, 8, 32])
def test_resnet_batches(resnet: tuple[torch.nn.Module, torch.nn.Module], batch: int) -> None:
    """The same engine serves batch 1, 8 and 32 and matches eager."""
    model, compiled = resnet
    x = torch.randn(batch, 3, 224, 224)
    with torch.no_grad():
        got, want = compiled(x), model(x)
    assert got.shape == (batch, 1000)
    assert rel_error(got, want) < FP32_RTOL


def test_resnet_batch_outside_range(resnet: tuple[torch.nn.Module, torch.nn.Module]) -> None:
    """Batch 33 raises InputShapeError naming the input, its shape and the allowed range."""
    _, compiled = resnet
    with pytest.raises(torch_trt.InputShapeError) as info:
        compiled(torch.randn(33, 3, 224, 224))
    assert str(info.value) == (
        "input 'x' has shape (33, 3, 224, 224): dim 0 is 33, allowed in [1, 32] "
        "(min shape (1, 3, 224, 224), max shape (32, 3, 224, 224))"
    )


def test_static_dim_of_dynamic_input_is_checked(
    resnet: tuple[torch.nn.Module, torch.nn.Module],
) -> None:
    """A wrong static dim is refused too, naming that dim."""
    _, compiled = resnet
    with pytest.raises(torch_trt.InputShapeError, match="dim 2 is 200, allowed 224"):
        compiled(torch.randn(2, 3, 200, 224))


def _bert() -> torch.nn.Module:
    import transformers

    config = transformers.BertConfig(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        intermediate_size=128,
        vocab_size=512,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    return transformers.BertModel(config).eval()


def test_bert_dynamic_batch_and_sequence() -> None:
    """BERT with batch 1..8 and sequence 8..128 (and a mask) is one engine, right at the corners
    and in the middle."""
    model = _bert()
    ids = Input(min_shape=(1, 8), opt_shape=(4, 64), max_shape=(8, 128), dtype=torch.int64)
    mask = Input(min_shape=(1, 8), opt_shape=(4, 64), max_shape=(8, 128), dtype=torch.int64)
    compiled = torch_trt.dynamo.compile(
        model, [ids], kwarg_inputs={"attention_mask": mask}, runtime="reference"
    )
    _no_fallback(compiled)
    (meta,) = _engine_metadata(compiled)
    profiles = {b.name: b.profile for b in meta.inputs if b.profile is not None}
    assert profiles and all(p == ((1, 8), (4, 64), (8, 128)) for p in profiles.values())
    for batch, seq in [(1, 8), (1, 128), (8, 8), (8, 128), (3, 37)]:
        x = torch.randint(0, 512, (batch, seq))
        m = torch.ones(batch, seq, dtype=torch.int64)
        m[0, seq // 2 :] = 0
        with torch.no_grad():
            got = compiled(x, attention_mask=m)
            want = model(x, attention_mask=m)
        for g, w in [
            (got.last_hidden_state, want.last_hidden_state),
            (got.pooler_output, want.pooler_output),
        ]:
            assert rel_error(g, w) < FP32_RTOL, (batch, seq)
    with pytest.raises(torch_trt.InputShapeError, match="dim 1 is 129, allowed in \\[8, 128\\]"):
        compiled(torch.zeros(2, 129, dtype=torch.int64), attention_mask=torch.ones(2, 129).long())


def test_metadata_records_symbolic_output_dims(
    resnet: tuple[torch.nn.Module, torch.fx.GraphModule],
) -> None:
    """Output dims are recorded as expressions of input symbols, so re-tracing can size them."""
    _, compiled = resnet
    (meta,) = _engine_metadata(compiled)
    raw = json.loads(meta.to_json())
    assert raw["outputs"][0]["shape"][0] == raw["inputs"][0]["shape"][0]
    assert raw["outputs"][0]["shape"][1] == 1000
