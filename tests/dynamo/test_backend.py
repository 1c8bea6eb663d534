"""The torch.compile backend: options, lowering, graph breaks, recompiles, failures, report."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch._dynamo.exc import BackendCompilerFailed
from torch._dynamo.utils import counters

import torch_trt
from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import Reason, converter
from torch_trt.dynamo.backend import INFERENCE_ONLY, backend_settings
from torch_trt.report import TorchCompileReport
from torch_trt.testing import FP32_RTOL, rel_error

REF = {"runtime": "reference", "min_block_size": 1}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_dynamo() -> Iterator[None]:
    """Every test starts with empty Dynamo caches and counters."""
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


class MLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(12, 24)
        self.fc2 = torch.nn.Linear(24, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x))).softmax(-1)


def _compile(model: torch.nn.Module, **kw: Any) -> Any:
    options = {**REF, **kw.pop("options", {})}
    return torch.compile(model, backend="torch_trt", options=options, **kw)


def _unique_graphs() -> int:
    return int(counters["stats"]["unique_graphs"])


def test_mlp_matches_eager_with_weights_frozen_into_the_engine() -> None:
    """A module becomes one engine whose only input is the user's tensor (weights frozen)."""
    model = MLP().eval()
    compiled = _compile(model)
    x = torch.randn(3, 12)
    with torch.no_grad():
        assert rel_error(compiled(x), model(x)) < FP32_RTOL
    rep = torch_trt.report(compiled)
    assert isinstance(rep, TorchCompileReport)
    assert len(rep.compiled) == 1 and rep.engines == 1 and rep.fallbacks == []
    assert {p.engine for p in rep.placements} == {"g0:trt_0"}
    meta = rep.compiled[0].report
    assert meta.engine_info[0].nodes == len(rep.placements)


def test_options_reach_the_settings() -> None:
    """torch_executed_ops given as an option keeps that op in PyTorch with its reason."""
    model = MLP().eval()
    compiled = _compile(model, options={"torch_executed_ops": ["aten.relu"]})
    x = torch.randn(3, 12)
    with torch.no_grad():
        assert rel_error(compiled(x), model(x)) < FP32_RTOL
    rep = torch_trt.report(compiled)
    assert rep.placement("g0:relu").reason is Reason.USER_EXCLUDED


def test_unknown_option_raises_type_error_naming_the_closest() -> None:
    """An unknown option is a TypeError naming it and the closest valid name."""
    with pytest.raises(TypeError, match="unknown compile option 'min_blok_size'; did you mean"):
        backend_settings({"min_blok_size": 1})
    compiled = torch.compile(MLP(), backend="torch_trt", options={"min_blok_size": 1})
    with pytest.raises(BackendCompilerFailed) as info:
        compiled(torch.randn(2, 12))
    assert isinstance(info.value.inner_exception, TypeError)
    assert "did you mean 'min_block_size'?" in str(info.value)


# (Torch-TensorRT options, the settings fields they must give)
TORCH_TENSORRT_OPTIONS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"enabled_precisions": {torch.float16}, "min_block_size": 1}, {"precision": "fp16"}),
    ({"enabled_precisions": {torch.float32, torch.bfloat16}}, {"precision": "bf16"}),
    (
        {"enable_autocast": True, "autocast_low_precision_type": torch.float16},
        {"precision": "fp16"},
    ),
    ({"truncate_long_and_double": True}, {"truncate_double": True}),
    ({"sparse_weights": False, "device": None, "optimization_level": None}, {}),
]


@pytest.mark.parametrize(("options", "fields"), TORCH_TENSORRT_OPTIONS)
def test_torch_tensorrt_option_names_are_honoured(
    options: dict[str, Any], fields: dict[str, Any]
) -> None:
    """Torch-TensorRT's option names give the settings torch_trt.compile gives them; a value
    that means what torch-trt does anyway is accepted."""
    s = backend_settings(options)
    assert {k: getattr(s, k) for k in fields} == fields
    assert s == backend_settings({**fields, **{k: v for k, v in options.items() if k in REF}})


