"""ConversionContext keeps networks small and weights uncopied; compile releases each network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_trt
from torch_trt import _trt
from torch_trt.convert.context import ConversionContext
from torch_trt.convert.interpreter import Network
from torch_trt.errors import ConversionError
from torch_trt.testing import FnModule


def _ctx() -> ConversionContext:
    trt = _trt.load()
    logger = _trt.RecordingLogger()
    net = trt.Builder(logger.trt_logger).create_network(
        1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    )
    return ConversionContext(net, logger)


def test_weights_are_views_of_the_torch_tensor() -> None:
    """A contiguous float32 kernel reaches TensorRT without a copy (the layer reads our memory)."""
    ctx = _ctx()
    w = torch.randn(64, 32)
    ctx.net.add_constant(tuple(w.shape), ctx.weights(w, torch.float32))
    layer = ctx.net.get_layer(0)
    layer.__class__ = ctx.trt.IConstantLayer
    assert np.shares_memory(layer.weights, w.numpy())


def test_bf16_weights_are_set_by_role_and_the_side_table_follows() -> None:
    """bf16 host weights go through ``set_weights``: the side table holds them under
    ``<layer>/<role>``, the last set wins (a folded batch norm), and ``weights`` refuses bf16
    with the way to do it (TensorRT could not return them to the reference runtime)."""
    ctx = _ctx()
    x = ctx.net.add_input("x", ctx.trt.bfloat16, (1, 2, 4, 4))
    layer = ctx.net.add_convolution_nd(x, 3, (1, 1), ctx.trt.Weights(ctx.trt.bfloat16), None)
    layer.name = "conv"
    first, second = torch.randn(3, 2, 1, 1), torch.randn(3, 2, 1, 1)
    ctx.set_weights(layer, "kernel", first, torch.bfloat16)
    ctx.set_weights(layer, "kernel", second, torch.bfloat16)
    ctx.set_weights(layer, "bias", torch.randn(3), torch.bfloat16)
    table = ctx.side_weights()
    assert sorted(table) == ["conv/bias", "conv/kernel"]
    assert torch.equal(table["conv/kernel"], second.bfloat16())
    assert layer.kernel.dtype == ctx.trt.bfloat16 and layer.kernel.size == 6
    with pytest.raises(
        ConversionError,
        match=r"network: bf16 host weights must be set with ctx.set_weights\(layer, role",
    ):
        ctx.weights(first, torch.bfloat16)


def test_constants_are_made_once_per_value() -> None:
    """The same tensor, equal small values and equal scalars each give one constant layer."""
    ctx = _ctx()
    big = torch.randn(1000)
    a, b = ctx.tensor_constant(big), ctx.tensor_constant(big)
    c, d = (
        ctx.constant(torch.tensor([1, 2]), torch.int64),
        ctx.constant(torch.tensor([1, 2]), torch.int64),
    )
    e, f = ctx.constant(0.5, torch.float32), ctx.constant(0.5, torch.float32)
    assert a is b and c is d and e is f
    assert ctx.net.num_layers == 3
    # Different values, dtypes or signs stay apart.
    ctx.constant(-0.0, torch.float32)
    ctx.constant(0.5, torch.float16)
    ctx.constant(torch.tensor([1, 3]), torch.int64)
    assert ctx.net.num_layers == 6


def test_identity_reshape_and_permute_add_no_layer() -> None:
    """Reshaping to the same static shape or permuting by the identity adds no layer."""
    ctx = _ctx()
    x = ctx.net.add_input("x", ctx.trt.float32, (2, 3))
    assert ctx.reshape(x, (2, 3)) is x
    assert ctx.reshape(x, (-1, 3)) is x
    assert ctx.permute(x, (0, 1)) is x
    assert ctx.net.num_layers == 0
    ctx.reshape(x, (3, 2))
    assert ctx.net.num_layers == 1


def test_compile_releases_each_network_after_its_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every built region's network (builder, definition, weights) is released once built."""
    released: list[int] = []
    original = Network.release

    def counting(self: Network) -> None:
        released.append(self.layers)
        original(self)
        assert self.net is None and self.builder is None

    monkeypatch.setattr(Network, "release", counting)
    model = FnModule(lambda x: torch.relu(x) + 1)
    compiled = torch_trt.dynamo.compile(model, [torch.randn(2, 3)], min_block_size=1)
    rep = torch_trt.report(compiled)
    assert len(released) == rep.engines == 1
    assert released == [e.layers for e in rep.engine_info]
