"""Precision passes: float64 truncation and reduced precision (autocast), decided in lowering.

Networks are strongly typed, so the dtype each TensorRT layer computes in is the dtype of its
inputs in the ATen graph. These passes rewrite that graph before partitioning, so every
frontend (AOT, ``torch.compile``, TorchScript, FX) gets the same engines and the partitioner's
checks see the final dtypes.

:func:`reduce_precision` sorts ops into three classes by ATen overload packet:

* **low** (:data:`LOW_PRECISION_OPS`): matrix multiplies, convolutions, attention. They run in
  the low type when their float inputs are float32; their weights are cast once, in the stored
  constants (no cast node).
* **float32** (:data:`FP32_OPS`): reductions, softmax, normalization statistics, exp/log/pow,
  cumulative sums and products. They run in the dtype the model gave them.
* everything else **follows its inputs**: a relu of an fp16 tensor stays fp16; two activations
  of different float types meet in the wider one; constants take the activation's type unless
  that would overflow them.

Casts of one tensor to one dtype are made once and shared by every consumer, so adjacent
low-precision ops exchange low-precision tensors with no cast between them. Graph outputs are
cast back to the dtypes the model declares.

Example (``precision="fp16"``)::

    Before: h = linear(x, w, b);      s = softmax(h, -1);      y = mm(s, w2)
    After:  x16 = _to_copy(x, f16);  h = linear(x16, w16, b16); h32 = _to_copy(h, f32)
            s = softmax(h32, -1);    s16 = _to_copy(s, f16);  y16 = mm(s16, w2_16)
            y = _to_copy(y16, f32)                           # the output keeps float32
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Iterable
from typing import Any

import torch
from torch import fx
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

from torch_trt.dynamo.lower import mutated_attrs
from torch_trt.settings import CompileSettings

log = logging.getLogger("torch_trt")
aten = torch.ops.aten

#: Ops that run in the low type (their float inputs are cast to it).
LOW_PRECISION_OPS: frozenset[Any] = frozenset(
    {
        aten.convolution,
        aten._convolution,
        aten.mm,
        aten.bmm,
        aten.addmm,
        aten.baddbmm,
        aten.addbmm,
        aten.linear,
        aten.matmul,
        aten.mv,
        aten.dot,
        aten.einsum,
        aten.scaled_dot_product_attention,
    }
)

#: Numerically sensitive ops: they keep the dtype the model computes them in.
FP32_OPS: frozenset[Any] = frozenset(
    {
        # softmax and normalization statistics
        aten.softmax,
        aten._softmax,
        aten._safe_softmax,
        aten.log_softmax,
        aten._log_softmax,
        aten.layer_norm,
        aten.native_layer_norm,
        aten.group_norm,
        aten.native_group_norm,
        aten.rms_norm,
        # reductions
        aten.sum,
        aten.mean,
        aten.prod,
        aten.var,
        aten.var_mean,
        aten.std,
        aten.std_mean,
        aten.norm,
        aten.linalg_vector_norm,
        aten.logsumexp,
        # cumulative sums and products
        aten.cumsum,
        aten.cumprod,
        aten.logcumsumexp,
        # exp / log / pow chains
        aten.exp,
        aten.exp2,
        aten.expm1,
        aten.log,
        aten.log2,
        aten.log10,
        aten.log1p,
        aten.pow,
    }
)

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
#: ``node.meta`` key of the casts these passes insert: ``"autocast"`` or ``"truncate_double"``.
CAST_KEY = "torch_trt_precision"
#: ``node.meta`` key of a constant these passes stored in a narrower float type: the tensor it was
#: rounded from, so that a converter folding more math into it on the host (a batch norm into a
#: convolution's kernel) can start from the unrounded values and round once.
ROUNDED_FROM_KEY = "torch_trt_rounded_from"


def apply_precision(gm: fx.GraphModule, s: CompileSettings) -> fx.GraphModule:
    """The precision passes ``s`` asks for: :func:`truncate_float64`, then
    :func:`reduce_precision`. A graph with neither setting is returned unchanged."""
    if s.truncate_double:
        gm = truncate_float64(gm)
    low = s.low_precision
    if low is not None:
        gm = reduce_precision(gm, low, s)
    return gm


# --------------------------------------------------------------------------------------------
# float64 truncation


def truncate_float64(gm: fx.GraphModule) -> fx.GraphModule:
    """Compute float64 work in float32; the graph's inputs and outputs keep float64.

    Before: ``y = mul(x64, w64)``, output ``y`` (float64)
    After:  ``x32 = _to_copy(x64, f32); y32 = mul(x32, w32); y = _to_copy(y32, f64)``

    Float64 constants are stored as float32; ``dtype=torch.float64`` arguments become float32.
    The two boundary casts run in PyTorch (TensorRT has no float64), so engines see float32.
    """
    rewriter = _Rewriter(gm, tag="truncate_double")
    for node in list(gm.graph.nodes):
        if node.op == "get_attr" and _dtype(node) == torch.float64:
            if str(node.target) not in rewriter.state:
                rewriter.retarget_constant(node, torch.float32)
        elif node.op == "call_function" and _has_tensor_output(node):
            inputs = _float_inputs(node)
            if _must_keep(node):
                rewriter.apply(node, {n: rewriter.original.get(n) for n in inputs})
                continue
            args, kwargs = _replace_float64((node.args, node.kwargs))
            retyped = (args, kwargs) != (node.args, node.kwargs)
            node.args, node.kwargs = args, kwargs
            rewriter.apply(node, {n: _narrow(_dtype(n)) for n in inputs}, force=retyped)
    rewriter.restore_outputs()
    return rewriter.finish()


def _narrow(dtype: torch.dtype | None) -> torch.dtype | None:
    return torch.float32 if dtype == torch.float64 else dtype


def _replace_float64(value: Any) -> Any:
    if value is torch.float64:
        return torch.float32
    if isinstance(value, tuple):
        return tuple(_replace_float64(v) for v in value)
    if isinstance(value, list):
        return [_replace_float64(v) for v in value]
    if isinstance(value, dict):
        return {k: _replace_float64(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------------------------
# reduced precision


def reduce_precision(
    gm: fx.GraphModule, low: torch.dtype, s: CompileSettings | None = None
) -> fx.GraphModule:
    """Run matrix, convolution and attention work of float32 in ``low``; see the module doc.

    Args:
        gm: a lowered graph (``get_attr`` weights, FakeTensor ``meta["val"]`` on every node).
        low: ``torch.float16`` or ``torch.bfloat16``.
        s: settings whose ``precision_exclude`` keeps matching nodes in their dtypes.

    Returns:
        ``gm``, rewritten; every node's ``meta["val"]`` carries its new dtype.
    """
    rewriter = _Rewriter(gm)
    matched: set[str] = set()
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or not _has_tensor_output(node):
            continue
        entry = s.precision_excluded(node.name, node.target) if s is not None else None
        if entry is not None:
            matched.add(entry)
        plan = _plan(rewriter, node, low, pinned=entry is not None)
        rewriter.apply(node, plan)
    for entry in sorted((s.precision_exclude if s is not None else frozenset()) - matched):
        log.warning(
            "torch-trt: precision_exclude entry %r matches no node of the lowered graph; it "
            "has no effect (node names are listed by torch_trt.report(...) placements)",
            entry,
        )
    rewriter.restore_outputs()
    return rewriter.finish()


def _plan(
    rw: _Rewriter, node: fx.Node, low: torch.dtype, pinned: bool
) -> dict[fx.Node, torch.dtype | None]:
    """The dtype each float input of ``node`` should have (see the module doc)."""
    inputs = _float_inputs(node)
    keep = {n: rw.original.get(n) for n in inputs}
    packet = getattr(node.target, "overloadpacket", None)
    if pinned or not inputs or packet in FP32_OPS or _must_keep(node):
        return keep
    if packet in LOW_PRECISION_OPS:
        if all(rw.original.get(n) == torch.float32 for n in inputs) and all(
            rw.fits(n, low) for n in inputs if rw.is_constant(n)
        ):
            return dict.fromkeys(inputs, low)
        return keep
    return _follow(rw, node, inputs, keep)


def _follow(
    rw: _Rewriter, node: fx.Node, inputs: list[fx.Node], keep: dict[fx.Node, torch.dtype | None]
) -> dict[fx.Node, torch.dtype | None]:
    """An op that follows its inputs: the widest activation dtype, constants cast to it."""
    active = [n for n in inputs if not rw.is_constant(n)]
    if not active:
        return keep
    dtype = _widest(rw.current(n) for n in active)
    host = _host_args(node)
    consts = [n for n in inputs if rw.is_constant(n) and n not in host]
    if any(not rw.fits(n, dtype) for n in consts):
        dtype = _widest([dtype, *(rw.original.get(n) for n in consts)])
    plan: dict[fx.Node, torch.dtype | None] = {n: dtype for n in inputs if n not in host}
    plan.update({n: keep[n] for n in host})
    return plan


def _widest(dtypes: Iterable[torch.dtype | None]) -> torch.dtype:
    """torch's promotion among floats: fp16 with bf16 meets in fp32."""
    ds = [d for d in dtypes if d is not None]
    return functools.reduce(torch.promote_types, ds) if ds else torch.float32


