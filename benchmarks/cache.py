"""Engine-cache benchmark: cold vs warm compile of ResNet-50 and a 4-layer BERT, fresh processes.

For each model a fresh process compiles into an empty cache (cold), then another fresh process
compiles again (warm). Reported per model: build-stage seconds cold and warm (the build stage
holds the key, the lookup and, cold, the store), the share of the cold build time the warm
compile saves, and the key's cost as a share of the cold build. Writes JSON (stdout, or
``--out FILE``). Run: ``python benchmarks/cache.py --out cache.json``.
Numbers are for this machine only; TensorRT-RTX builds on the CPU here, far faster than
TensorRT builds on a GPU, so the key's share is an upper bound.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch

import torch_trt


def _resnet50() -> tuple[torch.nn.Module, list[Any], dict[str, Any]]:
    import torchvision.models as tvm

    return tvm.resnet50().eval(), [torch.randn(1, 3, 224, 224)], {}


def _bert4() -> tuple[torch.nn.Module, list[Any], dict[str, Any]]:
    import transformers

    cfg = transformers.BertConfig(num_hidden_layers=4)  # BERT-base sizes, 4 layers
    ids = torch.randint(0, cfg.vocab_size, (1, 128))
    return transformers.BertModel(cfg).eval(), [ids], {"attention_mask": torch.ones_like(ids)}


MODELS: dict[str, Callable[[], tuple[torch.nn.Module, list[Any], dict[str, Any]]]] = {
    "resnet50": _resnet50,
    "bert_4layer": _bert4,
}


def child(name: str, cache_dir: str) -> dict[str, Any]:
    """One compile of ``name`` with the cache at ``cache_dir`` (run in a fresh process)."""
    torch.manual_seed(0)
    model, args, kwargs = MODELS[name]()
    start = time.perf_counter()
    compiled = torch_trt.dynamo.compile(model, args, kwarg_inputs=kwargs, cache_dir=cache_dir)
    total = time.perf_counter() - start
    rep = torch_trt.report(compiled)
    return {
        "compile_seconds": total,
        "stage_seconds": rep.stage_seconds,
        "engines": [
            {k: getattr(e, k) for k in ("name", "size_bytes", "build_seconds", "cache")}
            | {"key_seconds": e.key_seconds, "saved_seconds": e.saved_seconds}
            for e in rep.engine_info
        ],
    }


def _spawn(name: str, cache_dir: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, cache_dir],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def bench(name: str) -> dict[str, Any]:
    """Cold then warm compile of ``name`` in fresh processes; the derived percentages."""
    with tempfile.TemporaryDirectory(prefix="torch-trt-cache-bench-") as cache_dir:
        cold = _spawn(name, cache_dir)
        warm = _spawn(name, cache_dir)
    cold_build = sum(e["build_seconds"] for e in cold["engines"])
    warm_build = sum(e["build_seconds"] for e in warm["engines"])
    key = sum(e["key_seconds"] for e in cold["engines"])
    return {
        "model": name,
        "engines": len(cold["engines"]),
        "engine_bytes": [e["size_bytes"] for e in cold["engines"]],
        "warm_cache": [e["cache"] for e in warm["engines"]],
        "cold_build_seconds": cold_build,
        "warm_build_seconds": warm_build,
        "build_time_saved_pct": 100.0 * (1.0 - warm_build / cold_build),
        "key_seconds_cold": key,
        "key_seconds_warm": sum(e["key_seconds"] for e in warm["engines"]),
        "key_cost_pct_of_cold_build": 100.0 * key / cold_build,
        "cold_compile_seconds": cold["compile_seconds"],
        "warm_compile_seconds": warm["compile_seconds"],
        "cold": cold,
        "warm": warm,
    }


def main() -> int:
    """Run the benchmarks named on the command line (default: all) and write JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("models", nargs="*", help=f"some of {list(MODELS)} (default: all)")
    parser.add_argument("--out", type=pathlib.Path)
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "CACHE_DIR"), help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.child:
        print(json.dumps(child(*ns.child)))
        return 0
    unknown = [m for m in ns.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    from torch_trt import _trt

    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "torch": torch.__version__,
        "trt": [_trt.flavour(), _trt.version()],
        "loadavg_start": os.getloadavg(),
        "results": [bench(m) for m in ns.models or MODELS],
        "loadavg_end": os.getloadavg(),
    }
    text = json.dumps(result, indent=2)
    if ns.out:
        ns.out.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
