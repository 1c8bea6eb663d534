"""Compile-time benchmark: seconds per stage, engine sizes and reference-runtime latency.

Writes JSON (stdout, or ``--out FILE``). Run: ``python benchmarks/compile_time.py --out r.json``.
Numbers are for this machine only; compare runs on one machine.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

import torch_trt


def _resnet18() -> tuple[torch.nn.Module, list[Any], dict[str, Any]]:
    import torchvision.models as tvm

    return tvm.resnet18().eval(), [torch.randn(1, 3, 224, 224)], {}


def _bert() -> tuple[torch.nn.Module, list[Any], dict[str, Any]]:
    import transformers

    cfg = transformers.BertConfig(
        num_hidden_layers=2, hidden_size=128, num_attention_heads=4, intermediate_size=512
    )
    ids = torch.randint(0, cfg.vocab_size, (1, 64))
    return transformers.BertModel(cfg).eval(), [ids], {"attention_mask": torch.ones_like(ids)}


MODELS: dict[str, Callable[[], tuple[torch.nn.Module, list[Any], dict[str, Any]]]] = {
    "resnet18": _resnet18,
    "bert_2layer": _bert,
}


def bench(name: str, repeats: int) -> dict[str, Any]:
    """Compile ``name`` ``repeats`` times; median stage seconds and reference-runtime latency."""
    torch.manual_seed(0)
    model, args, kwargs = MODELS[name]()
    stages: dict[str, list[float]] = {}
    total: list[float] = []
    compiled: Any = None
    for _ in range(repeats):
        start = time.perf_counter()
        compiled = torch_trt.dynamo.compile(model, args, kwarg_inputs=kwargs, runtime="reference")
        total.append(time.perf_counter() - start)
        for stage, secs in torch_trt.report(compiled).stage_seconds.items():
            stages.setdefault(stage, []).append(secs)
    rep = torch_trt.report(compiled)
    latency = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            compiled(*args, **kwargs)
            latency.append(time.perf_counter() - start)
    return {
        "model": name,
        "repeats": repeats,
        "compile_seconds_median": statistics.median(total),
        "stage_seconds_median": {k: statistics.median(v) for k, v in stages.items()},
        "engines": rep.engines,
        "engine_bytes": [e.size_bytes for e in rep.engine_info],
        "fallbacks": len(rep.fallbacks),
        "reference_latency_seconds_median": statistics.median(latency),
    }


def main() -> int:
    """Run the benchmarks named on the command line (default: all) and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help=f"any of {sorted(MODELS)} (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the JSON here instead of stdout")
    args = parser.parse_args()
    unknown = set(args.models) - set(MODELS)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from {sorted(MODELS)}")
    args.models = args.models or sorted(MODELS)
    result = {
        "machine": {"python": platform.python_version(), "cpu_count": torch.get_num_threads()},
        "torch": torch.__version__,
        "tensorrt": f"{torch_trt._trt.flavour()} {torch_trt._trt.version()}",
        "results": [bench(m, args.repeats) for m in args.models],
    }
    text = json.dumps(result, indent=2)
    if args.out:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
