"""Reference reader and evaluator: KV_CACHE_UPDATE (``IKVCacheUpdateLayer``).

Semantics from the operator page [OP/KVCacheUpdate], the KV-cache guide [KV] and the Python
docstrings (``IKVCacheUpdateLayer``, ``add_kv_cache_update``):

* Inputs ``cache`` [b, d, s_max, h] (a network input with a static s_max), ``update``
  [b, d, s, h] (PADDED_BHND, the default form), ``write_indices`` [b] (int32; int64 is listed
  but refused by TensorRT-RTX 1.7.1 at build). LINEAR mode:
  ``output[i, :, write_indices[i] + s, :] = update[i, :, s, :]`` for s < update.shape[2].
* The output is a network output that **shares the cache input's memory**: the update happens
  in place and the rest of the cache keeps its contents. The evaluator does exactly that: it
  writes into the cache tensor it was given and returns that same tensor, so a caller that
  binds its own cache sees it updated, as on the GPU.
* Writes past s_max are undefined in TensorRT ("assuming no out-of-bounds writes occur"); the
  reference raises instead of guessing.
* PACKED_NHD updates (with ``update_lengths``) are not supported here.

[KV] https://docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/transformers-kv-cache.html
[OP/KVCacheUpdate] https://docs.nvidia.com/deeplearning/tensorrt/latest/_static/operators/KVCacheUpdate.html
"""

from __future__ import annotations

from typing import Any

import torch

from torch_trt.runtime.reference.data import Args, need
from torch_trt.runtime.reference.program import (
    LayerRecord,
    ReferenceError,
    enum_name,
    evaluator,
    layer_kind,
)


@layer_kind("KV_CACHE_UPDATE", "IKVCacheUpdateLayer")
def read_kv_cache_update(layer: Any) -> dict[str, Any]:
    """Cache mode, update form, and whether the cache is a network input (TensorRT's rule)."""
    cache = layer.get_input(0)
    return {
        "cache_mode": enum_name(layer.cache_mode),
        "update_form": enum_name(layer.update_form),
        "cache_is_input": bool(cache is not None and cache.is_network_input),
    }


@evaluator("KV_CACHE_UPDATE")
def evaluate_kv_cache_update(record: LayerRecord, inputs: Args) -> list[torch.Tensor]:
    """Write ``update`` into ``cache`` in place from ``write_indices[b]`` on; return ``cache``."""
    cache, update, w = (need(inputs, i, record) for i in range(3))
    a = record.attrs
    if a["cache_mode"] != "LINEAR" or a["update_form"] != "PADDED_BHND":
        raise ReferenceError(
            f"layer {record.name!r}: only LINEAR mode with PADDED_BHND updates is supported, got "
            f"{a['cache_mode']}/{a['update_form']}"
        )
    if not a["cache_is_input"]:
        raise ReferenceError(f"layer {record.name!r}: the cache must be a network input")
    if cache.dim() != 4 or update.dim() != 4 or tuple(w.shape) != (cache.shape[0],):
        raise ReferenceError(
            f"layer {record.name!r}: cache {tuple(cache.shape)}, update {tuple(update.shape)} "
            f"and write indices {tuple(w.shape)} do not fit [b, d, s_max, h] / [b, d, s, h] / [b]"
        )
    length, s_max = update.shape[2], cache.shape[2]
    starts = [int(v) for v in w.tolist()]
    for b, start in enumerate(starts):
        if length and not 0 <= start <= s_max - length:
            raise ReferenceError(
                f"layer {record.name!r}: sequence {b} writes positions {start}..."
                f"{start + length - 1} into a cache of {s_max} (undefined in TensorRT)"
            )
        cache[b, :, start : start + length, :] = update[b]
    return [cache]
