"""Zoo benchmark: compile public model architectures, one fresh process per model.

For each model (torchvision and Hugging Face transformers architectures with random weights,
built from their default configurations, so nothing is downloaded) a child process builds the
model, warms up (imports TensorRT, exports a tiny network once), records its resident memory,
compiles it once (batch 1, float32, ``min_block_size=1``)
and reports the seconds of every stage, engines, fallbacks, TensorRT layers, engine and weight
megabytes and the peak resident memory the compile added. The parent prints a table and writes
JSON (format in README.md, "Benchmarks").

Run from the checkout root::

    PYTHONPATH=src python benchmarks/zoo.py --models resnet18,bert_base --out zoo.json
    PYTHONPATH=src python benchmarks/zoo.py --runtime reference      # every model

Timings are for the machine it runs on (engines are built on the CPU when no GPU exists); on a
busy machine compare runs made back to back, or ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # configurations only; never reach the hub

SEQ = 128  # tokens for the text models


class Pick(torch.nn.Module):
    """Calls ``inner`` with the inputs bound to ``names`` (positionally when empty) and returns
    one tensor: ``key`` of a dict or model output, else the first element of a tuple."""

    def __init__(self, inner: torch.nn.Module, key: str, names: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.inner, self.key, self.names = inner, key, names

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = (
            self.inner(**dict(zip(self.names, xs, strict=True))) if self.names else self.inner(*xs)
        )
        result: torch.Tensor = out[self.key]
        return result


def _vision(name: str, **kwargs: Any) -> Callable[[], tuple[torch.nn.Module, list[Any]]]:
    def make() -> tuple[torch.nn.Module, list[Any]]:
        import torchvision

        model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
        if name.startswith("deeplab"):  # segmentation models return a dict
            model = Pick(model, "out").eval()
        return model, [torch.randn(1, 3, 224, 224)]

    return make


def _text(model_cls: str, config_cls: str) -> Callable[[], tuple[torch.nn.Module, list[Any]]]:
    def make() -> tuple[torch.nn.Module, list[Any]]:
        import transformers

        config = getattr(transformers, config_cls)()
        if hasattr(config, "use_cache"):
            config.use_cache = False
        inner = getattr(transformers, model_cls)(config).eval()
        ids = torch.randint(0, 1000, (1, SEQ))
        model = Pick(inner, "last_hidden_state", ("input_ids", "attention_mask")).eval()
        return model, [ids, torch.ones_like(ids)]

    return make


ZOO: dict[str, Callable[[], tuple[torch.nn.Module, list[Any]]]] = {
    "resnet18": _vision("resnet18"),
    "resnet50": _vision("resnet50"),
    "mobilenet_v3_small": _vision("mobilenet_v3_small"),
    "efficientnet_b0": _vision("efficientnet_b0"),
    "vit_b_16": _vision("vit_b_16"),
    "convnext_tiny": _vision("convnext_tiny"),
    "swin_t": _vision("swin_t"),
    "densenet121": _vision("densenet121"),
    "deeplabv3_mobilenet_v3_large": _vision(
        "deeplabv3_mobilenet_v3_large", weights_backbone=None, aux_loss=False
    ),
    "bert_base": _text("BertModel", "BertConfig"),
    "gpt2": _text("GPT2Model", "GPT2Config"),
    "t5_encoder": _text("T5EncoderModel", "T5Config"),
}


# --- child -------------------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _warm_up() -> None:
    """Charge one-time lazy initialisation (TensorRT import, the first torch.export and
    decomposition of the process) to no model: export a tiny network once."""
    from torch_trt import _trt

    _trt.load()
    tiny = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten())
    torch.export.export(tiny.eval(), (torch.randn(1, 3, 8, 8),)).run_decompositions().module()


def _child(name: str, runtime: str) -> dict[str, Any]:
    import gc

    import torch_trt

    torch.manual_seed(0)
    model, inputs = ZOO[name]()
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    _warm_up()
    torch.set_grad_enabled(False)
    gc.collect()
    baseline = _status_kb("VmRSS")
    pathlib.Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
    start = time.perf_counter()
    compiled = torch_trt.dynamo.compile(model, inputs, min_block_size=1, runtime=runtime)
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    held = _status_kb("VmRSS")
    rep = torch_trt.report(compiled)
    stages = {k: round(v, 3) for k, v in rep.stage_seconds.items()}
    return {
        "compile_seconds": round(seconds, 3),
        "stage_seconds": stages,
        "lower_partition_convert_seconds": round(
            sum(stages.get(k, 0.0) for k in ("lower", "partition", "convert")), 3
        ),
        "engines": rep.engines,
        "fallbacks": len(rep.fallbacks),
        "layers": sum(e.layers for e in rep.engine_info),
        "layers_per_engine": [e.layers for e in rep.engine_info],
        "engine_mb": round(sum(e.size_bytes for e in rep.engine_info) / 2**20, 2),
        "weight_mb": round(weights / 2**20, 2),
        "peak_rss_over_baseline_mb": round((peak - baseline) / 1024, 1),
        "memory_x_weights": round((peak - baseline) * 1024 / max(weights, 1), 2),
        "rss_after_over_baseline_mb": round((held - baseline) / 1024, 1),
    }


# --- parent ------------------------------------------------------------------------------------


def _run(name: str, runtime: str, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", name, "--runtime", runtime]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = round(time.perf_counter() - start, 1)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": tail[:300], "child_seconds": wall}
    result: dict[str, Any] = json.loads(lines[-1])
    result["child_seconds"] = wall
    return result


COLUMNS = [
    ("model", "model", 28),
    ("L+P+C s", "lower_partition_convert_seconds", 8),
    ("build s", None, 8),
    ("engines", "engines", 7),
    ("fallbk", "fallbacks", 6),
    ("layers", "layers", 6),
    ("eng MB", "engine_mb", 7),
    ("wts MB", "weight_mb", 7),
    ("mem x", "memory_x_weights", 6),
]


def table(results: dict[str, dict[str, Any]]) -> str:
    """The results as a fixed-width text table (one row per model)."""
    head = " ".join(
        f"{title:>{w}}" if i else f"{title:<{w}}" for i, (title, _, w) in enumerate(COLUMNS)
    )
    rows = [head, "-" * len(head)]
    for name, r in results.items():
        if "error" in r:
            rows.append(f"{name:<28} error: {r['error']}")
            continue
        cells = []
        for i, (_, key, w) in enumerate(COLUMNS):
            value = (
                name if i == 0 else r["stage_seconds"].get("build", 0.0) if key is None else r[key]
            )
            cells.append(f"{value:<{w}}" if i == 0 else f"{value:>{w}}")
        rows.append(" ".join(cells))
    return "\n".join(rows)


def main() -> int:
    """Run the zoo (or ``--models``), print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(ZOO), help="comma-separated zoo names")
    parser.add_argument("--runtime", default="tensorrt", choices=["tensorrt", "reference"])
    parser.add_argument("--out", default="zoo.json", help="JSON file to write")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per model")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.runtime)))
        return 0
    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in ZOO]
    if unknown:
        parser.error(f"unknown models {unknown}; the zoo has {sorted(ZOO)}")
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        results[name] = _run(name, args.runtime, args.timeout)
        print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)
    doc = {
        "benchmark": "zoo",
        "runtime": args.runtime,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "models": results,
    }
    pathlib.Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(table(results))
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
