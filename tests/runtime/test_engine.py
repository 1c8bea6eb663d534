"""The execute_engine op: GPU path errors, metadata validation, fake implementation."""

from __future__ import annotations

import json

import pytest
import torch

import torch_trt
from torch_trt.runtime.engine import EngineMetadata
from torch_trt.runtime.op import parse_metadata


class Small(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) * 2.0 + 1.0


def _engine_node(gm: torch.fx.GraphModule) -> torch.fx.Node:
    return next(n for n in gm.graph.nodes if n.target is torch.ops.torch_trt.execute_engine.default)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_no_gpu_raises_runtime_unavailable() -> None:
    """Calling a TensorRT-runtime module without CUDA raises RuntimeUnavailableError saying why."""
    compiled = torch_trt.dynamo.compile(Small(), [torch.randn(2, 3)], min_block_size=1)
    with pytest.raises(torch_trt.RuntimeUnavailableError, match="no CUDA device is available"):
        compiled(torch.randn(2, 3))


def test_no_gpu_error_suggests_reference_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """The no-CUDA message points at runtime='reference' (CUDA availability forced off)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    compiled = torch_trt.dynamo.compile(Small(), [torch.randn(2, 3)], min_block_size=1)
    with pytest.raises(torch_trt.RuntimeUnavailableError, match="runtime='reference'"):
        compiled(torch.randn(2, 3))


def test_rtx_refuses_unsupported_compute_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TensorRT-RTX engine on a compute capability 9.0 GPU says RTX does not support it."""
    compiled = torch_trt.dynamo.compile(Small(), [torch.randn(2, 3)], min_block_size=1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (9, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "NVIDIA H100")
    meta = parse_metadata(_engine_node(compiled).args[3])
    if meta.flavour != "tensorrt_rtx":
        pytest.skip("only TensorRT-RTX limits compute capabilities")
    engine = getattr(compiled, f"{meta.name}_engine")
    with pytest.raises(torch_trt.RuntimeUnavailableError, match="compute capability 9.0"):
        torch.ops.torch_trt.execute_engine([], engine, None, meta.to_json())


def test_reference_runtime_checks_input_shape() -> None:
    """An input of the wrong shape raises InputShapeError naming the input and both shapes."""
    compiled = torch_trt.dynamo.compile(
        Small(), [torch.randn(2, 3)], min_block_size=1, runtime="reference"
    )
    node = _engine_node(compiled)
    meta = parse_metadata(node.args[3])
    engine = getattr(compiled, f"{meta.name}_engine")
    ref = getattr(compiled, f"{meta.name}_reference")
    with pytest.raises(torch_trt.InputShapeError, match=r"'x' has shape \(4, 3\).*\(2, 3\)"):
        torch.ops.torch_trt.execute_engine([torch.randn(4, 3)], engine, ref, meta.to_json())
    with pytest.raises(torch_trt.InputShapeError, match="must be torch.float32, got torch.int64"):
        torch.ops.torch_trt.execute_engine(
            [torch.zeros(2, 3, dtype=torch.int64)], engine, ref, meta.to_json()
        )


def test_metadata_round_trip_and_version_check() -> None:
    """Metadata survives JSON; another format version or garbage is an EngineFormatError."""
    compiled = torch_trt.dynamo.compile(Small(), [torch.randn(2, 3)], min_block_size=1)
    text = _engine_node(compiled).args[3]
    meta = EngineMetadata.from_json(text)
    assert EngineMetadata.from_json(meta.to_json()) == meta
    assert meta.inputs[0].shape == (2, 3) and meta.outputs[0].dtype == "float32"
    raw = json.loads(text)
    raw["format_version"] = 99
    with pytest.raises(torch_trt.EngineFormatError, match="format 99 is not supported"):
        EngineMetadata.from_json(json.dumps(raw))
    with pytest.raises(torch_trt.EngineFormatError, match="corrupt engine metadata"):
        EngineMetadata.from_json("{not json")


def test_compiled_module_re_exports() -> None:
    """The fake implementation lets torch.export trace a compiled module again."""
    compiled = torch_trt.dynamo.compile(
        Small(), [torch.randn(2, 3)], min_block_size=1, runtime="reference"
    )
    ep = torch.export.export(compiled, (torch.randn(2, 3),), strict=False)
    targets = [n.target for n in ep.graph.nodes]
    assert torch.ops.torch_trt.execute_engine.default in targets
    x = torch.randn(2, 3)
    assert torch.allclose(ep.module()(x), Small()(x))


def test_outputs_do_not_alias_inputs() -> None:
    """An engine whose output is its input returns a fresh tensor (custom-op contract)."""

    class Ident(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.relu(x), x.clone()

    compiled = torch_trt.dynamo.compile(
        Ident(), [torch.randn(2)], min_block_size=1, runtime="reference"
    )
    x = torch.randn(2)
    _, y = compiled(x)
    assert torch.equal(y, x) and y.data_ptr() != x.data_ptr()


class _FakeEngine:
    """Stands in for a deserialized ICudaEngine (none can be deserialized without a GPU)."""

    def __init__(self, tensors: list[tuple[str, bool, object]]) -> None:
        self.tensors = tensors
        self.num_io_tensors = len(tensors)

    def get_tensor_name(self, i: int) -> str:
        return self.tensors[i][0]

    def get_tensor_mode(self, name: str) -> object:
        trt = torch_trt._trt.load()
        is_input = next(t[1] for t in self.tensors if t[0] == name)
        return trt.TensorIOMode.INPUT if is_input else trt.TensorIOMode.OUTPUT

    def get_tensor_dtype(self, name: str) -> object:
        return next(t[2] for t in self.tensors if t[0] == name)


def test_engine_bindings_must_match_metadata() -> None:
    """A loaded engine whose tensors differ from its metadata is refused as corrupt."""
    from torch_trt.runtime.engine import _check_bindings

    trt = torch_trt._trt.load()
    compiled = torch_trt.dynamo.compile(Small(), [torch.randn(2, 3)], min_block_size=1)
    meta = parse_metadata(_engine_node(compiled).args[3])
    good = [("x", True, trt.float32), ("output_0", False, trt.float32)]
    _check_bindings(meta, _FakeEngine(good))
    for bad in (
        [("x", True, trt.float16), ("output_0", False, trt.float32)],
        [("y", True, trt.float32), ("output_0", False, trt.float32)],
        [("x", True, trt.float32)],
    ):
        with pytest.raises(torch_trt.EngineFormatError, match="does not match its metadata"):
            _check_bindings(meta, _FakeEngine(bad))
