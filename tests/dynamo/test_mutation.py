"""Mutated buffers are state (never folded or frozen) and engine outputs never alias."""

from __future__ import annotations

import copy

import torch

import torch_trt
from torch_trt.runtime.op import independent


class Counter(torch.nn.Module):
    """``self.count += 1`` in forward: the output depends on the number of calls so far."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("count", torch.zeros(1))
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.count += 1
        return self.lin(x).relu() * self.count


class RunningMean(torch.nn.Module):
    """An in-place running mean of the batch, subtracted from the input."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.mean.mul_(0.9).add_(0.1 * x.mean(0))
        return (x - self.mean).relu() * 2 + 1


class Cache(torch.nn.Module):
    """A cache written at a moving position with ``index_copy_``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("cache", torch.zeros(8, 4))
        self.register_buffer("pos", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.cache.index_copy_(0, self.pos.view(1), x)
        self.pos += 1
        return (self.cache.sum(0) * 2).relu() + 1


class IndexPutCache(torch.nn.Module):
    """A cache written with ``index_put_`` (``cache[pos] = x``) at a moving position."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("cache", torch.zeros(6, 4))
        self.register_buffer("pos", torch.zeros(1, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.cache[self.pos] = x
        self.pos += 1
        return (self.cache * 3).sum(0).relu() + 1


class CopyIntoInput(torch.nn.Module):
    """``out.copy_(...)`` writes into a caller's tensor."""

    def forward(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        out.copy_((x * 2).relu())
        return (x + 1).relu() * 3


def _three_calls(model: torch.nn.Module, x: torch.Tensor) -> None:
    eager = copy.deepcopy(model)
    compiled = torch_trt.dynamo.compile(model, [x], runtime="reference", min_block_size=1)
    assert torch_trt.report(compiled).engines >= 1
    for step in range(3):
        xi = x + step
        torch.testing.assert_close(compiled(xi), eager(xi), rtol=1e-5, atol=1e-6)
    for name, value in eager.named_buffers():
        torch.testing.assert_close(compiled.get_buffer(name), value, rtol=1e-5, atol=1e-6)


def test_counter_buffer_counts() -> None:
    """A counter buffer incremented in forward is not frozen at its first value."""
    _three_calls(Counter().eval(), torch.randn(2, 4))


def test_running_mean_updates_in_place() -> None:
    """An in-place running mean evolves as in eager, outputs and buffer alike."""
    _three_calls(RunningMean().eval(), torch.randn(3, 4))


def test_index_copy_cache() -> None:
    """A cache written with index_copy_ at a position buffer matches eager after 3 calls."""
    _three_calls(Cache().eval(), torch.randn(1, 4))


def test_index_put_cache() -> None:
    """A cache written with index_put_ at a position buffer matches eager after 3 calls."""
    _three_calls(IndexPutCache().eval(), torch.randn(1, 4))


def test_write_back_does_not_block_full_compilation() -> None:
    """require_full_compilation accepts a model that mutates a buffer: the write-back is not
    an op that runs in place of TensorRT, and the report says what it is."""
    model = Counter().eval()
    x = torch.randn(2, 4)
    compiled = torch_trt.dynamo.compile(
        model, [x], runtime="reference", require_full_compilation=True
    )
    (write,) = torch_trt.report(compiled).fallbacks
    assert write.op == "aten.copy_.default" and "writes mutated state back" in write.detail
    torch.testing.assert_close(compiled(x), copy.deepcopy(model)(x))


def test_copy_into_input() -> None:
    """copy_ into an input tensor happens with eager semantics."""
    x = torch.randn(5)
    out_eager, out_compiled = torch.zeros(5), torch.zeros(5)
    model = CopyIntoInput().eval()
    compiled = torch_trt.dynamo.compile(
        model, [x, torch.zeros(5)], runtime="reference", min_block_size=1
    )
    torch.testing.assert_close(compiled(x, out_compiled), model(x, out_eager))
    torch.testing.assert_close(out_compiled, out_eager)


def test_compiled_module_owns_its_state() -> None:
    """Calling the compiled module leaves the source model's buffers untouched."""
    model = Counter().eval()
    compiled = torch_trt.dynamo.compile(model, [torch.randn(2, 4)], runtime="reference")
    before = model.count.clone()
    compiled(torch.randn(2, 4))
    assert torch.equal(model.count, before)
    assert compiled.get_buffer("count").item() == before.item() + 1


class Aliasing(torch.nn.Module):
    """Outputs that alias each other (a view of an engine output), an input and a constant."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        a = self.lin(x).relu()
        const = torch.ones(2, 4) * 3  # folded: a constant of the engine
        return a, a.reshape(4, 2), (x * 1).view(4, 2), const + a * 0


def test_outputs_never_alias() -> None:
    """Every output owns its memory: a view of another output, an input or a constant is
    copied, and the values match eager."""
    model = Aliasing().eval()
    x = torch.randn(2, 4)
    compiled = torch_trt.dynamo.compile(model, [x], runtime="reference", min_block_size=1)
    outs = compiled(x)
    for got, want in zip(outs, model(x), strict=True):
        torch.testing.assert_close(got, want)
    ptrs = [o.untyped_storage().data_ptr() for o in outs]
    assert len(set(ptrs)) == len(ptrs)
    assert x.untyped_storage().data_ptr() not in ptrs
    outs[0].add_(1)  # editing one output must not change another or a later call
    torch.testing.assert_close(compiled(x)[0], model(x)[0])


def test_independent_copies_shared_storages() -> None:
    """The runtime's output rule (both runtimes): outputs sharing memory with an input or an
    earlier output are cloned; fresh outputs pass through untouched."""
    x = torch.randn(4)
    fresh = torch.randn(4)
    view = fresh.view(2, 2)
    outs = independent([x, fresh, view, x[1:]], [x])
    assert outs[1] is fresh
    assert outs[0] is not x and torch.equal(outs[0], x)
    assert outs[2].untyped_storage().data_ptr() != fresh.untyped_storage().data_ptr()
    assert torch.equal(outs[2], view) and torch.equal(outs[3], x[1:])
