"""Dynamic-shape infrastructure: ranges, capture checks, size nodes, fallbacks, re-export."""

from __future__ import annotations

import logging

import pytest
import sympy
import torch

import torch_trt
from torch_trt import Input
from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import Reason, converter
from torch_trt.dynamo.partition import duplicate_size_nodes
from torch_trt.dynamo.shapes import ShapeRanges

BATCH = Input(min_shape=(1, 4), opt_shape=(3, 4), max_shape=(6, 4))


@torch.library.custom_op("torch_trt_test::static_only", mutates_args=())
def static_only(x: torch.Tensor) -> torch.Tensor:
    """2x, through a converter registered without dynamic=True."""
    return x * 2


@static_only.register_fake
def _static_only_fake(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


@converter(torch.ops.torch_trt_test.static_only.default)
def _convert_static_only(ctx: ConversionContext, x: object) -> object:
    return ctx.elementwise(x, ctx.itensor(2.0, ctx.dtype(x), len(ctx.shape(x))), "PROD")


def test_bounds_of_expressions() -> None:
    """Bounds of size expressions come from the declared ranges of their symbols."""
    s0, s1 = sympy.symbols("s0 s1", integer=True, positive=True)
    ranges = ShapeRanges({s0: (1, 8, 32), s1: (2, 4, 10)})
    assert ranges.bounds(s0) == (1, 8, 32)
    assert ranges.bounds(2 * s0 + 1) == (3, 17, 65)
    assert ranges.bounds(s0 * s1) == (2, 32, 320)
    assert ranges.bounds(sympy.Integer(7)) == (7, 7, 7)
    assert ranges.profile([s0, 3, s1]) == ((1, 3, 2), (8, 3, 4), (32, 3, 10))
    with pytest.raises(KeyError, match="no declared range"):
        ranges.bounds(sympy.Symbol("s9"))


def test_static_only_converter_falls_back_with_reason() -> None:
    """An op whose converter takes static shapes only stays in PyTorch, saying so."""

    class M(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(torch.ops.torch_trt_test.static_only(x))

    compiled = torch_trt.dynamo.compile(M(), [BATCH], min_block_size=1, runtime="reference")
    p = torch_trt.report(compiled).placement("static_only")
    assert p.reason is Reason.UNSUPPORTED_ARGUMENTS
    assert "has a dynamic shape" in p.detail
    assert "torch_trt_test.static_only.default converter takes static shapes only" in p.detail
    x = torch.randn(5, 4)
    assert torch.allclose(compiled(x), torch.relu(x * 2))


def test_same_op_static_input_converts() -> None:
    """The same static-only op converts when its input is static."""

    class M(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(torch.ops.torch_trt_test.static_only(x))

    compiled = torch_trt.dynamo.compile(
        M(), [torch.randn(2, 4)], min_block_size=1, runtime="reference"
    )
    assert torch_trt.report(compiled).fallbacks == []


def test_specialized_dim_is_refused() -> None:
    """A dim declared dynamic that the model fixes raises CaptureError saying so."""

    class Fixed(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.reshape(3, 4) + 1

    with pytest.raises(torch_trt.CaptureError, match="declared dynamic 1..6, but the model only"):
        torch_trt.dynamo.compile(Fixed(), [BATCH], runtime="reference")


def test_equal_dims_need_one_range() -> None:
    """Dims torch.export finds equal but declared with different ranges are refused."""

    class Add(torch.nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return x + y

    other = Input(min_shape=(1, 4), opt_shape=(3, 4), max_shape=(9, 4))
    with pytest.raises(torch_trt.CaptureError, match="same dimension.*different ranges"):
        torch_trt.dynamo.compile(Add(), [BATCH, other], runtime="reference")


def test_named_dims_must_agree() -> None:
    """One dim name with two ranges is refused before export."""

    class Add(torch.nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return x + y

    a = Input(min_shape=(1, 4), opt_shape=(3, 4), max_shape=(6, 4), dim_names=("b", None))
    b = Input(min_shape=(2, 4), opt_shape=(3, 4), max_shape=(6, 4), dim_names=("b", None))
    with pytest.raises(ValueError, match="dim name 'b' has range"):
        torch_trt.dynamo.compile(Add(), [a, b], runtime="reference")


def test_duplicate_size_nodes_gives_each_user_a_copy() -> None:
    """After the pass every size node has exactly one user; the graph still computes the same."""

    class M(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b = x.shape[0]
            return x.view(b, -1) + torch.ops.torch_trt_test.opaque(x).view(b, -1)

    ep = torch.export.export(
        M(), (torch.randn(3, 4),), dynamic_shapes=({0: torch.export.Dim("b", min=1, max=8)},)
    )
    gm = duplicate_size_nodes(ep.module())
    sizes = [n for n in gm.graph.nodes if n.target is torch.ops.aten.sym_size.int]
    assert len(sizes) >= 2 and all(len(n.users) == 1 for n in sizes)
    x = torch.randn(5, 4)
    assert torch.allclose(gm(x), M()(x))


def test_guard_checks_dtype() -> None:
    """The input guard names the input and both dtypes."""
    compiled = torch_trt.dynamo.compile(
        torch.nn.ReLU(), [BATCH], min_block_size=1, runtime="reference"
    )
    with pytest.raises(torch_trt.InputShapeError, match="input 'input' must be torch.float32"):
        compiled(torch.zeros(2, 4, dtype=torch.int64))


def test_input_name_is_used_in_messages() -> None:
    """Input(name=...) is the name the shape error uses."""
    spec = Input(min_shape=(1, 4), opt_shape=(3, 4), max_shape=(6, 4), name="pixels")
    compiled = torch_trt.dynamo.compile(
        torch.nn.ReLU(), [spec], min_block_size=1, runtime="reference"
    )
    with pytest.raises(torch_trt.InputShapeError, match="input 'pixels' has shape \\(7, 4\\)"):
        compiled(torch.randn(7, 4))


def test_dynamic_compiled_module_re_exports() -> None:
    """A dynamic compiled module exports again with a dynamic batch and runs at a new size."""

    class M(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x) * 2.0 + 1.0

    compiled = torch_trt.dynamo.compile(M(), [BATCH], min_block_size=1, runtime="reference")
    assert torch_trt.report(compiled).engines == 1
    ep = torch.export.export(
        compiled,
        (torch.randn(3, 4),),
        dynamic_shapes=({0: torch.export.Dim("b", min=1, max=6)},),
        strict=False,
    )
    out = next(n for n in ep.graph.nodes if n.op == "output").args[0][0]
    assert not isinstance(out.meta["val"].shape[0], int)  # still symbolic
    x = torch.randn(5, 4)
    assert torch.allclose(ep.module()(x), M()(x))


def test_exported_program_keeps_its_ranges() -> None:
    """An ExportedProgram with dynamic dims compiles with export's ranges (opt = traced size)."""

    class M(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x) + 1.0

    dim = torch.export.Dim("b", min=2, max=16)
    ep = torch.export.export(M(), (torch.randn(4, 3),), dynamic_shapes=({0: dim},))
    compiled = torch_trt.dynamo.compile(ep, min_block_size=1, runtime="reference")
    node = next(
        n for n in compiled.graph.nodes if n.target is torch.ops.torch_trt.execute_engine.default
    )
    (binding,) = torch_trt.runtime.op.parse_metadata(node.args[3]).inputs
    assert binding.profile == ((2, 3), (4, 3), (16, 3))
    x = torch.randn(9, 3)
    assert torch.allclose(compiled(x), M()(x))
    # The engine itself also refuses shapes outside its profile.
    engine, ref = compiled.trt_0_engine, compiled.trt_0_reference
    with pytest.raises(torch_trt.InputShapeError, match=r"engine trt_0: input 'x'.*\[2, 16\]"):
        torch.ops.torch_trt.execute_engine([torch.randn(17, 3)], engine, ref, node.args[3])


def test_unbounded_exported_dim_needs_input() -> None:
    """A dim with no upper bound cannot make a profile: the error says to pass Input ranges."""

    class M(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x) + 1.0

    ep = torch.export.export(
        M(), (torch.randn(4, 3),), dynamic_shapes=({0: torch.export.Dim("b")},)
    )
    with pytest.raises(torch_trt.CaptureError, match="has no upper bound; pass Input"):
        torch_trt.dynamo.compile(ep, min_block_size=1, runtime="reference")


def test_export_guards_still_apply(caplog: pytest.LogCaptureFixture) -> None:
    """Conditions torch.export traced under (beyond ranges) are enforced with InputShapeError,
    and compile warns when the declared range reaches past them."""

    class Drop(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x[:, : x.shape[1] - 1])

    spec = Input(min_shape=(1, 2), opt_shape=(2, 6), max_shape=(4, 8))
    with caplog.at_level(logging.WARNING, logger="torch_trt"):
        compiled = torch_trt.dynamo.compile(Drop(), [spec], min_block_size=1, runtime="reference")
    warnings = [r.getMessage() for r in caplog.records if "narrow the ranges" in r.getMessage()]
    assert len(warnings) == 1 and "at the min shapes" in warnings[0]
    x = torch.randn(2, 5)
    assert torch.equal(compiled(x), Drop()(x))
    # export assumed x.shape[1] - 1 != 1 (it never specializes sizes 0/1)
    with pytest.raises(torch_trt.InputShapeError, match="break a condition the model was"):
        compiled(torch.randn(2, 2))
