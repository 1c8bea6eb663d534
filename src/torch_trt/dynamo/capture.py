"""Capture stage: whatever the user hands us becomes an ``ExportedProgram``.

Inputs may be any pytree (lists, tuples, dicts) of tensors, :class:`Input` specs and Python
constants, as the model's ``forward`` takes them. Dynamic :class:`Input` ranges become
``torch.export`` dynamic dims: a named dim (``dim_names``) is one ``Dim`` shared by every input
that uses the name; an unnamed one is ``Dim.AUTO`` with the range, so torch.export finds equal
dims (a shared batch) by itself.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch.export import Dim
from torch.fx._pytree import tree_flatten_spec

from torch_trt.dynamo.rnn_shapes import rnn_shape_rules
from torch_trt.errors import CaptureError, redact
from torch_trt.inputs import Input

log = logging.getLogger("torch_trt")

# Leaves a compile input may hold besides tensors and Input specs: torch.export specializes on
# them (they are compiled in as constants).
CONSTANT_LEAVES = (int, float, bool, str, type(None))


def _example(path: str, x: Any) -> Any:
    if isinstance(x, Input):
        return x.example()
    if isinstance(x, (torch.Tensor, *CONSTANT_LEAVES)):
        return x
    raise CaptureError(
        f"unsupported input type: {path} is a {type(x).__name__}; compile takes tensors, "
        "torch_trt.Input specs, Python scalars, strings and None, in lists, tuples and dicts"
    )


def _map_leaves(where: str, value: Any) -> Any:
    leaves, spec = pytree.tree_flatten_with_path(value)
    out = [_example(where + pytree.keystr(path), x) for path, x in leaves]
    return pytree.tree_unflatten(out, spec)


def example_inputs(inputs: Sequence[Any]) -> tuple[Any, ...]:
    """Values to trace with: ``Input`` specs become example tensors, the rest passes through."""
    return tuple(_map_leaves(f"inputs[{i}]", x) for i, x in enumerate(inputs))


def example_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keyword example inputs, as :func:`example_inputs`."""
    return {k: _map_leaves(f"kwarg_inputs[{k!r}]", v) for k, v in (kwargs or {}).items()}


def _spec_of(x: Any) -> Input | None:
    if isinstance(x, Input):
        return x
    if isinstance(x, torch.Tensor):
        return Input.from_tensor(x)
    return None


def input_specs(
    ep: torch.export.ExportedProgram,
    placeholders: Sequence[str],
    inputs: Sequence[Any],
    kwargs: Mapping[str, Any] | None,
) -> dict[str, Input | None]:
    """Every user input, keyed by its placeholder target: an :class:`Input` for tensors and
    specs, ``None`` for constants. Inputs are matched to placeholders the way the compiled module
    flattens its arguments (the program's input tree spec); when they do not fit that tree (an
    ExportedProgram given flat specs), in order."""
    try:
        leaves = tree_flatten_spec((tuple(inputs), dict(kwargs or {})), ep.call_spec.in_spec)
    except Exception:  # not the program's structure: flat, in placeholder order
        leaves = pytree.tree_leaves((tuple(inputs), dict(kwargs or {})))
    return {
        name: _spec_of(x) for name, x in zip(placeholders, leaves, strict=False) if x is not None
    }


def _dims_for(
    arg: str, spec: Input, named: dict[str, tuple[Any, tuple[int, int]]]
) -> dict[int, Any] | None:
    dims: dict[int, Any] = {}
    for d in spec.dynamic_dims():
        lo, hi = spec.min_shape[d], spec.max_shape[d]
        name = spec.dim_names[d]
        if name is None:
            dims[d] = Dim.AUTO(min=lo, max=hi)
            continue
        if name not in named:
            named[name] = (Dim(name, min=lo, max=hi), (lo, hi))
        elif named[name][1] != (lo, hi):
            raise ValueError(
                f"dim name {name!r} has range {named[name][1]} in one Input and {(lo, hi)} in "
                f"{arg!r}: one name is one dimension with one range"
            )
        dims[d] = named[name][0]
    return dims or None


