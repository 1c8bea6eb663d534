"""What the commands share: usage errors, reading a model file, ``--input`` specs, consoles."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import torch

from torch_trt.inputs import Input


class UsageError(Exception):
    """A bad argument or option: the command exits with status 2."""


def stdout_console() -> Any:
    """A ``rich`` console on stdout (plain text, no colours, 120 columns when stdout is not a
    terminal)."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def show_progress(quiet: bool) -> bool:
    """Progress bars are drawn only on a terminal, and never with ``--quiet``."""
    return not quiet and sys.stderr.isatty()


def load_exported_program(path: str) -> torch.export.ExportedProgram:
    """The ExportedProgram saved at ``path`` (vetted before torch reads it).

    Raises:
        FileNotFoundError: no such file.
        SerializationError: corrupt, foreign or unsafe file, or not an ExportedProgram.
    """
    from torch_trt import archive
    from torch_trt.errors import SerializationError

    art = archive.inspect(path)
    if art.kind != "exported_program":
        raise SerializationError(
            f"{path} is a TorchScript file; this command takes an ExportedProgram saved with "
            "torch.export.save"
        )
    try:
        return torch.export.load(os.fspath(path))
    except Exception as e:
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise SerializationError(
            f"cannot load {path}: torch.export.load failed ({type(e).__name__}: {first}); if the "
            "model uses custom ops, --import the module that registers them"
        ) from None


_SHAPE = re.compile(r"^\d+(x\d+)*$")


def parse_shape(text: str, option: str) -> tuple[int, ...]:
    """``"1x3x224x224"`` as a shape; a scalar is ``""``."""
    if text == "":
        return ()
    if not _SHAPE.match(text):
        raise UsageError(f"{option}: {text!r} is not a shape like 1x3x224x224")
    return tuple(int(d) for d in text.split("x"))


def parse_input(text: str, dtype: torch.dtype) -> tuple[str, Input]:
    """``name:SHAPE`` (static) or ``name:MIN-OPT-MAX`` (a range) as ``(name, Input)``."""
    name, sep, shapes = text.partition(":")
    option = f"--input {text}"
    if not sep or not name:
        raise UsageError(f"{option}: expected NAME:SHAPE or NAME:MIN-OPT-MAX")
    parts = [parse_shape(p, option) for p in shapes.split("-")]
    try:
        if len(parts) == 1:
            return name, Input(shape=parts[0], dtype=dtype, name=name)
        if len(parts) == 3:
            return name, Input(
                min_shape=parts[0], opt_shape=parts[1], max_shape=parts[2], dtype=dtype, name=name
            )
    except (TypeError, ValueError) as e:
        raise UsageError(f"{option}: {e}") from e
    raise UsageError(f"{option}: give one shape or three (MIN-OPT-MAX), not {len(parts)}")


def program_inputs(ep: torch.export.ExportedProgram, given: list[str]) -> list[Input]:
    """An :class:`Input` per user input of ``ep``, in order: the ``--input`` specs by name, the
    others as exported (static shapes; a dynamic dim over the range the program declares, its
    example size as the optimum).

    Raises:
        UsageError: an unknown name, or a dynamic dim without an upper bound and no ``--input``.
    """
    users = _user_input_names(ep)
    by_name = {str(n.name): n for n in ep.graph.nodes if n.op == "placeholder" and n.name in users}
    specs: dict[str, Input] = {}
    for text in given:
        name = text.partition(":")[0]
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise UsageError(
                f"--input {text}: the program has no input {name!r}; its inputs are {known}"
            )
        val = by_name[name].meta.get("val")
        dtype = val.dtype if isinstance(val, torch.Tensor) else torch.float32
        specs[name] = parse_input(text, dtype)[1]
    return [specs.get(name) or _exported_spec(ep, name, node) for name, node in by_name.items()]


def _exported_spec(ep: torch.export.ExportedProgram, name: str, node: Any) -> Input:
    """The input as the program was exported: its shape, or its declared range."""
    val = node.meta.get("val")
    if not isinstance(val, torch.Tensor):
        raise UsageError(f"input {name!r} is not a tensor; this command compiles tensor inputs")
    lo, opt, hi = [], [], []
    for d in val.shape:
        if isinstance(d, int):
            lo.append(d)
            opt.append(d)
            hi.append(d)
            continue
        bounds = ep.range_constraints.get(d.node.expr)
        upper = getattr(bounds, "upper", None)
        if bounds is None or not str(upper).isdigit():
            raise UsageError(
                f"input {name!r} has a dynamic dim without an upper bound: give its range with "
                f"--input {name}:MIN-OPT-MAX"
            )
        lo.append(int(bounds.lower))
        hi.append(int(upper))
        opt.append(int(d.node.hint) if d.node.hint is not None else int(bounds.lower))
    if lo == hi:
        return Input(shape=tuple(lo), dtype=val.dtype, name=name)
    return Input(min_shape=lo, opt_shape=opt, max_shape=hi, dtype=val.dtype, name=name)


def _user_input_names(ep: torch.export.ExportedProgram) -> set[str]:
    return {str(s) for s in ep.graph_signature.user_inputs}
