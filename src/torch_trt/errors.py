"""The user-facing exception types.

Every failure a user can cause says what happened, where, and what to do next.
"""

from __future__ import annotations

import re

# Messages from torch and pybind can embed a tensor's repr ("Invoked with: tensor([...])",
# "Parameter containing: ..."): a user-facing message shows shapes and dtypes, never contents.
_TENSOR_REPR = re.compile(r"(Parameter containing:|tensor\(|Invoked with:)")
MAX_DETAIL = 400


def redact(text: str) -> str:
    """``text`` cut before any tensor contents and to at most :data:`MAX_DETAIL` characters."""
    match = _TENSOR_REPR.search(text)
    if match is not None:
        text = text[: match.start()].rstrip() + " <tensor contents omitted>"
    if len(text) > MAX_DETAIL:
        text = text[:MAX_DETAIL].rstrip() + " ..."
    return text


class TorchTRTError(Exception):
    """Base class of every error torch-trt raises on purpose."""


class TensorRTUnavailableError(TorchTRTError, ImportError):
    """Neither ``tensorrt`` nor ``tensorrt_rtx`` can be imported."""


class CaptureError(TorchTRTError):
    """``torch.export`` could not capture the model."""


class UnsupportedOperatorError(TorchTRTError):
    """``require_full_compilation=True`` and some nodes cannot run in TensorRT."""


class UnsupportedModelError(TorchTRTError, ValueError):
    """A model's architecture cannot be compiled the way asked (``torch_trt.llm``); the message
    names the module or feature that blocks it."""


class ConversionError(TorchTRTError):
    """A converter failed to express a node as TensorRT layers.

    Attributes:
        node: the name of the fx node that failed, when known.
    """

    def __init__(self, message: str, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node


class EngineBuildError(TorchTRTError):
    """TensorRT refused to build an engine for a region."""


class RuntimeUnavailableError(TorchTRTError, RuntimeError):
    """An engine was called where it cannot run (no CUDA, wrong GPU, no TensorRT)."""


class InputShapeError(TorchTRTError, ValueError):
    """An input's shape, dtype or device lies outside what the engine was built for."""


class EngineFormatError(TorchTRTError):
    """A serialized engine or its metadata is corrupt or from an incompatible version."""


class SerializationError(TorchTRTError, ValueError):
    """A saved file cannot be loaded: corrupt, truncated, foreign, unsafe or from a newer
    torch-trt. The message names the file and what is wrong."""
