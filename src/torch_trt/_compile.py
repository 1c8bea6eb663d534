"""``torch_trt.compile``: one front door that sends each kind of module down its path.

=================  ===========================================================================
``ir``             path and result
=================  ===========================================================================
``"default"``      ``ScriptModule`` -> ``"ts"``; ``nn.Module``, ``GraphModule``,
                   ``ExportedProgram`` -> ``"dynamo"``
``"dynamo"``       torch.export, the AOT pipeline; an ``fx.GraphModule``
``"torch_compile"`` ``torch.compile(module, backend="torch_trt")``; compiles on first call
``"ts"``           TorchScript in and out (``"torchscript"`` is the same); a ``ScriptModule``
``"fx"``           ``torch.fx.symbolic_trace``, then the AOT pipeline; an ``fx.GraphModule``
=================  ===========================================================================
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from torch_trt import _migrate
from torch_trt import fx as fx_frontend
from torch_trt import ts as ts_frontend
from torch_trt.dynamo.capture import example_inputs, example_kwargs
from torch_trt.dynamo.compile import compile as dynamo_compile
from torch_trt.inputs import Input
from torch_trt.settings import CompileSettings

IRS = ("default", "dynamo", "torch_compile", "ts", "torchscript", "fx")
_NAMES = {
    "ScriptModule": "a ScriptModule",
    "ExportedProgram": "an ExportedProgram",
    "GraphModule": "an fx.GraphModule",
    "nn.Module": "an nn.Module",
}
_VALID = {
    "ScriptModule": ("default", "ts", "torchscript"),
    "ExportedProgram": ("default", "dynamo"),
    "GraphModule": IRS,
    "nn.Module": IRS,
}


def _kind(module: object) -> str:
    if isinstance(module, torch.jit.ScriptModule):
        return "ScriptModule"
    if isinstance(module, torch.export.ExportedProgram):
        return "ExportedProgram"
    if isinstance(module, torch.fx.GraphModule):
        return "GraphModule"
    if isinstance(module, torch.nn.Module):
        return "nn.Module"
    raise TypeError(
        "torch_trt.compile expects an nn.Module, fx.GraphModule, ExportedProgram or "
        f"torch.jit.ScriptModule, got {type(module).__name__}"
    )


def resolve_ir(module: object, ir: str) -> str:
    """The path ``ir`` takes ``module`` down: ``"dynamo"``, ``"torch_compile"``, ``"ts"`` or
    ``"fx"``.

    Raises:
        ValueError: ``ir`` is unknown, or does not fit the module's type (the message lists
            the valid values for that type).
    """
    if ir not in IRS:
        close = difflib.get_close_matches(str(ir), IRS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown ir {ir!r}; valid values: {', '.join(map(repr, IRS))}{hint}")
    kind = _kind(module)
    if ir not in _VALID[kind]:
        raise ValueError(
            f"ir={ir!r} does not accept {_NAMES[kind]}; valid ir values for {_NAMES[kind]}: "
            f"{', '.join(map(repr, _VALID[kind]))}"
        )
    if ir == "default":
        return "ts" if kind == "ScriptModule" else "dynamo"
    return "ts" if ir == "torchscript" else ir


def _spec(x: Any) -> Any:
    """A shape given as a tuple, list or ``torch.Size`` of ints (a Torch-TensorRT form) is a
    static float32 :class:`Input`; anything else is passed on."""
    if isinstance(x, tuple | list) and x and all(type(d) is int for d in x):
        return Input(shape=tuple(x))
    return x


def _positional(inputs: Any, arg_inputs: Any) -> list[Any] | None:
    if inputs is not None and arg_inputs is not None:
        raise TypeError("give inputs or arg_inputs (the same thing), not both")
    given = inputs if inputs is not None else arg_inputs
    if given is None:
        return None
    if isinstance(given, torch.Tensor | Input):
        return [given]
    if not isinstance(given, list | tuple):
        raise TypeError(
            f"inputs must be a list of tensors or torch_trt.Input, got {type(given).__name__}"
        )
    return [_spec(x) for x in given]


def compile(
    module: Any,
    ir: str = "default",
    inputs: Sequence[Any] | None = None,
    arg_inputs: Sequence[Any] | None = None,
    kwarg_inputs: Mapping[str, Any] | None = None,
    **settings: Any,
) -> Any:
    """Compile ``module`` with TensorRT along the path ``ir`` names.

    Args:
        module: an ``nn.Module``, ``fx.GraphModule``, ``torch.export.ExportedProgram`` or
            ``torch.jit.ScriptModule``.
        ir: ``"default"``, ``"dynamo"``, ``"torch_compile"``, ``"ts"`` / ``"torchscript"`` or
            ``"fx"`` (see docs/frontends.md).
        inputs: example tensors or :class:`torch_trt.Input` specs, positionally; a tuple of
            ints is a static float32 shape (``Input(shape=...)``).
        arg_inputs: the same as ``inputs`` (Torch-TensorRT's alias); give one of them.
        kwarg_inputs: example keyword inputs.
        **settings: options of :class:`torch_trt.CompileSettings`, Torch-TensorRT's names
            where they have a meaning here (docs/migrating.md), and ``ts_method`` for
            ``ir="ts"`` (``"script"`` or ``"trace"``).

    Returns:
        ``"dynamo"``/``"fx"``: an ``fx.GraphModule``; ``"ts"``: a ``torch.jit.ScriptModule``;
        ``"torch_compile"``: the module ``torch.compile`` returns.

    Example:
        >>> trt_model = torch_trt.compile(model, inputs=[torch.randn(1, 3, 224, 224)],
        ...                               runtime="reference")
    """
    path = resolve_ir(module, ir)
    args = _positional(inputs, arg_inputs)
    if kwarg_inputs is not None:
        kwarg_inputs = {k: _spec(v) for k, v in kwarg_inputs.items()}
    ts_method = settings.pop("ts_method", None)
    if ts_method is not None and path != "ts":
        raise ValueError(f"ts_method applies to ir='ts' only, not ir={ir!r}")
    options = _migrate.translate(settings, path)
    if path == "torch_compile":
        return _torch_compile(module, args, kwarg_inputs, options)
    if args is None and kwarg_inputs is None and _kind(module) != "ExportedProgram":
        raise ValueError(
            f"ir={ir!r} traces the model and needs example inputs: pass "
            "inputs=[torch_trt.Input(...) or example tensors] (and kwarg_inputs= for keywords)"
        )
    if path == "ts":
        return ts_frontend.compile(
            module, args or (), kwarg_inputs=kwarg_inputs, ts_method=ts_method, **options
        )
    if path == "fx":
        return fx_frontend.compile(module, args or (), kwarg_inputs=kwarg_inputs, **options)
    return dynamo_compile(module, args or (), kwarg_inputs=kwarg_inputs, **options)


def _torch_compile(
    module: torch.nn.Module,
    args: list[Any] | None,
    kwarg_inputs: Mapping[str, Any] | None,
    options: dict[str, Any],
) -> Any:
    """``torch.compile(module, backend="torch_trt", options=...)``; with example inputs given,
    the first call (which compiles) happens here."""
    CompileSettings.from_kwargs(**options)  # unknown or invalid options fail now, not at call
    specs = [*(args or ()), *(kwarg_inputs or {}).values()]
    if any(isinstance(s, Input) and s.is_dynamic for s in specs):
        raise ValueError(
            "ir='torch_compile' compiles for the shapes it is called with; give static example "
            "inputs (or none) instead of Input ranges, or use ir='dynamo' for ranges"
        )
    try:  # registers the torch.compile backend "torch_trt"
        importlib.import_module("torch_trt.dynamo.backend")
    except ModuleNotFoundError as e:
        if e.name != "torch_trt.dynamo.backend":
            raise
        raise NotImplementedError(
            "ir='torch_compile' needs the torch.compile backend torch_trt.dynamo.backend, "
            "which this build of torch-trt does not have; use ir='dynamo'"
        ) from e
    compiled = torch.compile(module, backend="torch_trt", options=options or None)
    if args is not None or kwarg_inputs is not None:
        with torch.no_grad():
            compiled(*example_inputs(args or ()), **example_kwargs(kwarg_inputs))
    return compiled
