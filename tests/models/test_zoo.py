"""The public model zoo: each model, with random weights, is one engine with no fallback whose
reference run matches eager.

Every model here meets fp32 rel < 1e-4, including those deeper than 50 layers, where issue 9
allows 1e-3; the table states each model's bound. Hugging Face models use their default configs
with fewer layers (and, for BART and Whisper, smaller widths or inputs) to keep CI time in check:
the layers are repeats, so the ops are the same. Inputs are small (64x64 images, 16 tokens).
The zoo's other members have their own files: raft_small in test_raft.py, MixtralModel (and
Qwen2-MoE) in test_moe.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import torch

import torch_trt
from torch_trt.testing import randomize_norm_stats, rel_error

Built = tuple[torch.nn.Module, list[Any], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class ZooModel:
    """A zoo entry: how to build it with its example inputs, and its bound (fp32 rel error)."""

    name: str
    build: Callable[[], Built]
    rtol: float


def image(size: int = 64) -> torch.Tensor:
    """One RGB image, deterministic."""
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(size))


def torchvision_model(name: str, **kwargs: Any) -> Callable[[], Built]:
    """A torchvision model with random weights and non-trivial batch-norm statistics."""

    def build() -> Built:
        import torchvision.models as tvm
        import torchvision.models.segmentation as seg

        torch.manual_seed(0)
        factory = getattr(tvm, name, None) or getattr(seg, name)
        model = randomize_norm_stats(factory(weights=None, **kwargs).eval())
        if name.startswith("vit"):  # torchvision zero-initialises the head: outputs would be 0
            torch.nn.init.normal_(model.heads.head.weight, std=0.02)
        return model, [image()], {}

    return build


def tokens(vocab: int, batch: int = 2, length: int = 16) -> dict[str, torch.Tensor]:
    """Token ids and an attention mask with one padded sequence (so the mask matters)."""
    g = torch.Generator().manual_seed(vocab)
    mask = torch.ones(batch, length, dtype=torch.int64)
    mask[-1, length // 2 :] = 0
    return {
        "input_ids": torch.randint(0, vocab, (batch, length), generator=g),
        "attention_mask": mask,
    }


def hugging_face(cls: str, config: Callable[[Any], Any], **extra: Any) -> Callable[[], Built]:
    """A transformers model from its default config (``config`` reduces it), random weights."""

    def build() -> Built:
        import transformers

        cfg = config(transformers)
        torch.manual_seed(0)
        model = getattr(transformers, cls)(cfg).eval()
        return model, [], {**tokens(cfg.vocab_size), **extra}

    return build


def whisper_encoder() -> Built:
    """Whisper's encoder (default config: 4 layers), 200 positions instead of 1500 (the input
    length is fixed by the config at twice that many mel frames)."""
    import transformers

    cfg = transformers.WhisperConfig(max_source_positions=200)
    torch.manual_seed(0)
    encoder = transformers.WhisperModel(cfg).get_encoder().eval()
    features = torch.randn(1, cfg.num_mel_bins, 2 * cfg.max_source_positions)
    return encoder, [features], {}


def bart_config(t: Any) -> Any:
    """bart-large's config at 2 + 2 layers and bart-base's width (768): 406M parameters
    otherwise."""
    return t.BartConfig(
        encoder_layers=2,
        decoder_layers=2,
        d_model=768,
        encoder_ffn_dim=3072,
        decoder_ffn_dim=3072,
        encoder_attention_heads=12,
        decoder_attention_heads=12,
    )


# rtol: every model meets 1e-4, also those deeper than 50 layers (resnet50 and deeper: the
# torchvision ones, where issue 9 would allow 1e-3).
ZOO: list[ZooModel] = [
    ZooModel("resnet50", torchvision_model("resnet50"), rtol=1e-4),
    ZooModel("efficientnet_b0", torchvision_model("efficientnet_b0"), rtol=1e-4),
    ZooModel("vit_b_16", torchvision_model("vit_b_16", image_size=64), rtol=1e-4),
    ZooModel("convnext_tiny", torchvision_model("convnext_tiny"), rtol=1e-4),
    ZooModel("swin_t", torchvision_model("swin_t"), rtol=1e-4),
    ZooModel("densenet121", torchvision_model("densenet121"), rtol=1e-4),
    ZooModel(
        "deeplabv3_mobilenet_v3_large",
        torchvision_model("deeplabv3_mobilenet_v3_large", weights_backbone=None),
        rtol=1e-4,
    ),
    # BERT-base and GPT-2 (small) widths, 2 of their 12 layers.
    ZooModel(
        "bert", hugging_face("BertModel", lambda t: t.BertConfig(num_hidden_layers=2)), rtol=1e-4
    ),
    ZooModel(
        "gpt2",
        hugging_face("GPT2Model", lambda t: t.GPT2Config(n_layer=2), use_cache=False),
        rtol=1e-4,
    ),
    # t5-small's config, all 6 encoder layers.
    ZooModel("t5_encoder", hugging_face("T5EncoderModel", lambda t: t.T5Config()), rtol=1e-4),
    ZooModel("whisper_encoder", whisper_encoder, rtol=1e-4),
    ZooModel("bart", hugging_face("BartModel", bart_config, use_cache=False), rtol=1e-4),
]


def tensors(out: Any) -> list[torch.Tensor]:
    """Every tensor of a model output (tensor, tuple, dict or transformers ModelOutput)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in tensors(v)]
    if isinstance(out, list | tuple):
        return [t for v in out for t in tensors(v)]
    return []


@pytest.mark.parametrize("entry", ZOO, ids=[m.name for m in ZOO])
def test_zoo_model(entry: ZooModel) -> None:
    """One engine, no fallback, every output within the model's bound of eager (fp32)."""
    model, args, kwargs = entry.build()
    compiled = torch_trt.dynamo.compile(model, args, kwarg_inputs=kwargs, runtime="reference")
    rep = torch_trt.report(compiled)
    assert [f"{p.node} {p.op}: {p.reason} {p.detail}" for p in rep.fallbacks] == []
    assert rep.engines == 1
    with torch.no_grad():
        got, want = tensors(compiled(*args, **kwargs)), tensors(model(*args, **kwargs))
    assert len(got) == len(want) > 0
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert w.abs().max() > 0, f"output {i} of eager is all zeros: the check would be empty"
        err = rel_error(g, w)
        assert err < entry.rtol, f"output {i}: rel error {err:.3g}"
