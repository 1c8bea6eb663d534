"""The TorchScript frontend (``ir="ts"``): a ``ScriptModule`` in, a ``ScriptModule`` out.

The module goes through ``torch._export.converter.TS2EPConverter`` into the shared pipeline
(``torch_trt.dynamo.compile``); the compiled graph is then rewritten into TorchScript-friendly form
and scripted. Each TensorRT region is a call of ``torch.ops.torch_trt.execute_engine`` with the
engine as a uint8 buffer and its metadata as a string constant, so ``torch.jit.save`` keeps
everything and ``torch.jit.load`` runs it again in any process that has done ``import torch_trt``.

Example:
    >>> scripted = torch.jit.script(model.eval())
    >>> trt_ts = torch_trt.ts.compile(scripted, [torch.randn(1, 3, 224, 224)], runtime="reference")
    >>> torch.jit.save(trt_ts, "model.ts")
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import fx
from torch.utils import _pytree as pytree

from torch_trt.dynamo.capture import example_inputs
from torch_trt.dynamo.compile import compile as dynamo_compile
from torch_trt.errors import CaptureError
from torch_trt.inputs import Input
from torch_trt.report import REPORT_KEY
from torch_trt.runtime.guard import InputGuard, expects_json

TS_METHODS = ("script", "trace")
log = logging.getLogger("torch_trt")


def compile(
    module: torch.nn.Module,
    inputs: Sequence[Any] = (),
    *,
    kwarg_inputs: Mapping[str, Any] | None = None,
    ts_method: str | None = None,
    **settings: Any,
) -> torch.jit.ScriptModule:
    """Compile a TorchScript module (or an ``nn.Module``, scripted first) with TensorRT.

    Args:
        module: a ``torch.jit.ScriptModule``, or an ``nn.Module`` that is scripted with
            ``torch.jit.script`` (``ts_method="trace"``: traced with ``torch.jit.trace`` on the
            example inputs instead).
        inputs: example tensors or :class:`torch_trt.Input` specs, positionally.
        kwarg_inputs: example keyword inputs; they are placed by ``forward()``'s argument order.
        ts_method: ``"script"`` (default) or ``"trace"``; only for an ``nn.Module``.
        **settings: options of :class:`torch_trt.CompileSettings`.

    Returns:
        A ``torch.jit.ScriptModule`` with the arguments and outputs of ``forward()``; it saves
        with ``torch.jit.save`` and loads with ``torch.jit.load`` after ``import torch_trt``.

    Example:
        >>> trt_ts = torch_trt.ts.compile(torch.jit.script(model), [x], runtime="reference")
        >>> torch.jit.save(trt_ts, "model.ts")
    """
    script = to_script(module, ts_method, inputs, kwarg_inputs)
    names = _arg_names(script)
    specs = _named_specs(names, inputs, kwarg_inputs)
    # Imported here: the converter pulls in most of torch.export (over a second at import).
    from torch._export.converter import TS2EPConverter

    with _quiet():
        converter = TS2EPConverter(script, tuple(example_inputs(specs)))
        try:
            ep = converter.convert()
        except Exception as e:
            raise CaptureError(
                f"TS2EPConverter could not convert {script.original_name}: "
                f"{type(e).__name__}: {e}\nhint: pass the nn.Module itself with ir='dynamo'"
            ) from e
    flat = ep.module()
    if script.training:
        log.warning(
            "torch-trt: %s is in training mode; compiling it as is (call .eval() before "
            "scripting for inference: dropout and batch norm behave differently)",
            script.original_name,
        )
    flat.training = False  # said above, with the user's module name
    # TS2EPConverter marks every dim Dim.AUTO with no bounds; exporting its module again with
    # the given Input specs gives static dims, or exactly the declared ranges.
    gm = dynamo_compile(flat, specs, **settings)
    forward: Any = script.forward  # a ScriptMethod, typed as a plain callable
    out = script_compiled(gm, names, forward.schema.returns[0].type)
    _same_return(script, out)
    out._torch_trt_report = gm.meta[REPORT_KEY]
    return out


def to_script(
    module: torch.nn.Module,
    ts_method: str | None,
    inputs: Sequence[Any],
    kwarg_inputs: Mapping[str, Any] | None,
) -> torch.jit.ScriptModule:
    """``module`` as a ScriptModule: as is, scripted, or (``ts_method="trace"``) traced."""
    if isinstance(module, torch.jit.ScriptModule):
        if ts_method is not None:
            raise ValueError(
                f"ts_method={ts_method!r} applies to an nn.Module; this module is already a "
                "ScriptModule (leave ts_method out)"
            )
        return module
    method = ts_method or "script"
    if method not in TS_METHODS:
        raise ValueError(f"ts_method must be one of {TS_METHODS}, got {ts_method!r}")
    if method == "trace":
        params = inspect.signature(module.forward).parameters.values()
        names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        examples = example_inputs(_named_specs(names, inputs, kwarg_inputs))
    try:
        if method == "script":
            return torch.jit.script(module)
        traced = torch.jit.trace(module, examples, strict=False)  # type: ignore[no-untyped-call]
    except Exception as e:
        other = "trace" if method == "script" else "script"
        raise CaptureError(
            f"torch.jit.{method} failed on {type(module).__name__}: {type(e).__name__}: {e}\n"
            f"hint: try ts_method={other!r}, or ir='dynamo' for an nn.Module"
        ) from e
    assert isinstance(traced, torch.jit.ScriptModule)
    return traced


def _return_type(script: torch.jit.ScriptModule) -> str:
    forward: Any = script.forward  # a ScriptMethod, typed as a plain callable
    return str(forward.schema.returns[0].type)


def _same_return(script: torch.jit.ScriptModule, compiled: torch.jit.ScriptModule) -> None:
    """TS2EPConverter turns some return types into others (a NamedTuple into a list); refuse
    rather than hand back a module that returns something else."""
    before, after = _return_type(script), _return_type(compiled)
    if before != after:
        raise CaptureError(
            f"ir='ts' would change forward()'s return type from {before} to {after}; return "
            "tensors, tuples, lists or dicts of them, or use ir='dynamo'"
        )


def _arg_names(script: torch.jit.ScriptModule) -> list[str]:
    forward: Any = script.forward  # a ScriptMethod, typed as a plain callable
    return [a.name for a in forward.schema.arguments[1:]]


def _named_specs(
    names: list[str], inputs: Sequence[Any], kwarg_inputs: Mapping[str, Any] | None
) -> list[Any]:
    """The inputs in ``forward()``'s order, each an :class:`Input` named after its argument
    (TS2EPConverter takes positional inputs only, and renames the arguments)."""
    given: dict[str, Any] = dict(zip(names, inputs, strict=False))
    if len(inputs) > len(names):
        raise TypeError(f"forward() takes {len(names)} inputs ({names}), got {len(inputs)}")
    for key, value in (kwarg_inputs or {}).items():
        if key not in names:
            raise TypeError(f"forward() has no argument {key!r}; its arguments: {names}")
        if key in given:
            raise TypeError(f"input {key!r} given both positionally and in kwarg_inputs")
        given[key] = value
    last = max((names.index(k) for k in given), default=-1)
    missing = [n for n in names[: last + 1] if n not in given]
    if missing:
        raise TypeError(
            f"ir='ts' needs every forward() argument up to the last one given; missing {missing}"
        )
    specs: list[Any] = []
    for name in names[: len(given)]:
        value = given[name]
        if isinstance(value, torch.Tensor):
            value = Input.from_tensor(value, name=name)
        elif isinstance(value, Input) and value.name is None:
            value = copy.copy(value)
            value.name = name
        specs.append(value)
    return specs


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """TS2EPConverter warns about every unused buffer and logs every specialized dim; none of it
    concerns the user (the graph is exported again with their Input specs)."""
    logger = logging.getLogger("torch._export.non_strict_utils")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Manually populate")
            warnings.filterwarnings("ignore", message="Pred is a Python constant")
            yield
    finally:
        logger.setLevel(level)


def script_compiled(
    gm: fx.GraphModule, names: Sequence[str], returns: torch._C.JitType | None = None
) -> torch.jit.ScriptModule:
    """Script a compiled module: flat arguments named ``names``, the input checks as
    ``torch_trt::check_inputs``, ATen overloads as packets, outputs rebuilt as containers
    (tuples where the TorchScript type ``returns`` has them; TS2EPConverter makes them lists).

    The compiled module's Python-only parts (pytree flattening, the :class:`InputGuard`
    submodule, forward hooks) have no TorchScript form, so a fresh graph is built without them.
    """
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(names):
        raise ValueError(
            f"the compiled graph takes {len(placeholders)} inputs but forward() has "
            f"{len(names)} arguments; ir='ts' needs flat tensor arguments"
        )
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {
        p: graph.placeholder(n) for p, n in zip(placeholders, names, strict=True)
    }
    _add_guard(gm, graph, list(env.values()))
    out = graph.graph_copy(gm.graph, env)
    for node in list(graph.nodes):
        if node.op == "call_module":  # the InputGuard, replaced by the check above
            graph.erase_node(node)
        elif node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload):
            node.target = node.target.overloadpacket
    graph.output(_like(_containers(_unflatten(gm, out)), returns))
    result = fx.GraphModule(gm, graph, class_name="TorchTRTModule")
    result.train(False)
    try:
        with warnings.catch_warnings():  # torch's notes on scripting, not the user's concern
            warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit")
            warnings.filterwarnings("ignore", message="The TorchScript type system")
            scripted = torch.jit.script(result)
    except Exception as e:
        raise CaptureError(
            f"the compiled module has no TorchScript form: {type(e).__name__}: {e}\n"
            "hint: use ir='dynamo' (returns an fx.GraphModule, saved with torch_trt.save)"
        ) from e
    assert isinstance(scripted, torch.jit.ScriptModule)
    return scripted


def _add_guard(gm: fx.GraphModule, graph: fx.Graph, args: list[fx.Node]) -> None:
    guards = [m for m in gm.modules() if isinstance(m, InputGuard)]
    if not guards:
        return
    expects = guards[0].expects
    tensors = [a for a, e in zip(args, expects, strict=False) if e is not None]
    kept = [e for e in expects if e is not None]
    ok = graph.call_function(
        torch.ops.torch_trt.check_inputs.default, (tensors, expects_json(kept))
    )
    graph.call_function(torch._assert, (ok, "torch-trt input check"))


def _unflatten(gm: fx.GraphModule, out: Any) -> Any:
    codegen = gm.graph._codegen
    info = getattr(codegen, "pytree_info", None)
    if info is None or info.out_spec is None:
        return out
    return pytree.tree_unflatten(list(out), info.out_spec)


def _like(value: Any, ts_type: Any) -> Any:
    """``value``'s containers as tuples, lists and dicts where ``ts_type`` has them."""
    if isinstance(value, list | tuple) and isinstance(ts_type, torch._C.TupleType):
        elements = ts_type.elements()
        if len(elements) == len(value):
            return tuple(_like(v, t) for v, t in zip(value, elements, strict=True))
    if isinstance(value, list | tuple) and isinstance(ts_type, torch._C.ListType):
        return [_like(v, ts_type.getElementType()) for v in value]
    if isinstance(value, dict) and isinstance(ts_type, torch._C.DictType):
        return {k: _like(v, ts_type.getValueType()) for k, v in value.items()}
    return value


def _containers(value: Any) -> Any:
    """Plain tuple/list/dict (TorchScript knows no immutable_dict or named tuples)."""
    if isinstance(value, fx.Node):
        return value
    if isinstance(value, dict):  # dict or fx's immutable_dict
        return {k: _containers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_containers(v) for v in value]
    if type(value) is tuple:  # a NamedTuple would silently become a plain tuple
        return tuple(_containers(v) for v in value)
    raise ValueError(
        f"ir='ts' returns tensors in tuples, lists and dicts; the model returns {type(value)}"
    )
