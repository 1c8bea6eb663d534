"""Engines with outputs of data-dependent size: metadata, fake implementation, re-export,
save / load, and the assertions torch.export adds on such sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import torch_trt
from torch_trt.runtime.op import parse_metadata
from torch_trt.testing import FnModule


class Select(torch.nn.Module):
    """Rows with a positive first column through a linear layer, and the non-zero coordinates."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = x[x[:, 0] > 0]
        return torch.relu(self.lin(rows)), torch.nonzero(x > 1)


def _x(seed: int, n: int = 8) -> torch.Tensor:
    return torch.randn(n, 5, generator=torch.Generator().manual_seed(seed))


def _engine_node(gm: torch.fx.GraphModule) -> torch.fx.Node:
    return next(n for n in gm.graph.nodes if n.target is torch.ops.torch_trt.execute_engine.default)


@pytest.fixture(scope="module")
def compiled() -> torch.fx.GraphModule:
    model = Select().eval()
    out = torch_trt.dynamo.compile(
        model, [_x(0)], min_block_size=1, runtime="reference", keep_source=True
    )
    rep = torch_trt.report(out)
    assert rep.engines == 1 and not rep.fallbacks
    return out


def _same(got: tuple[torch.Tensor, ...], want: tuple[torch.Tensor, ...]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)


def test_outputs_follow_the_data(compiled: torch.fx.GraphModule) -> None:
    """One engine returns as many rows as the data selects, call after call."""
    model = Select().eval()
    with torch.no_grad():
        for seed in range(3):
            _same(compiled(_x(seed)), model(_x(seed)))
        _same(compiled(-_x(0).abs()), model(-_x(0).abs()))  # nothing selected: (0, 3), (0, 2)


def test_metadata_names_the_data_dependent_sizes(compiled: torch.fx.GraphModule) -> None:
    """The engine record gives each data-dependent output dim a symbol no input defines."""
    meta = parse_metadata(_engine_node(compiled).args[3])  # type: ignore[arg-type]
    assert [b.shape for b in meta.outputs] == [("u0", 3), ("u1", 2)]
    assert meta.data_dependent_outputs() == ("output_0", "output_1")


def test_fake_gives_unbacked_sizes_shared_per_symbol() -> None:
    """Under fake tensors the op returns fresh unbacked sizes, one per symbol, so outputs of the
    same data-dependent length stay equal (``x[k]`` and ``y[k]`` give ``u0`` twice)."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv, free_unbacked_symbols

    def fn(x: torch.Tensor, y: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return x[k] * 2, y[k] + 1, x[k].reshape(-1)

    x, k = _x(0), _x(1)[:, 0] > 0
    gm = torch_trt.dynamo.compile(FnModule(fn), [x, x, k], min_block_size=1, runtime="reference")
    node = _engine_node(gm)
    meta = parse_metadata(node.args[3])  # type: ignore[arg-type]
    assert [b.shape for b in meta.outputs] == [("u0", 5), ("u0", 5), ("5*u0",)]
    engine, ref = (getattr(gm, str(a.target)) for a in node.args[1:3])  # type: ignore[union-attr]
    with FakeTensorMode(shape_env=ShapeEnv(), allow_non_fake_inputs=True) as mode:
        fakes = [mode.from_tensor(torch.zeros(b.shape, dtype=b.torch_dtype)) for b in meta.inputs]
        a, b, c = torch.ops.torch_trt.execute_engine(fakes, engine, ref, node.args[3])
    assert free_unbacked_symbols(a.shape[0]) and a.shape[0] is not None
    assert str(a.shape[0]) == str(b.shape[0]) and str(c.shape[0]) == f"5*{a.shape[0]}"


def test_compiled_module_exports_again(compiled: torch.fx.GraphModule) -> None:
    """torch.export of the compiled module works, and the exported program runs."""
    ep = torch.export.export(compiled, (_x(0),), strict=False)
    with torch.no_grad():
        _same(ep.module()(_x(2)), Select().eval()(_x(2)))


def test_save_load_round_trip(compiled: torch.fx.GraphModule, tmp_path: Path) -> None:
    """Saved and loaded (with the reference runtime, with the ATen source, and in PyTorch),
    the program still gives eager's data-dependent outputs."""
    model = Select().eval()
    torch_trt.save(compiled, tmp_path / "m.pt2")
    torch_trt.save(compiled, tmp_path / "src.pt2", with_source=True)
    loaded = [
        torch_trt.load(tmp_path / "m.pt2"),
        torch_trt.load(tmp_path / "src.pt2", runtime="reference"),
    ]
    with torch.no_grad():
        for module in loaded:
            _same(module(_x(3)), model(_x(3)))
        if torch.cuda.is_available():
            return  # the engine could run here: nothing is incompatible
        with pytest.warns(UserWarning, match="runs in PyTorch"):
            in_pytorch = torch_trt.load(
                tmp_path / "src.pt2", runtime="tensorrt", on_incompatible="pytorch"
            )
            _same(in_pytorch(_x(3)), model(_x(3)))


