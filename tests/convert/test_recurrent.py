"""Recurrent converters (lstm, gru, rnn_tanh, rnn_relu): one TensorRT loop per layer.

Every table case compiles ONE engine with a dynamic sequence dim and runs several sequence
lengths through it; the reference runtime must match eager at each.
"""

from __future__ import annotations

import itertools
from operator import getitem
from typing import Any

import pytest
import torch
from torch import nn

from torch_trt import Input
from torch_trt.testing import (
    FnModule,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    ranged,
)

aten = torch.ops.aten
OPS = {
    "lstm": aten.lstm.input,
    "gru": aten.gru.input,
    "rnn_tanh": aten.rnn_tanh.input,
    "rnn_relu": aten.rnn_relu.input,
}
FEATURES, HIDDEN, BATCH = 3, 4, 2


def make_rnn(cell: str, **kw: Any) -> nn.RNNBase:
    """An RNN module of the given cell, with seeded weights."""
    torch.manual_seed(0)
    if cell == "lstm":
        return nn.LSTM(FEATURES, HIDDEN, **kw)
    if cell == "gru":
        return nn.GRU(FEATURES, HIDDEN, **kw)
    return nn.RNN(FEATURES, HIDDEN, nonlinearity=cell.removeprefix("rnn_"), **kw)


def seq_spec(batch_first: bool, seq: tuple[int, int, int] = (1, 4, 9)) -> Input:
    """A (seq, batch, features) input, batch-first when asked, whose sequence dim is dynamic."""
    return ranged(BATCH, seq, FEATURES) if batch_first else ranged(seq, BATCH, FEATURES)


GRID = list(
    itertools.product(OPS, (1, 2), (False, True), (False, True), (True, False))
)  # cell, layers, bidirectional, batch_first, bias


@pytest.mark.parametrize(
    ("cell", "layers", "bidirectional", "batch_first", "bias"),
    GRID,
    ids=[
        f"{c}-l{n}-{'bi' if b else 'uni'}-{'bf' if f else 'sf'}-{'bias' if s else 'nobias'}"
        for c, n, b, f, s in GRID
    ],
)
def test_loop_over_dynamic_sequence(
    cell: str, layers: int, bidirectional: bool, batch_first: bool, bias: bool
) -> None:
    """One engine, several sequence lengths (1, 4, 9), every output (sequence and final states)
    matching eager."""
    rnn = make_rnn(
        cell, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias
    )
    check_dynamic_conversion(rnn, [seq_spec(batch_first)], ops=[OPS[cell]])


