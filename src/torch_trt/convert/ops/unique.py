"""Converters: unique values (``torch.unique`` as ``_unique2``) and ``unique_consecutive``.

Both flatten the input, then (``_unique2`` only) sort it with ITopKLayer (so at most 3840
elements, TopK's largest k; see convert/ops/sort.py). An element starts a new group when it
differs from its predecessor; the group starts, compacted with :func:`nonzero.compact`, give the
values (a data-dependent count), ``return_inverse`` is the running group number carried back
through the sort permutation, and ``return_counts`` the distances between consecutive starts.

Limits: ``unique_dim`` and ``unique_consecutive(dim=...)`` (unique rows: a lexicographic sort
that TopK, sorting one key, does not give) stay in PyTorch; so do int8 inputs (see
:func:`nonzero.int8_problem`). NaN: torch keeps every NaN apart and sorts them last; TensorRT's
place for NaN in a sort is undocumented (unverified), so inputs holding NaN may differ.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.nonzero import compact, int8_problem
from torch_trt.convert.ops.reduce import iota
from torch_trt.convert.ops.shape import length_bound, size_of
from torch_trt.convert.ops.sort import MAX_K, topk
from torch_trt.convert.registry import arg_val, converter

aten = torch.ops.aten

_SORTABLE = frozenset(
    {torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool}
)


def _unused_outputs_read(node: fx.Node, given: dict[int, bool]) -> str | None:
    """A read of an output the call did not ask for (torch gives an empty tensor there)."""
    for user in node.users:
        k = user.args[1] if user.target is operator.getitem else None
        if isinstance(k, int) and not given.get(k, True):
            return f"output {k} is read although the call did not ask for it"
    return None


def _unique2_check(node: fx.Node) -> str | None:
    x = arg_val(node, "self")
    bound = length_bound(x.numel())
    if bound is None or bound > MAX_K:
        return f"unique of up to {bound} elements: the sort (TensorRT TopK) takes at most {MAX_K}"
    if x.dtype not in _SORTABLE:
        return int8_problem(x.dtype) or f"unique of {x.dtype} is not supported"
    if isinstance(x.numel(), int) and x.numel() == 0:
        return "unique of an empty tensor is not supported"
    asked = {1: bool(arg_val(node, "return_inverse")), 2: bool(arg_val(node, "return_counts"))}
    return _unused_outputs_read(node, asked)


def _consecutive_check(node: fx.Node) -> str | None:
    x = arg_val(node, "self")
    if arg_val(node, "dim") is not None:
        return "unique_consecutive along a dim (unique rows) is not supported"
    if x.dtype == torch.int8:
        return int8_problem(x.dtype)
    if isinstance(x.numel(), int) and x.numel() == 0:
        return "unique_consecutive of an empty tensor is not supported"
    asked = {1: bool(arg_val(node, "return_inverse")), 2: bool(arg_val(node, "return_counts"))}
    return _unused_outputs_read(node, asked)


def _take(ctx: ConversionContext, data: Any, idx: Any) -> Any:
    return ctx.net.add_gather(data, idx, 0).get_output(0)


def _group_starts(ctx: ConversionContext, s: Any) -> Any:
    """True where ``s[i]`` differs from ``s[i - 1]`` (and at 0): the first of each run."""
    i = iota(ctx, s, 0)
    zero = ctx.itensor(0, torch.int64, 1)
    before = ctx.elementwise(i, ctx.itensor(1, torch.int64, 1), "SUB")
    prev = _take(ctx, s, ctx.elementwise(before, zero, "MAX"))
    same = ctx.elementwise(s, prev, "EQUAL")
    first = ctx.elementwise(i, zero, "EQUAL")
    return ctx.elementwise(ctx.unary(same, "NOT"), first, "OR")


def _counts(ctx: ConversionContext, starts: Any, n: Any) -> Any:
    """Run lengths from the run starts: ``[starts[1:], n] - starts``."""
    ends = ctx.net.add_concatenation([starts, ctx.sym(n)])
    ends.axis = 0
    j = iota(ctx, starts, 0)
    next_start = ctx.elementwise(j, ctx.itensor(1, torch.int64, 1), "SUM")
    after = _take(ctx, ends.get_output(0), next_start)
    return ctx.elementwise(after, starts, "SUB")


def _unique(
    ctx: ConversionContext, self: Any, sort: bool, return_inverse: bool, return_counts: bool
) -> tuple[Any, Any, Any]:
    x = ctx.itensor(self)
    dtype = ctx.dtype(x)
    flat = ctx.reshape(x, (-1,)) if len(ctx.shape(x)) != 1 else x
    n = size_of(ctx, flat, 0)
    order = None
    s = flat
    if sort:  # ascending; topk widens bool itself and gives values back in ``dtype``
        s, order = topk(ctx, flat, n, 0, False)
    new = _group_starts(ctx, ctx.cast(s, torch.int32) if dtype == torch.bool else s)
    starts, _ = compact(ctx, new)
    values = _take(ctx, s, starts)
    inverse = counts = None
    if return_inverse:
        axis = ctx.constant(torch.tensor(0, dtype=torch.int32), torch.int32)
        running = ctx.net.add_cumulative(
            ctx.cast(new, torch.int64), axis, ctx.trt.CumulativeOperation.SUM, False, False
        ).get_output(0)
        group = ctx.elementwise(running, ctx.itensor(1, torch.int64, 1), "SUB")
        if order is not None:  # back to input order: inverse[order[j]] = group[j]
            layer = ctx.net.add_scatter(group, order, group, ctx.trt.ScatterMode.ELEMENT)
            layer.axis = 0
            group = layer.get_output(0)
        inverse = ctx.reshape(group, [size_of(ctx, x, d) for d in range(len(ctx.shape(x)))])
    if return_counts:
        counts = _counts(ctx, starts, n)
    return values, inverse, counts


@converter(aten._unique2.default, check=_unique2_check, dynamic=True)
def convert_unique2(
    ctx: ConversionContext,
    self: Any,
    sorted: bool = True,
    return_inverse: bool = False,
    return_counts: bool = False,
) -> tuple[Any, Any, Any]:
    """``torch.unique(self, sorted, return_inverse, return_counts)`` of the flattened input:
    the values ascending (also for ``sorted=False``, where torch promises no order), each
    element's group and each group's size. Outputs not asked for are not built."""
    return _unique(ctx, self, True, return_inverse, return_counts)


@converter(aten.unique_consecutive.default, check=_consecutive_check, dynamic=True)
def convert_unique_consecutive(
    ctx: ConversionContext,
    self: Any,
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: int | None = None,
) -> tuple[Any, Any, Any]:
    """``torch.unique_consecutive(self)``: the first of each run of equal elements, each
    element's run number and the run lengths (no sort, so no length limit)."""
    return _unique(ctx, self, False, return_inverse, return_counts)
