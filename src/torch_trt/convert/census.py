"""Layer census of a converted network: how many layers run in each precision, and the casts.

A layer's precision is the dtype it computes in: that of its first float input (a comparison
of fp16 tensors is fp16 work), else of its output (constants, shape arithmetic on int64). Cast
layers are counted apart. The report (``EngineInfo.by_precision``, ``EngineInfo.casts``) and the
engine's metadata record (``"layers"``) carry the counts.

Example:
    >>> census = layer_census(network.net)
    >>> census.counts()
    {'total': 54, 'by_precision': {'fp16': 49, 'fp32': 2}, 'casts': 3}
    >>> census.precision["linear:0"]
    'fp16'
"""

from __future__ import annotations

import dataclasses
from typing import Any

#: Short names of TensorRT dtypes, as the report prints them.
DTYPE_NAMES = {
    "FLOAT": "fp32",
    "HALF": "fp16",
    "BF16": "bf16",
    "FP8": "fp8",
    "INT8": "int8",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
    "UINT8": "uint8",
    "INT4": "int4",
}
_FLOAT_NAMES = ("fp32", "fp16", "bf16", "fp8")
CAST = "cast"


@dataclasses.dataclass
class LayerCensus:
    """Per layer (by name) its precision, or ``"cast"`` for an ``ICastLayer``."""

    precision: dict[str, str]

    @property
    def total(self) -> int:
        return len(self.precision)

    @property
    def casts(self) -> int:
        return sum(1 for p in self.precision.values() if p == CAST)

    @property
    def by_precision(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.precision.values():
            if p != CAST:
                out[p] = out.get(p, 0) + 1
        return dict(sorted(out.items()))

    def counts(self) -> dict[str, Any]:
        """``{"total": n, "by_precision": {...}, "casts": k}`` (the metadata record's form)."""
        return {"total": self.total, "by_precision": self.by_precision, "casts": self.casts}


def _name(dtype: Any) -> str:
    return DTYPE_NAMES.get(str(dtype.name), str(dtype.name).lower())


def layer_precision(layer: Any) -> str:
    """The precision of one ``ILayer`` (see the module doc); ``"cast"`` for a cast layer."""
    kind = str(layer.type.name)
    if kind == "CAST":
        return CAST
    if kind != "SHAPE":
        for j in range(layer.num_inputs):
            t = layer.get_input(j)
            if t is not None and _name(t.dtype) in _FLOAT_NAMES:
                return _name(t.dtype)
    return _name(layer.get_output_type(0))


def layer_census(net: Any) -> LayerCensus:
    """The census of a TensorRT ``INetworkDefinition`` (read only)."""
    return LayerCensus(
        {
            str(layer.name): layer_precision(layer)
            for layer in (net.get_layer(i) for i in range(net.num_layers))
        }
    )
