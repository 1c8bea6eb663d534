"""Converters: activations (relu, sigmoid, tanh, gelu, silu, hardtanh, leaky_relu, elu, and
rrelu in eval mode).

Each maps to one ``IActivationLayer`` created with its final type and explicit alpha/beta
(changing ``.type`` afterwards would keep the old type's defaults). Only RELU takes integers in
TensorRT; the others take float32/float16/bfloat16, and integer inputs of ops whose torch result
is a float are cast first. hardsigmoid, hardswish and relu6 reach us already decomposed
(add/clamp/div/mul, or hardtanh(0, 6)); silu is composed as ``x * sigmoid(x)``. ``rrelu`` in
eval mode is deterministic: a leaky relu whose slope is the mean of ``lower`` and ``upper`` (its
noise output is checked unused). Activations are shape-agnostic, so they take dynamic shapes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.ops.elementwise import FLOATS, dtype_check
from torch_trt.convert.registry import arg_val, converter, extra_outputs_used

aten = torch.ops.aten

_FLOAT_WHY = "TensorRT activations other than RELU take float32/float16/bfloat16 only"
_float_check = dtype_check(FLOATS, _FLOAT_WHY)


def _activation(
    ctx: ConversionContext, x: Any, kind: str, alpha: float = 0.0, beta: float = 0.0
) -> Any:
    x = ctx.cast(ctx.itensor(x), ctx.out.dtype)
    layer = ctx.net.add_activation(x, getattr(ctx.trt.ActivationType, kind))
    layer.alpha = alpha
    layer.beta = beta
    return layer.get_output(0)


@converter(
    aten.relu.default,
    check=dtype_check(
        FLOATS | {torch.int8, torch.int32, torch.int64}, "TensorRT RELU refuses bool"
    ),
    dynamic=True,
)
def convert_relu(ctx: ConversionContext, self: Any) -> Any:
    """``max(x, 0)``."""
    return _activation(ctx, self, "RELU")


@converter(aten.sigmoid.default, check=_float_check, dynamic=True)
def convert_sigmoid(ctx: ConversionContext, self: Any) -> Any:
    """``1 / (1 + exp(-x))``."""
    return _activation(ctx, self, "SIGMOID")


@converter(aten.tanh.default, check=_float_check, dynamic=True)
def convert_tanh(ctx: ConversionContext, self: Any) -> Any:
    """``tanh(x)``."""
    return _activation(ctx, self, "TANH")


_GELU = {"none": "GELU_ERF", "tanh": "GELU_TANH"}


def _gelu_check(node: fx.Node) -> str | None:
    approximate = arg_val(node, "approximate")
    if approximate not in _GELU:
        return f"gelu approximate={approximate!r} is not 'none' or 'tanh'"
    return _float_check(node)


@converter(aten.gelu.default, check=_gelu_check, dynamic=True)
def convert_gelu(ctx: ConversionContext, self: Any, *, approximate: str = "none") -> Any:
    """GELU_ERF for ``approximate='none'``, GELU_TANH for ``'tanh'``."""
    return _activation(ctx, self, _GELU[approximate])


@converter(aten.silu.default, check=_float_check, dynamic=True)
def convert_silu(ctx: ConversionContext, self: Any) -> Any:
    """``x * sigmoid(x)``: TensorRT has no SiLU activation."""
    return ctx.elementwise(self, _activation(ctx, self, "SIGMOID"), "PROD")


@converter(aten.hardtanh.default, check=_float_check, dynamic=True)
def convert_hardtanh(
    ctx: ConversionContext, self: Any, min_val: float = -1, max_val: float = 1
) -> Any:
    """CLIP: ``max(min_val, min(max_val, x))`` (``relu6`` is hardtanh(0, 6))."""
    return _activation(ctx, self, "CLIP", float(min_val), float(max_val))


@converter(aten.leaky_relu.default, check=_float_check, dynamic=True)
def convert_leaky_relu(ctx: ConversionContext, self: Any, negative_slope: float = 0.01) -> Any:
    """LEAKY_RELU: ``x >= 0 ? x : negative_slope * x``."""
    return _activation(ctx, self, "LEAKY_RELU", float(negative_slope))


def _elu_check(node: fx.Node) -> str | None:
    if arg_val(node, "scale") != 1 or arg_val(node, "input_scale") != 1:
        return "elu with scale or input_scale != 1 (TensorRT ELU has only alpha)"
    return _float_check(node)


@converter(aten.elu.default, check=_elu_check, dynamic=True)
def convert_elu(
    ctx: ConversionContext, self: Any, alpha: float = 1, scale: float = 1, input_scale: float = 1
) -> Any:
    """ELU: ``x >= 0 ? x : alpha * (exp(x) - 1)``; the check refuses other scales."""
    return _activation(ctx, self, "ELU", float(alpha))


def _rrelu_check(node: fx.Node) -> str | None:
    if arg_val(node, "training"):
        return "rrelu in training mode (random slopes)"
    if extra_outputs_used(node):
        return "rrelu's noise output is used (only the activation converts)"
    for name in ("lower", "upper"):
        if not isinstance(arg_val(node, name), int | float):
            return f"rrelu {name}={arg_val(node, name)!r} is not a number"
    dtype = arg_val(node, "self").dtype
    return None if dtype in FLOATS else f"rrelu on {dtype}: {_FLOAT_WHY}"


@converter(aten.rrelu_with_noise_functional.default, check=_rrelu_check, dynamic=True)
def convert_rrelu_eval(
    ctx: ConversionContext,
    self: Any,
    noise: Any,
    lower: float = 1 / 8,
    upper: float = 1 / 3,
    training: bool = False,
    generator: Any = None,
) -> list[Any]:
    """Eval-mode rrelu: LEAKY_RELU with slope ``(lower + upper) / 2`` (noise output unused)."""
    slope = (float(lower) + float(upper)) / 2
    return [_activation(ctx, self, "LEAKY_RELU", slope), None]
