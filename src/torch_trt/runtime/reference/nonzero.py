"""Reference evaluator for INonZeroLayer (a layer whose output size depends on the data).

Semantics [OP/NonZero] (https://docs.nvidia.com/deeplearning/tensorrt/latest/_static/operators/NonZero.html)
and the C++ INonZeroLayer docs: the positions of the non-zero elements (True for bool inputs),
one *column* per element, so the output is ``[D, C]`` for a rank-D input with C non-zero
elements, columns in row-major (lexical) order; the output type is int32 or int64
(``indices_type``). Inputs: bool, int8, int32, float16, float32, bfloat16.

Our converters do not emit this layer (TensorRT-RTX 1.7.1 cannot build it, see
convert/ops/nonzero.py); the evaluator reads networks that contain it.
"""

from __future__ import annotations

from typing import Any

import torch

from torch_trt.runtime.reference.data import Args, need
from torch_trt.runtime.reference.program import (
    LayerRecord,
    ReferenceError,
    evaluator,
    layer_kind,
)

_INPUTS = (torch.bool, torch.int8, torch.int32, torch.float16, torch.float32, torch.bfloat16)


@layer_kind("NON_ZERO", "INonZeroLayer")
def read_non_zero(layer: Any) -> dict[str, Any]:
    return {}  # the indices type is the output dtype, which every record carries


@evaluator("NON_ZERO")
def eval_non_zero(rec: LayerRecord, args: Args) -> list[torch.Tensor]:
    x = need(args, 0, rec)
    if x.dtype not in _INPUTS:
        raise ReferenceError(f"layer {rec.name!r}: NonZero does not take {x.dtype} inputs")
    dtype = rec.output_dtypes[0]
    if dtype not in (torch.int32, torch.int64):
        raise ReferenceError(f"layer {rec.name!r}: NonZero indices must be int32/int64")
    return [torch.nonzero(x != 0).t().contiguous().to(dtype)]
