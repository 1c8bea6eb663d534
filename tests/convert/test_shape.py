"""Shape-manipulation converters: view, permute, expand, cat, slice, select, split, casts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
from torch import fx
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.fake_tensor_prop import FakeTensorProp

import torch_trt
from torch_trt.build import build_engine
from torch_trt.convert.interpreter import convert_module
from torch_trt.convert.registry import Reason, support
from torch_trt.inputs import Input
from torch_trt.runtime.reference import read_network
from torch_trt.settings import CompileSettings, op_name
from torch_trt.testing import (
    FnModule,
    assert_close,
    check_conversion,
    check_dynamic_conversion,
)

aten = torch.ops.aten
REPEAT = aten.repeat.default


def r(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A small deterministic tensor of ``shape`` and ``dtype`` (ints span negatives)."""
    g = torch.Generator().manual_seed(sum(shape) + len(shape))
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-50, 50, shape, generator=g).to(dtype)


# (id, function, inputs, ops that must land in the engine)
CASES: list[tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]] = [
    ("view", lambda x: x.view(6, -1), [r(2, 3, 4)], [aten.view.default]),
    ("view_flatten", lambda x: x.flatten(1), [r(2, 3, 4)], [aten.view.default]),
    ("view_to_scalar", lambda x: x.view(()), [r(1, 1)], [aten.view.default]),
    (
        "reshape_copy",
        lambda x: aten._reshape_copy.default(x, [6, -1]),
        [r(2, 3, 4)],
        [aten._reshape_copy.default],
    ),
    ("view_int64", lambda x: x.reshape(4, 6), [r(2, 3, 4, dtype=torch.int64)], []),
    ("view_noncontig", lambda x: x.transpose(0, 1).reshape(-1), [r(2, 3)], [aten.clone.default]),
    ("permute", lambda x: x.permute(2, 0, 1), [r(2, 3, 4)], [aten.permute.default]),
    ("permute_neg", lambda x: x.permute(-1, -3, -2), [r(2, 3, 4)], [aten.permute.default]),
    ("permute_transpose", lambda x: x.transpose(0, 2), [r(2, 3, 4)], [aten.permute.default]),
    ("permute_t_fp16", lambda x: x.t(), [r(3, 5, dtype=torch.float16)], [aten.permute.default]),
    ("expand", lambda x: x.expand(2, 5, 4), [r(2, 1, 4)], [aten.expand.default]),
    ("expand_keep", lambda x: x.expand(3, -1, 4), [r(2, 1)], [aten.expand.default]),
    ("expand_bool", lambda x: x.expand(4, 3), [r(1, 3, dtype=torch.bool)], [aten.expand.default]),
    ("expand_scalar", lambda x: x.expand(2, 3), [torch.tensor(1.5)], [aten.expand.default]),
    ("squeeze_dim", lambda x: x.squeeze(1), [r(2, 1, 4)], [aten.squeeze.dims]),
    ("squeeze_all", lambda x: x.squeeze(), [r(1, 3, 1)], [aten.squeeze.dims]),
    ("squeeze_dims", lambda x: x.squeeze((0, 2)), [r(1, 3, 1)], [aten.squeeze.dims]),
    ("unsqueeze", lambda x: x.unsqueeze(-1), [r(2, 3)], [aten.unsqueeze.default]),
    ("unsqueeze_front_int32", lambda x: x.unsqueeze(0), [r(3, dtype=torch.int32)], []),
    ("cat", lambda x, y: torch.cat([x, y], 1), [r(2, 3), r(2, 5)], [aten.cat.default]),
    ("cat_negdim", lambda x, y: torch.cat([x, y], -1), [r(2, 3), r(2, 5)], [aten.cat.default]),
    (
        "cat_empty_constant",  # an empty constant adds nothing: the converter drops it
        lambda x: torch.cat([x, torch.empty(2, 0)], 1) * 2,
        [r(2, 3)],
        [aten.cat.default],
    ),
    (
        "cat_legacy_empty_1d",
        lambda x: torch.cat([torch.empty(0), x, torch.zeros(0)], 0) * 2,
        [r(2, 3)],
        [aten.cat.default],
    ),
    ("cat_three", lambda x, y: torch.cat([x, y, x], 0), [r(2, 3), r(4, 3)], [aten.cat.default]),
    (
        "cat_int64",
        lambda x, y: torch.cat([x, y], -2),
        [r(2, 3, dtype=torch.int64), r(1, 3, dtype=torch.int64)],
        [aten.cat.default],
    ),
    (
        "cat_mixed_dtypes",
        lambda x, y: torch.cat([x, y], 0),
        [r(2, 3), r(1, 3, dtype=torch.int32)],
        [aten.cat.default],
    ),
    (
        "cat_legacy_empty",
        lambda x, y: torch.cat([x, y], 1),
        [r(2, 3), torch.zeros(0)],
        [aten.cat.default],
    ),
    ("cat_stack", lambda x, y: torch.stack([x, y], 1), [r(2, 3), r(3, 2).t()], []),
    ("slice", lambda x: x[:, 1:3], [r(3, 5)], [aten.slice.Tensor]),
    ("slice_step", lambda x: x[:, ::2], [r(3, 5)], [aten.slice.Tensor]),
    ("slice_negative", lambda x: x[-2:, :-1], [r(3, 5)], [aten.slice.Tensor]),
    ("slice_clamped", lambda x: x[:, -100:100:3], [r(3, 7)], [aten.slice.Tensor]),
    ("slice_empty", lambda x: x[:, 4:2] + 1, [r(3, 5)], [aten.slice.Tensor]),
    ("slice_narrow_int64", lambda x: x.narrow(1, 1, 2), [r(2, 4, dtype=torch.int64)], []),
    ("select", lambda x: x[:, 2], [r(2, 3, 4)], [aten.select.int]),
    ("select_negative", lambda x: x[-1], [r(2, 3, 4)], [aten.select.int]),
    ("select_bool", lambda x: x[:, -2], [r(3, 4, dtype=torch.bool)], [aten.select.int]),
    ("select_to_scalar", lambda x: x[1] * 2, [r(3)], [aten.select.int]),
    ("split", lambda x: x.split(2, 1), [r(2, 5)], [aten.split_with_sizes.default]),
    ("split_sizes", lambda x: x.split([1, 3], -1), [r(2, 4)], [aten.split_with_sizes.default]),
    ("split_chunk_fp16", lambda x: x.chunk(3, 0), [r(6, 2, dtype=torch.float16)], []),
    ("split_unbind", lambda x: x.unbind(1), [r(2, 3)], []),
    ("repeat", lambda x: x.repeat(2, 1, 3), [r(3, 2)], [aten.repeat.default]),
    ("repeat_tile_int32", lambda x: x.tile((2, 2)), [r(2, 3, dtype=torch.int32)], []),
    ("repeat_new_leading_dims", lambda x: x.repeat(2, 3, 1, 2), [r(3, 2)], [REPEAT]),
    ("repeat_ones", lambda x: x.repeat(1, 1) * 2, [r(3, 2)], [REPEAT]),
    ("repeat_zero", lambda x: x.repeat(0, 2), [r(3, 2)], [REPEAT]),
    ("repeat_bool", lambda x: x.repeat(2, 2), [r(2, 3) > 0], [REPEAT]),
    ("repeat_rank0", lambda x: x.repeat(3), [torch.tensor(1.5)], [REPEAT]),
    ("repeat_fp16", lambda x: x.repeat(1, 3), [r(2, 3, dtype=torch.float16)], [REPEAT]),
    ("clone", lambda x: x.clone() + 1, [r(2, 3)], [aten.clone.default]),
    ("clone_contiguous", lambda x: x.permute(1, 0).contiguous(), [r(2, 3)], [aten.clone.default]),
    (
        "clone_channels_last",
        lambda x: x.clone(memory_format=torch.channels_last),
        [r(1, 2, 3, 3)],
        [aten.clone.default],
    ),
    ("to_copy_int32", lambda x: (x * 10).to(torch.int32), [r(3, 4)], [aten._to_copy.default]),
    ("to_copy_int64", lambda x: (x * 10).long(), [r(3, 4)], [aten._to_copy.default]),
    ("to_copy_fp16", lambda x: x.half(), [r(3, 4)], [aten._to_copy.default]),
    ("to_copy_from_fp16", lambda x: x.float(), [r(3, 4, dtype=torch.float16)], []),
    ("to_copy_bf16", lambda x: x.bfloat16(), [r(3, 4)], [aten._to_copy.default]),
    ("to_copy_float_to_bool", lambda x: x.bool(), [torch.tensor([0.0, -0.0, 0.3, -2.0])], []),
    ("to_copy_int_to_bool", lambda x: x.bool(), [r(5, dtype=torch.int32)], []),
    ("to_copy_bool_to_float", lambda x: x.float(), [r(2, 3, dtype=torch.bool)], []),
    ("to_copy_int_to_float", lambda x: x.float(), [r(2, 3, dtype=torch.int64)], []),
    (
        "to_copy_truncates",
        lambda x: x.to(torch.int32),
        [torch.tensor([-2.7, -1.5, -0.4, 0.0, 0.4, 1.5, 2.7])],
        [aten._to_copy.default],
    ),
]


