"""The Dynamo / torch.export frontends."""

from __future__ import annotations

from torch_trt.dynamo.backend import backend
from torch_trt.dynamo.compile import compile

__all__ = ["backend", "compile"]