def _must_keep(node: fx.Node) -> bool:
    """Ops whose dtypes must not change: mutations (state keeps its dtype) and ops whose output
    sizes are data-dependent (their symbols cannot be traced again)."""
    target = node.target
    if isinstance(target, torch._ops.OpOverload) and target._schema.is_mutable:
        return True
    return bool(free_unbacked_symbols(node.meta.get("val")))


def _host_args(node: fx.Node) -> set[fx.Node]:
    """Constant arguments the converter folds on the host (batch-norm statistics): they keep
    their dtype, the converter rounds the folded result once."""
    from torch_trt.convert import registry

    conv = registry.lookup(node.target)
    if conv is None or not conv.host_args:
        return set()
    try:
        bound = registry.node_args(node)
    except TypeError:
        return set()
    values = [bound.get(name) for name in conv.host_args]
    return {v for v in values if isinstance(v, fx.Node) and v.op == "get_attr"}


# --------------------------------------------------------------------------------------------
# the graph rewriting both passes share


def _dtype(node: Any) -> torch.dtype | None:
    val = node.meta.get("val") if isinstance(node, fx.Node) else None
    return val.dtype if isinstance(val, torch.Tensor) else None


def _has_tensor_output(node: fx.Node) -> bool:
    val = node.meta.get("val")
    vals = val if isinstance(val, list | tuple) else [val]
    return any(isinstance(v, torch.Tensor) for v in vals) and node.target is not operator.getitem


