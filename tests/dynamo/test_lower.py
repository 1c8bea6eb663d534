"""Lowering: decompositions keep the whole ops, passes keep eager equality."""

from __future__ import annotations

import torch

from torch_trt.dynamo.lower import fold_constants, lower, remove_noops

aten = torch.ops.aten


def _targets(gm: torch.fx.GraphModule) -> list[object]:
    return [n.target for n in gm.graph.nodes if n.op == "call_function"]


class Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(8, 8)
        self.norm = torch.nn.LayerNorm(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.softmax(self.norm(self.lin(x)), -1)
        return torch.nn.functional.gelu(y, approximate="tanh") + x.detach()


def test_keeps_whole_ops_and_matches_eager() -> None:
    """linear, layer_norm, softmax and gelu survive lowering whole; the graph equals eager."""
    m = Block().eval()
    x = torch.randn(2, 8)
    gm = lower(torch.export.export(m, (x,), strict=False))
    targets = _targets(gm)
    for op in (aten.linear.default, aten.layer_norm.default, aten.softmax.int, aten.gelu.default):
        assert op in targets
    assert aten.detach.default not in targets
    assert torch.allclose(gm(x), m(x))


def test_fold_constants_stores_weight_only_chains() -> None:
    """A weight-only chain (transpose, scale) becomes one buffer; eager results stay equal."""

    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(4, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ (self.w.t() * 2.0 + 1.0)

    m = M().eval()
    x = torch.randn(2, 3)
    gm = torch.export.export(m, (x,), strict=False).run_decompositions().module()
    before = len(_targets(gm))
    gm = fold_constants(gm)
    after = _targets(gm)
    assert len(after) < before
    assert after == [aten.mm.default]
    assert any(name.startswith("_folded_") for name, _ in gm.named_buffers())
    assert torch.allclose(gm(x), m(x))


def test_fold_constants_skips_random_ops() -> None:
    """Nondeterministic ops are never folded, even with constant inputs."""

    class M(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + torch.rand(3)

    gm = torch.export.export(M(), (torch.randn(3),), strict=False).run_decompositions().module()
    gm = fold_constants(gm)
    assert any("rand" in str(t) for t in _targets(gm))


def test_remove_noops_drops_asserts_and_aliases() -> None:
    """detach/alias are bypassed and assert nodes removed; the result still equals eager."""

    class M(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            torch._assert(x.shape[0] == 2, "batch")
            return torch.relu(x.detach()).view_as(x)

    m = M()
    x = torch.randn(2, 3)
    gm = remove_noops(torch.export.export(m, (x,), strict=False).module())
    targets = _targets(gm)
    assert aten.detach.default not in targets and aten.alias.default not in targets
    assert not any("assert" in str(t) for t in targets)
    assert torch.equal(gm(x), m(x))


def test_fold_constants_leaves_large_broadcasts() -> None:
    """A constant-only result much larger than its inputs is not stored as a buffer."""

    class M(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + torch.ones(512, 512) * 2.0

    m = M()
    x = torch.randn(512, 512)
    gm = fold_constants(torch.export.export(m, (x,), strict=False).run_decompositions().module())
    assert not any(name.startswith("_folded_") for name, _ in gm.named_buffers())
    assert torch.equal(gm(x), m(x))


def test_remove_noops_drops_plain_copies() -> None:
    """copy(x, y) of y's own shape and dtype becomes y (the in-place write-back stays); a
    broadcasting or casting copy is kept; results equal eager."""

    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("state", torch.zeros(2, 3))

        def forward(self, x: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
            self.state.copy_(x * 2)  # same shape: functionalized to copy(state, x * 2)
            out = torch.zeros(2, 3, dtype=torch.float64)
            out.copy_(row)  # broadcast and cast: a real copy
            return self.state + out.float()

    m = M().eval()
    x, row = torch.randn(2, 3), torch.randn(3)
    gm = lower(torch.export.export(M().eval(), (x, row), strict=False))
    copies = [n for n in gm.graph.nodes if n.target is aten.copy.default]
    assert len(copies) == 1 and copies[0].meta["val"].dtype == torch.float64
    assert aten.copy_.default in _targets(gm)  # the buffer's write-back
    torch.testing.assert_close(gm(x, row), m(x, row))
