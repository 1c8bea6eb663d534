"""The rewrite rules of selective decomposition (see :mod:`torch_trt.dynamo.decompose`).

Each rule replaces one training-IR node by exactly the nodes ``run_decompositions`` would
produce for it (the model tests compare both), and refuses (``None``) whenever its conditions do
not hold, so that the full retrace handles the case. A rule inserts its nodes before ``node``
(the caller holds ``graph.inserting_before(node)``) and returns the node now holding the value:
a new node, or an existing one when the op is a no-op in an inference graph.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import fx

aten = torch.ops.aten

Rule = Callable[[fx.Graph, fx.Node], "fx.Node | None"]


# Metadata key set (during rewriting only) on nodes whose recorded strides may differ from the
# retrace's; rules that read strides refuse those nodes.
UNCERTAIN = "torch_trt_uncertain_strides"


def _strides(node: Any) -> torch.Tensor | None:
    """The value of ``node`` when its strides can be relied on, else None."""
    if isinstance(node, fx.Node) and node.meta.get(UNCERTAIN):
        return None
    return _tensor(node)


class Refused(Exception):
    """A rule's conditions do not hold after all (the caller falls back to the retrace)."""


def value(node: Any) -> Any:
    """The metadata value of an fx node (a FakeTensor, SymInt, ...); other values as they are."""
    return node.meta.get("val") if isinstance(node, fx.Node) else node


def _meta_from(old: fx.Node) -> dict[str, Any]:
    return {k: v for k, v in old.meta.items() if k != "val"}


def call(graph: fx.Graph, old: fx.Node, op: Any, args: tuple[Any, ...], **kwargs: Any) -> fx.Node:
    """A new ``op`` node with ``old``'s metadata and its value recomputed on the program's fake
    tensors (so shapes, dtypes and strides are torch's own)."""
    inputs = old.all_input_nodes or [n for n in graph.nodes if n.op == "placeholder"]
    mode = torch._guards.detect_fake_mode([value(n) for n in inputs])
    if mode is None:
        raise Refused("no fake tensors to recompute metadata")
    fake_args, fake_kwargs = fx.node.map_arg((args, kwargs), value)
    try:
        with mode:
            val = op(*fake_args, **fake_kwargs)
    except Exception as e:  # missing metadata or a rule applied where it should not be
        raise Refused(f"{op}: {type(e).__name__}: {e}") from e
    new = graph.call_function(op, args, kwargs)
    new.meta = _meta_from(old)
    new.meta["val"] = val
    return new


def first(graph: fx.Graph, old: fx.Node, op: Any, args: tuple[Any, ...]) -> fx.Node:
    """``op(*args)[0]`` for a multi-output op whose other outputs nobody reads."""
    multi = call(graph, old, op, args)
    item = graph.call_function(operator.getitem, (multi, 0))
    item.meta = _meta_from(old)
    item.meta["val"] = multi.meta["val"][0]
    return item


def _tensor(node: Any) -> torch.Tensor | None:
    val = value(node)
    return val if isinstance(val, torch.Tensor) else None


def _arg(node: fx.Node, i: int) -> Any:
    """Positional argument ``i`` of ``node`` (untyped: rules check what they use)."""
    return node.args[i]


def _int(v: Any) -> int:
    return int(v)


def _static(shape: Sequence[Any]) -> bool:
    return all(isinstance(d, int) for d in shape)


# --- convolution, batch norm, pooling ---------------------------------------------------------