@pytest.mark.parametrize("fn,inputs,ops", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_shape_op_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Any) -> None:
    """The op lands in one engine and the reference runtime matches eager."""
    check_conversion(FnModule(fn), inputs, ops=ops)


# (id, function, inputs, the op that must stay in PyTorch, words in the reason's detail)
FALLBACKS: list[tuple[str, Callable[..., Any], list[torch.Tensor], Any, str]] = [
    (
        "view_rank9",
        lambda x: x.view(*([1] * 9)) + 1,
        [r(1)],
        aten.view.default,
        "TensorRT tensors have at most 8 dims",
    ),
    (
        "unsqueeze_data_dependent_from_pytorch",
        lambda x, m, i: x[m, i].unsqueeze(1),
        [r(2, 3), torch.tensor([True, False]), torch.tensor([1])],
        aten.unsqueeze.default,
        "takes a data-dependent size computed in PyTorch",
    ),
    (
        "to_copy_device",
        lambda x: x.to(device="meta", dtype=torch.int32),
        [r(2, 3)],
        aten._to_copy.default,
        "device change cpu -> meta",
    ),
]


@pytest.mark.parametrize(
    "fn,inputs,op,words", [c[1:] for c in FALLBACKS], ids=[c[0] for c in FALLBACKS]
)
def test_shape_op_falls_back(
    fn: Callable[..., Any], inputs: list[torch.Tensor], op: Any, words: str
) -> None:
    """Unsupported arguments keep the node in PyTorch with a reason naming the problem."""
    # Not check_fallback: the to_copy_device case returns meta tensors, which have no values to
    # compare with eager.
    compiled = torch_trt.dynamo.compile(FnModule(fn), inputs, runtime="reference", min_block_size=1)
    rep = torch_trt.report(compiled)
    hits = [p for p in rep.fallbacks if p.op == op_name(op)]
    assert hits, f"{op} did not fall back: {rep.fallbacks}"
    assert hits[0].reason is Reason.UNSUPPORTED_ARGUMENTS
    assert words in hits[0].detail


