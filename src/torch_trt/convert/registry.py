"""The converter registry: the one and only answer to "can TensorRT run this node?".

A converter is registered for one or more ATen ``OpOverload``s::

    @converter(aten.add.Tensor, check=no_alpha_on_bool)
    def convert_add(ctx, self: ITensor, other: ITensor | float, *, alpha: float = 1) -> ITensor:
        ...

Arguments are bound to the ATen schema by name (``self``, ``other``, ``alpha``), with schema
defaults filled in, so converters never index ``args[0]``. ``check(node)`` reads only node
metadata (``node.meta["val"]``) and returns ``None`` when the node is supported, or the reason it
is not; partitioning therefore never needs TensorRT. Registering a key twice is an error.

Dynamic shapes are opt-in: a converter registered with ``dynamic=True`` promises to handle
symbolic dimensions (``-1`` in TensorRT, ``SymInt`` in torch); nodes with symbolic shapes whose
converter does not stay in PyTorch with that reason. Besides ATen overloads, the Python operators
that torch.export uses for shape arithmetic on ``SymInt`` (``operator.mul``, ...) can be keys.

Data-dependent sizes (torch's *unbacked* symbols ``u0``, made by ``nonzero``, ``x[mask]``,
``masked_select``, ``unique``) are one more kind of symbolic dimension: TensorRT writes them as
``-1`` too and computes them while the engine runs. So ``dynamic=True`` covers them as well, for
the ops that make them and for the ops downstream that consume them (elementwise, matmul,
reductions, gathers, reshapes ...). Two rules keep that sound: a check that cannot decide on a
data-dependent size (torch raises ``GuardOnDataDependentSymNode``) refuses the node with that
reason, and partitioning never lets a data-dependent size *enter* an engine (an engine input
needs an optimization profile, and no profile can bound a size computed from data), so the
consumers of a data-dependent tensor made in PyTorch stay in PyTorch.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import fx
from torch.fx.experimental.symbolic_shapes import (
    GuardOnDataDependentSymNode,
    free_unbacked_symbols,
)

from torch_trt.settings import CompileSettings, op_name

Check = Callable[[fx.Node], "str | None"]
ConverterFn = Callable[..., Any]

# dtypes TensorRT can hold in a network tensor. float64 and complex types have no TensorRT
# equivalent; uint8 is refused by almost every compute layer.
MAX_RANK = 8
# complex64 lives in networks as float32 with a trailing dim of 2 (real, imag), as
# ``torch.view_as_real`` lays it out; only converters registered with ``complex=True`` see it.
COMPLEX_DTYPES = {torch.complex64: torch.float32}
TRT_DTYPES = frozenset(
    {torch.float32, torch.float16, torch.bfloat16, torch.int8, torch.int32, torch.int64, torch.bool}
)


class Reason(str, enum.Enum):
    """Why a node runs in PyTorch."""

    NO_CONVERTER = "no converter"
    UNSUPPORTED_ARGUMENTS = "unsupported arguments"
    USER_EXCLUDED = "user excluded"
    BLOCK_TOO_SMALL = "block too small"
    CONVERSION_FAILED = "conversion failed"
    BUILD_FAILED = "build failed"


@dataclasses.dataclass(frozen=True)
class Converter:
    """A registered converter: the op, the function, its capability check, dynamic support."""

    target: Any
    fn: ConverterFn
    check: Check | None
    dynamic: bool = False
    host_args: frozenset[str] = frozenset()
    complex: bool = False


# Python-level ops torch.export emits for SymInt arithmetic; their converters take positional
# operands (``a``, ``b``) because they have no schema.
SYM_OPS = frozenset(
    {
        operator.add,
        operator.sub,
        operator.mul,
        operator.floordiv,
        operator.mod,
        operator.neg,
        torch.sym_max,
        torch.sym_min,
    }
)

_REGISTRY: dict[Any, Converter] = {}
# Converters for nodes that hold complex tensors (see COMPLEX_DTYPES), keyed like _REGISTRY: an
# op may have one of each (``mul`` of real tensors, ``mul`` of complex ones).
_COMPLEX: dict[Any, Converter] = {}


def converter(
    *targets: Any,
    check: Check | None = None,
    dynamic: bool = False,
    host_args: Iterable[str] = (),
    complex: bool = False,
) -> Callable[[ConverterFn], ConverterFn]:
    """Register the decorated function as the converter of each op in ``targets``.

    Args:
        targets: ATen ``OpOverload``s (or members of :data:`SYM_OPS`).
        check: ``node -> None | reason``, reading only node metadata.
        dynamic: the converter handles symbolic dimensions.
        host_args: arguments the converter takes as ``torch.Tensor`` when they are constants
            (a kernel it turns into ``trt.Weights``, statistics it folds on the host). Every other
            tensor argument, constants included, arrives as an ITensor.
        complex: the converter is for nodes that hold complex tensors (in or out); it receives
            and returns them as float tensors with a trailing (real, imag) dim of 2.
    """
    host = frozenset(host_args)
    table = _COMPLEX if complex else _REGISTRY
    if not targets:
        raise TypeError("converter() needs at least one ATen OpOverload")

    def wrap(fn: ConverterFn) -> ConverterFn:
        for target in targets:
            if not isinstance(target, torch._ops.OpOverload) and target not in SYM_OPS:
                raise TypeError(f"converter keys must be ATen OpOverloads, got {target!r}")
            if target in table:
                prev = table[target].fn
                raise KeyError(
                    f"converter for {op_name(target)} registered twice "
                    f"({prev.__module__}.{prev.__qualname__} and {fn.__module__}.{fn.__qualname__})"
                )
            table[target] = Converter(target, fn, check, dynamic, host, complex)
        return fn

    return wrap


def lookup(target: object, node: fx.Node | None = None) -> Converter | None:
    """The converter registered for ``target``, or ``None``; for a ``node`` that holds complex
    tensors, the complex converter (see :func:`converter`)."""
    table = _COMPLEX if node is not None and holds_complex(node) else _REGISTRY
    try:
        return table.get(target)
    except TypeError:  # unhashable targets have no converter
        return None


def registered_ops(complex: bool = False) -> Sequence[Any]:
    """Every op with a converter (``complex=True``: with a complex converter), sorted by name."""
    return sorted(_COMPLEX if complex else _REGISTRY, key=op_name)


def lookup_complex(target: object) -> Converter | None:
    """The complex converter registered for ``target``, or ``None``."""
    return _COMPLEX.get(target)


def bind_args(target: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Bind fx call arguments to the op's schema names, filling schema defaults.

    Schema-less SymInt operators bind their operands as ``a`` and ``b``.
    """
    if not isinstance(target, torch._ops.OpOverload):
        return dict(zip(("a", "b"), args, strict=False))
    bound: dict[str, Any] = {}
    positional = list(args)
    for i, arg in enumerate(target._schema.arguments):
        if i < len(positional) and not arg.kwarg_only:
            bound[arg.name] = positional[i]
        elif arg.name in kwargs:
            bound[arg.name] = kwargs[arg.name]
        elif arg.has_default_value():
            bound[arg.name] = arg.default_value
        else:
            raise TypeError(f"{op_name(target)}: missing argument {arg.name!r}")
    return bound


