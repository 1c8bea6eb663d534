"""Converters: binning (histc, bucketize, searchsorted).

* ``histc(x, bins, min, max)`` counts the elements in ``[min, max]`` (NaN and values outside are
  skipped) into ``bins`` equal bins. As torch does, an element's bin is
  ``trunc((x - min) * bins / (max - min))`` computed in the input's dtype, with ``x == max`` in
  the last bin. The counts are a one-hot comparison of every element's bin with every bin index,
  summed: ``numel * bins`` booleans, which suits the small histograms of MoE routing. The edges
  must be given (``min < max``): torch derives them from the data when ``min == max``.
* ``bucketize`` / ``searchsorted`` are torch's binary search, unrolled: ``bit_length(M)`` rounds
  over a sequence of length ``M``, each gathering the middle element for every value and moving
  the lower (``!(mid >= v)``, or ``!(mid > v)`` for ``right``) or upper bound. Emulating the
  search itself, not counting boundaries below the value, keeps torch's answers when the
  sequence holds NaN (sorted last), for which the two differ.

Dynamic shapes: the values may have any dynamic dims; a dynamic sequence length is searched
with enough rounds for its upper bound.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.compare import select
from torch_trt.convert.ops.elementwise import FLOATS
from torch_trt.convert.ops.shape import length_bound
from torch_trt.convert.registry import arg_val, converter

aten = torch.ops.aten

_SEARCH_DTYPES = FLOATS | {torch.int8, torch.int32, torch.int64}


# --- histc ------------------------------------------------------------------------------------


def _histc_check(node: fx.Node) -> str | None:
    lo, hi = arg_val(node, "min"), arg_val(node, "max")
    if not isinstance(lo, int | float) or not isinstance(hi, int | float) or not lo < hi:
        return f"histc with min={lo}, max={hi}: the edges must be given with min < max"
    return None


@converter(aten.histc.default, check=_histc_check, dynamic=True)
def convert_histc(
    ctx: ConversionContext, self: Any, bins: int = 100, min: float = 0, max: float = 0
) -> Any:
    """Counts of the elements in ``[min, max]`` per equal-width bin (a one-hot sum)."""
    dtype = ctx.dtype(self)
    x = ctx.reshape(self, (-1, 1))
    lo, hi = (ctx.itensor(float(v), dtype, 2) for v in (min, max))
    scaled = ctx.elementwise(
        ctx.elementwise(x, lo, "SUB"), ctx.itensor(float(bins), dtype, 2), "PROD"
    )
    width = ctx.elementwise(hi, lo, "SUB")
    # In range, the quotient is >= 0, so flooring is torch's truncation.
    pos = ctx.cast(ctx.unary(ctx.elementwise(scaled, width, "DIV"), "FLOOR"), torch.int32)
    pos = ctx.elementwise(pos, ctx.itensor(bins - 1, torch.int32, 2), "MIN")  # x == max
    inside = ctx.elementwise(
        ctx.unary(ctx.elementwise(x, lo, "LESS"), "NOT"),
        ctx.unary(ctx.elementwise(x, hi, "GREATER"), "NOT"),
        "AND",
    )
    inside = ctx.elementwise(inside, ctx.elementwise(x, x, "EQUAL"), "AND")  # NaN is skipped
    bin_ids = ctx.constant(torch.arange(bins, dtype=torch.int32).reshape(1, bins), torch.int32)
    hit = ctx.elementwise(ctx.elementwise(pos, bin_ids, "EQUAL"), inside, "AND")
    counts = ctx.net.add_reduce(
        ctx.cast(hit, torch.int32), ctx.trt.ReduceOperation.SUM, 1, False
    ).get_output(0)
    return ctx.cast(counts, dtype)


# --- bucketize / searchsorted -----------------------------------------------------------------


def _search_check(node: fx.Node) -> str | None:
    seq_name = "boundaries" if "bucketize" in str(node.target) else "sorted_sequence"
    seq = arg_val(node, seq_name)
    values = arg_val(node, "self")
    searchsorted = node.target in (aten.searchsorted.Tensor, aten.searchsorted.Scalar)
    if searchsorted and arg_val(node, "sorter") is not None:
        return "searchsorted with a sorter is not supported"
    for name, t in ((seq_name, seq), ("self", values)):
        if isinstance(t, torch.Tensor) and t.dtype not in _SEARCH_DTYPES:
            return f"{name} of dtype {t.dtype}: TensorRT compares floats and int32/int64"
    if seq.dim() == 0:
        return f"a 0-D {seq_name}"
    bound = length_bound(seq.shape[-1])
    if bound is None:
        return f"{seq_name} of unbounded length {seq.shape[-1]}"
    if seq.dim() > 1 and (not isinstance(values, torch.Tensor) or values.dim() != seq.dim()):
        return f"an N-D {seq_name} needs values of the same rank"
    return None


def _search(ctx: ConversionContext, seq: Any, values: Any, right: bool, rounds: int) -> Any:
    """torch's lower (upper, for ``right``) bound of each value in the last dim of ``seq``, as
    int32, after ``rounds`` halvings; ``values`` matches ``seq``'s rank when ``seq`` is N-D."""
    rank = len(ctx.shape(values))
    size = ctx.cast(ctx.dim(seq, len(ctx.shape(seq)) - 1), torch.int32)
    size = ctx.reshape(size, (1,) * rank)

    def const(v: int) -> Any:
        return ctx.itensor(v, torch.int32, rank)

    start = ctx.elementwise(ctx.cast(values, torch.int32), const(0), "PROD")  # values' shape
    end = ctx.elementwise(start, size, "SUM")
    last = ctx.elementwise(size, const(1), "SUB")
    for _ in range(rounds):
        active = ctx.elementwise(start, end, "LESS")
        half = ctx.elementwise(ctx.elementwise(end, start, "SUB"), const(2), "FLOOR_DIV")
        mid = ctx.elementwise(start, half, "SUM")
        mid_val = _gather(ctx, seq, ctx.elementwise(mid, last, "MIN"), rank)
        # lower bound: stop at mid when mid >= v; upper bound: when mid > v (NaN never stops)
        stop = ctx.elementwise(mid_val, values, "GREATER")
        if not right:
            stop = ctx.elementwise(stop, ctx.elementwise(mid_val, values, "EQUAL"), "OR")
        go = ctx.elementwise(active, ctx.unary(stop, "NOT"), "AND")
        start = select(ctx, go, ctx.elementwise(mid, const(1), "SUM"), start)
        end = select(ctx, ctx.elementwise(active, stop, "AND"), mid, end)
    return start


