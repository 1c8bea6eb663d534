"""masked_scatter: the masked positions of ``self`` take ``source``'s elements in order."""

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
    ranged,
)

aten = torch.ops.aten
MASKED_SCATTER = aten.masked_scatter.default


def r(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A small deterministic tensor."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape) + seed)
    return torch.randn(shape, generator=g).to(dtype)


def splice(x: torch.Tensor, ids: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """A vision-language model's splice: image-token embeddings replaced by image features."""
    mask = (ids == 7).unsqueeze(-1)
    return x.masked_scatter(mask, features)


CASES: list[tuple[str, Callable[..., Any], list[torch.Tensor]]] = [
    ("masked_scatter", lambda x, s: x.masked_scatter(x > 0, s), [r(3, 4), r(12, seed=1)]),
    ("masked_scatter_source_2d", lambda x, s: x.masked_scatter(x < 0.5, s), [r(2, 3, 4), r(5, 6)]),
    (
        "masked_scatter_broadcast_mask",
        lambda x, m, s: x.masked_scatter(m, s),
        [r(2, 3, 4), torch.tensor([True, False, True, True]), r(24, seed=2)],
    ),
    (
        "masked_scatter_vlm_splice",
        splice,
        [r(2, 6, 8), torch.tensor([[1, 7, 7, 2, 3, 7], [7, 4, 5, 6, 7, 1]]), r(5, 8, seed=3)],
    ),
    ("masked_scatter_rank0", lambda x, s: x.masked_scatter(x > 0, s), [torch.tensor(1.5), r(3)]),
    ("masked_scatter_none_true", lambda x, s: x.masked_scatter(x > 9, s), [r(3, 4), r(2)]),
    (
        "masked_scatter_int64",
        lambda x, s: x.masked_scatter(x % 2 == 0, s),
        [torch.arange(10), torch.arange(100, 110)],
    ),
    (
        "masked_scatter_fp16",
        lambda x, s: x.masked_scatter(x > 0, s),
        [r(3, 4, dtype=torch.float16), r(12, dtype=torch.float16)],
    ),
]


@pytest.mark.parametrize(("fn", "inputs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts(fn: Callable[..., Any], inputs: list[torch.Tensor]) -> None:
    """The op lands in one engine, the engine builds, and the reference run matches eager."""
    check_conversion(FnModule(fn), inputs, ops=[MASKED_SCATTER])


SPECS: list[Input] = [ranged((1, 3, 6), (2, 5, 9)), ranged((1, 3, 6), (2, 5, 9))]


def test_dynamic() -> None:
    """With dynamic dims masked_scatter lands in one engine and matches eager at min/opt/max."""
    fn = FnModule(lambda x, s: x.masked_scatter(x > 0, s))
    check_dynamic_conversion(fn, SPECS, ops=[MASKED_SCATTER])
