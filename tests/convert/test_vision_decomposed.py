"""Vision ops with no converter of their own that stay one engine through their core-ATen
decompositions: pixel_shuffle / pixel_unshuffle (view, permute) and weight normalization
(pow, sum, div, mul), with static and dynamic shapes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from torch_trt import Input
from torch_trt.testing import FnModule, check_conversion, check_dynamic_conversion, ranged

aten = torch.ops.aten
VIEW, PERMUTE = aten.view.default, aten.permute.default


def r(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    """A small deterministic tensor."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape) + seed)
    return torch.randn(shape, generator=g).to(dtype)


def _weight_norm(v: torch.Tensor, g: torch.Tensor, dim: int = 0) -> torch.Tensor:
    return torch._weight_norm(v, g, dim)


Case = tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]
CASES: list[Case] = [
    ("pixel_shuffle", lambda x: F.pixel_shuffle(x, 2), [r(2, 8, 3, 5)], [VIEW, PERMUTE]),
    ("pixel_shuffle_3", lambda x: F.pixel_shuffle(x, 3), [r(1, 18, 2, 2)], [VIEW, PERMUTE]),
    ("pixel_shuffle_unbatched", lambda x: F.pixel_shuffle(x, 2), [r(4, 3, 3)], [PERMUTE]),
    (
        "pixel_shuffle_fp16",
        lambda x: F.pixel_shuffle(x, 2),
        [r(1, 8, 3, 3, dtype=torch.float16)],
        [PERMUTE],
    ),
    ("pixel_unshuffle", lambda x: F.pixel_unshuffle(x, 2), [r(2, 3, 4, 6)], [VIEW, PERMUTE]),
    ("pixel_unshuffle_3", lambda x: F.pixel_unshuffle(x, 3), [r(1, 2, 6, 9)], [VIEW, PERMUTE]),
    (
        "pixel_shuffle_roundtrip",
        lambda x: F.pixel_unshuffle(F.pixel_shuffle(x, 2) * 2, 2),
        [r(1, 8, 3, 4)],
        [PERMUTE],
    ),
    ("weight_norm_dim0", _weight_norm, [r(4, 3, 2), r(4, 1, 1)], [aten.pow.Tensor_Scalar]),
    (
        "weight_norm_dim1",
        lambda v, g: _weight_norm(v, g, 1),
        [r(4, 3), r(1, 3)],
        [aten.pow.Tensor_Scalar],
    ),
]


@pytest.mark.parametrize(("name", "fn", "inputs", "ops"), CASES, ids=[c[0] for c in CASES])
def test_decomposed_matches_eager(
    name: str, fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]
) -> None:
    """The decomposition lands in one engine and matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


DynCase = tuple[str, Callable[..., Any], list[Input], Sequence[Any]]
DYNAMIC: list[DynCase] = [
    (
        "pixel_shuffle_dyn_batch",
        lambda x: F.pixel_shuffle(x, 2),
        [ranged((1, 2, 4), 8, 3, 5)],
        [PERMUTE],
    ),
    (
        "pixel_shuffle_dyn_spatial",
        lambda x: F.pixel_shuffle(x, 2),
        [ranged((1, 2, 3), 8, (2, 3, 4), (3, 5, 6))],
        [PERMUTE],
    ),
    (
        "pixel_unshuffle_dyn_batch",
        lambda x: F.pixel_unshuffle(x, 2),
        [ranged((1, 2, 4), 3, 4, 6)],
        [PERMUTE],
    ),
    (
        "weight_norm_dyn_rows",
        _weight_norm,
        [ranged((2, 4, 6), 3), ranged((2, 4, 6), 1)],
        [aten.pow.Tensor_Scalar],
    ),
]


@pytest.mark.parametrize(("name", "fn", "specs", "ops"), DYNAMIC, ids=[c[0] for c in DYNAMIC])
def test_decomposed_dynamic(
    name: str, fn: Callable[..., Any], specs: list[Input], ops: Sequence[Any]
) -> None:
    """One engine serves every shape in the range and matches eager."""
    check_dynamic_conversion(FnModule(fn), specs, ops=ops)


def test_weight_norm_module_folds_into_linear() -> None:
    """A weight-normalized Linear's weight is a constant expression: it folds, one engine."""
    from torch.nn.utils.parametrizations import weight_norm

    model = weight_norm(torch.nn.Linear(5, 4))
    check_conversion(model, [r(3, 5)], ops=[aten.linear.default])
