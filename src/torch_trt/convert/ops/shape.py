"""Converters: shape manipulation (view, permute, expand, cat, slice, select, split, casts).

With static shapes every view-like op is fully described by the output shape torch recorded
for the node, so reshape-like ops share one converter that reshapes to ``ctx.out.shape``.
Slicing normalizes torch's forgiving indices (None, negative, out of range) to the explicit
in-bounds starts and sizes TensorRT's ISliceLayer needs.

With dynamic shapes the recorded shape holds ``SymInt``s. :func:`resolve_shape` turns them into
size tensors: a symbol is read from the input dim torch recorded it for, and expressions over
symbols (``s0*s1`` after a flatten) are computed with shape arithmetic. Slice bounds that are
only known at run time are clamped with the same arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sympy
import torch
from torch import fx
from torch.utils._sympy.functions import FloorDiv

from torch_trt.convert.context import ConversionContext, normalize_dim
from torch_trt.convert.registry import arg_val, converter, meta_val

aten = torch.ops.aten


# -- shared helpers (also used by the index and creation families) ------------------------------
def layout_problem(node: fx.Node) -> str | None:
    """A reason when ``node`` asks for a non-strided layout (sparse, mkldnn, ...)."""
    layout = arg_val(node, "layout")
    if layout is not None and layout != torch.strided:
        return f"layout {layout} is not supported (TensorRT tensors are dense)"
    return None


def is_static(shape: Sequence[Any]) -> bool:
    """True when every entry is a Python int (no SymInt, no size ITensor)."""
    return all(isinstance(d, int) for d in shape)


def length_bound(n: int | torch.SymInt) -> int | None:
    """A dim's length, or the upper bound of a symbolic one (None when unbounded)."""
    if isinstance(n, int):
        return n
    env = n.node.shape_env
    if env is None:
        return None
    upper = env.bound_sympy(n.node.expr).upper
    return int(upper) if upper.is_finite else None


def resolve_shape(
    ctx: ConversionContext, shape: Sequence[Any], sources: Sequence[str] = ("self",), **tensors: Any
) -> list[Any]:
    """torch sizes (ints and ``SymInt``s) as ints and size ITensors; ``None`` where unknown.

    A symbolic size is read from a dim of a source argument that torch recorded with the same
    expression, or computed from such dims (sums, products, floor divisions). ``sources`` name
    tensor arguments of the current node; ``tensors`` gives their ITensors by the same names.
    """
    assert ctx.node is not None
    known: dict[Any, tuple[Any, int]] = {}
    for name in sources:
        fake = arg_val(ctx.node, name)
        if isinstance(fake, torch.Tensor):
            for i, d in enumerate(fake.shape):
                if isinstance(d, torch.SymInt):
                    known.setdefault(d.node.expr, (tensors[name], i))
    return [d if isinstance(d, int) else _size_of(ctx, d.node.expr, known) for d in shape]


_SIZE_OPS: dict[type, str] = {sympy.Add: "SUM", sympy.Mul: "PROD", FloorDiv: "FLOOR_DIV"}


def _size_of(ctx: ConversionContext, expr: Any, known: dict[Any, tuple[Any, int]]) -> Any:
    if expr in known:
        t, i = known[expr]
        return ctx.dim(t, i)
    if expr.is_Integer:
        return ctx.sym(int(expr))
    op = _SIZE_OPS.get(type(expr))
    if op is None:
        return None
    parts = [_size_of(ctx, a, known) for a in expr.args]
    if any(p is None for p in parts):
        return None
    out = parts[0]
    for p in parts[1:]:
        out = ctx.elementwise(out, p, op)
    return out


def reshape_target(ctx: ConversionContext, dims: Sequence[Any]) -> list[Any]:
    """Resolved dims for a reshape: at most one unknown dim, which becomes -1."""
    if sum(d is None for d in dims) > 1:
        raise ctx.fail(f"cannot express the output shape {tuple(ctx.out.shape)} in sizes")
    return [-1 if d is None else d for d in dims]


