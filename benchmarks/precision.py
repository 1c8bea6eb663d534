"""Precision benchmark: cast layers and total layers per zoo model, fp16 (or bf16) vs fp32.

For each model the script compiles at ``precision="fp32"`` and at each reduced precision asked
for, and records per engine the layer count, the cast layers and the layers per precision (the
report's layer census), plus nodes left in PyTorch. Layer counts do not depend on the machine;
the compile seconds, also recorded, do (take them from an idle machine).

Writes JSON (stdout, or ``--out FILE``). Run:
``python benchmarks/precision.py --out precision.json`` (all models), or name models:
``python benchmarks/precision.py resnet18 bert --precisions fp16 bf16``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

import torch_trt

Case = tuple[torch.nn.Module, list[Any], dict[str, Any]]
_TORCHVISION = (
    "resnet18",
    "resnet50",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "vit_b_16",
    "convnext_tiny",
    "swin_t",
    "densenet121",
    "deeplabv3_mobilenet_v3_large",
)


def _torchvision(name: str) -> Callable[[], Case]:
    def make() -> Case:
        import torchvision.models as tvm
        import torchvision.models.segmentation as seg

        ctor = getattr(seg, name, None) or getattr(tvm, name)
        kwargs = {"weights_backbone": None} if name.startswith("deeplab") else {}
        return ctor(**kwargs).eval(), [torch.randn(1, 3, 224, 224)], {}

    return make


def _transformer(kind: str) -> Callable[[], Case]:
    def make() -> Case:
        import transformers

        config = getattr(transformers, f"{kind}Config")()  # default configs, random weights
        model = getattr(transformers, f"{kind}Model" if kind != "T5" else "T5EncoderModel")
        ids = torch.randint(0, config.vocab_size, (1, 64))
        # GPT-2 returns a KV cache by default; this benchmark compiles the plain forward.
        kwargs = {"use_cache": False} if kind == "GPT2" else {}
        return model(config).eval(), [ids], kwargs

    return make


MODELS: dict[str, Callable[[], Case]] = {
    **{name: _torchvision(name) for name in _TORCHVISION},
    "bert": _transformer("Bert"),
    "gpt2": _transformer("GPT2"),
    "t5_encoder": _transformer("T5"),
}


def census(
    model: torch.nn.Module, args: list[Any], kwargs: dict[str, Any], p: str
) -> dict[str, Any]:
    """Compile at precision ``p``; the layer census of every engine."""
    start = time.perf_counter()
    compiled = torch_trt.dynamo.compile(model, args, kwarg_inputs=kwargs, precision=p)
    seconds = time.perf_counter() - start
    rep = torch_trt.report(compiled)
    return {
        "precision": p,
        "engines": rep.engines,
        "layers": sum(e.layers for e in rep.engine_info),
        "casts": sum(e.casts for e in rep.engine_info),
        "by_precision": _add([e.by_precision for e in rep.engine_info]),
        "nodes_in_pytorch": len(rep.fallbacks),
        "compile_seconds": round(seconds, 2),
    }


def _add(counts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items()))


def bench(name: str, precisions: list[str]) -> dict[str, Any]:
    """fp32 and each reduced precision for model ``name``; an error is recorded, not raised."""
    torch.manual_seed(0)
    model, args, kwargs = MODELS[name]()
    runs = []
    for p in ["fp32", *precisions]:
        try:
            runs.append(census(model, args, kwargs, p))
        except Exception as e:  # record and go on: one model must not hide the others
            runs.append({"precision": p, "error": f"{type(e).__name__}: {str(e)[:300]}"})
    return {"model": name, "runs": runs}


def main() -> int:
    """Run the models named on the command line (default: all) and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help=f"any of {sorted(MODELS)} (default: all)")
    parser.add_argument("--precisions", nargs="+", default=["fp16"], choices=["fp16", "bf16"])
    parser.add_argument("--out", help="write the JSON here instead of stdout")
    args = parser.parse_args()
    unknown = set(args.models) - set(MODELS)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from {sorted(MODELS)}")
    results = []
    for name in args.models or list(MODELS):
        results.append(bench(name, args.precisions))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # progress
    result = {
        "machine": {"python": platform.python_version(), "threads": torch.get_num_threads()},
        "torch": torch.__version__,
        "tensorrt": f"{torch_trt._trt.flavour()} {torch_trt._trt.version()}",
        "results": results,
    }
    text = json.dumps(result, indent=2)
    if args.out:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.out).write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
