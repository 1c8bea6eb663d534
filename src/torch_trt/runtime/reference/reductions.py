"""Reference evaluators for reducing layers: reduce, softmax, cumulative, topk.

Semantics: TENSORRT_SEMANTICS.md sections IReduceLayer, ISoftMaxLayer, ICumulativeLayer,
ITopKLayer, from [OP10/Reduce], [OP/Cumulative], [OP/TopK] and the [PY] docstrings. Axis
bitmasks: bit i = dim i. f16/bf16 math accumulates in float32 and rounds once to the layer's
dtype (TensorRT's accumulation precision is not documented: an assumption, docs/precision.md).
"""

from __future__ import annotations

from typing import Any

import torch

from torch_trt.runtime.reference.data import Args, int_list, need, optional
from torch_trt.runtime.reference.program import (
    LayerRecord,
    ReferenceError,
    dtype_from_name,
    dtype_name,
    enum_name,
    evaluator,
    layer_kind,
)


def bits_to_dims(rec: LayerRecord, mask: int, rank: int) -> list[int]:
    """Dims set in an axes bitmask (bit i = dim i); bits at or past the rank are an error."""
    if mask >> rank:
        raise ReferenceError(f"layer {rec.name!r}: axes mask {mask:#b} exceeds rank {rank}")
    return [i for i in range(rank) if mask >> i & 1]


