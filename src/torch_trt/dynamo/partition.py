"""Partition stage: split the lowered graph into TensorRT regions and PyTorch nodes.

Support is decided by the converter registry alone (:func:`registry.support`). Supported nodes
are grouped into the largest acyclic regions; regions with fewer than ``min_block_size`` compute
nodes stay in PyTorch. Each TensorRT region becomes a submodule ``trt_<k>`` called from the
parent graph; every node gets a placement with a reason in the report.

Data-dependent sizes (``nonzero``, ``x[mask]``) may be made and used inside an engine and may
leave it as outputs, but never enter one: an engine input needs an optimization profile, and no
profile bounds a size computed from data. A node reading such a tensor from PyTorch (or from
another engine) stays in PyTorch.
"""

from __future__ import annotations

import dataclasses
import logging
import operator
from collections.abc import Mapping

import torch
from torch import fx
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.infra.partitioner import Partition as _Proposed
from torch.fx.passes.operator_support import OperatorSupportBase
from torch.fx.passes.utils.fuser_utils import fuse_by_partitions

from torch_trt.convert import registry
from torch_trt.convert.registry import Reason
from torch_trt.dynamo.lower import mutated_attrs
from torch_trt.dynamo.precision import CAST_KEY
from torch_trt.errors import UnsupportedOperatorError
from torch_trt.report import NodePlacement
from torch_trt.settings import CompileSettings, op_name

PREFIX = "trt_"
log = logging.getLogger("torch_trt")


@dataclasses.dataclass
class Partition:
    """The partitioned module, its TensorRT region names and every node's placement."""

    gm: fx.GraphModule
    regions: list[str]
    placements: dict[str, NodePlacement]


