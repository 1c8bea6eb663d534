"""torch-trt: compile PyTorch models to NVIDIA TensorRT, keep them PyTorch modules.

Example:
    >>> import torch, torch_trt
    >>> compiled = torch_trt.compile(model, inputs=[torch.randn(1, 3, 224, 224)])
    >>> print(torch_trt.report(compiled))
"""

from __future__ import annotations

from torch_trt import dynamo, fx, runtime, ts
from torch_trt._compile import compile
from torch_trt.convert.registry import converter
from torch_trt.errors import (
    CaptureError,
    ConversionError,
    EngineBuildError,
    EngineFormatError,
    InputShapeError,
    RuntimeUnavailableError,
    TensorRTUnavailableError,
    TorchTRTError,
    UnsupportedOperatorError,
)
from torch_trt.inputs import Input
from torch_trt.report import Report, report
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
    "TensorRTUnavailableError",
    "TorchTRTError",
    "UnsupportedOperatorError",
    "compile",
    "converter",
    "dynamo",
    "fx",
    "report",
    "runtime",
    "ts",
]
