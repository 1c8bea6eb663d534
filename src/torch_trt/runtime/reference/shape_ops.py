"""Reference evaluators for layers that move data: shuffle, (un)squeeze, concatenation, slice.

Semantics: TENSORRT_SEMANTICS.md sections IShuffleLayer, IConcatenationLayer, ISliceLayer, and the
[PY] docstrings of IShuffleLayer, ISliceLayer, add_squeeze/ISqueezeLayer, IUnsqueezeLayer.
"""

from __future__ import annotations

from typing import Any

import torch

from torch_trt.runtime.reference.data import Args, int_list, need, optional
from torch_trt.runtime.reference.program import (
    LayerRecord,
    ReferenceError,
    dims,
    enum_name,
    evaluator,
    layer_kind,
)

# --- SHUFFLE ----------------------------------------------------------------------------------


@layer_kind("SHUFFLE", "IShuffleLayer")
def read_shuffle(layer: Any) -> dict[str, Any]:
    """Permutations read back as 8-tuples; ``reshape_dims`` is None when unset or dynamic."""
    return {
        "first_transpose": dims(layer.first_transpose),
        "reshape_dims": dims(layer.reshape_dims),
        "second_transpose": dims(layer.second_transpose),
        "zero_is_placeholder": bool(layer.zero_is_placeholder),
    }


def resolve_reshape(
    rec: LayerRecord, src: tuple[int, ...], target: list[int], zero_is_placeholder: bool
) -> list[int]:
    """Resolve 0 (copy the input dim at the same index) and one -1 (inferred) [PY][OP/Shuffle]."""
    out = list(target)
    if zero_is_placeholder:
        for i, d in enumerate(out):
            if d == 0:
                if i >= len(src):
                    raise ReferenceError(f"layer {rec.name!r}: reshape 0 at {i} has no input dim")
                out[i] = src[i]
    if out.count(-1) > 1:
        raise ReferenceError(f"layer {rec.name!r}: reshape {target} has more than one -1")
    if -1 in out:
        known = 1
        for d in out:
            known *= d if d != -1 else 1
        total = 1
        for d in src:
            total *= d
        if known == 0 or total % known:
            raise ReferenceError(f"layer {rec.name!r}: cannot infer -1 reshaping {src} to {target}")
        out[out.index(-1)] = total // known
    return out


