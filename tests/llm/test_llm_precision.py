"""torch_trt.llm in fp16/bf16 (runtime="reference"): an fp32 model with ``precision=`` and a
model already converted to the low type both decode the tokens eager decodes in that type, with
logits no further from an fp64 eager reference than low-precision eager's (within 1.5x), and a
KV cache kept in the low type (half the bytes of fp32)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from tiny_lms import one_thread as one_thread  # autouse
from tiny_lms import tiny

import torch_trt
from torch_trt.testing import rel_error

MAX_SEQ, NEW = 24, 8
PROMPT = torch.tensor([[5, 17, 33, 8, 99]])
LOW = {"fp16": torch.float16, "bf16": torch.bfloat16}


def eager(model: Any, ids: torch.Tensor) -> Any:
    """Hugging Face greedy generate of NEW tokens, with the logits of each."""
    return model.generate(
        ids,
        max_new_tokens=NEW,
        do_sample=False,
        pad_token_id=0,
        eos_token_id=None,
        output_logits=True,
        return_dict_in_generate=True,
    )


def step_logits(model: Any, sequences: torch.Tensor) -> torch.Tensor:
    """The logits each new token of ``sequences`` was chosen from, by one eager forward."""
    with torch.no_grad():
        logits: torch.Tensor = model(sequences).logits
    return logits[:, PROMPT.shape[1] - 1 : -1]


CASES = [  # (architecture, precision argument, dtype the model is given in)
    ("llama", "fp16", torch.float32),
    ("llama", torch.bfloat16, torch.float32),
    ("llama", None, torch.float16),
    ("gpt2", "fp16", torch.float32),
    ("gpt2", None, torch.bfloat16),
]


@pytest.mark.parametrize(("name", "precision", "given"), CASES)
def test_low_precision_tokens_logits_and_cache(
    name: str, precision: str | torch.dtype | None, given: torch.dtype
) -> None:
    """Tokens equal eager generate in the low type; logits within 1.5x of low-precision eager's
    error against fp64 eager, in the model's dtype; the cache is in the low type, half the
    bytes of fp32, still written in place by one engine."""
    fp32 = tiny(name)
    model = copy.deepcopy(fp32).to(given)
    lm = torch_trt.llm.compile_causal_lm(
        model, max_seq_len=MAX_SEQ, precision=precision, runtime="reference"
    )
    low = given if precision is None else LOW.get(str(precision), precision)
    assert isinstance(low, torch.dtype) and low in LOW.values()
    low_eager = copy.deepcopy(fp32).to(low)
    got = lm.generate(PROMPT, NEW, output_logits=True)
    want = eager(low_eager, PROMPT)
    assert torch.equal(got.sequences, want.sequences)
    assert got.logits.dtype == given  # as the eager model returns them
    reference = step_logits(copy.deepcopy(fp32).double(), got.sequences)
    ours = rel_error(got.logits, reference)
    theirs = rel_error(step_logits(low_eager, got.sequences), reference)
    assert ours <= 1.5 * theirs, (ours, theirs)
    assert {c.dtype for c in lm.caches} == {low}
    rep = torch_trt.report(lm)
    fp32_bytes = sum(c.numel() * 4 for c in lm.caches)
    assert rep.cache_bytes == sum(c.nbytes for c in lm.caches) == fp32_bytes // 2
    assert rep.cache_dtype == str(low).removeprefix("torch.")
    assert rep.engines == 1 and rep.fallbacks == [] and rep.in_place
