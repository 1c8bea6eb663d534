"""The reference runtime: evaluate a TensorRT network with PyTorch ops, on CPU or CUDA.

Importing this package registers every layer family's reader and evaluator.

Example:
    >>> from torch_trt.runtime.reference import read_network
    >>> (y,) = read_network(net).run([x])
"""

from __future__ import annotations

from torch_trt.runtime.reference import (  # noqa: F401  (imported to register evaluators)
    data,
    elementwise,
    heavy_attention,
    heavy_nn,
    heavy_resize,
    heavy_sample,
    indexing,
    kv_cache,
    loops,
    nonzero,
    reductions,
    shape_ops,
)
from torch_trt.runtime.reference.program import (
    FORMAT_VERSION,
    LayerRecord,
    ReferenceError,
    ReferenceProgram,
    read_network,
    supported_layer_types,
)

__all__ = [
    "FORMAT_VERSION",
    "LayerRecord",
    "ReferenceError",
    "ReferenceProgram",
    "read_network",
    "supported_layer_types",
]
