"""Binary elementwise converters: arithmetic, division modes, comparisons, logic, where, clamp."""

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


def r(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    """A small deterministic tensor (floats ~N(0,1), ints in [-20, 20), bools half true)."""
    g = torch.Generator().manual_seed(seed * 101 + sum(shape) + len(shape))
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-20, 20, shape, generator=g).to(dtype)


def nz(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 1) -> torch.Tensor:
    """Like :func:`r` but bounded away from zero (divisors), with both signs."""
    t = r(*shape, dtype=dtype, seed=seed)
    if dtype.is_floating_point:
        return (t.float().sign() * (t.float().abs() + 0.5)).to(dtype)
    return torch.where(t == 0, 7, t).to(dtype)


def pos(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 2) -> torch.Tensor:
    """A positive float tensor in [0.5, 2.5) (pow bases)."""
    g = torch.Generator().manual_seed(seed + sum(shape))
    return (torch.rand(shape, generator=g) * 2 + 0.5).to(dtype)


Case = tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]

ARITH: list[Case] = [
    ("add", lambda x, y: x + y, [r(2, 3), r(2, 3, seed=1)], [aten.add.Tensor]),
    ("add_broadcast_rank", lambda x, y: x + y, [r(2, 3, 4), r(4, seed=1)], [aten.add.Tensor]),
    ("add_broadcast_both", lambda x, y: x + y, [r(2, 1, 4), r(3, 1, seed=1)], [aten.add.Tensor]),
    ("add_scalar", lambda x: x + 2.5, [r(2, 3)], [aten.add.Tensor]),
    ("add_scalar_tensor", lambda x: 2.5 + x, [r(2, 3)], [aten.add.Tensor]),
    ("add_alpha", lambda x, y: torch.add(x, y, alpha=-2), [r(3), r(3, seed=1)], [aten.add.Tensor]),
    ("add_rank0", lambda x, y: x + y, [r(2, 3), torch.tensor(1.5)], [aten.add.Tensor]),
    ("add_int32", lambda x, y: x + y, [r(2, 3, dtype=i32), r(3, dtype=i32)], [aten.add.Tensor]),
    ("add_int64_scalar", lambda x: x + 3, [r(2, 3, dtype=i64)], [aten.add.Tensor]),
    ("add_int_float_promote", lambda x: x + 0.5, [r(2, 3, dtype=i64)], [aten.add.Tensor]),
    ("add_mixed_dtypes", lambda x, y: x + y, [r(2, 3, dtype=i32), r(2, 3)], [aten.add.Tensor]),
    ("add_bool", lambda x, y: x + y, [r(4, dtype=torch.bool), r(4, dtype=torch.bool, seed=1)], []),
    ("add_fp16", lambda x, y: x + y, [r(2, 3, dtype=f16), r(3, dtype=f16)], [aten.add.Tensor]),
    ("add_bf16", lambda x: x + 1.0, [r(2, 3, dtype=bf16)], [aten.add.Tensor]),
    ("sub", lambda x, y: x - y, [r(2, 3), r(2, 3, seed=1)], [aten.sub.Tensor]),
    ("sub_broadcast", lambda x, y: x - y, [r(3, 1), r(2, 1, 4, seed=1)], [aten.sub.Tensor]),
    ("sub_scalar", lambda x: x - 2, [r(2, 3)], [aten.sub.Tensor]),
    ("sub_rsub_scalar", lambda x: 1.0 - x, [r(2, 3)], [aten.sub.Tensor]),
    ("sub_rsub_tensor", lambda x, y: torch.rsub(x, y), [r(3), r(2, 3)], [aten.sub.Tensor]),
    ("sub_alpha", lambda x, y: torch.sub(x, y, alpha=3), [r(3), r(3, seed=1)], [aten.sub.Tensor]),
    ("sub_int32", lambda x, y: x - y, [r(5, dtype=i32), r(5, dtype=i32, seed=1)], []),
    ("sub_fp16", lambda x: 1 - x, [r(2, 3, dtype=f16)], [aten.sub.Tensor]),
    ("mul", lambda x, y: x * y, [r(2, 3), r(2, 3, seed=1)], [aten.mul.Tensor]),
    ("mul_broadcast", lambda x, y: x * y, [r(2, 3, 4), r(3, 1, seed=1)], [aten.mul.Tensor]),
    ("mul_scalar", lambda x: x * -3.0, [r(2, 3)], [aten.mul.Tensor]),
    ("mul_int64", lambda x, y: x * y, [r(4, dtype=i64), r(4, dtype=i64, seed=1)], []),
    ("mul_int_by_float", lambda x: x * 2.5, [r(4, dtype=i32)], [aten.mul.Tensor]),
    ("mul_bool", lambda x, y: x * y, [r(4, dtype=torch.bool), r(4, dtype=torch.bool, seed=1)], []),
    ("mul_bool_float", lambda m, x: m * x, [r(2, 3, dtype=torch.bool), r(2, 3)], []),
    ("mul_fp16", lambda x, y: x * y, [r(2, 3, dtype=f16), r(1, 3, dtype=f16, seed=1)], []),
    ("maximum", torch.maximum, [r(2, 3), r(3, seed=1)], [aten.maximum.default]),
    ("minimum", torch.minimum, [r(2, 3), r(3, seed=1)], [aten.minimum.default]),
    ("maximum_int32", torch.maximum, [r(6, dtype=i32), r(6, dtype=i32, seed=1)], []),
    ("maximum_bool", torch.maximum, [r(6, dtype=torch.bool), r(6, dtype=torch.bool, seed=1)], []),
    ("minimum_bool", torch.minimum, [r(6, dtype=torch.bool), r(6, dtype=torch.bool, seed=1)], []),
    ("pow_tensor", torch.pow, [pos(2, 3), r(2, 3)], [aten.pow.Tensor_Tensor]),
    ("pow_tensor_broadcast", torch.pow, [pos(2, 3), r(3)], [aten.pow.Tensor_Tensor]),
    ("pow_scalar_exp", lambda x: x**3, [r(2, 3)], [aten.pow.Tensor_Scalar]),
    ("pow_scalar_half", lambda x: x**0.5, [pos(2, 3)], [aten.pow.Tensor_Scalar]),
    ("pow_scalar_base", lambda x: 2.0**x, [r(2, 3)], [aten.pow.Scalar]),
    ("pow_fp16", lambda x: x**2, [r(2, 3, dtype=f16)], [aten.pow.Tensor_Scalar]),
    ("pow_int32", lambda x: x**2, [r(6, dtype=i32)], [aten.pow.Tensor_Scalar]),
]

