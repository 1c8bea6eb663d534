"""Grid sampling converters vs eager: every interpolation and padding mode, 2-D and 3-D.

Bilinear and (non-reflecting) nearest 2-D sampling use TensorRT's grid-sample layer; the other
modes are composed from gathers. Grids reach outside [-1, 1] so the padding modes matter.
"""

from __future__ import annotations

import dataclasses

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
GS2 = aten.grid_sampler_2d.default
GS3 = aten.grid_sampler_3d.default


@dataclasses.dataclass
class Case:
    id: str
    mode: str
    padding: str
    align: bool
    x: tuple[int, ...]
    grid: tuple[int, ...]
    dtype: torch.dtype = torch.float32

    @property
    def op(self) -> torch._ops.OpOverload:
        return GS2 if len(self.x) == 4 else GS3

    def module(self) -> nn.Module:
        mode, padding, align = self.mode, self.padding, self.align
        return FnModule(lambda x, g: F.grid_sample(x, g, mode, padding, align_corners=align))

    def inputs(self) -> list[torch.Tensor]:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(self.x, generator=gen)
        grid = torch.rand(self.grid, generator=gen) * 2.6 - 1.3
        return [x.to(self.dtype), grid.to(self.dtype)]


_2D = ((2, 3, 5, 6), (2, 4, 7, 2))
_3D = ((2, 2, 3, 4, 5), (2, 2, 3, 4, 3))
CASES = [
    Case(f"{len(x) - 2}d_{mode}_{padding}_{('no', '')[align]}align", mode, padding, align, x, g)
    for x, g, modes in ((*_2D, ("bilinear", "nearest", "bicubic")), (*_3D, ("bilinear", "nearest")))
    for mode in modes
    for padding in ("zeros", "border", "reflection")
    for align in (False, True)
] + [
    Case("2d_bilinear_fp16", "bilinear", "zeros", False, *_2D, torch.float16),
    Case("2d_bicubic_fp16", "bicubic", "border", True, *_2D, torch.float16),
    Case("2d_bilinear_bf16", "bilinear", "border", False, *_2D, torch.bfloat16),
    Case("2d_bicubic_bf16", "bicubic", "zeros", False, *_2D, torch.bfloat16),
    Case("3d_bilinear_fp16", "bilinear", "reflection", False, *_3D, torch.float16),
    Case("2d_bilinear_1x1_input", "bilinear", "reflection", True, (1, 2, 1, 1), (1, 3, 3, 2)),
    Case("2d_bicubic_1x1_input", "bicubic", "reflection", False, (1, 2, 1, 1), (1, 3, 3, 2)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_grid_sample_matches_eager(case: Case) -> None:
    """The grid sampler lands in one engine and the reference runtime matches eager."""
    check_conversion(case.module(), case.inputs(), ops=[case.op])


def test_bilinear_is_one_grid_sample_layer() -> None:
    """Bilinear 2-D sampling (RAFT's) is a single layer, not a gather composition."""
    case = Case("b", "bilinear", "zeros", True, *_2D)
    result = check_conversion(case.module(), case.inputs(), ops=[GS2])
    assert result.report.engine_info[0].layers == 1


def test_nearest_ties_round_half_to_even() -> None:
    """Sample points exactly halfway between pixels take the even index, as torch does (the
    composed nearest-with-reflection path rounds the same way)."""
    x = torch.arange(8.0).reshape(1, 1, 1, 8)
    gx = torch.tensor([-0.875, -0.625, -0.375, 0.125, 0.375, 0.625, 0.875])  # x = 0.5, 1.5, ...
    grid = torch.stack([gx, torch.zeros(7)], -1).reshape(1, 1, 7, 2)
    for padding in ("zeros", "reflection"):
        module = FnModule(lambda x, g, p=padding: F.grid_sample(x, g, "nearest", p, False))
        check_conversion(module, [x, grid], ops=[GS2])


@dataclasses.dataclass
class DynCase:
    id: str
    mode: str
    padding: str
    specs: list[Input]

    def module(self) -> nn.Module:
        mode, padding = self.mode, self.padding
        return FnModule(lambda x, g: F.grid_sample(x, g, mode, padding, align_corners=False))


_B = (1, 2, 3)
DYNAMIC_CASES = [
    DynCase(
        "2d_bilinear_dyn_all",
        "bilinear",
        "zeros",
        [ranged(_B, 3, (4, 5, 6), (5, 6, 8)), ranged(_B, (2, 4, 5), (3, 5, 7), 2)],
    ),
    DynCase(
        "2d_nearest_border_dyn_batch",
        "nearest",
        "border",
        [ranged(_B, 3, 5, 6), ranged(_B, 4, 7, 2)],
    ),
    DynCase(
        "2d_bicubic_dyn_batch_and_grid",
        "bicubic",
        "reflection",
        [ranged(_B, 3, 5, 6), ranged(_B, (2, 4, 5), (3, 5, 7), 2)],
    ),
    DynCase(
        "3d_bilinear_dyn_batch_and_grid",
        "bilinear",
        "border",
        [ranged(_B, 2, 3, 4, 5), ranged(_B, 2, (2, 3, 4), 4, 3)],
    ),
]


@pytest.mark.parametrize("case", DYNAMIC_CASES, ids=lambda c: c.id)
def test_grid_sample_dynamic(case: DynCase) -> None:
    """One engine serves every shape in the range and matches eager at min, opt and max."""
    op = GS2 if len(case.specs[0].min_shape) == 4 else GS3
    check_dynamic_conversion(case.module(), case.specs, ops=[op])


def test_composed_mode_with_dynamic_input_size_is_refused() -> None:
    """A composed mode needs static input spatial sizes and says so."""
    case = DynCase("c", "bicubic", "zeros", [ranged(_B, 3, (4, 5, 6), 6), ranged(_B, 4, 7, 2)])
    check_fallback(case.module(), case.specs, op=GS2, detail="needs static input spatial sizes")
