"""Normalization converters: batch norm (eval), layer, group and instance norm vs eager."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import torch_trt
from torch_trt import Input
from torch_trt.testing import (
    FnModule,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    ranged,
    rel_error,
)

aten = torch.ops.aten
BN = aten._native_batch_norm_legit_no_training.default
LN = aten.layer_norm.default
GN = aten.native_group_norm.default


@dataclasses.dataclass
class Case:
    id: str
    module: nn.Module
    shapes: list[tuple[int, ...]]
    op: torch._ops.OpOverload
    dtype: torch.dtype = torch.float32


def _inputs(case: Case) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(s, generator=g) * 2 + 0.5).to(case.dtype) for s in case.shapes]


def _seeded(module: nn.Module) -> nn.Module:
    # Non-trivial affine parameters and running statistics.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) * 3 + 0.1)
    return module.eval()


CASES = [
    Case("batch_norm2d", _seeded(nn.BatchNorm2d(3)), [(2, 3, 4, 5)], BN),
    Case("batch_norm2d_no_affine", _seeded(nn.BatchNorm2d(3, affine=False)), [(1, 3, 4, 4)], BN),
    Case("batch_norm1d_rank2", _seeded(nn.BatchNorm1d(5)), [(4, 5)], BN),
    Case("batch_norm1d_rank3", _seeded(nn.BatchNorm1d(3, eps=1e-3)), [(2, 3, 6)], BN),
    Case("batch_norm3d", _seeded(nn.BatchNorm3d(2)), [(1, 2, 3, 4, 4)], BN),
    Case("batch_norm2d_fp16", _seeded(nn.BatchNorm2d(3)), [(2, 3, 4, 4)], BN, torch.float16),
    Case("batch_norm2d_bf16", _seeded(nn.BatchNorm2d(3)), [(2, 3, 4, 4)], BN, torch.bfloat16),
    Case("layer_norm_last_dim", _seeded(nn.LayerNorm(8)), [(2, 5, 8)], LN),
    Case("layer_norm_two_dims", _seeded(nn.LayerNorm([4, 6])), [(2, 3, 4, 6)], LN),
    Case("layer_norm_no_affine", nn.LayerNorm(8, elementwise_affine=False), [(3, 8)], LN),
    Case(
        "layer_norm_two_dims_no_affine",
        nn.LayerNorm([3, 4], elementwise_affine=False),
        [(2, 3, 4)],
        LN,
    ),
    Case("layer_norm_no_bias", _seeded(nn.LayerNorm(6, bias=False)), [(2, 4, 6)], LN),
    Case("layer_norm_eps", FnModule(lambda x: F.layer_norm(x, (5,), eps=0.1)), [(2, 5)], LN),
    Case("layer_norm_fp16", _seeded(nn.LayerNorm(16)), [(2, 4, 16)], LN, torch.float16),
    Case("layer_norm_bf16", _seeded(nn.LayerNorm(16)), [(2, 4, 16)], LN, torch.bfloat16),
    Case("group_norm", _seeded(nn.GroupNorm(2, 6)), [(2, 6, 3, 4)], GN),
    Case("group_norm_one_group", _seeded(nn.GroupNorm(1, 4)), [(2, 4, 3, 3)], GN),
    Case("group_norm_rank3", _seeded(nn.GroupNorm(3, 6)), [(2, 6, 5)], GN),
    Case("group_norm_fp16", _seeded(nn.GroupNorm(2, 4)), [(1, 4, 4, 4)], GN, torch.float16),
    Case(
        "instance_norm2d",
        nn.InstanceNorm2d(3),
        [(2, 3, 4, 4)],
        aten._native_batch_norm_legit.no_stats,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_normalization_matches_eager(case: Case) -> None:
    """The normalization lands in one engine and the reference runtime matches eager."""
    check_conversion(case.module.to(case.dtype), _inputs(case), ops=[case.op])


FALLBACKS = [
    (
        Case(
            "batch_norm_weight_input",
            FnModule(lambda x, w: F.batch_norm(x, w, w)),
            [(2, 3, 4), (3,)],
            BN,
        ),
        "running_mean is not a constant",
    ),
    (
        Case("layer_norm_all_dims", nn.LayerNorm([2, 3]), [(2, 3)], LN),
        "every dim including the batch dim",
    ),
]


@pytest.mark.parametrize(("case", "reason"), FALLBACKS, ids=[c.id for c, _ in FALLBACKS])
def test_normalization_refusal_has_reason(case: Case, reason: str) -> None:
    """Refused normalizations run in PyTorch with a report that says why."""
    check_fallback(case.module.to(case.dtype), _inputs(case), op=case.op, detail=reason)


@dataclasses.dataclass
class DynCase:
    id: str
    module: nn.Module
    spec: Input
    op: torch._ops.OpOverload


DYNAMIC_CASES = [
    DynCase(
        "batch_norm2d_dyn_batch_spatial",
        _seeded(nn.BatchNorm2d(3)),
        ranged((1, 2, 4), 3, (4, 6, 8), (5, 6, 7)),
        BN,
    ),
    DynCase(
        "batch_norm1d_rank2_dyn_batch",
        _seeded(nn.BatchNorm1d(5)),
        ranged((1, 3, 8), 5),
        BN,
    ),
    DynCase(
        "layer_norm_dyn_batch_seq",
        _seeded(nn.LayerNorm(8)),
        ranged((1, 2, 4), (2, 5, 9), 8),
        LN,
    ),
    DynCase(
        "layer_norm_two_dims_dyn_batch",
        _seeded(nn.LayerNorm([4, 6])),
        ranged((1, 2, 5), 3, 4, 6),
        LN,
    ),
    DynCase(
        "group_norm_dyn_batch_spatial",
        _seeded(nn.GroupNorm(2, 6)),
        ranged((1, 2, 3), 6, (3, 5, 7), (4, 5, 6)),
        GN,
    ),
    DynCase(
        "group_norm_rank2_dyn_batch",
        _seeded(nn.GroupNorm(2, 4)),
        ranged((2, 3, 5), 4),
        GN,
    ),
    DynCase(
        "group_norm_3d_dyn_batch_spatial",
        _seeded(nn.GroupNorm(3, 6)),
        ranged((1, 2, 3), 6, (2, 3, 4), 4, (3, 4, 5)),
        GN,
    ),
    DynCase(
        "group_norm_no_affine_dyn_seq",
        nn.GroupNorm(2, 4, affine=False),
        ranged((1, 2, 3), 4, (3, 6, 9)),
        GN,
    ),
    DynCase(
        "instance_norm2d_dyn_batch_spatial",
        nn.InstanceNorm2d(3),
        ranged((1, 2, 3), 3, (4, 5, 7), (4, 6, 7)),
        aten._native_batch_norm_legit.no_stats,
    ),
]


@pytest.mark.parametrize("case", DYNAMIC_CASES, ids=lambda c: c.id)
def test_normalization_dynamic(case: DynCase) -> None:
    """One engine serves every shape in the range and matches eager at min, opt and max."""
    check_dynamic_conversion(case.module, [case.spec], ops=[case.op])


DYNAMIC_FALLBACKS = [
    (
        DynCase(
            "layer_norm_dyn_normalized_dim",
            FnModule(lambda x: F.layer_norm(x, x.shape[-1:])),
            ranged(2, 3, (4, 6, 8)),
            LN,
        ),
        "a normalized dim is dynamic",
    ),
]


@pytest.mark.parametrize(
    ("case", "reason"), DYNAMIC_FALLBACKS, ids=[c.id for c, _ in DYNAMIC_FALLBACKS]
)
def test_normalization_dynamic_refusal_has_reason(case: DynCase, reason: str) -> None:
    """A normalization the converter cannot take dynamically runs in PyTorch, saying why."""
    check_fallback(case.module, [case.spec], op=case.op, detail=reason)


def test_native_layer_norm_from_decomposed_program() -> None:
    """A fully decomposed ExportedProgram brings native_layer_norm; it converts and matches."""
    norm = nn.LayerNorm(8).eval()
    x = torch.randn(2, 3, 8)
    ep = torch.export.export(norm, (x,)).run_decompositions()
    assert any(n.target is torch.ops.aten.native_layer_norm.default for n in ep.graph.nodes)
    compiled = torch_trt.dynamo.compile(ep, [x], min_block_size=1, runtime="reference")
    rep = torch_trt.report(compiled)
    assert rep.engines == 1 and rep.fallbacks == []
    with torch.no_grad():
        assert rel_error(compiled(x), norm(x)) < 1e-4
