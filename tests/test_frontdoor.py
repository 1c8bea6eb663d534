"""torch_trt.compile: ir dispatch, its errors, inputs, and Torch-TensorRT option names."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import torch

import torch_trt
from torch_trt import Input, _migrate
from torch_trt.testing import FP32_RTOL, rel_error

DOCS = Path(__file__).resolve().parents[1] / "docs"


class Small(torch.nn.Module):
    """conv -> relu -> conv -> add: six compute nodes, one engine at the default block size."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.b = torch.nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.a(x))
        return self.b(y) + y * 2.0 - 1.0


@pytest.fixture
def small() -> tuple[torch.nn.Module, torch.Tensor]:
    """A small eval-mode model and an input."""
    return Small().eval(), torch.randn(1, 3, 8, 8)


def _close(got: torch.Tensor, model: torch.nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        assert rel_error(got, model(x)) < FP32_RTOL


def test_default_ir_routes_by_type(small: tuple[torch.nn.Module, torch.Tensor]) -> None:
    """default: nn.Module, GraphModule and ExportedProgram give GraphModules, ScriptModule a
    ScriptModule; all match eager."""
    model, x = small
    ep = torch.export.export(model, (x,))
    for module in (model, torch.fx.symbolic_trace(model), ep):
        out = torch_trt.compile(module, inputs=[x], runtime="reference")
        assert isinstance(out, torch.fx.GraphModule)
        assert torch_trt.report(out).engines == 1
        _close(out(x), model, x)
    ts = torch_trt.compile(torch.jit.script(model), inputs=[x], runtime="reference")
    assert isinstance(ts, torch.jit.ScriptModule)
    _close(ts(x), model, x)


def test_exported_program_needs_no_inputs(small: tuple[torch.nn.Module, torch.Tensor]) -> None:
    """An ExportedProgram carries its example shapes: inputs may be left out."""
    model, x = small
    out = torch_trt.compile(torch.export.export(model, (x,)), runtime="reference")
    _close(out(x), model, x)


def test_unknown_ir_lists_valid_values() -> None:
    """An unknown ir raises ValueError naming every valid value and the closest one."""
    with pytest.raises(ValueError) as info:
        torch_trt.compile(Small(), ir="dynamoo", inputs=[torch.randn(1, 3, 8, 8)])
    assert str(info.value) == (
        "unknown ir 'dynamoo'; valid values: 'default', 'dynamo', 'torch_compile', 'ts', "
        "'torchscript', 'fx'; did you mean 'dynamo'?"
    )


@pytest.mark.parametrize("ir", ["fx", "dynamo", "torch_compile"])
def test_script_module_refuses_other_irs(ir: str) -> None:
    """A ScriptModule with a non-TorchScript ir raises ValueError listing its valid irs."""
    scripted = torch.jit.script(Small().eval())
    with pytest.raises(ValueError) as info:
        torch_trt.compile(scripted, ir=ir, inputs=[torch.randn(1, 3, 8, 8)])
    assert str(info.value) == (
        f"ir={ir!r} does not accept a ScriptModule; valid ir values for a ScriptModule: "
        "'default', 'ts', 'torchscript'"
    )


@pytest.mark.parametrize("ir", ["fx", "ts", "torch_compile"])
def test_exported_program_refuses_other_irs(ir: str) -> None:
    """An ExportedProgram goes down dynamo only; other irs list the valid ones."""
    ep = torch.export.export(Small().eval(), (torch.randn(1, 3, 8, 8),))
    with pytest.raises(ValueError, match=r"valid ir values for an ExportedProgram: 'default', "):
        torch_trt.compile(ep, ir=ir)


def test_non_module_is_a_type_error() -> None:
    """A plain function is refused with the accepted types."""
    with pytest.raises(TypeError, match="expects an nn.Module, fx.GraphModule, ExportedProgram"):
        torch_trt.compile(torch.relu, inputs=[torch.randn(2)])


def test_inputs_and_arg_inputs(small: tuple[torch.nn.Module, torch.Tensor]) -> None:
    """arg_inputs is inputs' alias; giving both, or none for a module, raises."""
    model, x = small
    out = torch_trt.compile(model, arg_inputs=[Input(shape=x.shape)], runtime="reference")
    _close(out(x), model, x)
    with pytest.raises(TypeError, match=r"give inputs or arg_inputs \(the same thing\)"):
        torch_trt.compile(model, inputs=[x], arg_inputs=[x])
    with pytest.raises(ValueError, match=r"ir='default' traces the model and needs example"):
        torch_trt.compile(model)
    with pytest.raises(TypeError, match="inputs must be a list of tensors or torch_trt.Input"):
        torch_trt.compile(model, inputs={"x": x})


def test_shapes_as_inputs(small: tuple[torch.nn.Module, torch.Tensor]) -> None:
    """Torch-TensorRT's plain shapes (tuple, list, torch.Size of ints) are static Inputs."""
    model, x = small
    for shape in ((1, 3, 8, 8), [1, 3, 8, 8], torch.Size([1, 3, 8, 8])):
        out = torch_trt.compile(model, inputs=[shape], runtime="reference")
        _close(out(x), model, x)
        with pytest.raises(torch_trt.InputShapeError, match=r"dim 0 is 2, allowed 1"):
            out(torch.randn(2, 3, 8, 8))


def test_ts_method_only_for_ts(small: tuple[torch.nn.Module, torch.Tensor]) -> None:
    """ts_method with another ir, or an unknown ts_method, raises."""
    model, x = small
    with pytest.raises(ValueError, match=r"ts_method applies to ir='ts' only, not ir='fx'"):
        torch_trt.compile(model, ir="fx", inputs=[x], ts_method="trace")
    with pytest.raises(ValueError, match=r"ts_method must be one of \('script', 'trace'\)"):
        torch_trt.compile(model, ir="ts", inputs=[x], ts_method="freeze")


def test_torch_tensorrt_style_call(small: tuple[torch.nn.Module, torch.Tensor]) -> None:
    """A call written for Torch-TensorRT (its option names, Input forms) runs unchanged."""
    model, _ = small
    out = torch_trt.compile(
        model,
        ir="dynamo",
        inputs=[Input(min_shape=(1, 3, 8, 8), opt_shape=(2, 3, 8, 8), max_shape=(4, 3, 8, 8))],
        enabled_precisions={torch.float},
        min_block_size=1,
        torch_executed_ops={"torch.ops.aten.relu.default"},
        require_full_compilation=False,
        pass_through_build_failures=True,
        workspace_size=1 << 28,
        optimization_level=None,
        truncate_double=False,
        debug=True,
        use_python_runtime=False,
        runtime="reference",
    )
    rep = torch_trt.report(out)
    assert [p.op for p in rep.fallbacks] == ["aten.relu.default"]
    assert "lower" in rep.graphs  # debug=True kept the graphs
    x3 = torch.randn(3, 3, 8, 8)
    _close(out(x3), model, x3)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"enabled_precisions": {torch.int8}},
            ValueError,
            "enabled_precisions contains torch.int8: torch-trt builds float32, float16 and "
            "bfloat16 engines only",
        ),
        (
            {"enabled_precisions": {torch.half, torch.bfloat16}},
            ValueError,
            "names both torch.float16 and torch.bfloat16",
        ),
        ({"enabled_precisions": "fp16"}, TypeError, "must be a set of torch dtypes"),
        (
            {"enabled_precisions": {torch.half}, "precision": "bf16"},
            ValueError,
            re.escape(
                "precision options disagree: enabled_precisions={torch.float16} asks for fp16; "
                "precision='bf16' asks for bf16; give one"
            ),
        ),
        (
            {"enabled_precisions": {torch.float}, "precision": "fp16"},
            ValueError,
            "enabled_precisions={torch.float32} asks for fp32; precision='fp16' asks for fp16",
        ),
        (
            {
                "enable_autocast": True,
                "autocast_low_precision_type": torch.half,
                "enabled_precisions": {torch.bfloat16},
            },
            ValueError,
            "enable_autocast=True, autocast_low_precision_type=torch.float16 asks for fp16",
        ),
        (
            {"enable_autocast": True},
            ValueError,
            "enable_autocast=True needs autocast_low_precision_type=torch.float16 or",
        ),
        (
            {"autocast_low_precision_type": torch.half},
            ValueError,
            "takes effect with enable_autocast=True only",
        ),
        ({"enable_autocast": 1}, TypeError, "enable_autocast must be a bool"),
        ({"truncate_double": 1}, TypeError, "truncate_double must be a bool, got 1"),
        (
            {"truncate_double": True, "truncate_long_and_double": False},
            ValueError,
            "truncate_double and truncate_long_and_double \\(its old name\\) disagree",
        ),
        (
            {"autocast_excluded_ops": {"aten.mm"}},
            ValueError,
            "precision_exclude keeps ops in float32 under reduced precision, but precision='fp32'",
        ),
        (
            {"use_fp32_acc": True},
            TypeError,
            "use_fp32_acc=True is not supported by torch-trt: the accumulation precision",
        ),
        (
            {"workspace_size": 0},
            ValueError,
            "workspace_size=0 means 'TensorRT's default' in Torch-TensorRT but a zero-byte",
        ),
        (
            {"pass_through_build_failures": False},
            ValueError,
            r"pass_through_build_failures=False applies to ir='torch_compile' only",
        ),
        (
            {"pass_through_build_failures": True, "fallback_on_build_failure": True},
            ValueError,
            "contradict each other",
        ),
        (
            {"device": torch.device("cuda:0")},
            TypeError,
            re.escape(
                "Torch-TensorRT option device=device(type='cuda', index=0) is not supported by "
                "torch-trt: engines run on the device of their inputs; move the model and "
                "inputs (accepted: None); see docs/migrating.md"
            ),
        ),
        (
            {"sparse_weights": True},
            TypeError,
            r"sparse_weights=True is not supported by torch-trt: structured sparsity",
        ),
        ({"dla_sram_size": 1 << 20}, TypeError, r"DLA is not supported; see docs/migrating.md"),
        ({"pass_through_build_failures": 1}, TypeError, "must be a bool, got 1"),
        ({"min_blok_size": 2}, TypeError, "did you mean 'min_block_size'"),
        ({"fallback_data_dependent_ops": True}, TypeError, "converted inside engines"),
    ],
)
def test_refused_options(options: dict[str, Any], error: type[Exception], message: str) -> None:
    """Options that cannot be honoured raise with the documented message, before any work."""
    with pytest.raises(error, match=message):
        torch_trt.compile(Small(), inputs=[torch.randn(1, 3, 8, 8)], **options)


