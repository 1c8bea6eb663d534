"""Reference evaluators for per-element layers: elementwise (binary), unary and activation.

Semantics: TENSORRT_SEMANTICS.md sections IElementWiseLayer, IUnaryLayer, IActivationLayer, from
[OP/ElementWise], [OP/Activation] and the Python API docstrings ([PY]).

Precision policy (docs/precision.md): each layer computes in the dtype the network declares for
it. f16/bf16 unary and activation math is evaluated in float32 and rounded once to that dtype,
which is the correctly rounded result for the arithmetic ops (TensorRT does not document the
internal precision of the transcendental ones). An activation's alpha and beta are rounded to
the tensor's dtype first, as the builder says it does ("precision-lose casting" warnings on f16
and bf16 activations, TensorRT-RTX 1.7.1). Integer inputs of ops that are
defined on reals (RECIP/ERF on int8, int8 activations) go through float32 and are cast back with
truncation; TensorRT's rounding there is **unverified**.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from torch_trt.runtime.reference.data import Args, need
from torch_trt.runtime.reference.program import (
    LayerRecord,
    ReferenceError,
    enum_name,
    evaluator,
    layer_kind,
)

Binary = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Unary = Callable[[torch.Tensor], torch.Tensor]


def _div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.is_floating_point():
        return a / b
    # Integer DIV rounding is not documented ([OP/ElementWise] only gives a/b). We follow
    # onnx/onnx#4016, where an NVIDIA engineer states that TensorRT's kDIV rounds toward zero
    # (-11/3 = -3), i.e. C semantics. Unverified on hardware.
    return torch.div(a, b, rounding_mode="trunc")


def _floor_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # floor(a / b) [OP/ElementWise]; for floats spelled literally rather than with torch's
    # Python-style floor division, which can differ from floor(a/b) by one ulp of rounding.
    if a.is_floating_point():
        return torch.floor(a / b)
    return torch.div(a, b, rounding_mode="floor")


_BINARY: dict[str, Binary] = {
    "SUM": torch.add,
    "PROD": torch.mul,
    "MAX": torch.maximum,
    "MIN": torch.minimum,
    "SUB": torch.sub,
    "DIV": _div,
    "POW": torch.pow,
    "FLOOR_DIV": _floor_div,
    "AND": torch.logical_and,
    "OR": torch.logical_or,
    "XOR": torch.logical_xor,
    "EQUAL": torch.eq,
    "GREATER": torch.gt,
    "LESS": torch.lt,
}


@layer_kind("ELEMENTWISE", "IElementWiseLayer")
def read_elementwise(layer: Any) -> dict[str, Any]:
    return {"op": enum_name(layer.op)}


@evaluator("ELEMENTWISE")
def eval_elementwise(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    a, b = need(args, 0, rec), need(args, 1, rec)
    # No implicit rank broadcasting: ranks must be equal, then size-1 dims broadcast [E][OP].
    if a.dim() != b.dim():
        raise ReferenceError(
            f"layer {rec.name!r}: elementwise operands need equal ranks, got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    op = rec.attrs["op"]
    if op not in _BINARY:
        raise ReferenceError(f"layer {rec.name!r}: elementwise op {op} is not supported")
    return [_BINARY[op](a, b)]


# --- UNARY ------------------------------------------------------------------------------------


def _recip(x: torch.Tensor) -> torch.Tensor:
    return torch.reciprocal(x)


_UNARY: dict[str, Unary] = {
    "EXP": torch.exp,
    "LOG": torch.log,
    "SQRT": torch.sqrt,
    "RECIP": _recip,
    "ABS": torch.abs,
    "NEG": torch.neg,
    "SIN": torch.sin,
    "COS": torch.cos,
    "TAN": torch.tan,
    "SINH": torch.sinh,
    "COSH": torch.cosh,
    "ASIN": torch.asin,
    "ACOS": torch.acos,
    "ATAN": torch.atan,
    "ASINH": torch.asinh,
    "ACOSH": torch.acosh,
    "ATANH": torch.atanh,
    "CEIL": torch.ceil,
    "FLOOR": torch.floor,
    "ERF": torch.erf,
    "NOT": torch.logical_not,
    "SIGN": torch.sign,  # -1 / 0 / 1 [PY]
    "ROUND": torch.round,  # half to even [PY]
    "ISINF": torch.isinf,
    "ISNAN": torch.isnan,
}

# Ops that are exact on integers and bools; the others are computed in float32.
_EXACT = {"ABS", "NEG", "SIGN", "NOT", "ISINF", "ISNAN"}


def in_float32(x: torch.Tensor, fn: Unary) -> torch.Tensor:
    """``fn`` computed in float32 (or the input precision if wider) and cast back to x's dtype."""
    if x.dtype in (torch.float32, torch.float64):
        return fn(x)
    return fn(x.to(torch.float32)).to(x.dtype)


