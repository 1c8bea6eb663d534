"""Converters: padding (constant_pad_nd, reflection/replication_pad1d/2d/3d, _pad_circular).

Each is one ISliceLayer reading outside the input: output coordinate y reads input x = y - pre
along each padded dim, and the slice's sample mode says what lies outside [OP/Slice]: FILL gives
the fill value (input 4), REFLECT mirrors about the edge element (x = -1 reads x = 1, torch's
``reflect``), CLAMP repeats the edge element (torch's ``replicate``), WRAP reads x mod d
(torch's ``circular``). Negative pads crop, as in torch: the slice then starts inside the input
(circular padding crops before it wraps, which one slice cannot do, so it takes pads >= 0).

Torch lists pads from the last dim backwards (``(left, right, top, bottom, ...)``). Dynamic dims
work: a padded size is the run-time size plus the pads, given to the slice as a shape tensor. Pad
sizes may themselves be symbolic (``F.pad(x, (0, (-n) % 4))`` to a multiple of a window): they
arrive as size tensors and feed the slice's start and size inputs. The reflection, replication
and circular ops are kept whole by the lowering (``KEEP_WHOLE``) so that they reach this converter
as one node instead of a chain of gathers (circular: slices, copies and slice_scatters).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import fx
from torch.fx.experimental.symbolic_shapes import statically_known_true

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.shape import is_static, size_of
from torch_trt.convert.registry import arg_val, converter

aten = torch.ops.aten


def _pairs(ctx: ConversionContext, pad: Sequence[Any], rank: int) -> list[tuple[Any, Any]]:
    """Torch's flat pad list as one (pre, post) pair per dim, dim 0 first (ints or size
    tensors)."""
    if len(pad) % 2 or len(pad) > 2 * rank:
        raise ctx.fail(f"pad {list(pad)} needs an even length of at most 2 x rank {rank}")
    pairs: list[tuple[Any, Any]] = [(0, 0)] * rank
    for k in range(len(pad) // 2):
        pairs[rank - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return pairs


def _total(ctx: ConversionContext, *terms: Any) -> Any:
    """The sum of ints and size tensors: an int when every term is one."""
    ints = sum(t for t in terms if isinstance(t, int))
    tensors = [t for t in terms if not isinstance(t, int)]
    if not tensors:
        return ints
    out = tensors[0]
    for t in tensors[1:]:
        out = ctx.elementwise(out, t, "SUM")
    return out if ints == 0 else ctx.elementwise(out, ctx.sym(ints), "SUM")


def _negated(ctx: ConversionContext, value: Any) -> Any:
    if isinstance(value, int):
        return -value
    return ctx.elementwise(ctx.sym(0), ctx.sym(value), "SUB")


def pad_slice(
    ctx: ConversionContext, x: Any, pairs: Sequence[tuple[Any, Any]], mode: str, fill: Any = None
) -> Any:
    """``x`` padded by ``pairs`` ((pre, post) per dim) with an ISliceLayer in sample ``mode``.

    Args:
        ctx: the conversion context.
        x: the ITensor.
        pairs: (pre, post) element counts for every dim (ints or size tensors); negative counts
            crop.
        mode: a ``trt.SampleMode`` name (FILL, REFLECT, CLAMP, WRAP).
        fill: for FILL, a 0-D ITensor of ``x``'s dtype (the value of padded cells).

    Returns:
        The padded ITensor.
    """
    rank = len(pairs)
    start = [_negated(ctx, pre) for pre, _ in pairs]
    size = [_total(ctx, size_of(ctx, x, i), pre, post) for i, (pre, post) in enumerate(pairs)]
    layer = ctx.net.add_slice(x, (0,) * rank, (1,) * rank, (1,) * rank)
    if is_static(start):
        layer.start = tuple(start)
    else:
        layer.set_input(1, ctx.shape_tensor(start))
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
    if isinstance(arg_val(node, "value"), torch.SymFloat | torch.SymInt):
        return "a symbolic fill value is not supported"
    return None


@converter(aten.constant_pad_nd.default, check=_constant_pad_check, dynamic=True)
def convert_constant_pad_nd(
    ctx: ConversionContext, self: Any, pad: Sequence[int], value: float = 0
) -> Any:
    """Pad (or crop, for negative pads) with ``value``: a FILL-mode slice."""
    x = ctx.itensor(self)
    pairs = _pairs(ctx, pad, len(ctx.shape(x)))
    if all(isinstance(p, int) and p == 0 for pair in pairs for p in pair):
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
    converter(_target, dynamic=True)(_make_pad(_mode, _spatial))


def _circular_check(node: fx.Node) -> str | None:
    # torch crops first and wraps the cropped tensor; a WRAP slice wraps the whole input.
    pads = [p.meta["val"] if isinstance(p, fx.Node) else p for p in arg_val(node, "pad")]
    if not all(statically_known_true(p >= 0) for p in pads):
        return f"circular pads {list(pads)} are not all provably >= 0 (negative pads crop first)"
    return None


@converter(aten._pad_circular.default, check=_circular_check, dynamic=True)
def convert_pad_circular(ctx: ConversionContext, self: Any, pad: Sequence[Any]) -> Any:
    """Circular padding (``F.pad(mode="circular")``): a WRAP-mode slice reading x mod d."""
    x = ctx.itensor(self)
    return pad_slice(ctx, x, _pairs(ctx, pad, len(ctx.shape(x))), "WRAP")
