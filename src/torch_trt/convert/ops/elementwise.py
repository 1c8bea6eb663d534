"""Converters: binary elementwise arithmetic (add, sub, mul, div, pow, maximum, minimum, remainder).

One table maps each ATen overload to its TensorRT ``ElementWiseOperation``; one generic
converter handles tensor/scalar operands, dtype promotion (from the node's recorded output
dtype) and rank broadcasting. Ops TensorRT lacks (trunc division, remainder, fmod) are composed
from exact integer pieces (FLOOR_DIV, ABS, SIGN) rather than from integer DIV, whose rounding
TensorRT does not document.

The dtype checks here are shared by the unary, comparison and activation families.

Dynamic shapes: every op here is shape-agnostic (scalar constants are (1, ..., 1) and broadcast).
A Python-scalar argument may be a ``SymInt`` (``x * x.shape[1]``); it arrives as a (1,) int64
size tensor, which :func:`sizes_as_scalars` makes rank 0 so that it broadcasts like a scalar and
cannot raise the rank of a 0-D result.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import arg_val, converter, meta_val, node_args

_SYM_TYPES = (torch.SymInt, torch.SymFloat, torch.SymBool)

aten = torch.ops.aten

FLOATS = frozenset({torch.float32, torch.float16, torch.bfloat16})
# int8 is left out on purpose: TensorRT int8 tensors are quantized types (an int8 constant is
# only allowed feeding a dequantize), so scalar operands could not be materialized.
NUMBERS = FLOATS | {torch.int32, torch.int64}


def dtype_check(allowed: Collection[torch.dtype], why: str) -> Callable[[fx.Node], str | None]:
    """A check refusing nodes whose output dtype is not in ``allowed``; ``why`` names the limit."""

    def check(node: fx.Node) -> str | None:
        dtype = meta_val(node).dtype
        if dtype not in allowed:
            return f"{node.target} on {dtype}: {why}"
        return None

    return check


_ARITH_WHY = "TensorRT elementwise arithmetic takes float32/float16/bfloat16/int32/int64"
_arith_check = dtype_check(NUMBERS, _ARITH_WHY)
_POW_WHY = "TensorRT POW takes float32/float16/bfloat16/int32/int64"


def sizes_as_scalars(ctx: ConversionContext, **values: Any) -> list[Any]:
    """The named arguments of the current node, in order, with each symbolic scalar (a size
    tensor standing for a ``SymInt`` argument) reshaped to rank 0."""
    assert ctx.node is not None
    args = node_args(ctx.node)
    out = []
    for name, value in values.items():
        arg = args.get(name)
        if isinstance(arg, fx.Node) and isinstance(arg.meta.get("val"), _SYM_TYPES):
            value = ctx.reshape(value, ())
        out.append(value)
    return out


def _binary(ctx: ConversionContext, self: Any, other: Any, op: str) -> Any:
    a, b = ctx.operands(self, other, dtype=ctx.out.dtype)
    return ctx.elementwise(a, b, op)


# Bool results have no arithmetic in TensorRT; on {0, 1} these ops are logic.
_BOOL_OP = {"SUM": "OR", "PROD": "AND", "MAX": "OR", "MIN": "AND"}
_BOOL_OK = dtype_check(NUMBERS | {torch.bool}, _ARITH_WHY + " (bool only via logic ops)")

_BINARY: dict[Any, str] = {
    aten.mul.Tensor: "PROD",
    aten.mul.Scalar: "PROD",
    aten.maximum.default: "MAX",
    aten.minimum.default: "MIN",
}


def _make_binary(op: str) -> Callable[..., Any]:
    def convert(ctx: ConversionContext, self: Any, other: Any) -> Any:
        self, other = sizes_as_scalars(ctx, self=self, other=other)
        if ctx.out.dtype == torch.bool:
            return _binary(ctx, self, other, _BOOL_OP[op])
        return _binary(ctx, self, other, op)

    convert.__doc__ = f"TensorRT elementwise {op} (on bools: {_BOOL_OP[op]})."
    return convert


for _target, _op in _BINARY.items():
    converter(_target, check=_BOOL_OK, dynamic=True)(_make_binary(_op))


@converter(
    aten.pow.Tensor_Tensor,
    aten.pow.Tensor_Scalar,
    aten.pow.Scalar,
    check=dtype_check(NUMBERS, _POW_WHY),
    dynamic=True,
)
def convert_pow(ctx: ConversionContext, self: Any, exponent: Any) -> Any:
    """``self ** exponent`` (either side may be a Python scalar)."""
    self, exponent = sizes_as_scalars(ctx, self=self, exponent=exponent)
    return _binary(ctx, self, exponent, "POW")


def _scaled(ctx: ConversionContext, other: Any, alpha: float) -> Any:
    if alpha == 1:
        return other
    if isinstance(other, int | float):
        return alpha * other
    return _binary(ctx, other, alpha, "PROD")


def _add_check(node: fx.Node) -> str | None:
    if meta_val(node).dtype == torch.bool and arg_val(node, "alpha") != 1:
        return "alpha on bool tensors"
    return _BOOL_OK(node)


@converter(aten.add.Tensor, aten.add.Scalar, check=_add_check, dynamic=True)
def convert_add(ctx: ConversionContext, self: Any, other: Any, *, alpha: float = 1) -> Any:
    """``self + alpha * other`` (logical or on bool)."""
    self, other = sizes_as_scalars(ctx, self=self, other=other)
    if ctx.out.dtype == torch.bool:
        return _binary(ctx, self, other, "OR")
    return _binary(ctx, self, _scaled(ctx, other, alpha), "SUM")


@converter(aten.sub.Tensor, aten.sub.Scalar, check=_arith_check, dynamic=True)
def convert_sub(ctx: ConversionContext, self: Any, other: Any, *, alpha: float = 1) -> Any:
    """``self - alpha * other``."""
    self, other = sizes_as_scalars(ctx, self=self, other=other)
    return _binary(ctx, self, _scaled(ctx, other, alpha), "SUB")


# --- division ---------------------------------------------------------------------------------


def _div_check(node: fx.Node) -> str | None:
    mode = node_args(node).get("rounding_mode")  # only the *_mode overloads have it
    if mode not in (None, "trunc", "floor"):
        return f"rounding_mode={mode!r} is not one of None, 'trunc', 'floor'"
    return _arith_check(node)


def trunc(ctx: ConversionContext, x: Any) -> Any:
    """Round a float tensor toward zero: ``sign(x) * floor(|x|)`` (TensorRT has no TRUNC)."""
    return ctx.elementwise(ctx.unary(x, "SIGN"), ctx.unary(ctx.unary(x, "ABS"), "FLOOR"), "PROD")


def _trunc_div(ctx: ConversionContext, a: Any, b: Any) -> Any:
    if ctx.dtype(a).is_floating_point:
        return trunc(ctx, ctx.elementwise(a, b, "DIV"))
    # Integer DIV rounding is undocumented: use the exact floor division of magnitudes.
    quot = ctx.elementwise(ctx.unary(a, "ABS"), ctx.unary(b, "ABS"), "FLOOR_DIV")
    sign = ctx.elementwise(ctx.unary(a, "SIGN"), ctx.unary(b, "SIGN"), "PROD")
    return ctx.elementwise(sign, quot, "PROD")


def _floor_div(ctx: ConversionContext, a: Any, b: Any) -> Any:
    return ctx.elementwise(a, b, "FLOOR_DIV")


@converter(
    aten.div.Tensor,
    aten.div.Scalar,
    aten.div.Tensor_mode,
    aten.div.Scalar_mode,
    check=_div_check,
    dynamic=True,
)
def convert_div(
    ctx: ConversionContext, self: Any, other: Any, *, rounding_mode: str | None = None
) -> Any:
    """``self / other``; true division casts integers to the float result dtype first."""
    self, other = sizes_as_scalars(ctx, self=self, other=other)
    a, b = ctx.operands(self, other, dtype=ctx.out.dtype)
    if rounding_mode == "trunc":
        return _trunc_div(ctx, a, b)
    if rounding_mode == "floor":
        return _floor_div(ctx, a, b)
    return ctx.elementwise(a, b, "DIV")


@converter(aten.remainder.Tensor, aten.remainder.Scalar, check=_arith_check, dynamic=True)
def convert_remainder(ctx: ConversionContext, self: Any, other: Any) -> Any:
    """``self - other * floor(self / other)`` (Python modulo: the sign of ``other``).

    For floats the quotient is rounded once, so results near a multiple of ``other`` can differ
    from torch's exact fmod-based remainder by up to ``other``.
    """
    a, b = ctx.operands(*sizes_as_scalars(ctx, self=self, other=other), dtype=ctx.out.dtype)
    return ctx.elementwise(a, ctx.elementwise(b, _floor_div(ctx, a, b), "PROD"), "SUB")


@converter(aten.fmod.Tensor, aten.fmod.Scalar, check=_arith_check, dynamic=True)
def convert_fmod(ctx: ConversionContext, self: Any, other: Any) -> Any:
    """``self - other * trunc(self / other)`` (C fmod: the sign of ``self``; see remainder)."""
    a, b = ctx.operands(*sizes_as_scalars(ctx, self=self, other=other), dtype=ctx.out.dtype)
    return ctx.elementwise(a, ctx.elementwise(b, _trunc_div(ctx, a, b), "PROD"), "SUB")
