"""The ``torch.compile`` backend: ``torch.compile(model, backend="torch_trt")``.

Dynamo hands over each graph it captured (several when the code has graph breaks); each goes
through AOTAutograd in inference mode with our decomposition table, then the stages shared with
``torch_trt.dynamo.compile`` (:func:`torch_trt.dynamo.lower.clean_up`, then
:func:`torch_trt.dynamo.compile.compile_lowered`). Parameters and buffers are frozen into the
engines. Shape changes are Dynamo's business: its guards decide when to call us again.

Example:
    >>> compiled = torch.compile(model, backend="torch_trt", options={"runtime": "reference"})
    >>> compiled(x)
    >>> print(torch_trt.report(compiled))   # every graph compiled so far
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import unittest.mock
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sympy
import torch
from torch import fx

from torch_trt._migrate import translate
from torch_trt.dynamo.compile import compile_lowered
from torch_trt.dynamo.lower import clean_up, decomposition_table
from torch_trt.dynamo.shapes import Dim3, ShapeRanges, dim_expr
from torch_trt.errors import TorchTRTError, UnsupportedOperatorError
from torch_trt.report import GraphReport, Report
from torch_trt.settings import CompileSettings

log = logging.getLogger("torch_trt")

DEFAULT_DYNAMIC_DIM_MAX = 4096
INFERENCE_ONLY = (
    "torch-trt compiled graphs are inference only: no gradient flows through a TensorRT engine "
    "or its frozen weights. Run the model under torch.no_grad() or torch.inference_mode(), or "
    "use another torch.compile backend for training."
)
_GRAPHS_ATTR = "_torch_trt_graphs"


def backend(
    gm: fx.GraphModule,
    example_inputs: Sequence[Any],
    *,
    options: Mapping[str, Any] | None = None,
    mode: str | None = None,
) -> Callable[..., Any]:
    """Compile one Dynamo graph; registered as ``torch.compile(..., backend="torch_trt")``.

    Args:
        gm: the graph Dynamo captured.
        example_inputs: its flat inputs (parameters and buffers included).
        options: :class:`torch_trt.CompileSettings` fields or Torch-TensorRT option names
            (``torch.compile(options=...)``), see :func:`backend_settings`.
        mode: ``torch.compile(mode=...)``; this backend has no modes and refuses one.

    Returns:
        The callable Dynamo runs in place of ``gm``.

    Example:
        >>> compiled = torch.compile(model, backend=torch_trt.dynamo.backend,
        ...                          options={"min_block_size": 1, "runtime": "reference"})
    """
    s = backend_settings(options, mode)
    rep = Report()
    graphs = _registry()
    entry = GraphReport(len(graphs), _compile_id(), _describe(gm), rep)
    graphs.append(entry)
    try:
        with rep.stage("lower"):
            frozen = _frozen_positions(gm, example_inputs)
            aot = lower_graph(gm, example_inputs, frozen)
            ranges = symbol_ranges(aot, s.dynamic_dim_max or DEFAULT_DYNAMIC_DIM_MAX)
        compiled = compile_lowered(aot, s, rep, ranges)
    except Exception as e:
        entry.error = _short(e)
        # require_full_compilation asked for this error; pass_through for every error.
        if s.pass_through_build_failures or isinstance(e, UnsupportedOperatorError):
            raise
        log.warning(
            "torch-trt: graph %s (Dynamo compile %s) runs in PyTorch: %s",
            entry.label,
            entry.compile_id,
            entry.error,
        )
        return gm.forward
    log.info("%s: %s", entry.label, rep.summary())
    return _InferenceRunner(compiled, {i: example_inputs[i] for i in frozen})


def backend_settings(options: Mapping[str, Any] | None, mode: str | None = None) -> CompileSettings:
    """Settings from ``torch.compile``'s ``options``: :class:`CompileSettings` fields, or
    Torch-TensorRT's option names, honoured or refused as by ``torch_trt.compile``
    (``_migrate.py``, docs/migrating.md). The backend falls back on failed regions unless
    ``pass_through_build_failures=True``."""
    if mode is not None:
        raise TypeError(
            f"the torch_trt backend has no modes (got mode={mode!r}); pass settings as "
            "options={...} instead"
        )
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"torch_trt backend options must be a dict, got {type(options)}")
    s = CompileSettings.from_kwargs(**translate(dict(options or {}), "torch_compile"))
    if not s.pass_through_build_failures:
        s = dataclasses.replace(s, fallback_on_build_failure=True)
    return s


def lower_graph(
    gm: fx.GraphModule, example_inputs: Sequence[Any], frozen: Sequence[int]
) -> fx.GraphModule:
    """Dynamo graph -> core-ATen graph with the same flat inputs, the inputs at ``frozen``
    (weights) stored as constants, cleaned up."""
    aot = aot_inference(gm, example_inputs)
    aot = freeze_inputs(aot, {i: example_inputs[i] for i in frozen})
    aot = sizes_from_tensors(aot)
    return clean_up(aot)


def aot_inference(gm: fx.GraphModule, example_inputs: Sequence[Any]) -> fx.GraphModule:
    """AOTAutograd, inference mode (no joint graph), with :func:`decomposition_table`.

    The ops we convert whole (``KEEP_WHOLE``) are composite; torch.export's own mechanism keeps
    them from decomposing at dispatch, as ``ExportedProgram.run_decompositions`` does.
    """
    from torch._functorch.aot_autograd import aot_export_joint_simple
    from torch._guards import detect_fake_mode
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.export.exported_program import (
        _override_composite_implicit_decomp,
        _split_decomp_table_to_cia_and_python_decomp,
    )

    fake_mode = detect_fake_mode(example_inputs) or FakeTensorMode()
    keep, table = _split_decomp_table_to_cia_and_python_decomp(decomposition_table())
    with (
        unittest.mock.patch.object(fake_mode, "allow_non_fake_inputs", True),
        fake_mode,
        _override_composite_implicit_decomp(keep),
    ):
        out = aot_export_joint_simple(
            gm,
            tuple(example_inputs),
            trace_joint=False,
            decompositions=table,  # type: ignore[arg-type]
        )
    assert isinstance(out, fx.GraphModule)
    return out


def _frozen_positions(gm: fx.GraphModule, example_inputs: Sequence[Any]) -> list[int]:
    """Inputs that are parameters or buffers of an nn.Module (Dynamo lifts them as inputs)."""
    from torch._dynamo.source import is_from_unspecialized_param_buffer_source
    from torch._dynamo.utils import get_static_address_type

    out = []
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for i, (node, value) in enumerate(zip(placeholders, example_inputs, strict=False)):
        if not isinstance(value, torch.Tensor):
            continue
        source = getattr(node.meta.get("grapharg"), "source", None)
        from_module = source is not None and is_from_unspecialized_param_buffer_source(source)
        if isinstance(value, torch.nn.Parameter) or (
            from_module and get_static_address_type(value) is not None
        ):
            out.append(i)
    return out


def _first_body_node(gm: fx.GraphModule) -> fx.Node:
    node: fx.Node = next(n for n in gm.graph.nodes if n.op != "placeholder")
    return node


def freeze_inputs(gm: fx.GraphModule, values: Mapping[int, torch.Tensor]) -> fx.GraphModule:
    """Uses of the given input positions read a stored copy-free constant instead.

    Before: ``def forward(w, x): y = mm(x, w)``   After: ``def forward(w, x): y = mm(x, _frozen_0)``
    The placeholder stays (Dynamo still passes the argument), unused.
    """
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for k, (i, value) in enumerate(sorted(values.items())):
        name = f"_frozen_{k}"
        gm.register_buffer(name, value.detach())
        with gm.graph.inserting_before(_first_body_node(gm)):
            attr = gm.graph.get_attr(name)
        attr.meta = dict(placeholders[i].meta)
        placeholders[i].replace_all_uses_with(attr)
    gm.graph.lint()
    gm.recompile()
    return gm


def sizes_from_tensors(gm: fx.GraphModule) -> fx.GraphModule:
    """Dynamo passes sizes as SymInt inputs; read them from a tensor input instead, so that
    engines compute them (sizes never cross an engine boundary).

    Before: ``def forward(s0, x): v = view(x, [s0, -1])``
    After:  ``def forward(s0, x): n = sym_size(x, 0); v = view(x, [n, -1])``
    """
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    where: dict[sympy.Expr, tuple[fx.Node, int]] = {}
    for p in placeholders:
        val = p.meta.get("val")
        if isinstance(val, torch.Tensor):
            for d, size in enumerate(val.shape):
                where.setdefault(dim_expr(size), (p, d))
    for p in placeholders:
        val = p.meta.get("val")
        if not isinstance(val, torch.SymInt) or not p.users:
            continue
        found = where.get(dim_expr(val))
        if found is None:
            continue
        with gm.graph.inserting_before(_first_body_node(gm)):
            read = gm.graph.call_function(torch.ops.aten.sym_size.int, found)
        read.meta["val"] = val
        p.replace_all_uses_with(read)
    gm.graph.lint()
    gm.recompile()
    return gm


def symbol_ranges(gm: fx.GraphModule, dim_max: int) -> ShapeRanges:
    """``(min, opt, max)`` per size symbol of the inputs, from Dynamo's value ranges.

    An unbounded symbol gets ``dim_max`` (or the next power of two at or above its traced
    size); we add a guard for the chosen bounds, so Dynamo recompiles outside them instead of
    calling an engine that cannot take the shape.
    """
    table: dict[sympy.Symbol, Dim3] = {}
    for p in gm.graph.nodes:
        val = p.meta.get("val") if p.op == "placeholder" else None
        if not isinstance(val, torch.Tensor):
            continue
        for size in val.shape:
            if not isinstance(size, torch.SymInt):
                continue
            for sym in dim_expr(size).free_symbols:
                if sym not in table:
                    table[sym] = _symbol_range(size, sym, dim_max)
    return ShapeRanges(table)


def _symbol_range(size: torch.SymInt, sym: sympy.Symbol, dim_max: int) -> Dim3:
    env = size.node.shape_env
    assert env is not None  # a SymInt from Dynamo's fake tensors always has one
    vr = env.var_to_range.get(sym)
    # torch >= 2.14 renamed the table of traced values; older versions only have var_to_val.
    traced_values = getattr(env, "backed_var_to_val", None) or env.var_to_val
    hint = traced_values.get(sym)
    lo = max(int(vr.lower), 1) if vr is not None and vr.lower.is_finite else 1
    traced = int(hint) if hint is not None else lo
    if vr is not None and isinstance(vr.upper, sympy.Integer):
        hi = int(vr.upper)
    else:
        hi = dim_max if traced <= dim_max else 1 << math.ceil(math.log2(traced))
    opt = min(max(traced, lo), hi)
    value = size if dim_expr(size) == sym else env.create_symintnode(sym, hint=hint)
    if vr is None or lo > vr.lower:
        torch._check(value >= lo)
    if vr is None or not isinstance(vr.upper, sympy.Integer):
        torch._check(value <= hi)
    return (lo, opt, hi)


class _InferenceOnly(torch.autograd.Function):
    """Runs the compiled graph; a backward through it raises (engines have no gradients)."""

    @staticmethod
    def forward(ctx: Any, run: Callable[..., Any], *args: Any) -> Any:
        return tuple(run(*args))

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise TorchTRTError(INFERENCE_ONLY)


class _InferenceRunner:
    """What Dynamo calls: the compiled graph, with gradients refused when some are wanted and
    an error when a frozen weight changed since compile (Dynamo does not guard on values)."""

    def __init__(self, gm: fx.GraphModule, frozen: Mapping[int, torch.Tensor]) -> None:
        self.gm = gm
        self.frozen = {i: (t._version, t.data_ptr()) for i, t in frozen.items()}

    def _check_frozen(self, args: Sequence[Any]) -> None:
        for i, (version, ptr) in self.frozen.items():
            t = args[i]
            if t._version != version or t.data_ptr() != ptr:
                raise TorchTRTError(
                    f"a parameter or buffer ({tuple(t.shape)}, input {i} of the graph) changed "
                    "after torch-trt froze it into its engines; call torch._dynamo.reset() and "
                    "run again to recompile with the new weights"
                )

    def __call__(self, *args: Any) -> Any:
        self._check_frozen(args)
        if torch.is_grad_enabled() and any(
            isinstance(a, torch.Tensor) and a.requires_grad for a in args
        ):
            return _InferenceOnly.apply(self.gm, *args)
        return self.gm(*args)


def _short(e: Exception) -> str:
    """One readable line: AOTAutograd appends a long metadata dump to its refusals."""
    text = str(e).split("\n", 1)[0].split(" ViewAndMutationMeta(", 1)[0]
    if len(text) > 300:
        text = text[:300] + " ..."
    return f"{type(e).__name__}: {text}"


def _describe(gm: fx.GraphModule) -> list[str]:
    """The graph's inputs as Dynamo traced them (symbolic sizes shown as symbols)."""
    out = []
    for n in gm.graph.nodes:
        if n.op != "placeholder":
            continue
        x = n.meta.get("example_value")
        if isinstance(x, torch.Tensor):
            dims = ", ".join(str(d) for d in x.shape)
            out.append(f"{str(x.dtype).removeprefix('torch.')}[{dims}]")
        else:
            out.append(str(x))
    return out


