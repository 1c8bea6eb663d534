"""Reference evaluators for indexing layers: select, gather, scatter, one-hot.

Semantics: TENSORRT_SEMANTICS.md sections ISelectLayer, IGatherLayer, IScatterLayer, from
[OP/Gather], [OP/Scatter], [H/IGatherLayer], [H/IScatterLayer] and the [PY] docstrings
(IGatherLayer, IOneHotLayer). Indices outside 0 <= i < d are an error in TensorRT
([OP/Gather]); the reference raises ReferenceError for them instead of letting torch wrap them.
"""

from __future__ import annotations

from typing import Any

import torch

from torch_trt.runtime.reference.data import Args, int_list, need
from torch_trt.runtime.reference.program import (
    LayerRecord,
    ReferenceError,
    enum_name,
    evaluator,
    layer_kind,
)


def _checked(rec: LayerRecord, idx: torch.Tensor, d: int, what: str) -> torch.Tensor:
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= d):
        raise ReferenceError(
            f"layer {rec.name!r}: {what} indices must lie in [0, {d}), got "
            f"[{int(idx.min())}, {int(idx.max())}]"
        )
    return idx.to(torch.int64)


# --- SELECT -----------------------------------------------------------------------------------


@layer_kind("SELECT", "ISelectLayer")
def read_select(layer: Any) -> dict[str, Any]:
    return {}


