"""Models from the drop-in issue: weight standardisation, window attention, weight memory."""

from __future__ import annotations

import gc
import weakref

import torch
import torch.nn.functional as F

import torch_trt
from torch_trt.testing import FP32_RTOL, randomize_norm_stats, rel_error


class ScaledStdConv2d(torch.nn.Conv2d):
    """timm's weight-standardised convolution: the weight is normalised on every call."""

    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__(cin, cout, k, padding=k // 2)
        self.gain = torch.nn.Parameter(torch.rand(cout, 1, 1, 1) + 0.5)
        self.scale = (cin * k * k) ** -0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1),
            None,
            None,
            weight=(self.gain * self.scale).reshape(-1),
            training=True,
            momentum=0.0,
            eps=1e-6,
        ).reshape_as(self.weight)
        return F.conv2d(x, w, self.bias, self.stride, self.padding)


class StdConvNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = ScaledStdConv2d(3, 64, 3)
        self.c2 = ScaledStdConv2d(64, 128, 3)  # 73,728 weights: past the small-fold bound
        self.c3 = ScaledStdConv2d(128, 128, 3)  # 147,456 weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c3(F.gelu(self.c2(F.gelu(self.c1(x)))))


def test_weight_standardised_convolutions() -> None:
    """Weight-standardised convs with > 65,536 weights per layer: one engine, no fallback."""
    model = StdConvNet().eval()
    assert model.c3.weight.numel() > 1 << 16
    x = torch.randn(1, 3, 16, 16)
    compiled = torch_trt.dynamo.compile(model, [x], runtime="reference")
    rep = torch_trt.report(compiled)
    assert rep.engines == 1 and rep.fallbacks == []
    with torch.no_grad():
        assert rel_error(compiled(x), model(x)) < FP32_RTOL


class WindowAttention(torch.nn.Module):
    """A Swin2SR-like block: window partition, attention, window reverse; it returns the
    result and a view of it (both leave the engine)."""

    def __init__(self, dim: int = 16, window: int = 4, heads: int = 2) -> None:
        super().__init__()
        self.window, self.heads = window, heads
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.proj = torch.nn.Linear(dim, dim)
        self.norm = torch.nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, h, w, c = x.shape
        s = self.window
        win = x.view(b, h // s, s, w // s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, s * s, c)
        qkv = self.qkv(self.norm(win)).reshape(-1, s * s, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        att = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(-1, s * s, c)
        out = self.proj(att).view(b, h // s, w // s, s, s, c).permute(0, 1, 3, 2, 4, 5)
        out = out.reshape(b, h, w, c) + x
        return out, out.view(b, h * w, c)


def test_window_attention_view_output() -> None:
    """An engine output and a view of it both leave the engine: the first call runs and
    matches eager."""
    model = WindowAttention().eval()
    x = torch.randn(1, 8, 8, 16)
    compiled = torch_trt.dynamo.compile(model, [x], runtime="reference")
    rep = torch_trt.report(compiled)
    assert rep.engines == 1 and rep.fallbacks == []
    with torch.no_grad():
        got, want = compiled(x), model(x)
    for g, w in zip(got, want, strict=True):
        assert rel_error(g, w) < FP32_RTOL
    assert got[0].untyped_storage().data_ptr() != got[1].untyped_storage().data_ptr()


def _state_bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def test_resnet18_holds_engine_not_weights() -> None:
    """A compiled ResNet-18 holds its engine bytes (and the reference program when asked),
    not the model's weights; the source model's weights can be freed."""
    import torchvision.models as tvm

    model = randomize_norm_stats(tvm.resnet18().eval())
    x = torch.randn(1, 3, 224, 224)
    weight_bytes = _state_bytes(model)
    compiled = torch_trt.dynamo.compile(model, [x], runtime="tensorrt")
    rep = torch_trt.report(compiled)
    engines = sum(e.size_bytes for e in rep.engine_info)
    assert rep.engines == 1 and _state_bytes(compiled) <= engines
    probe = weakref.ref(model.fc.weight)
    del model
    gc.collect()
    assert probe() is None, "the compiled module keeps the source model's weights alive"

    ref = torch_trt.dynamo.compile(
        randomize_norm_stats(tvm.resnet18().eval()), [x], runtime="reference"
    )
    ref_engines = sum(e.size_bytes for e in torch_trt.report(ref).engine_info)
    reference = ref.get_buffer("trt_0_reference").numel()
    assert _state_bytes(ref) <= ref_engines + reference
    assert reference < 1.5 * weight_bytes  # one copy of the weights, not several