# (Torch-TensorRT options torch-trt refuses, error type, message)
REFUSED: list[tuple[dict[str, Any], type[Exception], str]] = [
    (
        {"sparse_weights": True},
        TypeError,
        "Torch-TensorRT option sparse_weights=True is not supported by torch-trt: structured "
        "sparsity is not supported (accepted: False); see docs/migrating.md",
    ),
    (
        {"enabled_precisions": {torch.int8}},
        ValueError,
        "enabled_precisions contains torch.int8: torch-trt builds float32, float16 and "
        "bfloat16 engines only",
    ),
    (
        {"enabled_precisions": {torch.float16}, "precision": "bf16"},
        ValueError,
        "precision options disagree",
    ),
]


@pytest.mark.parametrize(("options", "error", "message"), REFUSED)
def test_torch_tensorrt_options_refused_with_the_reason(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """A Torch-TensorRT option torch-trt cannot honour raises as torch_trt.compile does."""
    with pytest.raises(error, match=re.escape(message)):
        backend_settings(options)


def test_enabled_precisions_reach_the_engine() -> None:
    """options={"enabled_precisions": {torch.float16}} through torch.compile builds fp16 layers."""
    model = MLP().eval()
    compiled = _compile(model, options={"enabled_precisions": {torch.float16}})
    with torch.no_grad():
        compiled(torch.randn(3, 12))
    (graph,) = torch_trt.report(compiled).compiled
    (engine,) = graph.report.engine_info
    assert engine.by_precision.get("fp16", 0) > 0


def test_mode_is_refused() -> None:
    """torch.compile(mode=...) is not silently ignored: the backend has no modes."""
    with pytest.raises(TypeError, match="no modes .*max-autotune"):
        backend_settings(None, mode="max-autotune")


def test_contradictory_failure_policy_raises() -> None:
    """pass_through_build_failures and fallback_on_build_failure together are refused."""
    with pytest.raises(ValueError, match="contradicts fallback_on_build_failure"):
        torch_trt.CompileSettings(pass_through_build_failures=True, fallback_on_build_failure=True)


def test_backend_falls_back_by_default_and_raises_on_request() -> None:
    """Backend defaults: fall back; pass_through_build_failures=True turns fallback off."""
    assert backend_settings(None).fallback_on_build_failure
    s = backend_settings({"pass_through_build_failures": True})
    assert not s.fallback_on_build_failure and s.pass_through_build_failures


class Branchy(torch.nn.Module):
    """print() and a data-dependent branch: Dynamo cuts the forward into several graphs."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(8, 8)
        self.b = torch.nn.Linear(8, 8)
        self.c = torch.nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.a(x))
        print("torch-trt test: graph break")
        z = self.b(y) if x.sum() > 0 else self.c(y)
        return torch.sigmoid(z)


def test_graph_breaks_give_several_compiled_graphs(capsys: pytest.CaptureFixture[str]) -> None:
    """Each graph around a print() and a data-dependent branch is compiled and reported."""
    model = Branchy().eval()
    compiled = _compile(model)
    with torch.no_grad():
        for sign in (1.0, -1.0):  # both sides of the branch
            x = sign * torch.randn(4, 8).abs()
            want = model(x)
            got = compiled(x)
            assert rel_error(got, want) < FP32_RTOL
    assert "graph break" in capsys.readouterr().out  # the print still runs
    rep = torch_trt.report(compiled)
    assert len(rep.compiled) >= 3
    assert all(g.error == "" for g in rep.compiled)
    assert rep.engines >= 3 and rep.fallbacks == []
    assert "== g0 (Dynamo compile 0/0)" in str(rep) and "== g2" in str(rep)


def test_static_shapes_recompile_per_batch() -> None:
    """dynamic=False: every new batch size is a new Dynamo graph and a new engine."""
    model = MLP().eval()
    compiled = _compile(model, dynamic=False)
    with torch.no_grad():
        for b in (2, 3, 5):
            x = torch.randn(b, 12)
            assert rel_error(compiled(x), model(x)) < FP32_RTOL
        compiled(torch.randn(3, 12))  # seen before: no compile
    assert _unique_graphs() == 3
    assert len(torch_trt.report(compiled).compiled) == 3


def test_dynamic_true_serves_batches_2_to_16_with_one_compile() -> None:
    """dynamic=True: one engine with a dynamic batch serves 2..16 (Dynamo specializes 1)."""
    model = MLP().eval()
    compiled = _compile(model, dynamic=True)
    with torch.no_grad():
        for b in range(2, 17):
            x = torch.randn(b, 12)
            assert rel_error(compiled(x), model(x)) < FP32_RTOL
    assert _unique_graphs() == 1
    rep = torch_trt.report(compiled)
    assert any(re.fullmatch(r"float32\[s\d+, 12\]", i) for i in rep.compiled[0].inputs)


def test_dynamic_true_serves_batches_1_to_16_with_one_compile() -> None:
    """With backed_size_oblivious (no 0/1 specialization) one compile serves batch 1..16."""
    model = MLP().eval()
    with torch.fx.experimental._config.patch(backed_size_oblivious=True):
        compiled = _compile(model, dynamic=True)
        with torch.no_grad():
            for b in range(1, 17):
                x = torch.randn(b, 12)
                assert rel_error(compiled(x), model(x)) < FP32_RTOL
    assert _unique_graphs() == 1
    assert torch_trt.report(compiled).fallbacks == []


def test_mark_dynamic_and_dynamic_dim_max_bound_the_profile() -> None:
    """Past dynamic_dim_max Dynamo's guard (added by us) recompiles instead of failing."""
    model = MLP().eval()
    compiled = _compile(model, options={"dynamic_dim_max": 8})
    with torch.no_grad():
        for b in (3, 8, 9):
            x = torch.randn(b, 12)
            torch._dynamo.mark_dynamic(x, 0)
            assert rel_error(compiled(x), model(x)) < FP32_RTOL
    assert _unique_graphs() == 2  # 3..8 share the first engine; 9 needs a new profile


def test_gradients_through_a_compiled_graph_raise() -> None:
    """A backward through the compiled graph raises 'inference only', never a wrong gradient."""
    compiled = _compile(MLP().eval())
    y = compiled(torch.randn(2, 12))
    assert y.requires_grad  # the parameters require grad; the graph claims the path
    with pytest.raises(torch_trt.TorchTRTError, match=re.escape(INFERENCE_ONLY[:40])):
        y.sum().backward()
    with torch.no_grad():
        assert not compiled(torch.randn(2, 12)).requires_grad


@torch.library.custom_op("torch_trt_test::bad_scale", mutates_args=())
def bad_scale(x: torch.Tensor) -> torch.Tensor:
    """A test op whose converter builds a network TensorRT refuses at build time."""
    return x.clone()


@bad_scale.register_fake
def _bad_scale_fake(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


@converter(torch.ops.torch_trt_test.bad_scale.default)
def _convert_bad_scale(ctx: ConversionContext, x: object) -> object:
    # A rank-1 scale on a rank-3 input: accepted at definition, refused at build.
    scale = ctx.constant(torch.ones(16), torch.float32)
    bias = ctx.constant(torch.zeros(16), torch.float32)
    return ctx.net.add_normalization_v2(x, scale, bias, 1 << 2).get_output(0)


class BadBuild(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(torch.ops.torch_trt_test.bad_scale(x))


def test_build_failure_falls_back_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A region TensorRT refuses runs in PyTorch; the warning names its nodes and the reason."""
    compiled = _compile(BadBuild())
    x = torch.randn(2, 7, 16)
    with caplog.at_level(logging.WARNING, logger="torch_trt"):
        assert torch.equal(compiled(x), torch.relu(x))
    assert re.search(r"trt_0 \(nodes .*relu.*\) stays in PyTorch \(build failed\)", caplog.text)
    rep = torch_trt.report(compiled)
    assert rep.engines == 0
    assert rep.placement("g0:relu").reason is Reason.BUILD_FAILED


def test_build_failure_raises_with_pass_through() -> None:
    """pass_through_build_failures=True: the EngineBuildError reaches the caller."""
    compiled = _compile(BadBuild(), options={"pass_through_build_failures": True})
    with pytest.raises(BackendCompilerFailed, match="could not build engine trt_0") as info:
        compiled(torch.randn(2, 7, 16))
    assert isinstance(info.value.inner_exception, torch_trt.EngineBuildError)


class MutatesInput(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.mul_(2)
        return torch.relu(x) + 1


def test_graph_that_cannot_be_lowered_runs_in_pytorch(caplog: pytest.LogCaptureFixture) -> None:
    """An input mutation (refused by inference lowering) runs eagerly, with a warning."""
    compiled = _compile(MutatesInput())
    x0 = torch.randn(4)
    x = x0.clone()
    with caplog.at_level(logging.WARNING, logger="torch_trt"):
        got = compiled(x)
    assert torch.equal(got, torch.relu(x0 * 2) + 1)
    assert torch.equal(x, x0 * 2)  # the mutation happened, as in eager
    assert "runs in PyTorch" in caplog.text
    rep = torch_trt.report(compiled)
    assert rep.compiled[0].error != "" and rep.engines == 0


def test_graph_returning_a_view_of_its_input_runs_in_pytorch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An output that aliases an input keeps eager aliasing: the graph runs in PyTorch."""
    compiled = _compile(torch.nn.Flatten(0))
    x = torch.randn(3, 4)
    with caplog.at_level(logging.WARNING, logger="torch_trt"):
        y = compiled(x)
    assert y.data_ptr() == x.data_ptr()  # still a view, as in eager
    assert "does not support outputs that alias inputs" in caplog.text
    assert "ViewAndMutationMeta" not in caplog.text  # the warning stays one readable line


def test_report_of_something_never_compiled_raises() -> None:
    """report() on a torch.compile object that has not run says what to pass."""
    compiled = _compile(MLP())
    with pytest.raises(ValueError, match="after its first call"):
        torch_trt.report(compiled)


def _entry_point_line() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.entry-points.torch_dynamo_backends]", 1)[1]
    line = next(ln for ln in section.splitlines() if ln.startswith("torch_trt"))
    return line.replace('"', "").replace(" ", "")


def test_entry_point_works_in_a_fresh_process(tmp_path: Path) -> None:
    """backend="torch_trt" works in a process that never imports torch_trt itself.

    The package metadata pip would write from pyproject.toml is put first on the path, so the
    check holds for this checkout whatever an older install left in the environment.
    """
    dist = tmp_path / "torch_trt-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: torch-trt\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[torch_dynamo_backends]\n{_entry_point_line()}\n")
    script = textwrap.dedent(
        """
        import sys
        import torch
        from importlib.metadata import entry_points
        assert [e.value for e in entry_points(group="torch_dynamo_backends", name="torch_trt")]
        f = torch.compile(lambda x: torch.relu(x) * 2, backend="torch_trt",
                          options={"runtime": "reference", "min_block_size": 1})
        x = torch.randn(3, 4)
        assert torch.equal(f(x), torch.relu(x) * 2)
        assert "torch_trt" in sys.modules
        import torch_trt
        assert torch_trt.report(f).engines == 1
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT / 'src'}"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_changed_weights_raise_instead_of_stale_results() -> None:
    """Weights are frozen at compile: changing one afterwards raises, reset() recompiles."""
    model = MLP().eval()
    compiled = _compile(model)
    x = torch.randn(2, 12)
    with torch.no_grad():
        compiled(x)
        model.fc1.weight.mul_(2)
        with pytest.raises(torch_trt.TorchTRTError, match=r"changed .*torch._dynamo.reset\(\)"):
            compiled(x)
        torch._dynamo.reset()
        assert rel_error(compiled(x), model(x)) < FP32_RTOL


def test_mark_dynamic_range_serves_its_ends_with_one_compile() -> None:
    """mark_dynamic(min, max): the engine profile covers the declared ends, one compile."""
    model = MLP().eval()
    compiled = torch.compile(model, backend=torch_trt.dynamo.backend, options=REF)
    with torch.no_grad():
        for b in (4, 2, 6, 3):
            x = torch.randn(b, 12)
            torch._dynamo.mark_dynamic(x, 0, min=2, max=6)
            assert rel_error(compiled(x), model(x)) < FP32_RTOL
    assert _unique_graphs() == 1
    assert torch_trt.report(compiled).engines == 1


def test_dynamic_dim_max_caps_unbounded_exported_dims_in_the_aot_path() -> None:
    """dynamo.compile of an ExportedProgram with an unbounded dim: an error without
    dynamic_dim_max, a profile up to it with."""
    model = MLP().eval()
    batch = torch.export.Dim("batch")
    ep = torch.export.export(model, (torch.randn(4, 12),), dynamic_shapes=({0: batch},))
    with pytest.raises(torch_trt.CaptureError, match="has no upper bound"):
        torch_trt.dynamo.compile(ep, runtime="reference", min_block_size=1)
    compiled = torch_trt.dynamo.compile(
        ep, runtime="reference", min_block_size=1, dynamic_dim_max=8
    )
    with torch.no_grad():
        x = torch.randn(8, 12)
        assert rel_error(compiled(x), model(x)) < FP32_RTOL
        with pytest.raises(torch_trt.InputShapeError, match="allowed in"):
            compiled(torch.randn(9, 12))
