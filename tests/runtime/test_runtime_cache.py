"""TensorRT-RTX's runtime cache on the GPU path, against the doubles of tests/runtime/fake_trt.py:
loaded from ``$TORCH_TRT_CACHE_DIR``, set on the runtime config, written back atomically, a
refused file replaced, nothing written without a directory or on full TensorRT."""

from __future__ import annotations

import logging
import os
import pathlib
import uuid
from collections.abc import Iterator

import pytest
import torch
from fake_trt import FakeCuda, FakeRuntime, FakeRuntimeCache

from torch_trt import _files, _trt
from torch_trt.runtime import engine as _engine
from torch_trt.runtime import runtime_cache
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
def cuda(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> Iterator[FakeCuda]:
    fake = FakeCuda([(8, 6), (8, 9)])
    monkeypatch.setattr(_engine, "cuda", fake)
    monkeypatch.setattr(_engine, "_CACHE", {})
    monkeypatch.setattr(_engine, "_SCRATCH", {})
    monkeypatch.setattr(_trt.load(), "Runtime", FakeRuntime)
    monkeypatch.setattr(FakeRuntime, "deserialized", [])
    monkeypatch.setattr(FakeRuntime, "cuda", fake)
    monkeypatch.setattr(runtime_cache, "_DEVICES", {})
    monkeypatch.setenv(_files.CACHE_DIR_ENV, str(tmp_path))
    yield fake


def _file(
    tmp_path: pathlib.Path, cc: tuple[int, int] = (8, 6), gpu: str = "Fake GPU 0"
) -> pathlib.Path:
    return tmp_path / "runtime" / runtime_cache.file_name(cc, gpu)


def _blob(*kernels: str) -> bytes:
    cache = FakeRuntimeCache()
    cache.kernels.update(kernels)
    return cache.serialize()


def test_file_is_loaded_and_set_on_the_runtime_config(
    cuda: FakeCuda, tmp_path: pathlib.Path
) -> None:
    """A persisted cache is deserialized into the cache the context's runtime config holds."""
    path = _file(tmp_path)
    path.parent.mkdir()
    path.write_bytes(_blob("old-kernel"))
    _engine.execute(_meta(), BLOB, [torch.randn(2, 3)])
    (engine,) = FakeRuntime.deserialized
    config = engine.contexts[0].config
    assert config is not None and config.cache is not None
    assert "old-kernel" in config.cache.kernels


def test_cache_written_back_after_first_run_and_at_exit(
    cuda: FakeCuda, tmp_path: pathlib.Path
) -> None:
    """The first run of an engine saves the kernels it compiled; later runs are saved by
    save_all (the exit hook); no temporary file is left."""
    meta = _meta()
    _engine.execute(meta, BLOB, [torch.randn(2, 3)])
    path = _file(tmp_path)
    assert path.read_bytes() == _blob("kernel(2, 3)")
    _engine.execute(meta, BLOB, [torch.randn(4, 3)])
    assert path.read_bytes() == _blob("kernel(2, 3)")  # not saved on every run
    runtime_cache.save_all()
    assert path.read_bytes() == _blob("kernel(2, 3)", "kernel(4, 3)")
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, f"{path.stem}.lock"])


def test_engines_on_one_device_share_its_cache(cuda: FakeCuda, tmp_path: pathlib.Path) -> None:
    """Two engines on one device use one cache; another device (another compute capability
    and name) gets its own file."""
    _engine.execute(_meta(), BLOB, [torch.randn(2, 3)])
    _engine.execute(_meta(), BLOB, [torch.randn(3, 3)])
    a, b = FakeRuntime.deserialized
    assert a.contexts[0].config.cache is b.contexts[0].config.cache  # type: ignore[union-attr]
    assert _file(tmp_path).read_bytes() == _blob("kernel(2, 3)", "kernel(3, 3)")
    cuda.input_device = torch.device("cuda", 1)
    meta = _meta()
    _engine.execute(
        EngineMetadata(**{**meta.__dict__, "compute_capabilities": ("8.9",)}),
        BLOB,
        [torch.randn(1, 3)],
    )
    assert _file(tmp_path, (8, 9), "Fake GPU 1").read_bytes() == _blob("kernel(1, 3)")


@pytest.mark.parametrize("content", [b"garbage", b""])
def test_refused_file_warns_and_is_replaced(
    cuda: FakeCuda, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    """A file TensorRT-RTX refuses is named in a warning, the run goes on with an empty cache,
    and the save replaces the file."""
    path = _file(tmp_path)
    path.parent.mkdir()
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="torch_trt"):
        (out,) = _engine.execute(_meta(), BLOB, [torch.randn(2, 3)])
    assert tuple(out.shape) == (2, 3)
    assert any(
        f"runtime cache {path} is unusable" in r.getMessage() and "starting empty" in r.getMessage()
        for r in caplog.records
    )
    assert path.read_bytes() == _blob("kernel(2, 3)")


def test_unwritable_directory_warns_once_and_runs(
    cuda: FakeCuda,
    tmp_path: pathlib.Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A save that fails (full disk, read-only directory) warns once and never fails a run."""

    def refuse(path: pathlib.Path, parts: list[bytes]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runtime_cache, "write_atomic", refuse)
    with caplog.at_level(logging.WARNING, logger="torch_trt"):
        _engine.execute(_meta(), BLOB, [torch.randn(2, 3)])
        _engine.execute(_meta(), BLOB, [torch.randn(2, 3)])
    saves = [r for r in caplog.records if "could not save runtime cache" in r.getMessage()]
    assert len(saves) == 1 and "No space left on device" in saves[0].getMessage()


def test_no_cache_dir_writes_nothing(
    cuda: FakeCuda, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without $TORCH_TRT_CACHE_DIR contexts are made without a runtime config and no file is
    written, at a run or at exit."""
    monkeypatch.delenv(_files.CACHE_DIR_ENV)
    _engine.execute(_meta(), BLOB, [torch.randn(2, 3)])
    runtime_cache.save_all()
    assert FakeRuntime.deserialized[0].contexts[0].config is None
    assert os.listdir(tmp_path) == []


def test_full_tensorrt_has_no_runtime_cache(
    cuda: FakeCuda, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With full TensorRT (no runtime cache) the context is made as before, nothing written."""
    monkeypatch.setattr(_trt, "is_rtx", lambda: False)
    _engine.execute(_meta(), BLOB, [torch.randn(2, 3)])
    assert FakeRuntime.deserialized[0].contexts[0].config is None
    assert os.listdir(tmp_path) == []


def test_file_names_the_flavour_version_and_gpu() -> None:
    """The file is keyed by TensorRT flavour and version, compute capability and GPU name."""
    name = runtime_cache.file_name((12, 0), "NVIDIA GeForce RTX 5090 / D")
    assert name == f"{_trt.flavour()}-{_trt.version()}-sm120-NVIDIA_GeForce_RTX_5090_D.cache"
