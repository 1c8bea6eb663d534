"""Sorting converters: topk, sort, sort.stable (argsort lowers to sort), all on ITopKLayer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch

import torch_trt
from torch_trt import Input
from torch_trt.testing import (
    FnModule,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    ranged,
)

aten = torch.ops.aten
f16, bf16, i8, i32, i64 = torch.float16, torch.bfloat16, torch.int8, torch.int32, torch.int64
TOPK, SORT, STABLE = aten.topk.default, aten.sort.default, aten.sort.stable


def distinct(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A permutation of distinct values (no ties: every valid order is eager's order)."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape))
    n = 1
    for s in shape:
        n *= s
    values = torch.randperm(n, generator=g).reshape(shape) - n // 2
    return (values * 0.37).to(dtype) if dtype.is_floating_point else values.to(dtype)


def tied(*shape: int, dtype: torch.dtype = torch.int32, high: int = 3) -> torch.Tensor:
    """Values in [0, high): most elements have equal neighbours."""
    g = torch.Generator().manual_seed(5)
    return torch.randint(0, high, shape, generator=g).to(dtype)


Case = tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]
CASES: list[Case] = [
    ("topk", lambda x: x.topk(3, 1), [distinct(2, 7, 3)], [TOPK]),
    ("topk_smallest", lambda x: x.topk(2, -1, largest=False), [distinct(3, 5)], [TOPK]),
    ("topk_first_dim", lambda x: x.topk(2, 0), [distinct(4, 3)], [TOPK]),
    ("topk_rank1", lambda x: x.topk(4), [distinct(9)], [TOPK]),
    ("topk_rank5_axis0", lambda x: x.topk(2, 0), [distinct(3, 2, 2, 1, 2)], [TOPK]),
    ("topk_k_equals_n", lambda x: x.topk(5, 1), [distinct(2, 5)], [TOPK]),
    ("topk_int64", lambda x: x.topk(2, 1), [distinct(3, 6, dtype=i64)], [TOPK]),
    ("topk_int8", lambda x: x.topk(2, 1), [distinct(2, 6, dtype=i8)], [TOPK]),
    ("topk_fp16", lambda x: x.topk(3, 1), [distinct(2, 8, dtype=f16)], [TOPK]),
    ("topk_bf16", lambda x: x.topk(1, 0, largest=False), [distinct(4, 2, dtype=bf16)], []),
    ("topk_values_only", lambda x: x.topk(2, 1).values * 2, [distinct(3, 4)], [TOPK]),
    ("topk_rank0", lambda x: x.topk(1)[1] + 1, [torch.tensor(3.0)], [TOPK]),
    ("sort", lambda x: x.sort(1), [distinct(2, 6, 3)], [SORT]),
    ("sort_descending", lambda x: x.sort(-1, descending=True), [distinct(3, 7)], [SORT]),
    ("sort_rank1_int32", lambda x: x.sort(), [distinct(8, dtype=i32)], [SORT]),
    ("sort_fp16", lambda x: x.sort(0), [distinct(5, 2, dtype=f16)], [SORT]),
    ("sort_bool_values", lambda x: x.sort(1).values, [tied(3, 5, dtype=torch.bool, high=2)], []),
    ("sort_long_dim", lambda x: x.sort(1), [distinct(2, 3840)], [SORT]),
    ("argsort", lambda x: x.argsort(1), [distinct(3, 6)], [SORT]),
    ("argsort_descending", lambda x: x.argsort(0, descending=True), [distinct(5, 2)], [SORT]),
    ("msort", torch.msort, [distinct(4, 3)], [SORT]),
    ("sort_stable_int32_ties", lambda x: x.sort(dim=1, stable=True), [tied(3, 9)], [STABLE]),
    (
        "sort_stable_descending_ties",
        lambda x: x.sort(dim=0, descending=True, stable=True),
        [tied(8, 3, dtype=i8)],
        [STABLE],
    ),
    (
        "argsort_stable_bool",
        lambda x: x.argsort(dim=-1, stable=True),
        [tied(2, 7, dtype=torch.bool, high=2)],
        [STABLE],
    ),
    (
        "argsort_stable_negative_ints",
        lambda x: x.argsort(dim=1, stable=True, descending=True),
        [tied(2, 10) - 1],
        [STABLE],
    ),
    ("sort_stable_false", lambda x: x.sort(dim=1, stable=False), [distinct(2, 5)], [STABLE]),
]


@pytest.mark.parametrize(("fn", "inputs", "ops"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]) -> None:
    """The op lands in one engine, the engine builds, and the reference run matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


def test_topk_unsorted_holds_the_same_elements() -> None:
    """``sorted=False`` returns the k largest elements (in some order; TensorRT's is sorted)."""
    x = distinct(3, 8)
    fn = FnModule(lambda t: t.topk(3, 1, sorted=False))
    compiled = torch_trt.dynamo.compile(fn, [x], runtime="reference", min_block_size=1)
    assert torch_trt.report(compiled).fallbacks == []
    values, indices = compiled(x)
    assert torch.equal(values.sort(1).values, fn(x)[0].sort(1).values)
    assert torch.equal(x.gather(1, indices), values)