@evaluator("SELECT")
def eval_select(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    cond, a, b = need(args, 0, rec), need(args, 1, rec), need(args, 2, rec)
    if not cond.dim() == a.dim() == b.dim():  # no implicit rank broadcasting [E]
        raise ReferenceError(f"layer {rec.name!r}: select operands need equal ranks")
    return [torch.where(cond, a, b)]


# --- GATHER -----------------------------------------------------------------------------------


@layer_kind("GATHER", "IGatherLayer")
def read_gather(layer: Any) -> dict[str, Any]:
    return {
        "axis": int(layer.axis),
        "mode": enum_name(layer.mode),
        "num_elementwise_dims": int(layer.num_elementwise_dims),
    }


def _gather_default(
    rec: LayerRecord, x: torch.Tensor, idx: torch.Tensor, axis: int
) -> torch.Tensor:
    # ONNX Gather: x.shape[:axis] + idx.shape + x.shape[axis+1:] [OP/Gather][E].
    i = _checked(rec, idx, x.shape[axis], "gather")
    y = x.index_select(axis, i.reshape(-1))
    return y.reshape((*x.shape[:axis], *idx.shape, *x.shape[axis + 1 :]))  # may be 0-D


def _gather_nd(rec: LayerRecord, x: torch.Tensor, idx: torch.Tensor, b: int) -> torch.Tensor:
    # ONNX GatherND with b batch dims: the last idx dim (k) indexes x dims b..b+k-1;
    # out = idx.shape[:-1] + x.shape[b+k:] [OP/Gather][H/IGatherLayer].
    k = idx.shape[-1]
    batch = 1
    for d in x.shape[:b]:
        batch *= d
    xb = x.reshape(batch, *x.shape[b:])
    ib = idx.reshape(batch, -1, k)
    rows = []
    for n in range(batch):
        coords = tuple(_checked(rec, ib[n][:, j], x.shape[b + j], "gather") for j in range(k))
        rows.append(xb[n][coords])
    y = torch.stack(rows) if rows else xb.new_zeros((0, ib.shape[1], *x.shape[b + k :]))
    return y.reshape(*idx.shape[:-1], *x.shape[b + k :])


@evaluator("GATHER")
def eval_gather(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    x, idx = need(args, 0, rec), need(args, 1, rec)
    mode, axis, ne = rec.attrs["mode"], rec.attrs["axis"], rec.attrs["num_elementwise_dims"]
    if mode == "DEFAULT" and ne == 0:
        return [_gather_default(rec, x, idx, axis)]
    if mode == "DEFAULT" and ne == 1:
        # The first idx dim pairs with data dim 0 (a batch) [H/IGatherLayer][E].
        rows = [_gather_default(rec, x[n], idx[n], axis - 1) for n in range(x.shape[0])]
        return [torch.stack(rows)]
    if mode == "ELEMENT":  # ONNX GatherElements = torch.gather; out shape = idx shape [E]
        return [torch.gather(x, axis, _checked(rec, idx, x.shape[axis], "gather"))]
    if mode == "ND":
        return [_gather_nd(rec, x, idx, ne)]
    raise ReferenceError(f"layer {rec.name!r}: gather mode {mode} with {ne} elementwise dims")


# --- SCATTER ----------------------------------------------------------------------------------


@layer_kind("SCATTER", "IScatterLayer")
def read_scatter(layer: Any) -> dict[str, Any]:
    return {"axis": int(layer.axis), "mode": enum_name(layer.mode)}


@evaluator("SCATTER")
def eval_scatter(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    # TensorRT does not say which update wins when indices repeat, and torch leaves it undefined
    # as well. The reference must not pretend to know: the *first* update in row-major order
    # wins, a valid choice that differs from what torch's CPU kernels do (the last one), so a
    # converter whose result depends on it mismatches eager instead of passing by chance.
    data, idx, upd = need(args, 0, rec).contiguous(), need(args, 1, rec), need(args, 2, rec)
    mode, axis = rec.attrs["mode"], rec.attrs["axis"]
    if mode == "ELEMENT":  # ONNX ScatterElements = torch.scatter (src form) [PY][OP/Scatter]
        idx = _checked(rec, idx, data.shape[axis], "scatter")
        coords = list(torch.meshgrid(*(torch.arange(n) for n in idx.shape), indexing="ij"))
        coords[axis] = idx
        target = sum(c * st for c, st in zip(coords, data.stride(), strict=True))
        rows = data.reshape(-1, 1)
        return [_first_wins(rows, torch.as_tensor(target), upd.reshape(-1, 1)).reshape(data.shape)]
    if mode == "ND":  # ONNX ScatterND: out[idx[..., :]] = updates [OP/Scatter]
        k = idx.shape[-1]
        lead = data.shape[:k]
        target = torch.zeros(idx.shape[:-1], dtype=torch.int64)
        for j in range(k):
            target = target * lead[j] + _checked(rec, idx[..., j], lead[j], "scatter")
        rows = data.reshape(-1, *data.shape[k:])
        got = _first_wins(rows, target, upd.reshape(-1, *data.shape[k:]))
        return [got.reshape(data.shape)]
    raise ReferenceError(f"layer {rec.name!r}: scatter mode {mode} is not supported")


def _first_wins(rows: torch.Tensor, target: torch.Tensor, updates: torch.Tensor) -> torch.Tensor:
    """``rows`` with ``rows[target[i]] = updates[i]``; for a repeated target the smallest i."""
    flat = target.reshape(-1)
    order = torch.arange(flat.numel())
    winner = torch.full((rows.shape[0],), flat.numel(), dtype=torch.int64)
    winner = winner.scatter_reduce(0, flat, order, "amin")
    hit = winner < flat.numel()
    out = rows.clone()
    out[hit] = updates[winner[hit]]
    return out


# --- ONE_HOT ----------------------------------------------------------------------------------


@layer_kind("ONE_HOT", "IOneHotLayer")
def read_one_hot(layer: Any) -> dict[str, Any]:
    return {"axis": int(layer.axis)}


@evaluator("ONE_HOT")
def eval_one_hot(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    # output[..., indices[...] at axis, ...] = on_value, off_value elsewhere [PY IOneHotLayer].
    # values = [off, on]; depth is a 0-D int32 build-time constant. Negative or out-of-range
    # indices are not documented; the reference rejects them (unverified in TensorRT).
    idx, values, depth_t = need(args, 0, rec), need(args, 1, rec), need(args, 2, rec)
    depth = int_list(depth_t)[0]
    hot = torch.nn.functional.one_hot(_checked(rec, idx, depth, "one-hot"), depth)
    axis = rec.attrs["axis"] % (idx.dim() + 1)
    hot = hot.movedim(-1, axis).bool()
    off, on = values[0], values[1]
    return [torch.where(hot, on, off)]
