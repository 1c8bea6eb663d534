"""dynamo/inplace.py: an engine writes its KV cache in place when the graph only wrote the
result back, and stays functional (copy per call) otherwise; always equal to eager."""

from __future__ import annotations

import copy
import operator
import pathlib

import torch

import torch_trt
from torch_trt.runtime.engine import copies

KV = torch.ops.torch_trt.kv_cache_update
INPLACE = torch.ops.torch_trt.execute_engine_inplace.default
COPY_ = torch.ops.aten.copy_.default


@torch.library.custom_op("torch_trt_test::after", mutates_args=())
def after(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """sin(x), computed after ``y`` exists (no converter: it runs in PyTorch)."""
    return torch.sin(x)


@after.register_fake
def _after_fake(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class BufferCache(torch.nn.Module):
    """A [2, 2, 8, 4] key cache buffer written at a moving position (an in-place update)."""

    def __init__(self, return_cache: bool = False, read_old: bool = False) -> None:
        super().__init__()
        self.register_buffer("k", torch.zeros(2, 2, 8, 4))
        self.register_buffer("pos", torch.zeros((), dtype=torch.long))
        self.return_cache, self.read_old = return_cache, read_old

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        new = KV(self.k, x, self.pos.expand(2))
        y = (new.sum(2) * 2).relu() + 1
        if self.read_old:  # the cache before this update, read after the engine made y
            y = y + after(self.k, y).sum(2)
        self.k.copy_(new)
        self.pos += x.shape[2]
        return (y, new) if self.return_cache else y


def _compile(model: torch.nn.Module, x: torch.Tensor) -> torch.nn.Module:
    return torch_trt.dynamo.compile(model, [x], runtime="reference", min_block_size=1)


def _three_calls(model: torch.nn.Module, compiled: torch.nn.Module, x: torch.Tensor) -> int:
    """Outputs and buffers equal eager over three calls; the bytes the runtime copied."""
    eager = copy.deepcopy(model)
    copies.reset()
    for step in range(3):
        got, want = compiled(x + step), eager(x + step)
        for g, w in zip(
            got if isinstance(got, tuple) else [got],
            want if isinstance(want, tuple) else [want],
            strict=True,
        ):
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)
    for name, value in eager.named_buffers():
        torch.testing.assert_close(compiled.get_buffer(name), value, rtol=0, atol=0)
    return copies.bytes


def test_cache_buffer_updated_in_place() -> None:
    """The engine writes the cache buffer itself: no copy_ of it in the graph, the engine call
    mutates it, the write-back is placed in the engine, and no byte is copied per call."""
    model = BufferCache().eval()
    x = torch.randn(2, 2, 1, 4)
    compiled = _compile(model, x)
    (call,) = [n for n in compiled.graph.nodes if n.target is INPLACE]
    assert [n.target for n in call.args[1]] == ["k"]
    assert not [n for n in compiled.graph.nodes if n.target is COPY_ and n.args[0].target == "k"]
    writes = [p for p in torch_trt.report(compiled).placements if p.op == "aten.copy_.default"]
    assert {p.engine for p in writes if "in place" in p.detail} == {"trt_0"}
    assert _three_calls(model, compiled, x) == 0


def test_cache_also_returned_stays_functional() -> None:
    """The updated cache is also an output: the engine runs on a copy (counted) and the graph
    writes it back; values still equal eager."""
    model = BufferCache(return_cache=True).eval()
    x = torch.randn(2, 2, 1, 4)
    compiled = _compile(model, x)
    assert not [n for n in compiled.graph.nodes if n.target is INPLACE]
    assert _three_calls(model, compiled, x) > 0


def test_old_cache_read_after_the_engine_keeps_it_functional() -> None:
    """A PyTorch node reading the cache's old value after the engine forbids the in-place
    write (it would see the new one): the engine stays functional and results equal eager."""
    model = BufferCache(read_old=True).eval()
    x = torch.randn(2, 2, 1, 4)
    compiled = _compile(model, x)
    nodes = list(compiled.graph.nodes)
    state = next(n for n in nodes if n.op == "get_attr" and n.target == "k")
    (engine,) = [u for u in state.users if str(u.target).startswith("torch_trt.execute")]
    late = next(n for n in nodes if n.target is torch.ops.torch_trt_test.after.default)
    assert nodes.index(late) > nodes.index(engine) and engine.target is not INPLACE
    _three_calls(model, compiled, x)


class InputCache(torch.nn.Module):
    """``cache.copy_(kv_cache_update(cache, x, w))`` into a caller's tensor."""

    def forward(self, x: torch.Tensor, cache: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        new = KV(cache, x, w)
        cache.copy_(new)
        return new.mean(2).relu()


def test_caller_cache_updated_in_place() -> None:
    """A cache passed as an argument is written in place by the engine, as eager writes it."""
    x, w = torch.randn(2, 2, 3, 4), torch.tensor([1, 4])
    mine, theirs = torch.randn(2, 2, 8, 4), torch.zeros(0)
    theirs = mine.clone()
    compiled = torch_trt.dynamo.compile(
        InputCache(), [x, mine.clone(), w], runtime="reference", min_block_size=1
    )
    assert any(n.target is INPLACE for n in compiled.graph.nodes)
    getitems = [n for n in compiled.graph.nodes if n.target is operator.getitem]
    assert len(getitems) == 1  # only the result comes out of the engine
    copies.reset()
    torch.testing.assert_close(compiled(x, mine, w), InputCache()(x, theirs, w))
    assert torch.equal(mine, theirs) and copies.bytes == 0


def test_saved_and_loaded_in_place_engine(tmp_path: pathlib.Path) -> None:
    """A module whose engine updates its cache in place saves and loads (the runtime chosen at
    load applies to it, a reference program comes from the saved source) and still matches
    eager over three calls."""
    model = BufferCache().eval()
    x = torch.randn(2, 2, 1, 4)
    compiled = torch_trt.dynamo.compile(model, [x], min_block_size=1, keep_source=True)
    path = tmp_path / "kv.pt2"
    torch_trt.save(compiled, path, with_source=True)
    loaded = torch_trt.load(path, runtime="reference")
    assert len([n for n in loaded.graph.nodes if n.target is INPLACE]) == 1
    assert torch_trt.serialize.engine_records(loaded)[0].aliases == (("output_0", "k"),)
    assert _three_calls(model, loaded, x) == 0