def _compile_id() -> str:
    from torch._guards import CompileContext

    cid = CompileContext.current_compile_id()
    return str(cid) if cid is not None else "?"


# Reports live on the ``torch.compile`` wrapper object that called us (one per torch.compile
# call), so ``torch_trt.report(compiled)`` finds exactly that object's graphs. Without one
# (``torch._dynamo.optimize`` used directly) they go to a module-level list.
_UNOWNED: list[GraphReport] = []


def _registry() -> list[GraphReport]:
    frame = sys._getframe(1)
    for _ in range(12):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if isinstance(owner, torch._TorchCompileWrapper):
            graphs = getattr(owner, _GRAPHS_ATTR, None)
            if graphs is None:
                graphs = []
                setattr(owner, _GRAPHS_ATTR, graphs)
            assert isinstance(graphs, list)
            return graphs
        frame = frame.f_back  # type: ignore[assignment]
    return _UNOWNED


def compiled_graphs(compiled: Any) -> list[GraphReport] | None:
    """The graphs the torch-trt backend compiled for a ``torch.compile`` result, or ``None``
    when ``compiled`` is not one (or never ran)."""
    callback = getattr(getattr(compiled, "dynamo_ctx", None), "callback", None)
    if callback is None and callable(compiled):
        code = getattr(compiled, "__code__", None)
        cells = getattr(compiled, "__closure__", None) or ()
        names = code.co_freevars if code is not None else ()
        callback = dict(zip(names, (c.cell_contents for c in cells), strict=False)).get("callback")
    for _ in range(8):
        if callback is None:
            return None
        graphs = getattr(callback, _GRAPHS_ATTR, None)
        if isinstance(graphs, list):
            return graphs
        callback = getattr(callback, "_torchdynamo_orig_backend", None)
    return None


def _register_by_name() -> None:
    """Make ``backend="torch_trt"`` work from a source tree without package metadata.

    An installed torch-trt is found through its ``torch_dynamo_backends`` entry point, which
    torch loads lazily (registering it again here would make that load fail as a duplicate).
    """
    from importlib.metadata import entry_points

    if any(ep.name == "torch_trt" for ep in entry_points(group="torch_dynamo_backends")):
        return
    from torch._dynamo.backends import registry  # only here: importing Dynamo takes a second

    if "torch_trt" not in registry._COMPILER_FNS:
        registry.register_backend(backend, name="torch_trt")


_register_by_name()
