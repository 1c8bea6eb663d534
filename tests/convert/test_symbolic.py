"""Size converters: sym_size and SymInt arithmetic, computed inside the engine."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from typing import Any

import pytest
import torch

from torch_trt.testing import FnModule, check_dynamic_conversion, ranged

SPEC = ranged((1, 3, 8), (3, 6, 12), 4)


@dataclasses.dataclass
class Case:
    id: str
    fn: Callable[[torch.Tensor], Any]
    ops: tuple[Any, ...]


CASES = [
    Case("sym_size", lambda x: x.view(x.shape[0], -1), (torch.ops.aten.sym_size.int,)),
    Case("mul", lambda x: x.reshape(x.shape[0] * x.shape[1], -1), (operator.mul,)),
    Case("add", lambda x: x.new_ones(x.shape[0] + 1, x.shape[1]) * 2, (operator.add,)),
    Case("sub", lambda x: x[:, : x.shape[1] - 1] + 1, (operator.sub,)),
    Case("floordiv", lambda x: x.new_ones(x.shape[1] // 2 + 1, 3) + 1, (operator.floordiv,)),
    Case("mod", lambda x: x[:, : x.shape[1] % 3 + 1] * 2, (operator.mod,)),
    Case("sym_max", lambda x: x.new_ones(max(x.shape[1], x.shape[0]), 2) + 1, (torch.sym_max,)),
    Case("sym_min", lambda x: x.new_ones(min(x.shape[1], x.shape[0]), 2) + 1, (torch.sym_min,)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_size_arithmetic_in_engine(case: Case) -> None:
    """The size expression is computed in the engine and right at min, opt and max shapes."""
    check_dynamic_conversion(FnModule(case.fn), [SPEC], ops=list(case.ops))
