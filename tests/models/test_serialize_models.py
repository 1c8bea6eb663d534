"""Acceptance: whole models saved in both formats and loaded in a fresh Python process.

ResNet-18, a 2-layer BERT with a dynamic sequence range, and a model with a region forced to
PyTorch are compiled and saved here; one subprocess (PYTHONPATH = our sources only) loads
every file and reports engines, records, reports and outputs, which this process checks.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import torch_trt
from torch_trt.serialize import engine_records
from torch_trt.testing import FP32_RTOL, randomize_norm_stats

# Saving with_source=True needs the region sources, which a compile keeps only when asked.
_compile = functools.partial(torch_trt.dynamo.compile, keep_source=True)


SRC = Path(torch_trt.__file__).resolve().parents[1]


class Forced(torch.nn.Module):
    """conv -> relu -> conv; relu is forced to PyTorch, so it splits two engines."""

    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.b = torch.nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)) + 1.0).mean(dim=(2, 3))


def _models() -> dict[str, tuple[torch.nn.Module, list[Any], dict[str, Any], dict[str, Any]]]:
    """name -> (model, compile inputs, compile kwarg inputs, compile options)."""
    import torchvision.models as tvm
    import transformers

    torch.manual_seed(0)
    resnet = randomize_norm_stats(tvm.resnet18().eval())
    config = transformers.BertConfig(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        intermediate_size=128,
        vocab_size=512,
        max_position_embeddings=64,
    )
    bert = transformers.BertModel(config).eval()
    seq = {"min_shape": (2, 8), "opt_shape": (2, 16), "max_shape": (2, 64), "dtype": torch.int64}
    ids, mask = torch_trt.Input(**seq), torch_trt.Input(**seq)  # type: ignore[arg-type]
    return {
        "resnet18": (resnet, [torch.randn(1, 3, 224, 224)], {}, {}),
        "bert": (bert, [ids], {"attention_mask": mask}, {}),
        "forced": (
            Forced().eval(),
            [torch.randn(2, 3, 16, 16)],
            {},
            {"torch_executed_ops": {"aten.relu.default"}, "min_block_size": 1},
        ),
    }


def _calls(name: str) -> list[tuple[list[torch.Tensor], dict[str, torch.Tensor]]]:
    """The calls each model is checked with (BERT at two sequence lengths of its range)."""
    if name == "resnet18":
        return [([torch.randn(1, 3, 224, 224)], {})]
    if name == "forced":
        return [([torch.randn(2, 3, 16, 16)], {})]
    out = []
    for seq in (16, 37):
        mask = torch.ones(2, seq, dtype=torch.int64)
        mask[1, seq // 2 :] = 0
        out.append(([torch.randint(0, 512, (2, seq))], {"attention_mask": mask}))
    return out


def _flat(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if hasattr(out, "last_hidden_state"):
        return [out.last_hidden_state, out.pooler_output]
    return [t for t in out]


def _engines(module: torch.nn.Module) -> list[str]:
    """sha256 of every engine constant, in graph order."""
    gm = module
    assert isinstance(gm, torch.fx.GraphModule)
    nodes = [n for n in gm.graph.nodes if n.target is torch.ops.torch_trt.execute_engine.default]
    return [hashlib.sha256(bytes(getattr(gm, n.args[1].target).numpy())).hexdigest() for n in nodes]


def _torch_ops(module: torch.fx.GraphModule) -> list[str]:
    """The ATen ops that run in PyTorch (outside engines), sorted."""
    skip = ("sym_size", "getitem", "execute_engine", "_assert")
    names = [str(n.target) for n in module.graph.nodes if n.op == "call_function"]
    return sorted(n for n in names if not any(s in n for s in skip))


_LOADER = r"""
import hashlib, json, sys, warnings
import torch
import transformers.models.bert.modeling_bert  # registers BERT's output type with pytree
import torch_trt
from torch_trt.runtime import engine as engine_mod
from torch_trt.serialize import engine_records
from torch_trt.testing import rel_error

out_dir = sys.argv[1]
expected = json.load(open(f"{out_dir}/expected.json"))
data = torch.load(f"{out_dir}/data.pt", weights_only=True)