def _wide(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


# --- REDUCE -----------------------------------------------------------------------------------


@layer_kind("REDUCE", "IReduceLayer")
def read_reduce(layer: Any) -> dict[str, Any]:
    return {"op": enum_name(layer.op), "axes": int(layer.axes), "keep_dims": bool(layer.keep_dims)}


@evaluator("REDUCE")
def eval_reduce(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    x = need(args, 0, rec)
    ds = bits_to_dims(rec, rec.attrs["axes"], x.dim())
    keep, op = rec.attrs["keep_dims"], rec.attrs["op"]
    w = _wide(x)
    if op == "SUM":
        y = w.sum(dim=ds, keepdim=keep, dtype=w.dtype)
    elif op == "PROD":
        y = w
        for d in sorted(ds, reverse=True):  # torch.prod takes one dim at a time
            y = y.prod(dim=d, keepdim=keep, dtype=w.dtype)
    elif op == "MAX":
        y = w.amax(dim=ds, keepdim=keep)
    elif op == "MIN":
        y = w.amin(dim=ds, keepdim=keep)
    elif op == "AVG":
        if w.is_floating_point():
            y = w.mean(dim=ds, keepdim=keep)
        else:
            # Integer AVG returns the integer type; its rounding is undocumented. We truncate
            # toward zero (C division); unverified.
            count = 1
            for d in ds:
                count *= x.shape[d]
            s = w.sum(dim=ds, keepdim=keep, dtype=torch.int64)
            y = torch.div(s, count, rounding_mode="trunc")
    else:
        raise ReferenceError(f"layer {rec.name!r}: reduce op {op} is not supported")
    return [y.to(x.dtype)]


# --- SOFTMAX ----------------------------------------------------------------------------------


@layer_kind("SOFTMAX", "ISoftMaxLayer")
def read_softmax(layer: Any) -> dict[str, Any]:
    return {"axes": int(layer.axes)}


@evaluator("SOFTMAX")
def eval_softmax(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    x = need(args, 0, rec)
    ds = bits_to_dims(rec, rec.attrs["axes"], x.dim())
    if len(ds) != 1:
        raise ReferenceError(f"layer {rec.name!r}: softmax needs exactly one axis bit, got {ds}")
    return [torch.softmax(_wide(x), dim=ds[0]).to(x.dtype)]


# --- CUMULATIVE -------------------------------------------------------------------------------


@layer_kind("CUMULATIVE", "ICumulativeLayer")
def read_cumulative(layer: Any) -> dict[str, Any]:
    """The axis is not an attribute: it is the (constant, 0-D) input 1."""
    return {
        "op": enum_name(layer.op),
        "exclusive": bool(layer.exclusive),
        "reverse": bool(layer.reverse),
    }


@evaluator("CUMULATIVE")
def eval_cumulative(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    # y[j] sums 0..j (inclusive forward), j..n-1 (inclusive reverse), 0..j-1 (exclusive
    # forward), j+1..n-1 (exclusive reverse) [PY ICumulativeLayer].
    x = need(args, 0, rec)
    if rec.attrs["op"] != "SUM":
        raise ReferenceError(f"layer {rec.name!r}: cumulative op {rec.attrs['op']} unsupported")
    axis = int_list(need(args, 1, rec))[0] % max(x.dim(), 1)
    w = _wide(x)
    if rec.attrs["reverse"]:
        w = w.flip(axis)
    y = w.cumsum(axis, dtype=w.dtype)
    if rec.attrs["exclusive"]:
        y = _shift_forward(y, axis)
    if rec.attrs["reverse"]:
        y = y.flip(axis)
    return [y.to(x.dtype)]


def _shift_forward(y: torch.Tensor, axis: int) -> torch.Tensor:
    """``y`` moved one place along ``axis`` with a 0 entering: the exclusive sum from the
    inclusive one (not ``y - x``, which rounds differently for floats)."""
    n = y.shape[axis]
    if n == 0:
        return y
    return torch.cat([torch.zeros_like(y.narrow(axis, 0, 1)), y.narrow(axis, 0, n - 1)], axis)


# --- TOPK -------------------------------------------------------------------------------------


@layer_kind("TOPK", "ITopKLayer")
def read_topk(layer: Any) -> dict[str, Any]:
    """``k`` is overridden by input 1 (a 0-D int32 tensor) when that is set."""
    return {
        "op": enum_name(layer.op),
        "k": int(layer.k),
        "axes": int(layer.axes),
        "indices_type": dtype_name(layer.indices_type),
    }


@evaluator("TOPK")
def eval_topk(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    # Outputs: values and indices of the k extreme elements, in order (descending for MAX)
    # [OP/TopK]. The order among equal elements is not documented, so the reference must not
    # pretend to know it: it returns ties last index first, a valid order that torch's CPU
    # kernels (first index first) do not produce, so a converter whose result depends on the
    # tie order shows up as a mismatch against eager instead of passing by coincidence. NaN is
    # ordered above every number, as torch does; TensorRT's NaN order is unverified.
    x = need(args, 0, rec)
    ds = bits_to_dims(rec, rec.attrs["axes"], x.dim())
    if len(ds) != 1:
        raise ReferenceError(f"layer {rec.name!r}: topk needs exactly one axis bit, got {ds}")
    k_in = optional(args, 1)
    k = int_list(k_in)[0] if k_in is not None else rec.attrs["k"]
    largest = {"MAX": True, "MIN": False}.get(rec.attrs["op"])
    if largest is None:
        raise ReferenceError(f"layer {rec.name!r}: topk op {rec.attrs['op']} is not supported")
    axis, n = ds[0], x.shape[ds[0]]
    if not 0 <= k <= n:
        raise ReferenceError(f"layer {rec.name!r}: k={k} outside [0, {n}] (dim {axis})")
    values, idx = last_index_first_sort(x, axis, largest)
    idx = idx.to(dtype_from_name(rec.attrs["indices_type"]))
    return [values.narrow(axis, 0, k), idx.narrow(axis, 0, k)]


def last_index_first_sort(
    x: torch.Tensor, axis: int, descending: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` sorted along ``axis`` with equal elements in descending index order."""
    n = x.shape[axis]
    # A stable sort of the reversed tensor keeps equal elements in reversed input order.
    values, idx = torch.sort(x.flip(axis), dim=axis, descending=descending, stable=True)
    return values, (n - 1) - idx
