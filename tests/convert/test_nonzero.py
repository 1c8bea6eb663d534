"""Data-dependent output sizes: nonzero, masked_select, ``x[mask]`` and ``x[mask] = v``.

Each case lands in one engine whose output length is only known when it runs; the reference
runtime must match eager, including masks with no True element (zero-size results) and with
only True elements.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch

from torch_trt.inputs import Input
from torch_trt.testing import FnModule, check_conversion, check_dynamic_conversion, check_fallback

aten = torch.ops.aten


def put_columns(x: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``x[:, k] = v`` on a copy."""
    y = x.clone()
    y[:, k] = v
    return y


def r(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    """A small deterministic tensor; about half of it zero (or False), so selections are mixed."""
    g = torch.Generator().manual_seed(seed + sum(shape))
    x = torch.randn(shape, generator=g)
    keep = torch.rand(shape, generator=g) > 0.5
    if dtype == torch.bool:
        return keep
    return (x * keep).to(dtype) if dtype.is_floating_point else (x * 4 * keep).to(dtype)


def m(*shape: int, fill: bool | None = None) -> torch.Tensor:
    """A bool mask: random, or all ``fill``."""
    if fill is None:
        return r(*shape, dtype=torch.bool, seed=7)
    return torch.full(shape, fill, dtype=torch.bool)


NONZERO = aten.nonzero.default
INDEX = aten.index.Tensor
SELECT = aten.masked_select.default
PUT = aten.index_put.default

# (id, function, inputs, ops that must land in the engine)
CASES: list[tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]] = [
    ("nonzero_float_2d", torch.nonzero, [r(4, 5)], [NONZERO]),
    ("nonzero_bool_3d", torch.nonzero, [m(2, 3, 4)], [NONZERO]),
    ("nonzero_int32_1d", torch.nonzero, [r(7, dtype=torch.int32)], [NONZERO]),
    ("nonzero_int64_4d", torch.nonzero, [r(2, 1, 3, 2, dtype=torch.int64)], [NONZERO]),
    ("nonzero_fp16", torch.nonzero, [r(3, 4, dtype=torch.float16)], [NONZERO]),
    ("nonzero_all_false", torch.nonzero, [m(3, 4, fill=False)], [NONZERO]),
    ("nonzero_all_true", torch.nonzero, [m(3, 4, fill=True)], [NONZERO]),
    ("nonzero_empty_input", torch.nonzero, [torch.zeros(0, 3)], [NONZERO]),
    ("nonzero_large", torch.nonzero, [r(40, 30)], [NONZERO]),
    ("argwhere", torch.argwhere, [r(3, 3)], [NONZERO]),
    ("where_one_arg", lambda x: torch.where(x > 0), [r(3, 4)], [NONZERO]),
    ("masked_select", torch.masked_select, [r(4, 5), m(4, 5)], [SELECT]),
    ("masked_select_mask_broadcast", torch.masked_select, [r(4, 5), m(5)], [SELECT]),
    ("masked_select_int32", torch.masked_select, [r(6, dtype=torch.int32), m(6)], [SELECT]),
    (
        "put_int8",
        lambda x, k, v: torch.index_put(x, (k,), v),
        [r(4, dtype=torch.int8), m(4), torch.tensor(5, dtype=torch.int8)],
        [PUT],
    ),
    ("masked_select_bf16", torch.masked_select, [r(2, 6, dtype=torch.bfloat16), m(2, 6)], [SELECT]),
    ("masked_select_all_false", torch.masked_select, [r(3, 2), m(3, 2, fill=False)], [SELECT]),
    ("mask_full_rank", lambda x, k: x[k], [r(4, 5), m(4, 5)], [INDEX]),
    ("mask_rows", lambda x, k: x[k], [r(4, 5), m(4)], [INDEX]),
    ("mask_columns", lambda x, k: x[:, k], [r(3, 6), m(6)], [INDEX]),
    ("mask_2d_of_3d", lambda x, k: x[k], [r(3, 4, 2), m(3, 4)], [INDEX]),
    ("mask_middle_dims", lambda x, k: x[:, k], [r(2, 3, 4, 5), m(3, 4)], [INDEX]),
    ("mask_bool_data", lambda x, k: x[k], [m(4, 3), m(4)], [INDEX]),
    ("mask_all_false_rows", lambda x, k: x[k], [r(4, 5), m(4, fill=False)], [INDEX]),
    ("mask_all_true_rows", lambda x, k: x[k], [r(4, 5), m(4, fill=True)], [INDEX]),
    ("mask_computed", lambda x: x[x > 0.5] * 2, [r(5, 4)], [INDEX]),
    ("mask_rows_large", lambda x: x[x[:, 0] > 0], [torch.randn(3000, 4)], [INDEX]),
    (
        "put_scalar",
        lambda x, k: x.masked_fill(k, 0).index_put((k,), torch.tensor(3.0)),
        [r(4, 5), m(4, 5)],
        [PUT],
    ),
    ("put_row", lambda x, k, v: torch.index_put(x, (k,), v), [r(4, 5), m(4), r(5)], [PUT]),
    ("put_columns", put_columns, [r(3, 6), m(6), r(1)], [PUT]),
    (
        "put_2d_mask",
        lambda x, k, v: torch.index_put(x, (k,), v),
        [r(3, 4, 2), m(3, 4), r(2)],
        [PUT],
    ),
    (
        "put_accumulate",
        lambda x, k, v: torch.index_put(x, (k,), v, accumulate=True),
        [r(4, 5), m(4), r(5)],
        [PUT],
    ),
    (
        "put_all_false",
        lambda x, k, v: torch.index_put(x, (k,), v),
        [r(4, 5), m(4, fill=False), r(5)],
        [PUT],
    ),
    (
        "put_int",
        lambda x, k: torch.index_put(x, (k,), torch.tensor(9)),
        [r(4, dtype=torch.int32), m(4)],
        [PUT],
    ),
]


