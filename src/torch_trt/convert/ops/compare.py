"""Converters: comparisons, logic, ``where`` and ``clamp``.

(``clamp_min``/``clamp_max`` need no converter: the lowering rewrites them into ``clamp``.)

Comparisons run in the dtype torch would compare in (``torch.result_type`` of the operands, read
from the node metadata) and produce bool. TensorRT has EQUAL, GREATER and LESS; ``ne`` is
NOT(EQUAL), and ``le``/``ge`` are OR(LESS|GREATER, EQUAL), which keeps NaN comparisons false.
GREATER and LESS refuse bool, and int8 constants do not exist, so both compare as int32 (exact).
AND/OR/XOR take bool only: bitwise and/or/xor on integers are refused (``bitwise_not`` on
integers is the exact ``-1 - x``), logical ops first turn each operand into ``operand != 0``.
All are shape-agnostic (dynamic shapes welcome); ``SymInt`` scalars are handled as in
elementwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.elementwise import NUMBERS, dtype_check, sizes_as_scalars
from torch_trt.convert.registry import arg_val, converter

aten = torch.ops.aten


def _proxy(value: Any) -> Any:
    # result_type gives 0-D tensors lower priority than dimensioned ones: keep the rank.
    if isinstance(value, torch.Tensor):
        return torch.empty((1,) * value.dim(), dtype=value.dtype)
    return value


def common_dtype(node: fx.Node, first: str, second: str) -> torch.dtype:
    """The dtype torch computes ``node`` in: ``torch.result_type`` of two named arguments."""
    return torch.result_type(_proxy(arg_val(node, first)), _proxy(arg_val(node, second)))


_COMPARE_WHY = "TensorRT comparisons take float32/float16/bfloat16/int32/int64/bool operands"


def _compare_check(node: fx.Node) -> str | None:
    dtype = common_dtype(node, "self", "other")
    if dtype not in NUMBERS | {torch.bool, torch.int8}:
        return f"{node.target} comparing {dtype}: {_COMPARE_WHY}"
    return None


# (first op, second op OR-ed with it or None, negate)
_COMPARE: dict[Any, tuple[str, str | None, bool]] = {}
for _name, _spec in {
    "eq": ("EQUAL", None, False),
    "ne": ("EQUAL", None, True),
    "lt": ("LESS", None, False),
    "gt": ("GREATER", None, False),
    "le": ("LESS", "EQUAL", False),
    "ge": ("GREATER", "EQUAL", False),
}.items():
    _packet = getattr(aten, _name)
    _COMPARE[_packet.Tensor] = _spec
    _COMPARE[_packet.Scalar] = _spec


def _make_compare(first: str, second: str | None, negate: bool) -> Callable[..., Any]:
    def convert(ctx: ConversionContext, self: Any, other: Any) -> Any:
        assert ctx.node is not None
        dtype = common_dtype(ctx.node, "self", "other")
        if dtype == torch.int8 or (dtype == torch.bool and first != "EQUAL"):
            dtype = torch.int32
        a, b = ctx.operands(*sizes_as_scalars(ctx, self=self, other=other), dtype=dtype)
        out = ctx.elementwise(a, b, first)
        if second is not None:
            out = ctx.elementwise(out, ctx.elementwise(a, b, second), "OR")
        return ctx.unary(out, "NOT") if negate else out

    how = f"{first} or {second}" if second else first
    convert.__doc__ = f"TensorRT elementwise {how}{', negated' if negate else ''} (bool result)."
    return convert


for _target, (_first, _second, _negate) in _COMPARE.items():
    converter(_target, check=_compare_check, dynamic=True)(_make_compare(_first, _second, _negate))


# --- logic ------------------------------------------------------------------------------------

_BITWISE = {
    getattr(getattr(aten, f"bitwise_{name}"), overload): op
    for name, op in (("and", "AND"), ("or", "OR"), ("xor", "XOR"))
    for overload in ("Tensor", "Scalar", "Scalar_Tensor")
}
_bool_check = dtype_check({torch.bool}, "TensorRT AND/OR/XOR take bool only")


def _make_bitwise(op: str) -> Callable[..., Any]:
    def convert(ctx: ConversionContext, self: Any, other: Any) -> Any:
        a, b = ctx.operands(self, other, dtype=torch.bool)
        return ctx.elementwise(a, b, op)

    convert.__doc__ = f"TensorRT elementwise {op} on bools (integers are refused)."
    return convert


for _target, _op in _BITWISE.items():
    converter(_target, check=_bool_check, dynamic=True)(_make_bitwise(_op))


@converter(aten.bitwise_not.default, dynamic=True)
def convert_bitwise_not(ctx: ConversionContext, self: Any) -> Any:
    """``~x``: NOT on bool; ``-1 - x`` on two's-complement integers (never overflows)."""
    dtype = ctx.out.dtype
    if dtype == torch.bool:
        return ctx.unary(self, "NOT")
    # int8 has no constants: compute in int32; ~x of an int8 value fits in int8 again.
    wide = torch.int32 if dtype == torch.int8 else dtype
    minus_one, x = ctx.operands(-1, self, dtype=wide)
    return ctx.cast(ctx.elementwise(minus_one, x, "SUB"), dtype)


