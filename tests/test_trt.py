"""_trt.py: the single TensorRT import site."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from torch_trt import _trt
from torch_trt.errors import TensorRTUnavailableError


def test_flavour_and_version() -> None:
    """The installed flavour is reported with its version."""
    assert _trt.flavour() in ("tensorrt_rtx", "tensorrt")
    assert _trt.version()[0].isdigit()


def test_missing_tensorrt_names_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """With neither flavour importable, one error names both pip commands."""

    def refuse(name: str) -> None:
        raise ImportError(f"No module named {name!r}")

    _trt.load.cache_clear()
    monkeypatch.setattr(_trt.importlib, "import_module", refuse)
    try:
        with pytest.raises(TensorRTUnavailableError, match="pip install tensorrt-rtx-cu13"):
            _trt.load()
        assert not _trt.available()
    finally:
        monkeypatch.undo()
        _trt.load.cache_clear()


def test_bad_flavour_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown TORCH_TRT_FLAVOUR is refused by name."""
    monkeypatch.setenv("TORCH_TRT_FLAVOUR", "tensorrt_9000")
    _trt.load.cache_clear()
    try:
        with pytest.raises(TensorRTUnavailableError, match="'tensorrt_9000' is not a TensorRT"):
            _trt.load()
    finally:
        monkeypatch.delenv("TORCH_TRT_FLAVOUR")
        _trt.load.cache_clear()


def test_import_and_partition_do_not_load_tensorrt() -> None:
    """`import torch_trt`, lowering and partitioning never import a TensorRT flavour."""
    code = textwrap.dedent(
        """
        import sys
        import torch, torch_trt
        from torch_trt.dynamo.lower import lower
        from torch_trt.dynamo.partition import partition
        from torch_trt.settings import CompileSettings
        ep = torch.export.export(torch.nn.ReLU(), (torch.randn(2),))
        part = partition(lower(ep), CompileSettings(min_block_size=1))
        print("regions", part.regions)
        trt_names = ("tensorrt", "tensorrt_rtx")
        print("loaded", sorted(m for m in sys.modules if m.split(".")[0] in trt_names))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "regions ['trt_0']" in out
    assert "loaded []" in out
