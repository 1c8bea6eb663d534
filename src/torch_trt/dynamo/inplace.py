"""Assemble pass: engines that update state in place write it directly, with no copy per call.

An engine with an ``IKVCacheUpdateLayer`` writes its cache input in place (TensorRT binds the
layer's output to the input's memory). ``execute_engine`` is functional, so it runs such an
engine on a copy of the cache and the graph writes the result back with ``copy_``: two copies
of the whole cache per call. When the only use of the in-place output is that write-back into
the very tensor the engine read, the two cancel: the call becomes
``execute_engine_inplace``, which binds the caller's tensor, and the ``copy_`` goes.

Anything else keeps the functional call (still correct, one copy per call): an in-place output
used by other nodes, written back elsewhere or not at all, or a state tensor read by a node that
runs after the engine (it would see the new value where the program read the old one).
"""

from __future__ import annotations

import operator

import torch
from torch import fx

from torch_trt.report import REPORT_KEY, Report
from torch_trt.runtime.op import parse_metadata

EXECUTE = torch.ops.torch_trt.execute_engine.default
EXECUTE_INPLACE = torch.ops.torch_trt.execute_engine_inplace.default
_COPY = torch.ops.aten.copy_.default


def _write_backs(
    node: fx.Node, inputs: list[fx.Node], aliased: dict[int, int]
) -> list[fx.Node] | None:
    """The ``copy_`` node writing each aliased output back into its input, or ``None`` when
    some aliased output is used otherwise (then the engine must not write in place)."""
    items = {u.args[1]: u for u in node.users if u.target is operator.getitem}
    if len(items) != len(node.users):
        return None
    order = {n: k for k, n in enumerate(node.graph.nodes)}
    copies = []
    for j, i in aliased.items():
        item, state = items.get(j), inputs[i]
        users = list(item.users) if item is not None else []
        if item is None or len(users) != 1:
            return None
        copy = users[0]
        if copy.target is not _COPY or copy.args[:2] != (state, item) or copy.users:
            return None
        # Every reader of the state (get_attr may appear more than once) must run before the
        # engine, which changes it: a later one would see the new value.
        aliases = [n for n in order if n.op == state.op and n.target == state.target]
        readers = [u for n in aliases for u in n.users if u is not copy]
        if inputs.count(state) != 1 or any(order[u] > order[node] for u in readers):
            return None
        copies.append(copy)
    return copies


def update_state_in_place(gm: fx.GraphModule) -> fx.GraphModule:
    """Make engine calls update their state in place where the graph allows it.

    Before: ``out = execute_engine([x, cache], e, r, m); new = out[0]; y = out[1];
    copy_(cache, new)``
    After:  ``out = execute_engine_inplace([x], [cache], e, r, m); y = out[0]``

    The report (``gm.meta``) places the removed ``copy_`` nodes in the engine.
    """
    report = gm.meta.get(REPORT_KEY)
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target is not EXECUTE:
            continue
        inputs, engine, ref, metadata = node.args
        meta = parse_metadata(metadata)
        aliased = meta.aliased_inputs()
        copies = _write_backs(node, list(inputs), aliased) if aliased else None
        if not copies:
            continue
        targets = [aliased[j] for j in aliased]
        state = [inputs[i] for i in targets]
        rest = [t for i, t in enumerate(inputs) if i not in targets]
        with gm.graph.inserting_before(node):
            new = gm.graph.call_function(EXECUTE_INPLACE, (rest, state, engine, ref, metadata))
        kept = [j for j in range(len(meta.outputs)) if j not in aliased]
        new.meta["val"] = [node.meta["val"][j] for j in kept]
        for copy in copies:
            _place_in_engine(report, copy.name, str(node.name))
            item = copy.args[1]
            assert isinstance(item, fx.Node)
            gm.graph.erase_node(copy)
            gm.graph.erase_node(item)
        for item in list(node.users):
            item.args = (new, kept.index(item.args[1]))
        name = node.name
        gm.graph.erase_node(node)
        new.name = name
    gm.graph.lint()
    gm.recompile()
    return gm


def _place_in_engine(report: object, node: str, engine: str) -> None:
    if not isinstance(report, Report):
        return
    for p in report.placements:
        if p.node == node:
            p.engine, p.reason, p.detail = engine, None, "written in place by the engine"
