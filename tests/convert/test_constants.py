"""Constants TensorRT takes only in another form: int8/uint8 values (TensorRT reads int8/uint8
weights as quantized data; they are stored as int32 and cast) and zero-element values (empty
weights of the dtype). Each case: the op lands in one engine, it builds, the reference run
matches eager."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch

from torch_trt import _trt
from torch_trt.convert.context import ConversionContext
from torch_trt.runtime.reference import read_network
from torch_trt.testing import check_conversion

aten = torch.ops.aten
I8 = torch.int8


class _WithBuffer(torch.nn.Module):
    """``fn(x, b)`` with ``b`` a buffer, so it enters the engine as a constant."""

    def __init__(self, buffer: torch.Tensor, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.register_buffer("b", buffer)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> Any:
        return self.fn(x, self.b)


def _x(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(2, 3, generator=torch.Generator().manual_seed(0)).to(dtype)


# (id, buffer, fn(x, b), input, ops that must land in the engine)
CASES: list[tuple[str, torch.Tensor, Callable[..., Any], torch.Tensor, Sequence[Any]]] = [
    (
        "int8_mul",
        torch.tensor([-128, 3, 127], dtype=I8),
        lambda x, b: x * b,
        _x(),
        [aten.mul.Tensor],
    ),
    (
        "int8_where",
        torch.tensor([[-128, 0, 127], [5, -6, 7]], dtype=I8),
        lambda x, b: torch.where(x.to(I8) > 0, b, x.to(I8)),
        _x() * 4,
        [aten.where.self],
    ),
    (
        "int8_cat",
        torch.tensor([[-128, 1, 127]], dtype=I8),
        lambda x, b: torch.cat([x.to(I8), b]),
        _x() * 4,
        [aten.cat.default],
    ),
    (
        "empty_float32_add",
        torch.zeros(0, 3),
        lambda x, b: x[:0] + b,
        _x(),
        [aten.add.Tensor],
    ),
    (
        "empty_bfloat16_add",
        torch.zeros(0, 3, dtype=torch.bfloat16),
        lambda x, b: x[:0] + b,
        _x(torch.bfloat16),
        [aten.add.Tensor],
    ),
    (
        "empty_int64_add",
        torch.zeros(0, 3, dtype=torch.int64),
        lambda x, b: x.long()[:0] + b,
        _x() * 4,
        [aten.add.Tensor],
    ),
    (
        "empty_bool_or",
        torch.zeros(0, 3, dtype=torch.bool),
        lambda x, b: (x > 0)[:0] | b,
        _x(),
        [aten.bitwise_or.Tensor],
    ),
    (
        "empty_int8_where",
        torch.zeros(0, 3, dtype=I8),
        lambda x, b: torch.where((x > 0)[:0], b, x.to(I8)[:0]),
        _x(),
        [aten.where.self],
    ),
]


@pytest.mark.parametrize(
    ("buffer", "fn", "x", "ops"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_constant_in_engine(
    buffer: torch.Tensor, fn: Callable[..., Any], x: torch.Tensor, ops: Sequence[Any]
) -> None:
    """The op using the constant lands in one engine, it builds, the reference run matches."""
    check_conversion(_WithBuffer(buffer, fn), [x], ops=ops)


def _ctx() -> ConversionContext:
    trt = _trt.load()
    logger = _trt.RecordingLogger()
    flag = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return ConversionContext(trt.Builder(logger.trt_logger).create_network(flag), logger)


def _constant_dtypes(ctx: ConversionContext) -> list[str]:
    """The dtype of every constant layer's output, by name."""
    net = ctx.net
    layers = [net.get_layer(i) for i in range(net.num_layers)]
    return [layer.get_output(0).dtype.name for layer in layers if layer.type.name == "CONSTANT"]


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8], ids=str)
@pytest.mark.parametrize("shape", [(4,), (0,)], ids=["values", "empty"])
def test_narrow_constant_is_int32_then_cast(dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    """An int8/uint8 constant is an int32 constant cast back to its dtype: the network builds
    and evaluates to the value. Tested here for uint8: no op takes it from a graph, and TensorRT
    allows uint8 tensors only at the network's boundary, so it is the network's output."""
    ctx = _ctx()
    info = torch.iinfo(dtype)
    value = torch.tensor([info.min, 0, 7, info.max], dtype=dtype)[: shape[0]]
    out = ctx.constant(value, dtype)
    assert ctx.dtype(out) == dtype
    assert _constant_dtypes(ctx) == ["INT32"]
    ctx.net.mark_output(out)
    builder = ctx.trt.Builder(ctx.logger.trt_logger)
    config = builder.create_builder_config()
    assert builder.build_serialized_network(ctx.net, config) is not None, ctx.logger.take_errors()
    (got,) = read_network(ctx.net).run([])
    assert got.dtype == dtype and torch.equal(got, value)


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool]
)
def test_empty_constant_keeps_its_dtype_and_shape(dtype: torch.dtype) -> None:
    """A zero-element constant is empty weights of its own dtype, with its shape."""
    ctx = _ctx()
    out = ctx.constant(torch.zeros(2, 0, 3, dtype=dtype), dtype)
    assert ctx.dtype(out) == dtype and tuple(out.shape) == (2, 0, 3)
    assert ctx.logger.take_errors() == []
