"""Front-door benchmark: seconds to compile ResNet-18 and a 2-layer BERT through each ``ir``.

Writes JSON (stdout, or ``--out FILE``). Run: ``python benchmarks/frontends.py --out r.json``.
Numbers are for this machine only (engines built on the CPU, ``runtime="reference"``); compare
runs on one machine. An ``ir`` that cannot run here is recorded with its error.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

import torch_trt

Model = tuple[torch.nn.Module, list[Any], dict[str, Any]]


def _resnet18() -> Model:
    import torchvision.models as tvm

    return tvm.resnet18().eval(), [torch.randn(1, 3, 224, 224)], {}


def _bert() -> Model:
    import transformers

    cfg = transformers.BertConfig(
        num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128
    )
    ids = torch.randint(0, cfg.vocab_size, (2, 16))
    return transformers.BertModel(cfg).eval(), [ids], {"attention_mask": torch.ones_like(ids)}


MODELS: dict[str, Callable[[], Model]] = {"resnet18": _resnet18, "bert2": _bert}
# (ir, ts_method); HF BERT is neither scriptable nor symbolically traceable.
PATHS = {
    "resnet18": [("dynamo", None), ("fx", None), ("ts", "script"), ("ts", "trace")],
    "bert2": [("dynamo", None), ("ts", "trace")],
}


def _one(model: Model, ir: str, ts_method: str | None) -> dict[str, Any]:
    module, args, kwargs = model
    extra: dict[str, Any] = {} if ts_method is None else {"ts_method": ts_method}
    if ts_method == "script":
        module, extra = torch.jit.script(module), {}
    start = time.perf_counter()
    try:
        torch_trt.compile(
            module, ir=ir, inputs=args, kwarg_inputs=kwargs, runtime="reference", **extra
        )
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"[:300]}
    return {"compile_seconds": round(time.perf_counter() - start, 3)}


def _torch_compile(model: Model) -> dict[str, Any]:
    module, args, kwargs = model
    torch._dynamo.reset()
    start = time.perf_counter()
    try:
        torch_trt.compile(
            module, ir="torch_compile", inputs=args, kwarg_inputs=kwargs, runtime="reference"
        )
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"[:300]}
    return {"first_call_seconds": round(time.perf_counter() - start, 3)}


def main() -> int:
    """Compile each model through each ir once and print (or write) the timings as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, help="write the JSON here")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    opts = parser.parse_args()
    warnings.simplefilter("ignore")  # torch.jit deprecation notes on every call
    torch.manual_seed(0)
    result: dict[str, Any] = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_trt": torch_trt.__version__,
        "models": {},
    }
    for name in opts.models:
        model = MODELS[name]()
        runs = {
            f"{ir}" + (f"-{method}" if method else ""): _one(model, ir, method)
            for ir, method in PATHS[name]
        }
        runs["torch_compile"] = _torch_compile(model)
        result["models"][name] = runs
    text = json.dumps(result, indent=2)
    if opts.out:
        opts.out.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
