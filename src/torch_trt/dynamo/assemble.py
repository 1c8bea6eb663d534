"""Assemble stage: replace each built ``trt_<k>`` submodule by an ``execute_engine`` call."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import torch
from torch import fx

from torch_trt import _trt
from torch_trt.build import Profile
from torch_trt.convert.interpreter import Network
from torch_trt.dynamo.shapes import dims_json
from torch_trt.portable import as_tensor
from torch_trt.runtime.engine import (
    ALIASES_FORMAT_VERSION,
    FORMAT_VERSION,
    Binding,
    EngineMetadata,
    build_targets,
)


@dataclasses.dataclass
class BuiltRegion:
    """A region whose engine was built: what assemble needs to splice it in."""

    name: str
    network: Network
    engine: bytes | bytearray | memoryview
    reference: bytes | bytearray | memoryview | None
    profile: Profile
    layers: dict[str, Any] | None = None  # layer census counts (convert/census.py)
    # (output, input) pairs written in place (in_place_outputs), read before the network is
    # released
    aliases: tuple[tuple[str, str], ...] = ()


def _binding(name: str, node: fx.Node, profile: Profile) -> Binding:
    val = node.meta["val"]
    return Binding(
        name,
        str(val.dtype).removeprefix("torch."),
        tuple(dims_json(val.shape)),
        profile.get(name),
    )


def region_io(sub: fx.GraphModule) -> tuple[list[fx.Node], list[fx.Node]]:
    """The region's placeholders and the nodes it outputs, in order."""
    placeholders = [n for n in sub.graph.nodes if n.op == "placeholder"]
    out_node = next(n for n in sub.graph.nodes if n.op == "output")
    outs = out_node.args[0]
    return placeholders, list(outs) if isinstance(outs, list | tuple) else [outs]


def metadata_for(region: BuiltRegion, sub: fx.GraphModule, runtime: str) -> EngineMetadata:
    """The engine's metadata record, from the region's placeholders and output values."""
    placeholders, outs = region_io(sub)
    net = region.network
    inputs = tuple(
        _binding(n, p, region.profile) for n, p in zip(net.input_names, placeholders, strict=True)
    )
    outputs = tuple(_binding(n, o, {}) for n, o in zip(net.output_names, outs, strict=True))
    aliases = region.aliases
    return EngineMetadata(
        aliases=aliases,
        format_version=ALIASES_FORMAT_VERSION if aliases else FORMAT_VERSION,
        engine_id=uuid.uuid4().hex,
        name=region.name,
        flavour=_trt.flavour(),
        trt_version=_trt.version(),
        inputs=inputs,
        outputs=outputs,
        runtime=runtime,
        compute_capabilities=build_targets(_trt.flavour()),
        layers=region.layers,
    )


def in_place_outputs(net: Any) -> tuple[tuple[str, str], ...]:
    """``(output, input)`` name pairs of a network whose layers write an input in place: the
    output of an ``IKVCacheUpdateLayer`` shares its cache input's memory (TensorRT's rule)."""
    kv = _trt.load().LayerType.KV_CACHE_UPDATE
    pairs = []
    for i in range(net.num_layers):
        layer = net.get_layer(i)
        if layer.type == kv:
            pairs.append((str(layer.get_output(0).name), str(layer.get_input(0).name)))
    return tuple(pairs)


def splice_engine(
    gm: fx.GraphModule, region: BuiltRegion, runtime: str, keep_source: bool = True
) -> None:
    """Swap the call of submodule ``region.name`` for ``torch_trt.execute_engine``; with
    ``keep_source`` the submodule stays in ``gm.meta["torch_trt_sources"]`` (for
    ``torch_trt.save(..., with_source=True)``)."""
    sub = getattr(gm, region.name)
    meta = metadata_for(region, sub, runtime)
    call = next(n for n in gm.graph.nodes if n.op == "call_module" and n.target == region.name)
    gm.register_buffer(f"{region.name}_engine", as_tensor(region.engine))
    if region.reference is not None:
        gm.register_buffer(f"{region.name}_reference", as_tensor(region.reference))
    with gm.graph.inserting_before(call):
        engine = gm.graph.get_attr(f"{region.name}_engine")
        ref = gm.graph.get_attr(f"{region.name}_reference") if region.reference else None
        new = gm.graph.call_function(
            torch.ops.torch_trt.execute_engine.default,
            (list(call.args), engine, ref, meta.to_json()),
        )
    _, outs = region_io(sub)
    new.meta["val"] = [o.meta["val"] for o in outs]
    call.replace_all_uses_with(new)
    gm.graph.erase_node(call)
    delattr(gm, region.name)
    if keep_source:
        gm.meta.setdefault("torch_trt_sources", {})[region.name] = sub
    new.name = region.name