def _float_inputs(node: fx.Node) -> list[fx.Node]:
    """The node's inputs that are float tensors, in argument order, each once."""
    return [n for n in node.all_input_nodes if _dtype(n) in _FLOATS]


class _Rewriter:
    """Casts inputs of nodes, retargets constants and refreshes FakeTensor metadata."""

    def __init__(self, gm: fx.GraphModule, tag: str = "autocast") -> None:
        from torch._guards import detect_fake_mode

        self.gm = gm
        self.tag = tag  # node.meta[CAST_KEY] of the casts this rewriter inserts
        self.state = mutated_attrs(gm)
        vals = [n.meta.get("val") for n in gm.graph.nodes]
        self.fake_mode = detect_fake_mode([v for v in vals if isinstance(v, torch.Tensor)])
        self.original = {n: _dtype(n) for n in gm.graph.nodes}
        self.casts: dict[tuple[fx.Node, torch.dtype], fx.Node] = {}
        self.constants: dict[tuple[str, torch.dtype], str] = {}
        self._fits: dict[tuple[fx.Node, torch.dtype], bool] = {}

    def current(self, node: fx.Node) -> torch.dtype | None:
        return _dtype(node)

    def is_constant(self, node: fx.Node) -> bool:
        return node.op == "get_attr" and str(node.target) not in self.state

    def fits(self, node: fx.Node, dtype: torch.dtype) -> bool:
        """Whether constant ``node`` casts to ``dtype`` without a new infinity."""
        key = (node, dtype)
        if key not in self._fits:
            value = self._fetch(str(node.target)).detach()
            lo, hi = torch.aminmax(value) if value.numel() else (value.new_zeros(()),) * 2
            biggest = torch.maximum(hi, -lo)  # one pass, no copy of the weights
            fits = bool(biggest <= torch.finfo(dtype).max)
            if not fits and not bool(biggest.isfinite()):  # inf/nan present: check the rest
                cast = value.to(dtype)
                fits = not bool((torch.isinf(cast) & torch.isfinite(value)).any())
            self._fits[key] = fits
        return self._fits[key]

    def apply(
        self, node: fx.Node, plan: dict[fx.Node, torch.dtype | None], force: bool = False
    ) -> None:
        """Give each planned input its dtype, then refresh ``node``'s metadata (also when
        ``force``: its arguments changed)."""
        changed = force
        for inp, dtype in plan.items():
            if dtype is None or _dtype(inp) == dtype:
                continue
            node.replace_input_with(inp, self._cast(inp, dtype, node))
            changed = True
        if changed or any(_dtype(n) != self.original.get(n) for n in node.all_input_nodes):
            self.refresh(node)

    def _cast(self, inp: fx.Node, dtype: torch.dtype, user: fx.Node) -> fx.Node:
        if self.is_constant(inp):
            return self._constant_as(inp, dtype, user)
        key = (inp, dtype)
        if key not in self.casts:
            with self.gm.graph.inserting_before(user):
                cast = self.gm.graph.call_function(aten._to_copy.default, (inp,), {"dtype": dtype})
            cast.meta[CAST_KEY] = self.tag
            self.casts[key] = cast
            self.refresh(cast)
        return self.casts[key]

    def _constant_as(self, inp: fx.Node, dtype: torch.dtype, user: fx.Node) -> fx.Node:
        """A ``get_attr`` of the constant stored in ``dtype`` (one buffer per dtype)."""
        key = (str(inp.target), dtype)
        if key not in self.constants:
            name = f"{str(inp.target).replace('.', '_')}_{str(dtype).removeprefix('torch.')}"
            while hasattr(self.gm, name):
                name += "_"
            self.gm.register_buffer(name, self._fetch(str(inp.target)).detach().to(dtype))
            self.constants[key] = name
        with self.gm.graph.inserting_before(user):
            attr = self.gm.graph.get_attr(self.constants[key])
        attr.meta = dict(inp.meta)
        attr.meta["val"] = self._fake(self._fetch(self.constants[key]))
        source = self._fetch(str(inp.target))
        if source.is_floating_point() and source.element_size() > dtype.itemsize:
            attr.meta[ROUNDED_FROM_KEY] = source  # a reference, not a copy
        self.original[attr] = dtype
        return attr

    def retarget_constant(self, node: fx.Node, dtype: torch.dtype) -> None:
        """Store constant ``node`` in ``dtype`` in place (truncation: nothing keeps float64)."""
        value = self._fetch(str(node.target)).detach().to(dtype)
        *path, leaf = str(node.target).split(".")
        owner: Any = self.gm
        for part in path:
            owner = getattr(owner, part)
        if isinstance(getattr(owner, leaf), torch.nn.Parameter):
            setattr(owner, leaf, torch.nn.Parameter(value, requires_grad=False))
        else:
            setattr(owner, leaf, value)
        node.meta["val"] = self._fake(value)

    def refresh(self, node: fx.Node) -> None:
        """Recompute ``node.meta["val"]`` from its inputs' (fake) values."""
        if node.target is operator.getitem:
            parent, index = node.args
            assert isinstance(parent, fx.Node)
            node.meta["val"] = parent.meta["val"][index]
            return
        args, kwargs = fx.node.map_arg((node.args, node.kwargs), lambda n: n.meta.get("val"))
        assert callable(node.target)
        with self.fake_mode or _nullcontext():
            node.meta["val"] = node.target(*args, **kwargs)
        for user in node.users:
            if user.target is operator.getitem:
                self.refresh(user)

    def restore_outputs(self) -> None:
        """Cast graph outputs back to the dtypes the model declared."""
        out = next(iter(self.gm.graph.find_nodes(op="output")))
        for value in out.all_input_nodes:
            want = self.original.get(value)
            if want is None or _dtype(value) == want or _dtype(value) not in _FLOATS:
                continue
            out.replace_input_with(value, self._cast(value, want, out))

    def finish(self) -> fx.GraphModule:
        self.gm.graph.eliminate_dead_code()
        self.gm.graph.lint()
        self.gm.recompile()
        return self.gm

    def _fetch(self, target: str) -> torch.Tensor:
        obj: Any = self.gm
        for part in target.split("."):
            obj = getattr(obj, part)
        assert isinstance(obj, torch.Tensor)
        return obj

    def _fake(self, value: torch.Tensor) -> Any:
        if self.fake_mode is None:
            return value
        return self.fake_mode.from_tensor(value, static_shapes=True)


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
