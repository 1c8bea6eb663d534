"""Converters: math functions TensorRT has no unary layer for (log1p, expm1, exp2, log2, log10,
atan2), composed from EXP, LOG, ATAN, POW and selects.

``log1p`` and ``expm1`` exist for their accuracy near 0, where ``log(1 + x)`` and ``exp(x) - 1``
lose every digit to rounding; a demanding user (Softplus, Mamba) relies on it. They are composed
with the classic corrections (Goldberg for log1p, Kahan for expm1): with ``u = 1 + x`` rounded,
``log(u) * x / (u - 1)`` is accurate because ``u - 1`` is exact there and the ratio cancels the
rounding of ``u``. The corrected form is used for ``|x| < 0.5`` only; outside, the plain form is
accurate and the correction would meet ``inf / inf``.

All are shape-agnostic (dynamic shapes); integer inputs are cast to torch's float result first.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.compare import select
from torch_trt.convert.ops.unary import float_check
from torch_trt.convert.registry import converter

aten = torch.ops.aten

# Below this |x| the corrected log1p/expm1 forms are used (u = 1 + x or exp(x) lies in
# [0.5, 2], where u - 1 is exact by Sterbenz's lemma).
_SMALL = 0.5


def _const(ctx: ConversionContext, value: float, like: Any) -> Any:
    """A (1, ..., 1) constant of ``like``'s dtype and rank."""
    return ctx.itensor(value, ctx.dtype(like), rank=len(ctx.shape(like)))


def _float_input(ctx: ConversionContext, value: Any) -> Any:
    return ctx.cast(ctx.itensor(value), ctx.out.dtype)


def _near_zero(ctx: ConversionContext, x: Any) -> Any:
    """``|x| < 0.5`` as a bool tensor."""
    return ctx.elementwise(ctx.unary(x, "ABS"), _const(ctx, _SMALL, x), "LESS")


def _corrected(ctx: ConversionContext, x: Any, u: Any, num: Any, den: Any) -> Any:
    """``x`` where ``u == 1`` (the ratio is 0/0 there), else ``num * x / den``."""
    ratio = ctx.elementwise(ctx.elementwise(num, x, "PROD"), den, "DIV")
    return select(ctx, ctx.elementwise(u, _const(ctx, 1.0, x), "EQUAL"), x, ratio)


@converter(aten.log1p.default, check=float_check, dynamic=True)
def convert_log1p(ctx: ConversionContext, self: Any) -> Any:
    """``log(1 + x)``, accurate near 0 (Goldberg: ``log(u) * x / (u - 1)`` with ``u = 1 + x``)."""
    x = _float_input(ctx, self)
    one = _const(ctx, 1.0, x)
    u = ctx.elementwise(x, one, "SUM")
    log_u = ctx.unary(u, "LOG")
    small = _corrected(ctx, x, u, log_u, ctx.elementwise(u, one, "SUB"))
    return select(ctx, _near_zero(ctx, x), small, log_u)


@converter(aten.expm1.default, check=float_check, dynamic=True)
def convert_expm1(ctx: ConversionContext, self: Any) -> Any:
    """``exp(x) - 1``, accurate near 0 (Kahan: ``(u - 1) * x / log(u)`` with ``u = exp(x)``)."""
    x = _float_input(ctx, self)
    u = ctx.unary(x, "EXP")
    u_minus_1 = ctx.elementwise(u, _const(ctx, 1.0, x), "SUB")
    small = _corrected(ctx, x, u, u_minus_1, ctx.unary(u, "LOG"))
    return select(ctx, _near_zero(ctx, x), small, u_minus_1)


@converter(aten.exp2.default, check=float_check, dynamic=True)
def convert_exp2(ctx: ConversionContext, self: Any) -> Any:
    """``2 ** x`` with TensorRT's POW."""
    x = _float_input(ctx, self)
    return ctx.elementwise(_const(ctx, 2.0, x), x, "POW")


def _scaled_log(divisor: float) -> Any:
    def convert(ctx: ConversionContext, self: Any) -> Any:
        x = _float_input(ctx, self)
        return ctx.elementwise(ctx.unary(x, "LOG"), _const(ctx, divisor, x), "DIV")

    convert.__doc__ = f"``log(x) / {divisor:.6g}`` (TensorRT has only the natural LOG)."
    return convert


converter(aten.log2.default, check=float_check, dynamic=True)(_scaled_log(math.log(2.0)))
converter(aten.log10.default, check=float_check, dynamic=True)(_scaled_log(math.log(10.0)))


@converter(aten.atan2.default, check=float_check, dynamic=True)
def convert_atan2(ctx: ConversionContext, self: Any, other: Any) -> Any:
    """The angle of the point (other, self): ``atan(self / other)`` moved to the right quadrant.

    ``other < 0`` adds pi (``self >= 0``) or subtracts it; ``atan2(0, 0)`` is 0. Limits: signed
    zeros are not distinguished (torch gives ``atan2(0, -0) = pi`` and ``atan2(-0, -1) = -pi``;
    here 0 and pi), and two infinite arguments give NaN (torch: a multiple of pi/4).
    """
    y, x = ctx.operands(self, other, dtype=ctx.out.dtype)
    zero = _const(ctx, 0.0, x)
    base = ctx.unary(ctx.elementwise(y, x, "DIV"), "ATAN")
    up = ctx.elementwise(base, _const(ctx, math.pi, x), "SUM")
    down = ctx.elementwise(base, _const(ctx, math.pi, x), "SUB")
    y_neg = ctx.elementwise(y, zero, "LESS")
    left = select(ctx, y_neg, down, up)
    angle = select(ctx, ctx.elementwise(x, zero, "LESS"), left, base)
    origin = ctx.elementwise(
        ctx.elementwise(x, zero, "EQUAL"), ctx.elementwise(y, zero, "EQUAL"), "AND"
    )
    return select(ctx, origin, ctx.constant(torch.zeros(()), ctx.out.dtype), angle)