TIE_CASES: list[tuple[str, Callable[..., Any], torch.Tensor, int]] = [
    ("topk_ties", lambda x: x.topk(4, 1), tied(3, 9, dtype=torch.float32), 1),
    ("topk_ties_smallest", lambda x: x.topk(3, 0, largest=False), tied(7, 2), 0),
    ("sort_ties", lambda x: x.sort(1), tied(3, 9, dtype=torch.float32), 1),
    ("sort_ties_descending", lambda x: x.sort(0, descending=True), tied(6, 3, dtype=i64), 0),
]


@pytest.mark.parametrize(
    ("fn", "x", "dim"), [c[1:] for c in TIE_CASES], ids=[c[0] for c in TIE_CASES]
)
def test_ties_give_a_valid_order(fn: Callable[..., Any], x: torch.Tensor, dim: int) -> None:
    """With equal elements the values equal eager's and the indices point at those values
    (torch promises no order among ties, and neither does TensorRT)."""
    compiled = torch_trt.dynamo.compile(FnModule(fn), [x], runtime="reference", min_block_size=1)
    assert torch_trt.report(compiled).fallbacks == []
    values, indices = compiled(x)
    want_values, _ = fn(x)
    assert torch.equal(values, want_values)
    assert torch.equal(x.gather(dim, indices), values)
    if values.shape == x.shape:  # a sort: every index exactly once
        each_once = torch.arange(x.shape[dim]).expand_as(indices.movedim(dim, -1))
        assert torch.equal(indices.sort(dim).values, each_once.movedim(-1, dim))


FALLBACKS: list[tuple[str, Callable[..., Any], list[Any], Any, str]] = [
    (
        "sort_stable_float",
        lambda x: x.sort(dim=1, stable=True),
        [distinct(2, 5)],
        STABLE,
        "stable sort of torch.float32: TensorRT does not document the order of equal",
    ),
    (
        "sort_stable_int64",
        lambda x: x.argsort(dim=0, stable=True),
        [distinct(5, dtype=i64)],
        STABLE,
        "(converted for bool/int8/int32 only)",
    ),
    ("topk_k_too_large", lambda x: x.topk(3841, 1), [distinct(1, 3841)], TOPK, "k <= 3840"),
    (
        "topk_symbolic_k_unbounded",
        lambda x: x.topk(x.shape[1] - 1, 1),
        [ranged(2, (2, 8, 5000))],
        TOPK,
        "a symbolic k",
    ),
    ("sort_too_long", lambda x: x.sort(1), [distinct(1, 3841)], SORT, "k <= 3840"),
    (
        "sort_dynamic_too_long",
        lambda x: x.sort(1),
        [ranged(2, (1, 8, 5000))],
        SORT,
        "length up to 5000",
    ),
]


@pytest.mark.parametrize(
    ("fn", "inputs", "op", "detail"), [c[1:] for c in FALLBACKS], ids=[c[0] for c in FALLBACKS]
)
def test_falls_back(fn: Callable[..., Any], inputs: list[Any], op: Any, detail: str) -> None:
    """What TensorRT cannot sort, or cannot sort stably, stays in PyTorch with a reason."""
    check_fallback(FnModule(fn), inputs, op=op, detail=detail)


# --- dynamic shapes ---------------------------------------------------------------------------


BATCH, SEQ = (1, 3, 6), (2, 5, 9)


def _dyn_inputs(dtype: torch.dtype, *dims: tuple[int, ...]) -> Callable[[str], list[torch.Tensor]]:
    """Tie-free inputs at the min/opt/max shapes."""
    points = {"min": 0, "opt": 1, "max": 2}
    return lambda p: [distinct(*(d[points[p]] for d in dims), dtype=dtype)]


DYNAMIC_CASES: list[tuple[str, Callable[..., Any], Input, Any, Sequence[Any]]] = [
    ("topk_dyn_batch", lambda x: x.topk(2, 1), ranged(BATCH, 5), [BATCH, (5,) * 3], [TOPK]),
    ("topk_dyn_axis", lambda x: x.topk(2, 1), ranged(BATCH, SEQ), [BATCH, SEQ], [TOPK]),
    ("sort_dyn_axis", lambda x: x.sort(1), ranged(BATCH, SEQ), [BATCH, SEQ], [SORT]),
    ("sort_dyn_rank1", lambda x: x.sort(0, descending=True), ranged(SEQ), [SEQ], [SORT]),
    ("argsort_dyn_batch", lambda x: x.argsort(1), ranged(BATCH, 6), [BATCH, (6,) * 3], [SORT]),
    (
        "topk_dyn_symbolic_k",
        lambda x: x.topk(x.shape[1] // 2, 1),
        ranged(BATCH, (4, 5, 9)),  # export guards k != 1
        [BATCH, (4, 5, 9)],
        [TOPK],
    ),
    (
        "sort_stable_dyn",
        lambda x: x.sort(dim=1, stable=True),
        ranged(BATCH, SEQ, dtype=i32),
        None,
        [STABLE],
    ),
]


@pytest.mark.parametrize(
    ("fn", "spec", "dims", "ops"),
    [c[1:] for c in DYNAMIC_CASES],
    ids=[c[0] for c in DYNAMIC_CASES],
)
def test_dynamic(fn: Callable[..., Any], spec: Input, dims: Any, ops: Sequence[Any]) -> None:
    """With dynamic dims (the sorted one included) the op lands in one engine and matches eager
    at the min, opt and max shapes (stable sorts on tied random ints)."""
    make = None if dims is None else _dyn_inputs(spec.dtype, *dims)
    check_dynamic_conversion(FnModule(fn), [spec], ops=ops, make_inputs=make)
