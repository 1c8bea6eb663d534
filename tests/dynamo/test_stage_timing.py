"""Stage timings do not overlap: partition excludes the conversion it triggers."""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest
import torch

import torch_trt
from torch_trt.testing import FnModule


def test_partition_seconds_exclude_convert(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow conversion shows in ``convert`` only, so lower + partition + convert adds up."""
    compile_module = sys.modules["torch_trt.dynamo.compile"]
    original = compile_module.convert_module

    def slow(gm: Any) -> Any:
        time.sleep(0.5)
        return original(gm)

    monkeypatch.setattr(compile_module, "convert_module", slow)
    compiled = torch_trt.dynamo.compile(FnModule(torch.relu), [torch.randn(2, 3)], min_block_size=1)
    seconds = torch_trt.report(compiled).stage_seconds
    assert seconds["convert"] >= 0.5
    assert seconds["partition"] < 0.5
