"""Selective decomposition gives the graph of the full ``run_decompositions`` retrace.

Every case lowers one program twice, selectively (``lower``) and with the retrace of every node
(the previous lowering), and compares the ops with their arguments, the partition placements
with their reasons, and the outputs.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import fx, nn

import torch_trt
from torch_trt.dynamo.capture import capture
from torch_trt.dynamo.lower import clean_up, decomposition_table, lower
from torch_trt.dynamo.partition import partition
from torch_trt.settings import CompileSettings
from torch_trt.testing import randomize_norm_stats


def _full_retrace(ep: torch.export.ExportedProgram) -> fx.GraphModule:
    gm = ep.run_decompositions(decomposition_table()).module()
    assert isinstance(gm, fx.GraphModule)
    return clean_up(gm)


def _ops(gm: fx.GraphModule) -> Counter[tuple[str, str, str]]:
    """Each call as (op, positional args with nodes blanked, sorted keyword args)."""
    out: Counter[tuple[str, str, str]] = Counter()
    for n in gm.graph.nodes:
        if n.op == "call_function":
            args, kwargs = fx.node.map_arg((n.args, n.kwargs), lambda _: "node")
            out[(str(n.target), str(args), str(sorted(kwargs.items())))] += 1
    return out


def _placements(gm: fx.GraphModule) -> Counter[tuple[str, bool, str | None]]:
    part = partition(fx.GraphModule(gm, gm.graph), CompileSettings(min_block_size=1), {})
    return Counter((p.op, p.engine is not None, p.reason) for p in part.placements.values())


@contextlib.contextmanager
def _retraces() -> Iterator[list[int]]:
    """Counts the calls of ``run_decompositions`` inside the block."""
    calls: list[int] = []
    original = torch.export.ExportedProgram.run_decompositions

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.export.ExportedProgram, "run_decompositions", counting)
        yield calls


def _compare(model: nn.Module, inputs: list[Any], *, selective: bool) -> None:
    ep = capture(model.eval(), inputs, None)
    before = str(ep.graph)
    with _retraces() as calls:
        new = lower(ep)
    assert (calls == []) == selective
    old = _full_retrace(ep)
    assert str(ep.graph) == before, "lowering changed the exported program"
    assert _ops(new) == _ops(old)
    assert _placements(new) == _placements(old)
    with torch.no_grad():
        for a, b in zip(new(*inputs), old(*inputs), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


class Convs(nn.Module):
    """conv1d/2d/3d with batch norm, in-place relu and add, pools, flatten, dropout."""

    def __init__(self, channels_last: bool = True) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.c1, self.b1 = nn.Conv1d(3, 4, 3), nn.BatchNorm1d(4)
        self.c2, self.b2 = nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(4)
        self.c3 = nn.Conv3d(3, 2, 3, dilation=1, groups=1)
        self.drop = nn.Dropout(0.5)

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        a = self.b1(self.c1(x1)).relu_()
        b = self.drop(self.b2(self.c2(x2))).relu_()
        b = F.max_pool2d(b, 3, 1, 1, ceil_mode=True)
        b.add_(1.0)
        p = torch.flatten(F.adaptive_avg_pool2d(b, 1), 1)
        # A channels-last global pool restrides its result (as_strided, left in PyTorch).
        q = (
            F.adaptive_avg_pool2d(b.to(memory_format=torch.channels_last), 1)
            if self.channels_last
            else p
        )
        return a, b, p, q, F.silu(self.c3(x3), inplace=True)


class Views(nn.Module):
    """reshape, transpose, t, contiguous, squeeze, unflatten, to, split, masks and arange."""

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, ...]:
        r = x.reshape(2, -1).t().contiguous()
        s = x.transpose(-1, -2).contiguous().reshape(-1)
        u = x.unflatten(1, (2, 2)).squeeze(-1).squeeze(0)
        c = x.to(torch.float16).to(torch.float32) + x.float()
        k = m.to(torch.device("cpu"), torch.bool) & x.new_ones((2, 4, 3), dtype=torch.bool)
        a, b = x.split(2, dim=1)
        w = torch.where(k, x, -1.5)
        z = torch.min(x, x.new_zeros(x.shape)) + torch.arange(3)
        return r, s, u, c, a * b, w, z


class Reshapes(nn.Module):
    """hardswish (in place too) and hardsigmoid; reshape of contiguous, viewable non-contiguous and
    non-viewable inputs, and after attention (strides of the inference kernel the retrace picks)."""

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h = x * 3
        h = F.hardswish(h, inplace=True) + F.hardsigmoid(h) + F.hardswish(x)
        y = x * 2
        a = y.reshape(2, -1)
        b = y.transpose(1, 2).reshape(2, -1, 3)
        c = y.transpose(1, 2).reshape(2, 1, 4, -1)
        d = y.transpose(1, 2).reshape(2, -1)
        o = F.scaled_dot_product_attention(q, q, q)
        e = o.reshape(1, -1, 16, 8).transpose(1, 2).reshape(1, 16, -1)
        return a, b, c, d, e, h


class MutatesInput(nn.Module):
    """An in-place op on an input: a real side effect, left to the retrace."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.relu_()
        return x + 1