def test_check_on_a_data_dependent_size_still_runs() -> None:
    """A torch._check on the length of ``x[mask]`` stays in the program (in PyTorch, after the
    engine) and fails as eager does; the bounds torch.export adds (``0 <= u0 <= 5``) are
    dropped, so a plain ``x[mask]`` is one engine and nothing else."""

    def checked(x: torch.Tensor) -> torch.Tensor:
        rows = x[x[:, 0] > 0]
        torch._check(rows.shape[0] > 1)
        return rows * 2

    gm = torch_trt.dynamo.compile(FnModule(checked), [_x(0)], min_block_size=1, runtime="reference")
    asserts = [p for p in torch_trt.report(gm).fallbacks if p.op == "aten._assert_scalar.default"]
    assert asserts and all(p.engine is None for p in asserts)
    one = _x(0).abs()
    one[1:, 0] = -1.0
    with pytest.raises(RuntimeError, match="u0 >= 2|1 < u0"):
        gm(one)
    plain = torch_trt.dynamo.compile(
        FnModule(lambda x: x[x[:, 0] > 0]), [_x(0)], min_block_size=1, runtime="reference"
    )
    rep = torch_trt.report(plain)
    assert rep.engines == 1 and not rep.fallbacks


def test_data_dependent_size_never_enters_an_engine() -> None:
    """When the op making a data-dependent size stays in PyTorch (here: excluded by the user),
    the ops reading its result stay there too, with the reason; the module still matches."""
    fn = FnModule(lambda x: torch.relu(x[x[:, 0] > 0]) * 2 + 1)
    gm = torch_trt.dynamo.compile(
        fn,
        [_x(0)],
        min_block_size=1,
        runtime="reference",
        torch_executed_ops={"aten.index.Tensor"},
    )
    rep = torch_trt.report(gm)
    after = [p for p in rep.placements if p.op in ("aten.relu.default", "aten.mul.Tensor")]
    assert after and all(p.engine is None for p in after)
    assert all("data-dependent size computed in PyTorch" in p.detail for p in after)
    with torch.no_grad():
        torch.testing.assert_close(gm(_x(1)), fn(_x(1)))


def test_torch_compile_backend_keeps_the_selection_in_the_engine() -> None:
    """Under torch.compile (with Dynamo capturing data-dependent output shapes) the mask, the
    selection and the compute after it are one engine, and the results match eager."""
    import torch._dynamo

    torch._dynamo.reset()
    fn = FnModule(lambda x: (torch.relu(x[x[:, 0] > 0] * 2).sum(0), x[x[:, 1] > 0]))
    with torch._dynamo.config.patch(capture_dynamic_output_shape_ops=True):
        compiled = torch.compile(
            fn, backend="torch_trt", options={"runtime": "reference", "min_block_size": 1}
        )
        got = compiled(_x(4))
    want = fn(_x(4))
    _same(got, want)
    rep = torch_trt.report(compiled)
    assert "1 engine(s)" in str(rep) and "in PyTorch" in str(rep)
    assert "0 in PyTorch" in str(rep)
    torch._dynamo.reset()