class WithStates(nn.Module):
    """An RNN called with explicit initial states (``(h0, c0)`` for an LSTM)."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor, h0: torch.Tensor, *c0: torch.Tensor) -> Any:
        return self.rnn(x, (h0, *c0) if c0 else h0)


@pytest.mark.parametrize("cell", list(OPS))
def test_initial_states_given(cell: str) -> None:
    """Initial states passed as inputs seed the recurrences (static and dynamic sequence)."""
    rnn = make_rnn(cell, num_layers=2, bidirectional=True)
    states = [torch.randn(4, BATCH, HIDDEN) for _ in range(2 if cell == "lstm" else 1)]
    model = WithStates(rnn)
    check_conversion(model, [torch.randn(5, BATCH, FEATURES), *states], ops=[OPS[cell]])
    specs = [seq_spec(False), *(Input(shape=s.shape) for s in states)]
    check_dynamic_conversion(model, specs, ops=[OPS[cell]])


STATIC: list[tuple[str, nn.Module, list[torch.Tensor]]] = [
    ("lstm_proj", make_rnn("lstm", num_layers=2, proj_size=2), [torch.randn(6, BATCH, FEATURES)]),
    (
        "lstm_proj_bidirectional_batch_first",
        make_rnn("lstm", bidirectional=True, proj_size=3, batch_first=True),
        [torch.randn(BATCH, 5, FEATURES)],
    ),
    ("gru_unbatched", make_rnn("gru", num_layers=2), [torch.randn(7, FEATURES)]),
    ("lstm_long", make_rnn("lstm"), [torch.randn(64, 1, FEATURES)]),
    ("rnn_relu_one_step", make_rnn("rnn_relu", num_layers=2), [torch.randn(1, 3, FEATURES)]),
    ("lstm_fp16", make_rnn("lstm", num_layers=2).half(), [torch.randn(6, BATCH, 3).half()]),
    ("gru_bf16", make_rnn("gru", bidirectional=True).bfloat16(), [torch.randn(5, 2, 3).bfloat16()]),
]


@pytest.mark.parametrize(("model", "inputs"), [c[1:] for c in STATIC], ids=[c[0] for c in STATIC])
def test_static_shapes(model: nn.Module, inputs: list[torch.Tensor]) -> None:
    """Static sequence lengths, LSTM projections, unbatched input, fp16/bf16: one engine that
    matches eager (fp16/bf16 under the low-precision policy)."""
    check_conversion(model, inputs)


def test_dynamic_batch_and_sequence() -> None:
    """Batch and sequence both dynamic: the zero initial states follow the batch."""
    rnn = make_rnn("lstm", num_layers=2, bidirectional=True, batch_first=True)
    check_dynamic_conversion(rnn, [ranged((1, 3, 5), (2, 6, 10), FEATURES)], ops=[OPS["lstm"]])


@pytest.mark.parametrize("cell", list(OPS))
def test_layer_count_does_not_grow_with_the_sequence(cell: str) -> None:
    """Engines for sequence lengths 7 and 40 have the same number of layers (a loop, not an
    unrolled chain). Neither length equals another dim: equal constants share one layer."""
    rnn = make_rnn(cell, num_layers=2, bidirectional=True)
    counts = [
        check_conversion(rnn, [torch.randn(n, BATCH, FEATURES)]).report.engine_info[0].layers
        for n in (7, 40)
    ]
    assert counts[0] == counts[1]


def test_lowering_keeps_rnns_whole_with_a_symbolic_sequence() -> None:
    """Capture and lowering leave one ``aten.gru.input`` node (no per-step ops) whose output
    keeps the symbolic sequence dim."""
    from torch_trt.dynamo.capture import capture
    from torch_trt.dynamo.lower import lower

    rnn = make_rnn("gru", num_layers=2, bidirectional=True).eval()
    gm = lower(capture(rnn, [seq_spec(False)]))
    calls = [n for n in gm.graph.nodes if n.op == "call_function" and n.target != getitem]
    assert [n.target for n in calls] == [OPS["gru"]]
    out = calls[0].meta["val"][0]
    assert isinstance(out.shape[0], torch.SymInt) and out.shape[1:] == (BATCH, 2 * HIDDEN)


def _functional_lstm(x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor) -> Any:
    h0 = torch.zeros(1, x.shape[1], HIDDEN)
    return torch.lstm(x, (h0, h0), [w_ih, w_hh], False, 1, 0.0, False, False, False)


def test_weights_that_are_inputs_fall_back() -> None:
    """Weights computed at run time (graph inputs) stay in PyTorch with the reason."""
    inputs = [
        torch.randn(5, BATCH, FEATURES),
        torch.randn(4 * HIDDEN, FEATURES),
        torch.randn(4 * HIDDEN, HIDDEN),
    ]
    check_fallback(
        FnModule(_functional_lstm), inputs, op=OPS["lstm"], detail="weights that are not constants"
    )


def test_training_dropout_falls_back() -> None:
    """Dropout between layers in training mode is random: the node stays in PyTorch."""
    import torch_trt
    from torch_trt.report import report

    rnn = make_rnn("lstm", num_layers=2, dropout=0.5).train()
    compiled = torch_trt.dynamo.compile(
        rnn, [torch.randn(4, BATCH, FEATURES)], min_block_size=1, runtime="reference"
    )
    (placed,) = [p for p in report(compiled).placements if p.op == "aten.lstm.input"]
    assert placed.engine is None and "training-mode dropout" in placed.detail
