"""Ops with no converter of their own that convert through their core-ATen decompositions:
masked_fill (where), addcmul / addcdiv (mul, div, add), baddbmm (bmm, mul, add), and the rest
of issue 9's list that needs no converter: einsum (permute/view/bmm), logsumexp, norms, glu,
mish, logsigmoid, isfinite, clamp_min/max, chunk/narrow/unflatten/stack/expand_as, cat with
empty tensors, index_add (index_put), linspace, fill, repeat_interleave (self_int)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from torch_trt import Input
from torch_trt.testing import FnModule, check_conversion, check_dynamic_conversion, ranged

aten = torch.ops.aten
INF = float("inf")
f16 = torch.float16
WHERE, MUL, DIV, ADD, BMM = (
    aten.where.self,
    aten.mul.Tensor,
    aten.div.Tensor,
    aten.add.Tensor,
    aten.bmm.default,
)


def r(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    """A small deterministic tensor (ints in [-50, 50))."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape) + seed)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-50, 50, shape, generator=g).to(dtype)


def away_from_zero(*shape: int) -> torch.Tensor:
    """Divisors with |x| >= 0.5."""
    x = r(*shape, seed=1)
    return x.sign() * (x.abs() + 0.5)


Case = tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]
CASES: list[Case] = [
    ("masked_fill", lambda x: x.masked_fill(x > 0, 1.5), [r(3, 4)], [WHERE]),
    ("masked_fill_inf", lambda x: x.masked_fill(x < 0, float("-inf")), [r(3, 4)], [WHERE]),
    ("masked_fill_tensor", lambda x: x.masked_fill(x > 0, x[0, 0]), [r(3, 4)], [WHERE]),
    (
        "masked_fill_broadcast_mask",
        lambda x, m: x.masked_fill(m, -1.0),
        [r(2, 3, 4), torch.tensor([True, False, True, False])],
        [WHERE],
    ),
    ("masked_fill_int64", lambda x: x.masked_fill(x % 2 == 0, 7), [r(5, dtype=torch.int64)], []),
    ("masked_fill_fp16", lambda x: x.masked_fill(x > 0, 0.25), [r(3, 4, dtype=f16)], [WHERE]),
    ("addcmul", lambda a, b, c: torch.addcmul(a, b, c), [r(3, 4), r(3, 4), r(4)], [MUL, ADD]),
    (
        "addcmul_value",
        lambda a, b, c: torch.addcmul(a, b, c, value=-0.5),
        [r(2, 3), r(2, 1), r(3)],
        [MUL, ADD],
    ),
    (
        "addcmul_int",
        lambda a, b, c: torch.addcmul(a, b, c, value=3),
        [r(4, dtype=torch.int32), r(4, dtype=torch.int32), r(4, dtype=torch.int32)],
        [MUL, ADD],
    ),
    (
        "addcdiv",
        lambda a, b, c: torch.addcdiv(a, b, c),
        [r(3, 4), r(3, 4), away_from_zero(3, 4)],
        [DIV, ADD],
    ),
    (
        "addcdiv_value",
        lambda a, b, c: torch.addcdiv(a, b, c, value=2.5),
        [r(2, 3), r(3), away_from_zero(2, 1)],
        [DIV, ADD],
    ),
    (
        "baddbmm",
        lambda s, a, b: torch.baddbmm(s, a, b),
        [r(2, 3, 5), r(2, 3, 4), r(2, 4, 5)],
        [BMM, ADD],
    ),
    (
        "baddbmm_beta_alpha",
        lambda s, a, b: torch.baddbmm(s, a, b, beta=0.5, alpha=-2.0),
        [r(1, 5), r(2, 3, 4), r(2, 4, 5)],
        [BMM],
    ),
    (
        "einsum_bmm",
        lambda a, b: torch.einsum("bij,bjk->bik", a, b),
        [r(2, 3, 4), r(2, 4, 5)],
        [BMM],
    ),
    ("einsum_outer", lambda a, b: torch.einsum("i,j->ij", a, b), [r(3), r(4)], [MUL]),
    ("einsum_trace_free_sum", lambda a: torch.einsum("bij->bj", a), [r(2, 3, 4)], []),
    (
        "einsum_attention",
        lambda q, k: torch.einsum("bhqd,bhkd->bhqk", q, k),
        [r(1, 2, 3, 4), r(1, 2, 5, 4)],
        [BMM],
    ),
    ("logsumexp", lambda x: x.logsumexp(-1), [r(3, 5) * 20], []),
    (
        "logsumexp_inf_row",
        lambda x: x.logsumexp(1),
        [torch.tensor([[1.0, -INF], [-INF, -INF]])],
        [],
    ),
    ("norm_l2", lambda x: x.norm(dim=-1), [r(3, 4)], []),
    ("vector_norm_p3", lambda x: torch.linalg.vector_norm(x, 3, -1), [r(3, 4)], []),
    ("norm_l1_keepdim", lambda x: x.norm(p=1, dim=0, keepdim=True), [r(3, 4)], []),
    ("glu", lambda x: F.glu(x, -1), [r(2, 6)], []),
    ("mish", F.mish, [r(3, 4) * 4], []),
    ("logsigmoid", F.logsigmoid, [r(3, 4) * 30], []),
    ("isfinite", torch.isfinite, [torch.tensor([1.0, INF, -INF, float("nan"), 0.0])], []),
    ("clamp_min", lambda x: x.clamp_min(0.1), [r(3, 4)], []),
    ("clamp_max_int", lambda x: x.clamp_max(3), [r(3, 4, dtype=torch.int64)], []),
    ("chunk", lambda x: [t * 2 for t in x.chunk(3, -1)], [r(2, 7)], []),
    ("narrow", lambda x: x.narrow(-1, 1, 2) * 2, [r(2, 5)], []),
    ("unflatten", lambda x: x.unflatten(-1, (2, 3)) * 2, [r(2, 6)], []),
    ("stack", lambda x, y: torch.stack([x, y], 1), [r(2, 3), r(2, 3, seed=1)], []),
    ("expand_as", lambda x, y: x.expand_as(y) + y, [r(3, 1), r(3, 4)], []),
    ("cat_with_empty", lambda x: torch.cat([x, x[:, :0], torch.empty(0)], 1) * 2, [r(2, 3)], []),
    (
        "index_add",
        lambda x, s: x.index_add(0, torch.tensor([2, 0, 2]), s),
        [r(3, 4), r(3, 4, seed=1)],
        [],
    ),
    ("linspace", lambda x: x + torch.linspace(-1, 1, 5), [r(3, 5)], []),
    ("fill", lambda x: x.clone().fill_(2.5) + x, [r(3, 4)], []),
    ("repeat_interleave", lambda x: x.repeat_interleave(2, 1), [r(2, 3)], []),
    (
        "baddbmm_beta0_ignores_nan",
        lambda s, a, b: torch.baddbmm(s, a, b, beta=0.0),
        [torch.full((2, 3, 5), float("nan")), r(2, 3, 4), r(2, 4, 5)],
        [BMM],
    ),
]