def _dynamic_shapes(
    model: torch.nn.Module, inputs: Sequence[Any], kwargs: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """torch.export's ``dynamic_shapes``, shaped like forward()'s bound arguments."""
    given = pytree.tree_leaves((tuple(inputs), dict(kwargs or {})))
    if not any(isinstance(x, Input) and x.is_dynamic for x in given):
        return None
    named: dict[str, tuple[Any, tuple[int, int]]] = {}
    bound = inspect.signature(model.forward).bind(*inputs, **dict(kwargs or {}))

    def dims(path: Any, x: Any) -> Any:
        where = pytree.keystr(path)
        return _dims_for(where, x, named) if isinstance(x, Input) and x.is_dynamic else None

    return {name: pytree.tree_map_with_path(dims, value) for name, value in bound.arguments.items()}


# Loggers torch writes fake-tensor and symbolic-shape chatter to while an export fails.
_NOISY = ("torch._subclasses.fake_tensor", "torch.fx.experimental.symbolic_shapes", "torch.export")


@contextlib.contextmanager
def _quiet_torch() -> Iterator[None]:
    """Keep torch's failure chatter out of stderr: fake-tensor and symbolic-shape logs, and the
    partial graph torch.export prints when it fails (the CaptureError carries the reason). What
    else was written to stderr meanwhile (warnings) is passed on."""
    loggers = [logging.getLogger(name) for name in _NOISY]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stderr(buffer):
            yield
    except Exception as e:
        partial = getattr(e, "partial_fx_graph", None)
        text = buffer.getvalue()
        if isinstance(partial, str) and partial:
            text = text.replace(partial + "\n", "").replace(partial, "")
        sys.stderr.write(text)
        raise
    else:
        sys.stderr.write(buffer.getvalue())
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _eager_experts(model: torch.nn.Module) -> bool:
    """Whether some submodule is a Hugging Face mixture-of-experts layer set to transformers'
    ``experts_implementation="eager"`` (a Python loop over the experts hit: data-dependent)."""
    for module in model.modules():
        config = getattr(module, "config", None)
        if getattr(config, "_experts_implementation", None) == "eager":
            return True
    return False


def _remedy(e: Exception, model: torch.nn.Module) -> str:
    """One line naming the remedy for the common capture failures."""
    text = f"{type(e).__name__}: {e}"
    data_dependent = any(k in text for k in ("data-dependent", "data dependent", "GuardOnData"))
    if data_dependent and _eager_experts(model):
        return (
            "the model's mixture-of-experts layers loop over the experts hit in Python "
            "(experts_implementation='eager'): use transformers' default 'grouped_mm' or "
            "'batched_mm' (model.set_experts_implementation('grouped_mm')), which trace whole"
        )
    if "Cache" in text and ("output" in text.lower() or "pytree" in text.lower()):
        return (
            "the model returns a Hugging Face cache object: call it with use_cache=False "
            "(kwarg_inputs={'use_cache': False}) or use torch_trt.llm for decoding with a cache"
        )
    if data_dependent:
        return (
            "forward() branches on tensor data in Python: rewrite the branch with torch.cond, or "
            "compile with ir='torch_compile', which splits the graph at such branches"
        )
    if "not supported" in text and ("type" in text or "pytree" in text.lower()):
        return (
            "an input or output type torch.export cannot flatten: pass tensors, Python scalars "
            "and lists/tuples/dicts of them, or register the type with torch.utils._pytree"
        )
    return (
        "check that the example inputs match forward()'s signature; data-dependent control flow "
        "needs torch.cond, and untraceable code can be moved out of forward()"
    )


def capture(
    model: torch.nn.Module | torch.export.ExportedProgram,
    inputs: Sequence[Any],
    kwargs: Mapping[str, Any] | None = None,
) -> torch.export.ExportedProgram:
    """``torch.export`` (non-strict) the model; an ``ExportedProgram`` passes through.

    Args:
        model: the model.
        inputs: positional example values: tensors, :class:`Input` specs, constants, or
            lists/tuples/dicts of them.
        kwargs: keyword example values, likewise.

    Raises:
        CaptureError: export failed; the first line names the remedy, torch's reason follows.
    """
    if isinstance(model, torch.export.ExportedProgram):
        return model
    if model.training:
        log.warning(
            "torch-trt: %s is in training mode; compiling it as is (call model.eval() for "
            "inference: dropout and batch norm behave differently)",
            type(model).__name__,
        )
    args, kw = example_inputs(inputs), example_kwargs(kwargs)
    dynamic = _dynamic_shapes(model, inputs, kwargs)
    try:
        with _quiet_torch(), rnn_shape_rules():
            return torch.export.export(model, args, kw, dynamic_shapes=dynamic, strict=False)
    except Exception as e:
        reason = str(e) if len(str(e)) < 4000 and "tensor(" not in str(e) else redact(str(e))
        raise CaptureError(
            f"torch.export could not capture {type(model).__name__}. hint: {_remedy(e, model)}\n"
            f"torch's reason: {type(e).__name__}: {reason}"
        ) from e
