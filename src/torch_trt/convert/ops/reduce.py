"""Converters: reductions (sum, mean, prod, amax/amin, max/min, argmax/argmin, var, any/all).

One table maps each overload to its ``ReduceOperation``; one generic converter handles the
torch conventions TensorRT lacks: an empty or missing ``dim`` means every dim (TensorRT rejects
an empty axes mask), rank-0 inputs (TensorRT rejects them; reducing a scalar is the identity),
bool inputs (TensorRT reduces no bool: go through int32) and the ``dtype`` argument (torch casts
the input first). Value+index reductions return torch's first index among ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext, normalize_dim
from torch_trt.convert.ops.compare import truth
from torch_trt.convert.registry import arg_val, converter, meta_val

aten = torch.ops.aten

_REDUCE: dict[Any, str] = {
    aten.sum.dim_IntList: "SUM",
    aten.sum.default: "SUM",
    aten.mean.dim: "AVG",
    aten.mean.default: "AVG",
    aten.prod.dim_int: "PROD",
    aten.prod.default: "PROD",
    aten.amax.default: "MAX",
    aten.amin.default: "MIN",
    aten.max.default: "MAX",
    aten.min.default: "MIN",
}


def reduce_dims(dim: int | Sequence[int] | None, rank: int) -> list[int]:
    """Torch ``dim`` as sorted dims in [0, rank): ``None`` and ``[]`` mean every dim."""
    if dim is None:
        return list(range(rank))
    dims = [dim] if isinstance(dim, int) else list(dim)
    if not dims:
        return list(range(rank))
    if rank == 0:
        return []
    return sorted({normalize_dim(d, rank) for d in dims})


def reduce(ctx: ConversionContext, x: Any, op: str, dims: Sequence[int], keepdim: bool) -> Any:
    """An IReduceLayer over ``dims`` (identity for rank-0 input or no dims)."""
    if not dims:
        return x
    mask = sum(1 << d for d in dims)
    layer = ctx.net.add_reduce(x, getattr(ctx.trt.ReduceOperation, op), mask, keepdim)
    return layer.get_output(0)


def _make_reduce(op: str) -> Any:
    def convert(
        ctx: ConversionContext,
        self: Any,
        dim: int | Sequence[int] | None = None,
        keepdim: bool = False,
        *,
        dtype: torch.dtype | None = None,
    ) -> Any:
        out = ctx.out.dtype
        # torch casts to the output dtype first (bool/int sums to int64, the dtype argument);
        # TensorRT reduces no bool, so bool amax/amin go through int32.
        work = torch.int32 if out == torch.bool else out
        x = ctx.cast(self, work)
        y = reduce(ctx, x, op, reduce_dims(dim, len(ctx.shape(x))), keepdim)
        return ctx.cast(y, out)

    convert.__doc__ = f"Reduction with TensorRT's {op}."
    return convert


for _target, _op in _REDUCE.items():
    converter(_target, dynamic=True)(_make_reduce(_op))


# --- value + index reductions ---------------------------------------------------------------


def _values_indices(
    ctx: ConversionContext, self: Any, op: str, dim: int | None, keepdim: bool
) -> tuple[Any, Any]:
    """Values and int64 indices of the max/min along ``dim`` (all dims flattened if None).

    torch returns the index of the *first* extreme value; TensorRT's TopK does not document its
    order among ties (frequent with ints, bools and relu outputs). So: m = reduce(x), then the
    smallest index i with x[i] == m, as min(where(x == m, iota, N)).
    """
    rank = len(ctx.shape(self))
    x = ctx.cast(self, torch.int32) if ctx.dtype(self) == torch.bool else self
    if dim is None or rank == 0:
        x, axis = ctx.reshape(x, (-1,)), 0
    else:
        axis = normalize_dim(dim, rank)
    xrank = len(ctx.shape(x))
    extreme = reduce(ctx, x, op, [axis], True)
    hit = ctx.elementwise(x, extreme, "EQUAL")
    # N (one past the last index) as a (1, ..., 1) int64 tensor, from the run-time size.
    past_end = ctx.reshape(ctx.dim(x, axis), (1,) * xrank)
    hit, positions, past_end = ctx.broadcast(hit, iota(ctx, x, axis), past_end)
    candidates = ctx.net.add_select(hit, positions, past_end).get_output(0)
    indices = reduce(ctx, candidates, "MIN", [axis], True)
    values = ctx.cast(extreme, ctx.dtype(self))
    if dim is None or rank == 0:  # (1,) -> () or, with keepdim, (1,) * rank
        shape = (1,) * rank if keepdim else ()
        return ctx.reshape(values, shape), ctx.reshape(indices, shape)
    if keepdim:
        return values, indices
    return _squeeze(ctx, values, axis), _squeeze(ctx, indices, axis)


def iota(ctx: ConversionContext, x: Any, axis: int) -> Any:
    """0, 1, ..., N-1 along ``axis`` of ``x`` as int64, shaped (1, ..., N, ..., 1)."""
    shape = ctx.shape(x)
    n = shape[axis]
    view = [1] * len(shape)
    if n >= 0:
        view[axis] = n
        return ctx.constant(torch.arange(n).reshape(view), torch.int64)
    # Dynamic N: LINSPACE fill, out[i] = alpha + sum_k beta[k] * i_k, with beta = e_axis.
    view[axis] = ctx.dim(x, axis)
    trt = ctx.trt
    layer = ctx.net.add_fill((0,) * len(shape), trt.FillOperation.LINSPACE, trt.int64)
    layer.set_input(0, ctx.shape_tensor(view))
    layer.set_input(1, ctx.constant(torch.tensor(0), torch.int64))
    beta = torch.zeros(len(shape), dtype=torch.int64)
    beta[axis] = 1
    layer.set_input(2, ctx.constant(beta, torch.int64))
    return layer.get_output(0)


def _squeeze(ctx: ConversionContext, t: Any, axis: int) -> Any:
    """``t`` without its size-1 dim ``axis`` (an ISqueezeLayer: no static shape needed)."""
    return ctx.net.add_squeeze(t, ctx.axes_tensor([axis])).get_output(0)


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _make_values_indices(op: str) -> Any:
    def convert(ctx: ConversionContext, self: Any, dim: int, keepdim: bool = False) -> Any:
        return _values_indices(ctx, self, op, dim, keepdim)

    convert.__doc__ = f"(values, indices) of the {op.lower()} along ``dim``; first index on ties."
    return convert


def _make_arg(op: str) -> Any:
    def convert(
        ctx: ConversionContext, self: Any, dim: int | None = None, keepdim: bool = False
    ) -> Any:
        return _values_indices(ctx, self, op, dim, keepdim)[1]

    convert.__doc__ = f"Index of the first {op.lower()} along ``dim`` (flattened if None)."
    return convert


converter(aten.max.dim, dynamic=True)(_make_values_indices("MAX"))
converter(aten.min.dim, dynamic=True)(_make_values_indices("MIN"))
converter(aten.argmax.default, dynamic=True)(_make_arg("MAX"))
converter(aten.argmin.default, dynamic=True)(_make_arg("MIN"))


# --- variance -------------------------------------------------------------------------------------


def _var_check(node: fx.Node) -> str | None:
    x = meta_val(node.all_input_nodes[0])
    if not x.is_floating_point():
        return f"var of {x.dtype} input"
    correction = arg_val(node, "correction")
    c = 1 if correction is None else correction
    if not isinstance(c, int | float):
        return f"correction={correction!r} is not a number"
    sizes = [x.shape[d] for d in reduce_dims(arg_val(node, "dim"), x.dim())]
    if not all(isinstance(s, int) for s in sizes):
        return None  # a dynamic count: N - c is clamped at 0 at run time, as in torch
    n = _numel(sizes)
    if n - c <= 0:
        return f"correction={correction!r} leaves {n} - {c} <= 0 degrees of freedom"
    return None


@converter(aten.var.correction, check=_var_check, dynamic=True)
def convert_var(
    ctx: ConversionContext,
    self: Any,
    dim: Sequence[int] | None = None,
    *,
    correction: float | None = None,
    keepdim: bool = False,
) -> Any:
    """Σ(x − mean)² / (N − correction) over ``dim`` (correction defaults to 1).

    ``std`` lowers to ``var`` + ``sqrt``, so it needs no converter of its own.
    """
    return _variance(ctx, self, dim, correction, keepdim)[0]


@converter(aten.var_mean.correction, check=_var_check, dynamic=True)
def convert_var_mean(
    ctx: ConversionContext,
    self: Any,
    dim: Sequence[int] | None = None,
    *,
    correction: float | None = None,
    keepdim: bool = False,
) -> tuple[Any, Any]:
    """(variance, mean) over ``dim``, as ``var`` computes them (``std_mean`` adds a sqrt)."""
    return _variance(ctx, self, dim, correction, keepdim)


def _variance(
    ctx: ConversionContext, self: Any, dim: Any, correction: float | None, keepdim: bool
) -> tuple[Any, Any]:
    out = ctx.out.dtype
    # Low-precision inputs: accumulate in fp32 as torch does on CPU.
    work = torch.float32 if out in (torch.float16, torch.bfloat16) else out
    x = ctx.cast(self, work)
    dims = reduce_dims(dim, len(ctx.shape(x)))
    mean = reduce(ctx, x, "AVG", dims, True)
    dev = ctx.elementwise(x, mean, "SUB")
    sq = reduce(ctx, ctx.elementwise(dev, dev, "PROD"), "SUM", dims, keepdim)
    c = 1 if correction is None else correction
    y = ctx.elementwise(sq, _dof(ctx, x, dims, float(c), work), "DIV")
    if not keepdim:
        mean = reduce(ctx, x, "AVG", dims, False)
    return ctx.cast(y, out), ctx.cast(mean, out)


def _dof(ctx: ConversionContext, x: Any, dims: Sequence[int], c: float, dtype: torch.dtype) -> Any:
    """max(N - c, 0) as a rank-0 ``dtype`` tensor, N the number of reduced elements."""
    sizes = [ctx.shape(x)[d] for d in dims]
    if all(s >= 0 for s in sizes):  # static: the check vetted N - c > 0
        return ctx.itensor(float(_numel(sizes) - c), dtype, 0)
    n = ctx.sym(1)
    for d in dims:
        n = ctx.elementwise(n, ctx.dim(x, d), "PROD")
    diff = ctx.elementwise(ctx.cast(n, dtype), ctx.itensor(c, dtype, 1), "SUB")
    free = ctx.elementwise(diff, ctx.itensor(0.0, dtype, 1), "MAX")
    return ctx.reshape(free, ())


# --- any / all --------------------------------------------------------------------------------


def _make_truth_reduce(op: str) -> Any:
    def convert(
        ctx: ConversionContext,
        self: Any,
        dim: int | Sequence[int] | None = None,
        keepdim: bool = False,
    ) -> Any:
        # TensorRT reduces no bool: x != 0 (NaN is true, as in torch) as int32, then MAX (any)
        # or MIN (all) and back to bool.
        x = ctx.cast(truth(ctx, self), torch.int32)
        y = reduce(ctx, x, op, reduce_dims(dim, len(ctx.shape(x))), keepdim)
        return ctx.cast(y, torch.bool)

    convert.__doc__ = f"``{'any' if op == 'MAX' else 'all'}``: a {op} reduction of ``x != 0``."
    return convert


def _bool_out_check(node: fx.Node) -> str | None:
    if meta_val(node).dtype != torch.bool:  # torch keeps uint8 for uint8 inputs
        return f"{node.target} with a {meta_val(node).dtype} result is not supported"
    return None


_TRUTH_REDUCE: dict[Any, str] = {
    aten.any.default: "MAX",
    aten.any.dim: "MAX",
    aten.any.dims: "MAX",
    aten.all.default: "MIN",
    aten.all.dim: "MIN",
    aten.all.dims: "MIN",
}
for _target, _op in _TRUTH_REDUCE.items():
    converter(_target, check=_bool_out_check, dynamic=True)(_make_truth_reduce(_op))
