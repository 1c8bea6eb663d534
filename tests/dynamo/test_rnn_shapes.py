"""rnn_shape_rules: recurrent ops keep a symbolic sequence dim through torch.export, and torch's
own kernels come back afterwards."""

from __future__ import annotations

import pytest
import torch
from torch._C import DispatchKey
from torch._decomp import decomposition_table

from torch_trt.dynamo.rnn_shapes import RNN_OPS, rnn_shape_rules

T = torch.export.Dim("T", min=2, max=32)


def _export(model: torch.nn.Module, x: torch.Tensor) -> torch.export.ExportedProgram:
    return torch.export.export(model, (x,), dynamic_shapes=({1: T},), strict=False)


def test_without_rules_torch_fixes_the_sequence_length() -> None:
    """The premise: torch's decomposition of lstm specializes the sequence dim."""
    lstm = torch.nn.LSTM(3, 4, batch_first=True).eval()
    with pytest.raises(Exception, match="specialized it to be a constant"):
        _export(lstm, torch.randn(2, 5, 3))


@pytest.mark.parametrize("cls", [torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN])
def test_export_keeps_the_sequence_symbolic_and_eager_equal(cls: type[torch.nn.RNNBase]) -> None:
    """Inside the rules the export succeeds with a symbolic sequence dim, and the exported
    program (run after the rules are gone) equals eager at other lengths."""
    model = cls(3, 4, num_layers=2, bidirectional=True, batch_first=True).eval()
    with rnn_shape_rules():
        ep = _export(model, torch.randn(2, 5, 3))
    out = next(n for n in ep.graph.nodes if n.target in RNN_OPS).meta["val"]
    assert isinstance(out[0].shape[1], torch.SymInt) and out[0].shape[2] == 8
    for length in (3, 11):
        x = torch.randn(2, length, 3)
        for got, want in zip(ep.module()(x), model(x), strict=False):
            torch.testing.assert_close(got, want)


def test_rules_are_scoped_and_reentrant() -> None:
    """Nested use installs once; on leaving, torch's kernels and decompositions are back."""
    before = {op: dict(op.py_kernels) for op in RNN_OPS}
    decomps = {op: decomposition_table.get(op) for op in RNN_OPS}
    with rnn_shape_rules():
        with rnn_shape_rules():
            inner = aten_kernel()
        assert aten_kernel() is inner and inner is not before[torch.ops.aten.lstm.input].get(
            DispatchKey.CompositeImplicitAutograd
        )
    assert {op: dict(op.py_kernels) for op in RNN_OPS} == before
    assert {op: decomposition_table.get(op) for op in RNN_OPS} == decomps


def aten_kernel() -> object:
    """The CompositeImplicitAutograd Python kernel of aten.lstm.input right now."""
    return torch.ops.aten.lstm.input.py_kernels.get(DispatchKey.CompositeImplicitAutograd)


def test_real_tensors_still_compute() -> None:
    """Inside the rules, calls on real tensors still run torch's computation."""
    lstm = torch.nn.LSTM(3, 4).eval()
    x = torch.randn(6, 2, 3)
    want = lstm(x)[0]
    with rnn_shape_rules():
        got = lstm(x)[0]
    torch.testing.assert_close(got, want)