def node_args(node: fx.Node) -> dict[str, Any]:
    """The node's arguments bound to its schema (values are fx Nodes or Python values)."""
    return bind_args(node.target, node.args, node.kwargs)


@dataclasses.dataclass(frozen=True)
class Support:
    """The registry's verdict on one node."""

    supported: bool
    reason: Reason | None = None
    detail: str = ""


def support(node: fx.Node, settings: CompileSettings) -> Support:
    """Decide whether ``node`` can run in TensorRT; the reason when it cannot."""
    if settings.excludes(node.target):
        return Support(False, Reason.USER_EXCLUDED, "listed in torch_executed_ops")
    conv = lookup(node.target, node)
    if conv is None:
        what = " on complex tensors" if holds_complex(node) else ""
        return Support(False, Reason.NO_CONVERTER, f"no converter for {op_name(node.target)}{what}")
    problem = check_tensors(node, allow_dynamic=conv.dynamic, allow_complex=conv.complex)
    if problem is None and conv.complex:
        problem = complex_boundary(node)
    if problem is None and conv.check is not None:
        try:
            problem = conv.check(node)
        except GuardOnDataDependentSymNode as e:  # the check asked about a size made from data
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            problem = f"the check depends on a data-dependent size ({first})"
    if problem is not None:
        return Support(False, Reason.UNSUPPORTED_ARGUMENTS, problem)
    return Support(True)


