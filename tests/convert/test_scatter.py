"""Scatter converters: copy, slice_scatter, select_scatter, scatter (src/value/reduce),
scatter_add and index_put (with and without accumulate)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch

from torch_trt import Input
from torch_trt.testing import (
    FnModule,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    ranged,
)

aten = torch.ops.aten
f16, bf16, i8, i32, i64 = torch.float16, torch.bfloat16, torch.int8, torch.int32, torch.int64
COPY, SLICE_SCATTER = aten.copy.default, aten.slice_scatter.default
SCATTER, SCATTER_VALUE, SCATTER_REDUCE = aten.scatter.src, aten.scatter.value, aten.scatter.reduce
SCATTER_ADD, INDEX_PUT = aten.scatter_add.default, aten.index_put.default


def r(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    """A small deterministic tensor (ints in [-50, 50), bools at random)."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape) + seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-50, 50, shape, generator=g).to(dtype)


def perm_index(shape: Sequence[int], dim: int, size: int, seed: int = 0) -> torch.Tensor:
    """Indices along ``dim`` with no duplicates in any line (scatter without reduction is then
    fully defined): the first ``shape[dim]`` entries of a permutation of ``range(size)``."""
    g = torch.Generator().manual_seed(seed)
    lines = [
        torch.randperm(size, generator=g)[: shape[dim]] for _ in range(_numel(shape) // shape[dim])
    ]
    moved = torch.stack(lines).reshape(*[s for i, s in enumerate(shape) if i != dim], shape[dim])
    return moved.movedim(-1, dim).contiguous()


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def any_index(shape: Sequence[int], size: int, seed: int = 1) -> torch.Tensor:
    """Indices in [0, size), duplicates included (for sums and products)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, size, tuple(shape), generator=g)


def _setitem(x: torch.Tensor, key: Any, value: Any) -> torch.Tensor:
    y = x.clone()
    y[key] = value
    return y


Case = tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]
CASES: list[Case] = [
    ("copy", lambda x, y: x.clone().copy_(y), [r(2, 3), r(2, 3, seed=1)], [COPY]),
    ("copy_broadcast", lambda x, y: x.clone().copy_(y), [r(2, 3), r(3)], [COPY]),
    ("copy_cast", lambda x, y: x.clone().copy_(y), [r(4, dtype=i32), r(4) * 10], [COPY]),
    ("copy_to_bool", lambda x, y: x.clone().copy_(y), [r(4, dtype=torch.bool), r(4)], [COPY]),
    (
        "slice_scatter",
        lambda x, y: x.slice_scatter(y, 1, 1, 3),
        [r(2, 5), r(2, 2)],
        [SLICE_SCATTER],
    ),
    (
        "slice_scatter_step",
        lambda x, y: x.slice_scatter(y, 0, 1, 6, 2),
        [r(7, 2), r(3, 2)],
        [SLICE_SCATTER],
    ),
    (
        "slice_scatter_all",
        lambda x, y: x.slice_scatter(y, -1),
        [r(2, 3), r(2, 3, seed=2)],
        [SLICE_SCATTER],
    ),
    (
        "slice_scatter_neg",
        lambda x, y: x.slice_scatter(y, 1, -2),
        [r(2, 5), r(2, 2)],
        [SLICE_SCATTER],
    ),
    (
        "slice_scatter_end_big",
        lambda x, y: x.slice_scatter(y, 0, 3, 99),
        [r(5), r(2)],
        [SLICE_SCATTER],
    ),
    (
        "slice_scatter_int64",
        lambda x, y: x.slice_scatter(y, 0, 0, 2),
        [r(3, dtype=i64), r(2, dtype=i64)],
        [SLICE_SCATTER],
    ),
    (
        "slice_scatter_bf16",
        lambda x, y: x.slice_scatter(y, 1, 2),
        [r(2, 4, dtype=bf16), r(2, 2, dtype=bf16)],
        [SLICE_SCATTER],
    ),
    (
        "setitem_slice",
        lambda x, y: _setitem(x, (slice(None), slice(1, 3)), y),
        [r(3, 4), r(3, 2)],
        [SLICE_SCATTER],
    ),
    ("setitem_slice_scalar", lambda x: _setitem(x, (slice(1, None, 2),), 0.0), [r(6, 2)], []),
    ("select_scatter", lambda x, y: x.select_scatter(y, 1, 2), [r(2, 4), r(2)], []),
    ("select_scatter_neg", lambda x, y: x.select_scatter(y, 0, -1), [r(3, 2), r(2)], []),
    ("setitem_select", lambda x: _setitem(x, (slice(None), 1), -1.0), [r(2, 3)], []),
    (
        "scatter",
        lambda x, s, i: x.scatter(1, i, s),
        [r(3, 5), r(3, 4), perm_index((3, 4), 1, 5)],
        [SCATTER],
    ),
    (
        "scatter_dim0",
        lambda x, s, i: x.scatter(0, i, s),
        [r(4, 3), r(2, 3), perm_index((2, 3), 0, 4)],
        [SCATTER],
    ),
    (
        "scatter_small_index",
        lambda x, s, i: x.scatter(1, i, s),
        [r(3, 5), r(4, 6), perm_index((2, 3), 1, 5)],
        [SCATTER],
    ),
    (
        "scatter_int64",
        lambda x, s, i: x.scatter(-1, i, s),
        [r(2, 4, dtype=i64), r(2, 4, dtype=i64), perm_index((2, 4), 1, 4)],
        [SCATTER],
    ),
    (
        "scatter_bf16",
        lambda x, s, i: x.scatter(1, i, s),
        [r(2, 4, dtype=bf16), r(2, 2, dtype=bf16), perm_index((2, 2), 1, 4)],
        [SCATTER],
    ),
    (
        "scatter_bool",
        lambda x, s, i: x.scatter(1, i, s),
        [r(2, 4, dtype=torch.bool), r(2, 2, dtype=torch.bool), perm_index((2, 2), 1, 4)],
        [SCATTER],
    ),
    (
        "scatter_value",
        lambda x, i: x.scatter(1, i, 2.5),
        [r(3, 5), any_index((3, 2), 5)],
        [SCATTER_VALUE],
    ),
    (
        "scatter_value_int",
        lambda x, i: x.scatter(0, i, 7),
        [r(4, 2, dtype=i32), any_index((3, 2), 4)],
        [SCATTER_VALUE],
    ),
    (
        "scatter_value_int8",
        lambda x, i: x.scatter(1, i, -3),
        [r(2, 4, dtype=i8), any_index((2, 2), 4)],
        [SCATTER_VALUE],
    ),
    (
        "scatter_int8",
        lambda x, s, i: x.scatter(0, i, s),
        [r(3, 2, dtype=i8), r(2, 2, dtype=i8), perm_index((2, 2), 0, 3)],
        [SCATTER],
    ),
    (
        "scatter_add",
        lambda x, s, i: x.scatter_add(1, i, s),
        [r(3, 5), r(3, 6), any_index((3, 6), 5)],
        [SCATTER_ADD],
    ),
    (
        "scatter_add_dim0_small",
        lambda x, s, i: x.scatter_add(0, i, s),
        [r(4, 3), r(5, 3), any_index((5, 2), 4)],
        [SCATTER_ADD],
    ),
    (
        "scatter_add_int64",
        lambda x, s, i: x.scatter_add(1, i, s),
        [r(2, 3, dtype=i64), r(2, 7, dtype=i64), any_index((2, 7), 3)],
        [SCATTER_ADD],
    ),
    (
        "scatter_add_fp16",
        lambda x, s, i: x.scatter_add(0, i, s),
        [r(3, 2, dtype=f16), r(4, 2, dtype=f16), any_index((4, 2), 3)],
        [SCATTER_ADD],
    ),
    (
        "scatter_add_rank3",
        lambda x, s, i: x.scatter_add(2, i, s),
        [r(2, 3, 4), r(2, 3, 5), any_index((2, 3, 5), 4)],
        [SCATTER_ADD],
    ),
    (
        "scatter_reduce_add",
        lambda x, s, i: x.scatter(1, i, s, reduce="add"),
        [r(2, 4), r(2, 5), any_index((2, 5), 4)],
        [SCATTER_REDUCE],
    ),
    (
        "scatter_reduce_multiply",
        lambda x, s, i: x.scatter(0, i, s, reduce="multiply"),
        [r(3, 2), r(4, 2), any_index((4, 2), 3)],
        [SCATTER_REDUCE],
    ),
    (
        "scatter_value_reduce",
        lambda x, i: x.scatter(1, i, 2.0, reduce="multiply"),
        [r(2, 4), any_index((2, 3), 4)],
        [],
    ),
]

TWO = aten.scatter_reduce.two


def _reduce_case(how: str, include_self: bool, dtype: torch.dtype = torch.float32) -> Case:
    """scatter_reduce along dim 1 of a (3, 4) tensor from (3, 6) updates, duplicates included;
    the indices lie in [0, 3), so column 3 receives nothing and keeps its value."""
    index = any_index((3, 6), 3)
    return (
        f"scatter_reduce_{how}{'' if include_self else '_exclude_self'}_{str(dtype)[6:]}",
        lambda x, s, i: x.scatter_reduce(1, i, s, how, include_self=include_self),
        [r(3, 4, dtype=dtype), r(3, 6, dtype=dtype, seed=3), index],
        [TWO],
    )


CASES += [
    _reduce_case(how, include_self)
    for how in ("sum", "prod", "mean", "amax", "amin")
    for include_self in (True, False)
]
CASES += [
    _reduce_case("amax", False, i64),
    _reduce_case("sum", True, i32),
    _reduce_case("amin", True, f16),
    _reduce_case("mean", False, bf16),
]


@pytest.mark.parametrize(("fn", "inputs", "ops"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]) -> None:
    """The op lands in one engine, the engine builds, and the reference run matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


def _put(accumulate: bool = False) -> Callable[..., Any]:
    """``x.index_put((i,), v, accumulate)``."""
    return lambda x, i, v: x.index_put((i,), v, accumulate=accumulate)


PUT_CASES: list[Case] = [
    ("index_put_rows", _put(), [r(5, 3), torch.tensor([3, 0]), r(2, 3)], [INDEX_PUT]),
    ("index_put_negative", _put(), [r(5, 3), torch.tensor([-1, 1]), r(2, 3)], [INDEX_PUT]),
    ("index_put_broadcast_value", _put(), [r(4, 3), torch.tensor([2]), r(3)], [INDEX_PUT]),
    ("index_put_rank1", _put(), [r(6), torch.tensor([5, 1, 2]), r(3)], [INDEX_PUT]),
    ("index_put_int64", _put(), [r(4, 2, dtype=i64), torch.tensor([1, 3]), r(2, 2, dtype=i64)], []),
    (
        "index_put_bool",
        _put(),
        [r(4, dtype=torch.bool), torch.tensor([0, 2]), r(2, dtype=torch.bool)],
        [],
    ),
    ("index_put_bf16", _put(), [r(4, 2, dtype=bf16), torch.tensor([1]), r(1, 2, dtype=bf16)], []),
    (
        "index_put_two_dims",
        lambda x, i, j, v: x.index_put((i, j), v),
        [r(4, 5, 2), torch.tensor([0, 3, 1]), torch.tensor([4, 0, 2]), r(3, 2)],
        [INDEX_PUT],
    ),
    (
        "index_put_broadcast_indices",
        lambda x, i, j, v: x.index_put((i, j), v),
        [r(4, 5), torch.tensor([[0], [3]]), torch.tensor([1, 4, 2]), r(2, 3)],
        [INDEX_PUT],
    ),
    (
        "setitem_index",
        lambda x, i: _setitem(x, i, 0.5),
        [r(5, 2), torch.tensor([4, 0])],
        [INDEX_PUT],
    ),
    ("index_put_acc", _put(True), [r(5, 3), torch.tensor([3, 0, 3, 3]), r(4, 3)], [INDEX_PUT]),
    ("index_put_acc_negative", _put(True), [r(4), torch.tensor([-1, 3, 0]), r(3)], [INDEX_PUT]),
    (
        "index_put_acc_int",
        _put(True),
        [r(3, 2, dtype=i32), torch.tensor([1, 1]), r(2, 2, dtype=i32)],
        [],
    ),
    (
        "index_put_acc_two_dims",
        lambda x, i, j, v: x.index_put((i, j), v, accumulate=True),
        [r(3, 4, 2), torch.tensor([0, 2, 0]), torch.tensor([1, 3, 1]), r(3, 2)],
        [INDEX_PUT],
    ),
    (
        "index_put_after_slice",
        lambda x, i, v: _setitem(x, (slice(None), i), v),
        [r(3, 4), torch.tensor([0, 2]), r(3, 2)],
        [INDEX_PUT],
    ),
    (
        "index_put_middle_dims",
        lambda x, i, j, v: aten.index_put(x, [None, i, j], v),
        [r(2, 4, 3, 2), torch.tensor([3, 0]), torch.tensor([2, 2]), r(2, 2, 2)],
        [INDEX_PUT],
    ),
    (
        "index_put_acc_after_slice",
        lambda x, i, v: aten.index_put(x, [None, i], v, True),
        [r(2, 5, 3), torch.tensor([4, 4, 1]), r(2, 3, 3)],
        [INDEX_PUT],
    ),
    (
        "setitem_kv_cache",
        lambda c, p, v: _setitem(c, (slice(None), slice(None), p), v),
        [r(1, 2, 6, 4), torch.tensor([5]), r(1, 2, 1, 4)],
        [INDEX_PUT],
    ),
    (
        "index_add_like",
        lambda x, i, v: x.index_put((i,), v, True) * 2,
        [r(6), torch.tensor([2, 2, 5]), r(3)],
        [],
    ),
]


@pytest.mark.parametrize(
    ("fn", "inputs", "ops"), [c[1:] for c in PUT_CASES], ids=[c[0] for c in PUT_CASES]
)
def test_index_put_converts(
    fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]
) -> None:
    """index_put lands in one engine, builds, and matches eager (duplicates only when they
    accumulate, where the result is defined)."""
    check_conversion(FnModule(fn), inputs, ops=ops)


