"""The tiny random-weight causal LMs the torch_trt.llm tests compile (imported by the test
modules of this folder; pytest puts it on sys.path)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
import transformers as hf

VOCAB = 128
SMALL = {"vocab_size": VOCAB, "num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128}
CONFIGS: dict[str, tuple[Any, Any, dict[str, Any]]] = {
    "llama": (
        hf.LlamaConfig,
        hf.LlamaForCausalLM,
        {**SMALL, "num_attention_heads": 4, "num_key_value_heads": 2},
    ),
    "qwen2": (
        hf.Qwen2Config,
        hf.Qwen2ForCausalLM,
        {**SMALL, "num_attention_heads": 4, "num_key_value_heads": 2},
    ),
    "gpt2": (
        hf.GPT2Config,
        hf.GPT2LMHeadModel,
        {"vocab_size": VOCAB, "n_layer": 2, "n_embd": 64, "n_head": 4, "n_positions": 64},
    ),
    "mistral": (
        hf.MistralConfig,
        hf.MistralForCausalLM,
        {**SMALL, "num_attention_heads": 4, "num_key_value_heads": 1, "sliding_window": 12},
    ),
    "gemma": (
        hf.GemmaConfig,
        hf.GemmaForCausalLM,
        {**SMALL, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16},
    ),
}


def tiny(name: str) -> torch.nn.Module:
    """A 2-layer fp32 random-weight model of architecture ``name`` (special tokens inside the
    vocabulary: bos 1, eos 2, pad 0)."""
    config_cls, model_cls, kw = CONFIGS[name]
    torch.manual_seed(0)
    return model_cls(config_cls(**kw, bos_token_id=1, eos_token_id=2, pad_token_id=0)).eval()


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """The reference runtime runs thousands of tiny ops per step; one thread keeps them fast on
    a loaded machine (results do not depend on it).
    Autouse: importing it into a test module applies it there."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
