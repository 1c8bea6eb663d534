"""The precision passes: which ops run low, which stay fp32, casts shared, weights folded."""

from __future__ import annotations

import logging
import operator

import pytest
import torch
from torch import fx

from torch_trt.dynamo.capture import capture
from torch_trt.dynamo.lower import lower
from torch_trt.dynamo.precision import ROUNDED_FROM_KEY, reduce_precision, truncate_float64
from torch_trt.settings import CompileSettings
from torch_trt.testing import rel_error

aten = torch.ops.aten


class Block(torch.nn.Module):
    """A transformer-ish block: two projections of one input, softmax, norm, matmul, residual."""

    def __init__(self) -> None:
        super().__init__()
        self.q = torch.nn.Linear(16, 16)
        self.k = torch.nn.Linear(16, 16)
        self.norm = torch.nn.LayerNorm(16)
        self.out = torch.nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k = self.q(x), self.k(x)
        p = torch.softmax(q @ k.transpose(-1, -2), -1)
        h = self.norm(p @ k)
        return self.out(torch.relu(h)) + x


def _lowered(model: torch.nn.Module, *inputs: torch.Tensor) -> fx.GraphModule:
    return lower(capture(model.eval(), list(inputs), None))


def _dtypes(gm: fx.GraphModule, target: object) -> list[torch.dtype]:
    return [n.meta["val"].dtype for n in gm.graph.find_nodes(op="call_function", target=target)]


def _casts(gm: fx.GraphModule) -> list[fx.Node]:
    return list(gm.graph.find_nodes(op="call_function", target=aten._to_copy.default))


@pytest.mark.parametrize("low", [torch.float16, torch.bfloat16])
def test_block_classes_and_eager_equality(low: torch.dtype) -> None:
    """Linears and matmuls run low; softmax and layer_norm stay fp32; the output keeps fp32;
    the rewritten graph is as close to fp64 as the model run in the low type."""
    model, x = Block().eval(), torch.randn(2, 8, 16)
    gm = reduce_precision(_lowered(model, x), low)
    assert set(_dtypes(gm, aten.linear.default)) == {low}
    assert set(_dtypes(gm, aten.bmm.default)) == {low}
    assert _dtypes(gm, aten.softmax.int) == [torch.float32]
    assert _dtypes(gm, aten.layer_norm.default) == [torch.float32]
    with torch.no_grad():
        got = gm(x)
        ref = model.double()(x.double())
        eager_low = model.to(low)(x.to(low))
    assert got.dtype == torch.float32
    assert rel_error(got, ref) <= 1.5 * rel_error(eager_low, ref)


def test_weight_casts_are_folded_into_constants() -> None:
    """No cast node reads a weight: the low-precision linears read fp16 buffers."""
    gm = reduce_precision(_lowered(Block(), torch.randn(2, 8, 16)), torch.float16)
    assert all(c.args[0].op != "get_attr" for c in _casts(gm))  # type: ignore[union-attr]
    for lin in gm.graph.find_nodes(op="call_function", target=aten.linear.default):
        weight = lin.args[1]
        assert isinstance(weight, fx.Node) and weight.op == "get_attr"
        assert getattr(gm, str(weight.target)).dtype == torch.float16


def test_narrowed_constants_remember_what_they_were_rounded_from() -> None:
    """Each weight stored in bf16 carries the float32 tensor it was rounded from (the batch-norm
    fold starts from it and rounds once); a constant left in its own dtype carries nothing."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).eval()
    gm = reduce_precision(_lowered(model, torch.randn(1, 3, 8, 8)), torch.bfloat16)
    value = {n: operator.attrgetter(str(n.target))(gm) for n in gm.graph.find_nodes(op="get_attr")}
    narrowed = [n for n, v in value.items() if v.dtype == torch.bfloat16]
    assert len(narrowed) == 2  # the kernel and the bias
    for node in narrowed:
        source = node.meta[ROUNDED_FROM_KEY]
        assert source.dtype == torch.float32
        assert torch.equal(source.bfloat16(), value[node])
    kept = [n for n, v in value.items() if v.dtype == torch.float32]
    assert kept and all(ROUNDED_FROM_KEY not in n.meta for n in kept)  # batch-norm statistics


def test_fewest_casts() -> None:
    """One cast per (tensor, dtype), shared by every consumer; none between adjacent low ops.

    x feeds q and k (one cast down) and the residual (fp32, no cast); the bmm result goes up
    once for softmax, the softmax result down once, the bmm before layer_norm up once, the norm
    result down once for the output linear, whose fp16 result goes up once for the residual
    add: 6 casts, counted by hand.
    """
    gm = reduce_precision(_lowered(Block(), torch.randn(2, 8, 16)), torch.float16)
    casts = _casts(gm)
    assert len(casts) == 6
    assert len({(c.args[0], c.kwargs["dtype"]) for c in casts}) == len(casts)


def test_adjacent_low_ops_exchange_low_tensors() -> None:
    """linear -> relu -> linear -> gelu -> linear: one cast in, one cast out, none between."""
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 8),
        torch.nn.GELU(),
        torch.nn.Linear(8, 8),
    )
    gm = reduce_precision(_lowered(model, torch.randn(4, 8)), torch.float16)
    assert [c.kwargs["dtype"] for c in _casts(gm)] == [torch.float16, torch.float32]
    assert set(_dtypes(gm, aten.relu.default)) == {torch.float16}


def test_exp_log_pow_chains_and_reductions_stay_fp32() -> None:
    """exp, pow, sum, mean and cumsum of a low-precision result run in fp32."""

    class Chains(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.lin(x)
            return h.exp().sum(-1) + h.pow(2).mean(-1) + h.cumsum(-1)[..., 0]

    gm = reduce_precision(_lowered(Chains(), torch.randn(4, 8)), torch.float16)
    assert _dtypes(gm, aten.linear.default) == [torch.float16]
    for op in (aten.exp.default, aten.sum.dim_IntList, aten.pow.Tensor_Scalar, aten.cumsum.default):
        assert _dtypes(gm, op) == [torch.float32], op
    # h is cast up once, for all four consumers.
    ups = [c for c in _casts(gm) if c.kwargs["dtype"] == torch.float32]
    assert len(ups) == 1


def test_constant_that_would_overflow_keeps_fp32() -> None:
    """A constant beyond fp16's range is not cast (no new infinity): its op runs in fp32."""

    class Big(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)
            self.register_buffer("big", torch.full((4,), 1e6))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x) + self.big

    gm = reduce_precision(_lowered(Big(), torch.randn(2, 4)), torch.float16)
    assert _dtypes(gm, aten.add.Tensor) == [torch.float32]
    assert all(torch.isfinite(b).all() for _, b in gm.named_buffers())


