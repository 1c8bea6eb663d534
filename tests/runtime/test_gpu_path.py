"""The GPU path against test doubles of TensorRT's runtime and of CUDA (tests/runtime/fake_trt.py):
per-device engines, zero-size tensors, out-of-memory and failed deserialization."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
import torch
from fake_trt import FakeCuda, FakeRuntime

import torch_trt
from torch_trt import _trt
from torch_trt.runtime import engine as _engine
from torch_trt.runtime.engine import Binding, EngineMetadata

BLOB = torch.frombuffer(bytearray(b"plan"), dtype=torch.uint8)


def _meta() -> EngineMetadata:
    """An engine x[0..4, 3] -> output_0 of the same shape, built by the installed TensorRT."""
    profile = ((0, 3), (2, 3), (4, 3))
    return EngineMetadata(
        engine_id=uuid.uuid4().hex,
        name="trt_0",
        flavour=_trt.flavour(),
        trt_version=_trt.version(),
        inputs=(Binding("x", "float32", ("s0", 3), profile),),
        outputs=(Binding("output_0", "float32", ("s0", 3)),),
        compute_capabilities=("8.6",),
    )


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCuda]:
    fake = FakeCuda([(8, 6), (8, 6)])
    monkeypatch.setattr(_engine, "cuda", fake)
    monkeypatch.setattr(_engine, "_CACHE", {})
    monkeypatch.setattr(_engine, "_SCRATCH", {})
    monkeypatch.setattr(_trt.load(), "Runtime", FakeRuntime)
    monkeypatch.setattr(FakeRuntime, "deserialized", [])
    monkeypatch.setattr(FakeRuntime, "cuda", fake)
    yield fake


def test_engine_deserialized_and_cached_per_device(cuda: FakeCuda) -> None:
    """One engine called on cuda:1, cuda:1 again, then cuda:0 is deserialized twice, each
    under the device it runs on, and launched on that device's current stream."""
    meta = _meta()
    cuda.input_device = torch.device("cuda", 1)
    _engine.execute(meta, BLOB, [torch.randn(2, 3)])
    _engine.execute(meta, BLOB, [torch.randn(3, 3)])
    cuda.input_device = torch.device("cuda", 0)
    _engine.execute(meta, BLOB, [torch.randn(2, 3)])
    assert [str(e.device) for e in FakeRuntime.deserialized] == ["cuda:1", "cuda:0"]
    on1 = FakeRuntime.deserialized[0].contexts[0]
    launches = [c for c in on1.calls if c[0] == "execute_async_v3"]
    assert launches == [("execute_async_v3", 1001)] * 2
    assert [c for c in on1.calls if c[0] == "set_input_shape"][1] == (
        "set_input_shape",
        "x",
        (3, 3),
    )
    assert ("empty", (3, 3), "cuda:1") in cuda.calls


def test_zero_size_tensors_get_valid_addresses(cuda: FakeCuda) -> None:
    """A zero-size input and output are bound to a non-null scratch address and the call
    returns the empty output."""
    (out,) = _engine.execute(_meta(), BLOB, [torch.randn(0, 3)])
    assert tuple(out.shape) == (0, 3)
    ctx = FakeRuntime.deserialized[0].contexts[0]
    addresses = [c[2] for c in ctx.calls if c[0] == "set_tensor_address"]
    assert len(addresses) == 2 and all(a != 0 for a in addresses)


