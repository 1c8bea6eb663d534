"""Reference evaluators for layers that make or retype data: constant, identity, cast, shape, fill.

Semantics: TENSORRT_SEMANTICS.md sections IConstantLayer, ICastLayer, IIdentityLayer, IShapeLayer,
IFillLayer, from [OP/Cast], [OP/Fill], [H/FillOperation] and the Python API docstrings.
"""

from __future__ import annotations

from typing import Any

import torch

from torch_trt.runtime.reference.program import (
    LayerRecord,
    ReferenceError,
    current_device,
    dims,
    dtype_from_name,
    dtype_name,
    enum_name,
    evaluator,
    layer_kind,
    weights_tensor,
)

Args = list[torch.Tensor | None]


def need(args: Args, i: int, rec: LayerRecord) -> torch.Tensor:
    """Input ``i`` of ``rec``, which must be set."""
    x = args[i] if i < len(args) else None
    if x is None:
        raise ReferenceError(f"layer {rec.name!r} ({rec.type}): input {i} is not set")
    return x


def optional(args: Args, i: int) -> torch.Tensor | None:
    """Input ``i`` if the layer has it and it is set (a dynamic attribute), else ``None``."""
    return args[i] if i < len(args) else None


def int_list(t: torch.Tensor) -> list[int]:
    """A shape-like tensor (1-D int32/int64 or 0-D) as a list of Python ints."""
    return [int(v) for v in t.reshape(-1).tolist()]


# --- CONSTANT ---------------------------------------------------------------------------------


@layer_kind("CONSTANT", "IConstantLayer")
def read_constant(layer: Any) -> dict[str, Any]:
    """Weights come back flat (numpy, or trt.Weights for bf16); reshape to the layer shape."""
    shape = dims(layer.shape) or ()
    return {"shape": shape, "weights": weights_tensor(layer.weights, shape)}


@evaluator("CONSTANT")
def eval_constant(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    w: torch.Tensor = rec.attrs["weights"]
    return [w.to(current_device())]


# --- IDENTITY, CAST, SHAPE --------------------------------------------------------------------


@layer_kind("IDENTITY", "IIdentityLayer")
def read_identity(layer: Any) -> dict[str, Any]:
    return {}


@evaluator("IDENTITY")
def eval_identity(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    # Strongly typed networks: the output dtype is the input dtype [E]; the record check in
    # program._evaluate catches any network where that is not so.
    return [need(args, 0, rec)]


@layer_kind("CAST", "ICastLayer")
def read_cast(layer: Any) -> dict[str, Any]:
    return {"to_type": dtype_name(layer.to_type)}


@evaluator("CAST")
def eval_cast(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    # Float -> int truncates toward zero: [OP/Cast] shows 1.2->1, 5.6->5, 8.9->8; torch's .to()
    # truncates too. Negative values, NaN, out-of-range values and float -> bool (torch: x != 0)
    # are not documented by TensorRT and are unverified.
    return [need(args, 0, rec).to(dtype_from_name(rec.attrs["to_type"]))]


@layer_kind("SHAPE", "IShapeLayer")
def read_shape(layer: Any) -> dict[str, Any]:
    return {}


@evaluator("SHAPE")
def eval_shape(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    # 1-D int64 of length rank [PY][E].
    x = need(args, 0, rec)
    return [torch.tensor(list(x.shape), dtype=torch.int64, device=x.device)]


# --- FILL -------------------------------------------------------------------------------------


@layer_kind("FILL", "IFillLayer")
def read_fill(layer: Any) -> dict[str, Any]:
    """``shape``/``alpha``/``beta`` are overridden by inputs 0/1/2 when those are set."""
    return {
        "operation": enum_name(layer.operation),
        "shape": dims(layer.shape),
        "alpha": float(layer.alpha),
        "beta": float(layer.beta),
        "to_type": dtype_name(layer.to_type),
    }


@evaluator("FILL")
def eval_fill(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    shape_in = optional(args, 0)
    shape = int_list(shape_in) if shape_in is not None else list(rec.attrs["shape"] or ())
    alpha_in, beta_in = optional(args, 1), optional(args, 2)
    dev = current_device()
    alpha = (
        alpha_in.to(torch.float64).reshape(())
        if alpha_in is not None
        else torch.tensor(rec.attrs["alpha"], dtype=torch.float64, device=dev)
    )
    beta = (
        beta_in.to(torch.float64).reshape(-1)
        if beta_in is not None
        else torch.tensor([rec.attrs["beta"]], dtype=torch.float64, device=dev)
    )
    out_dtype = dtype_from_name(rec.attrs["to_type"])
    op = rec.attrs["operation"]
    if op == "LINSPACE":
        return [_linspace(shape, alpha, beta, rec).to(out_dtype)]
    if op == "RANDOM_UNIFORM":  # uniform on [alpha, beta] [OP/Fill]
        u = torch.rand(shape, dtype=torch.float64, device=dev)
        return [(alpha + u * (beta.reshape(()) - alpha)).to(out_dtype)]
    if op == "RANDOM_NORMAL":  # mean alpha, scale beta [OP/Fill]
        n = torch.randn(shape, dtype=torch.float64, device=dev)
        return [(alpha + n * beta.reshape(())).to(out_dtype)]
    raise ReferenceError(f"layer {rec.name!r}: fill operation {op} is not supported")


def _linspace(
    shape: list[int], alpha: torch.Tensor, beta: torch.Tensor, rec: LayerRecord
) -> torch.Tensor:
    # out[i0..in] = alpha + sum_k beta[k] * i_k [H/FillOperation]; a static beta is one value.
    if beta.numel() != len(shape):
        raise ReferenceError(
            f"layer {rec.name!r}: LINSPACE needs one beta per output dim ({len(shape)}), "
            f"got {beta.numel()}"
        )
    out = alpha.expand(shape).clone()
    for k, n in enumerate(shape):
        idx = torch.arange(n, dtype=torch.float64, device=alpha.device)
        view = [1] * len(shape)
        view[k] = n
        out = out + beta[k] * idx.reshape(view)
    return out