# -- overloads the lowering rewrites away (transpose, t, reshape, squeeze.dim, split, unbind,
# ...): converted from hand-built one-node graphs so that their converters are still exercised.
X = "X"  # stands for the graph input in an argument list

GRAPH_CASES: list[tuple[str, Any, Sequence[Any], torch.Tensor]] = [
    ("view_unsafe", aten._unsafe_view.default, [X, [3, 8]], r(2, 3, 4)),
    ("view_reshape", aten.reshape.default, [X, [-1, 2]], r(2, 3, 4)),
    ("view_flatten_using_ints", aten.flatten.using_ints, [X, 0, 1], r(2, 3, 4)),
    ("squeeze_default", aten.squeeze.default, [X], r(1, 3, 1)),
    ("squeeze_dim_noop", aten.squeeze.dim, [X, 1], r(2, 3)),
    ("squeeze_dim", aten.squeeze.dim, [X, -1], r(2, 3, 1)),
    ("permute_transpose_int", aten.transpose.int, [X, -1, 0], r(2, 3, 4)),
    ("permute_t", aten.t.default, [X], r(2, 5)),
    ("permute_t_1d", aten.t.default, [X], r(4)),
    ("split_tensor", aten.split.Tensor, [X, 2, -1], r(3, 5)),
    ("split_with_empty", aten.split_with_sizes.default, [X, [3, 0]], r(3, 2)),
    ("split_unbind_int", aten.unbind.int, [X, 1], r(2, 3, dtype=torch.int64)),
    ("to_copy_bool_to_int", aten._to_copy.default, [X], r(4, dtype=torch.bool)),
]


