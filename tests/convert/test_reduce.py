"""Reduction and softmax converters (sum, mean, prod, amax/amin, max/min, arg*, var, any/all,
softmax)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import fx
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.fake_tensor_prop import FakeTensorProp

from torch_trt import Input
from torch_trt.build import build_engine
from torch_trt.convert.interpreter import convert_module
from torch_trt.convert.registry import support
from torch_trt.runtime.reference import read_network
from torch_trt.settings import CompileSettings
from torch_trt.testing import (
    FnModule,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    ranged,
)

aten = torch.ops.aten


@dataclasses.dataclass
class Case:
    id: str
    fn: Callable[..., Any]
    inputs: Callable[[], list[torch.Tensor]]
    ops: list[Any]


def randn(*shape: int, dtype: torch.dtype = torch.float32) -> Callable[[], list[torch.Tensor]]:
    """Seeded normal input of ``shape``."""
    return lambda: [torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(dtype)]


def randint(*shape: int, dtype: torch.dtype = torch.int32) -> Callable[[], list[torch.Tensor]]:
    """Seeded integer input in [-5, 5) of ``shape``."""
    return lambda: [
        torch.randint(-5, 5, shape, generator=torch.Generator().manual_seed(0)).to(dtype)
    ]


def const(values: list[Any]) -> Callable[[], list[torch.Tensor]]:
    """A fixed input (for ties)."""
    return lambda: [torch.tensor(values)]


def randbool(*shape: int) -> Callable[[], list[torch.Tensor]]:
    """Seeded bool input of ``shape``."""
    return lambda: [torch.rand(shape, generator=torch.Generator().manual_seed(0)) > 0.5]


SUM = aten.sum.dim_IntList
MEAN, MEAN_ALL = aten.mean.dim, aten.mean.default
PROD, PROD_ALL = aten.prod.dim_int, aten.prod.default
AMAX, AMIN, MAX_ALL, MIN_ALL = (
    aten.amax.default,
    aten.amin.default,
    aten.max.default,
    aten.min.default,
)
MAX_DIM, MIN_DIM = aten.max.dim, aten.min.dim
ARGMAX, ARGMIN, VAR = aten.argmax.default, aten.argmin.default, aten.var.correction
VAR_MEAN = aten.var_mean.correction
SOFTMAX, LOG_SOFTMAX = aten.softmax.int, aten.log_softmax.int
F16 = torch.float16

CASES = [
    Case("sum_one_dim", lambda x: x.sum(1), randn(2, 3, 4), [SUM]),
    Case("sum_several_dims_keepdim", lambda x: x.sum((0, 2), keepdim=True), randn(2, 3, 4), [SUM]),
    Case("sum_negative_dim", lambda x: x.sum(-1), randn(2, 3, 4), [SUM]),
    Case("sum_all", lambda x: x.sum(), randn(2, 3, 4), [SUM]),
    Case("sum_empty_dim_list", lambda x: x.sum(dim=[]), randn(2, 3, 4), [SUM]),
    Case("sum_empty_dim_list_keepdim", lambda x: x.sum(dim=[], keepdim=True), randn(3, 4), [SUM]),
    Case("sum_rank0", lambda x: x.sum(0), randn(), [SUM]),
    Case("sum_int32_to_int64", lambda x: x.sum(0), randint(3, 4), [SUM]),
    Case("sum_int64", lambda x: x.sum((0, 1)), randint(3, 4, dtype=torch.int64), [SUM]),
    Case("sum_bool", lambda x: x.sum(-1), randbool(3, 5), [SUM]),
    Case("sum_bool_all", lambda x: x.sum(), randbool(3, 5), [SUM]),
    Case("sum_dtype_arg", lambda x: x.sum(1, dtype=torch.float32), randint(3, 4), [SUM]),
    # sum.default lowers to sum.dim_IntList with every dim.
    Case("sum_default_op", lambda x: aten.sum.default(x), randn(3, 4), [SUM]),
    Case("sum_fp16", lambda x: x.sum(1), randn(4, 16, dtype=F16), [SUM]),
    Case("sum_bf16", lambda x: x.sum(-1), randn(4, 16, dtype=torch.bfloat16), [SUM]),
    Case("mean_one_dim", lambda x: x.mean(1), randn(2, 3, 4), [MEAN]),
    Case("mean_negative_dims_keepdim", lambda x: x.mean((-1, -3), True), randn(2, 3, 4), [MEAN]),
    Case("mean_all", lambda x: x.mean(), randn(2, 3, 4), [MEAN_ALL]),
    Case("mean_rank0", lambda x: x.mean(), randn(), [MEAN_ALL]),
    Case(
        "mean_dtype_arg", lambda x: x.mean(0, dtype=torch.float32), randn(3, 4, dtype=F16), [MEAN]
    ),
    Case("mean_fp16", lambda x: x.mean(-1, keepdim=True), randn(4, 16, dtype=F16), [MEAN]),
    Case("prod_dim", lambda x: x.prod(1), randn(2, 3, 4), [PROD]),
    Case("prod_keepdim_int", lambda x: x.prod(-1, keepdim=True), randint(3, 4), [PROD]),
    Case("prod_all", lambda x: x.prod(), randn(2, 3), [PROD_ALL]),
    Case("amax_dims", lambda x: x.amax((0, 2)), randn(2, 3, 4), [AMAX]),
    Case("amax_keepdim", lambda x: x.amax(-1, keepdim=True), randn(2, 3, 4), [AMAX]),
    Case("amax_bool", lambda x: x.amax(1), randbool(3, 4), [AMAX]),
    Case("amin_all", lambda x: x.amin(dim=[]), randn(2, 3, 4), [AMIN]),
    Case("amin_int", lambda x: x.amin(0), randint(3, 4), [AMIN]),
    Case("max_all", lambda x: x.max(), randn(2, 3, 4), [MAX_ALL]),
    Case("min_all_fp16", lambda x: x.min(), randn(2, 3, 4, dtype=F16), [MIN_ALL]),
    Case("max_dim", lambda x: x.max(1), randn(2, 3, 4), [MAX_DIM]),
    Case("max_dim_keepdim_negative", lambda x: x.max(-1, keepdim=True), randn(2, 3, 4), [MAX_DIM]),
    Case("max_dim_rank1", lambda x: x.max(0), randn(6), [MAX_DIM]),
    Case("min_dim", lambda x: x.min(0), randn(5, 3), [MIN_DIM]),
    Case("min_dim_int", lambda x: x.min(1), randint(3, 4), [MIN_DIM]),
    Case("max_dim_bool", lambda x: x.max(1), randbool(3, 4), [MAX_DIM]),
    Case(
        "max_dim_ties_first_index",
        lambda x: x.max(1),
        const([[1, 3, 3, 0], [2, 2, 2, 2]]),
        [MAX_DIM],
    ),
    Case(
        "min_dim_ties_fp32",
        lambda x: x.min(0),
        const([[0.0, 1.0], [0.0, 1.0], [-1.0, 1.0]]),
        [MIN_DIM],
    ),
    Case("argmax_ties_flat", lambda x: x.argmax(), const([[0.0, 5.0], [5.0, 5.0]]), [ARGMAX]),
    Case("argmin_ties_relu", lambda x: x.relu().argmin(1), randn(4, 6), [ARGMIN]),
    Case("argmax_rank0", lambda x: x.argmax(), randn(), [ARGMAX]),
    Case("argmax_dim", lambda x: x.argmax(1), randn(2, 3, 4), [ARGMAX]),
    Case("argmax_flat", lambda x: x.argmax(), randn(2, 3, 4), [ARGMAX]),
    Case("argmax_flat_keepdim", lambda x: x.argmax(keepdim=True), randn(2, 3), [ARGMAX]),
    Case("argmin_keepdim", lambda x: x.argmin(-1, keepdim=True), randn(2, 3, 4), [ARGMIN]),
    Case("argmin_fp16", lambda x: x.argmin(0), randn(7, 3, dtype=F16), [ARGMIN]),
    Case("var_dim", lambda x: x.var(1), randn(2, 5, 4), [VAR]),
    Case("var_all_correction0", lambda x: x.var(correction=0), randn(3, 4), [VAR]),
    Case("var_keepdim", lambda x: x.var((0, 2), keepdim=True, correction=2), randn(3, 4, 5), [VAR]),
    Case("var_std", lambda x: x.std(-1), randn(3, 6), [VAR]),
    Case("var_fp16", lambda x: x.var(-1), randn(3, 16, dtype=F16), [VAR]),
    Case("var_mean", lambda x: torch.var_mean(x, 1), randn(2, 5, 4), [VAR_MEAN]),
    Case("var_mean_all", lambda x: torch.var_mean(x, correction=0), randn(3, 4), [VAR_MEAN]),
    Case(
        "var_mean_keepdim",
        lambda x: torch.var_mean(x, (0, 2), keepdim=True, correction=2),
        randn(3, 4, 5),
        [VAR_MEAN],
    ),
    Case("std_mean", lambda x: torch.std_mean(x, -1), randn(3, 6), [VAR_MEAN]),
    Case("var_mean_fp16", lambda x: torch.var_mean(x, -1), randn(3, 16, dtype=F16), [VAR_MEAN]),
    Case("softmax_dim0", lambda x: x.softmax(0), randn(3, 4, 5), [SOFTMAX]),
    Case("softmax_dim1", lambda x: x.softmax(1), randn(3, 4, 5), [SOFTMAX]),
    Case("softmax_dim2", lambda x: x.softmax(2), randn(3, 4, 5), [SOFTMAX]),
    Case("softmax_negative_dim_2d", lambda x: x.softmax(-1), randn(3, 7), [SOFTMAX]),
    Case("softmax_nchw_dim3", lambda x: x.softmax(3), randn(2, 3, 4, 5), [SOFTMAX]),
    Case("softmax_rank1", lambda x: x.softmax(0), randn(6), [SOFTMAX]),
    Case("softmax_rank0", lambda x: x.softmax(0), randn(), [SOFTMAX]),
    Case("softmax_fp16", lambda x: x.softmax(-1), randn(3, 16, dtype=F16), [SOFTMAX]),
    Case("softmax_bf16", lambda x: x.softmax(1), randn(3, 16, dtype=torch.bfloat16), [SOFTMAX]),
    Case(
        "softmax_dtype_arg",
        lambda x: x.softmax(-1, dtype=torch.float32),
        randn(3, 8, dtype=F16),
        [SOFTMAX],
    ),
    Case(
        "softmax_underscore",
        lambda x: aten._softmax(x, 1, False),
        randn(3, 4),
        [aten._softmax.default],
    ),
    Case("log_softmax_dim0", lambda x: x.log_softmax(0), randn(3, 4, 5), [LOG_SOFTMAX]),
    Case("log_softmax_last", lambda x: x.log_softmax(-1), randn(3, 4, 5), [LOG_SOFTMAX]),
    Case("log_softmax_rank1", lambda x: x.log_softmax(0), randn(6), [LOG_SOFTMAX]),
    Case(
        "log_softmax_large_logits", lambda x: (x * 200).log_softmax(-1), randn(3, 9), [LOG_SOFTMAX]
    ),
    Case("log_softmax_fp16", lambda x: x.log_softmax(1), randn(2, 16, dtype=F16), [LOG_SOFTMAX]),
    Case(
        "log_softmax_underscore",
        lambda x: aten._log_softmax(x, 0, False),
        randn(3, 4),
        [aten._log_softmax.default],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_reduction_matches_eager(case: Case) -> None:
    """The reduction lands in one engine and the reference runtime matches eager."""
    check_conversion(FnModule(case.fn), case.inputs(), ops=case.ops)


FALLBACKS = [
    ("var_correction_too_large", lambda x: x.var(1, correction=4), randn(2, 4), VAR, "<= 0"),
    ("var_rank0", lambda x: x.var(), randn(), VAR, "1 - 1 <= 0 degrees of freedom"),
    (
        "var_mean_correction_too_large",
        lambda x: torch.var_mean(x, 1, correction=4),
        randn(2, 4),
        VAR_MEAN,
        "<= 0",
    ),
]


def _id(v: Any) -> Any:
    """The value itself as the id, an op by its short name (``var``)."""
    return v._opname if isinstance(v, torch._ops.OpOverload) else v


@pytest.mark.parametrize(("name", "fn", "inputs", "op", "reason"), FALLBACKS, ids=_id)
def test_reduction_refusal_has_reason(
    name: str,
    fn: Callable[..., Any],
    inputs: Callable[[], list[torch.Tensor]],
    op: torch._ops.OpOverload,
    reason: str,
) -> None:
    """Refused reductions run in PyTorch with a report that says why."""
    check_fallback(FnModule(fn), inputs(), op=op, detail=reason)


# --- dynamic shapes ---------------------------------------------------------------------------


BATCH, SEQ = (1, 3, 6), (2, 5, 9)
I32 = torch.int32

DYNAMIC_CASES = [
    ("sum_dyn_static_axis", lambda x: x.sum(2), ranged(BATCH, SEQ, 4), [SUM]),
    ("sum_dyn_dynamic_axis", lambda x: x.sum(1, keepdim=True), ranged(BATCH, SEQ, 4), [SUM]),
    ("sum_dyn_all_times_size", lambda x: x.sum() * x.shape[0], ranged(BATCH, 3), []),
    ("mean_dyn_dynamic_axis", lambda x: x.mean(1), ranged(BATCH, SEQ, 4), [MEAN]),
    ("prod_dyn", lambda x: x.prod(2), ranged(BATCH, SEQ, 3), [PROD]),
    ("amax_dyn", lambda x: x.amax((0, 2)), ranged(BATCH, SEQ, 4), [AMAX]),
    ("max_dim_dyn_axis", lambda x: x.max(1), ranged(BATCH, SEQ, 4, dtype=I32), [MAX_DIM]),
    ("min_dim_dyn_keepdim", lambda x: x.min(0, keepdim=True), ranged(BATCH, 5), [MIN_DIM]),
    ("argmax_dyn_axis_ties", lambda x: x.argmax(1), ranged(BATCH, SEQ, dtype=I32), [ARGMAX]),
    ("argmax_dyn_static_axis", lambda x: x.argmax(-1), ranged(BATCH, 6), [ARGMAX]),
    ("argmin_dyn_flat", lambda x: x.argmin(), ranged(BATCH, SEQ, dtype=I32), [ARGMIN]),
    ("argmax_dyn_flat_keepdim", lambda x: x.argmax(keepdim=True), ranged(BATCH, 3), [ARGMAX]),
    ("var_dyn_axis", lambda x: x.var(1), ranged(BATCH, SEQ, 4), [VAR]),
    ("var_mean_dyn", lambda x: torch.var_mean(x, 1), ranged(BATCH, SEQ, 4), [VAR_MEAN]),
    ("var_dyn_all_unbiased", lambda x: x.var(correction=0), ranged(BATCH, 3), [VAR]),
    ("var_dyn_keepdim_std", lambda x: x.std((0, 1), keepdim=True), ranged(BATCH, SEQ, 2), [VAR]),
    ("softmax_dyn_static_axis", lambda x: x.softmax(-1), ranged(BATCH, SEQ, 6), [SOFTMAX]),
    ("softmax_dyn_dynamic_axis", lambda x: x.softmax(1), ranged(BATCH, SEQ, 3), [SOFTMAX]),
    ("softmax_dyn_rank1", lambda x: x.softmax(0), ranged(SEQ), [SOFTMAX]),
    ("log_softmax_dyn", lambda x: x.log_softmax(1), ranged(BATCH, SEQ), [LOG_SOFTMAX]),
    ("log_softmax_dyn_rank1", lambda x: x.log_softmax(0), ranged(SEQ), [LOG_SOFTMAX]),
]


@pytest.mark.parametrize(
    ("fn", "spec", "ops"), [c[1:] for c in DYNAMIC_CASES], ids=[c[0] for c in DYNAMIC_CASES]
)
def test_reduction_dynamic(fn: Callable[..., Any], spec: Input, ops: list[Any]) -> None:
    """With dynamic batch/sequence dims (reduced or kept) the op lands in one engine and matches
    eager at the min, opt and max shapes."""
    check_dynamic_conversion(FnModule(fn), [spec], ops=ops)


# --- any / all --------------------------------------------------------------------------------

ANY, ANY_DIM, ANY_DIMS = aten.any.default, aten.any.dim, aten.any.dims
NAN_ZERO = [[0.0, float("nan"), 0.0], [0.0, 0.0, 0.0], [-0.0, 2.0, 1.0]]

TRUTH_CASES = [
    Case("any_all_dims", lambda x: x.any(), randbool(3, 4), [ANY]),
    Case("any_dim", lambda x: x.any(1), randbool(3, 4), [ANY_DIM]),
    Case("any_dim_keepdim", lambda x: x.any(-1, keepdim=True), randbool(2, 3, 4), [ANY_DIM]),
    Case("any_dims", lambda x: x.any((0, 2)), randbool(2, 3, 4), [ANY_DIMS]),
    Case("any_float_nan_is_true", lambda x: x.any(1), const(NAN_ZERO), [ANY_DIM]),
    Case("any_int", lambda x: x.any(0), randint(4, 3), [ANY_DIM]),
    Case("any_int8", lambda x: x.any(0), randint(4, 3, dtype=torch.int8), [ANY_DIM]),
    Case("any_fp16", lambda x: (x > 1).half().any(1), randn(3, 5), []),
    Case("any_rank0", lambda x: x.any(), const(0.0), [ANY]),
    Case("all_all_dims", lambda x: x.all(), const([[True, True], [True, True]]), []),
    Case("all_dim", lambda x: x.all(1), const([[True, False], [True, True]]), []),
    Case("all_dims_float", lambda x: x.all((0, 1)), const(NAN_ZERO), []),
    Case("all_int_keepdim", lambda x: x.all(0, keepdim=True), randint(3, 4), []),
]


@pytest.mark.parametrize("case", TRUTH_CASES, ids=lambda c: c.id)
def test_any_all_match_eager(case: Case) -> None:
    """any/all land in one engine and the reference runtime matches eager (bit for bit)."""
    check_conversion(FnModule(case.fn), case.inputs(), ops=case.ops)


# The lowering rewrites all(x) as not(any(not(x))); a one-node graph exercises all's converters.
ALL_NODES = [
    (aten.all.default, [], torch.tensor([[1.0, 2.0], [3.0, float("nan")]])),
    (aten.all.default, [], torch.tensor([[1, 0], [3, 4]])),
    (aten.all.dim, [1], torch.tensor([[True, False], [True, True]])),
    (aten.all.dim, [0, True], torch.tensor([[1.0, 0.0], [2.0, 3.0]])),
    (aten.all.dims, [[0, 2]], torch.rand(2, 3, 2) > 0.2),
    (aten.all.dims, [None, True], torch.rand(2, 3) > 0.1),
]


@pytest.mark.parametrize(
    ("op", "args", "x"), ALL_NODES, ids=lambda v: _id(v) if callable(v) else ""
)
def test_all_node_converts(op: Any, args: list[Any], x: torch.Tensor) -> None:
    """A lone all node is supported, builds and evaluates to eager's value."""
    g = fx.Graph()
    node = g.call_function(op, (g.placeholder("x"), *args))
    g.output(node)
    gm = fx.GraphModule(torch.nn.Module(), g)
    FakeTensorProp(gm, FakeTensorMode(allow_non_fake_inputs=True)).propagate(x)
    assert support(node, CompileSettings()).supported
    network = convert_module(gm)
    assert build_engine(network, CompileSettings(), "all")
    (got,) = read_network(network.net).run([x])
    assert torch.equal(got, op(x, *args))


TRUTH_DYNAMIC = [
    ("any_dyn_dynamic_axis", lambda x: x.any(1), ranged(BATCH, SEQ, dtype=torch.bool), [ANY_DIM]),
    ("any_dyn_all", lambda x: (x > 2).any(), ranged(BATCH, SEQ, dtype=I32), [ANY]),
    ("all_dyn", lambda x: x.all(0), ranged(BATCH, 4, dtype=torch.bool), [ANY_DIM]),
    ("any_dyn_float_dims", lambda x: x.any((0, 2)), ranged(BATCH, 3, SEQ), [ANY_DIMS]),
]


@pytest.mark.parametrize(
    ("fn", "spec", "ops"), [c[1:] for c in TRUTH_DYNAMIC], ids=[c[0] for c in TRUTH_DYNAMIC]
)
def test_any_all_dynamic(fn: Callable[..., Any], spec: Input, ops: list[Any]) -> None:
    """With dynamic dims any/all land in one engine and match eager at min, opt and max."""
    check_dynamic_conversion(FnModule(fn), [spec], ops=ops)
