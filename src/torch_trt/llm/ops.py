"""``torch.ops.torch_trt.kv_cache_update``: write new keys or values into a static cache.

The op is functional (it returns the updated cache and leaves ``cache`` untouched), so that
torch.export records it as a plain node; a model keeps the result with ``cache.copy_(new)``, which
export records as a buffer or input mutation. Inside an engine the op becomes TensorRT's
``IKVCacheUpdateLayer``, which writes the cache in place (see docs/llm.md); the ``copy_`` then
disappears from the compiled graph.

Example:
    >>> cache = torch.zeros(2, 4, 16, 8)             # [batch, kv heads, max positions, head dim]
    >>> k = torch.randn(2, 4, 3, 8)                  # three new positions
    >>> new = torch.ops.torch_trt.kv_cache_update(cache, k, torch.tensor([5, 5]))
    >>> torch.equal(new[:, :, 5:8], k)
    True
"""

from __future__ import annotations

import torch


def check_kv_shapes(cache: torch.Tensor, update: torch.Tensor, write_indices: torch.Tensor) -> None:
    """Raise ``ValueError`` unless the three tensors fit together (shapes, dtypes, ranks)."""
    if cache.dim() != 4 or update.dim() != 4:
        raise ValueError(
            "kv_cache_update takes a cache [batch, heads, max_len, head_dim] and an update "
            f"[batch, heads, len, head_dim], got ranks {cache.dim()} and {update.dim()}"
        )
    same = (0, 1, 3)
    if any(cache.shape[d] != update.shape[d] for d in same) or update.shape[2] > cache.shape[2]:
        raise ValueError(
            f"kv_cache_update: update {tuple(update.shape)} does not fit cache {tuple(cache.shape)}"
        )
    if cache.dtype != update.dtype:
        raise ValueError(f"kv_cache_update: cache is {cache.dtype} but update is {update.dtype}")
    if write_indices.dtype not in (torch.int32, torch.int64) or tuple(write_indices.shape) != (
        cache.shape[0],
    ):
        raise ValueError(
            "kv_cache_update: write_indices must be an int32/int64 tensor of shape [batch], got "
            f"{write_indices.dtype} {tuple(write_indices.shape)}"
        )


@torch.library.custom_op("torch_trt::kv_cache_update", mutates_args=())
def kv_cache_update(
    cache: torch.Tensor, update: torch.Tensor, write_indices: torch.Tensor
) -> torch.Tensor:
    """``cache`` with ``out[b, :, w[b] + s, :] = update[b, :, s, :]`` for s < update.shape[2].

    Args:
        cache: ``[batch, heads, max_len, head_dim]``.
        update: ``[batch, heads, len, head_dim]``, the same dtype.
        write_indices: ``[batch]`` int32/int64, the first position written per sequence; the
            positions ``w[b] .. w[b] + len - 1`` must lie in ``[0, max_len)``.

    Returns:
        A new tensor; ``cache`` is not modified.
    """
    check_kv_shapes(cache, update, write_indices)
    batch, heads, length, dim = update.shape
    w = write_indices.to(torch.int64)
    if length and (bool((w < 0).any()) or bool((w + length > cache.shape[2]).any())):
        raise IndexError(
            f"kv_cache_update writes {length} position(s) from {w.tolist()} into a cache of "
            f"{cache.shape[2]} positions"
        )
    positions = w[:, None] + torch.arange(length, device=w.device)  # [batch, len]
    index = positions[:, None, :, None].expand(batch, heads, length, dim)
    return cache.clone().scatter_(2, index.to(cache.device), update)


@kv_cache_update.register_fake
def _kv_cache_update_fake(
    cache: torch.Tensor, update: torch.Tensor, write_indices: torch.Tensor
) -> torch.Tensor:
    return torch.empty_like(cache)
