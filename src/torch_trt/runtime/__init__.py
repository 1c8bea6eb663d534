"""Runtime: the execute_engine op, GPU execution and the reference runtime."""

from __future__ import annotations

from torch_trt.runtime import op as _op  # noqa: F401  (defines torch.ops.torch_trt.execute_engine)
