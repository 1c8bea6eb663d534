"""One engine of a saved program checked: its reference program against its PyTorch source.

Inputs are random within the engine's profile, at its min, opt and max shapes (one point for a
static engine): floats from a standard normal, small non-negative integers (0..3, valid indices
for most index inputs), random booleans. The reference program is the one stored with the
engine, else it is built from the source with the local converters.
"""

from __future__ import annotations

from typing import Any

import torch

from torch_trt.inputs import Input

# Relative error allowed per output dtype (max |got - want| / max |want|); integer and bool
# outputs must match exactly.
TOLERANCE = {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 5e-2}


def _specs(record: dict[str, Any]) -> list[Input]:
    from torch_trt.runtime.engine import Binding

    specs = []
    for raw in record["inputs"]:
        b = Binding.from_dict(raw)
        if b.profile is not None:
            lo, opt, hi = b.profile
            specs.append(Input(min_shape=lo, opt_shape=opt, max_shape=hi, dtype=b.torch_dtype))
        else:
            specs.append(Input(shape=tuple(int(d) for d in b.shape), dtype=b.torch_dtype))
    return specs


def check_engine(engine: Any, path: str, rtol: float | None) -> list[dict[str, Any]]:
    """Rows ``{engine, point, output, dtype, error, tolerance, result}`` for ``engine`` (an
    :class:`~torch_trt.cli.artifact.EngineView` with a source)."""
    from torch_trt import portable
    from torch_trt.runtime.reference import ReferenceProgram
    from torch_trt.testing import random_inputs

    source = portable.load_source(engine.source, engine.name, path)
    reference = engine.reference or portable.reference_program(source)
    program = ReferenceProgram.from_bytes(reference)
    specs = _specs(engine.record)
    dynamic = any(s.min_shape != s.max_shape for s in specs)
    rows = []
    for point in ("min", "opt", "max") if dynamic else ("opt",):
        inputs = random_inputs(specs, point)
        with torch.no_grad():
            want = source(*inputs)
            got = program.run(inputs)
        want = list(want) if isinstance(want, list | tuple) else [want]
        label = point if dynamic else "static"
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            rows.append(_row(engine.name, label, k, g, w, rtol))
    return rows


def _row(
    name: str, point: str, k: int, got: torch.Tensor, want: torch.Tensor, rtol: float | None
) -> dict[str, Any]:
    from torch_trt.testing import rel_error

    row: dict[str, Any] = {
        "engine": name,
        "point": point,
        "output": str(k),
        "dtype": str(want.dtype).removeprefix("torch."),
    }
    if got.shape != want.shape or got.dtype != want.dtype:
        problem = f"got {got.dtype} {tuple(got.shape)}, want {want.dtype} {tuple(want.shape)}"
        return {**row, "error": None, "tolerance": None, "result": problem}
    if not want.dtype.is_floating_point:
        same = bool(torch.equal(got, want))
        return {
            **row,
            "error": 0.0 if same else None,
            "tolerance": 0.0,
            "result": "ok" if same else "values differ",
        }
    tol = rtol if rtol is not None else TOLERANCE.get(want.dtype, 1e-4)
    err = rel_error(got, want)
    return {**row, "error": err, "tolerance": tol, "result": "ok" if err < tol else "too large"}
