"""Decompositions we add to torch's table: third-party ops that reach our graphs opaque.

A library's custom op is a black box to partitioning: no converter can know its meaning from the
registry key alone, and registering one would need the library imported whenever torch_trt is.
When such an op has a plain ATen formulation we add it to the decomposition table instead, keyed
by the op's qualified name and only when the library has registered the op (so torch_trt never
imports the library). The op then lowers to ATen ops that have converters, and a region left in
PyTorch still runs the (eager-exact) ATen formula.

Today there is one: ``transformers::grouped_mm_fallback``, the grouped matrix product Hugging Face
transformers (5.x) uses for its default ``experts_implementation="grouped_mm"`` (Mixtral,
Qwen2-MoE, ...) whenever torch's ``_grouped_mm`` kernel cannot run, which includes every float32
model under ``torch.export`` (torch's ``_grouped_mm`` traces bfloat16 only).

Example:
    >>> import transformers.integrations.moe  # registers transformers::grouped_mm_fallback
    >>> from torch_trt.dynamo.decompositions import extra_decompositions
    >>> sorted(str(op) for op in extra_decompositions())
    ['transformers.grouped_mm_fallback.default']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def grouped_mm_dense(input: torch.Tensor, weight: torch.Tensor, offs: torch.Tensor) -> torch.Tensor:
    """``out[s] = input[s] @ weight[g]`` for the rows ``s`` of group ``g``, as dense ATen ops.

    Groups are consecutive row ranges: group ``g`` is rows ``offs[g-1] <= s < offs[g]``
    (``offs[-1] = 0``); rows at or past ``offs[-1]`` belong to no group and come out as zeros
    (what transformers' fallback returns). Each row's group is the number of group ends at or
    before it, the product is taken against every group's matrix at once (``G`` times the
    FLOPs of a per-group product, and a ``(G, S, N)`` intermediate: the price of static shapes
    and no host synchronisation), and each row keeps its own group's result.

    Args:
        input: ``(S, K)`` rows sorted by group.
        weight: ``(G, K, N)`` one matrix per group.
        offs: ``(G,)`` int32 cumulative group ends, non-decreasing.

    Returns:
        ``(S, N)``, dtype of ``input``.

    Example:
        >>> x, w = torch.randn(5, 3), torch.randn(2, 3, 4)
        >>> out = grouped_mm_dense(x, w, torch.tensor([2, 5], dtype=torch.int32))
        >>> torch.allclose(out[2:], x[2:] @ w[1])
        True
    """
    groups = weight.shape[0]
    rows = torch.arange(input.shape[0], device=input.device)
    group = (rows.unsqueeze(-1) >= offs.unsqueeze(0)).sum(-1)  # (S,)
    every = torch.matmul(input.unsqueeze(0), weight)  # (G, S, N)
    # A gather, not a masked sum: an inf in another group's product must not leak in as NaN.
    picked = every.permute(1, 0, 2)[rows, group.clamp(max=groups - 1)]
    return torch.where((group < groups).unsqueeze(-1), picked, 0).to(input.dtype)


def _transformers_grouped_mm(
    input: torch.Tensor, weight: torch.Tensor, offs: torch.Tensor
) -> torch.Tensor:
    return grouped_mm_dense(input, weight, offs)


# (namespace, op name, overload, schema argument names, decomposition). The argument names guard
# against a library release that changes the op's meaning under the same name: then the op is
# left alone (and falls back with "no converter") rather than decomposed wrongly.
_THIRD_PARTY: tuple[tuple[str, str, str, tuple[str, ...], Callable[..., Any]], ...] = (
    (
        "transformers",
        "grouped_mm_fallback",
        "default",
        ("input", "weight", "offs"),
        _transformers_grouped_mm,
    ),
)


def _registered(namespace: str, name: str, overload: str) -> torch._ops.OpOverload | None:
    """The op if its library has registered it in this process, else ``None``."""
    try:
        packet = getattr(getattr(torch.ops, namespace), name)
        op = getattr(packet, overload)
    except (AttributeError, RuntimeError):
        return None
    return op if isinstance(op, torch._ops.OpOverload) else None


def extra_decompositions() -> dict[torch._ops.OpOverload, Callable[..., Any]]:
    """Decompositions of the third-party ops registered in this process (see module docstring)."""
    table: dict[torch._ops.OpOverload, Callable[..., Any]] = {}
    for namespace, name, overload, arg_names, fn in _THIRD_PARTY:
        op = _registered(namespace, name, overload)
        if op is None:
            continue
        if tuple(a.name for a in op._schema.arguments) != arg_names:
            continue
        table[op] = fn
    return table
