"""Rules of selective decomposition for composite ops: ``matmul``, ``pad``, ``roll``,
``masked_fill`` and ``fill`` (also in place, on a slice of a fresh tensor).

Same contract as :mod:`torch_trt.dynamo.decompose_rules`: each rule inserts exactly the nodes
``run_decompositions`` produces for its node (torch's decompositions of these ops, traced on
static shapes) and refuses (``None``) in any case it does not reproduce.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx

from torch_trt.dynamo.decompose_rules import (
    Rule,
    _fresh,
    _is_view,
    _static,
    _strides,
    _tensor,
    call,
    reshaped,
    value,
)

aten = torch.ops.aten


# --- matmul -------------------------------------------------------------------------------------


def _matmul(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    """torch's ``matmul`` decomposition: ``mm`` for two matrices; for two batched operands
    (rank >= 3 each) both expanded to the broadcast batch, reshaped to one batch dim, ``bmm``,
    viewed back. The folding forms (a batched operand with a matrix or vector) depend on
    ``requires_grad`` and strides and are left to the retrace."""
    a, b = (_strides(x) for x in node.args[:2])
    if node.kwargs or len(node.args) != 2 or a is None or b is None:
        return None
    if not (_static(a.shape) and _static(b.shape)):
        return None
    if a.dim() == 2 and b.dim() == 2:
        return call(graph, node, aten.mm.default, (node.args[0], node.args[1]))
    if a.dim() < 3 or b.dim() < 3:
        return None
    if a.dim() == 3 and b.dim() == 3 and a.shape[0] != b.shape[0]:
        return None  # torch squeezes a batch of one here when it requires grad
    n, m1 = a.shape[-2:]
    m2, p = b.shape[-2:]
    batch = list(torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]))  # type: ignore[no-untyped-call]
    count = 1
    for d in batch:
        count *= d
    folded = []
    for x, rows, cols in ((node.args[0], n, m1), (node.args[1], m2, p)):
        expanded = call(graph, node, aten.expand.default, (x, [*batch, rows, cols]))
        shape = [count, rows, cols]
        folded.append(reshaped(graph, node, expanded, shape, shape))
    if None in folded:
        return None
    product = call(graph, node, aten.bmm.default, (folded[0], folded[1]))
    return call(graph, node, aten.view.default, (product, [*batch, n, p]))


# --- pad, roll ----------------------------------------------------------------------------------

# pad(x, pad, mode) for the non-constant modes: the op for 1, 2 or 3 padded dims, as ATen's
# composite pad picks it (also on the input rank: one or two dims more than padded).
_PADS: dict[str, tuple[Any, Any, Any]] = {
    "reflect": (aten.reflection_pad1d, aten.reflection_pad2d, aten.reflection_pad3d),
    "replicate": (aten.replication_pad1d, aten.replication_pad2d, aten.replication_pad3d),
    "circular": (aten._pad_circular,) * 3,
}


def _pad(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # pad(input, pad, mode="constant", value=None)
    names = ("input", "pad", "mode", "value")
    given = dict(zip(names, node.args, strict=False))
    bound = {"mode": "constant", "value": None} | given | dict(node.kwargs)
    if len(node.args) < 2 or set(bound) != set(names):
        return None
    x, pad, mode, fill = (bound[k] for k in names)
    t = _tensor(x)
    if t is None or not isinstance(pad, list | tuple) or not _static(pad) or len(pad) % 2:
        return None
    if mode == "constant":
        fill = 0.0 if fill is None else fill
        return call(graph, node, aten.constant_pad_nd.default, (x, list(pad), fill))
    padded = len(pad) // 2
    if not isinstance(mode, str) or mode not in _PADS or fill not in (None, 0):
        return None
    if not 1 <= padded <= 3:
        return None
    if t.dim() not in (padded + 1, padded + 2):
        return None
    return call(graph, node, _PADS[mode][padded - 1].default, (x, list(pad)))


def _roll(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    """torch's ``roll`` decomposition, one dim after the other: ``index_select`` along the dim
    with the indices ``fmod(arange(size) + (size - shift) % size, size)``."""
    # roll(x, shifts, dims=[])
    x = _tensor(node.args[0])
    shifts = node.args[1] if len(node.args) > 1 else None
    dims = node.args[2] if len(node.args) > 2 else []
    if node.kwargs or x is None or not _static(x.shape) or x.numel() == 0:
        return None
    if not isinstance(shifts, list | tuple) or not isinstance(dims, list | tuple):
        return None
    if not dims or len(shifts) != len(dims) or not _static(shifts):
        return None
    out: Any = node.args[0]
    for shift, d in zip(shifts, dims, strict=True):
        dim = int(d) % x.dim()
        size = int(x.shape[dim])
        index = call(
            graph,
            node,
            aten.arange.start_step,
            (0, size),
            layout=torch.strided,
            device=x.device,
            pin_memory=False,
        )
        index = call(graph, node, aten.add.Tensor, (index, (size - int(shift)) % size))
        index = call(graph, node, aten.fmod.Scalar, (index, size))
        out = call(graph, node, aten.index_select.default, (out, dim, index))
    return out if isinstance(out, fx.Node) else None


# --- masked_fill, fill ----------------------------------------------------------------------------


def _masked_fill_scalar(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    """torch's ``masked_fill`` decomposition for a floating tensor and a real number:
    ``where(mask, scalar_tensor(value), x)``, made contiguous."""
    x = _strides(node.args[0]) if len(node.args) == 3 else None
    mask = _strides(node.args[1]) if x is not None else None
    fill = node.args[2] if x is not None else None
    if node.kwargs or x is None or mask is None or not x.is_floating_point():
        return None
    if isinstance(fill, bool) or not isinstance(fill, int | float):
        return None
    scalar = call(
        graph,
        node,
        aten.scalar_tensor.default,
        (float(fill),),
        dtype=x.dtype,
        layout=torch.strided,
        device=x.device,
    )
    out = call(graph, node, aten.where.self, (node.args[1], scalar, node.args[0]))
    if value(out).is_contiguous():
        return out
    return call(graph, node, aten.clone.default, (out,), memory_format=torch.contiguous_format)


def _fill_tensor(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # fill(x, value) with a 0-dim value -> copy(x, value)
    v = _tensor(node.args[1]) if len(node.args) == 2 else None
    if node.kwargs or v is None or v.dim() != 0:
        return None
    return call(graph, node, aten.copy.default, (node.args[0], node.args[1]))


def _fill_tensor_(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    """``fill_(x, value)`` where ``x`` is a fresh tensor or a chain of slices of one (the base):
    what functionalization writes, ``copy(x, value)`` scattered back into the base through the
    slices regenerated from it (``slice_scatter`` per slice, innermost first); later readers of
    the base (and of ``fill_`` itself, when it fills the whole base) read the result."""
    chain: list[fx.Node] = []
    base = node.args[0] if len(node.args) == 2 else None
    while isinstance(base, fx.Node) and base.target is aten.slice.Tensor and not base.kwargs:
        chain.insert(0, base)
        base = base.args[0]
    if node.kwargs or not isinstance(base, fx.Node) or not _fresh(base):
        return None
    if chain and node.users:
        return None  # readers of the mutated slice would read a view of the new base
    links = [*chain, node]
    if any(list(c.users) != [nxt] for c, nxt in zip(chain, links[1:], strict=True)):
        return None  # a slice read elsewhere would see the mutation
    order = {n: i for i, n in enumerate(graph.nodes)}
    here = order[node]
    first = chain[0] if chain else node
    if any(_is_view(u) and order[u] < here and u is not first for u in base.users):
        return None  # a view taken before the mutation would see it
    new = _fill_tensor(graph, node)
    if new is None:
        return None
    views: list[Any] = [base] if chain else []  # the slices' sources, regenerated from the base
    for s in chain[:-1]:
        views.append(call(graph, node, aten.slice.Tensor, (views[-1], *s.args[1:])))
    result = new
    for view, s in zip(reversed(views), reversed(chain), strict=True):
        result = call(graph, node, aten.slice_scatter.default, (view, result, *s.args[1:]))
    base.replace_all_uses_with(result, delete_user_cb=lambda u: order.get(u, -1) > here)
    return new


COMPOSITE_RULES: dict[Any, Rule] = {
    aten.matmul.default: _matmul,
    aten.pad.default: _pad,
    aten.roll.default: _roll,
    aten.masked_fill.Scalar: _masked_fill_scalar,
    aten.fill.Tensor: _fill_tensor,
    aten.fill_.Tensor: _fill_tensor_,
}
