"""Saving a compiled causal LM (runtime="reference"): a fresh process that has only the file
loads it with ``torch_trt.llm.load`` and ``generate`` gives the tokens and logits the LM gave
before saving, with the same cache layout and an engine that still writes the cache in place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_lms import one_thread as one_thread  # autouse
from tiny_lms import tiny

import torch_trt
from torch_trt.errors import SerializationError
from torch_trt.llm.saved import from_manifest
from torch_trt.testing import rel_error

SRC = Path(__file__).resolve().parents[2] / "src"
MAX_SEQ, MAX_BATCH, NEW = 20, 2, 8
IDS = [[5, 17, 33, 8, 99], [0, 0, 40, 41, 42]]  # the second row is left-padded
MASK = [[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]

# Run in a fresh process: loads the file alone (no model, no weights) and generates.
_LOADER = """
import json, sys, torch, torch_trt
torch.set_num_threads(1)
lm = torch_trt.llm.load(sys.argv[1])
ids, mask = torch.tensor(json.loads(sys.argv[2])), torch.tensor(json.loads(sys.argv[3]))
out = lm.generate(ids, int(sys.argv[4]), attention_mask=mask, output_logits=True)
rep = torch_trt.report(lm)
print(json.dumps({
    "type": type(lm).__name__, "config": type(lm.config).__name__,
    "sequences": out.sequences.tolist(), "logits": out.logits.double().tolist(),
    "logits_dtype": str(out.logits.dtype), "cache_bytes": rep.cache_bytes,
    "cache_dtype": rep.cache_dtype, "in_place": rep.in_place, "engines": rep.engines,
    "limits": [lm.max_batch, lm.max_seq_len],
}))
"""


def load_elsewhere(path: Path) -> dict[str, Any]:
    """Load ``path`` in a fresh interpreter (PYTHONPATH = our sources) and generate."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    args = [str(path), json.dumps(IDS), json.dumps(MASK), str(NEW)]
    proc = subprocess.run(
        [sys.executable, "-c", _LOADER, *args], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(("name", "precision"), [("llama", None), ("gpt2", "fp16")])
def test_saved_lm_generates_the_same_in_a_fresh_process(
    name: str, precision: str | None, tmp_path: Path
) -> None:
    """torch_trt.save(lm) then torch_trt.llm.load in another process: a CausalLM with the same
    config class, limits and report whose generate gives the same tokens and logits."""
    model = tiny(name)
    lm = torch_trt.llm.compile_causal_lm(
        model, max_seq_len=MAX_SEQ, max_batch=MAX_BATCH, precision=precision, runtime="reference"
    )
    ids, mask = torch.tensor(IDS), torch.tensor(MASK)
    before = lm.generate(ids, NEW, attention_mask=mask, output_logits=True)
    path = tmp_path / "lm.pt2"
    torch_trt.save(lm, path)
    got = load_elsewhere(path)
    assert got["type"] == "CausalLM" and got["config"] == type(model.config).__name__
    assert got["sequences"] == before.sequences.tolist()
    assert got["logits_dtype"] == str(before.logits.dtype)
    assert rel_error(torch.tensor(got["logits"]), before.logits) < 1e-6
    rep = torch_trt.report(lm)
    assert got["limits"] == [MAX_BATCH, MAX_SEQ]
    assert (got["cache_bytes"], got["cache_dtype"]) == (rep.cache_bytes, rep.cache_dtype)
    assert got["in_place"] and got["engines"] == 1


def test_saving_and_loading_an_lm_refuses_what_it_cannot_keep(tmp_path: Path) -> None:
    """TorchScript and custom inputs are refused for an LM; torch_trt.llm.load of a file that
    holds an ordinary compiled module, and a corrupt LM entry, are refused by name."""
    lm = torch_trt.llm.compile_causal_lm(tiny("llama"), max_seq_len=8, runtime="reference")
    with pytest.raises(ValueError, match="causal LM saves with output_format='exported_program'"):
        torch_trt.save(lm, tmp_path / "lm.ts", output_format="torchscript")
    with pytest.raises(ValueError, match="leave inputs= and kwarg_inputs= out"):
        torch_trt.save(lm, tmp_path / "lm.pt2", inputs=[torch.zeros(1, 1)])
    x = torch.randn(2, 4)
    linear = torch_trt.dynamo.compile(torch.nn.Linear(4, 3).eval(), [x], runtime="reference")
    torch_trt.save(linear, tmp_path / "linear.pt2")
    with pytest.raises(TypeError, match=r"linear.pt2 holds a compiled .*, not a causal LM"):
        torch_trt.llm.load(tmp_path / "linear.pt2")
    assert isinstance(lm.step, torch.fx.GraphModule)
    with pytest.raises(SerializationError, match=r"x.pt2: its causal-LM entry is corrupt"):
        from_manifest(lm.step, {"max_batch": 1}, "x.pt2")
