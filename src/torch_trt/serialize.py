"""Save compiled programs and load them in another process, portably and safely.

Two formats: ``"exported_program"`` (a ``.pt2`` written by ``torch.export.save``: the graph holds
the ``torch_trt::execute_engine`` calls with each engine a uint8 constant and the PyTorch
regions as ATen nodes) and ``"torchscript"`` (a ``ScriptModule`` written by ``torch.jit.save``).
torch-trt adds a manifest (format version, input specs, the compile report) and, with
``with_source=True``, each TensorRT region's ATen source (see :mod:`torch_trt.portable`).

Example:
    >>> torch_trt.save(compiled, "model.pt2", inputs=[x], with_source=True)
    >>> model = torch_trt.load("model.pt2", runtime="reference")   # in another process
    >>> y = model(x)
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import fx

from torch_trt import archive, portable
from torch_trt.errors import EngineFormatError, SerializationError
from torch_trt.inputs import Input
from torch_trt.report import REPORT_KEY, Report
from torch_trt.runtime.engine import EngineMetadata
from torch_trt.runtime.op import parse_metadata
from torch_trt.runtime.select import RUNTIMES
from torch_trt.serialize_load import load_program, manifest_specs

__all__ = ["engine_records", "load", "save", "to_torchscript"]

FORMATS = ("exported_program", "torchscript")
ARTIFACT_VERSION = 1
MANIFEST = "manifest.json"
#: The manifest key of a saved causal LM (``torch_trt.llm``): its cache layout and config.
LLM_KEY = "llm"
_EXTRA = "torch_trt/"


def _choice(option: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{option} must be one of {tuple(allowed)}, got {value!r}")


def _compiled(module: object) -> fx.GraphModule:
    if isinstance(module, fx.GraphModule) and (
        REPORT_KEY in module.meta or portable.engine_nodes(module)
    ):
        return module
    raise TypeError(
        f"torch_trt.save expects a module returned by torch_trt.dynamo.compile or "
        f"torch_trt.load, got {type(module).__name__}"
    )


def _guard_specs(gm: fx.GraphModule) -> list[Input]:
    """Input specs from the compiled module's input guard (the shapes it was compiled for)."""
    expects = getattr(getattr(gm, "_guards_fn", None), "expects", None)
    if not expects or any(e is None for e in expects):
        raise ValueError(
            "save needs inputs=: this module's inputs are not all tensors with known shapes; "
            "pass the example tensors or torch_trt.Input specs it was compiled with"
        )
    return [
        Input(min_shape=e.lo, opt_shape=e.lo, max_shape=e.hi, dtype=e.dtype, name=e.name)
        for e in expects
    ]