def _conv_nd(nd: int) -> Rule:
    def rule(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
        # conv{1,2,3}d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        # the retrace expands each list to nd entries and adds transposed=False, output_padding.
        names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
        defaults: tuple[Any, ...] = (None, None, None, [1], [0], [1], 1)
        args = list(node.args) + list(defaults[len(node.args) :])
        bound = dict(zip(names, args, strict=True)) | dict(node.kwargs)
        x = _tensor(bound["input"])
        if x is None or x.dim() != nd + 2 or isinstance(bound["padding"], str):
            return None  # unbatched input or padding="same": left to the retrace
        lists = [_expand(bound[k], nd) for k in ("stride", "padding", "dilation")]
        return call(
            graph,
            node,
            aten.convolution.default,
            (
                bound["input"],
                bound["weight"],
                bound["bias"],
                *lists,
                False,
                [0] * nd,
                bound["groups"],
            ),
        )

    return rule


def _expand(v: Any, nd: int) -> list[Any]:
    values = list(v) if isinstance(v, list | tuple) else [v]
    return values * nd if len(values) == 1 else values


def _batch_norm(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn)
    if node.kwargs or len(node.args) != 9:
        return None
    x, w, b, mean, var, training, momentum, eps, _ = node.args
    if training or mean is None or var is None:
        return None
    op = aten._native_batch_norm_legit_no_training.default
    return first(graph, node, op, (x, w, b, mean, var, momentum, eps))


def _max_pool2d(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    if node.kwargs:
        return None
    return first(graph, node, aten.max_pool2d_with_indices.default, tuple(node.args))


def _adaptive_avg_pool2d(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # Only the global form; other output sizes decompose in several ways (left to the retrace).
    x = _strides(node.args[0])
    if node.kwargs or x is None or x.dim() != 4 or list(_arg(node, 1)) != [1, 1]:
        return None
    out = call(graph, node, aten.mean.dim, (node.args[0], [-1, -2], True))
    if torch._prims_common.suggest_memory_format(x) == torch.channels_last:
        # ATen restrides the mean of a channels-last input: (c, 1, c, c).
        n, c = x.shape[0], x.shape[1]
        out = call(graph, node, aten.as_strided.default, (out, [n, c, 1, 1], [c, 1, c, c]))
    return out


# --- views and copies -------------------------------------------------------------------------


def _as_view(graph: fx.Graph, node: fx.Node, shape: Sequence[Any]) -> fx.Node | None:
    out = _tensor(node)
    if out is None:
        return None
    return reshaped(graph, node, node.args[0], shape, list(out.shape))


def reshaped(
    graph: fx.Graph, old: fx.Node, source: Any, shape: Sequence[Any], inferred: Sequence[Any]
) -> fx.Node | None:
    """What ATen's ``reshape(source, shape)`` does: ``view(source, shape)`` for a contiguous
    ``source``; else a view with the ``inferred`` shape (no ``-1``) when the strides allow one,
    else that view of ``clone(source, memory_format=contiguous)``."""
    x = _strides(source)
    if x is None or not _static(x.shape) or not _static(inferred):
        return None
    if x.is_contiguous():
        return call(graph, old, aten.view.default, (source, list(shape)))
    if not _viewable(x, list(inferred)):
        contiguous = torch.contiguous_format
        source = call(graph, old, aten.clone.default, (source,), memory_format=contiguous)
    return call(graph, old, aten.view.default, (source, list(inferred)))


def _viewable(x: torch.Tensor, shape: list[int]) -> bool:
    """Whether ``x`` can be viewed as ``shape`` without a copy (ATen's stride computation)."""
    mode = torch._guards.detect_fake_mode([x])
    try:
        with mode if mode is not None else contextlib.nullcontext():
            x.view(shape)
    except (RuntimeError, ValueError):  # fake tensors raise ValueError, real ones RuntimeError
        return False
    return True


def _reshape(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    shape = node.args[1]
    if node.kwargs or not isinstance(shape, list | tuple) or not _static(shape):
        return None
    return _as_view(graph, node, shape)


def _computed_view(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # unflatten: the retrace views with the output's static shape.
    out = _tensor(node)
    if node.kwargs or out is None:
        return None
    return _as_view(graph, node, list(out.shape))


def _flatten(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # flatten(x, start_dim=0, end_dim=-1): x itself when the range is one dim, else a view.
    x = _tensor(node.args[0])
    if node.kwargs or x is None or not isinstance(node.args[0], fx.Node):
        return None
    rank = max(x.dim(), 1)
    start, end = (list(node.args[1:]) + [0, -1][len(node.args) - 1 :])[:2]
    if _int(start) % rank == _int(end) % rank:
        return node.args[0]
    return _computed_view(graph, node)


def _transpose(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    x = _tensor(node.args[0])
    if node.kwargs or x is None or x.dim() == 0:
        return None
    rank = x.dim()
    d0, d1 = (_int(d) % rank for d in node.args[1:3])
    if d0 == d1:
        return None
    perm = list(range(rank))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return call(graph, node, aten.permute.default, (node.args[0], perm))


def _t(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    x = _tensor(node.args[0])
    if x is None or x.dim() != 2:
        return None
    return call(graph, node, aten.permute.default, (node.args[0], [1, 0]))


def _contiguous(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    x = _strides(node.args[0])
    if x is None or len(node.args) != 1 or node.kwargs:
        return None
    if x.is_contiguous():
        return node.args[0] if isinstance(node.args[0], fx.Node) else None
    return call(
        graph, node, aten.clone.default, (node.args[0],), memory_format=torch.contiguous_format
    )


def _squeeze_dim(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    dim = node.args[1]
    if node.kwargs or not isinstance(dim, int):
        return None
    return call(graph, node, aten.squeeze.dims, (node.args[0], [dim]))


def _to_dtype(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # to(x, dtype, non_blocking=False, copy=False, memory_format=None)
    x = _tensor(node.args[0])
    if node.kwargs or len(node.args) != 2 or x is None or not isinstance(node.args[0], fx.Node):
        return None
    dtype = node.args[1]
    if dtype == x.dtype:
        return node.args[0]
    return call(graph, node, aten._to_copy.default, (node.args[0],), dtype=dtype)


def _dropout(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # dropout(input, p, train): the identity in eval mode.
    train = node.args[2] if len(node.args) > 2 else node.kwargs.get("train")
    x = node.args[0]
    if train is not False or not isinstance(x, fx.Node):
        return None
    return x


def _to_device(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # to(x, device, dtype, non_blocking=False, copy=False, memory_format=None)
    x = _tensor(node.args[0])
    if node.kwargs or len(node.args) != 3 or x is None or not isinstance(node.args[0], fx.Node):
        return None
    device, dtype = node.args[1], node.args[2]
    if dtype == x.dtype and torch.device(_arg(node, 1)) == x.device:
        return node.args[0]
    return call(graph, node, aten._to_copy.default, (node.args[0],), dtype=dtype, device=device)


def _to_dtype_layout(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # to(x, *, dtype, layout, device, pin_memory, non_blocking, copy, memory_format): only the
    # forms with the same dtype, device and layout are rewritten here: x itself when x already
    # has the memory format, else _to_copy with the same keywords.
    x = _tensor(node.args[0]) if len(node.args) == 1 else None
    kw = node.kwargs
    if (
        x is None
        or set(kw) - {"dtype", "layout", "device", "memory_format"}
        or not isinstance(node.args[0], fx.Node)
    ):
        return None
    same_dtype = kw.get("dtype") in (None, x.dtype)
    device: Any = kw.get("device")
    same_device = device is None or torch.device(device) == x.device
    if not (same_dtype and same_device and kw.get("layout") in (None, torch.strided)):
        return None
    fmt: Any = kw.get("memory_format")
    if fmt in (None, torch.preserve_format):
        return node.args[0]
    strided = _strides(node.args[0])
    if strided is None:
        return None
    if strided.is_contiguous(memory_format=fmt):
        return node.args[0]
    return call(graph, node, aten._to_copy.default, (node.args[0],), **kw)


def _split(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # split(x, size, dim=0) -> split_with_sizes(x, [size, ..., remainder], dim)
    x = _tensor(node.args[0])
    if (
        node.kwargs
        or x is None
        or len(node.args) not in (2, 3)
        or not isinstance(node.args[1], int)
    ):
        return None
    dim = node.args[2] if len(node.args) == 3 else 0
    length, size = x.shape[_int(dim)], _int(node.args[1])
    if not isinstance(length, int) or size <= 0:
        return None
    sizes = [size] * (length // size) + ([length % size] if length % size else [])
    return call(graph, node, aten.split_with_sizes.default, (node.args[0], sizes, dim))


def _where_scalar_other(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # where(cond, self, other: Scalar) -> where(cond, self, scalar_tensor(other))
    x = _tensor(node.args[1]) if len(node.args) == 3 else None
    other = node.args[2] if x is not None else None
    if node.kwargs or x is None or not x.is_floating_point() or not isinstance(other, int | float):
        return None
    scalar = call(
        graph,
        node,
        aten.scalar_tensor.default,
        (other,),
        dtype=x.dtype,
        layout=torch.strided,
        device=x.device,
    )
    return call(graph, node, aten.where.self, (node.args[0], node.args[1], scalar))


def _arange(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # arange(end, *, dtype, layout, device, pin_memory) -> arange.start_step(0, end, ...)
    if len(node.args) != 1 or not isinstance(node.args[0], int):
        return None
    kwargs = dict(node.kwargs)
    if kwargs.get("layout") is None:
        kwargs["layout"] = torch.strided
    return call(graph, node, aten.arange.start_step, (0, node.args[0]), **kwargs)


def _new_filled(fill: int) -> Rule:
    def rule(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
        # new_ones / new_zeros(x, size, *, dtype, layout, device, pin_memory) -> full(size, fill)
        x = _tensor(node.args[0])
        if x is None or len(node.args) != 2 or not _static(_arg(node, 1)):
            return None
        kw = dict(node.kwargs)
        dtype = kw.get("dtype") or x.dtype
        kwargs = {
            "dtype": dtype,
            "layout": kw.get("layout") or torch.strided,
            "device": kw.get("device") or x.device,
            "pin_memory": kw.get("pin_memory", False),
        }
        value = bool(fill) if dtype == torch.bool else fill
        return call(graph, node, aten.full.default, (list(_arg(node, 1)), value), **kwargs)

    return rule


def _relu6_of_shift(graph: fx.Graph, node: fx.Node) -> fx.Node:
    """``clamp(clamp(x + 3, 0), None, 6)``, the common part of hardsigmoid and hardswish."""
    shifted = call(graph, node, aten.add.Tensor, (node.args[0], 3))
    low = call(graph, node, aten.clamp.default, (shifted, 0))
    return call(graph, node, aten.clamp.default, (low, None, 6))


def _hardsigmoid(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # hardsigmoid(x) = clamp(x + 3, 0, 6) / 6, as torch's decomposition writes it.
    x = _tensor(node.args[0]) if len(node.args) == 1 else None
    if node.kwargs or x is None or not x.is_floating_point():
        return None
    return call(graph, node, aten.div.Tensor, (_relu6_of_shift(graph, node), 6))


def _hardswish(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    # hardswish(x) = x * clamp(x + 3, 0, 6) / 6, as torch's decomposition writes it.
    x = _tensor(node.args[0]) if len(node.args) == 1 else None
    if node.kwargs or x is None or not x.is_floating_point():
        return None
    product = call(graph, node, aten.mul.Tensor, (node.args[0], _relu6_of_shift(graph, node)))
    return call(graph, node, aten.div.Tensor, (product, 6))


def _renamed(op: Any) -> Rule:
    def rule(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
        return call(graph, node, op, tuple(node.args), **node.kwargs)

    return rule


# --- in-place ops --------------------------------------------------------------------------------


def _fresh(x: Any) -> bool:
    """``x`` holds its own storage: the output of a functional op that returns a new tensor."""
    if not isinstance(x, fx.Node) or x.op != "call_function":
        return False
    target = x.target
    if target is operator.getitem:
        return _fresh(x.args[0])
    if not isinstance(target, torch._ops.OpOverload) or target._schema.is_mutable:
        return False
    return all(r.alias_info is None for r in target._schema.returns)


def _is_view(node: fx.Node) -> bool:
    target = node.target
    if not isinstance(target, torch._ops.OpOverload):
        return target is not operator.getitem and node.op == "call_function"
    return any(r.alias_info is not None for r in target._schema.returns)


def _functional(op: torch._ops.OpOverload) -> Any:
    """The out-of-place twin of an in-place op (``relu_`` -> ``relu``), or None."""
    name = op._schema.name.split("::")[-1]
    if not name.endswith("_") or name.startswith("_"):
        return None
    packet = getattr(aten, name[:-1], None)
    return getattr(packet, op._overloadname, None) if packet is not None else None


def _in_place(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
    """``op_(x, ...)`` on a fresh, unaliased ``x`` -> ``op(x, ...)``; later readers of ``x`` read
    the new value (what functionalization does)."""
    op = node.target
    assert isinstance(op, torch._ops.OpOverload)
    twin = _functional(op)
    x = node.args[0] if node.args else None
    schema = op._schema
    writes = [a for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write]
    if twin is None or not isinstance(x, fx.Node) or writes != [schema.arguments[0]]:
        return None
    if not _fresh(x):
        return None  # an input, a parameter or a view: a real side effect
    order = {n: i for i, n in enumerate(graph.nodes)}
    here = order[node]
    if any(_is_view(u) and order[u] < here for u in x.users):
        return None  # a view taken before the mutation would see it
    new = call(graph, node, twin, tuple(node.args), **node.kwargs)
    x.replace_all_uses_with(new, delete_user_cb=lambda u: order.get(u, -1) > here)
    return new


RULES: dict[Any, Rule] = {
    aten.conv1d.default: _conv_nd(1),
    aten.conv2d.default: _conv_nd(2),
    aten.conv3d.default: _conv_nd(3),
    aten.batch_norm.default: _batch_norm,
    aten.max_pool2d.default: _max_pool2d,
    aten.adaptive_avg_pool2d.default: _adaptive_avg_pool2d,
    aten.reshape.default: _reshape,
    aten.flatten.using_ints: _flatten,
    aten.unflatten.int: _computed_view,
    aten.transpose.int: _transpose,
    aten.t.default: _t,
    aten.contiguous.default: _contiguous,
    aten.squeeze.dim: _squeeze_dim,
    aten.to.dtype: _to_dtype,
    aten.dropout.default: _dropout,
    aten.dropout_.default: _dropout,
    aten.to.device: _to_device,
    aten.to.dtype_layout: _to_dtype_layout,
    aten.split.Tensor: _split,
    aten.where.ScalarOther: _where_scalar_other,
    aten.min.other: _renamed(aten.minimum.default),
    aten.arange.default: _arange,
    aten.new_ones.default: _new_filled(1),
    aten.new_zeros.default: _new_filled(0),
    aten.__and__.Tensor: _renamed(aten.bitwise_and.Tensor),
    aten.hardsigmoid.default: _hardsigmoid,
    aten.hardswish.default: _hardswish,
    aten.hardswish_.default: _in_place,
    aten.relu_.default: _in_place,
    aten.add_.Tensor: _in_place,
    aten.silu_.default: _in_place,
    aten.mul_.Tensor: _in_place,
    aten.sub_.Tensor: _in_place,
}
