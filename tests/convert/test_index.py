"""Index converters: embedding, gather, index_select and advanced indexing (index.Tensor)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
from torch import fx

from torch_trt.convert.registry import Reason, support
from torch_trt.inputs import Input
from torch_trt.settings import CompileSettings
from torch_trt.testing import FnModule, check_conversion, check_dynamic_conversion, check_fallback

aten = torch.ops.aten


class Embed(torch.nn.Module):
    """An embedding table (a weight constant in the graph), optionally with padding_idx."""

    def __init__(self, n: int, d: int, padding_idx: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(n, d, padding_idx=padding_idx)

    def forward(self, i: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.emb(i)
        return out


class IndexConst(torch.nn.Module):
    """``x[:, idx]`` with a constant index buffer holding negative entries."""

    def __init__(self) -> None:
        super().__init__()
        self.idx: torch.Tensor
        self.register_buffer("idx", torch.tensor([-1, 0, -3, 2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.idx]


def r(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A small deterministic tensor of ``shape`` and ``dtype``."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape))
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-50, 50, shape, generator=g).to(dtype)


def ix(*values: Any, dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """An index tensor."""
    return torch.tensor(values, dtype=dtype)


# (id, module, inputs, ops that must land in the engine)
CASES: list[tuple[str, torch.nn.Module, list[torch.Tensor], Sequence[Any]]] = [
    ("embedding", Embed(10, 4), [ix([1, 2], [0, 9])], [aten.embedding.default]),
    ("embedding_int32_ids", Embed(10, 4), [ix(3, 3, 7, dtype=torch.int32)], []),
    ("embedding_padding_idx", Embed(6, 3, padding_idx=0), [ix([0, 5, 0])], []),
    (
        "embedding_fp16",
        Embed(10, 4).half(),
        [ix([1, 2], [0, 9])],
        [aten.embedding.default],
    ),
    (
        "gather",
        FnModule(lambda x, i: torch.gather(x, 2, i)),
        [r(2, 3, 4), ix([[0, 3], [1, 1], [2, 0]], [[3, 3], [0, 1], [2, 2]])],
        [aten.gather.default],
    ),
    (
        "gather_negdim_smaller_index",
        FnModule(lambda x, i: torch.gather(x, -2, i)),
        [r(3, 4), ix([2, 0], [1, 1])],
        [aten.gather.default],
    ),
    (
        "gather_int32_data",
        FnModule(lambda x, i: torch.gather(x, 0, i)),
        [r(3, 2, dtype=torch.int32), ix([2, 0], [0, 1], [1, 1])],
        [aten.gather.default],
    ),
    (
        "gather_fp16",
        FnModule(lambda x, i: torch.gather(x, 1, i)),
        [r(2, 5, dtype=torch.float16), ix([4, 0, 1], [3, 3, 2])],
        [aten.gather.default],
    ),
    (
        "index_select",
        FnModule(lambda x, i: torch.index_select(x, 1, i)),
        [r(2, 3, 4), ix(2, 0, 2, 1)],
        [aten.index_select.default],
    ),
    (
        "index_select_negdim_bool",
        FnModule(lambda x, i: torch.index_select(x, -1, i)),
        [r(3, 4, dtype=torch.bool), ix(3, 0)],
        [aten.index_select.default],
    ),
    ("index_first", FnModule(lambda x, i: x[i]), [r(4, 3), ix(3, 0, 1)], [aten.index.Tensor]),
    (
        "index_negative",
        FnModule(lambda x, i: x[:, i]),
        [r(2, 5, 3), ix([-1, 0], [-5, 4])],
        [aten.index.Tensor],
    ),
    (
        "index_negative_int32",
        FnModule(lambda x, i: x[i]),
        [r(4, 2, dtype=torch.int64), ix(-4, -1, 2, dtype=torch.int32)],
        [aten.index.Tensor],
    ),
    ("index_constant_negative", IndexConst(), [r(2, 4)], [aten.index.Tensor]),
    (
        "index_two_broadcast",
        FnModule(lambda x, i, j: x[:, i, j]),
        [r(2, 3, 4, 5), ix([0], [2]), ix(-1, 1, 3)],
        [aten.index.Tensor],
    ),
    (
        "index_two_leading_fp16",
        FnModule(lambda x, i, j: x[i, j]),
        [r(3, 4, 2, dtype=torch.float16), ix(2, 0), ix(3, -4)],
        [aten.index.Tensor],
    ),
    (
        "index_non_adjacent",
        FnModule(lambda x, i, j: x[i, :, j]),
        [r(3, 4, 5), ix(2, 0, 1), ix(4, -1, 0)],
        [aten.index.Tensor],
    ),
    (
        "index_bool_data",
        FnModule(lambda x, i: x[:, :, i]),
        [r(2, 3, 4, dtype=torch.bool), ix(0, 3, 3)],
        [aten.index.Tensor],
    ),
]


@pytest.mark.parametrize("module,inputs,ops", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_index_op_converts(
    module: torch.nn.Module, inputs: list[torch.Tensor], ops: Sequence[Any]
) -> None:
    """The op lands in one engine and the reference runtime matches eager."""
    check_conversion(module, inputs, ops=ops)


# (id, module, inputs, the op that must stay in PyTorch, words in the reason's detail)
FALLBACKS: list[tuple[str, torch.nn.Module, list[torch.Tensor], Any, str]] = [
    (
        "index_bool_mask_and_int_index",
        FnModule(lambda x, m, i: x[m, i]),
        [r(2, 3), torch.tensor([True, False]), ix(1)],
        aten.index.Tensor,
        "a boolean mask mixed with other index tensors",
    ),
    (
        "index_select_0d",
        FnModule(lambda x, i: torch.index_select(x, 0, i) + 1),
        [torch.tensor(2.0), ix(0)],
        aten.index_select.default,
        "self is 0-D",
    ),
]


@pytest.mark.parametrize(
    "module,inputs,op,words", [c[1:] for c in FALLBACKS], ids=[c[0] for c in FALLBACKS]
)
def test_index_op_falls_back(
    module: torch.nn.Module, inputs: list[torch.Tensor], op: Any, words: str
) -> None:
    """Unsupported arguments keep the node in PyTorch with a reason naming the problem."""
    check_fallback(module, inputs, op=op, detail=words)


def _node(
    op: Any,
    metas: Sequence[torch.Tensor],
    out: torch.Tensor,
    call: Callable[[list[fx.Node]], tuple[Any, ...]],
) -> fx.Node:
    """A node ``op(*call(placeholders))`` whose placeholders and output carry static metadata."""
    g = fx.Graph()
    ps = []
    for k, m in enumerate(metas):
        p = g.placeholder(f"a{k}")
        p.meta["val"] = m
        ps.append(p)
    node = g.call_function(op, call(ps))
    node.meta["val"] = out
    return node


# (id, node builder, words in the reason): cases the registry refuses before any tracing
# would even produce a static shape.
REFUSALS: list[tuple[str, Callable[[], fx.Node], str]] = [
    (
        "index_bool_0d",
        lambda: _node(
            aten.index.Tensor,
            [torch.zeros(2, 3), torch.tensor(True)],
            torch.zeros(1, 2, 3),
            lambda a: (a[0], [a[1]]),
        ),
        "a 0-D boolean index is not supported",
    ),
    (
        "index_uint8_mask",
        lambda: _node(
            aten.index.Tensor,
            [torch.zeros(2, 3), torch.ones(2, dtype=torch.uint8)],
            torch.zeros(2, 3),
            lambda a: (a[0], [a[1]]),
        ),
        "has dtype torch.uint8",
    ),
    (
        "index_no_tensors",
        lambda: _node(
            aten.index.Tensor,
            [torch.zeros(2, 3)],
            torch.zeros(2, 3),
            lambda a: (a[0], [None]),
        ),
        "index without index tensors",
    ),
    (
        "gather_rank_mismatch",
        lambda: _node(
            aten.gather.default,
            [torch.zeros(2, 3), torch.zeros(2, dtype=torch.int64)],
            torch.zeros(2),
            lambda a: (a[0], 0, a[1]),
        ),
        "index rank 1 differs from self rank 2",
    ),
    (
        "embedding_weight_3d",
        lambda: _node(
            aten.embedding.default,
            [torch.zeros(4, 2, 2), torch.zeros(3, dtype=torch.int64)],
            torch.zeros(3, 2, 2),
            lambda a: (a[0], a[1]),
        ),
        "embedding weight must be 2-D, got 3-D",
    ),
]


@pytest.mark.parametrize("build,words", [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_index_node_refused(build: Callable[[], fx.Node], words: str) -> None:
    """The capability check refuses arguments the converters cannot honour, with the reason."""
    verdict = support(build(), CompileSettings())
    assert not verdict.supported
    assert verdict.reason is Reason.UNSUPPORTED_ARGUMENTS
    assert words in verdict.detail


# -- dynamic shapes -----------------------------------------------------------------------------
def rng(lo: Sequence[int], opt: Sequence[int], hi: Sequence[int], **kw: Any) -> Input:
    """A ranged input."""
    return Input(min_shape=lo, opt_shape=opt, max_shape=hi, **kw)


def bert_mask(m: torch.Tensor) -> torch.Tensor:
    """BERT's mask construction: ``m[rows[:, None, None, None], cols[None, None, None, :]]``."""
    rows = torch.arange(m.shape[0])[:, None, None, None]
    cols = torch.arange(m.shape[1])[None, None, None, :]
    return m.bool()[rows, cols]


