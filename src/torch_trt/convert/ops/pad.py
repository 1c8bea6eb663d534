"""Converters: padding (constant_pad_nd, reflection_pad1d/2d/3d, replication_pad1d/2d/3d).

Each is one ISliceLayer reading outside the input: output coordinate y reads input x = y - pre
along each padded dim, and the slice's sample mode says what lies outside [OP/Slice]: FILL gives
the fill value (input 4), REFLECT mirrors about the edge element (x = -1 reads x = 1, torch's
``reflect``), CLAMP repeats the edge element (torch's ``replicate``). Negative pads crop, as in
torch: the slice then starts inside the input.

Torch lists pads from the last dim backwards (``(left, right, top, bottom, ...)``). Dynamic dims
work: a padded size is the run-time size plus a constant, given to the slice as a shape tensor.
The reflection/replication ops are kept whole by the lowering (``KEEP_WHOLE``) so that they reach
this converter as one node instead of a chain of gathers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.shape import is_static, size_of
from torch_trt.convert.registry import arg_val, converter

aten = torch.ops.aten


def _pads_check(name: str) -> Callable[[fx.Node], str | None]:
    def check(node: fx.Node) -> str | None:
        pads = arg_val(node, name)
        if not all(isinstance(p, int) for p in pads):
            return (
                f"symbolic pad sizes {list(pads)} are not supported (only the input may be dynamic)"
            )
        return None

    return check


def _pairs(ctx: ConversionContext, pad: Sequence[int], rank: int) -> list[tuple[int, int]]:
    """Torch's flat pad list as one (pre, post) pair per dim, dim 0 first."""
    if len(pad) % 2 or len(pad) > 2 * rank:
        raise ctx.fail(f"pad {list(pad)} needs an even length of at most 2 x rank {rank}")
    pairs = [(0, 0)] * rank
    for k in range(len(pad) // 2):
        pairs[rank - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return pairs


def pad_slice(
    ctx: ConversionContext, x: Any, pairs: Sequence[tuple[int, int]], mode: str, fill: Any = None
) -> Any:
    """``x`` padded by ``pairs`` ((pre, post) per dim) with an ISliceLayer in sample ``mode``.

    Args:
        ctx: the conversion context.
        x: the ITensor.
        pairs: (pre, post) element counts for every dim; negative counts crop.
        mode: a ``trt.SampleMode`` name (FILL, REFLECT, CLAMP, WRAP).
        fill: for FILL, a 0-D ITensor of ``x``'s dtype (the value of padded cells).

    Returns:
        The padded ITensor.
    """
    rank = len(pairs)
    start = tuple(-pre for pre, _ in pairs)
    size: list[Any] = []
    for i, (pre, post) in enumerate(pairs):
        d = size_of(ctx, x, i)
        if isinstance(d, int):
            size.append(d + pre + post)
        else:
            size.append(d if pre + post == 0 else ctx.elementwise(d, ctx.sym(pre + post), "SUM"))
    layer = ctx.net.add_slice(x, start, (1,) * rank, (1,) * rank)
    if is_static(size):
        layer.shape = tuple(size)
    else:
        layer.set_input(2, ctx.shape_tensor(size))
    layer.mode = getattr(ctx.trt.SampleMode, mode)
    if fill is not None:
        layer.set_input(4, fill)
    return layer.get_output(0)


def _fill_value(ctx: ConversionContext, value: Any, dtype: torch.dtype) -> Any:
    """The fill value as a 0-D ITensor of ``dtype`` (torch casts the Scalar the same way)."""
    if dtype == torch.int8:
        # int8 constants are only allowed as quantized weights: make an int32 one and cast.
        return ctx.cast(ctx.constant(torch.tensor(int(value)), torch.int32), torch.int8)
    return ctx.constant(torch.tensor(value).to(dtype), dtype)


def _constant_pad_check(node: fx.Node) -> str | None:
    problem = _pads_check("pad")(node)
    if problem is None and isinstance(arg_val(node, "value"), torch.SymFloat | torch.SymInt):
        return "a symbolic fill value is not supported"
    return problem


@converter(aten.constant_pad_nd.default, check=_constant_pad_check, dynamic=True)
def convert_constant_pad_nd(
    ctx: ConversionContext, self: Any, pad: Sequence[int], value: float = 0
) -> Any:
    """Pad (or crop, for negative pads) with ``value``: a FILL-mode slice."""
    x = ctx.itensor(self)
    pairs = _pairs(ctx, pad, len(ctx.shape(x)))
    if not any(pre or post for pre, post in pairs):
        return x
    return pad_slice(ctx, x, pairs, "FILL", _fill_value(ctx, value, ctx.dtype(x)))


def _make_pad(mode: str, spatial: int) -> Any:
    def convert(ctx: ConversionContext, self: Any, padding: Sequence[int]) -> Any:
        x = ctx.itensor(self)
        if len(padding) != 2 * spatial:
            raise ctx.fail(f"padding {list(padding)} needs {2 * spatial} values")
        return pad_slice(ctx, x, _pairs(ctx, padding, len(ctx.shape(x))), mode)

    dims = f"{spatial} dims" if spatial > 1 else "dim"
    convert.__doc__ = f"Pad the last {dims} with a {mode}-mode slice."
    return convert


# torch's padding mode -> TensorRT's sample mode, for 1, 2 and 3 padded dims.
_MODE_PADS: dict[Any, tuple[str, int]] = {
    aten.reflection_pad1d.default: ("REFLECT", 1),
    aten.reflection_pad2d.default: ("REFLECT", 2),
    aten.reflection_pad3d.default: ("REFLECT", 3),
    aten.replication_pad1d.default: ("CLAMP", 1),
    aten.replication_pad2d.default: ("CLAMP", 2),
    aten.replication_pad3d.default: ("CLAMP", 3),
}
for _target, (_mode, _spatial) in _MODE_PADS.items():
    converter(_target, check=_pads_check("padding"), dynamic=True)(_make_pad(_mode, _spatial))
