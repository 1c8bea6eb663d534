"""Lower stage: core ATen (minus the ops we convert whole) and cleanup passes.

Every pass is a plain ``verb_noun(gm) -> gm`` function.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import torch
from torch import fx
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols, statically_known_true

from torch_trt.dynamo.decompose import decompose
from torch_trt.dynamo.decompositions import extra_decompositions
from torch_trt.dynamo.rnn_shapes import rnn_shape_rules
from torch_trt.dynamo.shapes import always_holds, counted_ranges

aten = torch.ops.aten

# High-level ops we convert whole: decomposing them would scatter one TensorRT layer (or a
# fused pattern TensorRT recognises) into many small ops.
KEEP_WHOLE: tuple[torch._ops.OpOverload, ...] = (
    aten.linear.default,
    aten.layer_norm.default,
    aten.softmax.int,
    aten.log_softmax.int,
    aten.gelu.default,
    aten.scaled_dot_product_attention.default,
    aten._scaled_dot_product_flash_attention_for_cpu.default,  # one IAttention, not ~25 ops
    aten.upsample_nearest2d.vec,
    aten.upsample_bilinear2d.vec,
    aten.upsample_nearest2d.default,
    aten.upsample_bilinear2d.default,
    # One IResizeLayer each instead of index gathers and weighted sums.
    aten.upsample_nearest1d.vec,
    aten.upsample_nearest1d.default,
    aten.upsample_nearest3d.vec,
    aten.upsample_nearest3d.default,
    aten._upsample_nearest_exact1d.vec,
    aten._upsample_nearest_exact1d.default,
    aten._upsample_nearest_exact2d.vec,
    aten._upsample_nearest_exact2d.default,
    aten._upsample_nearest_exact3d.vec,
    aten._upsample_nearest_exact3d.default,
    aten.upsample_linear1d.vec,
    aten.upsample_linear1d.default,
    aten.upsample_trilinear3d.vec,
    aten.upsample_trilinear3d.default,
    aten.upsample_bicubic2d.vec,
    aten.upsample_bicubic2d.default,
    aten.silu.default,
    aten.hardtanh.default,
    # One ISliceLayer each (REFLECT / CLAMP sample modes) instead of a chain of gathers.
    aten.reflection_pad1d.default,
    aten.reflection_pad2d.default,
    aten.reflection_pad3d.default,
    aten.replication_pad1d.default,
    aten.replication_pad2d.default,
    aten.replication_pad3d.default,
    aten._pad_circular.default,  # one WRAP-mode slice instead of slices and slice_scatters
    # One TensorRT loop per layer instead of the per-time-step unrolling (convert/ops/recurrent).
    aten.lstm.input,
    aten.gru.input,
    aten.rnn_tanh.input,
    aten.rnn_relu.input,
)

# Nodes that do nothing in an inference graph whose value is their first argument.
_PASS_THROUGH = {aten.detach.default, aten.alias.default, aten.lift_fresh_copy.default}
# Nodes with no value to keep: runtime asserts on input shapes (the input guard checks those)
# and on data-dependent sizes that hold for any data (see ``_needed_assertion``).
_DROP = {
    aten._assert_async.msg,
    aten._assert_async.default,
    aten._assert_scalar.default,
    aten._assert_tensor_metadata.default,
    aten.sym_constrain_range.default,
    aten.sym_constrain_range_for_size.default,
}


def decomposition_table() -> dict[Any, Any]:
    """torch.export's core-ATen table without the ops in :data:`KEEP_WHOLE`, plus the
    third-party ops we decompose (:mod:`torch_trt.dynamo.decompositions`)."""
    table: dict[Any, Any] = dict(torch.export.default_decompositions().items())  # type: ignore[no-untyped-call]
    for op in KEEP_WHOLE:
        table.pop(op, None)
    table.update(extra_decompositions())
    return table


def lower(ep: torch.export.ExportedProgram) -> fx.GraphModule:
    """Decompose, unlift parameters into ``get_attr`` nodes, clean up and fold constants.

    Only the nodes that need it are decomposed (:mod:`torch_trt.dynamo.decompose`); the graph is
    the one a full ``run_decompositions`` retrace gives.
    """
    with rnn_shape_rules():  # RNNs stay whole with a symbolic sequence dim
        gm = decompose(ep, decomposition_table())
    return clean_up(gm)


def clean_up(gm: fx.GraphModule) -> fx.GraphModule:
    """The cleanup passes every frontend runs on its decomposed graph (no-ops, then folding)."""
    gm = remove_noops(gm)
    gm = fold_constants(gm)
    return gm


def remove_noops(gm: fx.GraphModule) -> fx.GraphModule:
    """Drop asserts and bypass detach/alias nodes.

    Before: ``y = aten.detach(x); aten._assert_async(c); z = aten.relu(y)``
    After:  ``z = aten.relu(x)``

    An assertion on a data-dependent size (``torch._check(mask.sum() > 2)``-like, on the length of
    ``x[mask]``) stays, and runs in PyTorch after the engine that makes the size, unless it holds
    for any data (``0 <= len(x[mask]) <= x.numel()``, which torch.export adds for every such op).

    A functional ``aten.copy(state, y)`` into an input or buffer, with ``y`` of its shape and
    dtype, is ``y``.
    """
    counted = counted_ranges(gm)
    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        if node.target in _DROP and not node.users and not _needed_assertion(node, counted):
            gm.graph.erase_node(node)
        elif node.target in _PASS_THROUGH:
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
        elif _is_plain_copy(node):  # copy(x, y) of y's own shape and dtype is y
            node.replace_all_uses_with(node.args[1])
            gm.graph.erase_node(node)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


def _needed_assertion(node: fx.Node, counted: Mapping[Any, Any]) -> bool:
    """Whether an assertion node checks a data-dependent size that the data can violate."""
    if node.target is aten._assert_scalar.default:
        cond = node.args[0].meta.get("val") if isinstance(node.args[0], fx.Node) else None
        return (
            isinstance(cond, torch.SymBool)
            and bool(free_unbacked_symbols(cond))
            and not always_holds(cond, counted)
        )
    if node.target in (aten.sym_constrain_range.default, aten.sym_constrain_range_for_size.default):
        size = node.args[0].meta.get("val") if isinstance(node.args[0], fx.Node) else None
        if not isinstance(size, torch.SymInt) or not free_unbacked_symbols(size):
            return False
        vr = counted.get(size.node.expr)
        lo = node.kwargs.get("min")
        hi = node.kwargs.get("max")
        if vr is None:
            return True
        return not ((lo is None or vr.lower >= lo) and (hi is None or vr.upper <= hi))
    return False


def _is_plain_copy(node: fx.Node) -> bool:
    """``aten.copy(state, src)`` of an input or buffer whose value is ``src`` itself: same
    shape, dtype and device (what functionalization makes of ``state.copy_(src)``; the
    write-back stays a ``copy_``). Dropping it lets an in-place cache update be the value the
    engine outputs."""
    if node.target is not aten.copy.default or len(node.args) < 2:
        return False
    state = node.args[0]
    if not isinstance(state, fx.Node) or state.op not in ("placeholder", "get_attr"):
        return False  # only the functional form of writing an input or a buffer
    a, b = (n.meta.get("val") if isinstance(n, fx.Node) else None for n in node.args[:2])
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return False
    same = a.dim() == b.dim() and all(
        statically_known_true(x == y) for x, y in zip(a.shape, b.shape, strict=True)
    )
    return same and a.dtype == b.dtype and a.device == b.device


def mutated_attrs(gm: fx.GraphModule) -> set[str]:
    """Targets of the ``get_attr`` nodes (buffers, parameters) that the program writes to.

    torch.export turns an in-place update of a buffer into a functional computation plus an
    ``aten.copy_(buffer, new_value)`` at the end of the unlifted graph; any other op with a
    mutable schema argument counts too. Such attributes are state, never constants.
    """
    mutated: set[str] = set()
    for node in gm.graph.nodes:
        if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
            continue
        schema = node.target._schema
        for i, arg in enumerate(schema.arguments):
            if arg.alias_info is None or not arg.alias_info.is_write:
                continue
            value = node.args[i] if i < len(node.args) else node.kwargs.get(arg.name)
            for v in value if isinstance(value, list | tuple) else [value]:
                if isinstance(v, fx.Node) and v.op == "get_attr":
                    mutated.add(str(v.target))
    return mutated


def _is_foldable(node: fx.Node, constant: set[fx.Node]) -> bool:
    if node.op != "call_function":
        return False
    target = node.target
    if isinstance(target, torch._ops.OpOverload) and (
        torch.Tag.nondeterministic_seeded in target.tags or target._schema.is_mutable
    ):
        return False
    if not (isinstance(target, torch._ops.OpOverload) or target is operator.getitem):
        return False
    return all(n in constant for n in node.all_input_nodes)


# Folding must not turn a cheap broadcast (zeros(4096, 4096), expand) into a large stored
# constant: fold only results no bigger than this, or than twice their largest input.
FOLD_MAX_ELEMENTS = 1 << 16


def _small_enough(node: fx.Node) -> bool:
    val = node.meta.get("val")
    outs = val if isinstance(val, list | tuple) else [val]
    out = sum(t.numel() for t in outs if isinstance(t, torch.Tensor))
    biggest = max(
        (
            n.meta["val"].numel()
            for n in node.all_input_nodes
            if isinstance(n.meta.get("val"), torch.Tensor)
        ),
        default=0,
    )
    return out <= max(FOLD_MAX_ELEMENTS, 2 * biggest)


def fold_constants(gm: fx.GraphModule) -> fx.GraphModule:
    """Evaluate nodes that depend only on weights and constants; store results as buffers.

    Before: ``w = get_attr(weight); wt = aten.permute(w, [1, 0]); y = aten.mm(x, wt)``
    After:  ``wt = get_attr(_folded_0); y = aten.mm(x, wt)``

    Attributes the program mutates (:func:`mutated_attrs`) are state: neither they nor anything
    computed from them is folded.
    """
    values: dict[fx.Node, Any] = {}
    constant: set[fx.Node] = set()
    state = mutated_attrs(gm)
    for node in gm.graph.nodes:
        if node.op == "get_attr" and str(node.target) not in state:
            values[node] = _fetch(gm, str(node.target))
            constant.add(node)
        elif _is_foldable(node, constant) and _small_enough(node):
            args, kwargs = fx.node.map_arg((node.args, node.kwargs), lambda n: values[n])
            with torch.no_grad():
                values[node] = node.target(*args, **kwargs)
            constant.add(node)
    count = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node not in constant or not node.users:
            continue
        value = values[node]
        if not isinstance(value, torch.Tensor):
            continue
        if all(u in constant for u in node.users):
            continue  # an inner node of a folded chain: only its frontier is stored
        name = f"_folded_{count}"
        count += 1
        gm.register_buffer(name, value.detach().clone())
        with gm.graph.inserting_before(node):
            attr = gm.graph.get_attr(name)
        attr.meta = dict(node.meta)
        node.replace_all_uses_with(attr)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


def _fetch(gm: fx.GraphModule, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj
