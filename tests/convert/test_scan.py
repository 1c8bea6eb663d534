"""Scan converters: cumsum (ICumulativeLayer) and cumprod (a log-depth product scan)."""

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
f16, bf16, i8, i32, i64 = torch.float16, torch.bfloat16, torch.int8, torch.int32, torch.int64
CUMSUM, CUMPROD = aten.cumsum.default, aten.cumprod.default


def r(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A small deterministic tensor (floats ~N(0, 1), ints in [-3, 4), bools at random)."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape))
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-3, 4, shape, generator=g).to(dtype)


def near_one(*shape: int) -> torch.Tensor:
    """Factors in [0.5, 1.5) with random signs, so long products neither vanish nor explode."""
    g = torch.Generator().manual_seed(3)
    sign = torch.where(torch.rand(shape, generator=g) > 0.3, 1.0, -1.0)
    return (torch.rand(shape, generator=g) + 0.5) * sign


Case = tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]
CASES: list[Case] = [
    ("cumsum", lambda x: x.cumsum(1), [r(2, 5, 3)], [CUMSUM]),
    ("cumsum_first", lambda x: x.cumsum(0), [r(4, 3)], [CUMSUM]),
    ("cumsum_last_neg", lambda x: x.cumsum(-1), [r(2, 3, 7)], [CUMSUM]),
    ("cumsum_rank1", lambda x: x.cumsum(0), [r(9)], [CUMSUM]),
    ("cumsum_rank0", lambda x: x.cumsum(0) + 1, [torch.tensor(2.5)], [CUMSUM]),
    ("cumsum_fp16", lambda x: x.cumsum(1), [r(2, 6, dtype=f16)], [CUMSUM]),
    ("cumsum_bf16", lambda x: x.cumsum(0), [r(6, 2, dtype=bf16)], [CUMSUM]),
    ("cumsum_int32_to_int64", lambda x: x.cumsum(1), [r(2, 6, dtype=i32)], [CUMSUM]),
    ("cumsum_int64", lambda x: x.cumsum(0), [r(5, 2, dtype=i64)], [CUMSUM]),
    ("cumsum_bool", lambda x: x.cumsum(1), [r(3, 8, dtype=torch.bool)], [CUMSUM]),
    ("cumsum_int8", lambda x: x.cumsum(0), [r(6, dtype=i8)], [CUMSUM]),
    ("cumsum_dtype_arg", lambda x: x.cumsum(1, dtype=torch.float32), [r(2, 5, dtype=i32)], []),
    ("cumsum_long", lambda x: x.cumsum(1), [r(2, 1000)], [CUMSUM]),
    ("cumprod", lambda x: x.cumprod(1), [near_one(2, 5, 3)], [CUMPROD]),
    ("cumprod_first", lambda x: x.cumprod(0), [near_one(7, 3)], [CUMPROD]),
    ("cumprod_pow2_length", lambda x: x.cumprod(-1), [near_one(2, 8)], [CUMPROD]),
    ("cumprod_length1", lambda x: x.cumprod(1) * 2, [r(3, 1)], [CUMPROD]),
    ("cumprod_rank0", lambda x: x.cumprod(0) * 2, [torch.tensor(-1.5)], [CUMPROD]),
    ("cumprod_zeros", lambda x: x.cumprod(0), [torch.tensor([2.0, 3.0, 0.0, 5.0, -1.0])], []),
    ("cumprod_long", lambda x: x.cumprod(1), [near_one(3, 300)], [CUMPROD]),
    ("cumprod_fp16", lambda x: x.cumprod(1), [near_one(2, 6).half()], [CUMPROD]),
    ("cumprod_int64", lambda x: x.cumprod(1), [r(3, 9, dtype=i64)], [CUMPROD]),
    ("cumprod_int32_to_int64", lambda x: x.cumprod(0), [r(11, dtype=i32)], [CUMPROD]),
    ("cumprod_int64_wraps", lambda x: x.cumprod(0), [torch.full((70,), 3, dtype=i64)], []),
    ("cumprod_bool", lambda x: x.cumprod(1), [r(2, 7, dtype=torch.bool)], [CUMPROD]),
]


@pytest.mark.parametrize(("fn", "inputs", "ops"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]) -> None:
    """The op lands in one engine, the engine builds, and the reference run matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


def test_cumprod_layer_count_is_logarithmic() -> None:
    """A cumprod over 300 elements takes ceil(log2 300) = 9 rounds (slice + product each)."""
    rep = check_conversion(FnModule(lambda x: x.cumprod(1)), [near_one(2, 300)]).report
    # 9 rounds of (slice, product), plus the slices' shared fill constant.
    assert [e.layers for e in rep.engine_info] == [9 * 2 + 1]


FALLBACKS: list[tuple[str, Callable[..., Any], list[Any], Any, str]] = [
    (
        "cumsum_to_int8",
        lambda x: x.cumsum(0, dtype=i8),
        [r(5, dtype=i32)],
        CUMSUM,
        "TensorRT scans take float32/float16/bfloat16/int32/int64",
    ),
]


@pytest.mark.parametrize(
    ("fn", "inputs", "op", "detail"), [c[1:] for c in FALLBACKS], ids=[c[0] for c in FALLBACKS]
)
def test_falls_back(fn: Callable[..., Any], inputs: list[Any], op: Any, detail: str) -> None:
    """Unsupported dtypes stay in PyTorch with a reason."""
    check_fallback(FnModule(fn), inputs, op=op, detail=detail)


# --- dynamic shapes ---------------------------------------------------------------------------


BATCH, SEQ = (1, 3, 6), (2, 5, 17)

DYNAMIC_CASES: list[tuple[str, Callable[..., Any], Input, Sequence[Any]]] = [
    ("cumsum_dyn_along_dynamic", lambda x: x.cumsum(1), ranged(BATCH, SEQ), [CUMSUM]),
    ("cumsum_dyn_other", lambda x: x.cumsum(-1), ranged(BATCH, SEQ, 4), [CUMSUM]),
    ("cumsum_dyn_int", lambda x: x.cumsum(0), ranged(SEQ, 3, dtype=i32), [CUMSUM]),
    ("cumprod_dyn_other", lambda x: x.cumprod(1), ranged(BATCH, 6), [CUMPROD]),
    ("cumprod_dyn_int64", lambda x: x.cumprod(-1), ranged(SEQ, 5, dtype=i64), [CUMPROD]),
    ("cumprod_dyn_along_dynamic", lambda x: x.cumprod(1), ranged(BATCH, SEQ), [CUMPROD]),
    ("cumprod_dyn_along_int", lambda x: x.cumprod(0), ranged(SEQ, 2, dtype=i64), [CUMPROD]),
]


@pytest.mark.parametrize(
    ("fn", "spec", "ops"), [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_dynamic(fn: Callable[..., Any], spec: Input, ops: Sequence[Any]) -> None:
    """With dynamic dims the op lands in one engine and matches eager at the min, opt and max
    shapes."""
    check_dynamic_conversion(FnModule(fn), [spec], ops=ops)
