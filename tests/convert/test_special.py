"""Composed math converters: log1p, expm1, exp2, log2, log10, atan2."""

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
f16, bf16, i32, i64 = torch.float16, torch.bfloat16, torch.int32, torch.int64


def r(*shape: int, dtype: torch.dtype = torch.float32, scale: float = 1.0) -> torch.Tensor:
    """A small deterministic tensor (floats ~N(0, scale²), ints in [-5, 5))."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape))
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=g) * scale).to(dtype)
    return torch.randint(-5, 5, shape, generator=g).to(dtype)


def tiny(*shape: int) -> torch.Tensor:
    """Magnitudes in [1e-7, 1e-5], both signs: where ``log(1 + x)`` and ``exp(x) - 1`` computed
    naively in fp32 are off by about 1e-2 relative (the accurate forms by about 1e-7)."""
    g = torch.Generator().manual_seed(7)
    mag = 10 ** (torch.rand(shape, generator=g) * 2 - 7)
    sign = torch.where(torch.rand(shape, generator=g) > 0.5, 1.0, -1.0)
    return mag * sign


# Around the switch between the corrected and plain forms (|x| = 0.5), and far out.
EDGES = torch.tensor([-0.9999, -0.5001, -0.5, -0.4999, 0.0, 0.4999, 0.5, 0.5001, 3.0, 40.0])
SPECIAL = torch.tensor([-1.0, -2.0, float("inf"), float("nan"), 1e30])
# atan2 in every quadrant, on the axes and at the origin.
ATAN2_Y = torch.tensor([1.0, 1.0, -1.0, -1.0, 0.0, 0.0, 2.0, -2.0, 0.0, 3.0])
ATAN2_X = torch.tensor([1.0, -1.0, -1.0, 1.0, 1.0, -1.0, 0.0, 0.0, 0.0, -1e-8])

Case = tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]
CASES: list[Case] = [
    ("log1p", torch.log1p, [r(2, 3).abs()], [aten.log1p.default]),
    ("log1p_tiny", torch.log1p, [tiny(4, 8)], [aten.log1p.default]),
    ("log1p_edges", torch.log1p, [EDGES], [aten.log1p.default]),
    ("log1p_special", torch.log1p, [SPECIAL], [aten.log1p.default]),
    ("log1p_fp16", torch.log1p, [r(2, 3, dtype=f16).abs()], [aten.log1p.default]),
    ("log1p_int", torch.log1p, [r(6, dtype=i64).abs()], [aten.log1p.default]),
    ("log1p_softplus", torch.nn.functional.softplus, [r(3, 4, scale=10)], [aten.log1p.default]),
    ("expm1", torch.expm1, [r(2, 3, scale=2)], [aten.expm1.default]),
    ("expm1_tiny", torch.expm1, [tiny(4, 8)], [aten.expm1.default]),
    ("expm1_edges", torch.expm1, [EDGES], [aten.expm1.default]),
    ("expm1_special", torch.expm1, [torch.tensor([-100.0, -float("inf"), float("nan"), 0.0])], []),
    ("expm1_bf16", torch.expm1, [r(2, 3, dtype=bf16)], [aten.expm1.default]),
    ("exp2", torch.exp2, [r(2, 3, scale=4)], [aten.exp2.default]),
    ("exp2_int", torch.exp2, [r(6, dtype=i32)], [aten.exp2.default]),
    ("log2", torch.log2, [r(2, 3).abs() + 0.01], [aten.log2.default]),
    ("log2_powers", torch.log2, [torch.tensor([1.0, 2.0, 8.0, 1024.0, 0.25])], []),
    ("log2_fp16", torch.log2, [r(2, 3, dtype=f16).abs() + 0.01], [aten.log2.default]),
    ("log10", torch.log10, [r(2, 3).abs() * 100 + 0.01], [aten.log10.default]),
    ("log10_int", torch.log10, [torch.tensor([1, 10, 1000, 7])], [aten.log10.default]),
    ("atan2", torch.atan2, [r(3, 4), r(4, 3).t()], [aten.atan2.default]),
    ("atan2_quadrants", torch.atan2, [ATAN2_Y, ATAN2_X], [aten.atan2.default]),
    ("atan2_broadcast", torch.atan2, [r(3, 1), r(4)], [aten.atan2.default]),
    ("atan2_fp16", torch.atan2, [r(3, 4, dtype=f16), r(4, dtype=f16)], [aten.atan2.default]),
    ("atan2_int", torch.atan2, [r(6, dtype=i32), r(6, dtype=i32).flip(0)], [aten.atan2.default]),
]


@pytest.mark.parametrize(("fn", "inputs", "ops"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]) -> None:
    """The op lands in one engine, the engine builds, and the reference run matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


@pytest.mark.parametrize("fn", [torch.log1p, torch.expm1], ids=["log1p", "expm1"])
def test_accurate_near_zero(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Near 0 every element is within 1e-5 relative of eager (the naive forms are ~1e-2 off)."""
    x = tiny(64)
    got = check_conversion(FnModule(fn), [x]).outputs[0]
    want = fn(x.double())
    assert float(((got.double() - want) / want).abs().max()) < 1e-5


def test_float64_falls_back() -> None:
    """A float64 log1p stays in PyTorch with a reason naming TensorRT's missing float64."""
    check_fallback(
        FnModule(torch.log1p),
        [torch.rand(3, dtype=torch.float64)],
        op=aten.log1p.default,
        detail="TensorRT has no float64",
    )


# --- dynamic shapes ---------------------------------------------------------------------------


BATCH, SEQ = (1, 3, 6), (2, 5, 9)

DYNAMIC_CASES: list[tuple[str, Callable[..., Any], list[Input], Sequence[Any]]] = [
    ("log1p_dyn", lambda x: torch.log1p(x.abs()), [ranged(BATCH, SEQ)], [aten.log1p.default]),
    ("expm1_dyn", torch.expm1, [ranged(BATCH, SEQ)], [aten.expm1.default]),
    ("exp2_dyn_fp16", torch.exp2, [ranged(BATCH, 4, dtype=f16)], [aten.exp2.default]),
    ("log2_dyn", lambda x: torch.log2(x.abs() + 0.1), [ranged(BATCH, 4)], [aten.log2.default]),
    ("log10_dyn", lambda x: torch.log10(x.abs() + 0.1), [ranged(BATCH, 4)], []),
    ("atan2_dyn", torch.atan2, [ranged(BATCH, 4), ranged(BATCH, 4)], [aten.atan2.default]),
]


@pytest.mark.parametrize(
    ("fn", "specs", "ops"), [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_dynamic(fn: Callable[..., Any], specs: list[Input], ops: Sequence[Any]) -> None:
    """With dynamic batch/sequence dims the op lands in one engine and matches eager at the
    min, opt and max shapes."""
    check_dynamic_conversion(FnModule(fn), specs, ops=ops)