def truth(ctx: ConversionContext, value: Any) -> Any:
    """``value != 0`` as a bool ITensor (NaN counts as true, as in torch)."""
    x = ctx.itensor(value)
    dtype = ctx.dtype(x)
    if dtype == torch.bool:
        return x
    x, zero = ctx.operands(x, 0, dtype=torch.int32 if dtype == torch.int8 else dtype)
    return ctx.unary(ctx.elementwise(x, zero, "EQUAL"), "NOT")


_LOGICAL = {
    aten.logical_and.default: "AND",
    aten.logical_or.default: "OR",
    aten.logical_xor.default: "XOR",
}


def _make_logical(op: str) -> Callable[..., Any]:
    def convert(ctx: ConversionContext, self: Any, other: Any) -> Any:
        return ctx.elementwise(truth(ctx, self), truth(ctx, other), op)

    convert.__doc__ = f"TensorRT elementwise {op} of ``x != 0`` and ``y != 0``."
    return convert


for _target, _op in _LOGICAL.items():
    converter(_target, dynamic=True)(_make_logical(_op))


@converter(aten.logical_not.default, dynamic=True)
def convert_logical_not(ctx: ConversionContext, self: Any) -> Any:
    """``x == 0`` as bool."""
    return ctx.unary(truth(ctx, self), "NOT")


# --- where and clamp --------------------------------------------------------------------------

# ISelectLayer refuses bf16 values, and int8 constants do not exist: select in a wider type.
_SELECT_AS = {torch.bfloat16: torch.float32, torch.int8: torch.int32}


def select(ctx: ConversionContext, cond: Any, a: Any, b: Any) -> Any:
    """``cond ? a : b`` for ITensors of one dtype (ranks broadcast; bf16/int8 go through a wider
    type, which ISelectLayer takes)."""
    dtype = ctx.dtype(a)
    wide = _SELECT_AS.get(dtype, dtype)
    cond, a, b = ctx.broadcast(cond, ctx.cast(a, wide), ctx.cast(b, wide))
    return ctx.cast(ctx.net.add_select(cond, a, b).get_output(0), dtype)


def _where_check(node: fx.Node) -> str | None:
    cond = arg_val(node, "condition")
    if cond.dtype != torch.bool:
        return f"where with a {cond.dtype} condition: TensorRT select needs a bool condition"
    return None


@converter(aten.where.self, check=_where_check, dynamic=True)
def convert_where(ctx: ConversionContext, condition: Any, self: Any, other: Any) -> Any:
    """``condition ? self : other`` with ISelectLayer (operands promoted to the result dtype)."""
    dtype = ctx.out.dtype
    self, other = sizes_as_scalars(ctx, self=self, other=other)
    a, b = ctx.operands(self, other, dtype=_SELECT_AS.get(dtype, dtype))
    cond, a, b = ctx.broadcast(ctx.itensor(condition), a, b)
    return ctx.cast(ctx.net.add_select(cond, a, b).get_output(0), dtype)


_clamp_check = dtype_check(NUMBERS, "TensorRT MAX/MIN take float32/float16/bfloat16/int32/int64")


@converter(aten.clamp.default, aten.clamp.Tensor, check=_clamp_check, dynamic=True)
def convert_clamp(ctx: ConversionContext, self: Any, min: Any = None, max: Any = None) -> Any:
    """``min(max(x, lo), hi)``: like torch, ``hi`` wins when ``lo > hi``."""
    dtype = ctx.out.dtype
    x = ctx.cast(ctx.itensor(self), dtype)
    min, max = sizes_as_scalars(ctx, min=min, max=max)
    for bound, op in ((min, "MAX"), (max, "MIN")):
        if bound is not None:
            x, b = ctx.operands(x, bound, dtype=dtype)
            x = ctx.elementwise(x, b, op)
    return x
