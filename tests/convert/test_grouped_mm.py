"""Grouped matrix products (mixture-of-experts dispatch): the ``aten._grouped_mm`` converter and
the decomposition of transformers' ``grouped_mm_fallback`` op (dynamo/decompositions.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
from torch import fx

from torch_trt import Input
from torch_trt.convert.ops.grouped_mm import _grouped_mm_check
from torch_trt.convert.registry import Reason
from torch_trt.dynamo import decompositions
from torch_trt.testing import (
    FnModule,
    assert_close,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    ranged,
)

aten = torch.ops.aten
bf16, i32 = torch.bfloat16, torch.int32
GROUPED_MM, BMM, GATHER = aten._grouped_mm.default, aten.bmm.default, aten.index.Tensor


def r(*shape: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    """A small deterministic float tensor (torch's CPU grouped_mm wants 16-byte strides, so the
    last dim of bf16 operands is a multiple of 8)."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape) + seed)
    return torch.randn(shape, generator=g).to(dtype)


def offsets(*ends: int) -> torch.Tensor:
    """Cumulative group ends as torch's grouped_mm takes them (int32)."""
    return torch.tensor(ends, dtype=i32)


def per_group(a: torch.Tensor, b: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
    """The grouped product written as a loop over groups (rows past the last end stay 0)."""
    out = a.new_zeros(a.shape[0], b.shape[-1])
    start = 0
    for g, end in enumerate(offs.tolist()):
        out[start:end] = a[start:end] @ b[g]
        start = end
    return out


def grouped(a: torch.Tensor, b: torch.Tensor, offs: torch.Tensor | None = None) -> torch.Tensor:
    """``torch._grouped_mm``; in fp64 (no kernel: only the tolerance policy's reference runs
    it) the same product by the per-group loop."""
    if a.dtype == torch.float64:
        return torch.bmm(a, b) if offs is None else per_group(a, b, offs)
    return torch._grouped_mm(a, b, offs)


class Experts(torch.nn.Module):
    """Expert weights as a parameter in nn.Linear layout (G, N, K), used transposed as
    transformers does."""

    def __init__(self, groups: int, k: int, n: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(r(groups, n, k, seed=5).to(dtype))

    def forward(self, x: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
        return grouped(x, self.weight.transpose(-2, -1), offs)


# torch's _grouped_mm traces in bfloat16 only (its meta function refuses float32 and, without
# cuBLASLt, float16), so every converter case is bf16 (policy: no worse than bf16 eager vs fp64).
Case = tuple[str, Callable[..., Any], list[torch.Tensor]]
CASES: list[Case] = [
    ("grouped", grouped, [r(10, 16, dtype=bf16), r(3, 16, 8, dtype=bf16), offsets(3, 7, 10)]),
    ("empty_groups", grouped, [r(9, 8, dtype=bf16), r(4, 8, 16, dtype=bf16), offsets(0, 4, 4, 9)]),
    ("one_group", grouped, [r(5, 8, dtype=bf16), r(1, 8, 8, dtype=bf16), offsets(5)]),
    ("all_in_last", grouped, [r(6, 8, dtype=bf16), r(3, 8, 8, dtype=bf16), offsets(0, 0, 6)]),
    ("batched_3d", grouped, [r(3, 4, 8, dtype=bf16), r(3, 8, 16, dtype=bf16)]),
    (
        "constant_offs",
        lambda a, b: grouped(a, b, offsets(2, 2, 8)),
        [r(8, 8, dtype=bf16), r(3, 8, 8, dtype=bf16)],
    ),
]


@pytest.mark.parametrize(("fn", "inputs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_grouped_mm_converts(fn: Callable[..., Any], inputs: list[torch.Tensor]) -> None:
    """_grouped_mm lands in one engine, the engine builds, and the reference run matches eager."""
    check_conversion(FnModule(fn), inputs, ops=[GROUPED_MM])


def test_grouped_mm_weight_parameter() -> None:
    """Expert weights as a (transposed) parameter: one engine, matches eager."""
    x, offs = r(12, 16, dtype=bf16), offsets(5, 5, 9, 12)
    check_conversion(Experts(4, 16, 8, bf16), [x, offs], ops=[GROUPED_MM])


def engine_output(module: torch.nn.Module, inputs: Sequence[Any]) -> torch.Tensor:
    """Compile with the reference runtime, assert one engine and no fallback, return the output
    (for results eager leaves partly undefined, so check_conversion cannot compare them)."""
    import torch_trt

    compiled = torch_trt.dynamo.compile(
        module.eval(), list(inputs), runtime="reference", min_block_size=1
    )
    rep = torch_trt.report(compiled)
    assert rep.engines == 1 and rep.fallbacks == []
    with torch.no_grad():
        out: torch.Tensor = compiled(*inputs)
    return out


def test_grouped_mm_rows_past_last_end_are_zero() -> None:
    """Rows at or past offs[-1] belong to no group: the engine gives zeros there (torch leaves
    them undefined) and the grouped product elsewhere."""
    a, b, offs = r(10, 8, dtype=bf16), r(2, 8, 8, dtype=bf16), offsets(3, 6)
    got = engine_output(FnModule(grouped), [a, b, offs])
    want = per_group(a.double(), b.double(), offs)
    assert torch.equal(got[6:], torch.zeros(4, 8, dtype=bf16))
    assert (got[:6].double() - want[:6]).abs().max() <= 0.05 * want[:6].abs().max()


def _offs(ids: torch.Tensor, groups: int) -> torch.Tensor:
    """Group ends from sorted group ids: offs[g] = #{ids <= g}."""
    return (ids.unsqueeze(-1) <= torch.arange(groups, device=ids.device)).sum(0).to(i32)


def _routed(product: Callable[..., Any], groups: int) -> Callable[..., Any]:
    """x (S, K), sorted expert ids (S,) and weights: offs from the ids, then ``product``."""

    def fn(x: torch.Tensor, ids: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = product(x, w, _offs(ids, groups))
        return out

    return fn


def _routed_inputs(dtype: torch.dtype, groups: int) -> Callable[[str], list[torch.Tensor]]:
    sizes = {"min": 1, "opt": 9, "max": 24}

    def make(point: str) -> list[torch.Tensor]:
        s = sizes[point]
        ids = torch.sort(torch.randint(0, groups, (s,), generator=torch.Generator().manual_seed(s)))
        return [r(s, 8, dtype=dtype), ids.values, r(groups, 8, 16, dtype=dtype)]

    return make


def test_grouped_mm_dynamic_rows() -> None:
    """One engine serves every token count in the range (S = 1, 9, 24), groups from the data."""
    specs = [ranged((1, 9, 24), 8, dtype=bf16), ranged((1, 9, 24), dtype=torch.int64)]
    specs.append(Input(shape=(4, 8, 16), dtype=bf16))
    check_dynamic_conversion(
        FnModule(_routed(grouped, 4)),
        specs,
        ops=[GROUPED_MM],
        make_inputs=_routed_inputs(bf16, 4),
    )


@pytest.mark.parametrize(
    ("inputs", "detail"),
    [
        ([r(4, 16, dtype=bf16), r(16, 8, dtype=bf16), offsets(4, 8, 16)], "2-D x 2-D with offs"),
        ([r(3, 4, 8, dtype=bf16), r(8, 16, dtype=bf16), offsets(4, 8, 16)], "3-D x 2-D with offs"),
    ],
    ids=["ragged_k", "ragged_n"],
)
def test_gradient_forms_fall_back(inputs: list[torch.Tensor], detail: str) -> None:
    """The weight-gradient forms stay in PyTorch with a reason naming the form."""
    check_fallback(FnModule(grouped), inputs, op=GROUPED_MM, detail=detail)


def test_symbolic_group_count_falls_back() -> None:
    """A group count that is a dynamic dim stays in PyTorch (the converter needs it static)."""
    specs = [
        Input(shape=(12, 8), dtype=bf16),
        Input(min_shape=(2, 8, 8), opt_shape=(3, 8, 8), max_shape=(4, 8, 8), dtype=bf16),
        Input(min_shape=(2,), opt_shape=(3,), max_shape=(4,), dtype=i32),
    ]

    def every_row_in_group_0(a: torch.Tensor, b: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        return grouped(a, b, torch.full_like(o, a.shape[0]))

    check_fallback(
        FnModule(every_row_in_group_0), specs, op=GROUPED_MM, detail="symbolic group count"
    )


def _node(**kwargs: Any) -> fx.Node:
    """A _grouped_mm node whose tensor arguments carry the given values as metadata."""
    graph = fx.Graph()
    args: dict[str, Any] = {}
    for name, value in kwargs.items():
        if isinstance(value, torch.Tensor):
            args[name] = graph.placeholder(name)
            args[name].meta["val"] = value
        else:
            args[name] = value
    return graph.call_function(GROUPED_MM, (args.pop("self"), args.pop("mat2")), args)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"bias": r(3, 8, dtype=bf16)}, "with a bias"),
        ({"out_dtype": torch.float32}, "out_dtype=torch.float32"),
    ],
    ids=["bias", "out_dtype"],
)
def test_check_refuses_what_torch_cannot_trace_here(kwargs: dict[str, Any], reason: str) -> None:
    """A bias or a different out_dtype (torch's CPU kernels and meta functions refuse both, so
    no graph here has them) are refused by the check, not converted wrongly."""
    node = _node(self=r(10, 8, dtype=bf16), mat2=r(3, 8, 8, dtype=bf16), offs=offsets(3, 7, 10))
    assert _grouped_mm_check(node) is None
    node = _node(
        self=r(10, 8, dtype=bf16), mat2=r(3, 8, 8, dtype=bf16), offs=offsets(3, 7, 10), **kwargs
    )
    problem = _grouped_mm_check(node)
    assert problem is not None and reason in problem


# -- transformers::grouped_mm_fallback ------------------------------------------------------------
transformers_moe = pytest.importorskip("transformers.integrations.moe")


def fallback(a: torch.Tensor, b: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
    """transformers' float32 grouped product (a loop over groups, in eager)."""
    out: torch.Tensor = torch.ops.transformers.grouped_mm_fallback(a, b, offs)
    return out


def inf_elsewhere() -> list[torch.Tensor]:
    """Group 0's matrix holds an inf; rows of group 1 must not see it (no NaN from inf * 0)."""
    b = r(2, 4, 3)
    b[0, 1, 2] = float("inf")
    return [r(5, 4), b, offsets(2, 5)]


# Each case: the decomposition's gather lands in the engine; eager is transformers' own op.
FALLBACK_CASES: list[Case] = [
    ("grouped", fallback, [r(10, 5), r(3, 5, 7), offsets(3, 7, 10)]),
    ("empty_groups", fallback, [r(9, 4), r(4, 4, 6), offsets(0, 4, 4, 9)]),
    ("rows_past_last_end", fallback, [r(10, 4), r(2, 4, 3), offsets(3, 6)]),
    ("one_group", fallback, [r(5, 3), r(1, 3, 2), offsets(5)]),
    ("inf_in_other_group", fallback, inf_elsewhere()),
    (
        "fp16",
        fallback,
        [r(8, 4, dtype=torch.float16), r(2, 4, 8, dtype=torch.float16), offsets(3, 8)],
    ),
]


@pytest.mark.parametrize(
    ("fn", "inputs"), [c[1:] for c in FALLBACK_CASES], ids=[c[0] for c in FALLBACK_CASES]
)
def test_fallback_op_converts(fn: Callable[..., Any], inputs: list[torch.Tensor]) -> None:
    """transformers' grouped_mm_fallback decomposes into ops of one engine matching eager."""
    check_conversion(FnModule(fn), inputs, ops=[BMM, GATHER])


def test_fallback_op_dynamic_rows() -> None:
    """The decomposed fallback serves every token count of its range in one engine."""
    specs = [ranged((1, 9, 24), 8), ranged((1, 9, 24), dtype=torch.int64), Input(shape=(4, 8, 16))]
    check_dynamic_conversion(
        FnModule(_routed(fallback, 4)),
        specs,
        ops=[BMM],
        make_inputs=_routed_inputs(torch.float32, 4),
    )


def test_decomposition_needs_the_expected_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """An op registered under a known name but with other arguments is not decomposed."""
    assert (
        torch.ops.transformers.grouped_mm_fallback.default in decompositions.extra_decompositions()
    )
    renamed = tuple(
        (ns, name, ov, ("input", "weights", "offsets"), fn)
        for ns, name, ov, _, fn in decompositions._THIRD_PARTY
    )
    monkeypatch.setattr(decompositions, "_THIRD_PARTY", renamed)
    assert decompositions.extra_decompositions() == {}


def test_fallback_op_left_alone_without_decomposition(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the decomposition the op has no converter: it stays in PyTorch with that reason
    (so the decomposition is what converts it)."""
    monkeypatch.setattr(decompositions, "_THIRD_PARTY", ())
    check_fallback(
        FnModule(fallback),
        [r(10, 5), r(3, 5, 7), offsets(3, 7, 10)],
        op=torch.ops.transformers.grouped_mm_fallback.default,
        detail="",
        reason=Reason.NO_CONVERTER,
    )


def test_fallback_op_converts_under_torch_compile() -> None:
    """The torch.compile backend lowers with the same table: the fallback op is decomposed
    there too, and the graph is one engine matching eager."""
    import torch_trt

    torch._dynamo.reset()
    try:
        module = FnModule(fallback).eval()
        options = {"runtime": "reference", "min_block_size": 1}
        compiled = torch.compile(module, backend="torch_trt", options=options)
        a, b, offs = r(10, 5), r(3, 5, 7), offsets(3, 7, 10)
        with torch.no_grad():
            got, want = compiled(a, b, offs), module(a, b, offs)
        rep = torch_trt.report(compiled)
        assert rep.engines == 1 and rep.fallbacks == []
        assert_close(got, want, None)
    finally:
        torch._dynamo.reset()