def test_out_of_memory_is_a_clear_error(cuda: FakeCuda, monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine needing more device memory than is free says how much of each, and where;
    so does TensorRT refusing the execution context."""
    monkeypatch.setattr(FakeRuntime, "memory", 2048 << 20)
    cuda.free = 100 << 20
    with pytest.raises(
        torch_trt.RuntimeUnavailableError,
        match=r"needs 2048.0 MiB of device memory on cuda:0, but only 100.0 MiB are free",
    ):
        _engine.execute(_meta(), BLOB, [torch.randn(2, 3)])
    monkeypatch.setattr(FakeRuntime, "memory", 1 << 20)
    monkeypatch.setattr(FakeRuntime, "context_ok", False)
    with pytest.raises(torch_trt.RuntimeUnavailableError, match="1.0 MiB of device memory"):
        _engine.execute(_meta(), BLOB, [torch.randn(2, 3)])


def test_failed_deserialization_and_unsupported_gpu(cuda: FakeCuda) -> None:
    """A plan TensorRT refuses, and a GPU outside the engine's targets, raise
    RuntimeUnavailableError naming the engine, the device and the reason."""
    bad = torch.frombuffer(bytearray(b"bad"), dtype=torch.uint8)
    with pytest.raises(torch_trt.RuntimeUnavailableError, match="could not load engine trt_0 on"):
        _engine.execute(_meta(), bad, [torch.randn(2, 3)])
    cuda.capabilities = [(9, 0)]
    with pytest.raises(
        torch_trt.RuntimeUnavailableError,
        match=r"compute capabilities 8.6, which does not support compute capability 9.0",
    ):
        _engine.execute(_meta(), BLOB, [torch.randn(2, 3)])
    assert FakeRuntime.deserialized == []


def _dd_meta() -> EngineMetadata:
    """An engine x[0..4, 3] -> output_0 of data-dependent length (``u0`` rows of 3)."""
    meta = _meta()
    return dataclasses.replace(meta, outputs=(Binding("output_0", "float32", ("u0", 3)),))


def test_data_dependent_output_comes_from_the_output_allocator(
    cuda: FakeCuda, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An output TensorRT sizes while running gets an IOutputAllocator instead of an address;
    the result is the memory TensorRT wrote, narrowed to the shape it reported, and the
    allocator is unset once the launch returned."""
    first = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    monkeypatch.setattr(FakeRuntime, "data_dependent", {"output_0": first})
    meta = _dd_meta()
    (out,) = _engine.execute(meta, BLOB, [torch.randn(4, 3)])
    assert torch.equal(out, first)
    ctx = FakeRuntime.deserialized[0].contexts[0]
    assert [c for c in ctx.calls if c[0] == "set_tensor_address"] == [
        c for c in ctx.calls if c[0] == "set_tensor_address" and c[1] == "x"
    ]
    allocation = [c for c in ctx.calls if c[0] in ("set_output_allocator", "execute_async_v3")]
    assert allocation == [
        ("set_output_allocator", "output_0", True),
        ("execute_async_v3", 1000),
        ("set_output_allocator", "output_0", False),
    ]
    # A second call writes new memory: the first result keeps its values.
    FakeRuntime.deserialized[0].data_dependent["output_0"] = torch.full((1, 3), 7.0)
    (again,) = _engine.execute(meta, BLOB, [torch.randn(4, 3)])
    assert tuple(again.shape) == (1, 3) and bool((again == 7).all())
    assert torch.equal(out, first)


def test_data_dependent_output_of_zero_rows(
    cuda: FakeCuda, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No selected element gives a (0, 3) output, not an error."""
    monkeypatch.setattr(FakeRuntime, "data_dependent", {"output_0": torch.zeros(0, 3)})
    (out,) = _engine.execute(_dd_meta(), BLOB, [torch.randn(4, 3)])
    assert tuple(out.shape) == (0, 3) and out.dtype == torch.float32


def test_output_buffer_without_a_shape_is_an_error(cuda: FakeCuda) -> None:
    """If TensorRT never reports the shape, or the memory is misaligned, the call raises naming
    the engine and the output instead of returning garbage."""
    buffer = _engine.OutputBuffer("output_0", torch.float32, torch.device("cuda", 0))
    assert buffer.reallocate(48, 1) != 0
    with pytest.raises(torch_trt.RuntimeUnavailableError, match="output 'output_0'.*shape None"):
        buffer.result("trt_0")
    assert buffer.reallocate(48, 1 << 40) == 0
    buffer.notify_shape((4, 3))
    with pytest.raises(torch_trt.RuntimeUnavailableError, match="not 1099511627776-byte aligned"):
        buffer.result("trt_0")
