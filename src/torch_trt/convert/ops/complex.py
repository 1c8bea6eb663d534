"""Converters for nodes that hold complex tensors (registered with ``complex=True``).

TensorRT has no complex dtype. A complex64 tensor of shape S lives in the network as a float32
tensor of shape (*S, 2) holding (real, imag) pairs: the layout of ``torch.view_as_real``, so
``view_as_real`` / ``view_as_complex`` are free. The registry routes a node that holds a complex
tensor to the converters here (and to ``fft.py``) only, and refuses any complex value that
would cross an engine boundary (``registry.complex_boundary``). Dims a node names are logical
(torch's); the (real, imag) dim is always last and never named.

Covered: the representation changes (and a real tensor made complex), ``abs``, ``mul``
(complex times complex, real or scalar), ``add`` / ``sub`` of two complex tensors,
``torch.complex(real, imag)``, and the ``slice`` / ``constant_pad_nd`` that
``torch.fft.irfft(n=...)`` puts on a spectrum: what spectral filtering (x -> rfft -> times a
complex weight -> irfft, as in FNO-style models) needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext, normalize_dim
from torch_trt.convert.ops.pad import pad_slice
from torch_trt.convert.ops.shape import layout_problem, size_of, slice_any
from torch_trt.convert.registry import arg_val, converter, meta_val

aten = torch.ops.aten


def _is_complex(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype.is_complex


def _part(ctx: ConversionContext, z: Any, k: int, keep: bool = False) -> Any:
    """The real (k=0) or imaginary (k=1) part of ``z``: shape S, or (*S, 1) with ``keep``."""
    index = torch.tensor([k] if keep else k, dtype=torch.int32)
    return ctx.net.add_gather(
        z, ctx.constant(index, torch.int32), len(ctx.shape(z)) - 1
    ).get_output(0)


def _pair(ctx: ConversionContext, re: Any, im: Any) -> Any:
    """(real, imag) tensors of shape S as the (*S, 2) representation."""
    rank = len(ctx.shape(re))
    axis = ctx.axes_tensor([rank])
    parts = [ctx.net.add_unsqueeze(t, axis).get_output(0) for t in (re, im)]
    layer = ctx.net.add_concatenation(parts)
    layer.axis = rank
    return layer.get_output(0)


@converter(aten.view_as_real.default, dynamic=True, complex=True)
def convert_view_as_real(ctx: ConversionContext, self: Any) -> Any:
    """``view_as_real``: the representation itself (no layer)."""
    return self


def _view_as_complex_check(node: fx.Node) -> str | None:
    x = arg_val(node, "self")
    if x.dtype != torch.float32:
        return f"view_as_complex of {x.dtype} (complex64 only)"
    return None


@converter(aten.view_as_complex.default, check=_view_as_complex_check, dynamic=True, complex=True)
def convert_view_as_complex(ctx: ConversionContext, self: Any) -> Any:
    """``view_as_complex``: the representation itself (no layer)."""
    return self


@converter(aten.abs.default, dynamic=True, complex=True)
def convert_complex_abs(ctx: ConversionContext, self: Any) -> Any:
    """``|z| = sqrt(re^2 + im^2)``: a square, a sum over the (real, imag) dim, a square root
    (no rescaling as in ``hypot``: magnitudes past ~1e19 overflow in float32)."""
    sq = ctx.elementwise(self, self, "PROD")
    rank = len(ctx.shape(sq))
    total = ctx.net.add_reduce(sq, ctx.trt.ReduceOperation.SUM, 1 << (rank - 1), False)
    return ctx.unary(total.get_output(0), "SQRT")


def _mul_check(node: fx.Node) -> str | None:
    other = arg_val(node, "other")
    if isinstance(other, complex):
        return "a complex Python scalar"
    if isinstance(other, torch.Tensor) and other.dtype not in (torch.complex64, torch.float32):
        return f"complex times {other.dtype}"
    if not _is_complex(arg_val(node, "self")) and not _is_complex(other):
        return "no complex operand"
    return None


@converter(aten.mul.Tensor, check=_mul_check, dynamic=True, complex=True)
def convert_complex_mul(ctx: ConversionContext, self: Any, other: Any) -> Any:
    """Complex product: ``(a+bi)(c+di) = (ac-bd) + (ad+bc)i``, as ``z*c + swap(z)*(d*[-1, 1])``;
    a real factor scales both parts."""
    assert ctx.node is not None
    self_complex = _is_complex(arg_val(ctx.node, "self"))
    other_complex = _is_complex(arg_val(ctx.node, "other"))
    z, w = (self, other) if self_complex else (other, self)
    if not (self_complex and other_complex):  # complex times real: scale both parts
        if isinstance(w, bool | int | float):
            return ctx.elementwise(z, ctx.itensor(float(w), torch.float32, 1), "PROD")
        w = ctx.cast(w, torch.float32)
        w = ctx.net.add_unsqueeze(w, ctx.axes_tensor([len(ctx.shape(w))])).get_output(0)
        return ctx.elementwise(z, w, "PROD")
    c, d = _part(ctx, w, 0, keep=True), _part(ctx, w, 1, keep=True)
    swap = ctx.constant(torch.tensor([1, 0], dtype=torch.int32), torch.int32)
    z_swapped = ctx.net.add_gather(z, swap, len(ctx.shape(z)) - 1).get_output(0)
    signs = ctx.constant(torch.tensor([-1.0, 1.0]), torch.float32)
    return ctx.elementwise(
        ctx.elementwise(z, c, "PROD"),
        ctx.elementwise(z_swapped, ctx.elementwise(d, signs, "PROD"), "PROD"),
        "SUM",
    )


def _add_check(node: fx.Node) -> str | None:
    if not (_is_complex(arg_val(node, "self")) and _is_complex(arg_val(node, "other"))):
        return "complex plus a real value (both operands must be complex)"
    if arg_val(node, "alpha") != 1:
        return f"alpha={arg_val(node, 'alpha')}"
    return None


@converter(aten.add.Tensor, aten.sub.Tensor, check=_add_check, dynamic=True, complex=True)
def convert_complex_add(ctx: ConversionContext, self: Any, other: Any, alpha: Any = 1) -> Any:
    """Sum or difference of two complex tensors: part by part."""
    assert ctx.node is not None
    op = "SUM" if ctx.node.target is aten.add.Tensor else "SUB"
    return ctx.elementwise(self, other, op)


def _complex_check(node: fx.Node) -> str | None:
    real, imag = arg_val(node, "real"), arg_val(node, "imag")
    if {real.dtype, imag.dtype} != {torch.float32}:
        return "torch.complex of non-float32 parts (complex64 only)"
    if real.shape != imag.shape:
        return "torch.complex of parts with different shapes"
    return None


@converter(aten.complex.default, check=_complex_check, dynamic=True, complex=True)
def convert_complex(ctx: ConversionContext, real: Any, imag: Any) -> Any:
    """``torch.complex(real, imag)``: the parts, paired."""
    return _pair(ctx, ctx.itensor(real), ctx.itensor(imag))


def _static_dim_check(node: fx.Node) -> str | None:
    x = arg_val(node, "self")
    if not isinstance(x.shape[normalize_dim(arg_val(node, "dim"), x.dim())], int):
        return "a dynamic dim (complex slices take static lengths)"
    if not all(isinstance(arg_val(node, k), int | None) for k in ("start", "end")):
        return "symbolic slice bounds"
    return None


@converter(aten.slice.Tensor, check=_static_dim_check, dynamic=True, complex=True)
def convert_complex_slice(
    ctx: ConversionContext,
    self: Any,
    dim: int = 0,
    start: int | None = None,
    end: int | None = None,
    step: int = 1,
) -> Any:
    """``z[start:end:step]`` along a logical dim (as ``irfft(n=...)`` trims a spectrum)."""
    rank = len(ctx.shape(self))
    d = normalize_dim(dim, rank - 1)
    picked = range(ctx.shape(self)[d])[start:end:step]
    begin = [0] * rank
    size = [size_of(ctx, self, i) for i in range(rank)]
    stride = [1] * rank
    begin[d], size[d], stride[d] = (picked[0] if len(picked) else 0), len(picked), step
    return slice_any(ctx, self, begin, size, stride)


def _pad_check(node: fx.Node) -> str | None:
    if arg_val(node, "value") != 0:
        return "a nonzero pad value for a complex tensor"
    x, pad = arg_val(node, "self"), arg_val(node, "pad")
    if len(pad) % 2 or len(pad) // 2 > x.dim() or not all(isinstance(p, int) for p in pad):
        return f"pads {list(pad)}"
    return None


@converter(aten.constant_pad_nd.default, check=_pad_check, dynamic=True, complex=True)
def convert_complex_pad(
    ctx: ConversionContext, self: Any, pad: Sequence[int], value: float = 0
) -> Any:
    """Zero padding (or cropping) of logical dims (as ``irfft(n=...)`` extends a spectrum)."""
    rank = len(ctx.shape(self))
    pairs = [(0, 0)] * rank
    for i in range(len(pad) // 2):  # torch pads the last dims first
        pairs[rank - 2 - i] = (pad[2 * i], pad[2 * i + 1])
    zero = ctx.constant(torch.tensor(0.0), torch.float32)
    return pad_slice(ctx, self, pairs, "FILL", zero)


def _to_complex_check(node: fx.Node) -> str | None:
    src, out = arg_val(node, "self"), meta_val(node)
    if out.dtype != torch.complex64 or src.dtype not in (torch.float32, torch.float16):
        return f"conversion of {src.dtype} to {out.dtype} (only a real float to complex64)"
    device = arg_val(node, "device")
    if device is not None and torch.device(device).type != src.device.type:
        return f"device change {src.device} -> {device} stays in PyTorch"
    return layout_problem(node)


@converter(aten._to_copy.default, check=_to_complex_check, dynamic=True, complex=True)
def convert_to_complex(ctx: ConversionContext, self: Any, **kwargs: Any) -> Any:
    """A real tensor as complex64 (``fftn`` of real input does this): (x, 0) pairs, made by
    zero-padding a trailing dim of 1."""
    x = ctx.cast(self, torch.float32)
    rank = len(ctx.shape(x))
    x = ctx.net.add_unsqueeze(x, ctx.axes_tensor([rank])).get_output(0)
    zero = ctx.constant(torch.tensor(0.0), torch.float32)
    return pad_slice(ctx, x, [(0, 0)] * rank + [(0, 1)], "FILL", zero)
