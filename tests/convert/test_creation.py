"""Creation converters: arange, full, zeros/ones/empty (and *_like, new_*), scalar_tensor.

With static shapes the lowering folds creation ops that depend only on constants, so only the
``*_like`` ops survive in compiled models. The others are converted from hand-built fx graphs
(FakeTensorProp records their metadata), built into an engine and evaluated by the reference
runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
from torch import fx
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.fake_tensor_prop import FakeTensorProp

from torch_trt.build import build_engine
from torch_trt.convert.interpreter import convert_module
from torch_trt.convert.registry import Reason, support
from torch_trt.inputs import Input
from torch_trt.runtime.reference import read_network
from torch_trt.settings import CompileSettings
from torch_trt.testing import (
    FnModule,
    assert_close,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    ranged,
)

aten = torch.ops.aten
X = "X"  # stands for the graph input in hand-built argument lists
_EMPTY = {aten.empty.memory_format, aten.empty_like.default, aten.new_empty.default}
_EMPTY |= {aten.empty_strided.default, aten.empty_permuted.default}


# -- ops that survive lowering: compiled end to end ---------------------------------------------
CASES: list[tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]] = [
    ("full_like", lambda x: torch.full_like(x, 2.5), [torch.randn(2, 3)], [aten.full_like.default]),
    (
        "full_like_int64_from_float",
        lambda x: torch.full_like(x, 7, dtype=torch.int64),
        [torch.randn(2, 3)],
        [aten.full_like.default],
    ),
    (
        "full_like_bool",
        lambda x: torch.full_like(x, True),
        [torch.zeros(3, 2, dtype=torch.bool)],
        [aten.full_like.default],
    ),
    ("zeros_like", lambda x: torch.zeros_like(x) + x, [torch.randn(4)], [aten.full_like.default]),
    (
        "ones_like_int32",
        lambda x: torch.ones_like(x, dtype=torch.int32),
        [torch.randn(2, 2, 2)],
        [aten.full_like.default],
    ),
    (
        "ones_like_fp16",
        lambda x: torch.ones_like(x) * x,
        [torch.randn(3, 4).half()],
        [aten.full_like.default],
    ),
    ("full_like_scalar", lambda x: torch.full_like(x, -3.0), [torch.tensor(1.0)], []),
    ("arange_folded", lambda x: torch.arange(x.shape[0]) + x, [torch.randn(5)], []),
]


@pytest.mark.parametrize("fn,inputs,ops", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_creation_op_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Any) -> None:
    """The op lands in one engine and the reference runtime matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