def flat(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if hasattr(out, "last_hidden_state"):
        return [out.last_hidden_state, out.pooler_output]
    return list(out)

def errors(module, name, positional=False):
    errs = []
    with torch.no_grad():
        for i, (args, kwargs, want) in enumerate(data[name]):
            call = [*args, *kwargs.values()] if positional else args
            got = flat(module(*call) if positional else module(*args, **kwargs))
            errs.append(max(rel_error(g, w) for g, w in zip(got, want, strict=True)))
    return max(errs)

def engines(gm):
    nodes = [n for n in gm.graph.nodes if n.target is torch.ops.torch_trt.execute_engine.default]
    return [hashlib.sha256(bytes(getattr(gm, n.args[1].target).numpy())).hexdigest() for n in nodes]

def torch_ops(gm):
    skip = ("sym_size", "getitem", "execute_engine", "_assert")
    names = [str(n.target) for n in gm.graph.nodes if n.op == "call_function"]
    return sorted(n for n in names if not any(s in n for s in skip))

def records(m):
    return [json.loads(r.to_json()) for r in engine_records(m)]

result = {}
for name in expected:
    r = result[name] = {}
    ref = torch_trt.load(f"{out_dir}/{name}.ref.pt2")
    r["ref_engines"] = engines(ref)
    r["ref_records"] = records(ref)
    r["ref_report"] = torch_trt.report(ref).to_dict()
    r["ref_ops"] = torch_ops(ref)
    r["ref_err"] = errors(ref, name)
    if name == "bert":  # the declared sequence range 8..64 is still enforced
        try:
            ref(torch.zeros(2, 65, dtype=torch.int64), attention_mask=torch.ones(2, 65).long())
        except torch_trt.InputShapeError as e:
            r["outside_range"] = str(e)
    ep = torch.export.load(f"{out_dir}/{name}.ref.pt2")
    r["export_load_err"] = errors(ep.module(), name)
    ts = torch.jit.load(f"{out_dir}/{name}.ref.ts")
    r["ts_records"] = records(ts)
    r["ts_err"] = errors(ts, name, positional=True)
    r["ts_report"] = torch_trt.report(torch_trt.load(f"{out_dir}/{name}.ref.ts")).to_dict()
    src = f"{out_dir}/{name}.src.pt2"
    r["src_reference_err"] = errors(torch_trt.load(src, runtime="reference"), name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pt = torch_trt.load(src, on_incompatible="pytorch")
    r["pytorch_warnings"] = [str(w.message) for w in caught if "runs in PyTorch" in str(w.message)]
    r["pytorch_engines"] = len(engine_records(pt))
    r["pytorch_err"] = errors(pt, name)

# Rebuild: pretend the engines came from another TensorRT version (the local one reports
# "99.0-local") and that a GPU of compute capability 8.6 is present.
class GPU(engine_mod.CudaDevices):
    def is_available(self): return True
    def current(self): return torch.device("cuda", 0)
    def capability(self, device): return (8, 6)
    def name(self, device): return "stand-in GPU"

engine_mod.cuda = GPU()
torch_trt._trt.version = lambda: "99.0-local"
for name in expected:
    rebuilt = torch_trt.load(f"{out_dir}/{name}.src.pt2", on_incompatible="rebuild")
    result[name]["rebuilt_records"] = records(rebuilt)
    result[name]["rebuilt_engines"] = engines(rebuilt)
print(json.dumps(result))
"""


def _report(rep: torch_trt.Report) -> dict[str, Any]:
    raw = rep.to_dict()
    return {"engines": raw["engines"], "placements": raw["placements"]}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what this process saved, what the fresh process loaded)."""
    out = tmp_path_factory.mktemp("artifacts")
    expected: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for name, (model, inputs, kwargs, options) in _models().items():
        ref = _compile(model, inputs, kwarg_inputs=kwargs, runtime="reference", **options)
        trt = _compile(model, inputs, kwarg_inputs=kwargs, **options)
        torch_trt.save(ref, out / f"{name}.ref.pt2")
        torch_trt.save(ref, out / f"{name}.ref.ts", output_format="torchscript")
        torch_trt.save(trt, out / f"{name}.src.pt2", with_source=True)
        expected[name] = {
            "engines": _engines(ref),
            "records": [json.loads(r.to_json()) for r in engine_records(ref)],
            "trt_records": [json.loads(r.to_json()) for r in engine_records(trt)],
            "report": _report(torch_trt.report(ref)),
            "ops": _torch_ops(ref),
        }
        with torch.no_grad():
            data[name] = [(a, k, _flat(model(*a, **k))) for a, k in _calls(name)]
    (out / "expected.json").write_text(json.dumps(expected))
    torch.save(data, out / "data.pt")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, "-c", _LOADER, str(out)], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return expected, json.loads(proc.stdout.strip().splitlines()[-1])


NAMES = ["resnet18", "bert", "forced"]


@pytest.mark.parametrize("name", NAMES)
def test_same_engines_records_regions_and_report(
    loaded: tuple[dict[str, Any], dict[str, Any]], name: str
) -> None:
    """Both formats load with byte-identical engines, identical engine records, the same
    PyTorch regions and the same report."""
    expected, got = loaded[0][name], loaded[1][name]
    assert got["ref_engines"] == expected["engines"] and expected["engines"]
    assert got["ref_records"] == expected["records"] == got["ts_records"]
    assert got["ref_ops"] == expected["ops"]
    for key in ("ref_report", "ts_report"):
        assert _report_of(got[key]) == expected["report"], key
    if name == "bert":
        assert "dim 1 is 65, allowed in [8, 64]" in got["outside_range"]
    if name == "forced":
        assert len(expected["engines"]) == 2 and "aten.relu.default" in expected["ops"]


def _report_of(raw: dict[str, Any]) -> dict[str, Any]:
    return {"engines": raw["engines"], "placements": raw["placements"]}


@pytest.mark.parametrize("name", NAMES)
def test_loaded_outputs_match_eager(
    loaded: tuple[dict[str, Any], dict[str, Any]], name: str
) -> None:
    """torch_trt.load, torch.export.load and torch.jit.load of the files, the with_source file
    under runtime="reference" and under on_incompatible="pytorch": all match eager."""
    got = loaded[1][name]
    for key in ("ref_err", "export_load_err", "ts_err", "src_reference_err", "pytorch_err"):
        assert got[key] < FP32_RTOL, (key, got[key])


@pytest.mark.parametrize("name", NAMES)
def test_pytorch_fallback_names_each_region(
    loaded: tuple[dict[str, Any], dict[str, Any]], name: str
) -> None:
    """on_incompatible="pytorch" warns once per region, naming it and the reason."""
    expected, got = loaded[0][name], loaded[1][name]
    names = [r["name"] for r in expected["trt_records"]]
    assert got["pytorch_engines"] == 0
    assert len(got["pytorch_warnings"]) == len(names)
    for region, message in zip(names, got["pytorch_warnings"], strict=True):
        assert f"engine {region} runs in PyTorch: no CUDA device" in message


@pytest.mark.parametrize("name", NAMES)
def test_rebuild_uses_local_tensorrt(
    loaded: tuple[dict[str, Any], dict[str, Any]], name: str
) -> None:
    """on_incompatible="rebuild" builds every engine again with the local TensorRT: the
    records name it, with new engine ids and the same bindings' dtypes."""
    expected, got = loaded[0][name], loaded[1][name]
    saved, rebuilt = expected["trt_records"], got["rebuilt_records"]
    assert len(rebuilt) == len(saved) and len(got["rebuilt_engines"]) == len(saved)
    for old, new in zip(saved, rebuilt, strict=True):
        assert new["trt_version"] == "99.0-local" != old["trt_version"]
        assert new["engine_id"] != old["engine_id"] and new["name"] == old["name"]
        assert [b["dtype"] for b in new["inputs"]] == [b["dtype"] for b in old["inputs"]]
        assert [b["profile"] for b in new["inputs"]] == [b["profile"] for b in old["inputs"]]