FALLBACKS: list[tuple[str, Callable[..., Any], list[Any], Any, str]] = [
    (
        "index_put_split_by_slice",
        lambda x, i, j, v: _setitem(x, (i, slice(None), j), v),
        [r(3, 4, 2), torch.tensor([0, 2]), torch.tensor([1, 0]), r(2, 4)],
        INDEX_PUT,
        "index tensors separated by a full slice",
    ),
    (
        "slice_scatter_dynamic_negative_start",
        lambda x, y: x.slice_scatter(y, 1, -2),
        [ranged((2, 3, 4), (3, 5, 8)), ranged((2, 3, 4), 2)],
        SLICE_SCATTER,
        "a negative slice start on a dynamic dim",
    ),
    (
        "slice_scatter_symbolic_start_maybe_negative",
        lambda x, y: x.slice_scatter(y, 1, 6 - x.shape[0], 8 - x.shape[0]),
        [ranged((2, 3, 8), 9), ranged((2, 3, 8), 2)],
        SLICE_SCATTER,
        "may be negative is not supported",
    ),
    (
        "scatter_reduce_mean_int",
        lambda x, s, i: x.scatter_reduce(0, i, s, "mean"),
        [r(3, dtype=i64), r(4, dtype=i64), any_index((4,), 3)],
        TWO,
        "scatter_reduce mean on integers",
    ),
    (
        "scatter_add_bool",
        lambda x, s, i: x.scatter_add(1, i, s),
        [r(2, 3, dtype=torch.bool), r(2, 3, dtype=torch.bool), any_index((2, 3), 3)],
        SCATTER_ADD,
        "reducing scatters take float and int32/int64",
    ),
]


