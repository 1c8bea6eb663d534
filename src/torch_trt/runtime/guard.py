"""Check a compiled module's inputs against the shapes and dtypes it was compiled for.

torch.export's module calls a ``_guards_fn`` submodule with the flat inputs first thing; we put
an :class:`InputGuard` there, so a call outside the declared ranges fails before any work with
an :class:`InputShapeError` that names the model's own input (docs/dynamic_shapes.md).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import fx
from torch._subclasses.fake_tensor import FakeTensor

from torch_trt.errors import InputShapeError
from torch_trt.inputs import Input
from torch_trt.runtime.engine import shape_problem

log = logging.getLogger("torch_trt")


@dataclasses.dataclass(frozen=True)
class _Expect:
    name: str
    dtype: torch.dtype
    lo: tuple[int, ...]
    hi: tuple[int, ...]


class InputGuard(torch.nn.Module):
    """Raises :class:`InputShapeError` for inputs outside the compiled shapes or dtypes.

    torch.export's own guard (``exported``) runs afterwards: besides ranges it holds relations
    the traced code assumed (``s1 % 3 == 0``); a violation becomes an ``InputShapeError`` too.
    """

    def __init__(
        self, expects: Sequence[_Expect | None], exported: torch.nn.Module | None = None
    ) -> None:
        super().__init__()
        self.expects = list(expects)
        self.exported = exported

    def forward(self, *args: Any) -> None:
        if torch.compiler.is_compiling() or any(isinstance(a, FakeTensor) for a in args):
            return  # tracing (re-export): shapes are symbolic, nothing to check
        _check(args, self.expects)
        if self.exported is not None:
            try:
                self.exported(*args)
            except AssertionError as e:  # torch.export's guard failure
                shapes = ", ".join(
                    f"{e.name!r}: {tuple(a.shape)}"
                    for a, e in zip(args, self.expects, strict=False)
                    if e is not None and isinstance(a, torch.Tensor)
                )
                raise InputShapeError(
                    f"inputs ({shapes}) break a condition the model was compiled under: {e}"
                ) from e


def _check(args: Sequence[object], expects: Sequence[_Expect | None]) -> None:
    for value, exp in zip(args, expects, strict=False):
        if exp is None or not isinstance(value, torch.Tensor):
            continue
        if value.dtype != exp.dtype:
            raise InputShapeError(f"input {exp.name!r} must be {exp.dtype}, got {value.dtype}")
        problem = shape_problem(exp.name, value.shape, exp.lo, exp.hi)
        if problem is not None:
            raise InputShapeError(problem)


def expects_json(expects: Sequence[_Expect | None]) -> str:
    """The expectations as a JSON string, the argument of :func:`check_inputs`."""
    return json.dumps(
        [
            None
            if e is None
            else {"name": e.name, "dtype": str(e.dtype), "lo": list(e.lo), "hi": list(e.hi)}
            for e in expects
        ]
    )


@functools.lru_cache(maxsize=256)
def _parse_expects(text: str) -> tuple[_Expect | None, ...]:
    return tuple(
        None
        if e is None
        else _Expect(
            e["name"],
            getattr(torch, e["dtype"].removeprefix("torch.")),
            tuple(e["lo"]),
            tuple(e["hi"]),
        )
        for e in json.loads(text)
    )


@torch.library.custom_op("torch_trt::check_inputs", mutates_args=())
def check_inputs(inputs: list[torch.Tensor], expects: str) -> bool:
    """:class:`InputGuard`'s range and dtype checks as an op, for TorchScript modules (which
    cannot call Python modules): raises :class:`InputShapeError`, else returns True. Its result
    feeds an assert, so TorchScript's dead-code elimination keeps the call."""
    _check(inputs, _parse_expects(expects))
    return True


@check_inputs.register_fake
def _check_inputs_fake(inputs: list[torch.Tensor], expects: str) -> bool:
    return True


def _corner(spec: Input, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.zeros(shape, dtype=spec.dtype)


def corner_problems(
    guard: InputGuard, specs: Sequence[Input | None], constants: Sequence[Any]
) -> list[str]:
    """Export conditions broken at the declared min or max shapes (e.g. a size that must not be
    1), so compile can say so instead of the first call failing. Non-tensor inputs take their
    compile-time values (``constants``, aligned with ``specs``)."""
    if guard.exported is None or not any(s is not None and s.is_dynamic for s in specs):
        return []
    problems = []
    for label in ("min", "max"):
        args = [
            c if s is None else _corner(s, s.min_shape if label == "min" else s.max_shape)
            for s, c in zip(specs, constants, strict=True)
        ]
        try:
            guard.exported(*args)
        except AssertionError as e:
            problems.append(f"at the {label} shapes: {e}")
        except Exception:  # an input we could not fake (None for a non-tensor): skip the check
            continue
    return problems


def install_guard(
    gm: fx.GraphModule,
    specs: Mapping[str, Input | None],
    constants: Mapping[str, Any] | None = None,
) -> fx.GraphModule:
    """Put an :class:`InputGuard` for ``specs`` (keyed by placeholder target) at the entry;
    ``constants`` holds the compile-time values of the non-tensor inputs."""
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    expects = []
    for p in placeholders:
        spec = specs.get(str(p.target))
        name = spec.name if spec is not None and spec.name else str(p.target)
        expects.append(
            None if spec is None else _Expect(name, spec.dtype, spec.min_shape, spec.max_shape)
        )
    calls = [n for n in gm.graph.nodes if n.op == "call_module" and n.target == "_guards_fn"]
    exported = getattr(gm, "_guards_fn", None) if calls else None
    guard = InputGuard(expects, exported if isinstance(exported, torch.nn.Module) else None)
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
    problems = corner_problems(
        guard,
        [specs.get(str(p.target)) for p in placeholders],
        [(constants or {}).get(str(p.target)) for p in placeholders],
    )
    for problem in problems:
        log.warning(
            "torch-trt: the declared input ranges include shapes the model was not traced for "
            "(calls there raise InputShapeError); narrow the ranges: %s",
            problem,
        )
    return gm
