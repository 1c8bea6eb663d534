"""The compile report: where every node went and why, engines, sizes and stage timings.

Example:
    >>> compiled = torch_trt.dynamo.compile(model, inputs=[x], runtime="reference")
    >>> rep = torch_trt.report(compiled)
    >>> rep.engines, rep.fallbacks
    (1, [])
    >>> print(rep)            # a readable table
    >>> rep.to_json()         # the same, machine-readable
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from torch_trt import progress
from torch_trt.convert.registry import Reason

log = logging.getLogger("torch_trt")
REPORT_KEY = "torch_trt_report"
# Version of the JSON form (``to_dict``), described by the JSON Schema ``report.schema.json``
# shipped in this package (docs/cli.md). A new field is a schema change: bump it with the file.
SCHEMA_VERSION = 2


@dataclasses.dataclass
class NodePlacement:
    """Where one node runs: ``engine`` names its engine, else ``reason`` says why PyTorch."""

    node: str
    op: str
    engine: str | None = None
    reason: Reason | None = None
    detail: str = ""


@dataclasses.dataclass
class EngineInfo:
    """One built engine.

    ``build_seconds`` is the time this compile spent getting the engine (a build, or a cache
    lookup). ``cache`` is ``"hit"``, ``"miss"``, ``"off"`` or ``"uncacheable"``; on a hit
    ``saved_seconds`` is the cached engine's own build time minus this lookup's.
    ``by_precision`` counts the layers computing in each dtype (``{"fp16": 49, "fp32": 2}``,
    cast layers apart) and ``casts`` the cast layers; ``Report.layer_precision`` has the
    precision of every layer (see ``docs/precision.md``).
    """

    name: str
    nodes: int
    layers: int
    size_bytes: int
    build_seconds: float
    cache: str = "off"
    key_seconds: float = 0.0
    saved_seconds: float = 0.0
    cache_key: str = ""
    by_precision: dict[str, int] = dataclasses.field(default_factory=dict)
    casts: int = 0

    @property
    def precision_summary(self) -> str:
        """``fp16 49, fp32 2`` (most layers first)."""
        ranked = sorted(self.by_precision.items(), key=lambda kv: (-kv[1], kv[0]))
        return ", ".join(f"{k} {v}" for k, v in ranked)


@dataclasses.dataclass
class Report:
    """Everything a compile decided, for people (``str``) and tools (``to_json``)."""

    placements: list[NodePlacement] = dataclasses.field(default_factory=list)
    engine_info: list[EngineInfo] = dataclasses.field(default_factory=list)
    stage_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    graphs: dict[str, str] = dataclasses.field(default_factory=dict)
    layer_to_node: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    layer_precision: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    @property
    def engines(self) -> int:
        """Number of TensorRT engines in the compiled module."""
        return len(self.engine_info)

    @property
    def fallbacks(self) -> list[NodePlacement]:
        """Nodes that run in PyTorch, each with its reason."""
        return [p for p in self.placements if p.engine is None]

    def placement(self, node: str) -> NodePlacement:
        """The placement of the node named ``node``."""
        for p in self.placements:
            if p.node == node:
                return p
        raise KeyError(f"no node named {node!r} in the report")

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; repeated stages (convert, build per engine) add up."""
        start = time.perf_counter()
        progress.stage_started(name)
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + elapsed
            progress.stage_finished(name)
            log.debug("torch-trt: stage %s took %.3f s", name, elapsed)

    def summary(self) -> str:
        """One line: engines, nodes in TensorRT, fallbacks, total seconds."""
        in_trt = sum(1 for p in self.placements if p.engine is not None)
        total = sum(self.stage_seconds.values())
        size = sum(e.size_bytes for e in self.engine_info)
        line = (
            f"torch-trt: {self.engines} engine(s), {in_trt}/{len(self.placements)} nodes in "
            f"TensorRT, {len(self.fallbacks)} in PyTorch, {size / 1e6:.2f} MB, {total:.2f} s"
        )
        cached = [e for e in self.engine_info if e.cache != "off"]
        if cached:
            hits = sum(1 for e in cached if e.cache == "hit")
            saved = sum(e.saved_seconds for e in cached)
            line += f", engine cache {hits}/{len(cached)} hits, {saved:.2f} s saved"
        return line

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data, in the form ``report.schema.json`` describes."""
        return {
            "schema_version": SCHEMA_VERSION,
            "engines": [dataclasses.asdict(e) for e in self.engine_info],
            "placements": [
                {**dataclasses.asdict(p), "reason": p.reason.value if p.reason else None}
                for p in self.placements
            ],
            "stage_seconds": self.stage_seconds,
            "layer_precision": self.layer_precision,
            "summary": self.summary(),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Report:
        """The report :meth:`to_dict` wrote (``layer_to_node`` too when present)."""
        return cls(
            placements=[
                NodePlacement(
                    p["node"],
                    p["op"],
                    p.get("engine"),
                    Reason(p["reason"]) if p.get("reason") else None,
                    p.get("detail", ""),
                )
                for p in raw.get("placements", [])
            ],
            engine_info=[EngineInfo(**e) for e in raw.get("engines", [])],
            stage_seconds=dict(raw.get("stage_seconds", {})),
            layer_to_node=dict(raw.get("layer_to_node", {})),
            layer_precision=dict(raw.get("layer_precision", {})),
        )

    def to_json(self) -> str:
        """The report as JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        lines = [self.summary(), ""]
        lines.append(
            f"{'engine':<10} {'nodes':>6} {'layers':>7} {'size (KB)':>10} {'build (s)':>10} "
            f"{'cache':>11} {'saved (s)':>10} {'casts':>6}  layers by precision"
        )
        for e in self.engine_info:
            lines.append(
                f"{e.name:<10} {e.nodes:>6} {e.layers:>7} {e.size_bytes / 1e3:>10.1f} "
                f"{e.build_seconds:>10.3f} {e.cache:>11} {e.saved_seconds:>10.3f} "
                f"{e.casts:>6}  {e.precision_summary}"
            )
        lines += ["", f"{'node':<40} {'op':<36} placement"]
        for p in self.placements:
            where = p.engine or f"pytorch: {p.reason.value if p.reason else '?'}"
            detail = f" ({p.detail})" if p.detail and p.engine is None else ""
            lines.append(f"{p.node[:40]:<40} {p.op[:36]:<36} {where}{detail}")
        lines += [
            "",
            "stage seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in self.stage_seconds.items()),
        ]
        return "\n".join(lines)


