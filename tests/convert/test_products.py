"""addmv and addbmm (no core-ATen decomposition): one matrix multiply plus the scaled bias."""

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
ADDMV, ADDBMM = aten.addmv.default, aten.addbmm.default


def r(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A small deterministic tensor."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape) + seed)
    return torch.randn(shape, generator=g).to(dtype)


CASES: list[tuple[str, Callable[..., Any], list[torch.Tensor], Any]] = [
    ("addmv", torch.addmv, [r(3), r(3, 4), r(4)], ADDMV),
    (
        "addmv_scaled",
        lambda s, m, v: torch.addmv(s, m, v, beta=0.5, alpha=-2),
        [r(3), r(3, 4), r(4)],
        ADDMV,
    ),
    ("addmv_bias_broadcast", torch.addmv, [r(1), r(5, 2), r(2)], ADDMV),
    (
        "addmv_beta0_ignores_nan",
        lambda s, m, v: torch.addmv(s, m, v, beta=0),
        [torch.full((3,), float("nan")), r(3, 4), r(4)],
        ADDMV,
    ),
    (
        "addmv_fp16",
        torch.addmv,
        [r(3, dtype=torch.float16), r(3, 8, dtype=torch.float16), r(8, dtype=torch.float16)],
        ADDMV,
    ),
    ("addbmm", torch.addbmm, [r(3, 5), r(2, 3, 4), r(2, 4, 5)], ADDBMM),
    (
        "addbmm_scaled_bcast",
        lambda s, a, b: torch.addbmm(s, a, b, beta=2.0, alpha=0.25),
        [r(5), r(4, 3, 2), r(4, 2, 5)],
        ADDBMM,
    ),
    (
        "addbmm_beta0",
        lambda s, a, b: torch.addbmm(s, a, b, beta=0),
        [torch.full((3, 5), float("inf")), r(2, 3, 4), r(2, 4, 5)],
        ADDBMM,
    ),
]


@pytest.mark.parametrize(("fn", "inputs", "op"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], op: Any) -> None:
    """The op lands in one engine, the engine builds, and the reference run matches eager."""
    check_conversion(FnModule(fn), inputs, ops=[op])


def test_integer_product_falls_back() -> None:
    """Integer products stay in PyTorch: TensorRT multiplies floats only."""
    ints = [torch.arange(3), torch.arange(12).reshape(3, 4), torch.arange(4)]
    check_fallback(FnModule(torch.addmv), ints, op=ADDMV, detail="float32/float16/bfloat16 only")


BATCH = (1, 3, 6)

DYNAMIC_CASES: list[tuple[str, Callable[..., Any], list[Input], Any]] = [
    ("addmv_dyn_rows", torch.addmv, [ranged(1), ranged(BATCH, 4), ranged(4)], ADDMV),
    (
        "addbmm_dyn_batch",
        torch.addbmm,
        [ranged(3, 5), ranged(BATCH, 3, 4), ranged(BATCH, 4, 5)],
        ADDBMM,
    ),
]


@pytest.mark.parametrize(
    ("fn", "specs", "op"), [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_dynamic(fn: Callable[..., Any], specs: list[Input], op: Any) -> None:
    """With dynamic rows / batch the op lands in one engine and matches eager at min/opt/max."""
    check_dynamic_conversion(FnModule(fn), specs, ops=[op])
