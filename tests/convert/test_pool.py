"""Pooling converters vs eager.

Max, average (padding, ceil_mode, divisor rules; 1-D, 2-D, 3-D) and adaptive average / max
pooling (1-D, 2-D, 3-D). Upsampling (resize.py) is tested in test_resize.py.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from torch_trt import Input
from torch_trt.testing import (
    FnModule,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    ranged,
)

aten = torch.ops.aten
MAX2 = aten.max_pool2d_with_indices.default
MAX3 = aten.max_pool3d_with_indices.default
AVG2 = aten.avg_pool2d.default
AVG3 = aten.avg_pool3d.default
ADAPT = aten._adaptive_avg_pool2d.default
ADAPT3 = aten._adaptive_avg_pool3d.default
AMAX2 = aten.adaptive_max_pool2d.default
AMAX3 = aten.adaptive_max_pool3d.default


@dataclasses.dataclass
class Case:
    id: str
    module: nn.Module
    shapes: list[tuple[int, ...]]
    op: torch._ops.OpOverload
    dtype: torch.dtype = torch.float32


def _inputs(case: Case) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(s, generator=g).to(case.dtype) for s in case.shapes]


def _adaptive(size: tuple[int, int]) -> nn.Module:
    # Called as the ATen op: F.adaptive_avg_pool2d turns (1, 1) into a mean before lowering.
    return FnModule(lambda x: ADAPT(x, list(size)))


CASES = [
    Case("max_pool2d_basic", nn.MaxPool2d(2), [(2, 3, 6, 6)], MAX2),
    Case("max_pool2d_stride_pad", nn.MaxPool2d(3, 2, 1), [(1, 2, 7, 6)], MAX2),
    Case("max_pool2d_ceil_mode", nn.MaxPool2d(2, 2, ceil_mode=True), [(1, 2, 5, 7)], MAX2),
    Case("max_pool2d_ceil_mode_pad", nn.MaxPool2d(2, 2, 1, ceil_mode=True), [(1, 2, 5, 5)], MAX2),
    Case("max_pool2d_rect", nn.MaxPool2d((2, 3), (1, 2)), [(1, 2, 5, 7)], MAX2),
    Case("max_pool2d_unbatched", nn.MaxPool2d(2), [(3, 4, 4)], MAX2),
    Case("max_pool1d", nn.MaxPool1d(3, 2, 1), [(1, 2, 9)], MAX2),
    Case("max_pool3d", nn.MaxPool3d(2, ceil_mode=True), [(1, 2, 3, 4, 5)], MAX3),
    Case("max_pool2d_fp16", nn.MaxPool2d(3, 2, 1), [(1, 2, 6, 6)], MAX2, torch.float16),
    Case("max_pool2d_bf16", nn.MaxPool2d(2), [(1, 2, 6, 6)], MAX2, torch.bfloat16),
    Case("avg_pool2d_basic", nn.AvgPool2d(2), [(2, 3, 6, 6)], AVG2),
    Case("avg_pool2d_pad_include", nn.AvgPool2d(3, 2, 1), [(1, 2, 7, 7)], AVG2),
    Case(
        "avg_pool2d_pad_exclude",
        nn.AvgPool2d(3, 2, 1, count_include_pad=False),
        [(1, 2, 7, 6)],
        AVG2,
    ),
    Case("avg_pool2d_ceil_mode", nn.AvgPool2d(2, 2, ceil_mode=True), [(1, 2, 5, 5)], AVG2),
    Case(
        "avg_pool2d_ceil_mode_pad_include",
        nn.AvgPool2d(3, 2, 1, ceil_mode=True),
        [(1, 2, 6, 6)],
        AVG2,
    ),
    Case(
        "avg_pool2d_ceil_mode_pad_exclude",
        nn.AvgPool2d(2, 2, 1, ceil_mode=True, count_include_pad=False),
        [(1, 2, 5, 6)],
        AVG2,
    ),
    Case(
        "avg_pool2d_divisor_override",
        nn.AvgPool2d(3, 2, 1, divisor_override=5),
        [(1, 2, 6, 6)],
        AVG2,
    ),
    Case("avg_pool2d_unbatched", nn.AvgPool2d(2), [(2, 4, 6)], AVG2),
    Case("avg_pool1d", nn.AvgPool1d(3, 2, 1, ceil_mode=True), [(1, 2, 8)], AVG2),
    Case("avg_pool3d", nn.AvgPool3d(2, padding=1), [(1, 2, 3, 4, 4)], AVG3),
    Case(
        "avg_pool2d_fp16",
        nn.AvgPool2d(3, 2, 1, ceil_mode=True),
        [(1, 2, 6, 6)],
        AVG2,
        torch.float16,
    ),
    Case("adaptive_avg_pool2d_1x1", _adaptive((1, 1)), [(2, 3, 4, 4)], ADAPT),
    Case("adaptive_avg_pool2d_2x2", _adaptive((2, 2)), [(2, 3, 4, 4)], ADAPT),
    Case("adaptive_avg_pool2d_module", nn.AdaptiveAvgPool2d((2, 3)), [(1, 2, 4, 6)], ADAPT),
    Case("adaptive_avg_pool2d_uneven", nn.AdaptiveAvgPool2d((3, 2)), [(1, 2, 5, 7)], ADAPT),
    Case("adaptive_avg_pool2d_unbatched", nn.AdaptiveAvgPool2d(3), [(2, 4, 5)], ADAPT),
    Case("adaptive_avg_pool2d_fp16", nn.AdaptiveAvgPool2d(2), [(1, 2, 4, 6)], ADAPT, torch.float16),
    Case("adaptive_avg_pool1d_uneven", nn.AdaptiveAvgPool1d(3), [(2, 3, 7)], ADAPT),
    Case("adaptive_avg_pool1d_unbatched", nn.AdaptiveAvgPool1d(2), [(3, 6)], ADAPT),
    # Called as the ATen op: nn.AdaptiveAvgPool3d(1) becomes a mean before lowering.
    Case(
        "adaptive_avg_pool3d_1x1x1",
        FnModule(lambda x: ADAPT3(x, [1, 1, 1])),
        [(2, 3, 3, 4, 5)],
        ADAPT3,
    ),
    Case("adaptive_avg_pool3d_equal", nn.AdaptiveAvgPool3d((1, 2, 5)), [(1, 2, 3, 4, 5)], ADAPT3),
    Case("adaptive_avg_pool3d_uneven", nn.AdaptiveAvgPool3d((2, 3, 2)), [(1, 2, 5, 7, 3)], ADAPT3),
    Case("adaptive_avg_pool3d_unbatched", nn.AdaptiveAvgPool3d(2), [(2, 3, 5, 4)], ADAPT3),
    Case(
        "adaptive_avg_pool3d_fp16",
        nn.AdaptiveAvgPool3d((2, 3, 2)),
        [(1, 2, 5, 7, 3)],
        ADAPT3,
        torch.float16,
    ),
    Case("adaptive_max_pool1d_uneven", nn.AdaptiveMaxPool1d(3), [(2, 3, 7)], AMAX2),
    Case("adaptive_max_pool2d_1x1", nn.AdaptiveMaxPool2d(1), [(2, 3, 5, 4)], AMAX2),
    Case("adaptive_max_pool2d_equal", nn.AdaptiveMaxPool2d((2, 3)), [(1, 2, 4, 6)], AMAX2),
    Case("adaptive_max_pool2d_uneven", nn.AdaptiveMaxPool2d((3, 4)), [(1, 2, 5, 7)], AMAX2),
    Case("adaptive_max_pool2d_upsample", nn.AdaptiveMaxPool2d((5, 3)), [(1, 2, 3, 2)], AMAX2),
    Case("adaptive_max_pool2d_unbatched", nn.AdaptiveMaxPool2d(3), [(2, 5, 5)], AMAX2),
    Case("adaptive_max_pool2d_fp16", nn.AdaptiveMaxPool2d(3), [(1, 2, 5, 7)], AMAX2, torch.float16),
    Case(
        "adaptive_max_pool2d_bf16", nn.AdaptiveMaxPool2d(3), [(1, 2, 5, 7)], AMAX2, torch.bfloat16
    ),
    Case("adaptive_max_pool3d_1x1x1", nn.AdaptiveMaxPool3d(1), [(2, 3, 3, 4, 5)], AMAX3),
    Case("adaptive_max_pool3d_uneven", nn.AdaptiveMaxPool3d((2, 3, 2)), [(1, 2, 5, 7, 3)], AMAX3),
    Case("max_pool1d_ceil_mode", nn.MaxPool1d(2, 2, 1, ceil_mode=True), [(1, 2, 8)], MAX2),
    Case(
        "avg_pool1d_exclude_pad",
        nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False),
        [(2, 3, 10)],
        AVG2,
    ),
    Case(
        "avg_pool3d_ceil_mode_exclude",
        nn.AvgPool3d(2, 2, 1, ceil_mode=True, count_include_pad=False),
        [(1, 2, 5, 4, 5)],
        AVG3,
    ),
    Case(
        "avg_pool3d_divisor_override",
        nn.AvgPool3d(3, 2, 1, ceil_mode=True, divisor_override=7),
        [(1, 2, 5, 6, 4)],
        AVG3,
    ),
    Case("max_pool3d_ceil_pad", nn.MaxPool3d(3, 2, 1, ceil_mode=True), [(1, 2, 6, 5, 4)], MAX3),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_pooling_matches_eager(case: Case) -> None:
    """The pooling lands in one engine and the reference runtime matches eager."""
    check_conversion(case.module, _inputs(case), ops=[case.op])


FALLBACKS = [
    (
        Case("max_pool2d_indices_used", nn.MaxPool2d(2, return_indices=True), [(1, 2, 4, 4)], MAX2),
        "indices are used",
    ),
    (
        Case("max_pool2d_dilation", nn.MaxPool2d(2, dilation=2), [(1, 2, 6, 6)], MAX2),
        "dilation > 1",
    ),
    (
        Case(
            "adaptive_max_pool2d_indices_used",
            nn.AdaptiveMaxPool2d(3, return_indices=True),
            [(1, 2, 5, 5)],
            AMAX2,
        ),
        "indices are used",
    ),
]


@pytest.mark.parametrize(("case", "reason"), FALLBACKS, ids=[c.id for c, _ in FALLBACKS])
def test_pooling_refusal_has_reason(case: Case, reason: str) -> None:
    """Refused poolings run in PyTorch with a report that says why."""
    check_fallback(case.module, _inputs(case), op=case.op, detail=reason)


@dataclasses.dataclass
class DynCase:
    id: str
    module: nn.Module
    spec: Input
    op: torch._ops.OpOverload


# Batch only dynamic; batch and spatial dims dynamic.
_B = ranged((1, 2, 4), 2, 7, 7)
_BHW = ranged((1, 2, 3), 2, (5, 7, 9), (6, 8, 11))

DYNAMIC_CASES = [
    DynCase("max_pool2d_dyn_batch", nn.MaxPool2d(3, 2, 1), _B, MAX2),
    DynCase("max_pool2d_dyn_spatial", nn.MaxPool2d(3, 2, 1), _BHW, MAX2),
    DynCase("max_pool2d_ceil_mode_dyn_batch", nn.MaxPool2d(2, 2, ceil_mode=True), _B, MAX2),
    DynCase(
        "max_pool3d_dyn_batch",
        nn.MaxPool3d(2),
        ranged((1, 2, 3), 2, 3, 4, 4),
        MAX3,
    ),
    DynCase("avg_pool2d_dyn_spatial_pad_include", nn.AvgPool2d(3, 2, 1), _BHW, AVG2),
    DynCase(
        "avg_pool2d_dyn_spatial_pad_exclude",
        nn.AvgPool2d(3, 2, 1, count_include_pad=False),
        _BHW,
        AVG2,
    ),
    DynCase(
        "avg_pool2d_ceil_divisor_dyn_batch",
        nn.AvgPool2d(2, 2, 1, ceil_mode=True, divisor_override=3),
        _B,
        AVG2,
    ),
    DynCase(
        "avg_pool3d_dyn_batch",
        nn.AvgPool3d(2, padding=1),
        ranged((1, 2, 3), 2, 3, 4, 4),
        AVG3,
    ),
    DynCase(
        "adaptive_avg_pool2d_1x1_dyn_spatial", FnModule(lambda x: ADAPT(x, [1, 1])), _BHW, ADAPT
    ),
    DynCase("adaptive_avg_pool2d_2x2_dyn_batch", nn.AdaptiveAvgPool2d(2), _B, ADAPT),
    DynCase("adaptive_avg_pool2d_uneven_dyn_batch", nn.AdaptiveAvgPool2d((3, 2)), _B, ADAPT),
    DynCase(
        "adaptive_avg_pool1d_dyn_batch", nn.AdaptiveAvgPool1d(3), ranged((1, 2, 4), 3, 7), ADAPT
    ),
    DynCase(
        "adaptive_avg_pool3d_uneven_dyn_batch",
        nn.AdaptiveAvgPool3d((2, 3, 2)),
        ranged((1, 2, 3), 2, 5, 7, 3),
        ADAPT3,
    ),
    DynCase(
        "adaptive_avg_pool3d_global_dyn_spatial",
        FnModule(lambda x: ADAPT3(x, [1, 1, 1])),
        ranged((1, 2, 3), 2, (2, 3, 4), 4, (3, 5, 6)),
        ADAPT3,
    ),
    DynCase("adaptive_max_pool2d_uneven_dyn_batch", nn.AdaptiveMaxPool2d((3, 4)), _B, AMAX2),
    DynCase("adaptive_max_pool2d_global_dyn_spatial", nn.AdaptiveMaxPool2d(1), _BHW, AMAX2),
    DynCase(
        "adaptive_max_pool3d_uneven_dyn_batch",
        nn.AdaptiveMaxPool3d((2, 3, 2)),
        ranged((1, 2, 3), 2, 5, 7, 3),
        AMAX3,
    ),
    # (torch.export specializes a dynamic max_pool1d length, so only the batch is dynamic.)
    DynCase("max_pool1d_dyn_batch", nn.MaxPool1d(3, 2, 1), ranged((1, 2, 3), 2, 9), MAX2),
    DynCase(
        "avg_pool1d_ceil_dyn_batch",
        nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False),
        ranged((1, 2, 3), 2, 10),
        AVG2,
    ),
    DynCase(
        "max_pool3d_ceil_dyn_batch",
        nn.MaxPool3d(3, 2, 1, ceil_mode=True),
        ranged((1, 2, 3), 2, 6, 5, 4),
        MAX3,
    ),
]


@pytest.mark.parametrize("case", DYNAMIC_CASES, ids=lambda c: c.id)
def test_pooling_dynamic(case: DynCase) -> None:
    """One engine serves every shape in the range and matches eager at min, opt and max."""
    check_dynamic_conversion(case.module, [case.spec], ops=[case.op])


DYNAMIC_FALLBACKS = [
    (
        DynCase("max_pool2d_ceil_mode_dyn_spatial", nn.MaxPool2d(2, 2, ceil_mode=True), _BHW, MAX2),
        "ceil_mode with dynamic spatial dims",
    ),
    (
        DynCase(
            "avg_pool2d_divisor_dyn_spatial", nn.AvgPool2d(3, 2, 1, divisor_override=5), _BHW, AVG2
        ),
        "divisor_override with dynamic spatial dims",
    ),
    (
        DynCase("adaptive_avg_pool2d_2x2_dyn_spatial", nn.AdaptiveAvgPool2d(2), _BHW, ADAPT),
        "dynamic spatial dims with adaptive bins",
    ),
    (
        DynCase("adaptive_max_pool2d_3x3_dyn_spatial", nn.AdaptiveMaxPool2d(3), _BHW, AMAX2),
        "only output_size (1, 1) takes them",
    ),
    (
        DynCase(
            "adaptive_avg_pool3d_2_dyn_spatial",
            nn.AdaptiveAvgPool3d(2),
            ranged((1, 2, 3), 2, (2, 3, 4), 4, 5),
            ADAPT3,
        ),
        "only output_size (1, 1, 1) takes them",
    ),
]


@pytest.mark.parametrize(
    ("case", "reason"), DYNAMIC_FALLBACKS, ids=[c.id for c, _ in DYNAMIC_FALLBACKS]
)
def test_pooling_dynamic_refusal_has_reason(case: DynCase, reason: str) -> None:
    """A pooling the converter cannot take dynamically runs in PyTorch, saying why."""
    check_fallback(case.module, [case.spec], op=case.op, detail=reason)