def _gather(ctx: ConversionContext, seq: Any, at: Any, rank: int) -> Any:
    """``seq[at]`` per value: a plain gather for a 1-D ``seq``, else along its last dim."""
    if len(ctx.shape(seq)) == 1:
        return ctx.net.add_gather(seq, at, 0).get_output(0)
    layer = ctx.net.add_gather_v2(seq, at, ctx.trt.GatherMode.ELEMENT)
    layer.axis = rank - 1
    return layer.get_output(0)


def _binary_search(
    ctx: ConversionContext, seq: Any, values: Any, right: bool, seq_name: str
) -> Any:
    """Cast both to torch's common dtype, search, and give the recorded index dtype."""
    assert ctx.node is not None
    seq_fake = arg_val(ctx.node, seq_name)
    value_fake = arg_val(ctx.node, "self")
    proxy = value_fake if isinstance(value_fake, torch.Tensor) else torch.tensor(value_fake)
    dtype = torch.promote_types(seq_fake.dtype, proxy.dtype)
    dtype = torch.int32 if dtype == torch.int8 else dtype
    seq = ctx.cast(ctx.itensor(seq), dtype)
    values = ctx.cast(ctx.itensor(values, dtype, len(ctx.out.shape)), dtype)
    bound = length_bound(seq_fake.shape[-1])
    assert bound is not None  # the check refuses unbounded lengths
    found = _search(ctx, seq, values, right, bound.bit_length())
    return ctx.cast(found, ctx.out.dtype)


@converter(aten.bucketize.Tensor, aten.bucketize.Scalar, check=_search_check, dynamic=True)
def convert_bucketize(
    ctx: ConversionContext,
    self: Any,
    boundaries: Any,
    *,
    out_int32: bool = False,
    right: bool = False,
) -> Any:
    """The bucket of each value: torch's binary search over ``boundaries``, unrolled."""
    return _binary_search(ctx, boundaries, self, right, "boundaries")


@converter(aten.searchsorted.Tensor, aten.searchsorted.Scalar, check=_search_check, dynamic=True)
def convert_searchsorted(
    ctx: ConversionContext,
    sorted_sequence: Any,
    self: Any,
    *,
    out_int32: bool = False,
    right: bool = False,
    side: str | None = None,
    sorter: Any = None,
) -> Any:
    """Insertion points of ``self`` in (each row of) ``sorted_sequence``; ``side='right'`` is
    ``right=True``."""
    return _binary_search(ctx, sorted_sequence, self, right or side == "right", "sorted_sequence")