@pytest.mark.parametrize(
    ("fn", "inputs", "op", "detail"), [c[1:] for c in FALLBACKS], ids=[c[0] for c in FALLBACKS]
)
def test_falls_back(fn: Callable[..., Any], inputs: list[Any], op: Any, detail: str) -> None:
    """Unsupported forms stay in PyTorch with a reason naming the limit."""
    check_fallback(FnModule(fn), inputs, op=op, detail=detail)


# --- dynamic shapes ---------------------------------------------------------------------------


BATCH, SEQ = (1, 3, 6), (4, 5, 9)


def _dyn(*makers: Callable[[int, int], torch.Tensor]) -> Callable[[str], list[torch.Tensor]]:
    """Inputs at each point: ``maker(batch, seq)`` with the min/opt/max sizes."""
    at = {"min": (1, 4), "opt": (3, 5), "max": (6, 9)}
    return lambda p: [m(*at[p]) for m in makers]


DYNAMIC_CASES: list[tuple[str, Callable[..., Any], list[Input], Any, Sequence[Any]]] = [
    (
        "copy_dyn",
        lambda x, y: x.clone().copy_(y),
        [ranged(BATCH, SEQ), ranged(1, SEQ)],
        None,
        [COPY],
    ),
    (
        "slice_scatter_dyn",
        lambda x: x.slice_scatter(x[:, :2] * 2, 1, 1, 3),
        [ranged(BATCH, SEQ)],
        None,
        [SLICE_SCATTER],
    ),
    (
        "slice_scatter_dyn_symbolic_start",  # write the last two positions (a cache tail)
        lambda x, y: x.slice_scatter(y, 1, x.shape[1] - 2),
        [ranged(BATCH, SEQ), ranged(BATCH, 2)],
        None,
        [SLICE_SCATTER],
    ),
    (
        "slice_scatter_dyn_start_from_other_input",
        lambda x, y: x.slice_scatter(y * 2, 0, y.shape[0], y.shape[0] * 2),
        [ranged((6, 8, 12), 3), ranged((1, 2, 4), 3)],
        None,
        [SLICE_SCATTER],
    ),
    (
        "slice_scatter_dyn_step",
        lambda x: x.slice_scatter(x[::2] + 1, 0, 0, None, 2),
        [ranged((3, 4, 7), 3)],  # export assumes the strided slice is not of length 1
        None,
        [SLICE_SCATTER],
    ),
    (
        "scatter_dyn",
        lambda x, i: x.scatter(1, i, -1.0),
        [ranged(BATCH, SEQ), ranged(BATCH, 2, dtype=i64)],
        _dyn(lambda b, s: r(b, s), lambda b, s: any_index((b, 2), 4)),
        [SCATTER_VALUE],
    ),
    (
        "scatter_add_dyn",
        lambda x, s, i: x.scatter_add(1, i, s),
        [ranged(BATCH, SEQ), ranged(BATCH, 3), ranged(BATCH, 3, dtype=i64)],
        _dyn(lambda b, s: r(b, s), lambda b, s: r(b, 3), lambda b, s: any_index((b, 3), 4)),
        [SCATTER_ADD],
    ),
    (
        "scatter_reduce_dyn",
        lambda x, s, i: x.scatter_reduce(1, i, s, "amax", include_self=False),
        [ranged(BATCH, SEQ), ranged(BATCH, 3), ranged(BATCH, 3, dtype=i64)],
        _dyn(lambda b, s: r(b, s), lambda b, s: r(b, 3), lambda b, s: any_index((b, 3), 4)),
        [TWO],
    ),
    (
        "index_put_dyn",
        lambda x, i, v: x.index_put((i,), v),
        [ranged(SEQ, 3), ranged(2, dtype=i64), ranged(2, 3)],
        _dyn(lambda b, s: r(s, 3), lambda b, s: torch.tensor([s - 1, 0]), lambda b, s: r(2, 3)),
        [INDEX_PUT],
    ),
    (
        "index_put_acc_dyn",
        lambda x, i, v: x.index_put((i,), v, accumulate=True),
        [ranged(SEQ, 2), ranged(BATCH, dtype=i64), ranged(BATCH, 2)],
        _dyn(lambda b, s: r(s, 2), lambda b, s: any_index((b,), 4), lambda b, s: r(b, 2)),
        [INDEX_PUT],
    ),
]


@pytest.mark.parametrize(
    ("fn", "specs", "make", "ops"),
    [c[1:] for c in DYNAMIC_CASES],
    ids=[c[0] for c in DYNAMIC_CASES],
)
def test_dynamic(fn: Callable[..., Any], specs: list[Input], make: Any, ops: Sequence[Any]) -> None:
    """With dynamic dims the op lands in one engine and matches eager at the min, opt and max
    shapes."""
    check_dynamic_conversion(FnModule(fn), specs, ops=ops, make_inputs=make)
