"""Reference runtime: INonZeroLayer, whose output size depends on the data ([OP/NonZero])."""

from __future__ import annotations

from typing import Any

import torch

from torch_trt.runtime.reference import read_network


def test_non_zero_matches_the_documented_example(tn: Any) -> None:
    """[OP/NonZero]'s example: [[-3, -2, 0], [0, 1, 2]] gives the int32 columns
    [[0, 0, 1, 1], [0, 1, 1, 2]] (one column per non-zero element, row-major)."""
    x = torch.tensor([[-3.0, -2.0, 0.0], [0.0, 1.0, 2.0]])
    layer = tn.net.add_non_zero(tn.input(x))
    tn.out(layer)
    assert tn.errors() == []
    assert tuple(layer.get_output(0).shape) == (2, -1)
    (y,) = read_network(tn.net).run(tn.values)
    assert y.dtype == torch.int32
    assert torch.equal(y, torch.tensor([[0, 0, 1, 1], [0, 1, 1, 2]], dtype=torch.int32))


def test_non_zero_bool_int64_dynamic_and_empty(tn: Any) -> None:
    """A bool input of dynamic shape with int64 indices: True counts as non-zero, and the
    same program gives (rank, 0) when nothing is True."""
    x = torch.tensor([[[True, False], [False, True]], [[True, True], [False, False]]])
    layer = tn.net.add_non_zero(tn.input(x, (-1, 2, 2)), tn.trt.int64)
    tn.out(layer)
    assert tn.errors() == []
    prog = read_network(tn.net)
    (y,) = prog.run([x])
    want = torch.tensor([[0, 0, 1, 1], [0, 1, 0, 0], [0, 1, 0, 1]], dtype=torch.int64)
    assert torch.equal(y, want)
    (empty,) = prog.run([torch.zeros(3, 2, 2, dtype=torch.bool)])
    assert empty.shape == (3, 0) and empty.dtype == torch.int64