I64 = torch.int64
POINTS = {"min": 0, "opt": 1, "max": 2}


def at(point: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape for ``point`` out of (min, opt, max)."""
    return shapes[POINTS[point]]


# (id, module, ranged inputs, ops that must land, point -> inputs or None for random inputs)
DYNAMIC_CASES: list[tuple[str, torch.nn.Module, list[Input], Sequence[Any], Any]] = [
    (
        "embedding_dynamic",
        Embed(10, 4),
        [rng((1, 2), (2, 5), (4, 9), dtype=I64)],
        [aten.embedding.default],
        None,
    ),
    (
        "gather_dynamic",
        FnModule(lambda x, i: torch.gather(x, 1, i)),
        [
            rng((1, 5), (3, 5), (6, 5), dim_names=("b", None)),
            rng((1, 2), (3, 3), (6, 4), dtype=I64, dim_names=("b", None)),
        ],
        [aten.gather.default],
        None,
    ),
    (
        "index_select_dynamic",
        FnModule(lambda x, i: torch.index_select(x, 1, i)),
        [rng((1, 4), (3, 4), (5, 4)), rng((1,), (3,), (7,), dtype=I64)],
        [aten.index_select.default],
        None,
    ),
    (
        "index_bert_mask",
        FnModule(bert_mask),
        [rng((1, 2), (3, 5), (4, 9), dtype=I64)],
        [aten.index.Tensor],
        None,
    ),
    (
        "index_negative_dynamic_dim",
        FnModule(lambda x, i: x[:, i]),
        [rng((1, 4, 3), (2, 6, 3), (3, 8, 3)), rng((2,), (2,), (2,), dtype=I64)],
        [aten.index.Tensor],
        lambda p: [r(*at(p, (1, 4, 3), (2, 6, 3), (3, 8, 3))), ix(-4, 3)],
    ),
    (
        "index_two_dynamic",
        FnModule(lambda x, i: x[i, i] * 2),
        [
            rng((4, 4, 3), (5, 5, 3), (7, 7, 3), dim_names=("n", "n", None)),
            rng((1,), (3,), (6,), dtype=I64),
        ],
        [aten.index.Tensor],
        None,
    ),
]


@pytest.mark.parametrize(
    "module,specs,ops,make", [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_index_dynamic(
    module: torch.nn.Module, specs: list[Input], ops: Sequence[Any], make: Any
) -> None:
    """With symbolic dims the op lands in one engine and matches eager at min/opt/max shapes."""
    check_dynamic_conversion(module, specs, ops=ops, make_inputs=make)
