"""Save/load benchmark: seconds to save and load, file sizes, with and without sources.

Writes JSON (stdout, or ``--out FILE``). Run: ``python benchmarks/serialize_time.py --out r.json``.
Numbers are for this machine only; compare runs on one machine. Loads run in this process.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch

import torch_trt


def _timed(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(repeats: int) -> list[dict[str, Any]]:
    """ResNet-18 (reference runtime): save/load seconds and bytes per format and option."""
    import torchvision.models as tvm

    torch.manual_seed(0)
    model = tvm.resnet18().eval()
    x = torch.randn(1, 3, 224, 224)
    compiled = torch_trt.dynamo.compile(model, [x], runtime="reference")
    engine_bytes = sum(e.size_bytes for e in torch_trt.report(compiled).engine_info)
    cases = [
        ("exported_program", False, {}),
        ("exported_program", True, {}),
        ("exported_program", True, {"runtime": "reference"}),
        ("exported_program", True, {"runtime": "tensorrt", "on_incompatible": "pytorch"}),
        ("torchscript", False, {}),
    ]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, source, load_options in cases:
            path = pathlib.Path(tmp) / f"m_{fmt}_{source}.bin"

            def save(fmt: str = fmt, source: bool = source, path: pathlib.Path = path) -> None:
                torch_trt.save(compiled, path, output_format=fmt, with_source=source)

            save_s = _timed(save, repeats)
            load_s = _timed(lambda p=path, o=load_options: torch_trt.load(p, **o), repeats)
            out.append(
                {
                    "format": fmt,
                    "with_source": source,
                    "load_options": load_options,
                    "save_seconds_median": save_s,
                    "load_seconds_median": load_s,
                    "file_bytes": path.stat().st_size,
                    "engine_bytes": engine_bytes,
                }
            )
    return out


def main() -> int:
    """Run the benchmark and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the JSON here instead of stdout")
    args = parser.parse_args()
    result = {
        "machine": {"python": platform.python_version(), "cpu_count": torch.get_num_threads()},
        "torch": torch.__version__,
        "tensorrt": f"{torch_trt._trt.flavour()} {torch_trt._trt.version()}",
        "model": "resnet18",
        "results": bench(args.repeats),
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