def size_of(ctx: ConversionContext, t: Any, i: int) -> Any:
    """Dim ``i`` of ``t``: an int when static, else a size ITensor."""
    d = ctx.shape(t)[i]
    return d if d >= 0 else ctx.dim(t, i)


def slice_static(
    ctx: ConversionContext,
    t: Any,
    start: Sequence[int],
    size: Sequence[int],
    stride: Sequence[int],
) -> Any:
    """An ISliceLayer with static start/size/stride (stride 0 repeats an element)."""
    return ctx.net.add_slice(t, tuple(start), tuple(size), tuple(stride)).get_output(0)


def slice_any(
    ctx: ConversionContext, t: Any, start: Sequence[Any], size: Sequence[Any], stride: Sequence[int]
) -> Any:
    """An ISliceLayer whose start and size may hold size ITensors (set as inputs 1 and 2)."""
    if is_static(start) and is_static(size):
        return slice_static(ctx, t, start, size, stride)
    rank = len(stride)
    layer = ctx.net.add_slice(t, (0,) * rank, (1,) * rank, tuple(stride))
    if is_static(start):
        layer.start = tuple(start)
    else:
        layer.set_input(1, ctx.shape_tensor(start))
    layer.set_input(2, ctx.shape_tensor(size))
    return layer.get_output(0)


def expand_to(ctx: ConversionContext, t: Any, shape: Sequence[Any]) -> Any:
    """``t`` broadcast to ``shape`` (numpy rules): leading 1s, then stride-0 slicing.

    ``shape`` holds ints and size ITensors; -1 keeps the (unsqueezed) input's dim.
    """
    t = ctx.unsqueeze_to(t, len(shape))
    have = ctx.shape(t)
    shape = [
        size_of(ctx, t, i) if isinstance(d, int) and d == -1 else d for i, d in enumerate(shape)
    ]
    if is_static(shape) and have == tuple(shape):
        return t
    # A static 1 broadcasts (stride 0); a dynamic input dim must already have the size.
    stride = [
        0 if h == 1 and not (isinstance(s, int) and s == 1) else 1
        for h, s in zip(have, shape, strict=True)
    ]
    size = [h if st == 1 and h >= 0 else s for h, st, s in zip(have, stride, shape, strict=True)]
    return slice_any(ctx, t, [0] * len(shape), size, stride)


def to_dtype(ctx: ConversionContext, t: Any, dtype: torch.dtype) -> Any:
    """``t.to(dtype)`` with torch's semantics where a bare ICastLayer's are undocumented.

    To bool: ``x != 0`` (torch) rather than a cast. Float to int: truncate toward zero in the
    float type first (sign(x) * floor(|x|)), so the cast only sees integral values; TensorRT
    documents truncation for positive values only.
    """
    src = ctx.dtype(t)
    if src == dtype:
        return t
    rank = len(ctx.shape(t))
    if dtype == torch.bool:
        zero = ctx.itensor(0, src, rank)
        return ctx.unary(ctx.elementwise(t, zero, "EQUAL"), "NOT")
    if src.is_floating_point and not dtype.is_floating_point:
        mag = ctx.unary(ctx.unary(t, "ABS"), "FLOOR")
        t = ctx.elementwise(mag, ctx.unary(t, "SIGN"), "PROD")
    return ctx.cast(t, dtype)


