"""Upsampling converters (IResizeLayer) vs eager: nearest and nearest-exact 1-D to 3-D, linear,
bilinear, trilinear and bicubic, with sizes, scale factors and align_corners."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
import torch.nn.functional as F
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
NEAREST = aten.upsample_nearest2d.vec
BILINEAR = aten.upsample_bilinear2d.vec
NEAREST1, NEAREST3 = aten.upsample_nearest1d.vec, aten.upsample_nearest3d.vec
EXACT1, EXACT2, EXACT3 = (
    aten._upsample_nearest_exact1d.vec,
    aten._upsample_nearest_exact2d.vec,
    aten._upsample_nearest_exact3d.vec,
)
LINEAR1, TRILINEAR = aten.upsample_linear1d.vec, aten.upsample_trilinear3d.vec
BICUBIC = aten.upsample_bicubic2d.vec
BILINEAR_AA, BICUBIC_AA = aten._upsample_bilinear2d_aa.default, aten._upsample_bicubic2d_aa.default


@dataclasses.dataclass
class Case:
    id: str
    module: nn.Module
    shape: tuple[int, ...]
    op: torch._ops.OpOverload
    dtype: torch.dtype = torch.float32


def _inputs(case: Case) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(case.shape, generator=g).to(case.dtype)]


def _up(**kwargs: Any) -> nn.Module:
    return FnModule(lambda x: F.interpolate(x, **kwargs))


f16, bf16 = torch.float16, torch.bfloat16
CASES = [
    # 2-D nearest and bilinear
    Case("nearest_scale2", _up(scale_factor=2), (1, 2, 3, 4), NEAREST),
    Case("nearest_size", _up(size=(5, 7)), (1, 2, 3, 4), NEAREST),
    Case("nearest_down", _up(size=(2, 3)), (1, 2, 5, 7), NEAREST),
    Case("nearest_scale_int_ratio", _up(scale_factor=(1.5, 3)), (1, 2, 4, 3), NEAREST),
    Case(
        "nearest_default",
        FnModule(lambda x: aten.upsample_nearest2d.default(x, [6, 5])),
        (1, 2, 3, 4),
        aten.upsample_nearest2d.default,
    ),
    Case("bilinear_size", _up(size=(5, 7), mode="bilinear"), (1, 2, 3, 4), BILINEAR),
    Case("bilinear_scale2", _up(scale_factor=2, mode="bilinear"), (2, 2, 3, 4), BILINEAR),
    Case(
        "bilinear_align_corners",
        _up(size=(5, 7), mode="bilinear", align_corners=True),
        (1, 2, 3, 4),
        BILINEAR,
    ),
    Case(
        "bilinear_align_corners_scale",
        _up(scale_factor=1.5, mode="bilinear", align_corners=True),
        (1, 2, 5, 5),
        BILINEAR,
    ),
    Case(
        "bilinear_align_corners_to_1",
        _up(size=(1, 4), mode="bilinear", align_corners=True),
        (1, 2, 3, 2),
        BILINEAR,
    ),
    Case("bilinear_down", _up(size=(2, 3), mode="bilinear"), (1, 2, 5, 7), BILINEAR),
    Case("nearest_fp16", _up(scale_factor=2), (1, 2, 3, 3), NEAREST, f16),
    Case("bilinear_fp16", _up(size=(6, 5), mode="bilinear"), (1, 2, 3, 4), BILINEAR, f16),
    Case("bilinear_bf16", _up(scale_factor=2, mode="bilinear"), (1, 2, 3, 4), BILINEAR, bf16),
    # nearest 1-D / 3-D
    Case("nearest1d_scale2", _up(scale_factor=2), (2, 3, 5), NEAREST1),
    Case("nearest1d_size_down", _up(size=4), (1, 3, 9), NEAREST1),
    Case(
        "nearest1d_default",
        FnModule(lambda x: aten.upsample_nearest1d.default(x, [7])),
        (1, 2, 3),
        aten.upsample_nearest1d.default,
    ),
    Case("nearest3d_scale2", _up(scale_factor=2), (1, 2, 2, 3, 4), NEAREST3),
    Case("nearest3d_size", _up(size=(3, 5, 2)), (1, 2, 2, 3, 4), NEAREST3),
    Case("nearest3d_fp16", _up(size=(3, 5, 7)), (1, 2, 2, 3, 4), NEAREST3, f16),
    # nearest-exact
    Case("nearest_exact1d_up", _up(size=7, mode="nearest-exact"), (1, 2, 5), EXACT1),
    Case("nearest_exact1d_down", _up(size=3, mode="nearest-exact"), (1, 2, 8), EXACT1),
    Case("nearest_exact2d", _up(size=(7, 4), mode="nearest-exact"), (1, 2, 5, 6), EXACT2),
    Case("nearest_exact2d_scale2", _up(scale_factor=2, mode="nearest-exact"), (1, 2, 3, 4), EXACT2),
    Case("nearest_exact3d", _up(size=(3, 7, 2), mode="nearest-exact"), (1, 2, 2, 5, 3), EXACT3),
    Case(
        "nearest_exact2d_bf16", _up(size=(7, 9), mode="nearest-exact"), (1, 2, 5, 6), EXACT2, bf16
    ),
    # linear 1-D
    Case("linear1d_size", _up(size=11, mode="linear"), (2, 3, 5), LINEAR1),
    Case("linear1d_down", _up(size=3, mode="linear"), (1, 3, 8), LINEAR1),
    Case("linear1d_align", _up(size=9, mode="linear", align_corners=True), (1, 2, 4), LINEAR1),
    Case("linear1d_scale3", _up(scale_factor=3, mode="linear"), (1, 2, 4), LINEAR1),
    Case(
        "linear1d_default",
        FnModule(lambda x: aten.upsample_linear1d.default(x, [6], False)),
        (1, 2, 4),
        aten.upsample_linear1d.default,
    ),
    # trilinear
    Case("trilinear_size", _up(size=(3, 5, 7), mode="trilinear"), (1, 2, 2, 3, 4), TRILINEAR),
    Case(
        "trilinear_align",
        _up(size=(4, 2, 6), mode="trilinear", align_corners=True),
        (1, 2, 3, 3, 4),
        TRILINEAR,
    ),
    Case("trilinear_scale2", _up(scale_factor=2, mode="trilinear"), (2, 1, 2, 3, 2), TRILINEAR),
    Case("trilinear_fp16", _up(size=(3, 5, 7), mode="trilinear"), (1, 2, 2, 3, 4), TRILINEAR, f16),
    # bicubic
    Case("bicubic_size", _up(size=(7, 9), mode="bicubic"), (1, 2, 4, 5), BICUBIC),
    Case("bicubic_down", _up(size=(3, 2), mode="bicubic"), (1, 2, 7, 6), BICUBIC),
    Case(
        "bicubic_align",
        _up(size=(7, 9), mode="bicubic", align_corners=True),
        (1, 2, 4, 5),
        BICUBIC,
    ),
    Case("bicubic_scale2", _up(scale_factor=2, mode="bicubic"), (2, 3, 3, 4), BICUBIC),
    Case("bicubic_fp16", _up(size=(7, 9), mode="bicubic"), (1, 2, 4, 5), BICUBIC, f16),
    # (upsample_bicubic2d.default never reaches partition: torch decomposes it under autograd.)
    # antialiased
    Case(
        "bilinear_aa_down",
        _up(size=(3, 5), mode="bilinear", antialias=True),
        (1, 2, 8, 11),
        BILINEAR_AA,
    ),
    Case(
        "bilinear_aa_up",
        _up(size=(9, 7), mode="bilinear", antialias=True),
        (1, 2, 4, 5),
        BILINEAR_AA,
    ),
    Case(
        "bilinear_aa_mixed",
        _up(size=(3, 9), mode="bilinear", antialias=True),
        (2, 3, 7, 4),
        BILINEAR_AA,
    ),
    Case(
        "bilinear_aa_scale",
        _up(scale_factor=0.4, mode="bilinear", antialias=True),
        (1, 2, 9, 12),
        BILINEAR_AA,
    ),
    Case(
        "bilinear_aa_align",
        _up(size=(3, 5), mode="bilinear", antialias=True, align_corners=True),
        (1, 2, 8, 11),
        BILINEAR_AA,
    ),
    Case(
        "bicubic_aa_down",
        _up(size=(3, 5), mode="bicubic", antialias=True),
        (1, 2, 8, 11),
        BICUBIC_AA,
    ),
    Case(
        "bicubic_aa_up", _up(size=(9, 7), mode="bicubic", antialias=True), (1, 2, 4, 5), BICUBIC_AA
    ),
    # (torch has no fp16 antialiased resize on CPU)
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_upsample_matches_eager(case: Case) -> None:
    """The upsampling lands in one engine, as one resize layer (antialiased: two matmuls), and
    the reference runtime matches eager."""
    result = check_conversion(case.module, _inputs(case), ops=[case.op])
    assert result.report.engine_info[0].layers <= 6  # the resize or matmuls, constants, casts


FALLBACKS = [
    (
        Case("bilinear_scale_1_5", _up(scale_factor=1.5, mode="bilinear"), (1, 2, 5, 5), BILINEAR),
        "torch maps coordinates by 1/scale_factor",
    ),
    (
        Case("nearest_scale_1_5", _up(scale_factor=1.5), (1, 2, 5, 4), NEAREST),
        "scale_factor 1.5 with input size 5 gives output 7",
    ),
    (
        Case(
            "trilinear_scale_1_5",
            _up(scale_factor=1.5, mode="trilinear"),
            (1, 1, 3, 4, 5),
            TRILINEAR,
        ),
        "scale_factor 1.5 with input size 3 gives output 4",
    ),
    (
        Case("linear1d_scale_2_5", _up(scale_factor=2.5, mode="linear"), (1, 2, 3), LINEAR1),
        "torch maps coordinates by 1/scale_factor",
    ),
]


@pytest.mark.parametrize(("case", "reason"), FALLBACKS, ids=[c.id for c, _ in FALLBACKS])
def test_upsample_refusal_has_reason(case: Case, reason: str) -> None:
    """Refused upsamplings run in PyTorch with a report that says why."""
    check_fallback(case.module, _inputs(case), op=case.op, detail=reason)


@dataclasses.dataclass
class DynCase:
    id: str
    module: nn.Module
    spec: Input
    op: torch._ops.OpOverload


_B = ranged((1, 2, 4), 2, 7, 7)
_BHW = ranged((1, 2, 3), 2, (5, 7, 9), (6, 8, 11))

DYNAMIC_CASES = [
    DynCase("nearest_scale2_dyn_batch", _up(scale_factor=2), _B, NEAREST),
    DynCase("bilinear_size_dyn_spatial", _up(size=(5, 9), mode="bilinear"), _BHW, BILINEAR),
    DynCase(
        "bilinear_align_corners_dyn_batch",
        _up(size=(4, 9), mode="bilinear", align_corners=True),
        _B,
        BILINEAR,
    ),
    DynCase("nearest1d_dyn_batch", _up(scale_factor=3), ranged((1, 2, 3), 2, 5), NEAREST1),
    DynCase(
        "linear1d_size_dyn_length",
        _up(size=7, mode="linear"),
        ranged((1, 2, 3), 2, (3, 5, 9)),
        LINEAR1,
    ),
    DynCase("nearest_exact2d_dyn_spatial", _up(size=(6, 4), mode="nearest-exact"), _BHW, EXACT2),
    DynCase("bicubic_size_dyn_spatial", _up(size=(6, 10), mode="bicubic"), _BHW, BICUBIC),
    DynCase(
        "trilinear_dyn_batch",
        _up(scale_factor=2, mode="trilinear"),
        ranged((1, 2, 3), 2, 2, 3, 4),
        TRILINEAR,
    ),
    DynCase(
        "bilinear_aa_dyn_batch",
        _up(size=(3, 4), mode="bilinear", antialias=True),
        _B,
        BILINEAR_AA,
    ),
    DynCase(
        "nearest3d_dyn_batch_channels",
        _up(size=(4, 4, 4)),
        ranged((1, 2, 3), (1, 2, 3), 2, 3, 2),
        NEAREST3,
    ),
]


@pytest.mark.parametrize("case", DYNAMIC_CASES, ids=lambda c: c.id)
def test_upsample_dynamic(case: DynCase) -> None:
    """One engine serves every shape in the range and matches eager at min, opt and max."""
    check_dynamic_conversion(case.module, [case.spec], ops=[case.op])


DYNAMIC_FALLBACKS = [
    (
        DynCase("nearest_scale2_dyn_spatial", _up(scale_factor=2), _BHW, NEAREST),
        "dynamic output spatial size",
    ),
    (
        DynCase(
            "linear1d_scale2_dyn_length",
            _up(scale_factor=2, mode="linear"),
            ranged((1, 2, 3), 2, (3, 5, 9)),
            LINEAR1,
        ),
        "dynamic output spatial size",
    ),
    (
        DynCase(
            "bilinear_aa_dyn_spatial",
            _up(size=(3, 4), mode="bilinear", antialias=True),
            _BHW,
            BILINEAR_AA,
        ),
        "antialiased resize with dynamic spatial sizes",
    ),
]


@pytest.mark.parametrize(
    ("case", "reason"), DYNAMIC_FALLBACKS, ids=[c.id for c, _ in DYNAMIC_FALLBACKS]
)
def test_upsample_dynamic_refusal_has_reason(case: DynCase, reason: str) -> None:
    """A resize the converter cannot take dynamically runs in PyTorch, saying why."""
    check_fallback(case.module, [case.spec], op=case.op, detail=reason)
