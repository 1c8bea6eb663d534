"""The report: placements, engines, sizes, timings; table and JSON forms."""

from __future__ import annotations

import json
import logging

import pytest
import torch

import torch_trt


class Mixed(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.torch_trt_test.opaque(torch.relu(x) + 1.0)


def test_report_contents_table_and_json(caplog: pytest.LogCaptureFixture) -> None:
    """The report lists each node, engine size and stages; JSON has the same facts."""
    with caplog.at_level(logging.INFO, logger="torch_trt"):
        compiled = torch_trt.dynamo.compile(
            Mixed(), [torch.randn(4)], min_block_size=1, runtime="reference"
        )
    rep = torch_trt.report(compiled)
    assert rep.engines == 1 and rep.engine_info[0].size_bytes > 0
    assert rep.engine_info[0].nodes == 2 and rep.engine_info[0].layers >= 2
    for stage in ("capture", "lower", "partition", "convert", "build", "assemble"):
        assert rep.stage_seconds[stage] >= 0.0
    text = str(rep)
    assert (
        "trt_0" in text
        and "pytorch: no converter" in text
        and "torch_trt_test.opaque.default" in text
    )
    data = json.loads(rep.to_json())
    assert data["engines"][0]["name"] == "trt_0"
    assert {p["node"]: p["reason"] for p in data["placements"]}["opaque"] == "no converter"
    assert any("1 engine(s), 2/3 nodes in TensorRT" in r.getMessage() for r in caplog.records)


def test_layer_names_carry_node_names() -> None:
    """Every layer of an engine maps back to the fx node it came from."""
    compiled = torch_trt.dynamo.compile(Mixed(), [torch.randn(4)], min_block_size=1)
    mapping = torch_trt.report(compiled).layer_to_node["trt_0"]
    assert set(mapping.values()) <= {"relu", "add"} and "relu" in mapping.values()
    assert all(layer.split(":")[0] == node for layer, node in mapping.items())


def test_report_of_foreign_module() -> None:
    """Asking a plain module for a report says where reports come from."""
    with pytest.raises(ValueError, match="carries no torch-trt report"):
        torch_trt.report(torch.nn.ReLU())


def test_debug_keeps_stage_graphs() -> None:
    """debug=True keeps the graph after lowering and partitioning."""
    compiled = torch_trt.dynamo.compile(
        Mixed(), [torch.randn(4)], min_block_size=1, debug=True, runtime="reference"
    )
    graphs = torch_trt.report(compiled).graphs
    assert "opaque" in graphs["lower"] and "trt_0" in graphs["partition"]
