"""The GPU path for engines that write an input in place (IKVCacheUpdateLayer): the aliased
output is bound to the input's address, a functional call works on a counted copy, and the
metadata's aliases must match the engine's (tests/runtime/fake_trt.py doubles)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import torch
from fake_trt import FakeCuda, FakeEngine, FakeRuntime

import torch_trt
from torch_trt import _trt
from torch_trt.runtime import engine as _engine
from torch_trt.runtime.engine import Binding, EngineMetadata

BLOB = torch.frombuffer(bytearray(b"plan"), dtype=torch.uint8)
NAMES = ("x", "cache", "output_0", "output_1")


class KVEngine(FakeEngine):
    """Inputs x [2, 3] and cache [2, 1, 4, 3]; output_0 is written into cache."""

    aliases: ClassVar[dict[str, str]] = {"output_0": "cache"}

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.num_io_tensors = 4

    def get_tensor_name(self, i: int) -> str:
        return NAMES[i]

    def get_tensor_mode(self, name: str) -> Any:
        mode = _trt.load().TensorIOMode
        return mode.INPUT if name in NAMES[:2] else mode.OUTPUT

    def get_aliased_input_tensor(self, name: str) -> str | None:
        return self.aliases.get(name)


class KVRuntime(FakeRuntime):
    def deserialize_cuda_engine(self, blob: bytes) -> FakeEngine | None:
        engine = KVEngine(None, self.memory, self.context_ok)
        FakeRuntime.deserialized.append(engine)
        return engine


def _meta(aliases: tuple[tuple[str, str], ...] = (("output_0", "cache"),)) -> EngineMetadata:
    return EngineMetadata(
        engine_id=uuid.uuid4().hex,
        name="trt_0",
        flavour=_trt.flavour(),
        trt_version=_trt.version(),
        inputs=(Binding("x", "float32", (2, 3)), Binding("cache", "float32", (2, 1, 4, 3))),
        outputs=(
            Binding("output_0", "float32", (2, 1, 4, 3)),
            Binding("output_1", "float32", (2, 3)),
        ),
        compute_capabilities=("8.6",),
        aliases=aliases,
    )


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCuda]:
    fake = FakeCuda([(8, 6)])
    monkeypatch.setattr(_engine, "cuda", fake)
    monkeypatch.setattr(_engine, "_CACHE", {})
    monkeypatch.setattr(_engine, "_SCRATCH", {})
    monkeypatch.setattr(_trt.load(), "Runtime", KVRuntime)
    monkeypatch.setattr(FakeRuntime, "deserialized", [])
    monkeypatch.setattr(FakeRuntime, "cuda", fake)
    _engine.copies.reset()
    yield fake


def _addresses() -> dict[str, int]:
    ctx = FakeRuntime.deserialized[-1].contexts[0]
    return {c[1]: c[2] for c in ctx.calls if c[0] == "set_tensor_address"}


def test_in_place_binds_the_cache_to_its_output(cuda: FakeCuda) -> None:
    """In place, the cache input and its aliased output get one address, nothing is copied
    or allocated for it, and the output returned is the caller's cache."""
    x, cache = torch.randn(2, 3), torch.randn(2, 1, 4, 3)
    out, _ = _engine.execute(_meta(), BLOB, [x, cache], in_place=True)
    addresses = _addresses()
    assert addresses["cache"] == addresses["output_0"] == cache.data_ptr()
    assert out is cache and _engine.copies.bytes == 0
    assert [c for c in cuda.calls if c[0] == "empty"] == [("empty", (2, 3), "cuda:0")]


def test_functional_call_works_on_a_counted_copy(cuda: FakeCuda) -> None:
    """Without in_place the engine writes into a copy of the cache (both bindings on the copy),
    which is returned; the copy is counted."""
    cache = torch.randn(2, 1, 4, 3)
    out, _ = _engine.execute(_meta(), BLOB, [torch.randn(2, 3), cache])
    addresses = _addresses()
    assert addresses["cache"] == addresses["output_0"] == out.data_ptr() != cache.data_ptr()
    assert torch.equal(out, cache) and _engine.copies.bytes == cache.numel() * 4


def test_non_contiguous_cache_is_copied_and_written_back(cuda: FakeCuda) -> None:
    """A non-contiguous cache is bound as a contiguous copy and copied back after the launch."""
    cache = torch.randn(2, 1, 3, 4).transpose(2, 3)
    _engine.execute(_meta(), BLOB, [torch.randn(2, 3), cache], in_place=True)
    assert _addresses()["cache"] != cache.data_ptr()
    assert _engine.copies.tensors == 2 and _engine.copies.bytes == 2 * cache.numel() * 4


def test_aliases_must_match_the_engine(cuda: FakeCuda) -> None:
    """Metadata that does not name the engine's in-place outputs is refused before binding."""
    with pytest.raises(torch_trt.EngineFormatError, match="writes outputs in place"):
        _engine.execute(_meta(aliases=()), BLOB, [torch.randn(2, 3), torch.randn(2, 1, 4, 3)])


def test_aliases_round_trip_and_validate() -> None:
    """Aliases survive the JSON record (format 3; without aliases the key is left out); an alias
    naming no binding is corrupt metadata."""
    meta = _meta()
    again = EngineMetadata.from_json(meta.to_json())
    assert again.aliases == (("output_0", "cache"),) and again.aliased_inputs() == {0: 1}
    assert again.format_version == 3  # older torch-trt refuses it instead of ignoring aliases
    plain = dataclasses.replace(meta, aliases=())
    assert "aliases" not in plain.to_json() and EngineMetadata.from_json(plain.to_json()) == plain
    bad = meta.to_json().replace('"cache"]', '"nothing"]')
    with pytest.raises(torch_trt.EngineFormatError, match="corrupt engine metadata"):
        EngineMetadata.from_json(bad)