@layer_kind("UNARY", "IUnaryLayer")
def read_unary(layer: Any) -> dict[str, Any]:
    return {"op": enum_name(layer.op)}


@evaluator("UNARY")
def eval_unary(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    x = need(args, 0, rec)
    op = rec.attrs["op"]
    if op not in _UNARY:
        raise ReferenceError(f"layer {rec.name!r}: unary op {op} is not supported")
    fn = _UNARY[op]
    return [fn(x) if op in _EXACT else in_float32(x, fn)]


# --- ACTIVATION -------------------------------------------------------------------------------


def _act(
    kind: str, x: torch.Tensor, a: float, b: float
) -> torch.Tensor:  # formulas: [OP/Activation] and the trt.ActivationType docstring [PY]
    if kind == "RELU":
        return torch.relu(x)
    if kind == "SIGMOID":
        return torch.sigmoid(x)
    if kind == "TANH":
        return torch.tanh(x)
    if kind == "SOFTSIGN":
        return x / (1 + x.abs())
    if kind == "LEAKY_RELU":
        return torch.where(x >= 0, x, a * x)
    if kind == "ELU":
        return torch.where(x >= 0, x, a * (torch.exp(x) - 1))
    if kind == "SELU":
        return torch.where(x > 0, b * x, b * (a * torch.exp(x) - a))
    if kind == "SOFTPLUS":
        return a * torch.log(torch.exp(b * x) + 1)
    if kind == "CLIP":
        return torch.clamp(torch.clamp(x, max=b), min=a)
    if kind == "HARD_SIGMOID":
        return torch.clamp(a * x + b, min=0.0, max=1.0)
    if kind == "SCALED_TANH":
        return a * torch.tanh(b * x)
    if kind == "THRESHOLDED_RELU":
        # [OP/Activation] says max(0, x - alpha); the installed [PY] ActivationType docstring
        # (tensorrt_rtx 1.7.1) says "x if x > alpha, 0 if x <= alpha". We follow [PY], which
        # also matches ONNX ThresholdedRelu. Unverified on hardware.
        return torch.where(x > a, x, torch.zeros_like(x))
    if kind == "GELU_ERF":
        return 0.5 * x * (1 + torch.erf(x * math.sqrt(0.5)))
    if kind == "GELU_TANH":
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (0.044715 * x**3 + x)))
    raise KeyError(kind)


_ACTIVATIONS = frozenset(
    {
        *("RELU", "SIGMOID", "TANH", "SOFTSIGN", "LEAKY_RELU", "ELU", "SELU", "SOFTPLUS"),
        *("CLIP", "HARD_SIGMOID", "SCALED_TANH", "THRESHOLDED_RELU", "GELU_ERF", "GELU_TANH"),
    }
)


@layer_kind("ACTIVATION", "IActivationLayer")
def read_activation(layer: Any) -> dict[str, Any]:
    return {"type": enum_name(layer.type), "alpha": float(layer.alpha), "beta": float(layer.beta)}


@evaluator("ACTIVATION")
def eval_activation(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    x = need(args, 0, rec)
    kind, a, b = rec.attrs["type"], rec.attrs["alpha"], rec.attrs["beta"]
    if kind not in _ACTIVATIONS:
        raise ReferenceError(f"layer {rec.name!r}: activation {kind} is not supported")
    if kind == "RELU" and not x.is_floating_point():
        return [torch.clamp(x, min=0)]  # int32/int64 take RELU only [E]; exact
    if x.dtype in (torch.float16, torch.bfloat16):
        # The builder casts alpha and beta to the tensor type (its "precision-lose casting"
        # warnings); round them the same way.
        a, b = (float(torch.tensor(v, dtype=torch.float32).to(x.dtype)) for v in (a, b))
    return [in_float32(x, lambda t: _act(kind, t, a, b))]
