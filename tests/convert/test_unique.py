"""unique (``_unique2``) and ``unique_consecutive``: values of data-dependent count, inverse
indices and counts, in one engine, matching eager."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch

from torch_trt.convert.registry import Reason
from torch_trt.inputs import Input
from torch_trt.testing import FnModule, check_conversion, check_dynamic_conversion, check_fallback

aten = torch.ops.aten
UNIQUE = aten._unique2.default
CONSECUTIVE = aten.unique_consecutive.default


def ints(
    *shape: int, high: int = 5, seed: int = 0, dtype: torch.dtype = torch.int64
) -> torch.Tensor:
    """Small random integers, so values repeat."""
    g = torch.Generator().manual_seed(seed + sum(shape))
    return torch.randint(0, high, shape, generator=g).to(dtype)


def inv_counts(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.unique(x, return_inverse=True, return_counts=True)


def runs(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.unique_consecutive(x, return_inverse=True, return_counts=True)


# (id, function, inputs, ops that must land in the engine)
CASES: list[tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]] = [
    ("unique_1d", torch.unique, [ints(9)], [UNIQUE]),
    ("unique_2d", torch.unique, [ints(3, 4)], [UNIQUE]),
    ("unique_inverse_counts", inv_counts, [ints(2, 3, 4)], [UNIQUE]),
    ("unique_counts_only", lambda x: torch.unique(x, return_counts=True), [ints(7)], [UNIQUE]),
    ("unique_inverse_only", lambda x: torch.unique(x, return_inverse=True), [ints(7)], [UNIQUE]),
    ("unique_unsorted", lambda x: torch.unique(x, sorted=False), [ints(8)], [UNIQUE]),
    ("unique_float", inv_counts, [ints(10).float() / 4], [UNIQUE]),
    ("unique_fp16", torch.unique, [ints(10).half() - 2], [UNIQUE]),
    ("unique_int32", inv_counts, [ints(6, dtype=torch.int32)], [UNIQUE]),
    ("unique_bool", inv_counts, [ints(6, high=2).bool()], [UNIQUE]),
    ("unique_all_equal", inv_counts, [torch.full((5,), 3)], [UNIQUE]),
    ("unique_all_distinct", inv_counts, [torch.tensor([4, -1, 9, 0, 2])], [UNIQUE]),
    ("unique_one_element", inv_counts, [torch.tensor([7])], [UNIQUE]),
    ("unique_large", inv_counts, [ints(3000, high=700)], [UNIQUE]),
    ("consecutive_large", runs, [ints(5000, high=2)], [CONSECUTIVE]),
    ("unique_then_compute", lambda x: torch.unique(x).float().mean() * 2, [ints(12)], [UNIQUE]),
    ("consecutive_1d", torch.unique_consecutive, [ints(9, high=3)], [CONSECUTIVE]),
    ("consecutive_inverse_counts", runs, [ints(3, 5, high=2)], [CONSECUTIVE]),
    ("consecutive_float", runs, [ints(8, high=2).float()], [CONSECUTIVE]),
    ("consecutive_all_equal", runs, [torch.zeros(6, dtype=torch.int64)], [CONSECUTIVE]),
]


@pytest.mark.parametrize("fn,inputs,ops", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_unique_converts(
    fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]
) -> None:
    """The op lands in one engine and its values, inverse and counts match eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


def _ranged(lo: int, opt: int, hi: int) -> Input:
    return Input(min_shape=(lo,), opt_shape=(opt,), max_shape=(hi,), dtype=torch.int64)


DYNAMIC: list[tuple[str, Callable[..., Any], Sequence[Any]]] = [
    ("unique_dynamic", inv_counts, [UNIQUE]),
    ("consecutive_dynamic", runs, [CONSECUTIVE]),
]


@pytest.mark.parametrize("fn,ops", [c[1:] for c in DYNAMIC], ids=[c[0] for c in DYNAMIC])
def test_unique_converts_dynamic(fn: Callable[..., Any], ops: Sequence[Any]) -> None:
    """One engine takes 2 to 40 elements: all equal, some repeats, all distinct."""
    make = {
        "min": [torch.tensor([5, 5])],
        "opt": [ints(9, high=4)],
        "max": [torch.randperm(40, generator=torch.Generator().manual_seed(0))],
    }
    check_dynamic_conversion(
        FnModule(fn), [_ranged(2, 9, 40)], ops=ops, make_inputs=lambda p: make[p]
    )


# (id, function, inputs, op that stays in PyTorch, reason, words in the detail)
FALLBACKS: list[tuple[str, Callable[..., Any], list[torch.Tensor], Any, Reason, str]] = [
    (
        "unique_dim",
        lambda x: torch.unique(x, dim=0),
        [ints(4, 2, high=2)],
        aten.unique_dim.default,
        Reason.NO_CONVERTER,
        "no converter for aten.unique_dim",
    ),
    (
        "consecutive_dim",
        lambda x: torch.unique_consecutive(x, dim=0),
        [ints(4, 2, high=2)],
        CONSECUTIVE,
        Reason.UNSUPPORTED_ARGUMENTS,
        "along a dim (unique rows)",
    ),
    (
        "unique_too_long",
        torch.unique,
        [ints(3841)],
        UNIQUE,
        Reason.UNSUPPORTED_ARGUMENTS,
        "the sort (TensorRT TopK) takes at most 3840",
    ),
    (
        "unique_int8",
        torch.unique,
        [ints(6, dtype=torch.int8)],
        UNIQUE,
        Reason.UNSUPPORTED_ARGUMENTS,
        "int8 result of data-dependent size",
    ),
]


@pytest.mark.parametrize(
    "fn,inputs,op,reason,words", [c[1:] for c in FALLBACKS], ids=[c[0] for c in FALLBACKS]
)
def test_unique_falls_back(
    fn: Callable[..., Any], inputs: list[torch.Tensor], op: Any, reason: Reason, words: str
) -> None:
    """What TensorRT cannot express stays in PyTorch with the reason; results still match."""
    check_fallback(FnModule(fn), inputs, op=op, detail=words, reason=reason)
