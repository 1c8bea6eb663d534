"""Converters: unary math (neg, abs, sign, exp, log, sqrt, rsqrt, reciprocal, trigonometric and
hyperbolic functions and their inverses, erf, floor, ceil, round, trunc, isinf, isnan).

Composed ops (TensorRT has no unary layer for them) live in :mod:`torch_trt.convert.ops.math`.

A table maps each ATen overload to a TensorRT ``UnaryOperation``. TensorRT's unary layer takes
integers only for ABS, NEG and SIGN; the other ops are float-only, so integer inputs of ops whose
torch result is a float (``exp(int)``) are cast to that float first, and rounding ops on integers
(``floor(int)``) are the identity, as in torch. All are shape-agnostic, so they take dynamic
shapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.elementwise import FLOATS, dtype_check, trunc
from torch_trt.convert.registry import converter, meta_val

aten = torch.ops.aten

_INTS = frozenset({torch.int8, torch.int32, torch.int64})
_FLOAT_WHY = "TensorRT unary layers take float32/float16/bfloat16 (integers only for ABS/NEG/SIGN)"
float_check = dtype_check(FLOATS, _FLOAT_WHY)
_int_ok_check = dtype_check(FLOATS | _INTS, "TensorRT ABS/NEG/SIGN take floats and int8/32/64")

# Exact on integers in TensorRT and torch alike.
_INT_OPS: dict[Any, str] = {
    aten.neg.default: "NEG",
    aten.abs.default: "ABS",
    aten.sign.default: "SIGN",
}
# Float-only ops; torch promotes integer inputs to the float result dtype.
_FLOAT_OPS: dict[Any, str] = {
    aten.exp.default: "EXP",
    aten.log.default: "LOG",
    aten.sqrt.default: "SQRT",
    aten.reciprocal.default: "RECIP",
    aten.sin.default: "SIN",
    aten.cos.default: "COS",
    aten.tan.default: "TAN",
    aten.asin.default: "ASIN",
    aten.acos.default: "ACOS",
    aten.atan.default: "ATAN",
    aten.sinh.default: "SINH",
    aten.cosh.default: "COSH",
    aten.asinh.default: "ASINH",
    aten.acosh.default: "ACOSH",
    aten.atanh.default: "ATANH",
    aten.erf.default: "ERF",
}
# Rounding ops: torch keeps the dtype and leaves integers unchanged.
_ROUND_OPS: dict[Any, str] = {
    aten.floor.default: "FLOOR",
    aten.ceil.default: "CEIL",
    aten.round.default: "ROUND",  # both round half to even
}


def _rounding_check(node: fx.Node) -> str | None:
    dtype = meta_val(node).dtype
    if dtype in _INTS:
        return None
    return float_check(node)


def _make_unary(op: str) -> Callable[..., Any]:
    def convert(ctx: ConversionContext, self: Any) -> Any:
        x = ctx.cast(ctx.itensor(self), ctx.out.dtype)
        if op in _ROUND_OPS.values() and not ctx.out.dtype.is_floating_point:
            return x
        return ctx.unary(x, op)

    convert.__doc__ = f"TensorRT unary {op}."
    return convert


for _target, _op in _INT_OPS.items():
    converter(_target, check=_int_ok_check, dynamic=True)(_make_unary(_op))
for _target, _op in _FLOAT_OPS.items():
    converter(_target, check=float_check, dynamic=True)(_make_unary(_op))
for _target, _op in _ROUND_OPS.items():
    converter(_target, check=_rounding_check, dynamic=True)(_make_unary(_op))


@converter(aten.rsqrt.default, check=float_check, dynamic=True)
def convert_rsqrt(ctx: ConversionContext, self: Any) -> Any:
    """``1 / sqrt(x)``: TensorRT has no RSQRT."""
    x = ctx.cast(ctx.itensor(self), ctx.out.dtype)
    return ctx.unary(ctx.unary(x, "SQRT"), "RECIP")


@converter(aten.trunc.default, check=_rounding_check, dynamic=True)
def convert_trunc(ctx: ConversionContext, self: Any) -> Any:
    """Round toward zero: ``sign(x) * floor(|x|)`` (TensorRT has no TRUNC)."""
    x = ctx.itensor(self)
    if not ctx.out.dtype.is_floating_point:
        return x
    return trunc(ctx, x)


@converter(aten.round.decimals, check=float_check, dynamic=True)
def convert_round_decimals(ctx: ConversionContext, self: Any, *, decimals: int = 0) -> Any:
    """``round(x * 10**d) / 10**d``, the formula torch uses (half to even)."""
    x = ctx.itensor(self)
    if decimals == 0:
        return ctx.unary(x, "ROUND")
    scale = math.pow(10, abs(decimals))
    # torch divides by 10**-d for negative d instead of multiplying by the (inexact) 10**d.
    up, down = ("PROD", "DIV") if decimals > 0 else ("DIV", "PROD")
    factor = ctx.itensor(scale, ctx.out.dtype, rank=len(ctx.shape(x)))
    rounded = ctx.unary(ctx.elementwise(x, factor, up), "ROUND")
    return ctx.elementwise(rounded, factor, down)


_PREDICATES: dict[Any, str] = {aten.isinf.default: "ISINF", aten.isnan.default: "ISNAN"}
_predicate_check = dtype_check({torch.bool}, "isinf/isnan produce bool")


def _make_predicate(op: str) -> Callable[..., Any]:
    def convert(ctx: ConversionContext, self: Any) -> Any:
        x = ctx.itensor(self)
        if ctx.dtype(x) in FLOATS:
            return ctx.unary(x, op)
        # Integers and bools are never infinite or NaN: ``x != x`` is all false, shape kept.
        x = ctx.cast(x, torch.int32) if ctx.dtype(x) == torch.int8 else x
        return ctx.unary(ctx.elementwise(x, x, "EQUAL"), "NOT")

    convert.__doc__ = f"TensorRT unary {op} on floats; all false on integers and bools."
    return convert


for _target, _op in _PREDICATES.items():
    converter(_target, check=_predicate_check, dynamic=True)(_make_predicate(_op))
