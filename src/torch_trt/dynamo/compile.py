"""``torch_trt.dynamo.compile``: the AOT pipeline, one readable function.

capture -> lower -> partition -> convert -> build -> assemble
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import fx

from torch_trt import progress
from torch_trt._migrate import translate
from torch_trt.build import return_free_memory
from torch_trt.cache import CacheSession, cached_build, open_session
from torch_trt.convert import ops as _ops  # noqa: F401  (registers the converters)
from torch_trt.convert.census import layer_census
from torch_trt.convert.interpreter import Network, convert_module
from torch_trt.convert.registry import Reason
from torch_trt.dynamo.assemble import BuiltRegion, in_place_outputs, region_io, splice_engine
from torch_trt.dynamo.capture import capture, input_specs
from torch_trt.dynamo.inplace import update_state_in_place
from torch_trt.dynamo.lower import lower, mutated_attrs
from torch_trt.dynamo.partition import Partition, partition
from torch_trt.dynamo.precision import apply_precision
from torch_trt.dynamo.shapes import ShapeRanges, shape_ranges
from torch_trt.errors import ConversionError, EngineBuildError
from torch_trt.inputs import Input
from torch_trt.report import REPORT_KEY, EngineInfo, Report
from torch_trt.runtime.guard import install_guard
from torch_trt.runtime.module import CallSignature, CompiledModule, make_compiled_module
from torch_trt.settings import CompileSettings

log = logging.getLogger("torch_trt")


def compile(
    model: torch.nn.Module | torch.export.ExportedProgram,
    inputs: Sequence[Any] | torch.Tensor | Input = (),
    *,
    kwarg_inputs: Mapping[str, Any] | None = None,
    **settings: Any,
) -> CompiledModule:
    """Compile ``model`` ahead of time into a module whose TensorRT regions are engines.

    Args:
        model: an ``nn.Module``, ``fx.GraphModule`` or ``torch.export.ExportedProgram``.
        inputs: example values for forward()'s positional arguments: tensors,
            :class:`torch_trt.Input` specs, Python constants, or lists/tuples/dicts of them. A
            single tensor or ``Input`` is one input.
        kwarg_inputs: example values for keyword arguments, likewise.
        **settings: options of :class:`torch_trt.CompileSettings` (``min_block_size``,
            ``torch_executed_ops``, ``require_full_compilation``, ``runtime``, ...), and
            Torch-TensorRT's option names where they mean something here (docs/migrating.md).

    Returns:
        A :class:`~torch_trt.runtime.module.CompiledModule` (an ``fx.GraphModule``) called like
        the model; ``torch_trt.report(result)`` tells what became TensorRT.

    Example:
        >>> model = torchvision.models.resnet18().eval()
        >>> trt_model = torch_trt.dynamo.compile(model, [torch.randn(1, 3, 224, 224)],
        ...                                      runtime="reference")
        >>> print(torch_trt.report(trt_model))
    """
    s = CompileSettings.from_kwargs(**translate(settings, None))
    inputs = _check_model_and_inputs(model, inputs)
    with progress.active(s.progress):
        return _compile(model, inputs, kwarg_inputs, s)


def _compile(
    model: torch.nn.Module | torch.export.ExportedProgram,
    inputs: Sequence[Any],
    kwarg_inputs: Mapping[str, Any] | None,
    s: CompileSettings,
) -> CompiledModule:
    rep = Report()
    with rep.stage("capture"):
        ep = capture(model, inputs, kwarg_inputs)
    with rep.stage("lower"):
        gm = lower(ep)
        names = [str(n.target) for n in gm.graph.nodes if n.op == "placeholder"]
        specs = input_specs(ep, names, inputs, kwarg_inputs)
        ranges = shape_ranges(gm, specs, s.dynamic_dim_max)
        gm = install_guard(gm, specs, constants=_constants(names, specs, ep, inputs, kwarg_inputs))
    part = compile_lowered(gm, s, rep, ranges)
    with rep.stage("assemble"):
        part = update_state_in_place(part)
        call = None
        if isinstance(model, torch.nn.Module):
            call = CallSignature.record(model, tuple(inputs), dict(kwarg_inputs or {}))
        training = model.training if isinstance(model, torch.nn.Module) else False
        out = make_compiled_module(part, call, training, mutated_attrs(part), dict(part.meta))
    return out


def compile_lowered(
    gm: fx.GraphModule, s: CompileSettings, rep: Report, ranges: ShapeRanges
) -> fx.GraphModule:
    """The stages every frontend shares after lowering: the precision passes, partition, then
    convert, build and assemble each TensorRT region; the report goes to ``gm.meta``.

    Args:
        gm: a lowered graph (core ATen, weights as ``get_attr``, cleaned up by
            :func:`torch_trt.dynamo.lower.clean_up`).
        s: the compile settings.
        rep: the report to fill (earlier stages may have timed themselves on it).
        ranges: ``(min, opt, max)`` of every size symbol of ``gm``'s inputs.

    Returns:
        The partitioned module with engines spliced in.
    """
    with progress.active(s.progress):
        return _compile_lowered(gm, s, rep, ranges)


def _compile_lowered(
    gm: fx.GraphModule, s: CompileSettings, rep: Report, ranges: ShapeRanges
) -> fx.GraphModule:
    _keep_graph(rep, s, "lower", gm)
    if s.truncate_double or s.low_precision is not None:
        with rep.stage("precision"):
            gm = apply_precision(gm, s)
        _keep_graph(rep, s, "precision", gm)
    # With the engine cache on, its session hashes the regions' weights (for the keys) while
    # the regions convert, and stores engines while the next one builds.
    with open_session(s) as session:
        part, networks = _partition_and_convert(gm, s, rep, session)
        _keep_graph(rep, s, "partition", part.gm)
        # Build one region at a time and drop its network (builder, definition, weight views)
        # as soon as its engine is spliced in, so that at most one build's working memory is
        # live.
        for name in list(networks):
            _build_and_splice(part, name, networks.pop(name), s, rep, ranges, session)
        if session is not None:
            with rep.stage("cache_store"):
                session.wait()
    rep.placements = list(part.placements.values())
    with rep.stage("assemble"):
        part.gm.graph.lint()
        part.gm.recompile()
    part.gm.meta[REPORT_KEY] = rep
    log.info(rep.summary())
    return part.gm


def _check_model_and_inputs(model: Any, inputs: Any) -> Sequence[Any]:
    """Refuse what dynamo.compile cannot take, with the way forward; a lone tensor is one input."""
    if isinstance(model, torch.jit.ScriptModule | torch.jit.ScriptFunction):
        raise TypeError(
            "torch_trt.dynamo.compile takes an nn.Module, fx.GraphModule or ExportedProgram, not "
            "a TorchScript module; use the TorchScript frontend: "
            "torch_trt.compile(module, ir='ts', inputs=...)"
        )
    if not isinstance(model, torch.nn.Module | torch.export.ExportedProgram):
        raise TypeError(
            "compile expects an nn.Module, fx.GraphModule or ExportedProgram, got "
            f"{type(model).__name__}"
        )
    if isinstance(inputs, torch.Tensor | Input):
        return (inputs,)
    if isinstance(inputs, dict):
        raise TypeError(
            "inputs must be a list or tuple of forward()'s positional arguments; pass keyword "
            "arguments as kwarg_inputs={...}"
        )
    if not isinstance(inputs, list | tuple):
        raise TypeError(f"inputs must be a list or tuple, got {type(inputs).__name__}")
    return inputs


def _constants(
    names: Sequence[str],
    specs: Mapping[str, Input | None],
    ep: torch.export.ExportedProgram,
    inputs: Sequence[Any],
    kwarg_inputs: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The compile-time value of every non-tensor input placeholder (for the guard's checks)."""
    from torch.fx._pytree import tree_flatten_spec

    try:
        leaves = tree_flatten_spec((tuple(inputs), dict(kwarg_inputs or {})), ep.call_spec.in_spec)
    except Exception:
        return {}
    return {n: v for n, v in zip(names, leaves, strict=False) if specs.get(n) is None}