@pytest.mark.parametrize("fn,inputs,ops", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_data_dependent_op_converts(
    fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]
) -> None:
    """The op lands in one engine (its output sized while it runs) and matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


def test_rows_selected_then_computed_in_one_engine() -> None:
    """Rows picked by a mask go through a linear layer, an activation and a reduction in the
    same engine as the selection: one engine, no fallback, eager's answer."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 3)

    def fn(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = x[x[:, 0] > 0]
        h = torch.relu(lin(rows))
        return h.sum(0), h

    result = check_conversion(FnModule(fn), [r(8, 6)], ops=[INDEX, aten.sum.dim_IntList])
    assert result.report.engines == 1 and not result.report.fallbacks
    assert result.outputs[1].shape[0] == int((r(8, 6)[:, 0] > 0).sum())


# -- dynamic shapes ------------------------------------------------------------------------------
def ranged(lo: Sequence[int], opt: Sequence[int], hi: Sequence[int], **kw: Any) -> Input:
    """A ranged input."""
    return Input(min_shape=lo, opt_shape=opt, max_shape=hi, **kw)


POINTS = {"min": 0, "opt": 1, "max": 2}
FILL = {"min": False, "opt": None, "max": True}  # no, some, every element selected


def _masks(*shapes: tuple[int, ...]) -> Callable[[str], list[torch.Tensor]]:
    """Inputs (x, mask) at each point: the mask selects nothing at min, everything at max."""

    def make(point: str) -> list[torch.Tensor]:
        xs, ks = shapes[POINTS[point]]
        return [r(*xs), m(*ks, fill=FILL[point])]

    return make


# (id, function, ranged inputs, ops, point -> inputs)
DYNAMIC: list[tuple[str, Callable[..., Any], list[Input], Sequence[Any], Any]] = [
    (
        "nonzero_dynamic",
        torch.nonzero,
        [ranged((1, 3), (4, 3), (9, 3))],
        [NONZERO],
        lambda p: [[torch.zeros(1, 3), r(4, 3), torch.ones(9, 3)][POINTS[p]]],
    ),
    (
        "mask_rows_dynamic",
        lambda x, k: x[k] + 1,
        [
            ranged((2, 5), (4, 5), (8, 5), dim_names=("n", None)),
            ranged((2,), (4,), (8,), dtype=torch.bool, dim_names=("n",)),
        ],
        [INDEX],
        _masks(((2, 5), (2,)), ((4, 5), (4,)), ((8, 5), (8,))),
    ),
    (
        "mask_rows_dynamic_large",
        lambda x, k: x[k] + 1,
        [
            ranged((2, 5), (100, 5), (600, 5), dim_names=("n", None)),
            ranged((2,), (100,), (600,), dtype=torch.bool, dim_names=("n",)),
        ],
        [INDEX],
        _masks(((2, 5), (2,)), ((100, 5), (100,)), ((600, 5), (600,))),
    ),
    (
        "masked_select_dynamic",
        torch.masked_select,
        [
            ranged((2, 3), (5, 3), (7, 3), dim_names=("n", None)),
            ranged((2, 3), (5, 3), (7, 3), dtype=torch.bool, dim_names=("n", None)),
        ],
        [SELECT],
        _masks(((2, 3), (2, 3)), ((5, 3), (5, 3)), ((7, 3), (7, 3))),
    ),
    (
        "put_dynamic",
        lambda x, k: torch.index_put(x, (k,), torch.tensor(-1.0)),
        [
            ranged((2, 5), (4, 5), (8, 5), dim_names=("n", None)),
            ranged((2,), (4,), (8,), dtype=torch.bool, dim_names=("n",)),
        ],
        [PUT],
        _masks(((2, 5), (2,)), ((4, 5), (4,)), ((8, 5), (8,))),
    ),
]


@pytest.mark.parametrize("fn,specs,ops,make", [c[1:] for c in DYNAMIC], ids=[c[0] for c in DYNAMIC])
def test_data_dependent_op_converts_dynamic(
    fn: Callable[..., Any], specs: list[Input], ops: Sequence[Any], make: Any
) -> None:
    """One engine serves every input size, selecting none, some or all elements."""
    check_dynamic_conversion(FnModule(fn), specs, ops=ops, make_inputs=make)


# -- refusals ------------------------------------------------------------------------------------
# (id, function, inputs, the op that stays in PyTorch, words in the reason)
FALLBACKS: list[tuple[str, Callable[..., Any], list[torch.Tensor], Any, str]] = [
    ("nonzero_0d", lambda x: torch.nonzero(x), [torch.tensor(2.0)], NONZERO, "0-D tensor"),
    (
        "masked_select_int8",
        torch.masked_select,
        [r(6, dtype=torch.int8), m(6)],
        SELECT,
        "int8 result of data-dependent size",
    ),
    ("mask_int8", lambda x, k: x[k], [r(6, dtype=torch.int8), m(6)], INDEX, "int8 result"),
    (
        "put_values_per_element",
        lambda x, k, v: torch.index_put(x, (k,), v),
        [r(4, 5), torch.tensor([True, False, True, False]), r(2, 5)],
        PUT,
        "one entry per True element",
    ),
    (
        "put_bool_accumulate",
        lambda x, k: torch.index_put(x, (k,), torch.tensor(True), accumulate=True),
        [m(4), m(4, fill=True)],
        PUT,
        "accumulate=True) on torch.bool",
    ),
]


@pytest.mark.parametrize(
    "fn,inputs,op,words", [c[1:] for c in FALLBACKS], ids=[c[0] for c in FALLBACKS]
)
def test_data_dependent_op_falls_back(
    fn: Callable[..., Any], inputs: list[torch.Tensor], op: Any, words: str
) -> None:
    """Arguments the converters cannot honour keep the node in PyTorch with the reason."""
    check_fallback(FnModule(fn), inputs, op=op, detail=words)