# -- ops the lowering folds: hand-built one-node graphs -----------------------------------------
def _graph(op: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[fx.GraphModule, fx.Node]:
    g = fx.Graph()
    x = g.placeholder("x")
    node = g.call_function(op, tuple(x if a is X else a for a in args), kwargs)
    g.output(node)
    return fx.GraphModule(torch.nn.Module(), g), node


I64, F16, BF16, BOOL = torch.int64, torch.float16, torch.bfloat16, torch.bool
X23 = torch.randn(2, 3)

# (id, op, args with X for the input, kwargs, input)
GRAPH_CASES: list[tuple[str, Any, Sequence[Any], dict[str, Any], torch.Tensor]] = [
    ("arange_end", aten.arange.default, [5], {"dtype": I64}, X23),
    ("arange_end_float", aten.arange.default, [4.5], {}, X23),
    ("arange_start", aten.arange.start, [-3, 4], {"dtype": I64}, X23),
    ("arange_start_step", aten.arange.start_step, [1, 10, 3], {"dtype": I64}, X23),
    ("arange_negative_step", aten.arange.start_step, [5, -4, -2], {"dtype": torch.int32}, X23),
    ("arange_float_step", aten.arange.start_step, [0.0, 1.0, 0.125], {}, X23),
    ("arange_fp16", aten.arange.start_step, [0, 3, 0.5], {"dtype": F16}, X23),
    ("full", aten.full.default, [[2, 3], 1.5], {}, X23),
    ("full_int64", aten.full.default, [[3], -7], {"dtype": I64}, X23),
    ("full_bool", aten.full.default, [[2, 1, 2], True], {"dtype": BOOL}, X23),
    ("full_bf16", aten.full.default, [[2, 2], 0.1], {"dtype": BF16}, X23),
    ("zeros", aten.zeros.default, [[2, 4]], {}, X23),
    ("ones_int32", aten.ones.default, [[3, 1]], {"dtype": torch.int32}, X23),
    ("scalar_tensor", aten.scalar_tensor.default, [2.5], {}, X23),
    ("scalar_tensor_int64", aten.scalar_tensor.default, [3], {"dtype": I64}, X23),
    ("empty", aten.empty.memory_format, [[2, 2]], {}, X23),
    ("empty_strided", aten.empty_strided.default, [[2, 2], [1, 2]], {}, X23),
    ("empty_like", aten.empty_like.default, [X], {}, X23),
    ("empty_permuted", aten.empty_permuted.default, [[2, 3], [1, 0]], {}, X23),
    ("new_zeros", aten.new_zeros.default, [X, [4]], {}, X23),
    ("new_ones_int64", aten.new_ones.default, [X, [2, 5]], {"dtype": I64}, X23),
    ("new_full", aten.new_full.default, [X, [3], 4.0], {}, X23),
    ("new_empty", aten.new_empty.default, [X, [1, 3]], {}, X23),
    ("full_like_direct", aten.full_like.default, [X, 9], {"dtype": torch.int32}, X23),
    ("lift_fresh_copy", aten.lift_fresh_copy.default, [X], {}, X23),
]


@pytest.mark.parametrize(
    "op,args,kwargs,x", [c[1:] for c in GRAPH_CASES], ids=[c[0] for c in GRAPH_CASES]
)
def test_creation_node_converts(
    op: Any, args: Sequence[Any], kwargs: dict[str, Any], x: torch.Tensor
) -> None:
    """A lone creation node is supported, builds, and evaluates to eager's value."""
    gm, node = _graph(op, args, kwargs)
    FakeTensorProp(gm, FakeTensorMode(allow_non_fake_inputs=True)).propagate(x)
    assert support(node, CompileSettings()).supported
    network = convert_module(gm)
    assert build_engine(network, CompileSettings(), "creation")
    (got,) = read_network(network.net).run([x])
    want = op(*(x if a is X else a for a in args), **kwargs)
    if op in _EMPTY:  # uninitialized in eager; our documented value is zeros
        want = torch.zeros_like(want)
    assert_close(got, want, None)


# -- refusals -----------------------------------------------------------------------------------
def _item_node(g: fx.Graph, x: fx.Node) -> fx.Node:
    """A scalar computed in the graph (``x.sum().item()``-like), with static metadata."""
    s = g.call_function(aten._local_scalar_dense.default, (x,))
    s.meta["val"] = 1.0
    return s


# (id, op, args (X = input; a callable builds an extra node), kwargs, words in the reason)
REFUSALS: list[tuple[str, Any, Sequence[Any], dict[str, Any], str]] = [
    ("full_sparse", aten.full.default, [[2, 2], 1.0], {"layout": torch.sparse_coo}, "layout"),
    ("zeros_like_sparse", aten.zeros_like.default, [X], {"layout": torch.sparse_coo}, "layout"),
    (
        "full_like_graph_value",
        aten.full_like.default,
        [X, _item_node],
        {},
        "argument 'fill_value' is computed in the graph",
    ),
    (
        "arange_graph_end",
        aten.arange.default,
        [_item_node],
        {},
        "argument 'end' is computed in the graph",
    ),
]


@pytest.mark.parametrize(
    "op,args,kwargs,words", [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_creation_node_refused(
    op: Any, args: Sequence[Any], kwargs: dict[str, Any], words: str
) -> None:
    """The capability check refuses what the converter cannot honour, with the reason."""
    g = fx.Graph()
    x = g.placeholder("x")
    x.meta["val"] = torch.zeros(2, 2)
    call = [x if a is X else a(g, x) if callable(a) else a for a in args]
    node = g.call_function(op, tuple(call), kwargs)
    node.meta["val"] = torch.zeros(2, 2)
    verdict = support(node, CompileSettings())
    assert not verdict.supported
    assert verdict.reason is Reason.UNSUPPORTED_ARGUMENTS
    assert words in verdict.detail


# -- dynamic shapes -----------------------------------------------------------------------------
SEQ = ranged((1, 3, 4), (2, 5, 9))  # (b, s)
SEQ_I64 = ranged((1, 3, 4), (2, 5, 9), dtype=torch.int64)


def inverse_permutation(x: torch.Tensor) -> torch.Tensor:
    """The inverse of the permutation sorting ``x[0]``, written into an ``empty_like`` as
    transformers' MoE routing does: every element is overwritten, so eager is defined."""
    perm = torch.sort(x[0]).indices
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.shape[0])
    return inverse


# (id, function of one (b, s) input, its spec, ops that must land in the engine)
DYNAMIC_CASES: list[tuple[str, Callable[..., Any], Input, Sequence[Any]]] = [
    (
        "arange_symbolic_end",
        lambda x: torch.arange(x.shape[1]) + x,
        SEQ_I64,
        [aten.arange.start_step],
    ),
    (
        "arange_start_step",
        lambda x: torch.arange(1, x.shape[1] + 3, 2)[None, :].expand(x.shape[0], -1) * 1,
        SEQ_I64,
        [aten.arange.start_step],
    ),
    (
        "arange_negative_step",
        lambda x: torch.arange(x.shape[1], -2, -3) * 1,
        SEQ_I64,
        [aten.arange.start_step],
    ),
    ("arange_float", lambda x: torch.arange(x.shape[1], dtype=torch.float32) * x, SEQ, []),
    ("arange_int32", lambda x: torch.arange(x.shape[0], dtype=torch.int32) + 1, SEQ, []),
    ("arange_fp16", lambda x: torch.arange(x.shape[1], dtype=torch.float16) * 1, SEQ, []),
    ("full_symbolic", lambda x: torch.full((x.shape[0], 3), 2.5) * 1, SEQ, [aten.full.default]),
    ("full_zeros_two_symbols", lambda x: torch.zeros(x.shape[1], x.shape[0]) + x.t(), SEQ, []),
    ("full_ones_int64", lambda x: torch.ones(x.shape, dtype=torch.int64) + x, SEQ_I64, []),
    ("full_like_dynamic", lambda x: torch.full_like(x, 7), SEQ, [aten.full_like.default]),
    ("zeros_like_dynamic", lambda x: torch.zeros_like(x) + x, SEQ, [aten.full_like.default]),
    ("ones_like_bool", lambda x: torch.ones_like(x, dtype=torch.bool), SEQ, []),
    ("new_zeros_dynamic", lambda x: x.new_zeros(x.shape[0], 2) * 1, SEQ, []),
    ("empty_like_dynamic_overwritten", inverse_permutation, SEQ, [aten.empty_permuted.default]),
]


@pytest.mark.parametrize(
    "fn,spec,ops", [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_creation_dynamic(fn: Callable[..., Any], spec: Input, ops: Sequence[Any]) -> None:
    """Sizes that are symbols create tensors in the engine that match eager at min/opt/max."""
    check_dynamic_conversion(FnModule(fn), [spec], ops=ops)


# (id, function of one (b, s) input, the op that must stay in PyTorch, words in the reason)
DYNAMIC_FALLBACKS: list[tuple[str, Callable[..., Any], Any, str]] = [
    (
        "arange_symbolic_float_step",
        lambda x: torch.arange(0, x.shape[1], 0.5) + 1,
        aten.arange.start_step,
        "arange with a symbolic bound needs a nonzero integer step, got 0.5",
    ),
    (
        "full_symbolic_fill_value",
        lambda x: torch.full((2,), x.shape[0]) + 1,
        aten.full.default,
        "argument 'fill_value' is computed in the graph",
    ),
]


@pytest.mark.parametrize(
    "fn,op,words", [c[1:] for c in DYNAMIC_FALLBACKS], ids=[c[0] for c in DYNAMIC_FALLBACKS]
)
def test_creation_dynamic_falls_back(fn: Callable[..., Any], op: Any, words: str) -> None:
    """Symbolic arguments the converters cannot honour stay in PyTorch with the reason."""
    check_fallback(FnModule(fn), [SEQ], op=op, detail=words)
