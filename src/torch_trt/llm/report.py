"""The report of a compiled causal LM: the compile report plus the KV cache it decodes with."""

from __future__ import annotations

import dataclasses
from typing import Any

from torch_trt.report import Report


@dataclasses.dataclass
class CausalLMReport(Report):
    """A :class:`~torch_trt.report.Report` of the decoding step, plus its static KV cache.

    ``cache_bytes`` is the memory of the whole cache at ``max_batch`` sequences of
    ``max_seq_len`` positions (keys and values of every layer); ``in_place`` says whether the
    engine writes the cache in place (no copy per step).
    """

    model: str = ""
    max_batch: int = 0
    max_seq_len: int = 0
    layers: int = 0
    cache_bytes: int = 0
    cache_dtype: str = ""
    in_place: bool = False

    def summary(self) -> str:
        how = "updated in place by the engine" if self.in_place else "copied per step"
        return (
            f"{super().summary()}; {self.model}: KV cache {self.cache_bytes} bytes "
            f"({self.layers} layers, {self.max_batch} x {self.max_seq_len} positions, "
            f"{self.cache_dtype}), {how}"
        )

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["llm"] = {
            "model": self.model,
            "max_batch": self.max_batch,
            "max_seq_len": self.max_seq_len,
            "layers": self.layers,
            "cache_bytes": self.cache_bytes,
            "cache_dtype": self.cache_dtype,
            "in_place": self.in_place,
        }
        return out