@pytest.mark.parametrize("op,args,x", [c[1:] for c in GRAPH_CASES], ids=[c[0] for c in GRAPH_CASES])
def test_shape_node_converts(op: Any, args: Sequence[Any], x: torch.Tensor) -> None:
    """A lone node of the overload is supported, builds, and evaluates to eager's value."""
    kwargs: dict[str, Any] = {"dtype": torch.int32} if op is aten._to_copy.default else {}
    g = fx.Graph()
    p = g.placeholder("x")
    node = g.call_function(op, tuple(p if a is X else a for a in args), kwargs)
    g.output(node)
    gm = fx.GraphModule(torch.nn.Module(), g)
    FakeTensorProp(gm, FakeTensorMode(allow_non_fake_inputs=True)).propagate(x)
    assert support(node, CompileSettings()).supported
    network = convert_module(gm)
    assert build_engine(network, CompileSettings(), "shape")
    got = read_network(network.net).run([x])
    want = op(*(x if a is X else a for a in args), **kwargs)
    want = list(want) if isinstance(want, list | tuple) else [want]
    assert len(got) == len(want)
    for g_, w in zip(got, want, strict=True):
        assert_close(g_, w, None)


def test_to_copy_same_device_converts() -> None:
    """``x.to(device=x.device)`` is no device change: it converts."""
    check_conversion(FnModule(lambda x: x.to(device="cpu", dtype=torch.int32)), [r(2, 3)])


# -- dynamic shapes -----------------------------------------------------------------------------
def rng(lo: Sequence[int], opt: Sequence[int], hi: Sequence[int], **kw: Any) -> Input:
    """A ranged input (``dim_names`` ties dims of several inputs to one symbol)."""
    return Input(min_shape=lo, opt_shape=opt, max_shape=hi, **kw)


B = {"dim_names": ("b", None)}  # dim 0 of 2-D inputs is one shared batch symbol
BATCH3 = rng((1, 3, 4), (3, 3, 4), (6, 3, 4))  # (b, 3, 4)
SEQ = rng((1, 2, 8), (2, 5, 8), (4, 9, 8))  # (b, s, 8)
# Slices that leave s - 1 or s // 2 elements: export traces them assuming that count is not 1
# (it never specializes sizes 0/1), so the range starts where the assumption holds.
SEQ_SLICED = rng((1, 5, 8), (2, 6, 8), (4, 9, 8))


def as_module(fn: Any) -> torch.nn.Module:
    """``fn`` as a module (a module stays itself)."""
    return fn if isinstance(fn, torch.nn.Module) else FnModule(fn)