@dataclasses.dataclass
class GraphReport:
    """One graph that ``torch.compile`` handed to the torch-trt backend."""

    index: int
    compile_id: str
    inputs: list[str]
    report: Report
    error: str = ""  # set when the whole graph runs in PyTorch

    @property
    def label(self) -> str:
        return f"g{self.index}"


@dataclasses.dataclass
class TorchCompileReport(Report):
    """Every graph a ``torch.compile(..., backend="torch_trt")`` object compiled so far.

    The inherited fields hold all graphs together, names prefixed with the graph's label
    (``g0:relu``, engine ``g1:trt_0``); ``compiled`` keeps each graph's own :class:`Report`.
    """

    compiled: list[GraphReport] = dataclasses.field(default_factory=list)

    @classmethod
    def merge(cls, graphs: list[GraphReport]) -> TorchCompileReport:
        """One report over ``graphs``."""
        out = cls(compiled=list(graphs))
        for g in graphs:
            r = g.report
            for p in r.placements:
                engine = f"{g.label}:{p.engine}" if p.engine else None
                out.placements.append(
                    dataclasses.replace(p, node=f"{g.label}:{p.node}", engine=engine)
                )
            for e in r.engine_info:
                out.engine_info.append(dataclasses.replace(e, name=f"{g.label}:{e.name}"))
            for k, v in r.stage_seconds.items():
                out.stage_seconds[k] = out.stage_seconds.get(k, 0.0) + v
            for k, m in r.layer_to_node.items():
                out.layer_to_node[f"{g.label}:{k}"] = m
            for k, m in r.layer_precision.items():
                out.layer_precision[f"{g.label}:{k}"] = m
        return out

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["graphs"] = [
            {
                "label": g.label,
                "compile_id": g.compile_id,
                "inputs": g.inputs,
                "error": g.error,
                "summary": g.report.summary(),
            }
            for g in self.compiled
        ]
        return out

    def __str__(self) -> str:
        lines = [f"torch-trt backend: {len(self.compiled)} graph(s) compiled", ""]
        for g in self.compiled:
            lines.append(f"== {g.label} (Dynamo compile {g.compile_id}), inputs {g.inputs}")
            if g.error:
                lines.append(f"runs in PyTorch: {g.error}")
            lines += [str(g.report), ""]
        return "\n".join(lines)


def report(compiled: Any) -> Report:
    """The :class:`Report` of a module returned by a torch-trt compile.

    For the result of ``torch.compile(..., backend="torch_trt")`` it is a
    :class:`TorchCompileReport` over every graph compiled so far.

    Raises:
        ValueError: ``compiled`` did not come from torch-trt.
    """
    rep = getattr(compiled, "meta", {}).get(REPORT_KEY) if hasattr(compiled, "meta") else None
    if rep is None:
        rep = getattr(compiled, "_torch_trt_report", None)
    if rep is None:
        from torch_trt.dynamo.backend import compiled_graphs

        graphs = compiled_graphs(compiled)
        if graphs is not None:
            rep = TorchCompileReport.merge(graphs)
    if not isinstance(rep, Report):
        raise ValueError(
            f"{type(compiled).__name__} carries no torch-trt report; pass the module returned "
            "by torch_trt.compile or torch_trt.dynamo.compile, or a "
            'torch.compile(..., backend="torch_trt") result after its first call'
        )
    return rep
