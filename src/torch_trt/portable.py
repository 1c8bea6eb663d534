"""Portable artifacts: each TensorRT region's ATen source, exported, restored and rebuilt.

``save(..., with_source=True)`` stores every region's subgraph as its own ExportedProgram
(``torch.export.save`` bytes in a uint8 buffer ``torch_trt_source_<engine>`` of the saved
program; loaded back with ``torch.export.load``, whose archive passed the same checks),
so a loaded program can run a region whose engine cannot run here in PyTorch, rebuild its
engine with the local TensorRT, or give the reference runtime a program to evaluate.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import uuid
from typing import Any

import torch
from torch import fx

from torch_trt import _trt
from torch_trt.dynamo.rnn_shapes import rnn_shape_rules
from torch_trt.errors import SerializationError
from torch_trt.runtime.engine import Binding, EngineMetadata, build_targets
from torch_trt.runtime.op import parse_metadata

SOURCES_KEY = "torch_trt_sources"
SOURCE_PREFIX = "torch_trt_source_"  # + engine name: a saved program's buffer holding a source
EXECUTE = torch.ops.torch_trt.execute_engine.default
EXECUTE_INPLACE = torch.ops.torch_trt.execute_engine_inplace.default
# Where each op takes the engine, reference program and metadata (the in-place op has its
# mutated state list before them).
_ARGS = {
    EXECUTE: {"engine": 1, "reference": 2, "metadata": 3},
    EXECUTE_INPLACE: {"engine": 2, "reference": 3, "metadata": 4},
}


def engine_nodes(gm: fx.GraphModule) -> list[fx.Node]:
    """The ``execute_engine`` and ``execute_engine_inplace`` calls of a graph, in order."""
    return [n for n in gm.graph.nodes if n.op == "call_function" and n.target in _ARGS]


def arg_index(node: fx.Node, name: str) -> int:
    """Position of ``name`` (engine, reference, metadata) among an engine call's arguments."""
    return _ARGS[node.target][name]  # type: ignore[index]


def _dynamic_shapes(meta: EngineMetadata) -> tuple[tuple[torch.Tensor, ...], Any]:
    """Example inputs (opt shapes) and export dims named after the engine's size symbols."""
    dims: dict[str, Any] = {}
    examples, shapes = [], []
    for b in meta.inputs:
        lo, opt, hi = b.profile or (b.bounds[0], b.bounds[0], b.bounds[1])
        spec: dict[int, Any] = {}
        for d, sym in enumerate(b.shape):
            if not isinstance(sym, str) or lo[d] == hi[d]:
                continue
            if not sym.isidentifier():  # an expression ("2*s0"): let export relate it
                spec[d] = torch.export.Dim.AUTO(min=lo[d], max=hi[d])
                continue
            if sym not in dims:
                dims[sym] = torch.export.Dim(sym, min=lo[d], max=hi[d])
            spec[d] = dims[sym]
        example = tuple(max(o, 2) if d in spec and hi[d] >= 2 else o for d, o in enumerate(opt))
        examples.append(torch.zeros(example, dtype=b.torch_dtype))
        shapes.append(spec or None)
    return tuple(examples), tuple(shapes)


def export_source(sub: Any, meta: EngineMetadata) -> bytes:
    """The region's ATen subgraph as ``torch.export.save`` bytes (already bytes: as is)."""
    if isinstance(sub, bytes):
        return sub
    if isinstance(sub, RegionSource):
        sub = sub.program
    examples, shapes = _dynamic_shapes(meta)
    try:
        with rnn_shape_rules():
            ep = torch.export.export(sub, examples, dynamic_shapes=shapes, strict=False)
    except Exception as e:
        raise SerializationError(
            f"could not export the ATen source of engine {meta.name} for with_source=True: "
            f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}; "
            "save without with_source"
        ) from e
    buf = io.BytesIO()
    torch.export.save(ep, buf)
    return buf.getvalue()


def export_sources(gm: fx.GraphModule) -> dict[str, bytes]:
    """Every engine's source, by engine name.

    Raises:
        ValueError: an engine has no source (compiled with ``keep_source=False``).
    """
    kept = gm.meta.get(SOURCES_KEY, {})
    out = {}
    for node in engine_nodes(gm):
        meta = parse_metadata(node.args[arg_index(node, "metadata")])  # type: ignore[arg-type]
        if meta.name not in kept:
            raise ValueError(
                f"engine {meta.name} carries no ATen source, so with_source=True cannot store "
                "it; compile with keep_source=True"
            )
        out[meta.name] = export_source(kept[meta.name], meta)
    return out