class PosSlice(torch.nn.Module):
    """BERT's ``position_ids[:, :seq_len]``: a buffer sliced up to a symbolic end."""

    def __init__(self) -> None:
        super().__init__()
        self.pos: torch.Tensor
        self.register_buffer("pos", torch.arange(12).reshape(1, 12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pos[:, : x.shape[1]] + x


# (id, function or module, ranged inputs, ops that must land in the engine)
DYNAMIC_CASES: list[tuple[str, Any, list[Input], Sequence[Any]]] = [
    ("view_batch", lambda x: x.view(x.shape[0], 12), [BATCH3], [aten.view.default]),
    ("view_heads", lambda x: x.view(x.shape[0], x.shape[1], -1, 4), [SEQ], [aten.view.default]),
    ("view_merge_dynamic", lambda x: x.reshape(-1, 8) * 2, [SEQ], [aten.view.default]),
    ("view_flatten_all", lambda x: x.flatten() + 1, [BATCH3], [aten.view.default]),
    ("view_flatten_two_dynamic", lambda x: x.flatten(0, 1), [SEQ], [aten.view.default]),
    ("unsqueeze_dynamic", lambda x: x.unsqueeze(1), [SEQ], [aten.unsqueeze.default]),
    ("squeeze_dynamic", lambda x: x[:, :1].squeeze(1), [SEQ], [aten.squeeze.dims]),
    ("permute_dynamic", lambda x: x.permute(2, 0, 1), [SEQ], [aten.permute.default]),
    ("permute_transpose_dynamic", lambda x: x.transpose(1, 2), [SEQ], [aten.permute.default]),
    ("expand_dynamic_keep", lambda x: x[:, :1].expand(-1, 5, -1), [SEQ], [aten.expand.default]),
    (
        "expand_symbolic_size",
        lambda x, y: y.expand(x.shape[0], x.shape[1]),
        [rng((1, 2), (3, 4), (5, 7)), rng((1, 2), (1, 4), (1, 7), dim_names=(None, "s"))],
        [aten.expand.default],
    ),
    (
        "expand_mask_like",
        lambda m: m[:, None, None, :].expand(m.shape[0], -1, m.shape[1], m.shape[1]),
        [rng((1, 2), (3, 4), (5, 7), dtype=torch.bool)],
        [aten.expand.default],
    ),
    ("slice_symbolic_end_buffer", PosSlice(), [rng((2, 2), (2, 6), (2, 12))], [aten.slice.Tensor]),
    ("slice_sentinel_dynamic", lambda x: x[:, 1:], [SEQ_SLICED], [aten.slice.Tensor]),
    ("slice_negative_dynamic", lambda x: x[:, -3:-1], [rng((1, 3), (2, 6), (3, 9))], []),
    ("slice_step_dynamic", lambda x: x[:, 1::2], [SEQ_SLICED], [aten.slice.Tensor]),
    ("slice_sym_bounds", lambda x: x[:, x.shape[1] // 2 : x.shape[1] - 1], [SEQ_SLICED], []),
    ("slice_static_dim", lambda x: x[:, :, 2:6], [SEQ], [aten.slice.Tensor]),
    ("select_dynamic_dim", lambda x: x[:, 0], [SEQ], [aten.select.int]),
    ("select_negative_dynamic", lambda x: x[:, -1], [SEQ], [aten.select.int]),
    ("select_static_dim", lambda x: x[:, :, -2], [SEQ], [aten.select.int]),
    (
        "cat_dynamic",
        lambda x, y: torch.cat([x, y], 1),
        [rng((1, 3), (2, 3), (4, 3), **B), rng((1, 2), (2, 2), (4, 2), **B)],
        [aten.cat.default],
    ),
    (
        "cat_dynamic_axis",
        lambda x, y: torch.cat([x, y], 0),
        [rng((1, 3), (2, 3), (4, 3)), rng((1, 3), (3, 3), (5, 3))],
        [aten.cat.default],
    ),
    ("clone_dynamic", lambda x: x.permute(1, 0, 2).contiguous(), [SEQ], [aten.clone.default]),
    ("to_copy_dynamic", lambda x: (x * 10).to(torch.int32), [SEQ], [aten._to_copy.default]),
    ("to_copy_dynamic_bool", lambda x: x.bool(), [SEQ], [aten._to_copy.default]),
    ("split_dynamic_batch", lambda x: x.split(3, 2), [SEQ], [aten.split_with_sizes.default]),
    ("split_chunk_dynamic", lambda x: x.chunk(2, -1), [SEQ], []),
    ("split_unbind_dynamic", lambda x: x.unbind(2), [rng((1, 2, 3), (2, 5, 3), (4, 9, 3))], []),
    (
        "reshape_copy_dynamic",
        lambda x: aten._reshape_copy.default(x, [-1, x.shape[2]]),
        [SEQ],
        [aten._reshape_copy.default],
    ),
    (
        "split_dynamic_dim_symbolic_sizes",
        lambda x: [t * 2 for t in x.split([2, x.shape[0] - 2], 0)],
        [rng((4, 2), (5, 2), (8, 2))],  # export guards each piece to be != 1
        [aten.split_with_sizes.default],
    ),
    (
        "split_dynamic_dim_tail",
        lambda x: [t + 1 for t in torch.split(x, [x.shape[1] - 1, 1], 1)],
        [rng((1, 3, 8), (2, 5, 8), (4, 9, 8))],
        [aten.split_with_sizes.default],
    ),
    (
        "select_dynamic_rank1_to_scalar",  # a 0-D gather (the reference once failed on it)
        lambda x: x * x[1],
        [rng((2,), (5,), (9,))],
        [aten.select.int],
    ),
    (
        "select_symbolic_index_last",
        lambda x: x[:, x.shape[1] - 1],
        [SEQ],
        [aten.select.int],
    ),
    (
        "select_symbolic_index_static_data",
        lambda x, t: t.select(0, x.shape[0] - 1) * x.shape[0],
        [rng((1, 3), (3, 3), (6, 3)), rng((6, 3), (6, 3), (6, 3))],
        [aten.select.int],
    ),
    ("repeat_dynamic", lambda x: x.repeat(2, 1) + 1, [rng((1, 2), (3, 2), (5, 2))], [REPEAT]),
    ("repeat_dynamic_all_dims", lambda x: x.repeat(3, 1, 2), [SEQ], [REPEAT]),
    ("repeat_dynamic_new_dims", lambda x: x.repeat(2, 1, 1, 3), [SEQ], [REPEAT]),
    ("tile_dynamic", lambda x: x.tile(2), [SEQ], [REPEAT]),
    (
        "repeat_dynamic_symbolic_count",
        lambda x: x[:, :1].repeat(1, x.shape[1]),
        [rng((2, 1), (3, 4), (5, 7))],
        [REPEAT],
    ),
]


@pytest.mark.parametrize(
    "fn,specs,ops", [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_shape_dynamic(fn: Any, specs: list[Input], ops: Sequence[Any]) -> None:
    """With symbolic dims the op lands in one engine and matches eager at min/opt/max shapes."""
    check_dynamic_conversion(as_module(fn), specs, ops=ops)


def test_unbind_of_a_dynamic_dim_is_refused() -> None:
    """unbind along a symbolic dim (its output count would be symbolic too) is refused by the
    check; torch.export specializes such dims, so the node is built by hand here."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import (
        DimDynamic,
        ShapeEnv,
        StatelessSymbolicContext,
    )

    from torch_trt.convert.registry import Reason, support
    from torch_trt.settings import CompileSettings

    mode = FakeTensorMode(shape_env=ShapeEnv())
    context = StatelessSymbolicContext(dynamic_sizes=[DimDynamic.DYNAMIC, DimDynamic.STATIC])
    fake = mode.from_tensor(torch.randn(3, 2), symbolic_context=context)
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    x.meta["val"] = fake
    node = graph.call_function(aten.unbind.int, (x, 0))
    verdict = support(node, CompileSettings())
    assert verdict.reason == Reason.UNSUPPORTED_ARGUMENTS
    assert "unbind dim 0 is dynamic" in verdict.detail