CASES: list[tuple[str, Callable[[], nn.Module], Callable[[], list[Any]], bool]] = [
    (
        "convs",
        lambda: randomize_norm_stats(Convs()),
        lambda: [torch.randn(2, 3, 8), torch.randn(1, 3, 8, 8), torch.randn(1, 3, 5, 5, 5)],
        True,
    ),
    (
        "views",
        Views,
        lambda: [torch.randn(2, 4, 3), torch.randint(0, 2, (2, 4, 3))],
        True,
    ),
    (
        "reshapes",
        Reshapes,
        lambda: [torch.randn(2, 3, 4), torch.randn(1, 2, 16, 8)],
        True,
    ),
    ("mutates_input", MutatesInput, lambda: [torch.randn(2, 3)], False),
]


@pytest.mark.parametrize(
    ("make", "inputs", "selective"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_selective_lowering_equals_full_retrace(
    make: Callable[[], nn.Module], inputs: Callable[[], list[Any]], selective: bool
) -> None:
    """Same ops and arguments, same placements and reasons, same outputs as the retrace."""
    torch.manual_seed(0)
    _compare(make(), inputs(), selective=selective)


def test_resnet18_is_lowered_without_retrace() -> None:
    """ResNet-18 needs no retrace at all, and its graph is the retrace's."""
    import torchvision.models as tvm

    torch.manual_seed(0)
    model = randomize_norm_stats(tvm.resnet18().eval())
    x = torch.randn(1, 3, 32, 32)
    ep = capture(model, [x], None)
    old = _full_retrace(ep)
    with _retraces() as calls:
        new = lower(ep)
    assert calls == []
    assert _ops(new) == _ops(old)
    assert _placements(new) == _placements(old)


def test_mobilenet_is_lowered_without_retrace() -> None:
    """MobileNetV3 (in-place hardswish, hardsigmoid) needs no retrace; same graph."""
    import torchvision.models as tvm

    torch.manual_seed(0)
    _compare(tvm.mobilenet_v3_small().eval(), [torch.randn(1, 3, 64, 64)], selective=True)


def test_bert_layer_is_lowered_without_retrace() -> None:
    """A Hugging Face BERT layer (attention, then reshapes reading its strides) needs no retrace,
    and lowers to the retrace's graph."""
    import transformers

    config = transformers.BertConfig(
        num_hidden_layers=1,
        hidden_size=32,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=128,
        max_position_embeddings=32,
    )
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    ids = torch.randint(0, 128, (1, 8))
    ep = capture(model, [ids], None)
    with _retraces() as calls:
        new = lower(ep)
    assert calls == []
    assert _ops(new) == _ops(_full_retrace(ep))


def test_compile_result_unchanged_by_selective_lowering() -> None:
    """End to end: a conv/bn/relu network compiles to one engine matching eager."""
    torch.manual_seed(0)
    model = randomize_norm_stats(Convs(channels_last=False)).eval()
    inputs = [torch.randn(2, 3, 8), torch.randn(1, 3, 8, 8), torch.randn(1, 3, 5, 5, 5)]
    compiled = torch_trt.dynamo.compile(model, inputs, min_block_size=1, runtime="reference")
    rep = torch_trt.report(compiled)
    assert rep.fallbacks == [] and rep.engines == 1
    with torch.no_grad():
        for a, b in zip(compiled(*inputs), model(*inputs), strict=True):
            assert torch_trt.testing.rel_error(a, b) < 1e-4


def test_dynamic_shapes_take_the_retrace_and_keep_their_ranges() -> None:
    """With a dynamic input the program is retraced whole: running ops on its fake tensors here
    could specialize the declared range (an upsample did)."""
    model = nn.Upsample(scale_factor=2, mode="nearest")
    spec = torch_trt.Input(min_shape=(1, 2, 4, 4), opt_shape=(2, 2, 4, 4), max_shape=(4, 2, 4, 4))
    compiled = torch_trt.dynamo.compile(model, [spec], min_block_size=1, runtime="reference")
    for batch in (1, 3):
        x = torch.randn(batch, 2, 4, 4)
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), model(x))
