"""Converters: max, average and adaptive (average and max) pooling, 2-D and 3-D.

1-D pooling reaches us as 2-D pooling of an unsqueezed input (torch's decompositions).

TensorRT pooling differs from torch in three ways handled here: its default stride is 1 (torch:
the kernel); its ``EXPLICIT_ROUND_UP`` keeps a last window that torch's ``ceil_mode`` drops, so we
take torch's output size and add post-padding under ``EXPLICIT_ROUND_DOWN``; and its average
divisor rule cannot express every torch rule (``count_include_pad`` with a ceil-mode window that
runs past the padding, ``divisor_override``), so a constant per-position factor corrects the
divisor where the two differ.

Dynamic shapes: the batch and channel dims may be symbolic everywhere. Symbolic spatial dims work
where nothing depends on the spatial sizes (floor-mode windows, global adaptive pooling); the
ceil-mode padding, divisor corrections and adaptive bins are computed from static sizes, so
those refuse symbolic spatial dims.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import arg_val, converter, extra_outputs_used

aten = torch.ops.aten

# IPoolingLayer takes f32, f16, bf16 and int8; torch pools floats only here.
_FLOAT = (torch.float32, torch.float16, torch.bfloat16)

# Spatial dims of each pooling overload.
_ND: dict[Any, int] = {
    aten.max_pool2d_with_indices.default: 2,
    aten.max_pool2d.default: 2,
    aten.max_pool3d_with_indices.default: 3,
    aten.avg_pool2d.default: 2,
    aten.avg_pool3d.default: 3,
    aten._adaptive_avg_pool2d.default: 2,
    aten.adaptive_avg_pool2d.default: 2,
    aten._adaptive_avg_pool3d.default: 3,
    aten.adaptive_avg_pool3d.default: 3,
    aten.adaptive_max_pool2d.default: 2,
    aten.adaptive_max_pool3d.default: 3,
}
_ADAPTIVE_MAX = (aten.adaptive_max_pool2d.default, aten.adaptive_max_pool3d.default)
_WITH_INDICES = (
    aten.max_pool2d_with_indices.default,
    aten.max_pool3d_with_indices.default,
    *_ADAPTIVE_MAX,
)
_MAX_WINDOW = (*_WITH_INDICES[:2], aten.max_pool2d.default)
_ADAPTIVE = (
    aten._adaptive_avg_pool2d.default,
    aten.adaptive_avg_pool2d.default,
    aten._adaptive_avg_pool3d.default,
    aten.adaptive_avg_pool3d.default,
    *_ADAPTIVE_MAX,
)


def _expand(value: Sequence[int], nd: int) -> list[int]:
    values = list(value)
    return values * nd if len(values) == 1 else values


def _check_pool(node: fx.Node) -> str | None:
    nd = _ND[node.target]
    x = arg_val(node, "self")
    if x.dtype not in _FLOAT:
        return f"pooling needs a float input, got {x.dtype}"
    if x.dim() not in (nd + 1, nd + 2):
        return f"rank-{x.dim()} input for {nd}-D pooling"
    if node.target in _WITH_INDICES and extra_outputs_used(node):
        return "max pooling indices are used (TensorRT pooling has no indices output)"
    if node.target in _MAX_WINDOW and any(d != 1 for d in _expand(arg_val(node, "dilation"), nd)):
        return "max pooling with dilation > 1 (TensorRT pooling has no dilation)"
    return _check_dynamic_window(node, nd)


def _spatial_dynamic(node: fx.Node, nd: int) -> bool:
    x = arg_val(node, "self")
    return any(not isinstance(d, int) for d in x.shape[-nd:])


def _check_dynamic_window(node: fx.Node, nd: int) -> str | None:
    if not _spatial_dynamic(node, nd):
        return None
    if node.target in _ADAPTIVE:
        if any(int(o) != 1 for o in arg_val(node, "output_size")):
            ones = ", ".join(["1"] * nd)
            return (
                "dynamic spatial dims with adaptive bins (bins need static spatial sizes; "
                f"only output_size ({ones}) takes them)"
            )
        return None
    if arg_val(node, "ceil_mode"):
        return (
            "ceil_mode with dynamic spatial dims (its padding depends on the spatial sizes; "
            "only batch and channel may be dynamic)"
        )
    is_avg = node.target in (aten.avg_pool2d.default, aten.avg_pool3d.default)
    if is_avg and arg_val(node, "divisor_override") is not None:
        return (
            "divisor_override with dynamic spatial dims (the divisor correction depends on "
            "the spatial sizes; only batch and channel may be dynamic)"
        )
    return None


def _batched(ctx: ConversionContext, x: Any, nd: int) -> Any:
    return ctx.unsqueeze_to(x, nd + 2)


def _restore(ctx: ConversionContext, y: Any) -> Any:
    # Undo the batch dim added for an unbatched input (dims as size tensors where dynamic).
    shape = ctx.shape(y)
    if len(shape) == ctx.out.dim():
        return y
    return ctx.reshape(y, [d if d >= 0 else ctx.dim(y, i) for i, d in enumerate(shape)][1:])


class _Window:
    """A torch pooling window per spatial dim and the TensorRT padding that reproduces it."""

    def __init__(
        self,
        ctx: ConversionContext,
        x: Any,
        nd: int,
        kernel: Sequence[int],
        stride: Sequence[int],
        padding: Sequence[int],
    ) -> None:
        self.k = _expand(kernel, nd)
        self.s = _expand(stride, nd) if len(stride) else self.k
        self.p = _expand(padding, nd)
        self.ins = list(ctx.shape(x)[-nd:])
        self.outs = list(ctx.out.shape[-nd:])
        self.dynamic = any(i < 0 for i in self.ins)
        # ROUND_DOWN gives floor((I + p + post - k) / s) + 1 outputs; post = p gives torch's
        # floor size, and a larger post gives the extra window that ceil_mode keeps. Dynamic
        # spatial dims come only without ceil_mode (checked): post = p.
        self.post = (
            list(self.p)
            if self.dynamic
            else [
                max(p, (o - 1) * s + k - i - p)
                for i, o, k, s, p in zip(self.ins, self.outs, self.k, self.s, self.p, strict=True)
            ]
        )

    def add(self, ctx: ConversionContext, x: Any, kind: str) -> Any:
        layer = ctx.net.add_pooling_nd(x, getattr(ctx.trt.PoolingType, kind), tuple(self.k))
        layer.stride_nd = tuple(self.s)
        layer.pre_padding = tuple(self.p)
        layer.post_padding = tuple(self.post)
        return layer


@converter(*_MAX_WINDOW, check=_check_pool, dynamic=True)
def convert_max_pool(
    ctx: ConversionContext,
    self: Any,
    kernel_size: Sequence[int],
    stride: Sequence[int] = (),
    padding: Sequence[int] = (0,),
    dilation: Sequence[int] = (1,),
    ceil_mode: bool = False,
) -> Any:
    """Max pooling; for ``*_with_indices`` the (unused, checked) indices are not produced."""
    assert ctx.node is not None
    nd = _ND[ctx.node.target]
    x = _batched(ctx, self, nd)
    window = _Window(ctx, x, nd, kernel_size, stride, padding)
    y = _restore(ctx, window.add(ctx, x, "MAX").get_output(0))
    return (y, None) if ctx.node.target in _WITH_INDICES else y


def _divisors(w: _Window, dim: int, include_pad: bool) -> tuple[list[int], list[int]]:
    """(torch's, TensorRT's) per-output divisor along one dim (TensorRT: excludes = not incl.)."""
    i, k, s, p, post = w.ins[dim], w.k[dim], w.s[dim], w.p[dim], w.post[dim]
    torch_div, trt_div = [], []
    for o in range(w.outs[dim]):
        start = o * s - p
        real = min(start + k, i) - max(start, 0)
        if include_pad:
            torch_div.append(min(start + k, i + p) - start)
            trt_div.append(min(start + k, i + post) - start)
        else:
            torch_div.append(real)
            trt_div.append(real)
    return torch_div, trt_div


def _avg_factor(w: _Window, include_pad: bool, override: int | None) -> torch.Tensor | None:
    """TensorRT divisor / torch divisor per output position, or None when they agree."""
    nd = len(w.k)
    torch_div = torch.ones(w.outs, dtype=torch.float64)
    trt_div = torch.ones(w.outs, dtype=torch.float64)
    for d in range(nd):
        t, r = _divisors(w, d, include_pad)
        view = [1] * nd
        view[d] = -1
        torch_div = torch_div * torch.tensor(t, dtype=torch.float64).reshape(view)
        trt_div = trt_div * torch.tensor(r, dtype=torch.float64).reshape(view)
    if override is not None:
        torch_div = torch.full(w.outs, float(override), dtype=torch.float64)
    if torch.equal(torch_div, trt_div):
        return None
    return trt_div / torch_div


@converter(aten.avg_pool2d.default, aten.avg_pool3d.default, check=_check_pool, dynamic=True)
def convert_avg_pool(
    ctx: ConversionContext,
    self: Any,
    kernel_size: Sequence[int],
    stride: Sequence[int] = (),
    padding: Sequence[int] = (0,),
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Any:
    """Average pooling; the divisor rules of torch are matched exactly (see module doc)."""
    assert ctx.node is not None
    nd = _ND[ctx.node.target]
    x = _batched(ctx, self, nd)
    window = _Window(ctx, x, nd, kernel_size, stride, padding)
    layer = window.add(ctx, x, "AVERAGE")
    layer.average_count_excludes_padding = not count_include_pad
    y = layer.get_output(0)
    # Without ceil_mode or divisor_override (checked for dynamic spatial dims) the divisors agree.
    factor = None if window.dynamic else _avg_factor(window, count_include_pad, divisor_override)
    if factor is not None:
        rank = len(ctx.shape(y))
        f = ctx.constant(factor.reshape((1,) * (rank - nd) + tuple(window.outs)), ctx.out.dtype)
        y = ctx.elementwise(y, f, "PROD")
    return _restore(ctx, y)


def _bin(o: int, n_in: int, n_out: int) -> tuple[int, int]:
    # torch's adaptive bin o: [floor(o*I/O), ceil((o+1)*I/O)).
    return (o * n_in) // n_out, -(-((o + 1) * n_in) // n_out)


def _averaging_matrix(n_in: int, n_out: int) -> torch.Tensor:
    # Row o averages bin o.
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    for o in range(n_out):
        start, end = _bin(o, n_in, n_out)
        m[o, start:end] = 1.0 / (end - start)
    return m


def _adaptive_sizes(ctx: ConversionContext, x: Any, nd: int) -> tuple[list[int], list[int]]:
    return list(ctx.shape(x)[-nd:]), list(ctx.out.shape[-nd:])


def _adaptive_common(ctx: ConversionContext, x: Any, nd: int, kind: str) -> Any | None:
    """Global reduction (all outputs 1) or pooling (equal bins); None when bins are unequal."""
    ins, outs = _adaptive_sizes(ctx, x, nd)
    rank = len(ctx.shape(x))
    if all(o == 1 for o in outs):
        mask = sum(1 << (rank - 1 - d) for d in range(nd))
        op = ctx.trt.ReduceOperation.AVG if kind == "AVERAGE" else ctx.trt.ReduceOperation.MAX
        return ctx.net.add_reduce(x, op, mask, True).get_output(0)
    if all(i % o == 0 for i, o in zip(ins, outs, strict=True)):
        k = [i // o for i, o in zip(ins, outs, strict=True)]
        layer = ctx.net.add_pooling_nd(x, getattr(ctx.trt.PoolingType, kind), tuple(k))
        layer.stride_nd = tuple(k)
        return layer.get_output(0)
    return None


@converter(*_ADAPTIVE[:4], check=_check_pool, dynamic=True)
def convert_adaptive_avg_pool(ctx: ConversionContext, self: Any, output_size: Sequence[int]) -> Any:
    """Adaptive average pooling: global reduce, equal bins as pooling, else one matmul per dim."""
    assert ctx.node is not None
    nd = _ND[ctx.node.target]
    x = _batched(ctx, self, nd)
    y = _adaptive_common(ctx, x, nd, "AVERAGE")
    if y is None:
        # Unequal bins: multiply each resized dim by a constant bin-averaging matrix (exact).
        y = x
        rank = len(ctx.shape(x))
        none = ctx.trt.MatrixOperation.NONE
        for d, (i, o) in enumerate(zip(*_adaptive_sizes(ctx, x, nd), strict=True)):
            if i == o:
                continue
            axis = rank - nd + d
            a = _averaging_matrix(i, o).reshape((1,) * (rank - 2) + (o, i))
            if axis == rank - 1:  # y @ A^T
                at = ctx.constant(a.transpose(-1, -2), ctx.out.dtype)
                y = ctx.net.add_matrix_multiply(y, none, at, none).get_output(0)
                continue
            # A @ y along `axis`: bring it to position -2 and back.
            perm = list(range(rank))
            perm[axis], perm[rank - 2] = perm[rank - 2], perm[axis]
            moved = y if axis == rank - 2 else ctx.permute(y, perm)
            y = ctx.net.add_matrix_multiply(ctx.constant(a, ctx.out.dtype), none, moved, none)
            y = y.get_output(0)
            y = y if axis == rank - 2 else ctx.permute(y, perm)
    return _restore(ctx, y)


@converter(*_ADAPTIVE_MAX, check=_check_pool, dynamic=True)
def convert_adaptive_max_pool(ctx: ConversionContext, self: Any, output_size: Sequence[int]) -> Any:
    """Adaptive max pooling (indices unused): global reduce, equal bins as pooling, else per
    dim a gather of each bin's cells and a max."""
    assert ctx.node is not None
    nd = _ND[ctx.node.target]
    x = _batched(ctx, self, nd)
    y = _adaptive_common(ctx, x, nd, "MAX")
    if y is None:
        # Max is separable: per resized dim gather (O, K) cells (K = the widest bin; narrower
        # bins repeat their last cell, harmless for a max) and reduce the K axis.
        y = x
        rank = len(ctx.shape(x))
        for d, (i, o) in enumerate(zip(*_adaptive_sizes(ctx, x, nd), strict=True)):
            if i == o:
                continue
            bins = [_bin(j, i, o) for j in range(o)]
            k = max(end - start for start, end in bins)
            idx = torch.tensor([[min(s + j, e - 1) for j in range(k)] for s, e in bins])
            axis = rank - nd + d
            g = ctx.net.add_gather(y, ctx.constant(idx, torch.int32), axis).get_output(0)
            y = ctx.net.add_reduce(g, ctx.trt.ReduceOperation.MAX, 1 << (axis + 1), False)
            y = y.get_output(0)
    return _restore(ctx, y), None
