"""Decode-step benchmark of torch_trt.llm: seconds and copied bytes per generated token.

For prompts of 16, 64 and 256 tokens, one decoding step of a small random-weight Llama is timed
with the reference runtime in three ways:

* ``cache_in_place``: ``compile_causal_lm`` as shipped (the engine updates the KV cache in place);
* ``cache_copied``: the same engine called functionally (the in-place pass turned off): the
  runtime copies the cache in and the graph writes it back, each step;
* ``no_cache``: the plain model compiled with a dynamic length, recomputing the whole prefix
  every step.

With a static cache a step attends over all ``max_seq_len`` slots, so its cost should not grow
with the prefix; without a cache it does. Bytes copied per step count the runtime's own copies
(``torch_trt.runtime.engine.copies``) plus ``copy_``/``clone`` calls of the compiled graph.

Writes JSON (stdout, or ``--out FILE``): ``python benchmarks/llm.py --out llm.json``. Numbers
are for this machine only; a loaded machine makes them noisy.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import platform
import statistics
import sys
import time
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import torch_trt
from torch_trt.runtime.engine import copies

PROMPTS = (16, 64, 256)


class _CopiedBytes(TorchDispatchMode):
    """Bytes written by top-level ``copy_`` and ``clone`` calls (the graph's write-backs)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if func in (torch.ops.aten.copy_.default, torch.ops.aten.clone.default):
            self.bytes += out.numel() * out.element_size()
        return out


def _model(layers: int, hidden: int) -> Any:
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=256,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
    )
    return transformers.LlamaForCausalLM(config).eval()


def _compile_lm(model: Any, max_seq_len: int, in_place: bool) -> torch_trt.llm.CausalLM:
    pipeline = importlib.import_module("torch_trt.dynamo.compile")  # the module, not compile()
    keep = pipeline.update_state_in_place
    if not in_place:
        pipeline.update_state_in_place = lambda gm: gm  # type: ignore[assignment]
    try:
        return torch_trt.llm.compile_causal_lm(model, max_seq_len=max_seq_len, runtime="reference")
    finally:
        pipeline.update_state_in_place = keep


class _LastLogits(torch.nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(input_ids=ids, use_cache=False).logits[:, -1]
        return logits


def _timed(call: Any, *args: Any) -> tuple[float, int]:
    """Seconds and bytes copied by ``call(*args)``."""
    copies.reset()
    with _CopiedBytes() as mode:
        start = time.perf_counter()
        call(*args)
        seconds = time.perf_counter() - start
    return seconds, copies.bytes + mode.bytes


def _cached_steps(lm: torch_trt.llm.CausalLM, prompt: int, steps: int) -> dict[str, Any]:
    ids = torch.randint(0, 256, (1, prompt))
    positions, pad, caches = lm._prompt(ids, None)
    with torch.no_grad():
        lm.step(ids, positions, torch.tensor(0), pad, caches)  # the prompt fills the cache
        seconds, copied = [], []
        for t in range(steps):
            token = ids[:, -1:].clone()
            pos = torch.full((1, 1), prompt + t)
            s, b = _timed(lm.step, token, pos, torch.tensor(prompt + t), pad, caches)
            seconds.append(s)
            copied.append(b)
    return {"seconds_per_step": statistics.median(seconds), "bytes_copied_per_step": max(copied)}


def _uncached_steps(compiled: torch.nn.Module, prompt: int, steps: int) -> dict[str, Any]:
    ids = torch.randint(0, 256, (1, prompt + steps))
    seconds, copied = [], []
    with torch.no_grad():
        for t in range(steps):
            prefix = ids[:, : prompt + t + 1].contiguous()
            s, b = _timed(compiled, prefix)
            seconds.append(s)
            copied.append(b)
    return {"seconds_per_step": statistics.median(seconds), "bytes_copied_per_step": max(copied)}


def bench(layers: int, hidden: int, steps: int) -> dict[str, Any]:
    """Every variant at every prompt length."""
    from torch_trt import Input

    model = _model(layers, hidden)
    max_seq_len = max(PROMPTS) + steps + 1
    results: dict[str, Any] = {"max_seq_len": max_seq_len}
    for name, in_place in (("cache_in_place", True), ("cache_copied", False)):
        start = time.perf_counter()
        lm = _compile_lm(model, max_seq_len, in_place)
        results[name] = {
            "compile_seconds": time.perf_counter() - start,
            "cache_bytes": torch_trt.report(lm).cache_bytes,
            **{f"prompt_{p}": _cached_steps(lm, p, steps) for p in PROMPTS},
        }
    spec = Input(min_shape=(1, 1), opt_shape=(1, 64), max_shape=(1, max_seq_len), dtype=torch.int64)
    start = time.perf_counter()
    plain = torch_trt.dynamo.compile(_LastLogits(model).eval(), [spec], runtime="reference")
    results["no_cache"] = {
        "compile_seconds": time.perf_counter() - start,
        **{f"prompt_{p}": _uncached_steps(plain, p, steps) for p in PROMPTS},
    }
    return results


def main() -> int:
    """Run the benchmark and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8, help="decode steps timed per prompt")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--out", help="write the JSON here instead of stdout")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {
        "machine": {"python": platform.python_version(), "threads": torch.get_num_threads()},
        "torch": torch.__version__,
        "tensorrt": f"{torch_trt._trt.flavour()} {torch_trt._trt.version()}",
        "model": {"arch": "llama", "layers": args.layers, "hidden": args.hidden},
        "results": bench(args.layers, args.hidden, args.steps),
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
