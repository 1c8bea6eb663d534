"""Converters: reductions (sum, mean, prod, amax/amin, max/min, argmax/argmin, var).

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
    converter(_target)(_make_reduce(_op))


# --- value + index reductions ---------------------------------------------------------------


def _values_indices(
    ctx: ConversionContext, self: Any, op: str, dim: int | None, keepdim: bool
) -> tuple[Any, Any]:
    """Values and int64 indices of the max/min along ``dim`` (all dims flattened if None).

    torch returns the index of the *first* extreme value; TensorRT's TopK does not document its
    order among ties (frequent with ints, bools and relu outputs). So: m = reduce(x), then the
    smallest index i with x[i] == m, as min(where(x == m, iota, N)).
    """
    shape = ctx.shape(self)
    x = ctx.cast(self, torch.int32) if ctx.dtype(self) == torch.bool else self
    if dim is None or not shape:
        x, axis = ctx.reshape(x, (_numel(shape),)), 0
    else:
        axis = normalize_dim(dim, len(shape))
    xshape = ctx.shape(x)
    n = xshape[axis]
    extreme = reduce(ctx, x, op, [axis], True)
    hit = ctx.elementwise(x, extreme, "EQUAL")
    iota_shape = [1] * len(xshape)
    iota_shape[axis] = n
    iota = ctx.constant(torch.arange(n).reshape(iota_shape), torch.int64)
    past_end = ctx.constant(torch.full([1] * len(xshape), n), torch.int64)
    hit, iota, past_end = ctx.broadcast(hit, iota, past_end)
    candidates = ctx.net.add_select(hit, iota, past_end).get_output(0)
    indices = reduce(ctx, candidates, "MIN", [axis], True)
    out_shape = tuple(ctx.out.shape)
    values = ctx.cast(extreme, ctx.dtype(self))
    return ctx.reshape(values, out_shape), ctx.reshape(indices, out_shape)


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


converter(aten.max.dim)(_make_values_indices("MAX"))
converter(aten.min.dim)(_make_values_indices("MIN"))
converter(aten.argmax.default)(_make_arg("MAX"))
converter(aten.argmin.default)(_make_arg("MIN"))


# --- variance -------------------------------------------------------------------------------------


def _var_check(node: fx.Node) -> str | None:
    x = meta_val(node.all_input_nodes[0])
    if not x.is_floating_point():
        return f"var of {x.dtype} input"
    dims = reduce_dims(arg_val(node, "dim"), x.dim())
    n = _numel([x.shape[d] for d in dims])
    correction = arg_val(node, "correction")
    c = 1 if correction is None else correction
    if not isinstance(c, int | float) or n - c <= 0:
        return f"correction={correction!r} leaves {n} - {c} <= 0 degrees of freedom"
    return None


@converter(aten.var.correction, check=_var_check)
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
    out = ctx.out.dtype
    # Low-precision inputs: accumulate in fp32 as torch does on CPU.
    work = torch.float32 if out in (torch.float16, torch.bfloat16) else out
    x = ctx.cast(self, work)
    dims = reduce_dims(dim, len(ctx.shape(x)))
    dev = ctx.elementwise(x, reduce(ctx, x, "AVG", dims, True), "SUB")
    sq = reduce(ctx, ctx.elementwise(dev, dev, "PROD"), "SUM", dims, keepdim)
    n = _numel([ctx.shape(x)[d] for d in dims])
    c = 1 if correction is None else correction
    y = ctx.elementwise(sq, ctx.itensor(float(n - c), work, len(ctx.shape(sq))), "DIV")
    return ctx.cast(y, out)
