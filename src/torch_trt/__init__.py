"""torch-trt: compile PyTorch models to NVIDIA TensorRT, keep them PyTorch modules.

Example:
    >>> import torch, torch_trt
    >>> compiled = torch_trt.compile(model, inputs=[torch.randn(1, 3, 224, 224)])
    >>> print(torch_trt.report(compiled))
    >>> torch_trt.save(compiled, "model.pt2")        # and in another process:
    >>> model = torch_trt.load("model.pt2")

``torch_trt.runtime`` is the runtime package and, called, the context manager choosing how
engines run: ``with torch_trt.runtime("reference"): ...``.
"""

from __future__ import annotations

from torch_trt import dynamo, fx, llm, serialize, ts
from torch_trt import runtime as _runtime_package  # noqa: F401  (registers execute_engine)
from torch_trt._compile import compile
from torch_trt.convert.registry import converter
from torch_trt.errors import (
    CaptureError,
    ConversionError,
    EngineBuildError,
    EngineFormatError,
    InputShapeError,
    RuntimeUnavailableError,
    SerializationError,
    TensorRTUnavailableError,
    TorchTRTError,
    UnsupportedModelError,
    UnsupportedOperatorError,
)
from torch_trt.inputs import Input
from torch_trt.report import Report, report
from torch_trt.serialize import load, save
from torch_trt.settings import CompileSettings

__version__ = "0.1.0"

__all__ = [
    "CaptureError",
    "CompileSettings",
    "ConversionError",
    "EngineBuildError",
    "EngineFormatError",
    "Input",
    "InputShapeError",
    "Report",
    "RuntimeUnavailableError",
    "SerializationError",
    "TensorRTUnavailableError",
    "TorchTRTError",
    "UnsupportedModelError",
    "UnsupportedOperatorError",
    "compile",
    "converter",
    "dynamo",
    "fx",
    "llm",
    "load",
    "report",
    "runtime",
    "save",
    "serialize",
    "ts",
]
