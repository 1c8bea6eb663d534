"""Test doubles of TensorRT's runtime objects and of the CUDA device queries.

No machine here has a GPU TensorRT can run on, so the GPU path is exercised against these:
``FakeRuntime`` / ``FakeEngine`` / ``FakeContext`` stand in for ``trt.Runtime``,
``ICudaEngine`` and ``IExecutionContext`` (only the members the runtime uses), ``FakeRuntimeConfig``
/ ``FakeRuntimeCache`` for TensorRT-RTX's runtime cache (a run adds a kernel per input shape), and
``FakeCuda`` for :class:`torch_trt.runtime.engine.CudaDevices`. Each records the calls made,
with the CUDA device that was current, so tests assert what the runtime asked for.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator, Mapping, Sequence
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
    """An IExecutionContext: output shapes follow the first input's first dim.

    Outputs named in ``engine.data_dependent`` behave as TensorRT documents data-dependent
    outputs: ``get_tensor_shape`` gives -1 for their first dim; during ``execute_async_v3`` the
    output allocator set for them gets ``reallocate_output_async`` with an upper bound of the
    bytes needed (the whole input's size), the values are written at the address it returned,
    then ``notify_shape`` reports their shape, all before ``execute_async_v3`` returns. Without an
    allocator the launch fails, as TensorRT's does.
    """

    def __init__(self, engine: FakeEngine, config: FakeRuntimeConfig | None = None) -> None:
        self.engine = engine
        self.config = config
        self.calls: list[Call] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.allocators: dict[str, Any] = {}

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        self.calls.append(("set_input_shape", name, shape))
        self.shapes[name] = shape
        return True

    def set_tensor_address(self, name: str, ptr: int) -> bool:
        self.calls.append(("set_tensor_address", name, ptr))
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        shape = next(iter(self.shapes.values()))
        if name in self.engine.data_dependent:
            return (-1, *shape[1:])
        return shape

    def set_output_allocator(self, name: str, allocator: Any) -> bool:
        self.calls.append(("set_output_allocator", name, allocator is not None))
        if allocator is None:
            self.allocators.pop(name, None)
        else:
            self.allocators[name] = allocator
        return True

    def execute_async_v3(self, stream: int) -> bool:
        self.calls.append(("execute_async_v3", stream))
        if self.config is not None and self.config.cache is not None:  # a kernel compiled now
            self.config.cache.kernels.add(f"kernel{next(iter(self.shapes.values()))}")
        for name, values in self.engine.data_dependent.items():
            allocator = self.allocators.get(name)
            if allocator is None:
                return False
            bound = max(values.numel(), 1) * values.element_size() + 64
            # 64: what the CPU tensors standing in for device memory are aligned to.
            address = allocator.reallocate_output_async(name, 0, bound, 64, stream)
            self.calls.append(("reallocate_output_async", name, bound))
            if not address:
                return False
            ctypes.memmove(address, values.data_ptr(), values.numel() * values.element_size())
            allocator.notify_shape(name, tuple(values.shape))
        return True


class FakeEngine:
    """An ICudaEngine with tensors ``x`` (input) and ``output_0`` (output), both float32;
    ``data_dependent`` maps outputs of data-dependent size to the values they come out with."""

    def __init__(
        self,
        device: torch.device | None,
        memory: int,
        context_ok: bool,
        data_dependent: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        self.device = device
        self.device_memory_size_v2 = memory
        self.context_ok = context_ok
        self.data_dependent = dict(data_dependent or {})
        self.contexts: list[FakeContext] = []
        self.num_io_tensors = 2

    def get_tensor_name(self, i: int) -> str:
        return ("x", "output_0")[i]

    def get_tensor_mode(self, name: str) -> Any:
        mode = _trt.load().TensorIOMode
        return mode.INPUT if name == "x" else mode.OUTPUT

    def get_tensor_dtype(self, name: str) -> Any:
        return _trt.load().float32

    def create_execution_context(
        self, config: FakeRuntimeConfig | None = None
    ) -> FakeContext | None:
        if not self.context_ok:
            return None
        self.contexts.append(FakeContext(self, config))
        return self.contexts[-1]

    def create_runtime_config(self) -> FakeRuntimeConfig:
        return FakeRuntimeConfig()


class FakeRuntimeCache:
    """TensorRT-RTX's IRuntimeCache: a set of kernel names; its blob is ``MAGIC`` then the
    names, and ``deserialize`` refuses (returns False) anything else, as the real one does."""

    MAGIC = b"fake-runtime-cache\n"

    def __init__(self) -> None:
        self.kernels: set[str] = set()

    def serialize(self) -> bytes:
        return self.MAGIC + "\n".join(sorted(self.kernels)).encode()

    def deserialize(self, blob: bytes) -> bool:
        blob = bytes(blob)
        if not blob.startswith(self.MAGIC):
            return False
        self.kernels |= {k for k in blob[len(self.MAGIC) :].decode().split("\n") if k}
        return True


class FakeRuntimeConfig:
    """TensorRT-RTX's IRuntimeConfig: makes and holds a runtime cache."""

    def __init__(self) -> None:
        self.cache: FakeRuntimeCache | None = None

    def create_runtime_cache(self) -> FakeRuntimeCache:
        return FakeRuntimeCache()

    def set_runtime_cache(self, cache: FakeRuntimeCache) -> bool:
        self.cache = cache
        return True


class FakeRuntime:
    """trt.Runtime: ``deserialize_cuda_engine`` records the blob and the current device."""

    deserialized: ClassVar[list[FakeEngine]] = []
    memory = 1 << 20
    context_ok = True
    cuda: FakeCuda | None = None
    data_dependent: ClassVar[dict[str, torch.Tensor]] = {}

    def __init__(self, logger: Any) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, blob: bytes) -> FakeEngine | None:
        if blob == b"bad":
            return None
        device = self.cuda.active[-1] if self.cuda and self.cuda.active else None
        engine = FakeEngine(device, self.memory, self.context_ok, self.data_dependent)
        FakeRuntime.deserialized.append(engine)
        return engine
