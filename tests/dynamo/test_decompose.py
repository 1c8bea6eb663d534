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


class Fn(nn.Module):
    """A module computing ``fn(*inputs)`` (one composite op per table row)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self.fn(*inputs)


def _mask_of_slices(x: torch.Tensor) -> torch.Tensor:
    """Swin's attention mask: slices of a fresh tensor filled in place, one after the other."""
    m = x.new_zeros((6, 6))
    for i, (h, w) in enumerate([(slice(0, -4), slice(-4, -2)), (slice(-2, None), slice(0, 6, 2))]):
        m[h, w] = i + 1
    m[1:2] = -1  # one slice deep
    return m * x


def _fill_whole(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    y = x + 1
    z = y * 2  # reads y before the fill
    y[...] = 3
    return y + z, torch.fill(x, x[1, 2])


def _view_read_after_fill(x: torch.Tensor) -> torch.Tensor:
    y = x + 1
    column = y[:, 0:2]  # a view taken before the fill, read after it
    y[1:3] = 2
    return column * 1


def _fill_select(x: torch.Tensor) -> torch.Tensor:
    y = x + 1
    y[0] = 2  # fill_ of a select: no rule
    return y


def _t(*shape: int) -> Callable[[], list[Any]]:
    return lambda: [torch.randn(*shape)]


Row = tuple[str, Callable[..., Any], Callable[[], list[Any]], bool]

# Composite ops: (id, function, inputs, whether lowered without retrace).
COMPOSITES: list[Row] = [
    ("matmul_2d", torch.matmul, lambda: [torch.randn(3, 4), torch.randn(4, 5)], True),
    (
        "matmul_4d_strided",  # a permuted operand is copied contiguous before bmm
        lambda a, b: torch.matmul(a.permute(0, 2, 1, 3) * 2, b.transpose(-1, -2)),
        lambda: [torch.randn(2, 5, 3, 4), torch.randn(2, 3, 6, 4)],
        True,
    ),
    (
        "matmul_broadcast",
        torch.matmul,
        lambda: [torch.randn(2, 1, 5, 4), torch.randn(3, 4, 6)],
        True,
    ),
    ("matmul_3d", torch.matmul, lambda: [torch.randn(2, 5, 4), torch.randn(2, 4, 6)], True),
    ("matmul_3d_2d_folds", torch.matmul, lambda: [torch.randn(2, 5, 4), torch.randn(4, 6)], False),
    ("matmul_vector", torch.matmul, lambda: [torch.randn(2, 5, 4), torch.randn(4)], False),
    ("pad_constant", lambda x: F.pad(x, (0, 0, 1, 2, 0, 3)), _t(1, 4, 4, 3), True),
    ("pad_value", lambda x: F.pad(x, (1, 2), value=-1.5), _t(2, 3), True),
    ("pad_reflect_2d", lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect"), _t(1, 2, 5, 5), True),
    ("pad_reflect_unbatched", lambda x: F.pad(x, (1, 1, 1, 1), mode="reflect"), _t(2, 5, 5), True),
    ("pad_replicate_1d", lambda x: F.pad(x, (2, 1), mode="replicate"), _t(1, 2, 5), True),
    ("pad_replicate_3d", lambda x: F.pad(x, (1,) * 6, mode="replicate"), _t(1, 1, 3, 4, 5), True),
    ("pad_circular", lambda x: F.pad(x, (1, 2, 0, 1), mode="circular"), _t(1, 2, 4, 5), True),
    ("roll_dims", lambda x: torch.roll(x * 2, (-3, 2), (1, -1)), _t(2, 7, 5, 4), True),
    ("roll_one", lambda x: torch.roll(x, 4, 0), _t(3, 2), True),
    ("roll_flat", lambda x: torch.roll(x, 1), _t(3, 2), False),
    (
        "masked_fill",
        lambda x: x.masked_fill(x > 0, -100.0).masked_fill(x < -1, 0),
        _t(3, 4),
        True,
    ),
    (
        "masked_fill_strided",  # where keeps the transposed layout: made contiguous
        lambda x: x.t().masked_fill(x.t() > 0, 2.0),
        _t(3, 4),
        True,
    ),
    ("fill_slices", _mask_of_slices, _t(6, 6), True),
    ("fill_whole", _fill_whole, _t(3, 4), True),
    ("fill_view_read_after", _view_read_after_fill, _t(4, 4), False),
    ("fill_select", _fill_select, _t(3, 4), False),
]


@pytest.mark.parametrize(
    ("fn", "inputs", "selective"), [c[1:] for c in COMPOSITES], ids=[c[0] for c in COMPOSITES]
)
def test_composite_rules_equal_full_retrace(
    fn: Callable[..., Any], inputs: Callable[[], list[Any]], selective: bool
) -> None:
    """Each composite rule gives the retrace's ops, placements and outputs, or refuses."""
    torch.manual_seed(0)
    _compare(Fn(fn), inputs(), selective=selective)


def _swin_block() -> nn.Module:
    from torchvision.models.swin_transformer import SwinTransformerBlock

    torch.manual_seed(0)
    block = SwinTransformerBlock(dim=16, num_heads=2, window_size=[4, 4], shift_size=[2, 2])
    return block.eval()


def test_swin_block_is_lowered_without_retrace() -> None:
    """A shifted-window block (pad, roll, masked attention mask, matmul) lowers to the retrace's
    graph without retrace, and compiles to one engine matching eager."""
    block, x = _swin_block(), torch.randn(1, 6, 6, 16)
    _compare(block, [x], selective=True)
    with _retraces() as calls:
        compiled = torch_trt.dynamo.compile(block, [x], min_block_size=1, runtime="reference")
    assert calls == []
    assert torch_trt.report(compiled).engines == 1
    with torch.no_grad():
        assert torch_trt.testing.rel_error(compiled(x), block(x)) < 1e-4


def test_swin_block_with_dynamic_batch_takes_the_retrace() -> None:
    """With a dynamic batch the rules are not used (the program is retraced) and the compiled
    block still matches eager at every batch size."""
    block = _swin_block()
    spec = torch_trt.Input(
        min_shape=(1, 6, 6, 16), opt_shape=(2, 6, 6, 16), max_shape=(3, 6, 6, 16)
    )
    with _retraces() as calls:
        compiled = torch_trt.dynamo.compile(block, [spec], min_block_size=1, runtime="reference")
    assert calls == [1]
    for batch in (1, 3):
        x = torch.randn(batch, 6, 6, 16)
        with torch.no_grad():
            assert torch_trt.testing.rel_error(compiled(x), block(x)) < 1e-4


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
