"""Precision end to end: every frontend honours it, half models compile as they are, float64
truncation, and the layer counts in the report and the engine metadata."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import torch

import torch_trt
from torch_trt.convert.registry import Reason
from torch_trt.runtime.engine import EngineMetadata
from torch_trt.runtime.op import parse_metadata
from torch_trt.testing import assert_close, rel_error


class Mlp(torch.nn.Module):
    """linear -> gelu -> linear -> softmax: matrix work and a sensitive op."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(16, 32)
        self.b = torch.nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.b(torch.nn.functional.gelu(self.a(x))), -1)


def _engine_meta(compiled: torch.nn.Module) -> EngineMetadata:
    node = next(
        n
        for n in compiled.graph.nodes  # type: ignore[union-attr]
        if n.target is torch.ops.torch_trt.execute_engine.default
    )
    return parse_metadata(node.args[3])


def _compile(ir: str, model: torch.nn.Module, x: torch.Tensor, **kw: Any) -> Any:
    if ir == "torch_compile":
        torch._dynamo.reset()
        out = torch.compile(model, backend="torch_trt", options={"runtime": "reference", **kw})
        out(x)
        return out
    module: Any = torch.jit.script(model) if ir == "ts" else model
    return torch_trt.compile(module, ir=ir, inputs=[x], runtime="reference", **kw)


@pytest.mark.parametrize("ir", ["dynamo", "torch_compile", "ts", "fx"])
def test_every_frontend_honours_precision(ir: str) -> None:
    """precision="fp16" builds fp16 linears in every frontend; the output stays float32 and as
    accurate as fp16 eager."""
    model, x = Mlp().eval(), torch.randn(4, 16)
    compiled = _compile(ir, model, x, precision="fp16", min_block_size=1)
    rep = torch_trt.report(compiled)
    assert rep.engines == 1
    (engine,) = rep.engine_info
    assert engine.by_precision["fp16"] > 0 and engine.casts >= 2
    with torch.no_grad():
        got = compiled(x)
        fp64 = copy.deepcopy(model).double()(x.double())
        eager16 = copy.deepcopy(model).half()(x.half())
    assert got.dtype == torch.float32
    assert rel_error(got, fp64) <= 1.5 * rel_error(eager16, fp64)


def test_dynamic_shapes_in_fp16() -> None:
    """The pass keeps symbolic shapes: an fp16 engine with a batch range runs at every size."""
    model = Mlp().eval()
    spec = torch_trt.Input(min_shape=(1, 16), opt_shape=(4, 16), max_shape=(8, 16))
    compiled = torch_trt.dynamo.compile(
        model, [spec], runtime="reference", precision="fp16", min_block_size=1
    )
    assert torch_trt.report(compiled).engine_info[0].by_precision["fp16"] > 0
    for batch in (1, 5, 8):
        x = torch.randn(batch, 16)
        with torch.no_grad():
            got = compiled(x)
            fp64 = copy.deepcopy(model).double()(x.double())
            eager16 = copy.deepcopy(model).half()(x.half())
        assert got.shape == (batch, 8)
        assert rel_error(got, fp64) <= 1.5 * rel_error(eager16, fp64)


def test_half_model_compiles_as_is() -> None:
    """model.half() with half inputs compiles at the default precision: fp16 layers, no cast
    layer at all, fp16 output, as accurate as fp16 eager."""
    model, x = Mlp().eval(), torch.randn(4, 16)
    half = copy.deepcopy(model).half()
    compiled = torch_trt.dynamo.compile(half, [x.half()], runtime="reference", min_block_size=1)
    (engine,) = torch_trt.report(compiled).engine_info
    assert engine.casts == 0 and set(engine.by_precision) == {"fp16"}
    with torch.no_grad():
        got, want = compiled(x.half()), half(x.half())
        fp64 = model.double()(x.double())
    assert got.dtype == torch.float16
    assert_close(got, want, fp64)


