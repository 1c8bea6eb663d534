"""Runtime: the execute_engine op, GPU execution and the reference runtime.

The package is also the context manager that chooses how engines run (``runtime/select.py``):
``with torch_trt.runtime("reference"): ...``. Calling the module keeps both spellings working,
``torch_trt.runtime("reference")`` and ``torch_trt.runtime.engine``.
"""

from __future__ import annotations

import contextlib
import sys
import types

from torch_trt.runtime import op as _op  # noqa: F401  (defines torch.ops.torch_trt.execute_engine)
from torch_trt.runtime.select import runtime as _select_runtime


class _CallableModule(types.ModuleType):
    def __call__(self, name: str) -> contextlib.AbstractContextManager[None]:
        """``with torch_trt.runtime(name):`` -- see :func:`torch_trt.runtime.select.runtime`."""
        return _select_runtime(name)


sys.modules[__name__].__class__ = _CallableModule
