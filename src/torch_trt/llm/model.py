"""The export-friendly forward of a Hugging Face causal LM: one decoding step over a static cache.

:class:`DecoderStep` wraps the model (its own modules and weights, untouched) and runs one step
of any length: ``S`` new tokens per sequence, written into the cache at positions
``start .. start + S - 1``. The same module serves the prompt (S = prompt length) and every
decode step (S = 1), so one engine with a dynamic length does both. What makes it exportable:

* **The cache** is a list of tensors passed in (``[batch, kv heads, max_seq_len, head dim]``
  per layer, keys then values), given to the model as a duck-typed Hugging Face ``Cache``
  (:class:`StaticKVCache`) whose ``update`` writes with ``torch_trt::kv_cache_update`` and keeps
  the result with ``copy_``. torch.export records the ``copy_`` as an input mutation; in the
  engine the update is an in-place ``IKVCacheUpdateLayer``.
* **The mask** is made here, as a 4-D boolean ``[batch, 1, S, max_seq_len]``: key slot ``j`` is
  visible to the new token at slot ``i`` when ``j <= i``, the slot is not padding
  (``pad_mask``), and, for sliding-window models, ``j > i - window``. Hugging Face passes a 4-D
  mask through unchanged, so no data-dependent mask code is traced.
* **Attention** is ``scaled_dot_product_attention`` with the model's scaling and ``enable_gqa``
  (registered as the attention implementation ``torch_trt_llm`` while tracing), with no branch
  on the query length; it becomes one TensorRT attention layer with grouped-query heads.
* **Rotary embeddings** come from the model's own code with explicit ``position_ids``
  (left-padded rows start at their first real token), so they are ordinary ops in the engine.

Example:
    >>> step = DecoderStep(model, max_seq_len=64)
    >>> caches = [torch.zeros(1, 4, 64, 16) for _ in range(2 * layers)]
    >>> logits = step(ids, positions, torch.tensor(0), torch.ones(1, 64, dtype=torch.bool), caches)
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import torch

from torch_trt.errors import UnsupportedModelError

ATTENTION = "torch_trt_llm"

# Keyword arguments Hugging Face attention modules pass that change nothing here: the mask
# already holds causality, padding and the sliding window.
_IGNORED = {"sliding_window", "is_causal", "position_ids", "cache", "use_cache", "dropout"}


def attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Hugging Face attention interface: SDPA over the whole cache with the step's mask."""
    used = {k: v for k, v in kwargs.items() if v is not None and k not in _IGNORED}
    if used:
        raise UnsupportedModelError(
            f"{type(module).__name__}: attention with {', '.join(sorted(used))} has no "
            "TensorRT attention equivalent here; torch_trt.llm supports softmax attention "
            "with a scale, grouped-query heads, causal/padding masks and sliding windows"
        )
    gqa = query.shape[1] != key.shape[1]
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, scale=scaling, enable_gqa=gqa
    )
    return out.transpose(1, 2).contiguous(), None


@dataclasses.dataclass(frozen=True)
class CacheSpec:
    """One layer's keys or values: ``[batch, heads, max_seq_len, head_dim]`` of ``dtype``."""

    heads: int
    head_dim: int
    dtype: torch.dtype

    def shape(self, batch: int, max_seq_len: int) -> tuple[int, int, int, int]:
        return (batch, self.heads, max_seq_len, self.head_dim)


