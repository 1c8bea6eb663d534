"""Capture failures, build failures and the fallback_on_build_failure option."""

from __future__ import annotations

import pytest
import torch

import torch_trt
from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import Reason, converter


@torch.library.custom_op("torch_trt_test::bad_norm", mutates_args=())
def bad_norm(x: torch.Tensor) -> torch.Tensor:
    """A test op whose converter emits a network that passes shape inference but not the build."""
    return x.clone()


@bad_norm.register_fake
def _bad_norm_fake(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


@converter(torch.ops.torch_trt_test.bad_norm.default)
def _convert_bad_norm(ctx: ConversionContext, x: object) -> object:
    # A rank-1 scale on a rank-3 input: TensorRT accepts it at definition, refuses at build.
    scale = ctx.constant(torch.ones(16), torch.float32)
    bias = ctx.constant(torch.zeros(16), torch.float32)
    return ctx.net.add_normalization_v2(x, scale, bias, 1 << 2).get_output(0)


class BadNorm(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.ops.torch_trt_test.bad_norm(x))


def test_build_failure_raises_engine_build_error() -> None:
    """A refused build raises EngineBuildError with TensorRT's own message."""
    with pytest.raises(torch_trt.EngineBuildError, match="could not build engine trt_0: .*scale"):
        torch_trt.dynamo.compile(BadNorm(), [torch.randn(2, 7, 16)], min_block_size=1)


def test_fallback_on_build_failure_keeps_region_in_pytorch() -> None:
    """With fallback_on_build_failure the region runs in PyTorch, reason 'build failed'."""
    compiled = torch_trt.dynamo.compile(
        BadNorm(), [torch.randn(2, 7, 16)], min_block_size=1, fallback_on_build_failure=True
    )
    rep = torch_trt.report(compiled)
    assert rep.engines == 0
    assert {p.reason for p in rep.fallbacks} == {Reason.BUILD_FAILED}
    assert "could not build engine" in rep.placement("relu").detail
    x = torch.randn(2, 7, 16)
    assert torch.equal(compiled(x), torch.relu(x))


def test_registering_twice_is_an_error() -> None:
    """A second converter for the same overload raises, naming both functions."""
    with pytest.raises(KeyError, match="registered twice"):
        converter(torch.ops.torch_trt_test.bad_norm.default)(lambda ctx, x: x)


def test_converter_key_must_be_overload() -> None:
    """Converters are keyed on OpOverloads, not packets."""
    with pytest.raises(TypeError, match="must be ATen OpOverloads"):
        converter(torch.ops.aten.relu)(lambda ctx, x: x)  # type: ignore[arg-type]


def test_capture_error_has_hint() -> None:
    """An export failure is re-raised as CaptureError with torch's reason and a hint."""

    class TakesTwo(torch.nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return x + y

    with pytest.raises(torch_trt.CaptureError, match=r"(?s)could not capture TakesTwo.*hint:"):
        torch_trt.dynamo.compile(TakesTwo(), [torch.randn(2)])


def test_compile_rejects_non_modules() -> None:
    """A plain function is refused with the accepted types named."""
    with pytest.raises(TypeError, match="expects an nn.Module, fx.GraphModule or ExportedProgram"):
        torch_trt.dynamo.compile(torch.relu, [torch.randn(2)])  # type: ignore[arg-type]


def test_bad_inputs_type() -> None:
    """An input of a type compile cannot trace with is refused, naming where it is."""
    match = r"unsupported input type: inputs\[0\]\[1\] is a"
    with pytest.raises(torch_trt.CaptureError, match=match):
        torch_trt.dynamo.compile(torch.nn.ReLU(), [[torch.randn(2), object()]])


def test_exported_program_and_graph_module_inputs() -> None:
    """ExportedProgram and fx.GraphModule inputs compile like nn.Modules."""
    x = torch.randn(3, 4)
    ep = torch.export.export(torch.nn.ReLU(), (x,))
    for model in (ep, torch.fx.symbolic_trace(torch.nn.ReLU())):
        compiled = torch_trt.dynamo.compile(model, [x], min_block_size=1, runtime="reference")
        assert torch_trt.report(compiled).engines == 1
        assert torch.equal(compiled(x), torch.relu(x))


def test_progress_callback_is_called() -> None:
    """The progress callable sees build phases."""
    seen: list[tuple[str, int, int]] = []
    torch_trt.dynamo.compile(
        torch.nn.ReLU(),
        [torch.randn(2)],
        min_block_size=1,
        progress=lambda phase, step, total: seen.append((phase, step, total)),
    )
    assert seen and all(isinstance(p, str) for p, _, _ in seen)
