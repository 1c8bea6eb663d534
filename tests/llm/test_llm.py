"""torch_trt.llm on tiny random-weight causal LMs (runtime="reference"): greedy tokens equal
eager ``model.generate`` with a static cache of the same length, logits and the cache itself
match, and each step is one in-place engine call that copies no cache."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import transformers as hf
from tiny_lms import VOCAB, tiny
from tiny_lms import one_thread as one_thread  # autouse
from torch.utils._python_dispatch import TorchDispatchMode

import torch_trt
from torch_trt.runtime.engine import copies
from torch_trt.testing import rel_error

MAX_SEQ, MAX_BATCH, NEW = 40, 3, 16
_COMPILED: dict[str, tuple[torch.nn.Module, torch_trt.llm.CausalLM]] = {}


def compiled(name: str) -> tuple[torch.nn.Module, torch_trt.llm.CausalLM]:
    """The eager model and its compiled LM, compiled once per test session."""
    if name not in _COMPILED:
        model = tiny(name)
        lm = torch_trt.llm.compile_causal_lm(
            model, max_seq_len=MAX_SEQ, max_batch=MAX_BATCH, runtime="reference"
        )
        _COMPILED[name] = (model, lm)
    return _COMPILED[name]


def prompt(length: int, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask; rows after the first are left-padded by 2 and length - 1
    tokens (the last row keeps one real token)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.int64)
    for row, pad in zip(range(1, batch), (min(2, length - 1), length - 1), strict=False):
        mask[row, :pad] = 0
    return ids.masked_fill(mask == 0, 0), mask


def eager(model: Any, ids: torch.Tensor, mask: torch.Tensor, eos: int | None = None) -> Any:
    """``model.generate`` greedy with a static cache of MAX_SEQ positions."""
    cache = hf.StaticCache(config=model.config, max_cache_len=MAX_SEQ)
    return model.generate(
        ids,
        attention_mask=mask,
        max_new_tokens=NEW,
        do_sample=False,
        cache=cache,
        output_logits=True,
        return_dict_in_generate=True,
        eos_token_id=eos,
        pad_token_id=0,
    ), cache


ARCHS = ["llama", "qwen2", "gpt2", "mistral"]


@pytest.mark.parametrize("name", ARCHS)
def test_tokens_logits_and_cache_equal_eager(name: str) -> None:
    """Prompts of 1, 5 and 17 tokens, alone and in a left-padded batch of 3: the same tokens as
    eager greedy generate, logits within fp32 tolerance, and the same cache contents."""
    model, lm = compiled(name)
    for length in (1, 5, 17):
        for batch in (1, 3):
            ids, mask = prompt(length, batch, seed=length * 10 + batch)
            want, cache = eager(model, ids, mask)
            got = lm.generate(ids, NEW, attention_mask=mask, output_logits=True)
            where = f"{name} prompt {length} batch {batch}"
            assert torch.equal(got.sequences, want.sequences), where
            assert rel_error(got.logits, torch.stack(want.logits, 1)) < 1e-4, where
            # Padding slots hold keys of queries that see nothing: unused, so not compared;
            # Hugging Face keeps sliding-window layers (mistral) as a ring buffer instead.
            real = torch.cat([mask, torch.ones(batch, MAX_SEQ - length, dtype=torch.int64)], 1)
            keep = real.bool()[:, None, :, None]
            for i, layer in enumerate(cache.layers):
                for j, theirs in enumerate((layer.keys, layer.values)):
                    mine = lm.caches[2 * i + j][:batch]
                    if theirs.shape[2] != MAX_SEQ:  # a sliding-window ring buffer: other layout
                        continue
                    assert rel_error(mine * keep, theirs * keep) < 1e-4, where


def test_gemma_left_padded_batch() -> None:
    """Gemma (scaled embeddings, GeGLU, MQA) decodes a left-padded batch as eager does."""
    model, lm = compiled("gemma")
    ids, mask = prompt(5, 3, seed=7)
    want, _ = eager(model, ids, mask)
    got = lm.generate(ids, NEW, attention_mask=mask, output_logits=True)
    assert torch.equal(got.sequences, want.sequences)
    assert rel_error(got.logits, torch.stack(want.logits, 1)) < 1e-4


def test_eos_stops_rows_like_eager() -> None:
    """A row that emits eos is padded afterwards and generation ends when all rows have: the
    same sequences as eager with that eos."""
    model, lm = compiled("llama")
    ids, mask = prompt(5, 3, seed=3)
    free = lm.generate(ids, NEW, attention_mask=mask)
    eos = int(free[0, 5 + 2])  # the third token row 0 generates
    want, _ = eager(model, ids, mask, eos=eos)
    got = lm.generate(ids, NEW, eos_token_id=eos, attention_mask=mask, pad_token_id=0)
    assert torch.equal(got, want.sequences)


class _Calls(TorchDispatchMode):
    """Counts the ops a call dispatches (custom ops appear as one op each)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", ARCHS)
