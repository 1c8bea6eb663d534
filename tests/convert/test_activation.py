"""Activation converters: relu, sigmoid, tanh, gelu, silu, hardtanh/relu6, leaky_relu, elu, and the
decomposed hardsigmoid/hardswish that MobileNetV3 uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from torch_trt import Input
from torch_trt.testing import (
    FnModule,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    ranged,
)

aten = torch.ops.aten
RRELU = aten.rrelu_with_noise_functional.default
f16, bf16, i32, i64 = torch.float16, torch.bfloat16, torch.int32, torch.int64


def r(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A small deterministic tensor spanning the interesting range (floats ~N(0, 9))."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape))
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=g) * 3).to(dtype)
    return torch.randint(-20, 20, shape, generator=g).to(dtype)


# Points where piecewise activations switch branch (hardtanh/relu6/hardsigmoid/hardswish kinks).
KINKS = torch.tensor([-7.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0, 7.0])

Case = tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]
CASES: list[Case] = [
    ("relu", torch.relu, [r(2, 3, 4)], [aten.relu.default]),
    ("relu_fp16", torch.relu, [r(2, 3, dtype=f16)], [aten.relu.default]),
    ("relu_int32", torch.relu, [r(8, dtype=i32)], [aten.relu.default]),
    ("relu_int8", torch.relu, [r(8, dtype=torch.int8)], [aten.relu.default]),
    ("relu_int64", torch.relu, [r(8, dtype=i64)], [aten.relu.default]),
    ("sigmoid", torch.sigmoid, [r(2, 3)], [aten.sigmoid.default]),
    ("sigmoid_fp16", torch.sigmoid, [r(2, 3, dtype=f16)], [aten.sigmoid.default]),
    ("sigmoid_int", torch.sigmoid, [r(6, dtype=i64)], [aten.sigmoid.default]),
    ("tanh", torch.tanh, [r(2, 3)], [aten.tanh.default]),
    ("tanh_bf16", torch.tanh, [r(2, 3, dtype=bf16)], [aten.tanh.default]),
    ("gelu", F.gelu, [r(2, 3, 4)], [aten.gelu.default]),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), [r(2, 3)], [aten.gelu.default]),
    ("gelu_fp16", F.gelu, [r(2, 8, dtype=f16)], [aten.gelu.default]),
    ("silu", F.silu, [r(2, 3, 4)], [aten.silu.default]),
    ("silu_fp16", F.silu, [r(2, 8, dtype=f16)], [aten.silu.default]),
    ("hardtanh", F.hardtanh, [KINKS], [aten.hardtanh.default]),
    ("hardtanh_range", lambda x: F.hardtanh(x, -2.0, 0.5), [KINKS], [aten.hardtanh.default]),
    ("hardtanh_relu6", F.relu6, [KINKS], [aten.hardtanh.default]),
    ("hardtanh_relu6_fp16", F.relu6, [KINKS.half()], [aten.hardtanh.default]),
    ("leaky_relu", F.leaky_relu, [r(2, 3)], [aten.leaky_relu.default]),
    ("leaky_relu_slope", lambda x: F.leaky_relu(x, 0.2), [r(2, 3)], [aten.leaky_relu.default]),
    ("elu", F.elu, [r(2, 3)], [aten.elu.default]),
    ("elu_alpha", lambda x: F.elu(x, alpha=0.5), [r(2, 3)], [aten.elu.default]),
    ("rrelu_eval", lambda x: F.rrelu(x, training=False), [KINKS], [RRELU]),
    ("rrelu_eval_bounds", lambda x: F.rrelu(x, 0.1, 0.6), [r(3, 4)], [RRELU]),
    ("rrelu_module_eval", torch.nn.RReLU(0.2, 0.3), [r(2, 5)], [RRELU]),
    ("rrelu_eval_fp16", lambda x: F.rrelu(x, training=False), [r(3, 4).half()], [RRELU]),
    # Not converted whole: the lowering decomposes these into add/clamp/div/mul.
    ("hardsigmoid", F.hardsigmoid, [KINKS], [aten.clamp.default, aten.div.Tensor]),
    ("hardswish", F.hardswish, [KINKS], [aten.clamp.default, aten.mul.Tensor]),
    ("hardswish_fp16", F.hardswish, [KINKS.half()], [aten.clamp.default]),
    (
        "hardswish_mobilenet_block",
        lambda x: F.hardswish(x) * F.hardsigmoid(x.mean((2, 3), keepdim=True)),
        [r(1, 4, 3, 3)],
        [aten.clamp.default],
    ),
]


@pytest.mark.parametrize(("fn", "inputs", "ops"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]) -> None:
    """The op lands in one engine, the engine builds, and the reference run matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


