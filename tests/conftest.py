"""Shared test fixtures: an op that never has a converter."""

from __future__ import annotations

import pytest
import torch


@torch.library.custom_op("torch_trt_test::opaque", mutates_args=())
def opaque(x: torch.Tensor) -> torch.Tensor:
    """sin(x) as an op torch-trt has no converter for: it always runs in PyTorch."""
    return torch.sin(x)


@opaque.register_fake
def _opaque_fake(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


OPAQUE = "torch_trt_test.opaque.default"


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same random state, so random inputs are reproducible."""
    torch.manual_seed(0)