@evaluator("SHUFFLE")
def eval_shuffle(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    # second_transpose(reshape(first_transpose(x))) [PY][OP/Shuffle].
    x = need(args, 0, rec)
    first = rec.attrs["first_transpose"]
    y = x.permute(first[: x.dim()]) if first is not None else x
    dyn = optional(args, 1)
    target = int_list(dyn) if dyn is not None else rec.attrs["reshape_dims"]
    if target is not None:
        # Whether zero_is_placeholder applies to input 1 is unverified; we apply it to both, as
        # the [PY] text describes "the reshape dimensions" without distinguishing the source.
        shape = resolve_reshape(rec, tuple(y.shape), list(target), rec.attrs["zero_is_placeholder"])
        y = y.reshape(shape)
    second = rec.attrs["second_transpose"]
    if second is not None:
        y = y.permute(second[: y.dim()])
    return [y]


# --- SQUEEZE / UNSQUEEZE ----------------------------------------------------------------------


def _static_input_shape(layer: Any) -> tuple[int, ...] | None:
    try:
        return dims(layer.get_input(0).shape)
    except RuntimeError:
        return None


@layer_kind("SQUEEZE", "ISqueezeLayer")
def read_squeeze(layer: Any) -> dict[str, Any]:
    """Without an axes input, squeeze removes the dims that are statically 1 in the network."""
    return {"input_shape": _static_input_shape(layer)}


@evaluator("SQUEEZE")
def eval_squeeze(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    x = need(args, 0, rec)
    axes_t = optional(args, 1)
    if axes_t is not None:
        axes = [a % x.dim() if x.dim() else a for a in int_list(axes_t)]
    else:
        static = rec.attrs["input_shape"] or ()
        axes = [i for i, d in enumerate(static) if d == 1]
    for a in axes:
        if x.shape[a] != 1:
            raise ReferenceError(
                f"layer {rec.name!r}: squeeze axis {a} of shape {tuple(x.shape)} is not 1"
            )
    return [x.squeeze(tuple(axes)) if axes else x]


@layer_kind("UNSQUEEZE", "IUnsqueezeLayer")
def read_unsqueeze(layer: Any) -> dict[str, Any]:
    return {}


@evaluator("UNSQUEEZE")
def eval_unsqueeze(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    # Axes index the *output*, in [-r_final, r_final - 1] [PY IUnsqueezeLayer].
    x = need(args, 0, rec)
    raw = int_list(need(args, 1, rec))
    r_final = x.dim() + len(raw)
    y = x
    for a in sorted(a % r_final for a in raw):
        y = y.unsqueeze(a)
    return [y]


# --- CONCATENATION ----------------------------------------------------------------------------


@layer_kind("CONCATENATION", "IConcatenationLayer")
def read_concatenation(layer: Any) -> dict[str, Any]:
    return {"axis": int(layer.axis)}


@evaluator("CONCATENATION")
def eval_concatenation(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    xs = [need(args, i, rec) for i in range(len(args))]
    return [torch.cat(xs, dim=rec.attrs["axis"])]


# --- SLICE ------------------------------------------------------------------------------------


@layer_kind("SLICE", "ISliceLayer")
def read_slice(layer: Any) -> dict[str, Any]:
    """start/shape/stride/axes read None when given as inputs 1/2/3/5 (then evaluate those)."""
    return {
        "start": dims(layer.start),
        "shape": dims(layer.shape),
        "stride": dims(layer.stride),
        "axes": dims(layer.axes),
        "mode": enum_name(layer.mode),
    }


def _slice_param(rec: LayerRecord, args: Args, i: int, key: str) -> list[int]:
    t = optional(args, i)
    if t is not None:
        return int_list(t)
    v = rec.attrs[key]
    if v is None:
        raise ReferenceError(f"layer {rec.name!r}: slice {key} is neither set nor an input")
    return list(v)


def _source_index(mode: str, idx: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Map output coordinates x = y*stride + start to input indices and an in-bounds mask."""
    inside = (idx >= 0) & (idx < d)
    if mode in ("STRICT_BOUNDS", "FILL") or d == 0:
        return idx.clamp(0, max(d - 1, 0)), inside
    if mode == "WRAP":
        return torch.remainder(idx, d), inside | True
    if mode == "CLAMP":
        return idx.clamp(0, d - 1), inside | True
    if mode == "REFLECT":  # c = |x| mod (2d-2); index = 2d-2-c if c >= d else c [OP/Slice]
        period = 2 * d - 2
        if period == 0:
            return torch.zeros_like(idx), inside | True
        c = torch.remainder(idx.abs(), period)
        return torch.where(c >= d, period - c, c), inside | True
    raise KeyError(mode)


@evaluator("SLICE")
def eval_slice(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    x = need(args, 0, rec)
    mode = rec.attrs["mode"]
    if mode not in ("STRICT_BOUNDS", "WRAP", "CLAMP", "FILL", "REFLECT"):
        raise ReferenceError(f"layer {rec.name!r}: slice mode {mode} is not supported")
    start = _slice_param(rec, args, 1, "start")
    size = _slice_param(rec, args, 2, "shape")
    stride = _slice_param(rec, args, 3, "stride")
    axes_t = optional(args, 5)
    axes_v = int_list(axes_t) if axes_t is not None else rec.attrs["axes"]
    axes = [a % x.dim() for a in axes_v] if axes_v is not None else list(range(x.dim()))
    if not len(start) == len(size) == len(stride) == len(axes):
        raise ReferenceError(
            f"layer {rec.name!r}: slice start {start}, size {size}, stride {stride} and axes "
            f"{axes} differ in length"
        )
    y, keep = x, None
    for a, s0, n, st in zip(axes, start, size, stride, strict=True):
        d = x.shape[a]
        idx = s0 + st * torch.arange(n, dtype=torch.int64, device=x.device)
        src, inside = _source_index(mode, idx, d)
        if mode == "STRICT_BOUNDS" and not bool(inside.all()):
            raise ReferenceError(
                f"layer {rec.name!r}: slice reads outside dim {a} of size {d} "
                f"(start {s0}, size {n}, stride {st}) in STRICT_BOUNDS mode"
            )
        y = y.index_select(a, src) if d > 0 else y.new_zeros(_resized(y.shape, a, n))
        view = [1] * x.dim()
        view[a] = n
        m = inside.reshape(view)
        keep = m if keep is None else keep & m
    if mode == "FILL" and keep is not None:
        fill = optional(args, 4)
        # Without input 4 the fill value is presumably 0 ([OP/Slice] says nothing); unverified.
        value = fill.reshape(()).to(y.dtype) if fill is not None else y.new_zeros(())
        y = torch.where(keep, y, value)
    return [y]


def _resized(shape: torch.Size, axis: int, n: int) -> list[int]:
    out = list(shape)
    out[axis] = n
    return out
