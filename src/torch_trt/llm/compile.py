"""``torch_trt.llm.compile_causal_lm``: a Hugging Face causal LM as one engine with a KV cache.

The model's :class:`~torch_trt.llm.model.DecoderStep` (one step of any length over a static
cache) is compiled once with dynamic batch ``[1, max_batch]`` and step length
``[1, max_seq_len]``; the prompt and every decoded token run the same engine. Its cache inputs
are written in place by ``IKVCacheUpdateLayer``s, so a decode step copies no cache.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from torch_trt.errors import UnsupportedModelError
from torch_trt.inputs import Input
from torch_trt.llm.generate import CausalLM
from torch_trt.llm.model import CacheSpec, DecoderStep, llm_attention, probe
from torch_trt.llm.report import CausalLMReport
from torch_trt.settings import PRECISIONS

# ``precision`` names by dtype, for the compile setting and for messages.
_NAMES = {dtype: name for name, dtype in PRECISIONS.items()}


def compile_causal_lm(
    model: Any,
    *,
    max_seq_len: int,
    max_batch: int = 1,
    precision: str | torch.dtype | None = None,
    **settings: Any,
) -> CausalLM:
    """Compile a ``transformers`` causal LM into an engine that decodes with a static KV cache.

    Args:
        model: a causal LM in eval mode (``LlamaForCausalLM``, ``Qwen2ForCausalLM``,
            ``GPT2LMHeadModel``, ``MistralForCausalLM``, ``GemmaForCausalLM``, or any whose
            attention layers write through ``cache.update``); it is not modified.
        max_seq_len: cache positions per sequence: prompt plus generated tokens (left padding
            included) must fit. The cache costs memory in proportion (see docs/llm.md).
        max_batch: the largest number of sequences generated together.
        precision: ``None`` (the default) compiles the model in its own dtype (fp32, or a
            model already converted with ``.half()`` / ``.to(torch.bfloat16)``). ``"fp16"`` or
            ``"bf16"`` (or the torch dtype) on an fp32 model runs matrix multiplies and
            attention in that type and numerically sensitive ops in fp32 (the autocast pass,
            docs/precision.md); the KV cache is then kept in the low type. Logits come out in
            the model's dtype, as eager returns them.
        **settings: options of :class:`torch_trt.CompileSettings`; ``min_block_size`` defaults
            to 1 and ``require_full_compilation`` to True, so an op that cannot run in TensorRT
            is named at compile time instead of splitting the step.

    Returns:
        A :class:`~torch_trt.llm.CausalLM`; ``generate`` decodes greedily and
        ``torch_trt.report(lm)`` shows the engine and the cache size.

    Raises:
        UnsupportedModelError: the architecture cannot use a static cache (names the module).
        UnsupportedOperatorError: some op of the step has no TensorRT converter.

    Example:
        >>> lm = torch_trt.llm.compile_causal_lm(model, max_seq_len=64, max_batch=2,
        ...                                      runtime="reference")
        >>> tokens = lm.generate(input_ids, max_new_tokens=16)
    """
    dtype, low = _check(model, max_seq_len, max_batch, precision)
    window = sliding_window(model.config, max_seq_len)
    specs = probe(model, window)
    if any(s.dtype != dtype for s in specs):
        raise UnsupportedModelError(
            f"{type(model).__name__} keeps its KV cache in {specs[0].dtype}, not {dtype}"
        )
    if low is not None:  # the cache holds what the low-precision engine computes
        specs = [dataclasses.replace(s, dtype=low) for s in specs]
    step = DecoderStep(model, max_seq_len, window).eval()
    options: dict[str, Any] = {"min_block_size": 1, "require_full_compilation": True}
    if low is not None:
        options["precision"] = _NAMES[low]
    options.update(settings)
    from torch_trt.dynamo.compile import compile as dynamo_compile

    with llm_attention(model):
        compiled = dynamo_compile(step, step_inputs(specs, max_batch, max_seq_len), **options)
    full = causal_lm_report(compiled, type(model).__name__, specs, max_batch, max_seq_len)
    return CausalLM(compiled, model.config, specs, max_batch, max_seq_len, full)


def causal_lm_report(
    compiled: torch.fx.GraphModule,
    model: str,
    specs: list[CacheSpec],
    max_batch: int,
    max_seq_len: int,
) -> CausalLMReport:
    """The step's compile report with the cache added."""
    from torch_trt.report import report

    rep = report(compiled)
    in_place = any(
        n.target is torch.ops.torch_trt.execute_engine_inplace.default for n in compiled.graph.nodes
    )
    return CausalLMReport(
        **{f.name: getattr(rep, f.name) for f in dataclasses.fields(rep)},
        model=model,
        max_batch=max_batch,
        max_seq_len=max_seq_len,
        layers=len(specs) // 2,
        cache_bytes=sum(_nbytes(s, max_batch, max_seq_len) for s in specs),
        cache_dtype=str(specs[0].dtype).removeprefix("torch.") if specs else "",
        in_place=in_place,
    )