class StaticKVCache:
    """A duck-typed Hugging Face ``Cache`` over caller-owned tensors (keys and values of layer
    ``i`` at ``2 i`` and ``2 i + 1``), written at ``write_indices`` and kept with ``copy_``.

    With ``caches=None`` it only records each layer's key/value shapes (the probe run)."""

    is_compileable = True

    def __init__(self, caches: list[torch.Tensor] | None, write_indices: torch.Tensor) -> None:
        self.caches = caches
        self.write_indices = write_indices
        self.specs: dict[int, tuple[CacheSpec, CacheSpec]] = {}

    def update(
        self,
        key_states: torch.Tensor,
        value_states: torch.Tensor,
        layer_idx: int,
        *a: Any,
        **k: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write this step's keys and values; return the layer's whole cache (in the keys'
        dtype: a cache kept in a lower precision than the model computes is cast back)."""
        if self.caches is None:
            self.specs[layer_idx] = (_spec(key_states), _spec(value_states))
            return key_states, value_states
        out = []
        for cache, new in zip(
            self.caches[2 * layer_idx : 2 * layer_idx + 2], (key_states, value_states), strict=True
        ):
            updated = torch.ops.torch_trt.kv_cache_update(
                cache, new.to(cache.dtype), self.write_indices
            )
            cache.copy_(updated)
            out.append(updated.to(new.dtype))
        return out[0], out[1]


def _spec(t: torch.Tensor) -> CacheSpec:
    return CacheSpec(int(t.shape[1]), int(t.shape[3]), t.dtype)


def step_mask(
    start: torch.Tensor, length: int | torch.SymInt, pad_mask: torch.Tensor, window: int | None
) -> torch.Tensor:
    """``[batch, 1, length, max_seq_len]`` bool: which cache slots each new token may see."""
    slots = torch.arange(length, device=pad_mask.device) + start  # the new tokens' slots
    keys = torch.arange(pad_mask.shape[1], device=pad_mask.device)
    visible = keys[None, :] <= slots[:, None]
    if window is not None:
        visible = visible & (keys[None, :] > slots[:, None] - window)
    return visible[None, None] & pad_mask[:, None, None, :]


class DecoderStep(torch.nn.Module):
    """One decoding step of ``model`` over a static cache of ``max_seq_len`` slots.

    ``forward(input_ids, position_ids, start, pad_mask, caches)``: ``input_ids`` and
    ``position_ids`` are ``[batch, S]`` int64, ``start`` a 0-D int64 tensor (the cache slot of
    ``input_ids[:, 0]``), ``pad_mask`` ``[batch, max_seq_len]`` bool (False at padding slots),
    ``caches`` the per-layer key and value tensors, updated in place. Returns the logits of the
    last position, ``[batch, vocab]``.
    """

    def __init__(self, model: Any, max_seq_len: int, window: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.max_seq_len = max_seq_len
        self.window = window

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        start: torch.Tensor,
        pad_mask: torch.Tensor,
        caches: list[torch.Tensor],
    ) -> torch.Tensor:
        batch, length = input_ids.shape
        mask = step_mask(start, length, pad_mask, self.window)
        cache = StaticKVCache(caches, start.expand(batch))
        out = self.model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        logits: torch.Tensor = out.logits[:, -1]
        return logits


@contextlib.contextmanager
def llm_attention(model: Any) -> Iterator[None]:
    """Use :func:`attention` in ``model`` for the duration (the config's implementation is
    restored after)."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION, attention)
    config = model.config
    old = config._attn_implementation
    config._attn_implementation = ATTENTION
    try:
        yield
    finally:
        config._attn_implementation = old


def probe(model: Any, window: int | None) -> list[CacheSpec]:
    """Run two tokens through the model eagerly to learn each layer's key and value shapes.

    Raises:
        UnsupportedModelError: the model does not update a cache through ``cache.update`` in
            every layer (or reads parts of the cache API we do not offer).
    """
    layers = int(model.config.num_hidden_layers)
    ids = torch.zeros(1, 2, dtype=torch.int64, device=_device(model))
    cache = StaticKVCache(None, torch.zeros(1, dtype=torch.int64))
    mask = step_mask(torch.tensor(0), 2, torch.ones(1, 2, dtype=torch.bool), window)
    try:
        with torch.no_grad(), llm_attention(model):
            model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=ids + torch.arange(2),
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            )
    except (AttributeError, TypeError) as e:
        raise UnsupportedModelError(
            f"{type(model).__name__} cannot run one step with torch_trt.llm's static cache: "
            f"{e}. It supports models whose forward takes input_ids, a 4-D attention_mask, "
            "position_ids, cache and logits_to_keep, and whose attention layers call "
            "cache.update(keys, values, layer)"
        ) from e
    missing = [i for i in range(layers) if i not in cache.specs]
    if missing:
        raise UnsupportedModelError(
            f"{type(model).__name__} did not write keys and values through the cache in "
            f"layer(s) {missing} of {layers}, so it cannot decode with a static KV cache "
            "(torch_trt.llm needs attention layers that call cache.update)"
        )
    return [s for i in range(layers) for s in cache.specs[i]]


def _device(model: Any) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")
