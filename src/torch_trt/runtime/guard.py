"""Check a compiled module's inputs against the shapes and dtypes it was compiled for.

torch.export's module calls a ``_guards_fn`` submodule with the flat inputs first thing; we put
an :class:`InputGuard` there, so a call outside the declared ranges fails before any work with
an :class:`InputShapeError` that names the model's own input (docs/dynamic_shapes.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import fx
from torch._subclasses.fake_tensor import FakeTensor

from torch_trt.errors import InputShapeError
from torch_trt.inputs import Input
from torch_trt.runtime.engine import shape_problem


@dataclasses.dataclass(frozen=True)
class _Expect:
    name: str
    dtype: torch.dtype
    lo: tuple[int, ...]
    hi: tuple[int, ...]


class InputGuard(torch.nn.Module):
    """Raises :class:`InputShapeError` for inputs outside the compiled shapes or dtypes."""

    def __init__(self, expects: Sequence[_Expect | None]) -> None:
        super().__init__()
        self.expects = list(expects)

    def forward(self, *args: Any) -> None:
        if torch.compiler.is_compiling() or any(isinstance(a, FakeTensor) for a in args):
            return  # tracing (re-export): shapes are symbolic, nothing to check
        for value, exp in zip(args, self.expects, strict=False):
            if exp is None or not isinstance(value, torch.Tensor):
                continue
            if value.dtype != exp.dtype:
                raise InputShapeError(f"input {exp.name!r} must be {exp.dtype}, got {value.dtype}")
            problem = shape_problem(exp.name, value.shape, exp.lo, exp.hi)
            if problem is not None:
                raise InputShapeError(problem)


def install_guard(gm: fx.GraphModule, specs: dict[str, Input | None]) -> fx.GraphModule:
    """Put an :class:`InputGuard` for ``specs`` (keyed by argument name, which is the
    placeholder's target) at the entry."""
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    expects = []
    for p in placeholders:
        spec = specs.get(str(p.target))
        name = spec.name if spec is not None and spec.name else str(p.target)
        expects.append(
            None if spec is None else _Expect(name, spec.dtype, spec.min_shape, spec.max_shape)
        )
    guard = InputGuard(expects)
    calls = [n for n in gm.graph.nodes if n.op == "call_module" and n.target == "_guards_fn"]
    if calls:
        gm._guards_fn = guard
        for extra in calls[1:]:
            gm.graph.erase_node(extra)
        calls[0].args = tuple(placeholders)
    else:
        gm.add_module("_guards_fn", guard)
        with gm.graph.inserting_after(placeholders[-1] if placeholders else None):
            gm.graph.call_module("_guards_fn", tuple(placeholders))
    gm.recompile()
    return gm
