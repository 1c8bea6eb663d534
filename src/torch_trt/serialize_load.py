"""Loading, engine by engine: decide where each region of a loaded program runs.

For every ``execute_engine`` call: the requested runtime, else the engine's own; a TensorRT
engine that cannot run here (:func:`torch_trt.runtime.engine.trt_problem`, ``gpu_problem``)
raises, is rebuilt from its source, or hands its region to the source in PyTorch, as
``on_incompatible`` says.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import fx

from torch_trt import portable
from torch_trt.archive import Archive
from torch_trt.errors import EngineFormatError, RuntimeUnavailableError, SerializationError
from torch_trt.inputs import Input
from torch_trt.runtime import engine as _engine
from torch_trt.runtime.engine import EngineMetadata
from torch_trt.runtime.op import parse_metadata

T = TypeVar("T")


def manifest_specs(manifest: dict[str, Any]) -> list[Input]:
    """The compiled module's input specs recorded in the manifest."""
    specs = []
    for raw in manifest.get("inputs", []):
        dtype = getattr(torch, str(raw["dtype"]))
        lo, hi = tuple(raw["min"]), tuple(raw["max"])
        specs.append(Input(min_shape=lo, opt_shape=lo, max_shape=hi, dtype=dtype, name=raw["name"]))
    return specs


