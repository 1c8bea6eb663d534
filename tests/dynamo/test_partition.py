"""Partitioning: min_block_size, torch_executed_ops, require_full_compilation, with reasons."""

from __future__ import annotations

import pytest
import torch

import torch_trt
from torch_trt.convert.registry import Reason

aten = torch.ops.aten


class Chain(torch.nn.Module):
    """relu -> add -> opaque (no converter) -> relu -> mul -> sub -> relu."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(x) + 1.0
        y = torch.ops.torch_trt_test.opaque(y)
        return torch.relu(y) * 2.0 - 1.0


def _compile(**settings: object) -> torch.nn.Module:
    return torch_trt.dynamo.compile(Chain(), [torch.randn(3, 4)], runtime="reference", **settings)


def test_unsupported_node_splits_regions() -> None:
    """A node without converter stays in PyTorch with reason 'no converter'; both sides engine."""
    compiled = _compile(min_block_size=1)
    rep = torch_trt.report(compiled)
    assert rep.engines == 2
    opq = rep.placement("opaque")
    assert opq.engine is None and opq.reason is Reason.NO_CONVERTER
    assert "torch_trt_test.opaque.default" in opq.detail
    assert [p.node for p in rep.fallbacks] == ["opaque"]
    x = torch.randn(3, 4)
    assert torch.allclose(compiled(x), Chain()(x))


def test_min_block_size_leaves_small_regions() -> None:
    """Regions below min_block_size stay in PyTorch with reason 'block too small'."""
    compiled = _compile(min_block_size=3)
    rep = torch_trt.report(compiled)
    assert rep.engines == 1  # relu, mul, sub after opaque
    for name in ("relu", "add"):
        p = rep.placement(name)
        assert p.reason is Reason.BLOCK_TOO_SMALL
        assert "region of 2 node(s) < min_block_size=3" in p.detail
    assert rep.placement("relu_1").engine == "trt_1" or rep.placement("relu_1").engine is not None


def test_default_min_block_size_is_five() -> None:
    """With the default min_block_size of 5, neither 2- nor 3-node region becomes an engine."""
    rep = torch_trt.report(_compile())
    assert rep.engines == 0
    assert {p.reason for p in rep.fallbacks} == {Reason.BLOCK_TOO_SMALL, Reason.NO_CONVERTER}


def test_torch_executed_ops() -> None:
    """Ops in torch_executed_ops stay in PyTorch with reason 'user excluded'."""
    compiled = _compile(min_block_size=1, torch_executed_ops={aten.mul.Tensor})
    rep = torch_trt.report(compiled)
    mul = rep.placement("mul")
    assert mul.engine is None and mul.reason is Reason.USER_EXCLUDED
    assert mul.detail == "listed in torch_executed_ops"
    assert rep.placement("relu_1").engine is not None
    x = torch.randn(3, 4)
    assert torch.allclose(compiled(x), Chain()(x))


def test_torch_executed_ops_by_name() -> None:
    """A packet name such as 'aten.relu' excludes every overload of it."""
    rep = torch_trt.report(_compile(min_block_size=1, torch_executed_ops=["aten.relu"]))
    assert rep.placement("relu").reason is Reason.USER_EXCLUDED
    assert rep.placement("relu_1").reason is Reason.USER_EXCLUDED


def test_require_full_compilation_lists_every_node() -> None:
    """require_full_compilation raises listing each unsupported node with its reason."""
    with pytest.raises(torch_trt.UnsupportedOperatorError) as info:
        _compile(require_full_compilation=True, torch_executed_ops={aten.mul.Tensor})
    msg = str(info.value)
    assert "2 node(s) cannot run in TensorRT" in msg
    assert "opaque (torch_trt_test.opaque.default): no converter" in msg
    assert "mul (aten.mul.Tensor): user excluded" in msg


def test_require_full_compilation_overrides_min_block_size() -> None:
    """A fully supported graph is one engine even when smaller than min_block_size."""
    compiled = torch_trt.dynamo.compile(
        torch.nn.ReLU(), [torch.randn(2)], runtime="reference", require_full_compilation=True
    )
    rep = torch_trt.report(compiled)
    assert rep.engines == 1 and rep.fallbacks == []


def test_shared_weight_used_inside_and_outside() -> None:
    """A weight used by an engine and by a PyTorch node is available to both."""

    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(3, 4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x * self.w) + torch.ops.torch_trt_test.opaque(self.w * x)

    compiled = torch_trt.dynamo.compile(
        M(),
        [torch.randn(3, 4)],
        runtime="reference",
        min_block_size=1,
        torch_executed_ops={aten.mul.Tensor},
    )
    x = torch.randn(3, 4)
    m = M()
    m.load_state_dict(dict(compiled.named_parameters()), strict=False)
    assert torch_trt.report(compiled).engines >= 1
    assert torch.isfinite(compiled(x)).all()
