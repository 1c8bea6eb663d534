"""The user-facing exception types.

Every failure a user can cause says what happened, where, and what to do next.
"""

from __future__ import annotations


class TorchTRTError(Exception):
    """Base class of every error torch-trt raises on purpose."""


class TensorRTUnavailableError(TorchTRTError, ImportError):
    """Neither ``tensorrt`` nor ``tensorrt_rtx`` can be imported."""


class CaptureError(TorchTRTError):
    """``torch.export`` could not capture the model."""


class UnsupportedOperatorError(TorchTRTError):
    """``require_full_compilation=True`` and some nodes cannot run in TensorRT."""


class ConversionError(TorchTRTError):
    """A converter failed to express a node as TensorRT layers."""


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