@pytest.mark.parametrize(("fn", "inputs", "ops"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]) -> None:
    """The decomposed op lands in one engine, which builds and matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


BATCH, SEQ = (1, 3, 6), (2, 5, 9)

DYNAMIC_CASES: list[tuple[str, Callable[..., Any], list[Input], Sequence[Any]]] = [
    ("masked_fill_dyn", lambda x: x.masked_fill(x > 0.5, -2.0), [ranged(BATCH, SEQ)], [WHERE]),
    (
        "addcmul_dyn",
        lambda a: torch.addcmul(a, a, a.flip(0), value=0.5),
        [ranged(BATCH, SEQ)],
        [MUL, ADD],
    ),
    (
        "addcdiv_dyn",
        lambda a: torch.addcdiv(a, a, a.abs() + 1, value=-1.5),
        [ranged(BATCH, SEQ)],
        [DIV, ADD],
    ),
    ("einsum_dyn", lambda a: torch.einsum("bij,bkj->bik", a, a), [ranged(BATCH, SEQ, 4)], [BMM]),
    ("logsumexp_dyn", lambda x: x.logsumexp(-1), [ranged(BATCH, SEQ)], []),
    ("norm_dyn", lambda x: x.norm(dim=1), [ranged(BATCH, SEQ)], []),
    ("chunk_dyn_batch", lambda x: [t + 1 for t in x.chunk(2, -1)], [ranged(BATCH, 4)], []),
    ("stack_dyn", lambda x: torch.stack([x, x * 2], 0), [ranged(BATCH, SEQ)], []),
    ("repeat_interleave_dyn", lambda x: x.repeat_interleave(3, 0), [ranged(BATCH, 2)], []),
    (
        "baddbmm_dyn",
        lambda a, b: torch.baddbmm(a[:, :, :3], a, b, beta=0.5, alpha=2.0),
        [ranged(BATCH, 3, 4), ranged(BATCH, 4, 3)],
        [BMM],
    ),
]


@pytest.mark.parametrize(
    ("fn", "specs", "ops"), [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_dynamic(fn: Callable[..., Any], specs: list[Input], ops: Sequence[Any]) -> None:
    """With dynamic dims the decomposition lands in one engine and matches eager at the min,
    opt and max shapes."""
    check_dynamic_conversion(FnModule(fn), specs, ops=ops)