def _guarded(path: str, what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (SerializationError, RuntimeUnavailableError):
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise SerializationError(
            f"cannot load {path}: {what} failed ({type(e).__name__}: {first})"
        ) from None


class _Loader:
    def __init__(
        self, path: str, runtime: str | None, on_incompatible: str, sources: dict[str, bytes]
    ) -> None:
        self.path, self.runtime, self.on_incompatible = path, runtime, on_incompatible
        self.sources = sources
        self.loaded: dict[str, fx.GraphModule] = {}

    def source(self, name: str, why: str) -> fx.GraphModule:
        if name not in self.sources:
            raise SerializationError(
                f"cannot load {self.path}: engine {name} {why}, which needs the region's "
                "source, and the file has none; save it with torch_trt.save(..., "
                "with_source=True)"
            )
        if name not in self.loaded:
            self.loaded[name] = portable.load_source(self.sources[name], name, self.path)
        return self.loaded[name]

    def resolve(self, gm: fx.GraphModule, node: fx.Node) -> None:
        try:
            meta = parse_metadata(str(node.args[portable.arg_index(node, "metadata")]))
        except EngineFormatError as e:
            raise SerializationError(f"cannot load {self.path}: {e}") from None
        want = self.runtime or meta.runtime
        if want == "reference":
            ref = portable.arg_index(node, "reference")
            if node.args[ref] is None:
                src = self.source(meta.name, "has no reference program")
                _set_constant(
                    gm, node, ref, f"{meta.name}_reference", portable.reference_program(src)
                )
            _set_metadata(node, dataclasses.replace(meta, runtime="reference"))
            return
        problem = _engine.trt_problem(meta) or _engine.gpu_problem(meta)
        if problem is None:
            _set_metadata(node, dataclasses.replace(meta, runtime="tensorrt"))
        elif self.on_incompatible == "error":
            raise RuntimeUnavailableError(
                f"{self.path}: engine {meta.name} cannot run here: {problem}. Load with "
                "runtime='reference' to evaluate it with PyTorch ops, or (for a file saved "
                "with_source=True) on_incompatible='rebuild' or 'pytorch'"
            )
        elif self.on_incompatible == "pytorch":
            if node.target is portable.EXECUTE_INPLACE:
                raise RuntimeUnavailableError(
                    f"{self.path}: engine {meta.name} cannot run here: {problem}; it updates "
                    "state in place, which its PyTorch source cannot stand in for. Load with "
                    "runtime='reference' or on_incompatible='rebuild'"
                )
            src = self.source(meta.name, "must run in PyTorch")
            warnings.warn(
                f"torch-trt: {self.path}: engine {meta.name} runs in PyTorch: {problem}",
                stacklevel=5,
            )
            _to_pytorch(gm, node, meta.name, src)
        else:
            self.rebuild(gm, node, meta, problem)

    def rebuild(self, gm: fx.GraphModule, node: fx.Node, meta: EngineMetadata, why: str) -> None:
        src = self.source(meta.name, "must be rebuilt")
        if _engine.trt_problem(meta) is None:
            raise RuntimeUnavailableError(
                f"{self.path}: engine {meta.name} cannot run here: {why}; rebuilding it with the "
                "same TensorRT cannot help. Load with on_incompatible='pytorch' or "
                "runtime='reference'"
            )
        blob, record, _ = portable.rebuild(src, meta)
        still = _engine.gpu_problem(record)
        if still is not None:
            raise RuntimeUnavailableError(
                f"{self.path}: engine {meta.name} was rebuilt with the local TensorRT but "
                f"cannot run here either: {still}. Load with on_incompatible='pytorch' or "
                "runtime='reference'"
            )
        _set_constant(gm, node, portable.arg_index(node, "engine"), f"{meta.name}_engine", blob)
        _set_metadata(node, dataclasses.replace(record, runtime="tensorrt"))


def _set_metadata(node: fx.Node, meta: EngineMetadata) -> None:
    args = list(node.args)
    args[portable.arg_index(node, "metadata")] = meta.to_json()
    node.args = tuple(args)


def _set_constant(
    gm: fx.GraphModule, node: fx.Node, index: int, name: str, data: bytes | bytearray | memoryview
) -> None:
    """Make argument ``index`` of ``node`` a new uint8 buffer holding ``data``."""
    target = name
    while hasattr(gm, target):
        target += "_"
    gm.register_buffer(target, portable.as_tensor(data))
    with gm.graph.inserting_before(node):
        attr = gm.graph.get_attr(target)
    old = node.args[index]
    args = list(node.args)
    args[index] = attr
    node.args = tuple(args)
    _drop_unused(gm, [old])


def _drop_unused(gm: fx.GraphModule, nodes: list[Any]) -> None:
    """Erase constant nodes nothing reads any more, and free their tensors."""
    for c in nodes:
        if not isinstance(c, fx.Node) or c.users:
            continue
        gm.graph.erase_node(c)
        target = str(c.target)
        if not any(n.op == "get_attr" and n.target == target for n in gm.graph.nodes):
            delattr(gm, target)


def _to_pytorch(gm: fx.GraphModule, node: fx.Node, name: str, src: fx.GraphModule) -> None:
    """Replace the engine call by a call of the region's source module."""
    target = f"{name}_source"
    gm.add_module(target, portable.RegionSource(src))
    with gm.graph.inserting_before(node):
        call = gm.graph.call_module(target, tuple(node.args[0]))  # type: ignore[arg-type]
    call.meta.update(node.meta)
    node.replace_all_uses_with(call)
    constants = list(node.args[1:3])
    gm.graph.erase_node(node)
    _drop_unused(gm, constants)


def _load_exported(
    art: Archive, runtime: str | None, on_incompatible: str, names: list[str]
) -> fx.GraphModule:
    ep = _guarded(art.path, "torch.export.load", lambda: torch.export.load(art.path))
    gm = _guarded(art.path, "ExportedProgram.module()", ep.module)
    assert isinstance(gm, fx.GraphModule)
    sources = portable.take_sources(gm, names, art.path)
    loader = _Loader(art.path, runtime, on_incompatible, sources)
    for node in portable.engine_nodes(gm):
        loader.resolve(gm, node)
    gm.graph.lint()
    gm.recompile()
    gm.meta[portable.SOURCES_KEY] = {**sources, **loader.loaded}
    return gm


def _jit_load(path: str) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        module = torch.jit.load(path)  # type: ignore[no-untyped-call]
    assert isinstance(module, torch.jit.ScriptModule)
    return module


def _load_torchscript(art: Archive, runtime: str | None, on_incompatible: str) -> Any:
    if runtime is not None or on_incompatible != "error":
        raise ValueError(
            "runtime= and on_incompatible= apply to exported_program files; a TorchScript "
            "program runs its engines as compiled (choose the runtime per call with "
            "`with torch_trt.runtime(...)`)"
        )
    module = _guarded(art.path, "torch.jit.load", lambda: _jit_load(art.path))
    from torch_trt.serialize import engine_records

    for meta in engine_records(module):
        problem = (
            None
            if meta.runtime == "reference"
            else (_engine.trt_problem(meta) or _engine.gpu_problem(meta))
        )
        if problem is not None:
            raise RuntimeUnavailableError(
                f"{art.path}: engine {meta.name} cannot run here: {problem}. Save the program "
                "as an ExportedProgram with with_source=True to rebuild it or run it in PyTorch"
            )
    return module


def load_program(
    art: Archive,
    runtime: str | None,
    on_incompatible: str,
    sources: list[str],
    specs: list[Input],
) -> torch.nn.Module:
    """The loaded module, every engine resolved for this machine (``sources``: the engines
    whose source the file holds)."""
    if art.kind == "torchscript":
        return _load_torchscript(art, runtime, on_incompatible)  # type: ignore[no-any-return]
    gm = _load_exported(art, runtime, on_incompatible, sources)
    if specs:
        from torch_trt.runtime.guard import install_guard

        placeholders = [str(n.target) for n in gm.graph.nodes if n.op == "placeholder"]
        if len(placeholders) == len(specs):
            gm = install_guard(gm, dict(zip(placeholders, specs, strict=True)))
    return gm