def as_tensor(data: bytes | bytearray | memoryview) -> torch.Tensor:
    """``data`` as a uint8 tensor (how engines, reference programs and sources travel in a
    program): a writable buffer is shared (the tensor keeps it alive), a read-only one is copied
    once into a buffer the tensor then owns."""
    if isinstance(data, bytearray) or (isinstance(data, memoryview) and not data.readonly):
        return torch.frombuffer(data, dtype=torch.uint8)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def take_sources(gm: fx.GraphModule, names: list[str], path: str) -> dict[str, bytes]:
    """Remove the source buffers ``names`` from a loaded program; their bytes by engine name."""
    out = {}
    for name in names:
        target = SOURCE_PREFIX + name
        blob = getattr(gm, target, None)
        if not isinstance(blob, torch.Tensor) or blob.dtype != torch.uint8:
            raise SerializationError(f"cannot load {path}: the source of engine {name} is missing")
        out[name] = bytes(blob.numpy())
        for n in [n for n in gm.graph.nodes if n.op == "get_attr" and n.target == target]:
            gm.graph.erase_node(n)
        delattr(gm, target)
    return out


class RegionSource(torch.nn.Module):
    """A region's source program called like ``execute_engine``: tensors in, a list out."""

    def __init__(self, program: torch.nn.Module) -> None:
        super().__init__()
        self.program = program

    def forward(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        out = self.program(*inputs)
        return list(out) if isinstance(out, list | tuple) else [out]


def load_source(data: bytes, name: str, path: str) -> fx.GraphModule:
    """The region's source as a module (``torch.export.load`` of the stored bytes, vetted
    first like any file: it is an archive of its own)."""
    from torch_trt.archive import vet_program

    vet_program(data, f"{path} (source of engine {name})")
    try:
        module = torch.export.load(io.BytesIO(data)).module()
    except Exception as e:
        raise SerializationError(
            f"cannot load {path}: the source of engine {name} is corrupt ({type(e).__name__})"
        ) from None
    assert isinstance(module, fx.GraphModule)
    return module


def plain_graph(module: fx.GraphModule) -> fx.GraphModule:
    """The module without torch.export's input guard and pytree wrapping, as the converter
    expects a region; the assertions export adds on data-dependent sizes that always hold
    (``0 <= len(x[mask])``) are dropped as in lowering."""
    from torch_trt.dynamo.lower import remove_noops

    graph = copy.deepcopy(module.graph)
    for n in list(graph.nodes):
        if n.op == "call_module" and str(n.target) == "_guards_fn":
            graph.erase_node(n)
    graph.set_codegen(fx.graph.CodeGen())
    return remove_noops(fx.GraphModule(module, graph))


def rebuild(
    source: fx.GraphModule, meta: EngineMetadata
) -> tuple[bytes | bytearray, EngineMetadata, Any]:
    """A new engine for the region, built by the local TensorRT from its source, its record
    and the network (for a reference program)."""
    from torch_trt.build import build_engine
    from torch_trt.convert import ops as _ops  # noqa: F401  (registers the converters)
    from torch_trt.convert.interpreter import convert_module
    from torch_trt.dynamo.assemble import in_place_outputs
    from torch_trt.settings import CompileSettings

    network = convert_module(plain_graph(source))
    if in_place_outputs(network.net) != meta.aliases:  # the call site binds state by them
        raise SerializationError(
            f"engine {meta.name} rebuilt from its source does not update the same inputs in "
            "place as the saved one; recompile the model"
        )
    shapes = {
        n: b.profile or (b.bounds[0], b.bounds[0], b.bounds[1])
        for n, b in zip(network.input_names, meta.inputs, strict=True)
    }
    engine, profile = build_engine(network, CompileSettings(), meta.name, shapes)
    inputs = tuple(
        Binding(n, b.dtype, b.shape, profile.get(n))
        for n, b in zip(network.input_names, meta.inputs, strict=True)
    )
    outputs = tuple(
        dataclasses.replace(b, name=n)
        for n, b in zip(network.output_names, meta.outputs, strict=True)
    )
    record = dataclasses.replace(
        meta,
        engine_id=uuid.uuid4().hex,
        flavour=_trt.flavour(),
        trt_version=_trt.version(),
        compute_capabilities=build_targets(_trt.flavour()),
        inputs=inputs,
        outputs=outputs,
    )
    return engine, record, network


def reference_program(source: fx.GraphModule) -> memoryview:
    """The region's reference program (serialized), from its source converted by the local
    TensorRT."""
    from torch_trt.convert import ops as _ops  # noqa: F401  (registers the converters)
    from torch_trt.convert.interpreter import convert_module
    from torch_trt.runtime.reference.program import serialize_network

    # Hold the Network while reading: its context owns the arrays TensorRT's constant layers
    # point at (TensorRT does not copy them), and the bf16 side table.
    network = convert_module(plain_graph(source))
    return serialize_network(network.net)
