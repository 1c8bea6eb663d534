"""Converters: tensor creation (arange, full, zeros, ones, *_like, new_*, empty, scalar_tensor).

Filled tensors are a (1, ..., 1) constant broadcast by a stride-0 slice, so a large
``zeros_like`` costs no weights; with dynamic shapes the slice takes its size from a shape
tensor (the ``size`` argument's size tensors, or the ``*_like`` template's dims). ``arange`` with
Python-number arguments is stored as a constant computed by torch itself (exact for every
dtype); with a symbolic ``end`` it is an IFillLayer LINSPACE whose length is computed at run
time. Other arguments computed in the graph (fill values, arange start/step) are refused.
``empty*`` tensors hold zeros, a valid value for uninitialized memory.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext, trt_dtype
from torch_trt.convert.ops.shape import expand_to, is_static, layout_problem, size_of
from torch_trt.convert.registry import converter, node_args

aten = torch.ops.aten

# The tensor argument of *_like / new_* ops: only its shape (and dtype) matter.
_TEMPLATE = "self"


def _static_args(node: fx.Node, symbolic: tuple[str, ...] = ("size",)) -> str | None:
    """Refuse scalars computed in the graph: the converter needs Python numbers. Arguments
    named in ``symbolic`` may hold sizes (``SymInt``s) computed in the graph."""
    for name, value in node_args(node).items():
        if name == _TEMPLATE:
            continue
        items = value if isinstance(value, list | tuple) else [value]
        for v in items:
            if not isinstance(v, fx.Node):
                continue
            if name not in symbolic or not isinstance(v.meta.get("val"), torch.SymInt):
                return f"argument {name!r} is computed in the graph; only constants are supported"
    return layout_problem(node)


def _filled(ctx: ConversionContext, value: bool | int | float, args: dict[str, Any]) -> Any:
    """The node's output (shape and dtype from its metadata) filled with ``value``.

    A symbolic shape comes from the ``size`` argument (ints and size tensors) or, for
    ``*_like``, from the template tensor's dims.
    """
    out = ctx.out
    shape: list[Any] = list(out.shape)
    if not is_static(shape):
        size = args.get("size")
        if isinstance(size, list | tuple):
            shape = list(size)
        else:
            shape = [size_of(ctx, args[_TEMPLATE], i) for i in range(out.dim())]
    # torch.full converts the Python scalar to the dtype exactly as eager creation does.
    one = ctx.constant(torch.full((1,) * out.dim(), value, dtype=out.dtype), out.dtype)
    return expand_to(ctx, one, shape)


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
    aten.empty_permuted.default: 0,  # ``empty_like`` of a dynamic shape lowers to it
    aten.ones.default: 1,
    aten.ones_like.default: 1,
    aten.new_ones.default: 1,
}


def _make_fill(fill: float | str) -> Any:
    def convert(ctx: ConversionContext, **args: Any) -> Any:
        # Every argument but the fill value is already in the recorded output (shape, dtype);
        # layout and device were vetted by the check, memory_format affects strides only.
        return _filled(ctx, args[fill] if isinstance(fill, str) else fill, args)

    convert.__doc__ = f"A tensor of the recorded shape and dtype filled with {fill!r}."
    return convert


for _target, _fill in _FILL.items():
    converter(_target, check=_static_args, dynamic=True)(_make_fill(_fill))


# LINSPACE outputs these types; others are cast from int64 or float32.
_LINSPACE_DTYPES = (torch.int32, torch.int64, torch.float32)


def _arange_check(node: fx.Node) -> str | None:
    problem = _static_args(node, symbolic=("start", "end"))
    args = node_args(node)
    symbolic = any(isinstance(args.get(k), fx.Node) for k in ("start", "end"))
    if problem is None and symbolic:
        if not all(isinstance(args.get(k, 0), int | fx.Node) for k in ("start", "end")):
            return "arange with a symbolic bound needs integer start and end"
        step = args.get("step", 1)
        if not isinstance(step, int) or step == 0:
            return f"arange with a symbolic bound needs a nonzero integer step, got {step!r}"
    return problem


@converter(
    aten.arange.default,
    aten.arange.start,
    aten.arange.start_step,
    check=_arange_check,
    dynamic=True,
)
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
    """``torch.arange(start, end, step)``: a constant of the recorded dtype, or a LINSPACE fill
    of length ceil((end - start) / step) when a bound is a size tensor."""
    dtype = ctx.out.dtype
    if isinstance(start, int | float) and isinstance(end, int | float):
        return ctx.constant(torch.arange(start, end, step, dtype=dtype), dtype)
    assert isinstance(step, int)  # the check refuses the rest
    # ceil(a / b) = -floor(-a / b) holds for both signs of the step; then clamp at 0.
    neg = ctx.elementwise(ctx.sym(start), ctx.sym(end), "SUB")
    floor = ctx.elementwise(neg, ctx.sym(step), "FLOOR_DIV")
    length = ctx.elementwise(ctx.elementwise(ctx.sym(0), floor, "SUB"), ctx.sym(0), "MAX")
    fill_dtype = dtype if dtype in _LINSPACE_DTYPES else torch.float32
    if not dtype.is_floating_point and dtype not in _LINSPACE_DTYPES:
        fill_dtype = torch.int64
    layer = ctx.net.add_fill((0,), ctx.trt.FillOperation.LINSPACE, trt_dtype(fill_dtype))
    layer.set_input(0, length)
    if isinstance(start, int):
        layer.alpha, layer.beta = float(start), float(step)
    else:  # a symbolic start: alpha is input 1 (0-D), which needs beta as input 2 ([rank])
        layer.set_input(1, ctx.cast(ctx.reshape(ctx.sym(start), ()), fill_dtype))
        layer.set_input(2, ctx.constant(torch.tensor([step]), fill_dtype))
    return ctx.cast(layer.get_output(0), dtype)


@converter(aten.lift_fresh_copy.default)
def convert_lift_fresh_copy(ctx: ConversionContext, self: Any) -> Any:
    """A copy of a constant tensor: the value itself.

    Registered without ``dynamic=True`` on purpose: its argument is always a tensor constant made
    in ``forward`` (``torch.tensor(...)``), whose shape is static, and lowering's remove_noops
    bypasses the node before partitioning anyway.
    """
    return ctx.itensor(self)
