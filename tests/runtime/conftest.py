"""Shared helper for reference-runtime tests: build a tiny TensorRT network and read it back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from torch_trt import _trt


class TrtNet:
    """A network under construction, the torch values of its inputs, and the weights it holds."""

    def __init__(self) -> None:
        self.trt: Any = _trt.load()
        self.logger = _trt.RecordingLogger()
        self.builder = self.trt.Builder(self.logger.trt_logger)
        self.net = self.builder.create_network(0)
        self.values: list[torch.Tensor] = []
        self.keep: list[Any] = []  # TensorRT weights point into these arrays until the build

    def trt_dtype(self, dtype: torch.dtype) -> Any:
        t = self.trt
        table = {
            torch.float32: t.float32,
            torch.float16: t.float16,
            torch.bfloat16: t.bfloat16,
            torch.int8: t.int8,
            torch.int32: t.int32,
            torch.int64: t.int64,
            torch.bool: t.bool,
        }
        return table[dtype]

    def input(self, value: torch.Tensor, shape: tuple[int, ...] | None = None) -> Any:
        """A network input fed with ``value``; ``shape`` may hold -1 for dynamic dims."""
        self.values.append(value)
        dims = tuple(value.shape) if shape is None else shape
        return self.net.add_input(f"in{len(self.values)}", self.trt_dtype(value.dtype), dims)

    def const(self, value: torch.Tensor | list[Any], dtype: torch.dtype | None = None) -> Any:
        """An IConstantLayer output holding ``value`` (0-d tensors stay rank 0)."""
        t = torch.as_tensor(value, dtype=dtype)
        arr = np.array(t.numpy(), copy=True)
        self.keep.append(arr)
        layer = self.net.add_constant(tuple(t.shape), self.trt.Weights(arr))
        return layer.get_output(0)

    def out(self, item: Any) -> None:
        """Mark a layer's output 0 (or a tensor) as a network output."""
        assert item is not None, "TensorRT refused the layer (add_* returned None)"
        tensor = item.get_output(0) if hasattr(item, "get_output") else item
        self.net.mark_output(tensor)

    def errors(self) -> list[str]:
        """ERRORs TensorRT logged while the network was defined (a refused setter logs one)."""
        return self.logger.take_errors()


@pytest.fixture
def tn() -> TrtNet:
    """A fresh network builder (TensorRT is part of the test install: no skip)."""
    return TrtNet()
