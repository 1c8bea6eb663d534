"""Distance converters vs eager: cdist (p = 0, 0.5, 1, 2, 3, inf; matmul and direct forms; batch
broadcasting) and pdist, with static and dynamic shapes (torch has no fp16 cdist on CPU)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from torch_trt import Input
from torch_trt.testing import (
    FnModule,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    ranged,
)

aten = torch.ops.aten
CDIST, PDIST = aten._cdist_forward.default, aten._pdist_forward.default
INF = float("inf")


def r(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    """A small deterministic tensor."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape) + seed)
    return torch.randn(shape, generator=g).to(dtype)


def _cdist(p: float, **kw: Any) -> Callable[..., Any]:
    return lambda a, b: torch.cdist(a, b, p=p, **kw)


def _with_ties(x: torch.Tensor) -> torch.Tensor:
    """Rounded values so that p = 0 meets equal coordinates."""
    return (x * 2).round() / 2


Case = tuple[str, Callable[..., Any], list[torch.Tensor], Any]
CASES: list[Case] = [
    ("cdist_p2", _cdist(2.0), [r(5, 3), r(4, 3, seed=1)], CDIST),
    ("cdist_p2_batched", _cdist(2.0), [r(2, 5, 3), r(2, 4, 3, seed=1)], CDIST),
    ("cdist_p2_broadcast_batch", _cdist(2.0), [r(2, 1, 5, 3), r(3, 4, 3, seed=1)], CDIST),
    # torch.cdist takes its matmul form in Python (it never reaches _cdist_forward then); the
    # ATen op called directly picks it itself past 25 points or with compute_mode 1.
    ("cdist_op_mm_form", lambda a, b: CDIST(a, b, 2.0, None), [r(30, 4), r(7, 4, seed=1)], CDIST),
    ("cdist_op_forced_mm", lambda a, b: CDIST(a, b, 2.0, 1), [r(5, 3), r(4, 3, seed=1)], CDIST),
    ("cdist_p1", _cdist(1.0), [r(5, 3), r(4, 3, seed=1)], CDIST),
    ("cdist_p3", _cdist(3.0), [r(5, 3), r(4, 3, seed=1)], CDIST),
    ("cdist_p_half", _cdist(0.5), [r(5, 3), r(4, 3, seed=1)], CDIST),
    ("cdist_p0", _cdist(0.0), [_with_ties(r(5, 3)), _with_ties(r(4, 3, seed=1))], CDIST),
    ("cdist_pinf", _cdist(INF), [r(5, 3), r(4, 3, seed=1)], CDIST),
    ("pdist_p2", lambda x: F.pdist(x), [r(6, 4)], PDIST),
    ("pdist_p1", lambda x: F.pdist(x, 1.0), [r(5, 3)], PDIST),
    ("pdist_p3", lambda x: F.pdist(x, 3.0), [r(5, 3)], PDIST),
    ("pdist_pinf", lambda x: F.pdist(x, INF), [r(5, 3)], PDIST),
    ("pdist_p0", lambda x: F.pdist(x, 0.0), [_with_ties(r(5, 3))], PDIST),
    ("pdist_two_rows", lambda x: F.pdist(x), [r(2, 3)], PDIST),
]


@pytest.mark.parametrize(("name", "fn", "inputs", "op"), CASES, ids=[c[0] for c in CASES])
def test_distance_matches_eager(name: str, fn: Any, inputs: list[torch.Tensor], op: Any) -> None:
    """The distance lands in one engine and the reference runtime matches eager."""
    check_conversion(FnModule(fn), inputs, ops=[op])


DynCase = tuple[str, Callable[..., Any], list[Input]]
DYNAMIC: list[DynCase] = [
    ("cdist_p2_dyn_points", _cdist(2.0), [ranged((2, 5, 9), 3), ranged((1, 4, 7), 3)]),
    ("cdist_p1_dyn_batch", _cdist(1.0), [ranged((1, 2, 3), 5, 3), ranged((1, 2, 3), 4, 3)]),
    ("cdist_pinf_dyn_points", _cdist(INF), [ranged((2, 5, 9), 4), ranged(3, 4)]),
    (
        "cdist_op_dyn_across_threshold",
        lambda a, b: CDIST(a, b, 2.0, None),
        [ranged((2, 20, 40), 3), ranged(30, 3)],
    ),
    ("pdist_dyn_features", lambda x: F.pdist(x), [ranged(5, (2, 3, 6))]),
]


@pytest.mark.parametrize(("name", "fn", "specs"), DYNAMIC, ids=[c[0] for c in DYNAMIC])
def test_distance_dynamic(name: str, fn: Any, specs: list[Input]) -> None:
    """One engine serves every shape in the range and matches eager at min, opt and max."""
    op = PDIST if name.startswith("pdist") else CDIST
    check_dynamic_conversion(FnModule(fn), specs, ops=[op])


def test_pdist_dynamic_rows_is_refused() -> None:
    """pdist with a dynamic row count stays in PyTorch, saying why."""
    check_fallback(
        FnModule(lambda x: F.pdist(x)),
        [ranged((3, 4, 6), 3)],
        op=PDIST,
        detail="pdist with a dynamic row count",
    )