FALLBACKS: list[tuple[str, Callable[..., Any], list[torch.Tensor], Any, str]] = [
    (
        "rrelu_noise_used",
        lambda x: aten.rrelu_with_noise_functional(x, torch.zeros(2, 3))[1] + 1,
        [r(2, 3)],
        RRELU,
        "rrelu's noise output is used",
    ),
    (
        "selu_scaled_elu",
        F.selu,
        [r(2, 3)],
        aten.elu.default,
        "elu with scale or input_scale != 1 (TensorRT ELU has only alpha)",
    ),
    (
        "hardtanh_int",
        F.hardtanh,
        [r(6, dtype=i32)],
        aten.hardtanh.default,
        "TensorRT activations other than RELU take float32/float16/bfloat16 only",
    ),
]


@pytest.mark.parametrize(
    ("fn", "inputs", "op", "detail"), [c[1:] for c in FALLBACKS], ids=[c[0] for c in FALLBACKS]
)
def test_falls_back(
    fn: Callable[..., Any], inputs: list[torch.Tensor], op: Any, detail: str
) -> None:
    """Unsupported arguments stay in PyTorch with a reason naming the TensorRT limit."""
    check_fallback(FnModule(fn), inputs, op=op, detail=detail)


# --- dynamic shapes ---------------------------------------------------------------------------


BATCH, SEQ = (1, 3, 6), (2, 5, 9)

DYNAMIC_CASES: list[tuple[str, Callable[..., Any], Input, Sequence[Any]]] = [
    ("relu_dyn", F.relu, ranged(BATCH, SEQ), [aten.relu.default]),
    ("relu_dyn_int", F.relu, ranged(BATCH, 4, dtype=i32), [aten.relu.default]),
    ("sigmoid_dyn", torch.sigmoid, ranged(BATCH, SEQ), [aten.sigmoid.default]),
    ("tanh_dyn", torch.tanh, ranged(BATCH, 2, SEQ), [aten.tanh.default]),
    ("rrelu_eval_dyn", lambda x: F.rrelu(x, training=False), ranged(BATCH, SEQ), [RRELU]),
    ("gelu_dyn", F.gelu, ranged(BATCH, SEQ, 4), [aten.gelu.default]),
    (
        "gelu_dyn_tanh_fp16",
        lambda x: F.gelu(x, approximate="tanh"),
        ranged(BATCH, 8, dtype=f16),
        [],
    ),
    ("silu_dyn", F.silu, ranged(BATCH, SEQ), [aten.silu.default]),
    ("hardtanh_dyn", F.relu6, ranged(BATCH, SEQ), [aten.hardtanh.default]),
    ("leaky_relu_dyn", F.leaky_relu, ranged(BATCH, SEQ), [aten.leaky_relu.default]),
    ("elu_dyn", F.elu, ranged(BATCH, SEQ), [aten.elu.default]),
]


@pytest.mark.parametrize(
    ("fn", "spec", "ops"), [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_dynamic(fn: Callable[..., Any], spec: Input, ops: Sequence[Any]) -> None:
    """With dynamic batch/sequence dims the op lands in one engine and matches eager at the
    min, opt and max shapes."""
    check_dynamic_conversion(FnModule(fn), [spec], ops=ops)