DIVISION: list[Case] = [
    ("div", lambda x, y: x / y, [r(2, 3), nz(2, 3)], [aten.div.Tensor]),
    ("div_broadcast", lambda x, y: x / y, [r(2, 3, 4), nz(4)], [aten.div.Tensor]),
    ("div_scalar", lambda x: x / 4.0, [r(2, 3)], [aten.div.Tensor]),
    ("div_scalar_tensor", lambda x: 2.0 / x, [nz(2, 3)], [aten.reciprocal.default]),
    ("div_fp16", lambda x, y: x / y, [r(2, 3, dtype=f16), nz(3, dtype=f16)], [aten.div.Tensor]),
    ("div_int_true", lambda x, y: x / y, [r(8, dtype=i64), nz(8, dtype=i64)], [aten.div.Tensor]),
    ("div_int_scalar_true", lambda x: x / 3, [r(8, dtype=i32)], [aten.div.Tensor]),
    (
        "div_mode_none",
        lambda x, y: torch.div(x, y, rounding_mode=None),
        [r(8, dtype=i32), nz(8, dtype=i32)],
        [aten.div.Tensor_mode],
    ),
    (
        "div_floor_float",
        lambda x, y: torch.div(x, y, rounding_mode="floor"),
        [r(2, 4) * 5, nz(4)],
        [aten.div.Tensor_mode],
    ),
    (
        "div_trunc_float",
        lambda x, y: torch.div(x, y, rounding_mode="trunc"),
        [r(2, 4) * 5, nz(4)],
        [aten.div.Tensor_mode],
    ),
    (
        "div_floor_int",
        lambda x, y: torch.div(x, y, rounding_mode="floor"),
        [r(3, 8, dtype=i64), nz(8, dtype=i64)],
        [aten.div.Tensor_mode],
    ),
    (
        "div_trunc_int",
        lambda x, y: torch.div(x, y, rounding_mode="trunc"),
        [r(3, 8, dtype=i64), nz(8, dtype=i64)],
        [aten.div.Tensor_mode],
    ),
    (
        "div_trunc_int_signs",
        lambda x, y: torch.div(x, y, rounding_mode="trunc"),
        [torch.tensor([-11, 11, -11, 11, -9, 0, 7]), torch.tensor([3, -3, -3, 3, 3, -4, -7])],
        [aten.div.Tensor_mode],
    ),
    (
        "div_floor_int_signs",
        lambda x, y: torch.div(x, y, rounding_mode="floor"),
        [torch.tensor([-11, 11, -11, 11, -9, 0, 7]), torch.tensor([3, -3, -3, 3, 3, -4, -7])],
        [aten.div.Tensor_mode],
    ),
    ("div_floordiv_scalar", lambda x: x // 3, [r(8, dtype=i32)], [aten.div.Tensor_mode]),
    ("div_floordiv_neg_scalar", lambda x: x // -4, [r(8, dtype=i64)], [aten.div.Tensor_mode]),
    (
        "div_trunc_int_scalar",
        lambda x: torch.div(x, -3, rounding_mode="trunc"),
        [r(8, dtype=i32)],
        [aten.div.Tensor_mode],
    ),
    (
        "div_trunc_int_by_float",
        lambda x: torch.div(x, 2.5, rounding_mode="trunc"),
        [r(8, dtype=i32)],
        [aten.div.Tensor_mode],
    ),
    (
        "div_floor_fp16",
        lambda x: torch.div(x, 0.75, rounding_mode="floor"),
        [r(8, dtype=f16) * 4],
        [aten.div.Tensor_mode],
    ),
    ("remainder", lambda x, y: x % y, [r(2, 4) * 5, nz(4)], [aten.remainder.Tensor]),
    ("remainder_scalar", lambda x: x % 1.5, [r(2, 4) * 5], [aten.remainder.Scalar]),
    ("remainder_int", lambda x, y: x % y, [r(12, dtype=i64), nz(12, dtype=i64)], []),
    ("remainder_int_scalar", lambda x: x % -3, [r(12, dtype=i32)], [aten.remainder.Scalar]),
    ("fmod", torch.fmod, [r(2, 4) * 5, nz(4)], [aten.fmod.Tensor]),
    ("fmod_scalar", lambda x: torch.fmod(x, 1.5), [r(2, 4) * 5], [aten.fmod.Scalar]),
    ("fmod_int", torch.fmod, [r(12, dtype=i64), nz(12, dtype=i64)], [aten.fmod.Tensor]),
]

B = torch.bool
COMPARE: list[Case] = [
    ("eq", torch.eq, [r(2, 3), r(2, 3, seed=1)], [aten.eq.Tensor]),
    ("eq_equal_values", lambda x: x == x.round(), [torch.tensor([1.0, 1.5, -2.0])], []),
    ("eq_scalar", lambda x: x == 3, [r(12, dtype=i64)], [aten.eq.Scalar]),
    ("eq_bool", torch.eq, [r(6, dtype=B), r(6, dtype=B, seed=1)], [aten.eq.Tensor]),
    ("eq_int_float_scalar", lambda x: x == 2.5, [r(8, dtype=i32)], [aten.eq.Scalar]),
    ("ne", torch.ne, [r(2, 3, dtype=i32), r(3, dtype=i32, seed=1)], [aten.ne.Tensor]),
    ("ne_scalar", lambda x: x != 0, [r(2, 3, dtype=i64)], [aten.ne.Scalar]),
    ("ne_nan", lambda x: x != x, [torch.tensor([1.0, float("nan")])], [aten.ne.Tensor]),
    ("lt", torch.lt, [r(2, 3), r(3, seed=1)], [aten.lt.Tensor]),
    ("lt_scalar", lambda x: x < 0.5, [r(2, 3)], [aten.lt.Scalar]),
    ("lt_bool", torch.lt, [r(6, dtype=B), r(6, dtype=B, seed=1)], [aten.lt.Tensor]),
    ("gt", torch.gt, [r(2, 3, 4), r(4, seed=1)], [aten.gt.Tensor]),
    ("gt_scalar_int", lambda x: x > -3, [r(2, 3, dtype=i32)], [aten.gt.Scalar]),
    ("gt_mixed", torch.gt, [r(2, 3, dtype=i64), r(2, 3)], [aten.gt.Tensor]),
    ("le", torch.le, [r(2, 3, dtype=i32), r(2, 3, dtype=i32, seed=1)], [aten.le.Tensor]),
    ("le_scalar", lambda x: x <= 1, [r(2, 3)], [aten.le.Scalar]),
    ("le_nan", lambda x: x <= x, [torch.tensor([1.0, float("nan")])], [aten.le.Tensor]),
    ("ge", torch.ge, [r(2, 3), r(2, 1, seed=1)], [aten.ge.Tensor]),
    ("ge_scalar", lambda x: x >= 0, [r(2, 3, dtype=i64)], [aten.ge.Scalar]),
    ("ge_fp16", torch.ge, [r(2, 3, dtype=f16), r(3, dtype=f16, seed=1)], [aten.ge.Tensor]),
    ("ge_fp16_fp32", torch.ge, [r(2, 3, dtype=f16), r(3, seed=1)], [aten.ge.Tensor]),
    ("bitwise_and", lambda a, b: a & b, [r(6, dtype=B), r(6, dtype=B, seed=1)], []),
    ("bitwise_or", lambda a, b: a | b, [r(2, 3, dtype=B), r(3, dtype=B, seed=1)], []),
    ("bitwise_xor", lambda a, b: a ^ b, [r(6, dtype=B), r(6, dtype=B, seed=1)], []),
    (
        "bitwise_and_scalar_tensor",
        lambda a: torch.bitwise_and(True, a),
        [r(6, dtype=B)],
        [aten.bitwise_and.Scalar_Tensor],
    ),
    (
        "bitwise_or_scalar_tensor",
        lambda a: torch.bitwise_or(False, a),
        [r(2, 3, dtype=B)],
        [aten.bitwise_or.Scalar_Tensor],
    ),
    (
        "bitwise_xor_scalar_tensor",
        lambda a: torch.bitwise_xor(True, a),
        [r(6, dtype=B)],
        [aten.bitwise_xor.Scalar_Tensor],
    ),
    ("bitwise_not", lambda a: ~a, [r(6, dtype=B)], [aten.bitwise_not.default]),
    ("bitwise_not_int", lambda a: ~a, [r(6, dtype=i64)], [aten.bitwise_not.default]),
    ("bitwise_not_int32", lambda a: ~a, [r(6, dtype=i32)], [aten.bitwise_not.default]),
    ("logical_and", torch.logical_and, [r(6, dtype=B), r(6, dtype=B, seed=1)], []),
    ("logical_or", torch.logical_or, [r(2, 3, dtype=B), r(3, dtype=B, seed=1)], []),
    ("logical_xor", torch.logical_xor, [r(6, dtype=B), r(6, dtype=B, seed=1)], []),
    ("logical_not", torch.logical_not, [r(6, dtype=B)], [aten.logical_not.default]),
    ("logical_and_float", torch.logical_and, [torch.tensor([0.0, 1, -2, 0]), r(4)], []),
    ("logical_not_int", torch.logical_not, [torch.tensor([0, 3, -1, 0])], []),
    ("bitwise_not_int8", lambda a: ~a, [r(6, dtype=i8)], [aten.bitwise_not.default]),
    ("logical_and_int8", torch.logical_and, [r(6, dtype=i8), r(6, dtype=i8, seed=1)], []),
    ("eq_int8", torch.eq, [r(6, dtype=i8), r(6, dtype=i8, seed=1)], [aten.eq.Tensor]),
    ("lt_int8_scalar", lambda x: x < 3, [r(6, dtype=i8)], [aten.lt.Scalar]),
    ("logical_not_nan", torch.logical_not, [torch.tensor([0.0, float("nan")])], []),
]

SELECT: list[Case] = [
    ("where", torch.where, [r(2, 3, dtype=B), r(2, 3), r(2, 3, seed=1)], [aten.where.self]),
    ("where_broadcast", torch.where, [r(2, 1, dtype=B), r(3), r(2, 3, seed=1)], []),
    ("where_scalar_other", lambda c, x: torch.where(c, x, 0.0), [r(4, dtype=B), r(4)], []),
    ("where_scalar_self", lambda c, x: torch.where(c, -1, x), [r(4, dtype=B), r(4)], []),
    ("where_scalars", lambda c: torch.where(c, 1.0, -1.0), [r(2, 3, dtype=B)], []),
    ("where_mask_fill", lambda x: torch.where(x > 0, x, -1e4), [r(2, 3)], [aten.where.self]),
    ("where_int64", torch.where, [r(5, dtype=B), r(5, dtype=i64), r(5, dtype=i64, seed=1)], []),
    ("where_bool", torch.where, [r(5, dtype=B), r(5, dtype=B, seed=2), r(5, dtype=B, seed=1)], []),
    ("where_int8", torch.where, [r(5, dtype=B), r(5, dtype=i8), r(5, dtype=i8, seed=1)], []),
    ("where_fp16", torch.where, [r(5, dtype=B), r(5, dtype=f16), r(5, dtype=f16, seed=1)], []),
    ("where_bf16", torch.where, [r(5, dtype=B), r(5, dtype=bf16), r(5, dtype=bf16, seed=1)], []),
    ("where_promote", torch.where, [r(5, dtype=B), r(5, dtype=i32), r(5)], [aten.where.self]),
    ("clamp", lambda x: x.clamp(-0.5, 0.5), [r(2, 3)], [aten.clamp.default]),
    ("clamp_min_only", lambda x: x.clamp(min=0.1), [r(2, 3)], [aten.clamp.default]),
    ("clamp_max_only", lambda x: x.clamp(max=0.1), [r(2, 3)], [aten.clamp.default]),
    ("clamp_inverted", lambda x: x.clamp(1.0, -1.0), [r(2, 3)], [aten.clamp.default]),
    ("clamp_int", lambda x: x.clamp(-5, 5), [r(2, 3, dtype=i64)], [aten.clamp.default]),
    ("clamp_fp16", lambda x: x.clamp(-0.5, 0.5), [r(2, 3, dtype=f16)], [aten.clamp.default]),
    ("clamp_tensor", lambda x, lo: x.clamp(lo, lo + 1), [r(2, 3), r(3, seed=1)], []),
    ("clamp_tensor_min", lambda x, lo: x.clamp(min=lo), [r(2, 3), r(3, seed=1)], []),
    ("clamp_min_fn", torch.clamp_min, [r(2, 3), r(2, 3, seed=1)], [aten.clamp.Tensor]),
    ("clamp_max_fn", lambda x: torch.clamp_max(x, 0.2), [r(2, 3)], [aten.clamp.default]),
]

ALL = ARITH + DIVISION + COMPARE + SELECT


@pytest.mark.parametrize(("fn", "inputs", "ops"), [c[1:] for c in ALL], ids=[c[0] for c in ALL])
def test_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]) -> None:
    """The op lands in one engine, the engine builds, and the reference run matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


# (id, function, inputs, the op that must stay in PyTorch, reason detail that must appear)
FALLBACKS: list[tuple[str, Callable[..., Any], list[torch.Tensor], Any, str]] = [
    (
        "add_bool_alpha",
        lambda x, y: torch.add(x, y, alpha=False),
        [r(4, dtype=B), r(4, dtype=B, seed=1)],
        aten.add.Tensor,
        "alpha on bool tensors",
    ),
    (
        "sub_int8",
        lambda x: x - 1,
        [r(4, dtype=torch.int8)],
        aten.sub.Tensor,
        "TensorRT elementwise arithmetic takes float32/float16/bfloat16/int32/int64",
    ),
    (
        "mul_int8",
        lambda x, y: x * y,
        [r(4, dtype=torch.int8), r(4, dtype=torch.int8)],
        aten.mul.Tensor,
        "on torch.int8: TensorRT elementwise arithmetic",
    ),
    (
        "bitwise_and_int",
        lambda x, y: x & y,
        [r(4, dtype=i32), r(4, dtype=i32, seed=1)],
        aten.bitwise_and.Tensor,
        "TensorRT AND/OR/XOR take bool only",
    ),
    (
        "bitwise_and_scalar_tensor_int",
        lambda x: torch.bitwise_and(3, x),
        [r(4, dtype=i64)],
        aten.bitwise_and.Scalar_Tensor,
        "TensorRT AND/OR/XOR take bool only",
    ),
    (
        "bitwise_or_int_scalar",
        lambda x: x | 1,
        [r(4, dtype=i64)],
        aten.bitwise_or.Scalar,
        "TensorRT AND/OR/XOR take bool only",
    ),
    (
        "where_uint8_values",
        lambda c, x: torch.where(c, x, x),
        [r(4, dtype=B), torch.arange(4, dtype=torch.uint8)],
        aten.where.self,
        "dtype torch.uint8",
    ),
    (
        "eq_uint8",
        lambda x, y: x == y,
        [r(4, dtype=torch.int8).to(torch.uint8), r(4, dtype=torch.int8).to(torch.uint8)],
        aten.eq.Tensor,
        "dtype torch.uint8",
    ),
    (
        "clamp_int8",
        lambda x: torch.clamp(x, -5, 5),
        [r(4, dtype=torch.int8)],
        aten.clamp.default,
        "TensorRT MAX/MIN take",
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
DynCase = tuple[str, Callable[..., Any], list[Input], Sequence[Any]]

DYNAMIC_CASES: list[DynCase] = [
    ("add_dyn", lambda x, y: x + y, [ranged(BATCH, 3), ranged(BATCH, 3)], [aten.add.Tensor]),
    ("add_dyn_bcast", lambda x, y: x + y, [ranged(BATCH, SEQ, 4), ranged(4)], [aten.add.Tensor]),
    ("add_dyn_scalar", lambda x: x + 2.5, [ranged(BATCH, SEQ)], [aten.add.Tensor]),
    ("add_dyn_size", lambda x: x + x.shape[0], [ranged(BATCH, 3)], [aten.add.Tensor]),
    ("add_dyn_size_int", lambda x: x + x.shape[1], [ranged(2, SEQ, dtype=i32)], []),
    ("sub_dyn_size_alpha", lambda x: torch.sub(x, x.shape[1], alpha=2), [ranged(3, SEQ)], []),
    ("mul_dyn_size", lambda x: x * x.shape[1], [ranged(BATCH, SEQ)], [aten.mul.Tensor]),
    ("mul_dyn_fp16", lambda x, y: x * y, [ranged(BATCH, 3, dtype=f16)] * 2, [aten.mul.Tensor]),
    ("div_dyn_size", lambda x: x / x.shape[0], [ranged(BATCH, 4)], [aten.div.Tensor]),
    ("div_dyn_floor", lambda x: x // 3, [ranged(BATCH, 4, dtype=i64)], [aten.div.Tensor_mode]),
    ("pow_dyn", lambda x: x**2, [ranged(BATCH, SEQ)], [aten.pow.Tensor_Scalar]),
    ("maximum_dyn", torch.maximum, [ranged(BATCH, 3), ranged(3)], [aten.maximum.default]),
    ("remainder_dyn_size", lambda x: x % x.shape[0], [ranged(BATCH, 4, dtype=i64)], []),
    ("fmod_dyn", lambda x: torch.fmod(x, 1.5), [ranged(BATCH, 4)], [aten.fmod.Scalar]),
    ("gt_dyn", torch.gt, [ranged(BATCH, 3), ranged(BATCH, 3)], [aten.gt.Tensor]),
    ("gt_dyn_size", lambda x: x > x.shape[1], [ranged(2, SEQ, dtype=i64)], [aten.gt.Scalar]),
    ("eq_dyn_size_float", lambda x: x == x.shape[0], [ranged(BATCH, 3)], [aten.eq.Scalar]),
    ("le_dyn", lambda x: x <= 0.5, [ranged(BATCH, SEQ)], [aten.le.Scalar]),
    ("ne_dyn_bool", torch.ne, [ranged(BATCH, 3, dtype=B), ranged(3, dtype=B)], [aten.ne.Tensor]),
    ("logical_and_dyn", torch.logical_and, [ranged(BATCH, 3, dtype=B)] * 2, []),
    ("bitwise_not_dyn", lambda a: ~a, [ranged(BATCH, 3, dtype=i32)], []),
    (
        "bitwise_xor_scalar_tensor_dyn",
        lambda a: torch.bitwise_xor(True, a),
        [ranged(BATCH, 3, dtype=B)],
        [aten.bitwise_xor.Scalar_Tensor],
    ),
    ("where_dyn", torch.where, [ranged(BATCH, 3, dtype=B), ranged(3), ranged(BATCH, 3)], []),
    ("where_dyn_scalars", lambda c: torch.where(c, 1.0, -1.0), [ranged(BATCH, 3, dtype=B)], []),
    ("where_dyn_mask_fill", lambda x: torch.where(x > 0, x, -1e4), [ranged(BATCH, SEQ)], []),
    ("clamp_dyn", lambda x: x.clamp(-0.5, 0.5), [ranged(BATCH, SEQ)], [aten.clamp.default]),
    ("clamp_dyn_size", lambda x: x.clamp(max=x.shape[1]), [ranged(2, SEQ, dtype=i64)], []),
]


@pytest.mark.parametrize(
    ("fn", "specs", "ops"), [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_dynamic(fn: Callable[..., Any], specs: list[Input], ops: Sequence[Any]) -> None:
    """With dynamic batch/sequence dims the op lands in one engine and matches eager at the
    min, opt and max shapes (SymInt scalars included)."""
    check_dynamic_conversion(FnModule(fn), specs, ops=ops)
