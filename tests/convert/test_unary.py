"""Unary converters: neg, abs, sign, exp, log, sqrt, rsqrt, reciprocal, trigonometric and
hyperbolic functions and their inverses, erf, rounding, isinf / isnan."""

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
    """A small deterministic tensor (floats ~N(0, scale²), ints in [-20, 20))."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape))
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=g) * scale).to(dtype)
    return torch.randint(-20, 20, shape, generator=g).to(dtype)


def pos(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A positive tensor in [0.1, 4.1) for log, sqrt and rsqrt."""
    g = torch.Generator().manual_seed(sum(shape))
    return (torch.rand(shape, generator=g) * 4 + 0.1).to(dtype)


# Inside (-1, 1), the domain of asin, acos and atanh, including both ends.
UNIT = torch.tensor([-1.0, -0.99, -0.5, -0.1, 0.0, 0.2, 0.7, 0.999, 1.0])
# Halves and their neighbours, where rounding modes differ.
HALVES = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -0.49, 0.51, 3.7, -3.7, 0.0])

# Infinities, NaN, huge and tiny finite values.
SPECIAL = torch.tensor([float("inf"), -float("inf"), float("nan"), 3e38, -1e-30, 0.0, 2.5])
ISINF, ISNAN = aten.isinf.default, aten.isnan.default

Case = tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]
CASES: list[Case] = [
    ("neg", torch.neg, [r(2, 3)], [aten.neg.default]),
    ("neg_int64", torch.neg, [r(2, 3, dtype=i64)], [aten.neg.default]),
    ("neg_fp16", torch.neg, [r(2, 3, dtype=f16)], [aten.neg.default]),
    ("abs", torch.abs, [r(2, 3, 4)], [aten.abs.default]),
    ("abs_int8", torch.abs, [r(8, dtype=torch.int8)], [aten.abs.default]),
    ("abs_int32", torch.abs, [r(8, dtype=i32)], [aten.abs.default]),
    ("sign", torch.sign, [torch.tensor([-2.0, 0.0, 3.0, -0.1])], [aten.sign.default]),
    ("sign_int64", torch.sign, [r(8, dtype=i64)], [aten.sign.default]),
    ("exp", torch.exp, [r(2, 3)], [aten.exp.default]),
    ("exp_fp16", torch.exp, [r(2, 3, dtype=f16)], [aten.exp.default]),
    ("exp_int", torch.exp, [r(6, dtype=i32).clamp(-5, 5)], [aten.exp.default]),
    ("log", torch.log, [pos(2, 3)], [aten.log.default]),
    ("log_bf16", torch.log, [pos(2, 3, dtype=bf16)], [aten.log.default]),
    ("sqrt", torch.sqrt, [pos(2, 3)], [aten.sqrt.default]),
    ("sqrt_int64", torch.sqrt, [r(6, dtype=i64).abs()], [aten.sqrt.default]),
    ("rsqrt", torch.rsqrt, [pos(2, 3)], [aten.rsqrt.default]),
    ("rsqrt_fp16", torch.rsqrt, [pos(2, 3, dtype=f16)], [aten.rsqrt.default]),
    ("reciprocal", torch.reciprocal, [pos(2, 3) - 2.05], [aten.reciprocal.default]),
    ("reciprocal_int", torch.reciprocal, [torch.tensor([1, -2, 4, 5])], []),
    ("sin", torch.sin, [r(2, 3, scale=3)], [aten.sin.default]),
    ("cos", torch.cos, [r(2, 3, scale=3)], [aten.cos.default]),
    ("cos_fp16", torch.cos, [r(2, 3, dtype=f16)], [aten.cos.default]),
    ("tan", torch.tan, [r(2, 3)], [aten.tan.default]),
    ("tan_fp16", torch.tan, [r(2, 3, dtype=f16)], [aten.tan.default]),
    ("asin", torch.asin, [UNIT], [aten.asin.default]),
    ("acos", torch.acos, [UNIT], [aten.acos.default]),
    ("acos_bf16", torch.acos, [UNIT.bfloat16()], [aten.acos.default]),
    ("atan", torch.atan, [r(2, 3, scale=5)], [aten.atan.default]),
    ("atan_int", torch.atan, [r(6, dtype=i64)], [aten.atan.default]),
    ("sinh", torch.sinh, [r(2, 3, scale=2)], [aten.sinh.default]),
    ("cosh", torch.cosh, [r(2, 3, scale=2)], [aten.cosh.default]),
    ("asinh", torch.asinh, [r(2, 3, scale=5)], [aten.asinh.default]),
    ("acosh", torch.acosh, [pos(2, 3) + 1], [aten.acosh.default]),
    ("acosh_int", torch.acosh, [torch.tensor([1, 2, 5, 30])], [aten.acosh.default]),
    ("atanh", torch.atanh, [UNIT * 0.9], [aten.atanh.default]),
    ("atanh_fp16", torch.atanh, [(UNIT * 0.9).half()], [aten.atanh.default]),
    ("asin_out_of_domain", torch.asin, [torch.tensor([-2.0, 0.5, 1.5])], [aten.asin.default]),
    ("erf", torch.erf, [r(2, 3)], [aten.erf.default]),
    ("floor", torch.floor, [HALVES], [aten.floor.default]),
    ("floor_int", lambda x: torch.floor(x) + 1, [r(6, dtype=i64)], [aten.floor.default]),
    ("ceil", torch.ceil, [HALVES], [aten.ceil.default]),
    ("ceil_fp16", torch.ceil, [HALVES.half()], [aten.ceil.default]),
    ("round", torch.round, [HALVES], [aten.round.default]),
    ("round_int", lambda x: torch.round(x) * 2, [r(6, dtype=i32)], [aten.round.default]),
    ("round_decimals", lambda x: torch.round(x, decimals=1), [r(8, scale=5)], []),
    ("round_decimals_neg", lambda x: torch.round(x, decimals=-1), [r(8, scale=50)], []),
    ("trunc", torch.trunc, [HALVES], [aten.trunc.default]),
    ("trunc_fp16", torch.trunc, [HALVES.half()], [aten.trunc.default]),
    ("isinf", torch.isinf, [SPECIAL], [ISINF]),
    ("isnan", torch.isnan, [SPECIAL], [ISNAN]),
    ("isinf_fp16", torch.isinf, [SPECIAL.half()], [ISINF]),
    ("isnan_bf16", torch.isnan, [SPECIAL.bfloat16()], [ISNAN]),
    ("isinf_int", torch.isinf, [r(6, dtype=i64)], [ISINF]),
    ("isnan_int8", torch.isnan, [r(6, dtype=torch.int8)], [ISNAN]),
    ("isnan_bool", torch.isnan, [r(2, 3) > 0], [ISNAN]),
    ("nan_to_num", lambda x: torch.nan_to_num(x, 0.0, 9.0, -9.0), [SPECIAL], [ISNAN]),
]