def _slice_bounds(size: int, start: int | None, end: int | None, step: int) -> tuple[int, int]:
    """torch's slice normalization: (first index, element count) for ``x[start:end:step]``."""
    lo = 0 if start is None else start
    hi = size if end is None else end
    lo = min(max(lo + size if lo < 0 else lo, 0), size)
    hi = min(max(hi + size if hi < 0 else hi, 0), size)
    count = max(0, (hi - lo + step - 1) // step)
    return (lo if count else 0), count


def _clamp_bound(ctx: ConversionContext, v: Any, size: Any, default: Any, name: str) -> Any:
    """A slice bound in [0, size] as a size ITensor, torch's way (negative counts from the end)."""
    if v is None:
        return ctx.sym(default)
    if isinstance(v, int):
        if v >= 0:
            return ctx.elementwise(ctx.sym(v), size, "MIN")
        return ctx.elementwise(ctx.elementwise(size, ctx.sym(v), "SUM"), ctx.sym(0), "MAX")
    v = ctx.sym(v)
    low = ctx.elementwise(v, size, "MIN")
    sym = arg_val(ctx.node, name) if ctx.node is not None else None
    if isinstance(sym, torch.SymInt) and sym.node.expr.is_nonnegative:
        return low
    high = ctx.elementwise(ctx.elementwise(size, v, "SUM"), ctx.sym(0), "MAX")
    negative = ctx.elementwise(v, ctx.sym(0), "LESS")
    return ctx.net.add_select(negative, high, low).get_output(0)


def _dynamic_bounds(
    ctx: ConversionContext, t: Any, dim: int, start: Any, end: Any, step: int
) -> tuple[Any, Any]:
    """(first index, element count) as size ITensors when the size or a bound is symbolic."""
    size = ctx.dim(t, dim)
    lo = _clamp_bound(ctx, start, size, 0, "start")
    hi = _clamp_bound(ctx, end, size, size, "end")
    span = ctx.elementwise(ctx.elementwise(hi, lo, "SUB"), ctx.sym(step - 1), "SUM")
    count = ctx.elementwise(ctx.elementwise(span, ctx.sym(step), "FLOOR_DIV"), ctx.sym(0), "MAX")
    if start is None or (isinstance(start, int) and start == 0):
        return 0, count
    # An empty slice may start at ``size``; keep the start in bounds for STRICT_BOUNDS.
    last = ctx.elementwise(ctx.elementwise(size, ctx.sym(1), "SUB"), ctx.sym(0), "MAX")
    return ctx.elementwise(lo, last, "MIN"), count


def _slice_dim(ctx: ConversionContext, t: Any, dim: int, first: Any, count: Any, step: int) -> Any:
    rank = len(ctx.shape(t))
    start = [0] * rank
    size = [size_of(ctx, t, i) for i in range(rank)]
    stride = [1] * rank
    start[dim], size[dim], stride[dim] = first, count, step
    return slice_any(ctx, t, start, size, stride)


# -- view-like ops: the recorded output shape says everything ----------------------------------
_RESHAPE_LIKE = (
    aten.view.default,
    aten._unsafe_view.default,
    aten.reshape.default,
    aten._reshape_copy.default,
    aten.squeeze.default,
    aten.squeeze.dim,
    aten.squeeze.dims,
    aten.unsqueeze.default,
    aten.flatten.using_ints,
)


@converter(*_RESHAPE_LIKE, dynamic=True)
def convert_reshape_like(ctx: ConversionContext, self: Any, **shape_args: Any) -> Any:
    """view/reshape/squeeze/unsqueeze/flatten/_reshape_copy: reshape to the recorded output shape.

    Symbolic output dims come from the size argument (view/reshape) when it holds a size
    tensor there, else from the input's dims; one left unknown is inferred (-1).
    """
    target = tuple(ctx.out.shape)
    if is_static(target):
        return self if ctx.shape(self) == target else ctx.reshape(self, target)
    dims = resolve_shape(ctx, target, self=self)
    given = shape_args.get("size", shape_args.get("shape"))
    if isinstance(given, list | tuple) and len(given) == len(dims):
        dims = [g if not isinstance(g, int) else d for g, d in zip(given, dims, strict=True)]
    return ctx.reshape(self, reshape_target(ctx, dims))


@converter(aten.permute.default, dynamic=True)
def convert_permute(ctx: ConversionContext, self: Any, dims: Sequence[int]) -> Any:
    """``self.permute(dims)`` (negative dims allowed)."""
    rank = len(ctx.shape(self))
    perm = [normalize_dim(d, rank) for d in dims]
    if perm == list(range(rank)):
        return self
    return ctx.permute(self, perm)


@converter(aten.transpose.int, dynamic=True)
def convert_transpose(ctx: ConversionContext, self: Any, dim0: int, dim1: int) -> Any:
    """``self.transpose(dim0, dim1)``."""
    rank = len(ctx.shape(self))
    perm = list(range(rank))
    a, b = normalize_dim(dim0, rank), normalize_dim(dim1, rank)
    perm[a], perm[b] = perm[b], perm[a]
    return self if a == b else ctx.permute(self, perm)


@converter(aten.t.default, dynamic=True)
def convert_t(ctx: ConversionContext, self: Any) -> Any:
    """``self.t()``: rank < 2 is returned as is."""
    return ctx.permute(self, (1, 0)) if len(ctx.shape(self)) == 2 else self


@converter(aten.expand.default, dynamic=True)
def convert_expand(
    ctx: ConversionContext, self: Any, size: Sequence[Any], *, implicit: bool = False
) -> Any:
    """``self.expand(size)`` (-1 keeps a dim); stride-0 slicing repeats size-1 dims."""
    self = ctx.itensor(self)
    target = tuple(ctx.out.shape)
    if is_static(target):
        return expand_to(ctx, self, target)
    return expand_to(ctx, self, list(size))  # size tensors and -1 (keep) pass through


def wrap_slice(ctx: ConversionContext, t: Any, start: Sequence[Any], size: Sequence[Any]) -> Any:
    """A WRAP-mode ISliceLayer: ``out[y] = t[(y + start) mod d]`` per dim [OP/Slice].

    ``start`` and ``size`` hold ints or size ITensors; a negative start reads from the end.
    """
    rank = len(size)
    layer = ctx.net.add_slice(t, (0,) * rank, (1,) * rank, (1,) * rank)
    layer.mode = ctx.trt.SampleMode.WRAP
    if is_static(start):
        layer.start = tuple(start)
    else:
        layer.set_input(1, ctx.shape_tensor(start))
    if is_static(size):
        layer.shape = tuple(size)
    else:
        layer.set_input(2, ctx.shape_tensor(size))
    return layer.get_output(0)


@converter(aten.repeat.default, dynamic=True)
def convert_repeat(ctx: ConversionContext, self: Any, repeats: Sequence[Any]) -> Any:
    """``self.repeat(repeats)``: one WRAP-mode slice of size ``repeats * shape`` from 0."""
    x = ctx.itensor(self)
    if not repeats:
        return x
    x = ctx.unsqueeze_to(x, len(repeats))
    sizes: list[Any] = []
    for i, r in enumerate(repeats):
        d = size_of(ctx, x, i)
        if isinstance(d, int) and isinstance(r, int):
            sizes.append(d * r)
        else:
            sizes.append(ctx.elementwise(ctx.sym(d), ctx.sym(r), "PROD"))
    return wrap_slice(ctx, x, [0] * len(repeats), sizes)


# -- concatenation ------------------------------------------------------------------------------
@converter(aten.cat.default, dynamic=True, host_args=("tensors",))
def convert_cat(ctx: ConversionContext, tensors: Sequence[Any], dim: int = 0) -> Any:
    """``torch.cat(tensors, dim)``: inputs cast to the promoted output dtype; empty constant
    inputs (which add nothing) are dropped."""
    out = ctx.out
    rank = out.dim()
    tensors = [t for t in tensors if not (isinstance(t, torch.Tensor) and t.numel() == 0)]
    if not tensors:
        raise ctx.fail("every input of cat is an empty constant")
    parts = [ctx.tensor_constant(t) if isinstance(t, torch.Tensor) else t for t in tensors]
    # torch skips legacy empty 1-D (0,) inputs whatever the other ranks are.
    parts = [p for p in parts if rank == 1 or ctx.shape(p) != (0,)]
    parts = [to_dtype(ctx, p, out.dtype) for p in parts]
    if len(parts) == 1:
        return parts[0]
    layer = ctx.net.add_concatenation(parts)
    layer.axis = normalize_dim(dim, rank)  # TensorRT rejects negative axes
    return layer.get_output(0)


# -- slicing ------------------------------------------------------------------------------------
def _slice_check(node: fx.Node) -> str | None:
    if isinstance(arg_val(node, "step"), torch.SymInt):
        return "a slice step computed in the graph is not supported"
    return None


@converter(aten.slice.Tensor, check=_slice_check, dynamic=True)
def convert_slice(
    ctx: ConversionContext,
    self: Any,
    dim: int = 0,
    start: Any = None,
    end: Any = None,
    step: int = 1,
) -> Any:
    """``self[start:end:step]`` along ``dim``, with torch's clamping of out-of-range bounds.

    Bounds that are size tensors, or a dynamic dim, clamp with shape arithmetic at run time.
    """
    self = ctx.itensor(self)
    shape = ctx.shape(self)
    d = normalize_dim(dim, len(shape))
    if shape[d] >= 0 and all(v is None or isinstance(v, int) for v in (start, end)):
        first, count = _slice_bounds(shape[d], start, end, step)
        if (first, count, step) == (0, shape[d], 1):
            return self
        return _slice_dim(ctx, self, d, first, count, step)
    if start in (None, 0) and end is None and step == 1:
        return self
    first_t, count_t = _dynamic_bounds(ctx, self, d, start, end, step)
    known = ctx.out.shape[d]
    if isinstance(known, int):  # torch proved the length (x[:, :1]): keep it static
        count_t = known
    return _slice_dim(ctx, self, d, first_t, count_t, step)


@converter(aten.select.int, dynamic=True)
def convert_select(ctx: ConversionContext, self: Any, dim: int, index: Any) -> Any:
    """``self.select(dim, index)`` (negative index counts from the end; the index may be a size
    computed in the graph)."""
    self = ctx.itensor(self)
    shape = ctx.shape(self)
    d = normalize_dim(dim, len(shape))
    if not isinstance(index, int):  # a size tensor: wrap (index mod size) at run time
        size = ctx.dim(self, d)
        wraps = ctx.elementwise(ctx.elementwise(index, size, "FLOOR_DIV"), size, "PROD")
        at = ctx.reshape(ctx.elementwise(ctx.sym(index), wraps, "SUB"), ())
        return ctx.net.add_gather(self, at, d).get_output(0)
    if shape[d] >= 0 and not -shape[d] <= index < shape[d]:
        raise ctx.fail(f"index {index} out of range for dim {d} of size {shape[d]}")
    if not ctx.is_dynamic(self):
        t = _slice_dim(ctx, self, d, index % shape[d], 1, 1)
        return ctx.reshape(t, tuple(ctx.out.shape))
    # A 0-D gather index drops the dim, whatever the other (dynamic) dims are.
    if index >= 0 or shape[d] >= 0:
        at = ctx.constant(torch.tensor(index % shape[d] if shape[d] >= 0 else index), torch.int64)
    else:
        at = ctx.reshape(ctx.elementwise(ctx.dim(self, d), ctx.sym(index), "SUM"), ())
    return ctx.net.add_gather(self, at, d).get_output(0)


def _unbind_check(node: fx.Node) -> str | None:
    data = arg_val(node, "self")
    if isinstance(data, torch.Tensor) and data.dim() > 0:
        d = normalize_dim(arg_val(node, "dim"), data.dim())
        if not isinstance(data.shape[d], int):
            return f"unbind dim {d} is dynamic ({data.shape[d]}): the output count would be too"
    return None


def _split(ctx: ConversionContext, self: Any, sizes: Sequence[Any], dim: int) -> list[Any]:
    """One slice per size (ints or size tensors) along ``dim``, in order."""
    d = normalize_dim(dim, len(ctx.shape(self)))
    parts: list[Any] = []
    first: Any = 0
    for n in sizes:
        start = 0 if isinstance(n, int) and n == 0 else first  # keep an empty piece in bounds
        parts.append(_slice_dim(ctx, self, d, start, n, 1))
        if isinstance(first, int) and isinstance(n, int):
            first += n
        else:
            first = ctx.elementwise(ctx.sym(first), ctx.sym(n), "SUM")
    return parts


@converter(aten.split_with_sizes.default, dynamic=True)
def convert_split_with_sizes(
    ctx: ConversionContext, self: Any, split_sizes: Sequence[Any], dim: int = 0
) -> list[Any]:
    """``self.split([n0, n1, ...], dim)``: one slice per output (sizes may be symbolic)."""
    return _split(ctx, ctx.itensor(self), split_sizes, dim)


@converter(aten.split.Tensor, dynamic=True)
def convert_split(ctx: ConversionContext, self: Any, split_size: int, dim: int = 0) -> list[Any]:
    """``self.split(split_size, dim)``: the last piece may be shorter (on a dynamic dim its
    length is the run-time size minus the others)."""
    x = ctx.itensor(self)
    d = normalize_dim(dim, len(ctx.shape(x)))
    count = len(_outs(ctx))
    if ctx.shape(x)[d] >= 0:
        return _split(ctx, x, [int(o.shape[d]) for o in _outs(ctx)], d)
    rest = ctx.elementwise(ctx.dim(x, d), ctx.sym(split_size * (count - 1)), "SUB")
    return _split(ctx, x, [split_size] * (count - 1) + [rest], d)


@converter(aten.unbind.int, check=_unbind_check, dynamic=True)
def convert_unbind(ctx: ConversionContext, self: Any, dim: int = 0) -> list[Any]:
    """``self.unbind(dim)``: one 0-D-index gather per index, which drops the dim."""
    self = ctx.itensor(self)
    d = normalize_dim(dim, len(ctx.shape(self)))
    return [
        ctx.net.add_gather(self, ctx.constant(torch.tensor(i), torch.int64), d).get_output(0)
        for i in range(len(_outs(ctx)))
    ]


def _outs(ctx: ConversionContext) -> list[torch.Tensor]:
    assert ctx.node is not None
    return list(ctx.node.meta["val"])


# -- copies and casts ---------------------------------------------------------------------------
@converter(aten.clone.default, dynamic=True)
def convert_clone(ctx: ConversionContext, self: Any, *, memory_format: Any = None) -> Any:
    """``self.clone()``: a value copy; memory_format only changes strides, not values."""
    return ctx.itensor(self)


def _to_copy_check(node: fx.Node) -> str | None:
    src = meta_val(node.all_input_nodes[0]) if node.all_input_nodes else None
    device = arg_val(node, "device")
    if device is not None and src is not None:
        to = torch.device(device)
        same_index = to.index is None or src.device.index is None or to.index == src.device.index
        if to.type != src.device.type or not same_index:
            return f"device change {src.device} -> {to} stays in PyTorch"
    return layout_problem(node)


@converter(aten._to_copy.default, check=_to_copy_check, dynamic=True)
def convert_to_copy(
    ctx: ConversionContext,
    self: Any,
    *,
    dtype: torch.dtype | None = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool | None = None,
    non_blocking: bool = False,
    memory_format: Any = None,
) -> Any:
    """``self.to(dtype)``; device and layout changes are refused by the check."""
    return to_dtype(ctx, ctx.itensor(self), ctx.out.dtype)
