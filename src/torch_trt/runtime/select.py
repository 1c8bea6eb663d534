"""Where the runtime is chosen: at the call, not at compile.

Each engine's metadata names a default runtime (``compile(..., runtime=...)``); the
:func:`runtime` context manager overrides it for every engine called inside the block, in this
thread or task (a ``contextvars.ContextVar``, so concurrent callers do not see each other's
choice).

Example:
    >>> with torch_trt.runtime("reference"):
    ...     y = compiled(x)        # every engine evaluated by the reference runtime
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

RUNTIMES = ("tensorrt", "reference")

_SELECTED: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "torch_trt_runtime", default=None
)


@contextlib.contextmanager
def runtime(name: str) -> Iterator[None]:
    """Run every torch-trt engine called inside the block with runtime ``name``.

    Args:
        name: ``"tensorrt"`` (the engine on a CUDA GPU) or ``"reference"`` (the TensorRT
            network evaluated with PyTorch ops; needs the engine's reference program, present
            when compiled with ``runtime="reference"`` or loaded with ``runtime="reference"``).

    Example:
        >>> with torch_trt.runtime("reference"):
        ...     out = compiled(x)
    """
    if name not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {name!r}")
    token = _SELECTED.set(name)
    try:
        yield
    finally:
        _SELECTED.reset(token)


def selected(default: str) -> str:
    """The runtime chosen for this call: the innermost :func:`runtime` block, else
    ``default`` (the engine metadata's)."""
    return _SELECTED.get() or default
