"""Test doubles of TensorRT's runtime objects and of the CUDA device queries.

No machine here has a GPU TensorRT can run on, so the GPU path is exercised against these:
``FakeRuntime`` / ``FakeEngine`` / ``FakeContext`` stand in for ``trt.Runtime``,
``ICudaEngine`` and ``IExecutionContext`` (only the members the runtime uses), and
``FakeCuda`` for :class:`torch_trt.runtime.engine.CudaDevices`. Each records the calls made,
with the CUDA device that was current, so tests assert what the runtime asked for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import torch

from torch_trt import _trt
from torch_trt.runtime.engine import CudaDevices

Call = tuple[Any, ...]


class FakeCuda(CudaDevices):
    """CUDA devices ``cuda:0..n-1`` with given compute capabilities and free memory; every
    input tensor is taken to live on ``self.input_device``; allocations are CPU tensors."""

    def __init__(self, capabilities: Sequence[tuple[int, int]], free: int = 8 << 30) -> None:
        self.capabilities = list(capabilities)
        self.free = free
        self.input_device = torch.device("cuda", 0)
        self.active: list[torch.device] = []
        self.calls: list[Call] = []

    def is_available(self) -> bool:
        return bool(self.capabilities)

    def device_of(self, t: torch.Tensor) -> torch.device:
        return self.input_device

    def current(self) -> torch.device:
        return torch.device("cuda", 0)

    def capability(self, device: torch.device) -> tuple[int, int]:
        return self.capabilities[device.index or 0]

    def name(self, device: torch.device) -> str:
        return f"Fake GPU {device.index}"

    def free_bytes(self, device: torch.device) -> int:
        return self.free

    @contextlib.contextmanager
    def use(self, device: torch.device) -> Iterator[None]:
        self.active.append(device)
        try:
            yield
        finally:
            self.active.pop()

    def stream(self, device: torch.device) -> Any:
        class _Stream:
            cuda_stream = 1000 + (device.index or 0)

        return _Stream()

    def empty(self, shape: Sequence[int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        self.calls.append(("empty", tuple(shape), str(device)))
        return torch.empty(tuple(shape), dtype=dtype)

    def keep_until_done(self, t: torch.Tensor, stream: Any) -> None:
        self.calls.append(("keep", stream.cuda_stream))


class FakeContext:
    """An IExecutionContext: output shapes follow the first input's first dim."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.calls: list[Call] = []
        self.shapes: dict[str, tuple[int, ...]] = {}

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        self.calls.append(("set_input_shape", name, shape))
        self.shapes[name] = shape
        return True

    def set_tensor_address(self, name: str, ptr: int) -> bool:
        self.calls.append(("set_tensor_address", name, ptr))
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return next(iter(self.shapes.values()))

    def execute_async_v3(self, stream: int) -> bool:
        self.calls.append(("execute_async_v3", stream))
        return True


class FakeEngine:
    """An ICudaEngine with tensors ``x`` (input) and ``output_0`` (output), both float32."""

    def __init__(self, device: torch.device | None, memory: int, context_ok: bool) -> None:
        self.device = device
        self.device_memory_size_v2 = memory
        self.context_ok = context_ok
        self.contexts: list[FakeContext] = []
        self.num_io_tensors = 2

    def get_tensor_name(self, i: int) -> str:
        return ("x", "output_0")[i]

    def get_tensor_mode(self, name: str) -> Any:
        mode = _trt.load().TensorIOMode
        return mode.INPUT if name == "x" else mode.OUTPUT

    def get_tensor_dtype(self, name: str) -> Any:
        return _trt.load().float32

    def create_execution_context(self) -> FakeContext | None:
        if not self.context_ok:
            return None
        self.contexts.append(FakeContext(self))
        return self.contexts[-1]


class FakeRuntime:
    """trt.Runtime: ``deserialize_cuda_engine`` records the blob and the current device."""

    deserialized: ClassVar[list[FakeEngine]] = []
    memory = 1 << 20
    context_ok = True
    cuda: FakeCuda | None = None

    def __init__(self, logger: Any) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, blob: bytes) -> FakeEngine | None:
        if blob == b"bad":
            return None
        device = self.cuda.active[-1] if self.cuda and self.cuda.active else None
        engine = FakeEngine(device, self.memory, self.context_ok)
        FakeRuntime.deserialized.append(engine)
        return engine
