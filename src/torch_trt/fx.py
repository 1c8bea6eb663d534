"""The FX frontend (``ir="fx"``): ``torch.fx.symbolic_trace``, then the shared pipeline.

Symbolic tracing runs ``forward()`` once with proxy objects instead of tensors and records the
torch calls. It cannot follow Python control flow that depends on tensor values or shapes
(``if x.sum() > 0``, ``for i in range(x.shape[0])``), unpacking or indexing of proxies as Python
values, or calls into non-torch code that needs real data. Such a model raises
:class:`torch_trt.CaptureError` naming these limits; ``ir="dynamo"`` (torch.export) handles
most of them. A ``GraphModule`` that is already traced (with any tracer) is used as is.

Example:
    >>> trt_gm = torch_trt.fx.compile(model, [torch.randn(1, 3, 224, 224)], runtime="reference")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.dynamo.compile import compile as dynamo_compile
from torch_trt.errors import CaptureError

LIMITS = (
    "symbolic tracing cannot follow Python control flow on tensor values or shapes "
    "(if/for/while on a tensor or its size), cannot use a traced value as a Python value "
    "(unpacking, indexing a size, item assignment into a proxy), and cannot call non-torch code "
    "that needs real data"
)


def trace(module: torch.nn.Module) -> fx.GraphModule:
    """``torch.fx.symbolic_trace(module)``; a ``GraphModule`` passes through.

    Raises:
        CaptureError: tracing failed; the message states symbolic tracing's limits and
            suggests ``ir="dynamo"``.
    """
    if isinstance(module, fx.GraphModule):
        return module
    try:
        return fx.symbolic_trace(module)
    except Exception as e:
        raise CaptureError(
            f"torch.fx.symbolic_trace could not trace {type(module).__name__}: "
            f"{type(e).__name__}: {e}\n"
            f"{LIMITS}. Use ir='dynamo' (torch.export follows shapes and reports what it "
            "cannot capture), or mark the untraceable function with torch.fx.wrap."
        ) from e


def compile(
    module: torch.nn.Module,
    inputs: Sequence[Any] = (),
    *,
    kwarg_inputs: Mapping[str, Any] | None = None,
    **settings: Any,
) -> fx.GraphModule:
    """Trace ``module`` symbolically and compile the graph with TensorRT.

    Args:
        module: an ``nn.Module`` (traced with ``torch.fx.symbolic_trace``) or a traced
            ``fx.GraphModule``.
        inputs: example tensors or :class:`torch_trt.Input` specs, positionally.
        kwarg_inputs: example keyword inputs.
        **settings: options of :class:`torch_trt.CompileSettings`.

    Returns:
        An ``fx.GraphModule``, called like the model (saved with ``torch_trt.save``).

    Example:
        >>> trt_gm = torch_trt.fx.compile(model, [x], runtime="reference")
        >>> torch_trt.report(trt_gm).engines
        1
    """
    traced = trace(module)
    return dynamo_compile(traced, inputs, kwarg_inputs=kwarg_inputs, **settings)