def _is_compute(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target is not operator.getitem


def _is_size(node: fx.Node) -> bool:
    """A node whose value is a size (SymInt/int), not a tensor."""
    return node.op == "call_function" and isinstance(node.meta.get("val"), torch.SymInt | int)


def duplicate_size_nodes(gm: fx.GraphModule) -> fx.GraphModule:
    """Give every user of a size node its own copy, so sizes never cross an engine boundary.

    Before: ``s = sym_size(x, 0); a = view(x, [s, -1]); b = torch_op(s)``
    After:  ``s = sym_size(x, 0); s_1 = sym_size(x, 0); a = view(x, [s, -1]); b = torch_op(s_1)``
    """
    for node in reversed(list(gm.graph.nodes)):
        if not _is_size(node):
            continue
        for user in list(node.users)[1:]:
            with gm.graph.inserting_before(node):
                copy = gm.graph.node_copy(node)
            copy.meta = dict(node.meta)
            user.replace_input_with(node, copy)
    gm.graph.lint()
    gm.recompile()
    return gm


def _source(node: fx.Node) -> fx.Node:
    """The node that computes ``node``'s value (a ``getitem`` reads a multi-output node)."""
    while node.target is operator.getitem and isinstance(node.args[0], fx.Node):
        node = node.args[0]
    return node


def _data_dependent(node: fx.Node) -> bool:
    """Whether ``node``'s value is a tensor (or a size) with a data-dependent size."""
    val = node.meta.get("val")
    vals = val if isinstance(val, list | tuple) else [val]
    return any(
        isinstance(v, torch.Tensor | torch.SymInt) and bool(free_unbacked_symbols(v)) for v in vals
    )


_DD_ENTRY = "takes a data-dependent size computed in PyTorch (an engine input needs a profile)"


def _attach_sizes(verdicts: dict[fx.Node, registry.Support]) -> None:
    """A size node goes with its (single) user; a node taking a size from PyTorch stays there,
    and so does a node reading a tensor of data-dependent size made in PyTorch.

    Iterates to a fixed point because refusing one node can refuse its neighbours.
    """
    changed = True
    while changed:
        changed = False
        for node, v in verdicts.items():
            if not v.supported:
                continue
            if any(
                _data_dependent(i) and not verdicts.get(_source(i), _NO).supported
                for i in node.all_input_nodes
            ):
                verdicts[node] = registry.Support(False, Reason.UNSUPPORTED_ARGUMENTS, _DD_ENTRY)
                changed = True
            elif _is_size(node) and any(not verdicts.get(u, _NO).supported for u in node.users):
                verdicts[node] = registry.Support(
                    False, Reason.UNSUPPORTED_ARGUMENTS, "size used by a node in PyTorch"
                )
                changed = True
            elif any(_is_size(i) and not verdicts[i].supported for i in node.all_input_nodes):
                verdicts[node] = registry.Support(
                    False, Reason.UNSUPPORTED_ARGUMENTS, "takes a size computed in PyTorch"
                )
                changed = True


class _RegistrySupport(OperatorSupportBase):
    def __init__(self, verdicts: dict[fx.Node, registry.Support]) -> None:
        self.verdicts = verdicts

    def is_node_supported(self, submodules: object, node: fx.Node) -> bool:
        if node.op != "call_function":
            return False
        if node.target is operator.getitem:
            src = node.args[0]
            return isinstance(src, fx.Node) and self.verdicts.get(src, _NO).supported
        return self.verdicts[node].supported


_NO = registry.Support(False)


def is_write_back(node: fx.Node) -> bool:
    """``copy_(state, value)`` that torch.export adds to write a mutated input or buffer back:
    it runs after the engines (or the engine writes the state in place, dynamo/inplace.py), so
    it does not keep a graph from full compilation."""
    target = node.args[0] if node.args else None
    return (
        node.target is torch.ops.aten.copy_.default
        and isinstance(target, fx.Node)
        and target.op in ("placeholder", "get_attr")
        and not node.users
    )


_WRITE_BACK = registry.Support(
    False, Reason.NO_CONVERTER, "writes mutated state back after the engine (a copy per call)"
)


# The float64 boundary casts of truncate_double run in PyTorch by design (TensorRT has no
# float64); require_full_compilation does not count them.
_BOUNDARY = registry.Support(
    False,
    Reason.UNSUPPORTED_ARGUMENTS,
    "float64 boundary cast of truncate_double (TensorRT has no float64; the engine computes "
    "in float32)",
)


def _verdicts(
    gm: fx.GraphModule, settings: CompileSettings, refused: Mapping[str, str]
) -> dict[fx.Node, registry.Support]:
    verdicts = {
        n: (
            registry.Support(False, Reason.CONVERSION_FAILED, refused[n.name])
            if n.name in refused
            else _WRITE_BACK
            if is_write_back(n)
            else _BOUNDARY
            if n.meta.get(CAST_KEY) == "truncate_double"
            else registry.support(n, settings)
        )
        for n in gm.graph.nodes
        if _is_compute(n)
    }
    _warn_unused_exclusions(verdicts, settings)
    _attach_sizes(verdicts)
    bad = [
        (n, v)
        for n, v in verdicts.items()
        if not v.supported and not is_write_back(n) and v is not _BOUNDARY
    ]
    if settings.require_full_compilation and bad:
        lines = [
            f"  {n.name} ({op_name(n.target)}): {v.reason.value if v.reason else '?'}: {v.detail}"
            for n, v in bad
        ]
        raise UnsupportedOperatorError(
            f"require_full_compilation=True but {len(bad)} node(s) cannot run in TensorRT:\n"
            + "\n".join(lines)
            + "\nRemove require_full_compilation to run them in PyTorch."
        )
    return verdicts


def _own_get_attrs(gm: fx.GraphModule, nodes: set[fx.Node], state: set[str]) -> None:
    """Give the region its own ``get_attr`` nodes so weights stay constants inside it; mutated
    attributes (``state``) stay outside and enter the engine as inputs, read at each call."""
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    for node in sorted(nodes, key=order.__getitem__):  # graph order: the same in every process
        for inp in node.all_input_nodes:
            if inp.op != "get_attr" or inp in nodes or str(inp.target) in state:
                continue
            if all(u in nodes for u in inp.users):
                nodes.add(inp)
                continue
            with gm.graph.inserting_before(node):
                copy = gm.graph.get_attr(str(inp.target))
            copy.meta = dict(inp.meta)
            node.replace_input_with(inp, copy)
            nodes.add(copy)


def _warn_unused_exclusions(
    verdicts: Mapping[fx.Node, registry.Support], settings: CompileSettings
) -> None:
    """A ``torch_executed_ops`` entry that matches no node of the graph is said, not ignored."""
    ops = {op_name(n.target) for n in verdicts}
    for entry in sorted(settings.torch_executed_ops):
        if not any(op == entry or op.rsplit(".", 1)[0] == entry for op in ops):
            log.warning(
                "torch-trt: torch_executed_ops entry %r matches no node of the graph after "
                "lowering (it may have been decomposed into other ops); it has no effect",
                entry,
            )


def _propose(
    gm: fx.GraphModule, verdicts: dict[fx.Node, registry.Support], settings: CompileSettings
) -> tuple[list[set[fx.Node]], list[tuple[set[fx.Node], int]]]:
    """Regions to build, and the ones too small (with their size), for the current verdicts.

    A data-dependent tensor crossing into a kept region from outside it (a too-small region,
    another region) refuses its reader, and the proposal is made again.
    """
    while True:
        proposed: list[_Proposed] = CapabilityBasedPartitioner(
            gm, _RegistrySupport(verdicts), allows_single_node_partition=True
        ).propose_partitions()
        regions: list[set[fx.Node]] = []
        small: list[tuple[set[fx.Node], int]] = []
        for part in proposed:
            nodes = set(part.nodes)
            size = sum(1 for n in nodes if _is_compute(n) and not _is_size(n))
            if size < settings.min_block_size and not settings.require_full_compilation:
                small.append((nodes, size))
            else:
                regions.append(nodes)
        entering = [
            n
            for nodes in regions
            for n in nodes
            if _is_compute(n)
            and any(_data_dependent(i) and _source(i) not in nodes for i in n.all_input_nodes)
        ]
        if not entering:
            return regions, small
        for n in entering:
            verdicts[n] = registry.Support(False, Reason.UNSUPPORTED_ARGUMENTS, _DD_ENTRY)
        _attach_sizes(verdicts)


def partition(
    gm: fx.GraphModule, settings: CompileSettings, refused: Mapping[str, str] | None = None
) -> Partition:
    """Split ``gm`` into ``trt_<k>`` submodules and PyTorch nodes; record placements.

    ``refused`` maps node names whose conversion failed to the reason: they stay in PyTorch.
    """
    gm = duplicate_size_nodes(gm)
    verdicts = _verdicts(gm, settings, refused or {})
    regions, small = _propose(gm, verdicts, settings)
    placements = {
        n.name: NodePlacement(n.name, op_name(n.target), None, v.reason, v.detail)
        for n, v in verdicts.items()
    }
    for nodes, size in small:
        for n in nodes:
            if _is_compute(n):
                placements[n.name].reason = Reason.BLOCK_TOO_SMALL
                placements[
                    n.name
                ].detail = f"region of {size} node(s) < min_block_size={settings.min_block_size}"
    names: list[str] = []
    state = mutated_attrs(gm)
    for k, nodes in enumerate(regions):
        _own_get_attrs(gm, nodes, state)
        for n in nodes:
            if _is_compute(n):
                placements[n.name].engine = f"{PREFIX}{k}"
                placements[n.name].reason = None
                placements[n.name].detail = ""
        names.append(f"{PREFIX}{k}")
    if regions:
        # Regions are sets: hand them over in graph order, so the engines' inputs and outputs
        # come in the same order in every process (reproducible engines and cache keys).
        order = {n: i for i, n in enumerate(gm.graph.nodes)}
        ordered = [dict.fromkeys(sorted(r, key=order.__getitem__)) for r in regions]
        gm = fuse_by_partitions(gm, ordered, prefix=PREFIX, always_return_tuple=True)
    return Partition(gm, names, placements)