def test_bf16_weights_need_no_cast_layers() -> None:
    """bf16 weights are stored as bf16 constants (the reference runtime reads them back from
    the side table): the only casts are x's way down and the softmax input's way up."""
    model, x = Mlp().eval(), torch.randn(4, 16)
    compiled = torch_trt.dynamo.compile(
        model, [x], runtime="reference", precision="bf16", min_block_size=1
    )
    (engine,) = torch_trt.report(compiled).engine_info
    assert engine.casts == 2
    assert engine.by_precision["bf16"] > engine.by_precision["fp32"]
    with torch.no_grad():
        got = compiled(x)
        fp64 = copy.deepcopy(model).double()(x.double())
        eager = copy.deepcopy(model).bfloat16()(x.bfloat16())
    assert rel_error(got, fp64) <= 1.5 * rel_error(eager, fp64)


def test_truncate_double_compiles_float64_models_in_float32() -> None:
    """With truncate_double the engine computes in fp32, inputs and outputs stay float64, and
    the two boundary casts run in PyTorch with their reason (even under
    require_full_compilation)."""
    model, x = Mlp().double().eval(), torch.randn(4, 16, dtype=torch.float64)
    compiled = torch_trt.dynamo.compile(
        model, [x], runtime="reference", truncate_double=True, require_full_compilation=True
    )
    rep = torch_trt.report(compiled)
    (engine,) = rep.engine_info
    assert set(engine.by_precision) == {"fp32"} and engine.casts == 0
    assert [p.op for p in rep.fallbacks] == ["aten._to_copy.default"] * 2
    assert all("boundary cast of truncate_double" in p.detail for p in rep.fallbacks)
    meta = _engine_meta(compiled)
    assert [b.dtype for b in meta.inputs + meta.outputs] == ["float32", "float32"]
    with torch.no_grad():
        got = compiled(x)
    assert got.dtype == torch.float64
    assert rel_error(got, model(x)) < 1e-5


def test_float64_without_truncation_falls_back_with_reason() -> None:
    """Without truncate_double, float64 nodes stay in PyTorch with the reason."""
    model, x = Mlp().double().eval(), torch.randn(4, 16, dtype=torch.float64)
    compiled = torch_trt.dynamo.compile(model, [x], runtime="reference", min_block_size=1)
    rep = torch_trt.report(compiled)
    assert rep.engines == 0 and rep.fallbacks
    assert all(p.reason == Reason.UNSUPPORTED_ARGUMENTS for p in rep.fallbacks)
    assert all("TensorRT has no float64" in p.detail for p in rep.fallbacks)


def test_layer_counts_in_report_and_metadata() -> None:
    """The report's counts, its JSON and table, and the engine's metadata record agree."""
    compiled = torch_trt.dynamo.compile(
        Mlp().eval(), [torch.randn(4, 16)], runtime="reference", precision="fp16", min_block_size=1
    )
    rep = torch_trt.report(compiled)
    (engine,) = rep.engine_info
    layers = rep.layer_precision[engine.name]
    assert len(layers) == engine.layers
    assert engine.casts == sum(1 for p in layers.values() if p == "cast")
    assert sum(engine.by_precision.values()) + engine.casts == engine.layers
    meta = _engine_meta(compiled)
    assert meta.layers == {
        "total": engine.layers,
        "by_precision": engine.by_precision,
        "casts": engine.casts,
    }
    again = torch_trt.Report.from_dict(json.loads(rep.to_json()))
    assert again.engine_info == rep.engine_info and again.layer_precision == rep.layer_precision
    row = next(line for line in str(rep).splitlines() if line.startswith(engine.name))
    assert f"{engine.casts}  fp16 {engine.by_precision['fp16']}" in row


def test_metadata_without_layer_counts_still_loads() -> None:
    """A format-2 record (before the layer counts) loads, with no counts."""
    compiled = torch_trt.dynamo.compile(
        Mlp().eval(), [torch.randn(4, 16)], runtime="reference", min_block_size=1
    )
    raw = json.loads(_engine_meta(compiled).to_json())
    del raw["layers"]
    raw["format_version"] = 2
    meta = EngineMetadata.from_json(json.dumps(raw))
    assert meta.layers is None and meta.format_version == 2
    raw["format_version"], raw["layers"] = 3, {"total": 3, "by_precision": {"fp16": "x"}}
    with pytest.raises(torch_trt.EngineFormatError, match="corrupt engine metadata"):
        EngineMetadata.from_json(json.dumps(raw))
