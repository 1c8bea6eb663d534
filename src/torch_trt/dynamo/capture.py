"""Capture stage: whatever the user hands us becomes an ``ExportedProgram``.

Dynamic :class:`Input` ranges become ``torch.export`` dynamic dims: a named dim (``dim_names``)
is one ``Dim`` shared by every input that uses the name; an unnamed one is ``Dim.AUTO`` with the
range, so torch.export finds equal dims (a shared batch) by itself.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.export import Dim

from torch_trt.errors import CaptureError
from torch_trt.inputs import Input

log = logging.getLogger("torch_trt")


def _example(where: str, x: Any) -> Any:
    if isinstance(x, Input):
        return x.example()
    if isinstance(x, torch.Tensor | int | float | bool) or x is None:
        return x
    raise TypeError(f"{where} must be a torch.Tensor or torch_trt.Input, got {type(x)}")


def example_inputs(inputs: Sequence[Any]) -> tuple[Any, ...]:
    """Tensors to trace with: ``Input`` specs become example tensors, tensors pass through."""
    return tuple(_example(f"inputs[{i}]", x) for i, x in enumerate(inputs))


def example_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keyword example inputs, as :func:`example_inputs`."""
    return {k: _example(f"kwarg_inputs[{k!r}]", v) for k, v in (kwargs or {}).items()}


def input_specs(
    model: torch.nn.Module, inputs: Sequence[Any], kwargs: Mapping[str, Any] | None
) -> dict[str, Input | None]:
    """Every given argument, keyed by its forward() name: an :class:`Input` for tensors and
    specs, ``None`` for other values."""
    signature = inspect.signature(model.forward)
    var_positional = {p.name for p in signature.parameters.values() if p.kind is p.VAR_POSITIONAL}
    try:
        bound = signature.bind(*inputs, **dict(kwargs or {}))
    except TypeError:  # export reports signature problems better; name inputs by position
        named: dict[str, Any] = {f"arg{i}": x for i, x in enumerate(inputs)}
        named.update(kwargs or {})
    else:
        named = dict(bound.arguments)
    specs: dict[str, Input | None] = {}
    for name, x in named.items():
        # *args arrive as one tuple; export names their placeholders <name>_<i>.
        items = {f"{name}_{i}": v for i, v in enumerate(x)} if name in var_positional else {name: x}
        for key, value in items.items():
            if isinstance(value, Input):
                specs[key] = value
            elif isinstance(value, torch.Tensor):
                specs[key] = Input.from_tensor(value)
            else:
                specs[key] = None
    return specs


def _dims_for(
    arg: str, spec: Input, named: dict[str, tuple[Any, tuple[int, int]]]
) -> dict[int, Any] | None:
    dims: dict[int, Any] = {}
    for d in spec.dynamic_dims():
        lo, hi = spec.min_shape[d], spec.max_shape[d]
        name = spec.dim_names[d]
        if name is None:
            dims[d] = Dim.AUTO(min=lo, max=hi)
            continue
        if name not in named:
            named[name] = (Dim(name, min=lo, max=hi), (lo, hi))
        elif named[name][1] != (lo, hi):
            raise ValueError(
                f"dim name {name!r} has range {named[name][1]} in one Input and {(lo, hi)} in "
                f"{arg!r}: one name is one dimension with one range"
            )
        dims[d] = named[name][0]
    return dims or None


def _dynamic_shapes(
    model: torch.nn.Module, inputs: Sequence[Any], kwargs: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """torch.export's ``dynamic_shapes``, shaped like forward()'s bound arguments."""
    specs = input_specs(model, inputs, kwargs)
    if not any(s is not None and s.is_dynamic for s in specs.values()):
        return None
    named: dict[str, tuple[Any, tuple[int, int]]] = {}
    flat = {k: None if s is None else _dims_for(k, s, named) for k, s in specs.items()}
    signature = inspect.signature(model.forward)
    bound = signature.bind(*inputs, **dict(kwargs or {}))
    out: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if signature.parameters[name].kind is inspect.Parameter.VAR_POSITIONAL:
            out[name] = tuple(flat.get(f"{name}_{i}") for i in range(len(value)))
        else:
            out[name] = flat.get(name)
    return out


def capture(
    model: torch.nn.Module | torch.export.ExportedProgram,
    inputs: Sequence[Any],
    kwargs: Mapping[str, Any] | None = None,
) -> torch.export.ExportedProgram:
    """``torch.export`` (non-strict) the model; an ``ExportedProgram`` passes through.

    Args:
        model: the model.
        inputs: positional example tensors or :class:`Input` specs.
        kwargs: keyword example tensors or specs.

    Raises:
        CaptureError: export failed; the message keeps torch's reason and says what to try.
    """
    if isinstance(model, torch.export.ExportedProgram):
        return model
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"compile expects an nn.Module, fx.GraphModule or ExportedProgram, got {type(model)}"
        )
    if model.training:
        log.warning(
            "torch-trt: %s is in training mode; compiling it as is (call model.eval() for "
            "inference: dropout and batch norm behave differently)",
            type(model).__name__,
        )
    args, kw = example_inputs(inputs), example_kwargs(kwargs)
    dynamic = _dynamic_shapes(model, inputs, kwargs)
    try:
        return torch.export.export(model, args, kw, dynamic_shapes=dynamic, strict=False)
    except Exception as e:
        raise CaptureError(
            f"torch.export could not capture {type(model).__name__}: {type(e).__name__}: {e}\n"
            "hint: check that the example inputs match forward()'s signature; data-dependent "
            "control flow needs torch.cond, and untraceable code can be moved out of forward()."
        ) from e
