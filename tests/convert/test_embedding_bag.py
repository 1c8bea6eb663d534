"""embedding_bag converter vs eager: sum / mean / max bags, offsets, per-sample weights,
include_last_offset, padding_idx and empty bags, with static and dynamic sizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from torch_trt import Input
from torch_trt.testing import FnModule, check_conversion, check_dynamic_conversion, check_fallback

aten = torch.ops.aten
BAG, FWD = aten._embedding_bag.default, aten._embedding_bag_forward_only.default

_W = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
_IDX = torch.tensor([1, 2, 4, 5, 4, 3, 2, 9])
_OFF = torch.tensor([0, 2, 2, 5])  # bag 1 is empty


def _bag(**kwargs: Any) -> Callable[..., Any]:
    return lambda i, o: F.embedding_bag(i, _W, o, **kwargs)


Case = tuple[str, Callable[..., Any], list[Any], Any]
CASES: list[Case] = [
    ("sum", _bag(mode="sum"), [_IDX, _OFF], FWD),
    ("mean", _bag(mode="mean"), [_IDX, _OFF], FWD),
    ("max", _bag(mode="max"), [_IDX, _OFF], FWD),
    ("sum_include_last", _bag(mode="sum", include_last_offset=True), [_IDX, _OFF], FWD),
    (
        "mean_include_last",
        _bag(mode="mean", include_last_offset=True),
        [_IDX, torch.tensor([0, 3, 8])],
        FWD,
    ),
    ("max_padding_idx", _bag(mode="max", padding_idx=4), [_IDX, _OFF], FWD),
    ("mean_padding_idx", _bag(mode="mean", padding_idx=2), [_IDX, _OFF], FWD),
    (
        "sum_per_sample_weights",
        lambda i, o, w: F.embedding_bag(i, _W, o, mode="sum", per_sample_weights=w),
        [_IDX, _OFF, torch.rand(8)],
        FWD,
    ),
    ("sum_int32", _bag(mode="sum"), [_IDX.int(), _OFF.int()], FWD),
    (
        "max_negative_rows",
        lambda i, o: F.embedding_bag(i, -_W.abs(), o, mode="max"),
        [_IDX, _OFF],
        FWD,
    ),
    ("sum_2d_indices", lambda i: F.embedding_bag(i, _W, mode="sum"), [_IDX.reshape(2, 4)], FWD),
    (
        "module_max_padding",
        torch.nn.EmbeddingBag.from_pretrained(_W, mode="max", padding_idx=2),
        [_IDX, _OFF],
        FWD,
    ),
    (
        "training_overload_max",  # the overload nn.EmbeddingBag records in train mode
        lambda i, o: BAG(_W, i, o, False, 2, False, None, False, 2)[0],
        [_IDX, _OFF],
        BAG,
    ),
    (
        "fp16_mean",
        lambda i, o: F.embedding_bag(i, _W.half(), o, mode="mean"),
        [_IDX, _OFF],
        FWD,
    ),
]


@pytest.mark.parametrize(("name", "fn", "inputs", "op"), CASES, ids=[c[0] for c in CASES])
def test_embedding_bag_matches_eager(name: str, fn: Any, inputs: list[Any], op: Any) -> None:
    """The bag reduction lands in one engine and the reference runtime matches eager."""
    module = fn if isinstance(fn, torch.nn.Module) else FnModule(fn)
    check_conversion(module, inputs, ops=[op])


def _ranged_inputs(point: str) -> list[torch.Tensor]:
    n, b = {"min": (3, 1), "opt": (8, 3), "max": (12, 5)}[point]
    g = torch.Generator().manual_seed(n)
    idx = torch.randint(0, 10, (n,), generator=g)
    off = torch.sort(torch.randint(0, n, (b,), generator=g)).values
    off[0] = 0
    return [idx, off]


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_dynamic(mode: str) -> None:
    """One engine serves every number of entries and bags in the range, matching eager."""
    specs = [
        Input(min_shape=(3,), opt_shape=(8,), max_shape=(12,), dtype=torch.int64),
        Input(min_shape=(1,), opt_shape=(3,), max_shape=(5,), dtype=torch.int64),
    ]
    check_dynamic_conversion(
        FnModule(_bag(mode=mode)), specs, ops=[FWD], make_inputs=_ranged_inputs
    )


def test_embedding_bag_used_extra_output_is_refused() -> None:
    """A bag whose offset2bag output is used stays in PyTorch, saying so."""

    def fn(i: torch.Tensor, o: torch.Tensor) -> Any:
        out, offset2bag, _, _ = aten._embedding_bag_forward_only(_W, i, o)
        return out, offset2bag + 1

    check_fallback(FnModule(fn), [_IDX, _OFF], op=FWD, detail="outputs are used")
