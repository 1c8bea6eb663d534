"""Causal language models that decode with a static KV cache inside the engine.

``compile_causal_lm`` turns a ``transformers`` causal LM into a :class:`CausalLM`: one engine
runs the prompt and each new token, writing keys and values into a static cache in place;
``generate`` decodes greedily (left-padded batches supported). See docs/llm.md.

Example:
    >>> lm = torch_trt.llm.compile_causal_lm(model, max_seq_len=64, runtime="reference")
    >>> tokens = lm.generate(input_ids, max_new_tokens=16)
    >>> print(torch_trt.report(lm))          # the engine, its nodes and the cache size
    >>> torch_trt.save(lm, "lm.pt2"); lm = torch_trt.llm.load("lm.pt2")
"""

from __future__ import annotations

from torch_trt.llm import ops as _ops  # noqa: F401  (defines torch_trt::kv_cache_update)
from torch_trt.llm.compile import compile_causal_lm
from torch_trt.llm.generate import CausalLM, Generation
from torch_trt.llm.report import CausalLMReport
from torch_trt.llm.saved import load

__all__ = ["CausalLM", "CausalLMReport", "Generation", "compile_causal_lm", "load"]
