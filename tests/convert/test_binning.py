"""Binning converters: histc (one-hot counts), bucketize and searchsorted (torch's binary search,
unrolled), checked against eager, static and dynamic."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
HISTC, BUCKETIZE, BUCKETIZE_S = aten.histc.default, aten.bucketize.Tensor, aten.bucketize.Scalar
SEARCH, SEARCH_S = aten.searchsorted.Tensor, aten.searchsorted.Scalar
NAN, INF = float("nan"), float("inf")


def r(*shape: int, scale: float = 1.0, seed: int = 0) -> torch.Tensor:
    """A small deterministic float tensor."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape) + seed)
    return torch.randn(shape, generator=g) * scale


def expert_ids(*shape: int, experts: int = 8) -> torch.Tensor:
    """MoE routing's expert indices, as floats (how Mixtral-style code histcs them)."""
    g = torch.Generator().manual_seed(3)
    return torch.randint(0, experts, shape, generator=g).float()


EDGES = torch.tensor([-1.0, -0.25, 0.0, 0.5, 2.0])
# values on, between and beyond the edges, and NaN / infinities
PROBE = torch.tensor([-3.0, -1.0, -0.5, -0.25, 0.0, 0.1, 0.5, 1.0, 2.0, 9.0, NAN, INF, -INF])

Case = tuple[str, Callable[..., Any], list[Any], Sequence[Any]]
CASES: list[Case] = [
    ("histc_moe", lambda x: torch.histc(x, 8, 0, 7), [expert_ids(6, 2)], [HISTC]),
    ("histc_range", lambda x: torch.histc(x, 5, -1, 1), [r(4, 7)], [HISTC]),
    ("histc_edges_and_outside", lambda x: torch.histc(x, 4, -1, 2), [PROBE], [HISTC]),
    ("histc_one_bin", lambda x: torch.histc(x, 1, -2, 2), [r(3, 3)], [HISTC]),
    ("histc_fp16", lambda x: torch.histc(x, 6, -2, 2), [r(5, 4).half()], [HISTC]),
    ("histc_rank0", lambda x: torch.histc(x, 3, 0, 3), [torch.tensor(1.5)], [HISTC]),
    ("bucketize", lambda x: torch.bucketize(x, EDGES), [PROBE], [BUCKETIZE]),
    ("bucketize_right", lambda x: torch.bucketize(x, EDGES, right=True), [PROBE], [BUCKETIZE]),
    ("bucketize_int32", lambda x: torch.bucketize(x, EDGES, out_int32=True), [r(3, 4)], []),
    (
        "bucketize_nan_edge",
        lambda x: torch.bucketize(x, torch.tensor([-1.0, 0.0, 1.0, NAN])),
        [PROBE],
        [BUCKETIZE],
    ),
    (
        "bucketize_ints",
        lambda x: torch.bucketize(x, torch.tensor([0, 2, 2, 5, 9])),
        [torch.arange(-2, 12)],
        [BUCKETIZE],
    ),
    (
        "bucketize_int_values_float_edges",
        lambda x: torch.bucketize(x, EDGES),
        [torch.arange(-3, 4)],
        [BUCKETIZE],
    ),
    ("bucketize_one_edge", lambda x: torch.bucketize(x, torch.tensor([0.0])), [r(6)], []),
    (
        "bucketize_input_edges",
        lambda x, b: torch.bucketize(x, b),
        [r(2, 5, scale=3), torch.linspace(-2, 2, 7)],
        [BUCKETIZE],
    ),
    (
        "bucketize_scalar",
        lambda b: torch.bucketize(0.3, b) + b.shape[0],
        [EDGES],
        [BUCKETIZE_S],
    ),
    ("searchsorted", lambda x: torch.searchsorted(EDGES, x), [PROBE], [SEARCH]),
    (
        "searchsorted_side_right",
        lambda x: torch.searchsorted(EDGES, x, side="right"),
        [PROBE],
        [SEARCH],
    ),
    (
        "searchsorted_rows",
        lambda s, x: torch.searchsorted(s, x),
        [r(3, 6).sort(-1).values, r(3, 4)],
        [SEARCH],
    ),
    (
        "searchsorted_rows_right_ties",
        lambda s, x: torch.searchsorted(s, x, right=True),
        [torch.tensor([[0, 1, 1, 3], [2, 2, 2, 2]]), torch.tensor([[1, 3, 4], [2, 1, 5]])],
        [SEARCH],
    ),
    ("searchsorted_scalar", lambda s: torch.searchsorted(s, 0.5) * 1, [EDGES], [SEARCH_S]),
    (
        "searchsorted_long_sequence",
        lambda x: torch.searchsorted(torch.linspace(-3, 3, 1000), x),
        [r(5, 3)],
        [SEARCH],
    ),
]


@pytest.mark.parametrize(("fn", "inputs", "ops"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts(fn: Callable[..., Any], inputs: list[Any], ops: Sequence[Any]) -> None:
    """The op lands in one engine, the engine builds, and the reference run matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


FALLBACKS: list[tuple[str, Callable[..., Any], list[Any], Any, str]] = [
    (
        "histc_data_edges",
        lambda x: torch.histc(x, 4),
        [r(3, 4)],
        HISTC,
        "the edges must be given with min < max",
    ),
    (
        "searchsorted_sorter",
        lambda s, x: torch.searchsorted(s, x, sorter=torch.tensor([2, 0, 1])),
        [torch.tensor([3.0, 1.0, 2.0]), r(4)],
        SEARCH,
        "with a sorter is not supported",
    ),
]


@pytest.mark.parametrize(
    ("fn", "inputs", "op", "detail"), [c[1:] for c in FALLBACKS], ids=[c[0] for c in FALLBACKS]
)
def test_falls_back(fn: Callable[..., Any], inputs: list[Any], op: Any, detail: str) -> None:
    """What the converters cannot do stays in PyTorch with a reason naming the limit."""
    check_fallback(FnModule(fn), inputs, op=op, detail=detail)


# --- dynamic shapes ---------------------------------------------------------------------------

BATCH, SEQ = (1, 3, 6), (2, 5, 9)

DYNAMIC_CASES: list[tuple[str, Callable[..., Any], list[Input], Sequence[Any]]] = [
    (
        "histc_dyn_tokens",
        lambda x: torch.histc((x.abs() * 3).floor(), 8, 0, 7),
        [ranged(BATCH, SEQ)],
        [HISTC],
    ),
    ("bucketize_dyn", lambda x: torch.bucketize(x, EDGES), [ranged(BATCH, SEQ)], [BUCKETIZE]),
    (
        "searchsorted_dyn_sequence_length",
        lambda s, x: torch.searchsorted(s.sort(-1).values, x, right=True),
        [ranged(2, SEQ), ranged(2, 3)],
        [SEARCH],
    ),
]


@pytest.mark.parametrize(
    ("fn", "specs", "ops"), [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_dynamic(fn: Callable[..., Any], specs: list[Input], ops: Sequence[Any]) -> None:
    """With dynamic dims (values, or the searched sequence's length) the op lands in one engine
    and matches eager at the min, opt and max shapes."""
    check_dynamic_conversion(FnModule(fn), specs, ops=ops)
