"""``torch_trt.dynamo.compile``: the AOT pipeline, one readable function.

capture -> lower -> partition -> convert -> build -> assemble
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.build import build_engine
from torch_trt.convert import ops as _ops  # noqa: F401  (registers the converters)
from torch_trt.convert.interpreter import convert_module
from torch_trt.convert.registry import Reason
from torch_trt.dynamo.assemble import BuiltRegion, region_io, splice_engine
from torch_trt.dynamo.capture import capture, input_specs
from torch_trt.dynamo.lower import lower
from torch_trt.dynamo.partition import Partition, partition
from torch_trt.dynamo.shapes import ShapeRanges, shape_ranges
from torch_trt.errors import ConversionError, EngineBuildError
from torch_trt.inputs import Input
from torch_trt.report import REPORT_KEY, EngineInfo, Report
from torch_trt.runtime.guard import install_guard
from torch_trt.settings import CompileSettings

log = logging.getLogger("torch_trt")


def compile(
    model: torch.nn.Module | torch.export.ExportedProgram,
    inputs: Sequence[Any] = (),
    *,
    kwarg_inputs: Mapping[str, Any] | None = None,
    **settings: Any,
) -> fx.GraphModule:
    """Compile ``model`` ahead of time into a module whose TensorRT regions are engines.

    Args:
        model: an ``nn.Module``, ``fx.GraphModule`` or ``torch.export.ExportedProgram``.
        inputs: example tensors or :class:`torch_trt.Input` specs, positionally.
        kwarg_inputs: example keyword inputs.
        **settings: options of :class:`torch_trt.CompileSettings` (``min_block_size``,
            ``torch_executed_ops``, ``require_full_compilation``, ``runtime``, ...).

    Returns:
        An ``fx.GraphModule`` called like the model; ``torch_trt.report(result)`` tells what
        became TensorRT.

    Example:
        >>> model = torchvision.models.resnet18().eval()
        >>> trt_model = torch_trt.dynamo.compile(model, [torch.randn(1, 3, 224, 224)],
        ...                                      runtime="reference")
        >>> print(torch_trt.report(trt_model))
    """
    s = CompileSettings.from_kwargs(**settings)
    rep = Report()
    with rep.stage("capture"):
        ep = capture(model, inputs, kwarg_inputs)
    with rep.stage("lower"):
        gm = lower(ep)
        specs = _specs(model, gm, inputs, kwarg_inputs)
        ranges = shape_ranges(gm, specs, s.dynamic_dim_max)
        gm = install_guard(gm, specs)
    return compile_lowered(gm, s, rep, ranges)


def compile_lowered(
    gm: fx.GraphModule, s: CompileSettings, rep: Report, ranges: ShapeRanges
) -> fx.GraphModule:
    """The stages every frontend shares after lowering: partition, then convert, build and
    assemble each TensorRT region; the report goes to ``gm.meta``.

    Args:
        gm: a lowered graph (core ATen, weights as ``get_attr``, cleaned up by
            :func:`torch_trt.dynamo.lower.clean_up`).
        s: the compile settings.
        rep: the report to fill (earlier stages may have timed themselves on it).
        ranges: ``(min, opt, max)`` of every size symbol of ``gm``'s inputs.

    Returns:
        The partitioned module with engines spliced in.
    """
    _keep_graph(rep, s, "lower", gm)
    with rep.stage("partition"):
        part = partition(gm, s)
    _keep_graph(rep, s, "partition", part.gm)
    for name in part.regions:
        _convert_and_build(part, name, s, rep, ranges)
    with rep.stage("assemble"):
        part.gm.graph.lint()
        part.gm.recompile()
    rep.placements = list(part.placements.values())
    part.gm.meta[REPORT_KEY] = rep
    log.info(rep.summary())
    return part.gm


def _specs(
    model: torch.nn.Module | torch.export.ExportedProgram,
    gm: fx.GraphModule,
    inputs: Sequence[Any],
    kwarg_inputs: Mapping[str, Any] | None,
) -> dict[str, Input | None]:
    """Input specs keyed by argument name (the lowered graph's placeholder targets)."""
    if isinstance(model, torch.nn.Module):
        return input_specs(model, inputs, kwarg_inputs)
    # An ExportedProgram: specs, when given, follow its placeholders in order.
    placeholders = [str(n.target) for n in gm.graph.nodes if n.op == "placeholder"]
    flat = [*inputs, *(kwarg_inputs or {}).values()]
    return {
        name: x if isinstance(x, Input) else Input.from_tensor(x)
        for name, x in zip(placeholders, flat, strict=False)
        if isinstance(x, Input | torch.Tensor)
    }


def _keep_graph(rep: Report, s: CompileSettings, stage: str, gm: fx.GraphModule) -> None:
    if s.debug:
        rep.graphs[stage] = str(gm.graph)


def _convert_and_build(
    part: Partition, name: str, s: CompileSettings, rep: Report, ranges: ShapeRanges
) -> None:
    """Convert, build and splice one region; on failure keep it in PyTorch with the reason."""
    sub = getattr(part.gm, name)
    placeholders, _ = region_io(sub)
    nodes = [n.name for n in sub.graph.nodes if n.op == "call_function"]
    try:
        with rep.stage("convert"):
            network = convert_module(sub)
        before = rep.stage_seconds.get("build", 0.0)
        shapes = {
            n: ranges.profile(p.meta["val"].shape)
            for n, p in zip(network.input_names, placeholders, strict=True)
        }
        with rep.stage("build"):
            engine, profile = build_engine(network, s, name, shapes)
        build_seconds = rep.stage_seconds["build"] - before
        reference = None
        if s.runtime == "reference":
            from torch_trt.runtime.reference import read_network

            with rep.stage("reference"):
                reference = read_network(network.net).to_bytes()
    except (ConversionError, EngineBuildError) as e:
        reason = Reason.CONVERSION_FAILED if isinstance(e, ConversionError) else Reason.BUILD_FAILED
        if (
            s.require_full_compilation
            or s.pass_through_build_failures
            or (reason is Reason.BUILD_FAILED and not s.fallback_on_build_failure)
        ):
            raise
        shown = ", ".join(nodes[:5]) + (", ..." if len(nodes) > 5 else "")
        log.warning(
            "torch-trt: %s (nodes %s) stays in PyTorch (%s): %s", name, shown, reason.value, e
        )
        for n in nodes:
            if n in part.placements:
                part.placements[n].engine = None
                part.placements[n].reason = reason
                part.placements[n].detail = str(e)
        return
    with rep.stage("assemble"):
        region = BuiltRegion(name, network, engine, reference, profile)
        splice_engine(part.gm, region, s.runtime)
    rep.layer_to_node[name] = network.layer_to_node
    in_engine = sum(1 for n in nodes if n in part.placements)
    rep.engine_info.append(
        EngineInfo(name, in_engine, network.net.num_layers, len(engine), build_seconds)
    )