@pytest.mark.parametrize(
    ("exclude", "fp32_linears"),
    [
        (["aten.linear"], ["linear", "linear_1", "linear_2"]),
        ([aten.linear.default], ["linear", "linear_1", "linear_2"]),
        (["^linear_1$"], ["linear_1"]),
        (["linear_[12]"], ["linear_1", "linear_2"]),
    ],
)
def test_precision_exclude_ops_and_node_patterns(
    exclude: list[object], fp32_linears: list[str]
) -> None:
    """precision_exclude keeps the named ops, or the nodes whose names match, in fp32."""
    s = CompileSettings.from_kwargs(precision="fp16", precision_exclude=exclude)
    assert s.low_precision is not None
    gm = reduce_precision(_lowered(Block(), torch.randn(2, 8, 16)), s.low_precision, s)
    got = {
        n.name: n.meta["val"].dtype
        for n in gm.graph.find_nodes(op="call_function", target=aten.linear.default)
    }
    assert {name for name, d in got.items() if d == torch.float32} == set(fp32_linears)
    assert {name for name, d in got.items() if d == torch.float16} == set(got) - set(fp32_linears)


def test_unmatched_exclude_warns(caplog: pytest.LogCaptureFixture) -> None:
    """An exclude entry that matches no node is said, not silently ignored."""
    s = CompileSettings.from_kwargs(precision="fp16", precision_exclude=["^nothing_here$"])
    with caplog.at_level(logging.WARNING, logger="torch_trt"):
        reduce_precision(_lowered(Block(), torch.randn(2, 8, 16)), torch.float16, s)
    assert "precision_exclude entry '^nothing_here$' matches no node" in caplog.text


def test_half_model_is_left_as_is() -> None:
    """A model already in fp16 gets no casts and keeps its dtypes."""
    model = Block().half()
    gm = reduce_precision(_lowered(model, torch.randn(2, 8, 16).half()), torch.float16)
    assert _casts(gm) == []
    assert set(_dtypes(gm, aten.softmax.int)) == {torch.float16}


def test_truncate_float64() -> None:
    """float64 work runs in float32 between one cast in and one cast out; outputs keep
    float64; float64 constants and dtype arguments become float32."""

    class Doubles(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 4).double()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x).relu() + torch.ones(4, dtype=torch.float64) * x.sum()

    model, x = Doubles().eval(), torch.randn(3, 4, dtype=torch.float64)
    gm = truncate_float64(_lowered(model, x))
    inner = [
        n
        for n in gm.graph.nodes
        if n.op == "call_function"
        and n.target is not operator.getitem
        and n.target is not aten._to_copy.default
    ]
    assert inner and all(n.meta["val"].dtype == torch.float32 for n in inner)
    assert [c.kwargs["dtype"] for c in _casts(gm)] == [torch.float32, torch.float64]
    with torch.no_grad():
        got = gm(x)
    assert got.dtype == torch.float64
    assert rel_error(got, model(x)) < 1e-5


def test_fp16_and_bf16_activations_meet_in_fp32() -> None:
    """An fp16 and a bf16 activation added together are both cast to fp32 (torch's rule)."""

    class Mixed(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.half() + x.bfloat16()

    gm = reduce_precision(_lowered(Mixed(), torch.randn(4)), torch.float16)
    assert _dtypes(gm, aten.add.Tensor) == [torch.float32]
