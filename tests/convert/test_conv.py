"""Convolution converters: conv1d/2d/3d, grouped, dilated and transposed, checked against eager."""

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
CONV = aten.convolution.default


@dataclasses.dataclass
class Case:
    id: str
    module: nn.Module
    shapes: list[tuple[int, ...]]
    dtype: torch.dtype = torch.float32


def _inputs(case: Case) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(s, generator=g).to(case.dtype) for s in case.shapes]


def _seeded(module: nn.Module) -> nn.Module:
    # Non-trivial biases and weights, reproducible across runs.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return module


def _conv(cls: type[nn.Module], *args: Any, **kwargs: Any) -> nn.Module:
    return _seeded(cls(*args, **kwargs))


_W = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(2))

CASES = [
    Case("conv1d_basic", _conv(nn.Conv1d, 2, 4, 3), [(2, 2, 9)]),
    Case("conv1d_stride_pad_dil", _conv(nn.Conv1d, 2, 4, 3, 2, 2, 2, bias=False), [(1, 2, 11)]),
    Case("conv1d_groups", _conv(nn.Conv1d, 4, 6, 3, padding=1, groups=2), [(1, 4, 8)]),
    Case("conv1d_unbatched", _conv(nn.Conv1d, 2, 4, 3), [(2, 9)]),
    Case("conv2d_basic", _conv(nn.Conv2d, 3, 4, 3), [(2, 3, 7, 6)]),
    Case("conv2d_no_bias", _conv(nn.Conv2d, 3, 4, 3, bias=False), [(1, 3, 5, 5)]),
    Case("conv2d_stride_pad", _conv(nn.Conv2d, 3, 5, (3, 2), (2, 1), (1, 2)), [(1, 3, 8, 7)]),
    Case("conv2d_dilation", _conv(nn.Conv2d, 3, 4, 3, padding=2, dilation=2), [(1, 3, 8, 8)]),
    Case("conv2d_groups", _conv(nn.Conv2d, 4, 6, 3, groups=2), [(1, 4, 6, 6)]),
    Case("conv2d_depthwise", _conv(nn.Conv2d, 4, 4, 3, padding=1, groups=4), [(2, 4, 5, 5)]),
    Case("conv2d_same", _conv(nn.Conv2d, 3, 4, 3, padding="same"), [(1, 3, 6, 6)]),
    Case("conv2d_unbatched", _conv(nn.Conv2d, 3, 4, 3), [(3, 6, 6)]),
    Case(
        "conv2d_weight_input",
        FnModule(lambda x, w: F.conv2d(x, w, padding=1)),
        [(1, 3, 5, 5), (4, 3, 3, 3)],
    ),
    Case("conv2d_const_weight_fn", FnModule(lambda x: F.conv2d(x, _W, stride=2)), [(1, 3, 7, 7)]),
    Case("conv3d_basic", _conv(nn.Conv3d, 2, 3, 3, padding=1), [(1, 2, 4, 5, 5)]),
    Case("conv3d_stride_groups", _conv(nn.Conv3d, 4, 4, 2, 2, groups=2), [(1, 4, 4, 6, 4)]),
    Case("conv_transpose1d", _conv(nn.ConvTranspose1d, 3, 2, 3, 2, 1, 1), [(1, 3, 6)]),
    Case("conv_transpose2d_basic", _conv(nn.ConvTranspose2d, 3, 4, 3), [(1, 3, 4, 5)]),
    Case(
        "conv_transpose2d_outpad_groups",
        _conv(nn.ConvTranspose2d, 4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
        [(1, 4, 5, 5)],
    ),
    Case(
        "conv_transpose2d_outpad_gt_pad",
        _conv(nn.ConvTranspose2d, 3, 4, 3, stride=3, padding=0, output_padding=2),
        [(1, 3, 3, 4)],
    ),
    Case(
        "conv_transpose2d_outpad_no_bias",
        _conv(nn.ConvTranspose2d, 3, 4, 3, stride=2, output_padding=1, bias=False),
        [(1, 3, 3, 3)],
    ),
    Case(
        "conv_transpose2d_dilation",
        _conv(nn.ConvTranspose2d, 2, 3, 3, padding=2, dilation=2),
        [(1, 2, 4, 4)],
    ),
    Case("conv_transpose3d", _conv(nn.ConvTranspose3d, 2, 3, 2, stride=2), [(1, 2, 2, 3, 3)]),
    Case("conv2d_fp16", _conv(nn.Conv2d, 3, 4, 3, padding=1), [(1, 3, 6, 6)], torch.float16),
    Case("conv1d_fp16", _conv(nn.Conv1d, 4, 4, 3, groups=4), [(1, 4, 8)], torch.float16),
    Case(
        "conv_transpose2d_fp16",
        _conv(nn.ConvTranspose2d, 3, 4, 3, stride=2, padding=1, output_padding=1),
        [(1, 3, 4, 4)],
        torch.float16,
    ),
    Case("conv2d_bf16", _conv(nn.Conv2d, 3, 4, 3), [(1, 3, 5, 5)], torch.bfloat16),
    Case("conv1d_bf16_no_bias", _conv(nn.Conv1d, 2, 3, 3, bias=False), [(1, 2, 7)], torch.bfloat16),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_convolution_matches_eager(case: Case) -> None:
    """The convolution lands in one engine and the reference runtime matches eager."""
    module = case.module.to(case.dtype)
    check_conversion(module, _inputs(case), ops=[CONV])


FALLBACKS = [
    (
        Case(
            "conv_transpose2d_weight_input",
            FnModule(lambda x, w: F.conv_transpose2d(x, w)),
            [(1, 3, 4, 4), (3, 2, 3, 3)],
        ),
        "transposed convolution with a non-constant weight",
    ),
    (
        Case(
            "conv_transpose2d_stride_and_dilation",
            _conv(nn.ConvTranspose2d, 2, 3, 3, stride=2, dilation=2),
            [(1, 2, 4, 4)],
        ),
        "both stride > 1 and dilation > 1",
    ),
    (
        Case(
            "conv_transpose2d_bf16",
            _conv(nn.ConvTranspose2d, 3, 4, 3, stride=2),
            [(1, 3, 4, 4)],
            torch.bfloat16,
        ),
        "bfloat16 transposed convolution",
    ),
]


@pytest.mark.parametrize(("case", "reason"), FALLBACKS, ids=[c.id for c, _ in FALLBACKS])
def test_convolution_refusal_has_reason(case: Case, reason: str) -> None:
    """Refused convolutions run in PyTorch with a report that says why."""
    check_fallback(case.module.to(case.dtype), _inputs(case), op=CONV, detail=reason)


@dataclasses.dataclass
class DynCase:
    id: str
    module: nn.Module
    specs: list[Input]


DYNAMIC_CASES = [
    DynCase(
        "conv2d_dyn_batch",
        _conv(nn.Conv2d, 3, 4, 3, padding=1),
        [ranged((1, 2, 4), 3, 6, 6)],
    ),
    DynCase(
        "conv2d_dyn_spatial",
        _conv(nn.Conv2d, 3, 4, 3, stride=2, padding=1),
        [ranged((1, 2, 3), 3, (5, 7, 9), (4, 8, 9))],
    ),
    DynCase(
        "conv1d_dyn_batch_length",
        _conv(nn.Conv1d, 2, 4, 3, padding=1),
        [ranged((1, 2, 4), 2, (5, 8, 12))],
    ),
    DynCase(
        "conv3d_dyn_batch",
        _conv(nn.Conv3d, 2, 3, 2),
        [ranged((1, 2, 3), 2, 3, 4, 4)],
    ),
    DynCase(
        "conv_transpose2d_dyn_batch_spatial",
        _conv(nn.ConvTranspose2d, 4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
        [ranged((1, 2, 3), 4, (3, 5, 6), (3, 4, 6))],
    ),
    DynCase(
        "conv_transpose2d_outpad_gt_pad_dyn",
        _conv(nn.ConvTranspose2d, 3, 4, 3, stride=3, padding=0, output_padding=2),
        [ranged((1, 2, 3), 3, (2, 3, 4), (3, 4, 5))],
    ),
    DynCase(
        "conv_transpose1d_dyn_length",
        _conv(nn.ConvTranspose1d, 3, 2, 3, 2, 1, 1),
        [ranged((1, 2, 3), 3, (4, 6, 9))],
    ),
]


@pytest.mark.parametrize("case", DYNAMIC_CASES, ids=lambda c: c.id)
def test_convolution_dynamic(case: DynCase) -> None:
    """One engine serves every shape in the range and matches eager at min, opt and max."""
    check_dynamic_conversion(case.module, case.specs, ops=[CONV])


DYNAMIC_FALLBACKS = [
    (
        DynCase(
            "conv2d_dyn_channels_weight_input",
            FnModule(F.conv2d),
            [
                ranged((1, 2, 2), (2, 3, 4), 5, 5),
                ranged(4, (2, 3, 4), 3, 3),
            ],
        ),
        "kernels must be static",
    ),
]


@pytest.mark.parametrize(
    ("case", "reason"), DYNAMIC_FALLBACKS, ids=[c.id for c, _ in DYNAMIC_FALLBACKS]
)
def test_convolution_dynamic_refusal_has_reason(case: DynCase, reason: str) -> None:
    """A convolution the converter cannot take dynamically runs in PyTorch with the reason."""
    check_fallback(case.module, case.specs, op=CONV, detail=reason)