def test_one_in_place_engine_call_per_step(name: str) -> None:
    """The report has one engine and no PyTorch node; the graph's only call is the in-place
    engine, mutating exactly the cache inputs, with no copy_ left; a decode step runs that one
    op and the runtime copies no byte."""
    _, lm = compiled(name)
    rep = torch_trt.report(lm)
    assert rep.engines == 1 and rep.fallbacks == [] and rep.in_place
    graph = lm.step.graph
    calls = [n for n in graph.nodes if n.op == "call_function" and "torch_trt" in str(n.target)]
    (call,) = [n for n in calls if n.target is torch.ops.torch_trt.execute_engine_inplace.default]
    caches = [n for n in graph.nodes if n.op == "placeholder" and n.name.startswith("caches")]
    assert call.args[1] == caches and len(caches) == 2 * lm.config.num_hidden_layers
    assert not [n for n in graph.nodes if n.target is torch.ops.aten.copy_.default]
    ids, mask = prompt(5, 2, seed=1)
    lm.generate(ids, 2, attention_mask=mask)  # fills the cache
    views = lm.cache_views(2, ids.device)
    copies.reset()
    token = ids[:, -1:].clone()  # a decode step's inputs, as generate makes them
    position, slots = torch.full((2, 1), 5), torch.ones(2, MAX_SEQ, dtype=torch.bool)
    with _Calls() as seen:
        lm.step(token, position, torch.tensor(5), slots, views)
    engine_ops = [op for op in seen.ops if "torch_trt" in op]
    assert engine_ops == ["torch_trt.execute_engine_inplace.default"]
    assert "aten.copy_.default" not in seen.ops and copies.bytes == 0


def test_report_shows_cache_and_engine() -> None:
    """The report gives the cache size in bytes (keys and values of every layer at max_batch x
    max_seq_len) and the engine, in text and JSON."""
    model, lm = compiled("llama")
    cfg = model.config
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    want = 2 * cfg.num_hidden_layers * MAX_BATCH * cfg.num_key_value_heads * MAX_SEQ * head_dim * 4
    rep = torch_trt.report(lm)
    assert rep.cache_bytes == want
    assert f"KV cache {want} bytes" in str(rep) and "trt_0" in str(rep)
    assert (
        rep.to_dict()["llm"]["cache_bytes"] == want
        and rep.to_dict()["engines"][0]["name"] == "trt_0"
    )


def test_limits_raise_input_shape_error() -> None:
    """A batch over max_batch, or a prompt (plus new tokens) over max_seq_len, raises
    InputShapeError naming the limit before any engine runs."""
    _, lm = compiled("llama")
    with pytest.raises(torch_trt.InputShapeError, match=r"batch of 4 sequences .* max_batch=3"):
        lm.generate(torch.zeros(4, 3, dtype=torch.int64), 1)
    with pytest.raises(torch_trt.InputShapeError, match=r"41 tokens .* max_seq_len=40"):
        lm.generate(torch.zeros(1, 41, dtype=torch.int64), 0)
    with pytest.raises(
        torch_trt.InputShapeError, match=r"needs 41 cache positions, .* max_seq_len=40"
    ):
        lm.generate(torch.zeros(1, 30, dtype=torch.int64), 11)