def _keep_graph(rep: Report, s: CompileSettings, stage: str, gm: fx.GraphModule) -> None:
    if s.debug:
        rep.graphs[stage] = str(gm.graph)


def _partition_and_convert(
    gm: fx.GraphModule, s: CompileSettings, rep: Report, session: CacheSession | None = None
) -> tuple[Partition, dict[str, Network]]:
    """Partition and convert every region; a node whose conversion fails is refused and the
    graph partitioned again, so only that node (and what must follow it) runs in PyTorch."""
    refused: dict[str, str] = {}
    while True:
        with rep.stage("partition"):  # convert is timed on its own, not inside partition
            part = partition(fx.GraphModule(gm, copy.deepcopy(gm.graph)), s, refused)
        if session is not None:
            session.prefetch(part.gm, part.regions)
        networks: dict[str, Network] = {}
        failed = False
        for name in part.regions:
            try:
                with rep.stage("convert"):
                    networks[name] = convert_module(getattr(part.gm, name))
            except ConversionError as e:
                if s.require_full_compilation:
                    raise
                if e.node is None or e.node in refused:  # cannot narrow it down: the region
                    _fall_back(part, name, Reason.CONVERSION_FAILED, str(e))
                    continue
                log.warning("torch-trt: %s stays in PyTorch (conversion failed): %s", e.node, e)
                refused[e.node] = str(e)
                failed = True
        if not failed:
            return part, networks