def check_tensors(
    node: fx.Node, allow_dynamic: bool = False, allow_complex: bool = False
) -> str | None:
    """Generic check: every tensor in or out has a TensorRT dtype (or, for a complex converter,
    complex64) and at most 8 dims (complex ones 7: their network tensor has a dim of 2 more),
    and a static shape unless the converter takes dynamic shapes (data-dependent sizes
    included)."""
    for where, value in _tensor_values(node):
        is_complex = allow_complex and value.dtype in COMPLEX_DTYPES
        if value.dtype not in TRT_DTYPES and not is_complex:
            extra = " (TensorRT has no float64)" if value.dtype == torch.float64 else ""
            return f"{where} has dtype {value.dtype}{extra}"
        if value.dim() + is_complex > MAX_RANK:
            return f"{where} has rank {value.dim()}; TensorRT tensors have at most {MAX_RANK} dims"
        unbacked = free_unbacked_symbols(value)
        if unbacked and not allow_dynamic:
            names = ", ".join(sorted(map(str, unbacked)))
            return (
                f"{where} shape {tuple(value.shape)} has data-dependent sizes ({names}) and the "
                f"{op_name(node.target)} converter takes static shapes only"
            )
        if not allow_dynamic and any(not isinstance(d, int) for d in value.shape):
            return (
                f"{where} has a dynamic shape {tuple(value.shape)} and the "
                f"{op_name(node.target)} converter takes static shapes only"
            )
    return None


def _tensor_values(node: fx.Node) -> Iterable[tuple[str, torch.Tensor]]:
    for i, inp in enumerate(node.all_input_nodes):
        val = inp.meta.get("val")
        if isinstance(val, torch.Tensor):
            yield f"input {i} ({inp.name})", val
    out = node.meta.get("val")
    outs = out if isinstance(out, list | tuple) else [out]
    used = _used_outputs(node) if isinstance(out, list | tuple) else None
    for j, val in enumerate(outs):
        if used is not None and j not in used:
            continue  # never read, so never produced (e.g. a fused attention's RNG state)
        if isinstance(val, torch.Tensor):
            yield f"output {j}", val
        elif val is not None and not isinstance(val, int | float | bool):
            return


def _used_outputs(node: fx.Node) -> set[int] | None:
    """Indices of a multi-output node's outputs that some ``getitem`` user reads; ``None`` (all)
    when a user takes the whole tuple."""
    used = set()
    for user in node.users:
        if user.target is not operator.getitem or not isinstance(user.args[1], int):
            return None
        used.add(user.args[1])
    return used


def holds_complex(node: fx.Node) -> bool:
    """Whether a tensor in or out of ``node`` is complex."""
    return any(v.dtype.is_complex for _, v in _tensor_values(node))


def _complex_out(node: fx.Node) -> bool:
    val = node.meta.get("val")
    return isinstance(val, torch.Tensor) and val.dtype.is_complex


def complex_boundary(node: fx.Node) -> str | None:
    """Complex values must not cross an engine boundary (TensorRT has no complex dtype): every
    complex input comes from a constant or from a node with a complex converter, and every user
    of a complex output has one. (Partitioning may still cut such an edge, e.g. for a user in
    ``torch_executed_ops``; the interpreter then refuses the region's complex input or output.)"""
    for inp in node.all_input_nodes:
        if not _complex_out(inp) or inp.op == "get_attr":
            continue
        if inp.op != "call_function" or inp.target not in _COMPLEX:
            return f"complex input {inp.name} comes from outside TensorRT (no complex dtype there)"
    if _complex_out(node):
        for user in node.users:
            if user.op != "call_function" or user.target not in _COMPLEX:
                what = "the graph output" if user.op == "output" else op_name(user.target)
                return f"its complex result goes to {what}, which cannot take complex tensors"
    return None


def meta_val(node: Any) -> torch.Tensor:
    """The FakeTensor recorded for an fx node (its output when it is a tensor)."""
    if not isinstance(node, fx.Node) or not isinstance(node.meta.get("val"), torch.Tensor):
        raise TypeError(f"{node} carries no tensor metadata")
    val: torch.Tensor = node.meta["val"]
    return val


def arg_val(node: fx.Node, name: str) -> Any:
    """Argument ``name`` of ``node``: the FakeTensor for node arguments, else the value itself."""
    value = node_args(node)[name]
    if isinstance(value, fx.Node):
        return value.meta.get("val")
    return value


def extra_outputs_used(node: fx.Node) -> bool:
    """Whether a multi-output node has a user of any output but output 0."""
    if not isinstance(node.meta.get("val"), list | tuple):
        return False
    return any(not (user.target is operator.getitem and user.args[1] == 0) for user in node.users)
