"""Capture stage: whatever the user hands us becomes an ``ExportedProgram``."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from torch_trt.errors import CaptureError
from torch_trt.inputs import Input

log = logging.getLogger("torch_trt")


def example_inputs(inputs: Sequence[Any]) -> tuple[Any, ...]:
    """Tensors to trace with: ``Input`` specs become example tensors, tensors pass through."""
    out: list[Any] = []
    for i, x in enumerate(inputs):
        if isinstance(x, Input):
            out.append(x.example())
        elif isinstance(x, torch.Tensor | int | float | bool) or x is None:
            out.append(x)
        else:
            raise TypeError(f"inputs[{i}] must be a torch.Tensor or torch_trt.Input, got {type(x)}")
    return tuple(out)


def capture(
    model: torch.nn.Module | torch.export.ExportedProgram,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any] | None = None,
) -> torch.export.ExportedProgram:
    """``torch.export`` (non-strict) the model; an ``ExportedProgram`` passes through.

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
    try:
        return torch.export.export(model, args, dict(kwargs or {}), strict=False)
    except Exception as e:
        raise CaptureError(
            f"torch.export could not capture {type(model).__name__}: {type(e).__name__}: {e}\n"
            "hint: check that the example inputs match forward()'s signature; data-dependent "
            "control flow needs torch.cond, and untraceable code can be moved out of forward()."
        ) from e
