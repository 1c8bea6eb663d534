"""Converters: tensor creation (arange, full, zeros, ones, *_like, new_*, empty, scalar_tensor).

Shapes are static, so every created tensor is known at conversion time except for the shape
of a ``*_like`` argument, which the node's recorded output gives anyway. Filled tensors are a
(1, ..., 1) constant broadcast by a stride-0 slice, so a large ``zeros_like`` costs no weights.
``arange`` is stored as a constant computed by torch itself (exact for every dtype), which is
the honest implementation when all its arguments are Python numbers; arguments computed in
the graph are refused. ``empty*`` tensors hold zeros, a valid value for uninitialized memory.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.shape import expand_to, layout_problem
from torch_trt.convert.registry import converter, node_args

aten = torch.ops.aten

# The tensor argument of *_like / new_* ops: only its shape (and dtype) matter.
_TEMPLATE = "self"


def _static_args(node: fx.Node) -> str | None:
    """Refuse scalars or sizes computed in the graph: the converter needs Python numbers."""
    for name, value in node_args(node).items():
        if name == _TEMPLATE:
            continue
        items = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, fx.Node) for v in items):
            return f"argument {name!r} is computed in the graph; only constants are supported"
    return layout_problem(node)


def _filled(ctx: ConversionContext, value: bool | int | float) -> Any:
    """The node's output (shape and dtype from its metadata) filled with ``value``."""
    out = ctx.out
    # torch.full converts the Python scalar to the dtype exactly as eager creation does.
    one = ctx.constant(torch.full((1,) * out.dim(), value, dtype=out.dtype), out.dtype)
    return expand_to(ctx, one, tuple(out.shape))


# op -> the fill value, or the name of the argument holding it
_FILL: dict[Any, float | str] = {
    aten.full.default: "fill_value",
    aten.full_like.default: "fill_value",
    aten.new_full.default: "fill_value",
    aten.scalar_tensor.default: "s",
    aten.zeros.default: 0,
    aten.zeros_like.default: 0,
    aten.new_zeros.default: 0,
    aten.empty.memory_format: 0,
    aten.empty_like.default: 0,
    aten.new_empty.default: 0,
    aten.empty_strided.default: 0,
    aten.ones.default: 1,
    aten.ones_like.default: 1,
    aten.new_ones.default: 1,
}


def _make_fill(fill: float | str) -> Any:
    def convert(ctx: ConversionContext, **args: Any) -> Any:
        # Every argument but the fill value is already in the recorded output (shape, dtype);
        # layout and device were vetted by the check, memory_format affects strides only.
        return _filled(ctx, args[fill] if isinstance(fill, str) else fill)

    convert.__doc__ = f"A tensor of the recorded shape and dtype filled with {fill!r}."
    return convert


for _target, _fill in _FILL.items():
    converter(_target, check=_static_args)(_make_fill(_fill))


@converter(aten.arange.default, aten.arange.start, aten.arange.start_step, check=_static_args)
def convert_arange(
    ctx: ConversionContext,
    end: float,
    start: float = 0,
    step: float = 1,
    *,
    dtype: torch.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool | None = None,
) -> Any:
    """``torch.arange(start, end, step)`` as a constant of the recorded dtype."""
    values = torch.arange(start, end, step, dtype=ctx.out.dtype)
    return ctx.constant(values, ctx.out.dtype)


@converter(aten.lift_fresh_copy.default)
def convert_lift_fresh_copy(ctx: ConversionContext, self: Any) -> Any:
    """A copy of a constant tensor: the value itself."""
    return ctx.itensor(self)