def test_unsupported_table_matches_docs() -> None:
    """docs/migrating.md names every refused Torch-TensorRT option with its reason."""
    text = (DOCS / "migrating.md").read_text()
    for name, (_, reason) in _migrate.UNSUPPORTED.items():
        rows = [line for line in text.splitlines() if line.startswith(f"| `{name}`")]
        assert len(rows) == 1, name
        assert reason in rows[0], name


def test_input_torch_tensorrt_forms() -> None:
    """Input takes Torch-TensorRT's keyword forms; a non-contiguous format is refused."""
    static = Input(
        shape=[1, 3, 8, 8], dtype=torch.float32, name="x", format=torch.contiguous_format
    )
    assert static.shape == (1, 3, 8, 8) and static.name == "x"
    ranged = Input(min_shape=(1, 8), opt_shape=(2, 8), max_shape=(4, 8), dtype=torch.int32)
    assert ranged.is_dynamic and ranged.dtype == torch.int32
    with pytest.raises(ValueError, match="only torch.contiguous_format is supported"):
        Input(shape=(1, 3, 8, 8), format=torch.channels_last)


def test_torch_compile_missing_backend_error(
    small: tuple[torch.nn.Module, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the backend module, ir='torch_compile' says what is missing."""
    real = importlib.import_module

    def fake(name: str, package: str | None = None) -> Any:
        if name == "torch_trt.dynamo.backend":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", fake)
    model, x = small
    with pytest.raises(NotImplementedError, match="needs the torch.compile backend"):
        torch_trt.compile(model, ir="torch_compile", inputs=[x])


def test_torch_compile_checks_options_first(small: tuple[torch.nn.Module, torch.Tensor]) -> None:
    """ir='torch_compile' refuses bad options and Input ranges at the call, not at first use."""
    model, _ = small
    with pytest.raises(TypeError, match="did you mean 'min_block_size'"):
        torch_trt.compile(model, ir="torch_compile", min_blok_size=1)
    with pytest.raises(ValueError, match="compiles for the shapes it is called with"):
        torch_trt.compile(
            model,
            ir="torch_compile",
            inputs=[Input(min_shape=(1, 3, 8, 8), opt_shape=(1, 3, 8, 8), max_shape=(2, 3, 8, 8))],
        )


def test_torch_compile_returns_compiled_module(
    small: tuple[torch.nn.Module, torch.Tensor],
) -> None:
    """ir='torch_compile' returns torch.compile's module, which matches eager (needs the
    torch.compile backend of torch_trt.dynamo.backend)."""
    model, x = small
    torch._dynamo.reset()
    out = torch_trt.compile(model, ir="torch_compile", inputs=[x], runtime="reference")
    assert isinstance(out, torch._dynamo.eval_frame.OptimizedModule)
    _close(out(x), model, x)


def _torch_tensorrt_doc_call(compile_fn: Any, model: torch.nn.Module, x: torch.Tensor) -> Any:
    """The options of Torch-TensorRT's ResNet dynamo tutorial, package renamed."""
    inputs = [x]
    enabled_precisions = {torch.half}
    debug = True
    workspace_size = 20 << 30
    min_block_size = 3
    torch_executed_ops: dict[str, Any] = {}
    return compile_fn(
        model,
        inputs,
        enabled_precisions=enabled_precisions,
        debug=debug,
        workspace_size=workspace_size,
        min_block_size=min_block_size,
        torch_executed_ops=torch_executed_ops,
    )


@pytest.mark.parametrize("entry", ["torch_trt.dynamo.compile", "torch_trt.compile"])
def test_torch_tensorrt_doc_call(small: tuple[torch.nn.Module, torch.Tensor], entry: str) -> None:
    """Torch-TensorRT's documented fp16 call builds an fp16 engine through either entry point:
    the convolutions run in fp16, the output keeps float32, the error is fp16-sized."""
    model, x = small
    if entry == "torch_trt.dynamo.compile":

        def compile_fn(m: Any, inputs: Any, **kw: Any) -> Any:
            return torch_trt.dynamo.compile(m, inputs, runtime="reference", **kw)
    else:

        def compile_fn(m: Any, inputs: Any, **kw: Any) -> Any:
            return torch_trt.compile(m, "dynamo", inputs, runtime="reference", **kw)

    out = _torch_tensorrt_doc_call(compile_fn, model, x)
    rep = torch_trt.report(out)
    assert rep.engines == 1 and rep.fallbacks == []
    (engine,) = rep.engine_info
    assert engine.by_precision.get("fp16", 0) > engine.by_precision.get("fp32", 0)
    precision = rep.layer_precision[engine.name]
    convs = [layer for layer, node in rep.layer_to_node[engine.name].items() if "conv" in node]
    assert convs and all(precision[layer] == "fp16" for layer in convs)
    with torch.no_grad():
        got = out(x)
        half = Small().eval()
        half.load_state_dict(model.state_dict())
        eager16 = half.half()(x.half()).float()
        fp64 = model.double()(x.double())
    assert got.dtype == torch.float32
    assert rel_error(got, fp64) <= 1.5 * rel_error(eager16, fp64)


def test_ir_errors_are_the_documented_ones(small: tuple[torch.nn.Module, torch.Tensor]) -> None:
    """The ir errors quoted in docs/frontends.md are the messages raised, word for word."""
    model, x = small
    page = (DOCS / "frontends.md").read_text()
    calls: list[tuple[Any, str]] = [
        (model, "dynamoo"),
        (torch.jit.script(model), "fx"),
        (torch.export.export(model, (x,)), "ts"),
    ]
    for module, ir in calls:
        with pytest.raises(ValueError) as info:
            torch_trt.compile(module, ir=ir, inputs=[x])
        assert f"ValueError: {info.value}\n" in page


def test_dynamo_compile_keeps_pass_through_as_a_setting(
    small: tuple[torch.nn.Module, torch.Tensor],
) -> None:
    """dynamo.compile (which the torch.compile backend may call) takes either value of
    pass_through_build_failures; only torch_trt.compile's AOT paths refuse False."""
    model, x = small
    for value in (False, True):
        out = torch_trt.dynamo.compile(
            model, [x], pass_through_build_failures=value, runtime="reference"
        )
        _close(out(x), model, x)
    with pytest.raises(TypeError, match="pass_through_build_failures must be a bool"):
        torch_trt.dynamo.compile(model, [x], pass_through_build_failures="yes")


def test_torch_tensorrt_engine_cache_options_use_the_cache(
    small: tuple[torch.nn.Module, torch.Tensor], tmp_path: Path
) -> None:
    """cache_built_engines + reuse_cached_engines + engine_cache_dir store, then hit."""
    model, x = small
    options = {
        "cache_built_engines": True,
        "reuse_cached_engines": True,
        "engine_cache_dir": str(tmp_path),
        "engine_cache_size": 1 << 30,
    }
    first = torch_trt.compile(model, inputs=[x], runtime="reference", **options)
    second = torch_trt.compile(model, inputs=[x], runtime="reference", **options)
    assert [e.cache for e in torch_trt.report(first).engine_info] == ["miss"]
    assert [e.cache for e in torch_trt.report(second).engine_info] == ["hit"]
    assert any(tmp_path.iterdir())
    _close(second(x), model, x)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"cache_built_engines": True, "reuse_cached_engines": True, "engine_cache_dir": "/c"},
            {"cache_dir": "/c"},
        ),
        ({"cache_built_engines": False, "reuse_cached_engines": False}, {"cache_dir": False}),
        (
            {"cache_built_engines": True, "reuse_cached_engines": True, "engine_cache_size": 7},
            {"cache_dir": "/env", "cache_max_bytes": 7},
        ),
        (
            {"cache_built_engines": True, "reuse_cached_engines": True, "cache_dir": "/env"},
            {"cache_dir": "/env"},
        ),
    ],
)
def test_engine_cache_options_translate(
    options: dict[str, Any], expected: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Torch-TensorRT cache names become cache_dir / cache_max_bytes; the directory
    defaults to $TORCH_TRT_CACHE_DIR, then to one under the temporary directory."""
    monkeypatch.setenv("TORCH_TRT_CACHE_DIR", "/env")
    assert _migrate.translate(options, "dynamo") == expected
    monkeypatch.delenv("TORCH_TRT_CACHE_DIR")
    on = {"cache_built_engines": True, "reuse_cached_engines": True}
    default = _migrate.translate(on, "dynamo")["cache_dir"]
    assert Path(default).name == "torch_trt_engine_cache"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"cache_built_engines": True}, ValueError, "stores and reuses together"),
        ({"reuse_cached_engines": True, "cache_built_engines": False}, ValueError, "both True"),
        ({"engine_cache_dir": "/c"}, ValueError, "engine_cache_dir takes effect with"),
        ({"engine_cache_size": 5}, ValueError, "engine_cache_size takes effect with"),
        ({"cache_built_engines": 1, "reuse_cached_engines": 1}, TypeError, "must be a bool"),
        (
            {
                "cache_built_engines": True,
                "reuse_cached_engines": True,
                "engine_cache_dir": "/a",
                "cache_dir": "/b",
            },
            ValueError,
            "cache_dir='/b' disagrees with",
        ),
        ({"custom_engine_cache": object()}, TypeError, "on-disk one of docs/cache.md"),
    ],
)
def test_engine_cache_options_refused(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Cache options that would do nothing or contradict each other raise, naming why."""
    with pytest.raises(error, match=re.escape(message)):
        _migrate.translate(options, "dynamo")
