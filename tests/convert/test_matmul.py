"""Matrix-product converters (mm, bmm, addmm, linear) checked against eager."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
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


def _linear(n_in: int, n_out: int, bias: bool = True) -> nn.Module:
    g = torch.Generator().manual_seed(1)
    m = nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return m


@dataclasses.dataclass
class Case:
    id: str
    module: nn.Module
    shapes: list[tuple[int, ...]]
    ops: list[Any]
    dtype: torch.dtype = torch.float32


def _inputs(shapes: list[tuple[int, ...]], dtype: torch.dtype) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(s, generator=g).to(dtype) for s in shapes]


MM, BMM, ADDMM, LINEAR = aten.mm.default, aten.bmm.default, aten.addmm.default, aten.linear.default

CASES = [
    Case("mm_2x3_3x4", FnModule(torch.mm), [(2, 3), (3, 4)], [MM]),
    Case("mm_1x7_7x1", FnModule(torch.mm), [(1, 7), (7, 1)], [MM]),
    Case("mm_fp16", FnModule(torch.mm), [(4, 8), (8, 5)], [MM], torch.float16),
    Case("mm_bf16", FnModule(torch.mm), [(4, 8), (8, 5)], [MM], torch.bfloat16),
    Case("bmm_basic", FnModule(torch.bmm), [(3, 2, 4), (3, 4, 5)], [BMM]),
    Case("bmm_fp16", FnModule(torch.bmm), [(2, 3, 8), (2, 8, 4)], [BMM], torch.float16),
    Case("addmm_default", FnModule(torch.addmm), [(4,), (2, 3), (3, 4)], [ADDMM]),
    Case(
        "addmm_beta_alpha",
        FnModule(lambda b, x, y: torch.addmm(b, x, y, beta=0.5, alpha=-2.0)),
        [(2, 4), (2, 3), (3, 4)],
        [ADDMM],
    ),
    Case(
        "addmm_beta0_ignores_nan",
        FnModule(lambda b, x, y: torch.addmm(b * float("nan"), x, y, beta=0)),
        [(1, 4), (2, 3), (3, 4)],
        [ADDMM],
    ),
    Case(
        "addmm_fp16",
        FnModule(lambda b, x, y: torch.addmm(b, x, y, alpha=3)),
        [(4,), (2, 8), (8, 4)],
        [ADDMM],
        torch.float16,
    ),
    Case("linear_1d", _linear(3, 4), [(3,)], [LINEAR]),
    Case("linear_2d", _linear(3, 4), [(2, 3)], [LINEAR]),
    Case("linear_2d_no_bias", _linear(3, 4, bias=False), [(2, 3)], [LINEAR]),
    Case("linear_3d", _linear(6, 5), [(2, 3, 6)], [LINEAR]),
    Case("linear_3d_no_bias", _linear(6, 5, bias=False), [(2, 3, 6)], [LINEAR]),
    Case("linear_4d", _linear(3, 2), [(2, 2, 4, 3)], [LINEAR]),
    Case("linear_1d_no_bias", _linear(5, 2, bias=False), [(5,)], [LINEAR]),
    Case("linear_fp16", _linear(8, 4), [(2, 3, 8)], [LINEAR], torch.float16),
    Case("linear_bf16", _linear(8, 4), [(3, 8)], [LINEAR], torch.bfloat16),
    Case(
        "linear_weight_input",
        FnModule(lambda x, w, b: nn.functional.linear(x, w, b)),
        [(2, 3, 4), (5, 4), (5,)],
        [LINEAR],
    ),
    # torch.matmul lowers to view/expand + mm/bmm; these cases check the mm/bmm inside.
    Case("matmul_3d_2d_as_mm", FnModule(torch.matmul), [(5, 2, 3), (3, 4)], [MM]),
    Case("matmul_1d_2d_as_mm", FnModule(torch.matmul), [(3,), (3, 4)], [MM]),
    Case("matmul_broadcast_as_bmm", FnModule(torch.matmul), [(2, 1, 2, 3), (5, 3, 4)], [BMM]),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matmul_matches_eager(case: Case) -> None:
    """The product lands in one engine and the reference runtime matches eager."""
    module = case.module.to(case.dtype)
    check_conversion(module, _inputs(case.shapes, case.dtype), ops=case.ops)


def _ints(*shapes: tuple[int, ...]) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randint(-4, 4, s, generator=g) for s in shapes]


FALLBACKS = [
    ("mm_int64", FnModule(torch.mm), _ints((2, 3), (3, 4)), MM, "float32/float16/bfloat16 only"),
    ("bmm_int64", FnModule(torch.bmm), _ints((2, 2, 3), (2, 3, 4)), BMM, "got torch.int64"),
    (
        "addmm_int64",
        FnModule(torch.addmm),
        _ints((4,), (2, 3), (3, 4)),
        ADDMM,
        "only, got torch.int64",
    ),
]


def _id(v: Any) -> Any:
    """The value itself as the id, an op by its short name (``mm``)."""
    return v._opname if isinstance(v, torch._ops.OpOverload) else v


@pytest.mark.parametrize(("name", "module", "inputs", "op", "reason"), FALLBACKS, ids=_id)
def test_matmul_refusal_has_reason(
    name: str, module: nn.Module, inputs: list[torch.Tensor], op: Any, reason: str
) -> None:
    """Integer products run in PyTorch, with a report that says TensorRT multiplies floats only."""
    check_fallback(module, inputs, op=op, detail=reason)


# --- dynamic shapes ---------------------------------------------------------------------------


BATCH, SEQ = (1, 3, 6), (2, 5, 9)
DYNAMIC_CASES = [
    ("linear_dyn_batch_seq", _linear(8, 4), [ranged(BATCH, SEQ, 8)], [LINEAR]),
    ("linear_dyn_batch_2d", _linear(8, 4, bias=False), [ranged(BATCH, 8)], [LINEAR]),
    ("linear_dyn_rank4", _linear(8, 4), [ranged(BATCH, 2, SEQ, 8)], [LINEAR]),
    ("mm_dyn_rows", FnModule(torch.mm), [ranged(BATCH, 3), ranged(3, 4)], [MM]),
    ("mm_dyn_inner", FnModule(torch.mm), [ranged(2, SEQ), ranged(SEQ, 4)], [MM]),
    ("bmm_dyn_batch_seq", FnModule(torch.bmm), [ranged(BATCH, SEQ, 4), ranged(BATCH, 4, 3)], [BMM]),
    (
        "addmm_dyn_rows",
        FnModule(lambda b, x, w: torch.addmm(b, x, w, beta=0.5, alpha=2.0)),
        [ranged(4), ranged(BATCH, 3), ranged(3, 4)],
        [ADDMM],
    ),
]


@pytest.mark.parametrize(
    ("module", "specs", "ops"), [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_matmul_dynamic(module: nn.Module, specs: list[Input], ops: list[Any]) -> None:
    """With dynamic batch/sequence (or inner) dims the product lands in one engine and matches
    eager at the min, opt and max shapes."""
    check_dynamic_conversion(module, specs, ops=ops)