def _check(
    model: Any, max_seq_len: int, max_batch: int, precision: Any
) -> tuple[torch.dtype, torch.dtype | None]:
    """Validate the arguments; the model's dtype and the low type the autocast pass should
    use (``None``: compile the model in its own dtype)."""
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
        raise TypeError(
            f"compile_causal_lm takes a transformers causal LM (a PreTrainedModel with a config),"
            f" got {type(model).__name__}"
        )
    if model.training:
        raise ValueError(
            f"{type(model).__name__} is in training mode (dropout is active); call model.eval() "
            "before compile_causal_lm"
        )
    for name, value in (("max_seq_len", max_seq_len), ("max_batch", max_batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and max_seq_len > positions:
        raise ValueError(
            f"max_seq_len={max_seq_len} exceeds the model's max_position_embeddings="
            f"{positions}: positions past it have no embedding"
        )
    return _dtypes(model, precision)


def _dtypes(model: Any, precision: Any) -> tuple[torch.dtype, torch.dtype | None]:
    """The model's float dtype and the autocast type ``precision`` asks of it."""
    name = type(model).__name__
    if isinstance(precision, torch.dtype) and precision in _NAMES:
        precision = _NAMES[precision]
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(
            f"precision must be None (the model's own dtype), one of {tuple(PRECISIONS)} or "
            f"their torch dtypes, got {precision!r}"
        )
    found = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if len(found) > 1 or not found <= set(_NAMES):
        raise ValueError(
            f"{name} has weights of {sorted(map(str, found))}; torch_trt.llm compiles a model "
            "whose weights are all float32, float16 or bfloat16: convert it with model.to(...)"
        )
    dtype = found.pop() if found else torch.float32
    want = dtype if precision is None else PRECISIONS[precision]
    if want == dtype:
        return dtype, None
    if dtype != torch.float32:
        raise ValueError(
            f"precision={precision!r} contradicts {name}'s {dtype} weights: a reduced-precision "
            f"model compiles in its own dtype. Leave precision out (or pass "
            f"{_NAMES[dtype]!r}), or convert the model with model.to({want}) first"
        )
    return dtype, want


def sliding_window(config: Any, max_seq_len: int) -> int | None:
    """The attention window when every layer slides and the window is shorter than the cache;
    ``None`` when no window ever hides a cached position."""
    window = getattr(config, "sliding_window", None)
    if not isinstance(window, int) or window >= max_seq_len:
        return None
    types = set(getattr(config, "layer_types", None) or ["sliding_attention"])
    if types != {"sliding_attention"}:
        raise UnsupportedModelError(
            f"{type(config).__name__}: layers mix sliding-window ({window}) and full attention "
            f"(layer_types {sorted(types)}); torch_trt.llm supports one kind for all layers. "
            f"A max_seq_len of at most {window} makes the window irrelevant"
        )
    return window


def step_inputs(specs: list[CacheSpec], max_batch: int, max_seq_len: int) -> list[Any]:
    """The ``Input`` specs of :class:`DecoderStep`: batch in [1, max_batch], step length in
    [1, max_seq_len] (optimized for one token: decoding dominates)."""

    def ranged(rest: tuple[int, ...], dtype: torch.dtype, names: tuple[str | None, ...]) -> Input:
        return Input(
            min_shape=(1, *rest),
            opt_shape=(max_batch, *rest),
            max_shape=(max_batch, *rest),
            dtype=dtype,
            dim_names=names,
        )

    tokens = Input(
        min_shape=(1, 1),
        opt_shape=(max_batch, 1),
        max_shape=(max_batch, max_seq_len),
        dtype=torch.int64,
        dim_names=("batch", "length"),
    )
    pad = ranged((max_seq_len,), torch.bool, ("batch", None))
    caches = [
        ranged((s.heads, max_seq_len, s.head_dim), s.dtype, ("batch", None, None, None))
        for s in specs
    ]
    return [tokens, tokens, Input((), dtype=torch.int64), pad, caches]


def _nbytes(spec: CacheSpec, batch: int, max_seq_len: int) -> int:
    n = 1
    for d in spec.shape(batch, max_seq_len):
        n *= d
    return n * torch.empty((), dtype=spec.dtype).element_size()
