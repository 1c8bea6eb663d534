"""Strided-view converters vs eager: diagonal (and diagonal_copy), unfold and as_strided."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from torch_trt import Input
from torch_trt.testing import (
    FnModule,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    ranged,
)

aten = torch.ops.aten
DIAG, DIAG_COPY = aten.diagonal.default, aten.diagonal_copy.default
UNFOLD, STRIDED = aten.unfold.default, aten.as_strided.default


def r(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A small deterministic tensor (ints in [-50, 50) for integer dtypes)."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape))
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-50, 50, shape, generator=g).to(dtype)


Case = tuple[str, Callable[..., Any], list[torch.Tensor], Any]
CASES: list[Case] = [
    ("diagonal", lambda x: torch.diagonal(x) * 2, [r(4, 4)], DIAG),
    ("diagonal_rect_offset", lambda x: torch.diagonal(x, 1) * 2, [r(3, 5)], DIAG),
    ("diagonal_negative_offset", lambda x: torch.diagonal(x, -2) * 2, [r(5, 3)], DIAG),
    ("diagonal_dims", lambda x: torch.diagonal(x, 1, 0, 2) * 2, [r(3, 4, 5)], DIAG),
    ("diagonal_dims_reversed", lambda x: torch.diagonal(x, 0, -1, 1) * 2, [r(2, 4, 3, 5)], DIAG),
    (
        "diagonal_int64",
        lambda x: torch.diagonal(x, 0, 1, 2) * 2,
        [r(2, 3, 3, dtype=torch.int64)],
        DIAG,
    ),
    ("diagonal_fp16", lambda x: torch.diagonal(x) * 2, [r(4, 6, dtype=torch.float16)], DIAG),
    ("diagonal_copy", lambda x: torch.diagonal_copy(x, -1) * 2, [r(4, 4)], DIAG),
    ("diag_matrix", lambda x: torch.diag(x, 1) * 2, [r(4, 4)], DIAG),
    ("trace", lambda x: torch.trace(x) * 2, [r(5, 5)], DIAG),
    ("unfold", lambda x: x.unfold(1, 3, 2) * 2, [r(2, 9)], UNFOLD),
    ("unfold_last_dim_step1", lambda x: x.unfold(-1, 4, 1) * 2, [r(2, 3, 6)], UNFOLD),
    ("unfold_first_dim", lambda x: x.unfold(0, 2, 3) * 2, [r(8, 3)], UNFOLD),
    ("unfold_bool", lambda x: (x > 0).unfold(1, 2, 2), [r(3, 6)], UNFOLD),
    ("as_strided_view", lambda x: torch.as_strided(x, (2, 8), (8, 1)) * 2, [r(4, 4)], STRIDED),
    (
        "as_strided_view_offset",
        lambda x: torch.as_strided(x, (3, 2), (2, 1), 4) * 2,
        [r(4, 4)],
        STRIDED,
    ),
    ("as_strided_transpose", lambda x: torch.as_strided(x, (3, 3), (1, 3)) * 2, [r(3, 3)], STRIDED),
    ("as_strided_windows", lambda x: torch.as_strided(x, (4, 3), (2, 1)) * 2, [r(10)], STRIDED),
    ("as_strided_broadcast", lambda x: x.as_strided((2, 3, 4), (0, 4, 1)) * 2, [r(3, 4)], STRIDED),
    ("as_strided_offset", lambda x: torch.as_strided(x, (2, 2), (3, 2), 1) * 2, [r(2, 4)], STRIDED),
    (
        "as_strided_int32",
        lambda x: torch.as_strided(x, (3, 3), (1, 3)) + 1,
        [r(9, dtype=torch.int32)],
        STRIDED,
    ),
    ("as_strided_scalar", lambda x: torch.as_strided(x, (), (), 5) * 2, [r(3, 4)], STRIDED),
]


@pytest.mark.parametrize(("name", "fn", "inputs", "op"), CASES, ids=[c[0] for c in CASES])
def test_strided_matches_eager(
    name: str, fn: Callable[..., Any], inputs: list[torch.Tensor], op: Any
) -> None:
    """The view lands in one engine and the reference runtime matches eager."""
    check_conversion(FnModule(fn), inputs, ops=[op])


DynCase = tuple[str, Callable[..., Any], Input, Any]
DYNAMIC: list[DynCase] = [
    ("diagonal_dyn_batch", lambda x: torch.diagonal(x, 0, 1, 2) * 2, ranged((1, 2, 4), 3, 5), DIAG),
    (
        "diagonal_dyn_middle",
        lambda x: torch.diagonal(x, 1, 0, 2) * 2,
        ranged(3, (1, 3, 5), 4),
        DIAG,
    ),
    ("unfold_dyn_batch", lambda x: x.unfold(1, 3, 2) * 2, ranged((1, 2, 4), 9), UNFOLD),
    ("unfold_dyn_other", lambda x: x.unfold(0, 2, 1) * 2, ranged(5, (1, 3, 6)), UNFOLD),
]


@pytest.mark.parametrize(("name", "fn", "spec", "op"), DYNAMIC, ids=[c[0] for c in DYNAMIC])
def test_strided_dynamic(name: str, fn: Callable[..., Any], spec: Input, op: Any) -> None:
    """One engine serves every shape in the range and matches eager at min, opt and max."""
    check_dynamic_conversion(FnModule(fn), [spec], ops=[op])


FALLBACKS: list[tuple[str, Callable[..., Any], list[Any], Any, str]] = [
    (
        "as_strided_of_a_transposed_view",
        lambda x: torch.as_strided(x.t(), (2, 2), (1, 2)) * 2,
        [r(3, 4)],
        STRIDED,
        "non-contiguous or offset view",
    ),
    (
        "as_strided_dynamic",
        lambda x: torch.as_strided(x, (2, 2), (1, 2)) * 2,
        [ranged((4, 5, 6), 3)],
        STRIDED,
        "takes static shapes only",
    ),
    (
        "diagonal_dynamic_dims",
        lambda x: torch.diagonal(x) * 2,
        [ranged((2, 3, 4), 4)],
        DIAG,
        "diagonal over dynamic dims",
    ),
    (
        "unfold_dynamic_dim",
        lambda x: x.unfold(1, 2, 1) * 2,
        [ranged(2, (3, 4, 6))],
        UNFOLD,
        "unfold along a dynamic dim",
    ),
]


@pytest.mark.parametrize(
    ("name", "fn", "inputs", "op", "detail"), FALLBACKS, ids=[c[0] for c in FALLBACKS]
)
def test_strided_refusal_has_reason(
    name: str, fn: Callable[..., Any], inputs: list[Any], op: Any, detail: str
) -> None:
    """Views the converters cannot express run in PyTorch, saying why."""
    check_fallback(FnModule(fn), inputs, op=op, detail=detail)