@pytest.mark.parametrize(("fn", "inputs", "ops"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]) -> None:
    """The op lands in one engine, the engine builds, and the reference run matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


FALLBACKS: list[tuple[str, Callable[..., Any], list[torch.Tensor], Any, str]] = [
    (
        "sign_bool",
        lambda x: torch.ops.aten.sign.default(x),
        [torch.tensor([True, False])],
        aten.sign.default,
        "TensorRT ABS/NEG/SIGN take floats and int8/32/64",
    ),
]


@pytest.mark.parametrize(
    ("fn", "inputs", "op", "detail"), [c[1:] for c in FALLBACKS], ids=[c[0] for c in FALLBACKS]
)
def test_falls_back(
    fn: Callable[..., Any], inputs: list[torch.Tensor], op: Any, detail: str
) -> None:
    """Unsupported dtypes stay in PyTorch with a reason naming the TensorRT limit."""
    check_fallback(FnModule(fn), inputs, op=op, detail=detail)


# --- dynamic shapes ---------------------------------------------------------------------------


BATCH, SEQ = (1, 3, 6), (2, 5, 9)

DYNAMIC_CASES: list[tuple[str, Callable[..., Any], Input, Sequence[Any]]] = [
    ("neg_dyn", torch.neg, ranged(BATCH, SEQ), [aten.neg.default]),
    ("abs_dyn_int", torch.abs, ranged(BATCH, 4, dtype=i64), [aten.abs.default]),
    ("exp_dyn", torch.exp, ranged(BATCH, SEQ), [aten.exp.default]),
    ("log_dyn", lambda x: x.abs().add(0.5).log(), ranged(BATCH, SEQ), [aten.log.default]),
    ("rsqrt_dyn", lambda x: x.abs().add(0.5).rsqrt(), ranged(BATCH, 4), [aten.rsqrt.default]),
    ("erf_dyn_fp16", torch.erf, ranged(BATCH, SEQ, dtype=f16), [aten.erf.default]),
    ("floor_dyn", torch.floor, ranged(BATCH, 2, SEQ), [aten.floor.default]),
    ("trunc_dyn", lambda x: (x * 3).trunc(), ranged(BATCH, 4), [aten.trunc.default]),
    ("round_dyn_decimals", lambda x: x.round(decimals=2), ranged(BATCH, 4), []),
    ("sin_dyn_int", torch.sin, ranged(BATCH, 4, dtype=i32), [aten.sin.default]),
    ("tan_dyn", torch.tan, ranged(BATCH, SEQ), [aten.tan.default]),
    ("asin_dyn", lambda x: torch.asin(x.tanh()), ranged(BATCH, 4), [aten.asin.default]),
    ("acos_dyn", lambda x: torch.acos(x.tanh()), ranged(BATCH, SEQ), [aten.acos.default]),
    ("atan_dyn", torch.atan, ranged(BATCH, SEQ), [aten.atan.default]),
    ("sinh_dyn", torch.sinh, ranged(BATCH, 4), [aten.sinh.default]),
    ("cosh_dyn_fp16", torch.cosh, ranged(BATCH, 4, dtype=f16), [aten.cosh.default]),
    ("asinh_dyn", torch.asinh, ranged(BATCH, SEQ), [aten.asinh.default]),
    ("acosh_dyn", lambda x: torch.acosh(x.abs() + 1), ranged(BATCH, 4), [aten.acosh.default]),
    ("atanh_dyn", lambda x: torch.atanh(x.tanh() * 0.9), ranged(BATCH, 4), [aten.atanh.default]),
    ("isinf_dyn", lambda x: torch.isinf(1 / x.round()), ranged(BATCH, SEQ), [ISINF]),
    ("isnan_dyn", lambda x: torch.isnan(x.log()), ranged(BATCH, SEQ), [ISNAN]),
    ("isnan_dyn_int", torch.isnan, ranged(BATCH, 4, dtype=i32), [ISNAN]),
]


@pytest.mark.parametrize(
    ("fn", "spec", "ops"), [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_dynamic(fn: Callable[..., Any], spec: Input, ops: Sequence[Any]) -> None:
    """With dynamic batch/sequence dims the op lands in one engine and matches eager at the
    min, opt and max shapes."""
    check_dynamic_conversion(FnModule(fn), [spec], ops=ops)
