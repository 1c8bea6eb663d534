"""A custom op without a converter, importable by a CLI subprocess (``--import cli_custom_ops``)."""

from __future__ import annotations

import torch


@torch.library.custom_op("torch_trt_cli_test::unconvertible", mutates_args=())
def unconvertible(x: torch.Tensor) -> torch.Tensor:
    """cos(x) as an op torch-trt has no converter for."""
    return torch.cos(x)


@unconvertible.register_fake
def _fake(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class UsesIt(torch.nn.Module):
    """Linear -> relu -> unconvertible -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(8, 8)
        self.b = torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(unconvertible(torch.relu(self.a(x))))
