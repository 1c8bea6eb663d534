"""compile_causal_lm refuses what it cannot honour, naming the argument, module or feature
(checked before any export, so these are fast)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import transformers as hf

import torch_trt
from torch_trt.errors import UnsupportedModelError

SMALL = {
    "vocab_size": 64,
    "num_hidden_layers": 2,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
}


def llama(**kw: Any) -> torch.nn.Module:
    return hf.LlamaForCausalLM(hf.LlamaConfig(**{**SMALL, **kw})).eval()


def test_precision_contradicting_the_model_is_refused() -> None:
    """A reduced-precision model asked for another precision, unknown precisions and mixed
    weight dtypes are refused naming the dtypes and what to do."""
    with pytest.raises(ValueError, match=r"precision='bf16' contradicts LlamaForCausalLM's "):
        torch_trt.llm.compile_causal_lm(llama().half(), max_seq_len=8, precision="bf16")
    with pytest.raises(ValueError, match=r"torch.float16 weights.*model.to\(torch.float32\)"):
        torch_trt.llm.compile_causal_lm(llama().half(), max_seq_len=8, precision=torch.float32)
    with pytest.raises(ValueError, match=r"precision must be None .* got 'int8'"):
        torch_trt.llm.compile_causal_lm(llama(), max_seq_len=8, precision="int8")
    mixed = llama()
    mixed.lm_head.half()
    with pytest.raises(ValueError, match=r"weights of \['torch.float16', 'torch.float32'\]"):
        torch_trt.llm.compile_causal_lm(mixed, max_seq_len=8)


def test_arguments_are_checked() -> None:
    """Training mode, bad limits and limits past the position table are refused with what to
    do."""
    with pytest.raises(ValueError, match=r"training mode .* model.eval\(\)"):
        torch_trt.llm.compile_causal_lm(llama().train(), max_seq_len=8)
    with pytest.raises(ValueError, match="max_batch must be a positive int, got 0"):
        torch_trt.llm.compile_causal_lm(llama(), max_seq_len=8, max_batch=0)
    with pytest.raises(ValueError, match="max_seq_len=64 exceeds .* max_position_embeddings=32"):
        torch_trt.llm.compile_causal_lm(llama(max_position_embeddings=32), max_seq_len=64)
    with pytest.raises(TypeError, match="takes a transformers causal LM"):
        torch_trt.llm.compile_causal_lm(torch.nn.Linear(2, 2), max_seq_len=8)


def test_attention_feature_names_the_module() -> None:
    """Gemma 2's attention logit soft-capping has no TensorRT attention equivalent here: the
    error names the attention module and the feature."""
    config = hf.Gemma2Config(**SMALL, head_dim=16, attn_logit_softcapping=50.0)
    model = hf.Gemma2ForCausalLM(config).eval()
    with pytest.raises(UnsupportedModelError, match=r"Gemma2Attention: attention with softcap"):
        torch_trt.llm.compile_causal_lm(model, max_seq_len=8)


def test_mixed_sliding_window_layers_are_refused() -> None:
    """Sliding-window and full-attention layers mixed (and the window shorter than the cache)
    are refused naming the layer types and how to avoid them."""
    config = hf.Qwen2Config(**SMALL, use_sliding_window=True, sliding_window=4, max_window_layers=1)
    model = hf.Qwen2ForCausalLM(config).eval()
    with pytest.raises(UnsupportedModelError, match=r"layer_types .* max_seq_len of at most 4"):
        torch_trt.llm.compile_causal_lm(model, max_seq_len=16)


class NoCache(torch.nn.Module):
    """A model whose forward never writes keys and values through the cache."""

    def __init__(self) -> None:
        super().__init__()
        self.config = hf.LlamaConfig(**SMALL)
        self.emb = torch.nn.Embedding(64, 8)

    def forward(self, input_ids: torch.Tensor, **kwargs: Any) -> Any:
        return hf.modeling_outputs.CausalLMOutput(logits=self.emb(input_ids))


def test_model_without_cache_updates_names_the_model() -> None:
    """A model that does not update the cache in its layers is refused by name."""
    with pytest.raises(UnsupportedModelError, match=r"NoCache did not write keys and values"):
        torch_trt.llm.compile_causal_lm(NoCache().eval(), max_seq_len=8)
