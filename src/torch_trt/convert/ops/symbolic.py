"""Converters: sizes as values (dynamic shapes).

``aten.sym_size.int`` reads one dimension of a tensor, and torch.export expresses arithmetic on
sizes with Python operators on ``SymInt``s. Inside a network a size is a 1-element int64 tensor,
so these converters are shape arithmetic with IShapeLayer, ISliceLayer and IElementWiseLayer.
"""

from __future__ import annotations

import operator
from typing import Any

import torch

from torch_trt.convert.context import ConversionContext, normalize_dim
from torch_trt.convert.registry import converter

aten = torch.ops.aten


@converter(aten.sym_size.int, dynamic=True)
def convert_sym_size(ctx: ConversionContext, self: Any, dim: int) -> Any:
    """``x.size(dim)`` as a 1-element int64 tensor."""
    return ctx.dim(self, normalize_dim(dim, len(ctx.shape(self))))


_ARITH = {
    operator.add: "SUM",
    operator.sub: "SUB",
    operator.mul: "PROD",
    operator.floordiv: "FLOOR_DIV",
    torch.sym_max: "MAX",
    torch.sym_min: "MIN",
}


def _make_arith(op: str) -> Any:
    def convert(ctx: ConversionContext, a: Any, b: Any) -> Any:
        return ctx.elementwise(ctx.sym(a), ctx.sym(b), op)

    convert.__doc__ = f"SymInt arithmetic: {op} of two sizes."
    return convert


for _target, _op in _ARITH.items():
    converter(_target, dynamic=True)(_make_arith(_op))


@converter(operator.mod, dynamic=True)
def convert_sym_mod(ctx: ConversionContext, a: Any, b: Any) -> Any:
    """``a % b`` for sizes: a - b * (a // b), Python's sign convention."""
    x, y = ctx.sym(a), ctx.sym(b)
    return ctx.elementwise(x, ctx.elementwise(y, ctx.elementwise(x, y, "FLOOR_DIV"), "PROD"), "SUB")


@converter(operator.neg, dynamic=True)
def convert_sym_neg(ctx: ConversionContext, a: Any) -> Any:
    """``-a`` for a size."""
    return ctx.elementwise(ctx.sym(0), ctx.sym(a), "SUB")
