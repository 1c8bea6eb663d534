"""RAFT (torchvision raft_small, random weights): its grid sampling keeps it one engine."""

from __future__ import annotations

import torch

import torch_trt
from torch_trt.testing import FP32_RTOL, randomize_norm_stats, rel_error


class _TwoUpdates(torch.nn.Module):
    """raft_small with 2 flow updates, returning the last flow estimate."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.optical_flow import raft_small

        self.raft = randomize_norm_stats(raft_small(weights=None).eval())

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        flow: torch.Tensor = self.raft(a, b, num_flow_updates=2)[-1]
        return flow


def test_raft_small_is_one_engine() -> None:
    """raft_small at 128x128: one engine, no fallback, reference runtime equal to eager (fp32)."""
    torch.manual_seed(0)
    model = _TwoUpdates().eval()
    a, b = torch.randn(1, 3, 128, 128), torch.randn(1, 3, 128, 128)
    compiled = torch_trt.dynamo.compile(model, [a, b], runtime="reference")
    rep = torch_trt.report(compiled)
    assert [f"{p.node} {p.op}: {p.detail}" for p in rep.fallbacks] == []
    assert rep.engines == 1
    assert any(p.op == "aten.grid_sampler_2d.default" for p in rep.placements)
    with torch.no_grad():
        err = rel_error(compiled(a, b), model(a, b))
    assert err < FP32_RTOL, err
