"""ir='fx': torch.fx.symbolic_trace, then the shared pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import torch_trt
from torch_trt.testing import FP32_RTOL, rel_error


class Traceable(torch.nn.Module):
    """Linear -> gelu -> layer norm, with a shape used as a value (fx records it)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(8, 8)
        self.norm = torch.nn.LayerNorm(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(torch.nn.functional.gelu(self.lin(x)))
        return h.reshape(x.shape[0], -1) * 0.5 + 1.0


class DataDependent(torch.nn.Module):
    """Python control flow on a tensor value: symbolic tracing cannot follow it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return torch.relu(x)
        return -x


def test_traceable_model_compiles() -> None:
    """A traceable model gives an fx.GraphModule with one engine that matches eager."""
    model, x = Traceable().eval(), torch.randn(2, 8)
    out = torch_trt.compile(model, ir="fx", inputs=[x], runtime="reference")
    assert isinstance(out, torch.fx.GraphModule)
    assert torch_trt.report(out).engines == 1
    with torch.no_grad():
        assert rel_error(out(x), model(x)) < FP32_RTOL


def test_traced_graph_module_passes_through() -> None:
    """A GraphModule that is already traced is compiled as is."""
    model, x = Traceable().eval(), torch.randn(2, 8)
    out = torch_trt.fx.compile(torch.fx.symbolic_trace(model), [x], runtime="reference")
    with torch.no_grad():
        assert rel_error(out(x), model(x)) < FP32_RTOL


def test_untraceable_model_names_the_limits() -> None:
    """Control flow on a tensor raises CaptureError stating symbolic tracing's limits and
    suggesting ir='dynamo'."""
    with pytest.raises(torch_trt.CaptureError) as info:
        torch_trt.compile(DataDependent(), ir="fx", inputs=[torch.randn(4)])
    message = str(info.value)
    assert message.startswith("torch.fx.symbolic_trace could not trace DataDependent: TraceError")
    assert (
        "symbolic tracing cannot follow Python control flow on tensor values or shapes "
        "(if/for/while on a tensor or its size)"
    ) in message
    assert "Use ir='dynamo'" in message


def test_documented_fx_error() -> None:
    """docs/frontends.md quotes the error of its Branchy example word for word."""

    class Branchy(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.relu() if x.sum() > 0 else -x

    with pytest.raises(torch_trt.CaptureError) as info:
        torch_trt.compile(Branchy(), ir="fx", inputs=[torch.randn(2)])
    page = (Path(__file__).resolve().parents[1] / "docs" / "frontends.md").read_text()
    assert f"```\n{info.value}\n```" in page