def _fall_back(part: Partition, name: str, reason: Reason, detail: str) -> None:
    """Keep region ``name`` in PyTorch: its nodes get ``reason``."""
    sub = getattr(part.gm, name)
    for n in sub.graph.nodes:
        if n.op == "call_function" and n.name in part.placements:
            part.placements[n.name].engine = None
            part.placements[n.name].reason = reason
            part.placements[n.name].detail = detail


def _build_failed(part: Partition, name: str, e: EngineBuildError) -> None:
    """Keep region ``name`` in PyTorch after TensorRT refused to build it, with a warning."""
    sub = getattr(part.gm, name)
    nodes = [n.name for n in sub.graph.nodes if n.op == "call_function"]
    shown = ", ".join(nodes[:5]) + (", ..." if len(nodes) > 5 else "")
    log.warning("torch-trt: %s (nodes %s) stays in PyTorch (build failed): %s", name, shown, e)
    _fall_back(part, name, Reason.BUILD_FAILED, str(e))


def _build_and_splice(
    part: Partition,
    name: str,
    network: Network,
    s: CompileSettings,
    rep: Report,
    ranges: ShapeRanges,
    session: CacheSession | None = None,
) -> None:
    """Build and splice one converted region; a refused build raises or, with
    ``fallback_on_build_failure``, keeps the region in PyTorch."""
    sub = getattr(part.gm, name)
    placeholders, _ = region_io(sub)
    shapes = {
        n: ranges.profile(p.meta["val"].shape)
        for n, p in zip(network.input_names, placeholders, strict=True)
    }
    before = rep.stage_seconds.get("build", 0.0)
    return_free_memory()  # conversion's temporaries: not under the builder's peak
    try:
        with rep.stage("build"):
            engine, profile, cached = cached_build(network, sub, s, name, shapes, session)
    except EngineBuildError as e:
        if (
            s.require_full_compilation
            or s.pass_through_build_failures
            or not s.fallback_on_build_failure
        ):
            raise
        _build_failed(part, name, e)
        return
    build_seconds = rep.stage_seconds["build"] - before
    reference = None
    if s.runtime == "reference":  # after the build: its working memory is gone by now
        from torch_trt.runtime.reference.program import serialize_network

        with rep.stage("reference"):
            reference = serialize_network(network.net)
    census, aliases = layer_census(network.net), in_place_outputs(network.net)
    network.release()  # the builder, definition and weight copies are done with
    return_free_memory()
    with rep.stage("assemble"):
        region = BuiltRegion(name, network, engine, reference, profile, census.counts(), aliases)
        splice_engine(part.gm, region, s.runtime, s.keep_source)
    rep.layer_to_node[name] = network.layer_to_node
    rep.layer_precision[name] = census.precision
    in_engine = sum(
        1 for n in sub.graph.nodes if n.op == "call_function" and n.name in part.placements
    )
    info = EngineInfo(name, in_engine, network.layers, len(engine), build_seconds, **cached.info())
    info.by_precision, info.casts = census.by_precision, census.casts
    rep.engine_info.append(info)
