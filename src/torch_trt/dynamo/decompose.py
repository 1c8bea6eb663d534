"""Selective decomposition: rewrite only the nodes that need it, without retracing the program.

``torch.export`` hands over a training-IR program (``conv2d``, ``batch_norm``, in-place
``relu_``, ...). ``ExportedProgram.run_decompositions`` would bring it to core ATen by retracing
every node, which dominates lowering time even when most nodes are already final. Here each node
is looked at once:

* *final* nodes (functional core ATen not in the decomposition table, ops kept whole,
  ``getitem`` and SymInt arithmetic) stay as they are;
* nodes with a rule in :data:`REWRITES` are replaced in place by exactly what the retrace would
  produce (``conv2d`` -> ``convolution``; ``batch_norm`` -> ``_native_batch_norm_legit_no_training``
  and ``getitem``; an in-place op on a fresh, unaliased value -> its functional twin; eval
  ``dropout`` -> nothing; ...);
* any other node (no rule, a higher-order op, a mutation of an input or of an aliased value, a
  rule whose conditions do not hold), and any dynamic input shape, make :func:`decompose` fall
  back to the full retrace.

So the result is the retrace's graph (tests compare both on whole models); only the time differs.
A rule reads node metadata only and returns ``None`` to refuse; the output metadata of every new
node is recomputed with the program's fake tensors and must agree with the old node's.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Mapping
from typing import Any

import torch
from torch import fx

from torch_trt.dynamo.decompose_composites import COMPOSITE_RULES
from torch_trt.dynamo.decompose_rules import RULES, UNCERTAIN, Refused, Rule, value

aten = torch.ops.aten
log = logging.getLogger("torch_trt")


def decompose(ep: torch.export.ExportedProgram, table: Mapping[Any, Any]) -> fx.GraphModule:
    """``ep`` as a graph module in core ATen minus the ops kept whole (those absent from
    ``table``), with parameters as ``get_attr`` nodes; equal to
    ``ep.run_decompositions(table).module()``.

    Example:
        >>> gm = decompose(torch.export.export(model, (x,)), decomposition_table())
    """
    if _plan(ep.graph, table):
        gm = ep.module()
        assert isinstance(gm, fx.GraphModule)
        with torch.no_grad():  # as the retrace, which picks kernels (attention's) for inference
            if _rewrite(gm, table):
                return gm
    gm = ep.run_decompositions(dict(table)).module()
    assert isinstance(gm, fx.GraphModule)
    return gm


# --- deciding -----------------------------------------------------------------------------------


def _is_cia(op: torch._ops.OpOverload) -> bool:
    """The op decomposes through its CompositeImplicitAutograd kernel unless kept whole."""
    name: str = op._schema.name
    if op._overloadname != "default":
        name = f"{name}.{op._overloadname}"
    return torch._C._dispatch_has_kernel_for_dispatch_key(
        name, torch._C.DispatchKey.CompositeImplicitAutograd
    )


def needs_decomposition(node: fx.Node, table: Mapping[Any, Any]) -> bool:
    """Whether the retrace would change ``node`` (decompose or functionalize it)."""
    target = node.target
    if target is operator.getitem or node.op != "call_function":
        return False
    if not isinstance(target, torch._ops.OpOverload):
        return not _is_sym_op(target)
    if target in table or target._schema.is_mutable:
        return True
    return _is_cia(target) and not _kept_whole(target, table)


def _kept_whole(op: torch._ops.OpOverload, table: Mapping[Any, Any]) -> bool:
    from torch_trt.dynamo.lower import KEEP_WHOLE

    return op in KEEP_WHOLE and op not in table


def _is_sym_op(target: Any) -> bool:
    from torch_trt.convert.registry import SYM_OPS

    return target in SYM_OPS or target in (operator.truediv, operator.ge, operator.le)


def _plan(graph: fx.Graph, table: Mapping[Any, Any]) -> bool:
    """Cheap pre-check on the exported graph: static shapes, and every node is final or has a
    rule. (With symbolic sizes, running ops on the program's fake tensors could add facts to its
    shape environment, e.g. specialize a declared range; the retrace works on its own copy.)"""
    for node in graph.nodes:
        val = node.meta.get("val")
        dynamic = isinstance(val, torch.Tensor) and not all(isinstance(d, int) for d in val.shape)
        if node.op == "placeholder" and dynamic:
            return False
        if needs_decomposition(node, table) and node.target not in REWRITES:
            log.debug("torch-trt: %s needs the full decomposition retrace", node.target)
            return False
    return True


# --- rewriting ----------------------------------------------------------------------------------


def _rewrite(gm: fx.GraphModule, table: Mapping[Any, Any]) -> bool:
    """Apply the rules in graph order; False (graph left half-rewritten) when one refuses."""
    graph = gm.graph
    mode = _fake_mode(graph)
    for node in list(graph.nodes):
        if mode is not None and not _refresh(node, mode):
            log.debug("torch-trt: %s changed its value; full decomposition retrace", node.name)
            return False
        current = node
        while needs_decomposition(current, table):  # a rule's output may need a rule in turn
            rule = REWRITES.get(current.target)
            if rule is not None:
                with graph.inserting_before(current):
                    new = rule(graph, current)
            if rule is None or new is None:
                log.debug(
                    "torch-trt: no rule rewrites %s (%s); full decomposition retrace",
                    current.name,
                    current.target,
                )
                return False
            current.replace_all_uses_with(new)
            graph.erase_node(current)
            current = new
    for node in graph.nodes:
        node.meta.pop(UNCERTAIN, None)
    graph.eliminate_dead_code()
    gm.recompile()
    return True


def _fake_mode(graph: fx.Graph) -> Any:
    return torch._guards.detect_fake_mode(
        [n.meta.get("val") for n in graph.nodes if n.op == "placeholder"]
    )


def _refresh(node: fx.Node, mode: Any) -> bool:
    """Recompute a kept node's metadata from its (possibly rewritten) inputs, as the retrace
    would, since the view rules read strides; False when the value no longer agrees. Strides
    that cannot be known this way (see :data:`UNCERTAIN_STRIDES`) are marked, and the rules
    reading them refuse."""
    inherited = any(n.meta.get(UNCERTAIN) for n in node.all_input_nodes)
    restrided = node.target is aten.clone.default and (
        node.kwargs.get("memory_format") == torch.contiguous_format
    )
    if (inherited or node.target in UNCERTAIN_STRIDES) and not restrided:
        node.meta[UNCERTAIN] = True
    if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
        return True
    if node.target._schema.is_mutable or node.target in REWRITES:
        return True  # rewritten below, from fresh inputs
    args, kwargs = fx.node.map_arg((node.args, node.kwargs), value)
    try:
        with mode:
            val = node.target(*args, **kwargs)
    except Exception:
        return False
    if not _agree_any(node.meta.get("val"), val):
        return False
    node.meta["val"] = val
    return True


def _agree_any(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor | list | tuple):
        return _agree(a, b)
    return type(a) is type(b) or a is None


def _guarded(rule: Rule) -> Rule:
    """``rule`` refusing on :class:`Refused` and whenever the new value's shape or dtype differs
    from the old node's."""

    def run(graph: fx.Graph, node: fx.Node) -> fx.Node | None:
        try:
            new = rule(graph, node)
        except Refused:
            return None
        if new is None:
            return None
        return new if _agree(value(node), value(new)) else None

    return run


def _agree(a: Any, b: Any) -> bool:
    """Two metadata values (tensors or lists of tensors) of equal shapes and dtypes."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_agree(x, y) for x, y in zip(a, b, strict=True))
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return False
    return a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)


# Ops kept whole whose output strides fake-running them here would not reproduce. None today:
# attention's strides depend on the CPU kernel chosen inside its composite implementation (the
# flash kernel returns a (B, L, H, D) buffer viewed as (B, H, L, D)), which the rewrite picks as
# the retrace does by running without grad.
UNCERTAIN_STRIDES: frozenset[object] = frozenset()

REWRITES: dict[Any, Rule] = {op: _guarded(rule) for op, rule in (RULES | COMPOSITE_RULES).items()}
