"""Reordering converters: flip (a stride -1 slice); roll, tril and triu via their decompositions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch

from torch_trt import Input
from torch_trt.testing import FnModule, check_conversion, check_dynamic_conversion, ranged

aten = torch.ops.aten
f16, bf16, i32, i64 = torch.float16, torch.bfloat16, torch.int32, torch.int64
FLIP = aten.flip.default
# What roll, tril and triu lower to. With static shapes the index and mask computations fold
# into constants (tril of a bool is then a logical_and); with dynamic ones they stay.
ROLL = [aten.index_select.default]
TRI: list[Any] = []
ROLL_DYN = [aten.index_select.default, aten.arange.start_step, aten.fmod.Scalar]
TRI_DYN = [aten.where.self, aten.arange.start_step]


def r(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A small deterministic tensor (ints in [-50, 50), bools at random)."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape))
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-50, 50, shape, generator=g).to(dtype)


Case = tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]
CASES: list[Case] = [
    ("flip", lambda x: x.flip(1), [r(2, 3, 4)], [FLIP]),
    ("flip_two_dims", lambda x: x.flip(0, 2), [r(2, 3, 4)], [FLIP]),
    ("flip_negative_dim", lambda x: x.flip(-1), [r(2, 5)], [FLIP]),
    ("flip_all", lambda x: x.flip(0, 1, 2), [r(2, 3, 4)], [FLIP]),
    ("flip_rank1", lambda x: x.flip(0), [r(7)], [FLIP]),
    ("flip_size1", lambda x: x.flip(1) * 2, [r(3, 1)], [FLIP]),
    ("flip_fliplr", torch.fliplr, [r(3, 4)], [FLIP]),
    ("flip_bool", lambda x: x.flip(0), [r(4, 3, dtype=torch.bool)], [FLIP]),
    ("flip_int64", lambda x: x.flip(1), [r(2, 6, dtype=i64)], [FLIP]),
    ("flip_fp16", lambda x: x.flip(0), [r(5, 2, dtype=f16)], [FLIP]),
    ("flip_bf16", lambda x: x.flip(1), [r(2, 3, dtype=bf16)], [FLIP]),
    ("roll", lambda x: x.roll(1, 1), [r(2, 5)], ROLL),
    ("roll_negative", lambda x: x.roll(-2, 0), [r(5, 3)], ROLL),
    ("roll_beyond_size", lambda x: x.roll(7, -1), [r(2, 3)], ROLL),
    ("roll_two_dims", lambda x: x.roll((1, -2), (0, 2)), [r(3, 2, 4)], ROLL),
    ("roll_flat", lambda x: x.roll(4), [r(3, 5)], ROLL),
    ("roll_int32", lambda x: x.roll(2, 0), [r(6, dtype=i32)], ROLL),
    ("tril", lambda x: x.tril(), [r(4, 4)], TRI),
    ("tril_diagonal", lambda x: x.tril(1), [r(3, 5)], TRI),
    ("tril_negative_diagonal", lambda x: x.tril(-2), [r(5, 3)], TRI),
    ("tril_batched", lambda x: x.tril(), [r(2, 3, 4, 4)], TRI),
    ("tril_int64", lambda x: x.tril(), [r(3, 3, dtype=i64)], TRI),
    ("tril_bool", lambda x: x.tril(), [r(3, 4, dtype=torch.bool)], TRI),
    ("triu", lambda x: x.triu(), [r(4, 4)], TRI),
    ("triu_diagonal", lambda x: x.triu(2), [r(4, 6)], TRI),
    ("triu_negative_diagonal", lambda x: x.triu(-1), [r(2, 5, 3)], TRI),
    ("triu_fp16", lambda x: x.triu(), [r(3, 3, dtype=f16)], TRI),
]


@pytest.mark.parametrize(("fn", "inputs", "ops"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]) -> None:
    """The op (or its decomposition) lands in one engine, which builds and matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


def test_flip_is_one_layer() -> None:
    """A flip of two dims is a single slice layer."""
    rep = check_conversion(FnModule(lambda x: x.flip(0, 1)), [r(3, 4)]).report
    assert [e.layers for e in rep.engine_info] == [1]


# --- dynamic shapes ---------------------------------------------------------------------------


BATCH, SEQ = (1, 3, 6), (2, 5, 9)

DYNAMIC_CASES: list[tuple[str, Callable[..., Any], Input, Sequence[Any]]] = [
    ("flip_dyn_dynamic_dim", lambda x: x.flip(1), ranged(BATCH, SEQ), [FLIP]),
    ("flip_dyn_both", lambda x: x.flip(0, 1), ranged(BATCH, SEQ), [FLIP]),
    ("flip_dyn_static_dim", lambda x: x.flip(-1), ranged(BATCH, 4), [FLIP]),
    ("flip_dyn_int", lambda x: x.flip(0), ranged(SEQ, 3, dtype=i32), [FLIP]),
    ("roll_dyn", lambda x: x.roll(2, 1), ranged(BATCH, SEQ), ROLL_DYN),
    ("roll_dyn_flat", lambda x: x.roll(-3), ranged(BATCH, 4), ROLL_DYN),
    ("tril_dyn", lambda x: x.tril(1), ranged(BATCH, SEQ, SEQ), TRI_DYN),
    ("triu_dyn", lambda x: x.triu(-1), ranged(SEQ, 4), TRI_DYN),
]


@pytest.mark.parametrize(
    ("fn", "spec", "ops"), [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_dynamic(fn: Callable[..., Any], spec: Input, ops: Sequence[Any]) -> None:
    """With dynamic dims the op lands in one engine and matches eager at the min, opt and max
    shapes."""
    check_dynamic_conversion(FnModule(fn), [spec], ops=ops)
