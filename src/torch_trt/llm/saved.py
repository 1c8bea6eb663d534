"""Saving a compiled causal LM and loading it back, with ``generate``.

``torch_trt.save(lm, path)`` writes the compiled :class:`~torch_trt.llm.model.DecoderStep` as
any compiled module is written (an ExportedProgram whose engine keeps its in-place cache
aliases), exported with the step's own inputs (the list of caches, batch in
``[1, max_batch]``, length in ``[1, max_seq_len]``), and adds an ``"llm"`` entry to the
manifest: the limits, each cache tensor's heads, head size and dtype, the model's class and its
config as JSON. ``torch_trt.load(path)`` (or :func:`load`) sees the entry and wraps the loaded
step in a :class:`~torch_trt.llm.CausalLM`; the model's Python code and weights are not needed
(the weights are in the engine).

Example:
    >>> torch_trt.save(lm, "lm.pt2")
    >>> lm = torch_trt.llm.load("lm.pt2")          # in another process
    >>> tokens = lm.generate(input_ids, max_new_tokens=8)
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch

from torch_trt.errors import SerializationError
from torch_trt.llm.compile import causal_lm_report, step_inputs
from torch_trt.llm.generate import CausalLM
from torch_trt.llm.model import CacheSpec
from torch_trt.serialize import LLM_KEY, save_program
from torch_trt.serialize import load as load_program

_DTYPES = {str(d).removeprefix("torch."): d for d in (torch.float32, torch.float16, torch.bfloat16)}


def save(
    lm: CausalLM,
    path: str | os.PathLike[str],
    *,
    output_format: str,
    inputs: Any,
    kwarg_inputs: Any,
    with_source: bool,
) -> None:
    """What ``torch_trt.save(lm, path, ...)`` does for a :class:`CausalLM`."""
    if output_format != "exported_program":
        raise ValueError(
            f"a compiled causal LM saves with output_format='exported_program', not "
            f"{output_format!r} (its step takes a list of cache tensors)"
        )
    if inputs is not None or kwarg_inputs is not None:
        raise ValueError(
            "a compiled causal LM is saved for the shapes it was compiled for (batch up to "
            "max_batch, step length up to max_seq_len); leave inputs= and kwarg_inputs= out"
        )
    to_json = getattr(lm.config, "to_json_string", None)
    entry = {
        "model": lm._torch_trt_report.model,
        "max_batch": lm.max_batch,
        "max_seq_len": lm.max_seq_len,
        "caches": [[s.heads, s.head_dim, str(s.dtype).removeprefix("torch.")] for s in lm.specs],
        "config": json.loads(to_json()) if callable(to_json) else None,
    }
    step = lm.step
    if not isinstance(step, torch.fx.GraphModule):
        raise TypeError(f"CausalLM.step must be a compiled module, got {type(step).__name__}")
    specs = step_inputs(lm.specs, lm.max_batch, lm.max_seq_len)
    save_program(step, path, inputs=specs, with_source=with_source, extra={LLM_KEY: entry})


def from_manifest(step: torch.fx.GraphModule, entry: Any, path: str) -> CausalLM:
    """The :class:`CausalLM` around a loaded step, from the manifest's ``"llm"`` entry."""
    try:
        max_batch, max_seq_len = int(entry["max_batch"]), int(entry["max_seq_len"])
        specs = [CacheSpec(int(h), int(d), _DTYPES[str(t)]) for h, d, t in entry["caches"]]
        model, raw_config = str(entry["model"]), entry["config"]
    except (KeyError, TypeError, ValueError) as e:
        raise SerializationError(
            f"cannot load {path}: its causal-LM entry is corrupt ({type(e).__name__})"
        ) from None
    config = _config(raw_config) if isinstance(raw_config, dict) else None
    report = causal_lm_report(step, model, specs, max_batch, max_seq_len)
    return CausalLM(step, config, specs, max_batch, max_seq_len, report)


def _config(raw: dict[str, Any]) -> Any:
    """The ``transformers`` config saved as JSON (its ``model_type`` picks the class)."""
    from transformers import AutoConfig

    return AutoConfig.for_model(**raw)


def load(
    path: str | os.PathLike[str], *, runtime: str | None = None, on_incompatible: str = "error"
) -> CausalLM:
    """Load a causal LM written by ``torch_trt.save(lm, path)``.

    Args:
        path: the saved file.
        runtime, on_incompatible: as for :func:`torch_trt.load`.

    Returns:
        A :class:`~torch_trt.llm.CausalLM` whose ``generate`` gives the tokens the saved one
        gave; its cache is allocated on the first ``generate``.

    Raises:
        TypeError: the file holds a compiled module that is not a causal LM.
        SerializationError: as :func:`torch_trt.load`.

    Example:
        >>> lm = torch_trt.llm.load("lm.pt2", runtime="reference")
    """
    loaded = load_program(path, runtime=runtime, on_incompatible=on_incompatible)
    if not isinstance(loaded, CausalLM):
        raise TypeError(
            f"{os.fspath(path)} holds a compiled {type(loaded).__name__}, not a causal LM saved "
            "from compile_causal_lm; load it with torch_trt.load"
        )
    return loaded