def _split(gm: fx.GraphModule, specs: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword inputs as the compiled module's input spec expects them."""
    spec = getattr(gm, "_in_spec", None)
    if spec is None or spec.num_children != 2:
        return specs, {}
    positional, keyword = spec.children()
    n_args = positional.num_children
    keys = list(keyword.context)
    if n_args + len(keys) != len(specs):
        return specs, {}
    return specs[:n_args], dict(zip(keys, specs[n_args:], strict=True))


def _check_within(gm: fx.GraphModule, given: list[Any]) -> None:
    """Inputs to export with must lie in the shapes the module was compiled for: tracing skips
    the input guard, so a wider range would be saved without any engine able to run it."""
    from torch_trt.runtime.engine import shape_problem

    expects = getattr(getattr(gm, "_guards_fn", None), "expects", [])
    for i, (x, e) in enumerate(zip(given, expects, strict=False)):
        if e is None or not isinstance(x, Input | torch.Tensor):
            continue
        spec = x if isinstance(x, Input) else Input.from_tensor(x)
        problems = [shape_problem(e.name, s, e.lo, e.hi) for s in (spec.min_shape, spec.max_shape)]
        problem = next((p for p in problems if p is not None), None)
        if spec.dtype != e.dtype:
            problem = f"input {e.name!r} must be {e.dtype}, got {spec.dtype}"
        if problem is not None:
            raise ValueError(
                f"save: inputs[{i}] lies outside what the module was compiled for: {problem}"
            )


def _export(
    gm: fx.GraphModule, inputs: Sequence[Any] | None, kwarg_inputs: Mapping[str, Any] | None
) -> torch.export.ExportedProgram:
    from torch_trt.dynamo.capture import _dynamic_shapes, example_inputs, example_kwargs

    if inputs is None and kwarg_inputs is None:
        args, kwargs = _split(gm, list(_guard_specs(gm)))
    else:
        args, kwargs = list(inputs or ()), dict(kwarg_inputs or {})
        _check_within(gm, [*args, *kwargs.values()])
    dynamic = _dynamic_shapes(gm, args, kwargs)
    try:
        ep = torch.export.export(
            gm, example_inputs(args), example_kwargs(kwargs), dynamic_shapes=dynamic, strict=False
        )
    except Exception as e:
        raise SerializationError(
            f"torch.export could not export the compiled module for saving: "
            f"{type(e).__name__}: {_first_line(e)}; check that inputs= matches the compiled "
            "module's inputs"
        ) from e
    return ep


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else ""


def _manifest(
    gm: fx.GraphModule,
    output_format: str,
    sources: Sequence[str],
    extra: Mapping[str, Any] | None = None,
) -> str:
    rep = gm.meta.get(REPORT_KEY)
    try:
        specs = _guard_specs(gm)
    except ValueError:
        specs = []
    return json.dumps(
        {
            "artifact_version": ARTIFACT_VERSION,
            "torch_trt_version": _version(),
            "torch_version": torch.__version__,
            "output_format": output_format,
            "inputs": [
                {
                    "name": s.name,
                    "dtype": str(s.dtype).removeprefix("torch."),
                    "min": s.min_shape,
                    "max": s.max_shape,
                }
                for s in specs
            ],
            "report": {**rep.to_dict(), "layer_to_node": rep.layer_to_node} if rep else None,
            "sources": list(sources),
            **(extra or {}),
        },
        sort_keys=True,
    )


def _version() -> str:
    import torch_trt

    return str(torch_trt.__version__)


def save(
    module: torch.nn.Module,
    path: str | os.PathLike[str],
    *,
    output_format: str = "exported_program",
    inputs: Sequence[Any] | None = None,
    kwarg_inputs: Mapping[str, Any] | None = None,
    with_source: bool = False,
) -> None:
    """Write a compiled module to ``path``, to load with :func:`load` in any process.

    Args:
        module: a module returned by ``torch_trt.dynamo.compile`` or :func:`load`, or a
            :class:`torch_trt.llm.CausalLM` (saved with what ``generate`` needs; see
            ``docs/llm.md``).
        path: file to write (``.pt2`` for ExportedProgram, ``.ts`` for TorchScript by habit).
        output_format: ``"exported_program"`` (``torch.export.save``; also loads with
            ``torch.export.load`` once ``torch_trt`` is imported) or ``"torchscript"``
            (``torch.jit.save``; loads with ``torch.jit.load`` after ``import torch_trt``).
        inputs: example tensors or :class:`torch_trt.Input` specs to export with; by default
            the shapes and ranges the module was compiled for. Dynamic ranges are kept.
        kwarg_inputs: keyword example inputs, as ``inputs``.
        with_source: also store each TensorRT region's ATen source, so the program can run
            where its engines cannot (``load(..., on_incompatible="rebuild" | "pytorch")``,
            ``runtime="reference"``).

    Example:
        >>> compiled = torch_trt.dynamo.compile(model, [x], runtime="reference")
        >>> torch_trt.save(compiled, "model.pt2", with_source=True)
    """
    _check_options(output_format, with_source, inputs is None and kwarg_inputs is None)
    from torch_trt.llm.generate import CausalLM

    if isinstance(module, CausalLM):  # its step, plus what generate needs (llm/saved.py)
        from torch_trt.llm import saved

        saved.save(
            module,
            path,
            output_format=output_format,
            inputs=inputs,
            kwarg_inputs=kwarg_inputs,
            with_source=with_source,
        )
        return
    gm = _compiled(module)
    if output_format == "exported_program":
        save_program(gm, path, inputs=inputs, kwarg_inputs=kwarg_inputs, with_source=with_source)
        return
    extra = {_EXTRA + MANIFEST: _manifest(gm, output_format, [])}
    scripted = to_torchscript(gm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        torch.jit.save(scripted, os.fspath(path), _extra_files=extra)


def _check_options(output_format: str, with_source: bool, default_inputs: bool) -> None:
    _choice("output_format", output_format, FORMATS)
    if not isinstance(with_source, bool):
        raise TypeError(f"with_source must be a bool, got {with_source!r}")
    if output_format == "torchscript" and with_source:
        raise ValueError(
            "with_source=True needs output_format='exported_program': a TorchScript file runs "
            "its engines as compiled, so region sources would never be used"
        )
    if output_format == "torchscript" and not default_inputs:
        raise ValueError(
            "inputs= and kwarg_inputs= are for output_format='exported_program' (TorchScript "
            "is scripted from the compiled graph, not traced)"
        )


def save_program(
    gm: fx.GraphModule,
    path: str | os.PathLike[str],
    *,
    inputs: Sequence[Any] | None = None,
    kwarg_inputs: Mapping[str, Any] | None = None,
    with_source: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """:func:`save` of a compiled module as an ExportedProgram, with ``extra`` entries added to
    its manifest (a causal LM's cache layout and config)."""
    sources = portable.export_sources(gm) if with_source else {}
    manifest = _manifest(gm, "exported_program", list(sources), extra)
    # Sources travel as unused uint8 buffers of the program: raw bytes, read back by
    # torch.export.load as tensors (no pickle), only while saving.
    for name, data in sources.items():
        gm.register_buffer(portable.SOURCE_PREFIX + name, portable.as_tensor(data))
    try:
        ep = _export(gm, inputs, kwarg_inputs)
    finally:
        for name in sources:
            delattr(gm, portable.SOURCE_PREFIX + name)
    torch.export.save(ep, path, extra_files={_EXTRA + MANIFEST: manifest})


def to_torchscript(gm: fx.GraphModule) -> torch.jit.ScriptModule:
    """A ``ScriptModule`` of a compiled module (``torch.jit.script`` of its graph).

    Inputs are the compiled module's flat tensor arguments, in order; a single tensor output
    stays a tensor, any other output structure becomes a flat tuple. The input guard is left
    out (each engine still checks its inputs). Loading needs ``import torch_trt`` (it
    registers ``torch_trt::execute_engine``).

    Example:
        >>> scripted = torch_trt.serialize.to_torchscript(compiled)
        >>> torch.jit.save(scripted, "model.ts")
    """
    import copy

    graph = copy.deepcopy(gm.graph)
    single = False
    info = getattr(graph._codegen, "pytree_info", None)
    if info is not None and info.out_spec is not None:
        single = info.out_spec.is_leaf()
    for n in list(graph.nodes):
        if n.op == "call_module" and str(n.target) == "_guards_fn":
            graph.erase_node(n)
        elif n.op == "call_function" and isinstance(n.target, torch._ops.OpOverload):
            n.target = n.target.overloadpacket  # TorchScript picks overloads by schema
    graph.set_codegen(fx.graph.CodeGen())
    out = next(n for n in graph.nodes if n.op == "output")
    if single and isinstance(out.args[0], list | tuple) and len(out.args[0]) == 1:
        out.args = (out.args[0][0],)
    plain = fx.GraphModule(gm, graph)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
            # fx.GraphModule's own untyped attributes; they are not part of the program
            warnings.filterwarnings("ignore", "The TorchScript type system doesn't support")
            return torch.jit.script(plain)
    except Exception as e:
        raise SerializationError(
            f"torch.jit.script could not script the compiled module: {type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}; save with "
            "output_format='exported_program' instead"
        ) from e


def engine_records(module: torch.nn.Module) -> list[EngineMetadata]:
    """The engine record (metadata) of every engine in a compiled or loaded module.

    Example:
        >>> [r.trt_version for r in torch_trt.serialize.engine_records(model)]
    """
    texts: list[str] = []
    if isinstance(module, torch.jit.ScriptModule):
        for node in module.inlined_graph.nodes():
            if node.kind() == "torch_trt::execute_engine":
                texts.append(str(node.inputsAt(3).toIValue()))
            elif node.kind() == "torch_trt::execute_engine_inplace":
                texts.append(str(node.inputsAt(4).toIValue()))
    elif isinstance(module, fx.GraphModule):
        texts = [
            str(n.args[portable.arg_index(n, "metadata")]) for n in portable.engine_nodes(module)
        ]
    try:
        return [parse_metadata(t) for t in texts]
    except EngineFormatError as e:
        raise SerializationError(str(e)) from None


def load(
    path: str | os.PathLike[str], *, runtime: str | None = None, on_incompatible: str = "error"
) -> torch.nn.Module:
    """Load a program written by :func:`save` (or any ExportedProgram ``.pt2``).

    Args:
        path: the saved file.
        runtime: ``None`` (each engine's own: as compiled), ``"tensorrt"`` or ``"reference"``
            (evaluate every region's TensorRT network with PyTorch ops; needs a reference
            program, i.e. compiled with ``runtime="reference"`` or saved ``with_source=True``).
        on_incompatible: what to do with an engine that cannot run here (no usable GPU, other
            TensorRT flavour or version, unsupported compute capability): ``"error"`` raises
            :class:`RuntimeUnavailableError`; ``"rebuild"`` builds it again from its source
            with the local TensorRT; ``"pytorch"`` runs its source in PyTorch, with one warning
            per region. Both need a file saved ``with_source=True``.

    Returns:
        A :class:`~torch_trt.runtime.module.CompiledModule` (an ``fx.GraphModule``, for
        ExportedProgram files) or ``torch.jit.ScriptModule``
        (TorchScript files), called like the compiled module; ``torch_trt.report`` works on it.
        A file saved from a compiled causal LM gives a :class:`torch_trt.llm.CausalLM` (not a
        module: it has ``generate``; :func:`torch_trt.llm.load` is its typed loader).

    Raises:
        SerializationError: the file is corrupt, truncated, foreign, unsafe (pickled Python
            objects) or from a newer torch-trt.
        RuntimeUnavailableError: an engine cannot run here and ``on_incompatible="error"``.

    Example:
        >>> model = torch_trt.load("model.pt2", on_incompatible="pytorch")
    """
    if runtime is not None:
        _choice("runtime", runtime, RUNTIMES)
    _choice("on_incompatible", on_incompatible, ("error", "rebuild", "pytorch"))
    art = archive.inspect(path)
    manifest = _read_manifest(art)
    sources = [str(s) for s in manifest.get("sources", [])]
    module = load_program(art, runtime, on_incompatible, sources, manifest_specs(manifest))
    raw = manifest.get("report")
    rep = Report.from_dict(raw) if isinstance(raw, dict) else _bare_report(module)
    if isinstance(module, fx.GraphModule):
        from torch_trt.dynamo.lower import mutated_attrs
        from torch_trt.runtime.module import make_compiled_module

        # The same drop-in module a compile returns (eval(), clear errors, own state).
        module = make_compiled_module(
            module, None, False, mutated_attrs(module), {**module.meta, REPORT_KEY: rep}
        )
    else:
        object.__setattr__(module, "_torch_trt_report", rep)
    if LLM_KEY in manifest and isinstance(module, fx.GraphModule):
        from torch_trt.llm.saved import from_manifest

        # Not an nn.Module: the one exception to the return type, typed by torch_trt.llm.load.
        return from_manifest(module, manifest[LLM_KEY], str(path))  # type: ignore[return-value]
    return module


def _read_manifest(art: archive.Archive) -> dict[str, Any]:
    data = art.files.get(MANIFEST)
    if data is None:
        return {}  # a plain ExportedProgram or TorchScript file
    try:
        manifest = json.loads(data)
        version = manifest["artifact_version"]
    except (ValueError, KeyError, TypeError):
        raise SerializationError(
            f"cannot load {art.path}: its torch-trt manifest is corrupt"
        ) from None
    if not isinstance(version, int) or version > ARTIFACT_VERSION:
        raise SerializationError(
            f"cannot load {art.path}: it was saved by torch-trt "
            f"{manifest.get('torch_trt_version', '?')} in artifact format {version}, newer than "
            f"this torch-trt {_version()} reads ({ARTIFACT_VERSION}); upgrade torch-trt"
        )
    return dict(manifest)


def _bare_report(module: torch.nn.Module) -> Report:
    """What a file without a manifest tells: its engines (name and size), nothing else."""
    from torch_trt.report import EngineInfo

    sizes: list[int] = []
    if isinstance(module, fx.GraphModule):
        for node in portable.engine_nodes(module):
            blob = node.args[portable.arg_index(node, "engine")]
            target = blob.target if isinstance(blob, fx.Node) else None
            sizes.append(int(getattr(module, str(target)).numel()) if target else 0)
    records = engine_records(module)
    sizes += [0] * (len(records) - len(sizes))
    return Report(
        engine_info=[EngineInfo(r.name, 0, 0, n, 0.0) for r, n in zip(records, sizes, strict=True)]
    )
