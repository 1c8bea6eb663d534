"""Converters: gathering by index (embedding, gather, index_select, advanced indexing).

All of them map onto TensorRT's IGatherLayer: DEFAULT mode (ONNX Gather) for lookups along one
dim, ELEMENT mode (ONNX GatherElements) for ``torch.gather``. TensorRT needs indices in
[0, d); ``x[idx]`` accepts negative ones, so those are wrapped by adding d. IGatherLayer derives
its output shape from the data and index shapes, so dynamic shapes need no extra work except
where sizes enter index arithmetic (advanced indexing), which then uses size tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext, normalize_dim
from torch_trt.convert.ops.nonzero import index_with_mask, int8_problem, mask_index_problem
from torch_trt.convert.ops.shape import size_of
from torch_trt.convert.registry import arg_val, converter

aten = torch.ops.aten

_INDEX_DTYPES = (torch.int32, torch.int64)


def _gather(ctx: ConversionContext, data: Any, idx: Any, axis: int) -> Any:
    """ONNX Gather: ``data.shape[:axis] + idx.shape + data.shape[axis+1:]``."""
    return ctx.net.add_gather(data, idx, axis).get_output(0)


def _index_dtype_problem(value: Any, what: str) -> str | None:
    if isinstance(value, torch.Tensor) and value.dtype not in _INDEX_DTYPES:
        return f"{what} has dtype {value.dtype}; only int32/int64 indices are supported"
    return None


def _data_rank_problem(node: fx.Node, name: str = "self") -> str | None:
    data = arg_val(node, name)
    if isinstance(data, torch.Tensor) and data.dim() == 0:
        return f"{name} is 0-D; TensorRT gathers need rank >= 1"
    return None


def wrap_negative(ctx: ConversionContext, idx: Any, size: Any) -> Any:
    """Indices in [-size, size) mapped to [0, size), as torch does for ``x[idx]``; ``size`` is
    an int or a size tensor."""
    if isinstance(idx, torch.Tensor) and isinstance(size, int):  # a constant: wrap it now
        return ctx.constant(torch.where(idx < 0, idx + size, idx), idx.dtype)
    idx = ctx.itensor(idx)
    dtype = ctx.dtype(idx)
    rank = len(ctx.shape(idx))
    negative = ctx.elementwise(idx, ctx.itensor(0, dtype, rank), "LESS")
    bound = ctx.itensor(size, dtype, rank) if isinstance(size, int) else ctx.cast(size, dtype)
    shifted = ctx.elementwise(idx, bound, "SUM")
    cond, a, b = ctx.broadcast(negative, shifted, idx)
    return ctx.net.add_select(cond, a, b).get_output(0)


# -- embedding, index_select, gather ------------------------------------------------------------
def _embedding_check(node: fx.Node) -> str | None:
    weight = arg_val(node, "weight")
    if isinstance(weight, torch.Tensor) and weight.dim() != 2:
        return f"embedding weight must be 2-D, got {weight.dim()}-D"
    return _index_dtype_problem(arg_val(node, "indices"), "indices")


@converter(aten.embedding.default, check=_embedding_check, dynamic=True)
def convert_embedding(
    ctx: ConversionContext,
    weight: Any,
    indices: Any,
    padding_idx: int = -1,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Any:
    """``weight[indices]``: rows of the table; padding_idx, scale_grad_by_freq and sparse only
    affect gradients."""
    return _gather(ctx, ctx.itensor(weight), ctx.itensor(indices), 0)


def _index_select_check(node: fx.Node) -> str | None:
    return _index_dtype_problem(arg_val(node, "index"), "index") or _data_rank_problem(node)


@converter(aten.index_select.default, check=_index_select_check, dynamic=True)
def convert_index_select(ctx: ConversionContext, self: Any, dim: int, index: Any) -> Any:
    """``self.index_select(dim, index)`` (torch refuses negative indices here)."""
    self = ctx.itensor(self)
    axis = normalize_dim(dim, len(ctx.shape(self)))
    index = ctx.itensor(index)
    if not ctx.shape(index):  # a 0-D index keeps the dim with size 1
        index = ctx.reshape(index, (1,))
    return _gather(ctx, self, index, axis)


def _gather_check(node: fx.Node) -> str | None:
    index, data = arg_val(node, "index"), arg_val(node, "self")
    tensors = isinstance(index, torch.Tensor) and isinstance(data, torch.Tensor)
    if tensors and index.dim() != data.dim():
        return f"index rank {index.dim()} differs from self rank {data.dim()}"
    return _index_dtype_problem(index, "index") or _data_rank_problem(node)


@converter(aten.gather.default, check=_gather_check, dynamic=True)
def convert_gather(
    ctx: ConversionContext, self: Any, dim: int, index: Any, *, sparse_grad: bool = False
) -> Any:
    """``torch.gather(self, dim, index)`` = GatherElements (IGatherLayer ELEMENT mode)."""
    self = ctx.itensor(self)
    layer = ctx.net.add_gather_v2(self, ctx.itensor(index), ctx.trt.GatherMode.ELEMENT)
    layer.axis = normalize_dim(dim, len(ctx.shape(self)))  # TensorRT rejects negative axes
    return layer.get_output(0)


# -- advanced indexing: x[i0, i1, ...] ----------------------------------------------------------
def _index_check(node: fx.Node) -> str | None:
    indices = arg_val(node, "indices")
    vals = [i.meta.get("val") if isinstance(i, fx.Node) else i for i in indices]
    if all(v is None for v in vals):
        return "index without index tensors"
    if any(isinstance(v, torch.Tensor) and v.dtype == torch.bool for v in vals):
        data = arg_val(node, "self")
        return mask_index_problem(indices, data) or int8_problem(data.dtype)
    for k, v in enumerate(vals):
        problem = _index_dtype_problem(v, f"indices[{k}]")
        if problem is not None:
            return problem
    return _data_rank_problem(node)


def _mul(ctx: ConversionContext, a: Any, b: Any) -> Any:
    """The product of two sizes (ints or size tensors), folded when both are ints."""
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    return ctx.elementwise(ctx.sym(a), ctx.sym(b), "PROD")


def _linear_index(ctx: ConversionContext, idx: Sequence[Any], sizes: Sequence[Any]) -> Any:
    """Row-major flat index into dims of ``sizes`` (ints or size tensors) from one
    (broadcasting) index per dim; computed on the host when every index is a constant."""
    if all(isinstance(i, torch.Tensor) for i in idx) and all(isinstance(d, int) for d in sizes):
        host, step = torch.zeros((), dtype=torch.int64), 1
        for i, size in zip(reversed(idx), reversed(sizes), strict=True):
            host, step = host + i.to(torch.int64) * step, step * size
        return ctx.constant(host, torch.int64)
    idx = [ctx.itensor(i) for i in idx]
    flat = ctx.cast(ctx.itensor(idx[-1]), torch.int64)
    stride = sizes[-1]
    for i, size in zip(reversed(idx[:-1]), reversed(sizes[:-1]), strict=True):
        scale = ctx.itensor(stride, torch.int64, 0) if isinstance(stride, int) else stride
        scaled = ctx.elementwise(ctx.cast(i, torch.int64), scale, "PROD")
        flat = ctx.elementwise(flat, scaled, "SUM")
        stride = _mul(ctx, stride, size)
    return flat


def _wrapped(ctx: ConversionContext, idx: Any, size: Any) -> Any:
    """``idx`` with negative entries wrapped: a host tensor when it is a constant of a static
    dim, else an ITensor."""
    if isinstance(idx, torch.Tensor) and isinstance(size, int):
        return torch.where(idx < 0, idx + size, idx)
    return wrap_negative(ctx, idx, size)


@converter(aten.index.Tensor, check=_index_check, dynamic=True, host_args=("indices",))
def convert_index(ctx: ConversionContext, self: Any, indices: Sequence[Any]) -> Any:
    """``self[i0, i1, ...]`` with int index tensors (``None`` = full slice), or one boolean mask
    (``x[mask]``, ``x[:, mask]``: a result of data-dependent size; not int8 data).

    The indexed dims are merged into one and gathered with a flat index. As in torch, when
    the index tensors are not adjacent the broadcast index dims come first in the result:
    permuting the indexed dims to the front gives exactly that. A boolean mask (``x[mask]``)
    selects the True elements instead: a result of data-dependent size (convert/ops/nonzero.py).
    """
    # Constant indices arrive as torch tensors (host_args), the others as ITensors.
    dtypes = [
        i.dtype if isinstance(i, torch.Tensor) else ctx.dtype(i) for i in indices if i is not None
    ]
    if torch.bool in dtypes:
        return index_with_mask(ctx, self, indices)
    self = ctx.itensor(self)
    rank = len(ctx.shape(self))
    dims = [d for d, i in enumerate(indices) if i is not None]
    idx = [_wrapped(ctx, indices[d], size_of(ctx, self, d)) for d in dims]
    if dims != list(range(dims[0], dims[-1] + 1)):
        rest = [d for d in range(rank) if d not in dims]
        self = ctx.permute(self, dims + rest)
        dims = list(range(len(dims)))
    sizes = [size_of(ctx, self, d) for d in range(rank)]
    first, last = dims[0], dims[-1] + 1
    if len(dims) > 1:
        merged = sizes[first]
        for s in sizes[first + 1 : last]:
            merged = _mul(ctx, merged, s)
        self = ctx.reshape(self, (*sizes[:first], merged, *sizes[last:]))
    out = _gather(ctx, self, _linear_index(ctx, idx, sizes[first:last]), first)
    target = tuple(ctx.out.shape)
    if ctx.is_dynamic(out) or ctx.shape(out) == target:
        return out  # the gather already has torch's (broadcast) index shape in place
    return ctx.reshape(out, target)
