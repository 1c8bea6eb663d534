"""A TensorRT network read back into plain data, and its evaluation with PyTorch ops.

``read_network(net)`` walks a built ``INetworkDefinition`` (layer types, attributes, constant
weights) and returns a :class:`ReferenceProgram`: a list of :class:`LayerRecord` in topological
order whose attributes are plain Python values and torch tensors. The program no longer needs
TensorRT, serializes with ``to_bytes`` and evaluates with ``run``.

Each layer type has a *reader* (typed TensorRT layer -> attribute dict) and an *evaluator*
(record + input tensors -> output tensors), registered with :func:`layer_kind`. Evaluators are
written from TensorRT's operator documentation (see ``shared/TENSORRT_SEMANTICS.md``), never from
what our converters emit, so that the reference runtime checks the converters.

Conventions for readers (keep records plain data so that ``to_bytes`` round-trips with
``torch.load(weights_only=True)``): enums are stored as their ``.name`` strings, dims as tuples of
ints, dtypes as torch dtype names (``dtype_name``), weights as CPU torch tensors already reshaped
(``weights_tensor``). Evaluators get tensors on the device of the program inputs; tensors they
create themselves go on :func:`current_device`.

Example:
    >>> prog = read_network(net)
    >>> (y,) = prog.run([x])
    >>> ys, trace = prog.run([x], trace=True)   # trace: {layer name: [outputs]}
"""

from __future__ import annotations

import contextvars
import dataclasses
import heapq
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np
import torch

from torch_trt import _trt

FORMAT_VERSION = 1

Reader = Callable[[Any], dict[str, Any]]
Evaluator = Callable[["LayerRecord", list["torch.Tensor | None"]], list[torch.Tensor]]
Shape = tuple[int, ...]


@dataclasses.dataclass
class LayerRecord:
    """One layer: its type name (``trt.LayerType`` name), tensors in and out, and attributes.

    ``inputs`` holds tensor ids (``None`` for an unset optional input); ``output_shapes`` holds the
    shapes TensorRT inferred (-1 for a dynamic dim, ``None`` when shape inference failed).
    """

    name: str
    type: str
    inputs: list[str | None]
    outputs: list[str]
    output_dtypes: list[torch.dtype]
    attrs: dict[str, Any]
    output_shapes: list[Shape | None] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _Kind:
    reader: Reader
    evaluator: Evaluator
    trt_class: str


_KINDS: dict[str, _Kind] = {}
_PENDING_READERS: dict[str, tuple[Reader, str]] = {}
_PENDING_EVALUATORS: dict[str, Evaluator] = {}


def layer_kind(type_name: str, trt_class: str) -> Callable[[Reader], Reader]:
    """Register the reader decorated as the one for ``trt.LayerType.<type_name>``.

    ``trt_class`` names the typed interface (``trt.<trt_class>``) that the layer is cast to before
    the reader runs; it must be right, a wrong class segfaults. Use as::

        @layer_kind("ELEMENTWISE", "IElementWiseLayer")
        def read_elementwise(layer) -> dict[str, Any]: ...

    and register the evaluator with :func:`evaluator`.
    """

    def wrap(reader: Reader) -> Reader:
        if type_name in _KINDS or type_name in _PENDING_READERS:
            raise KeyError(f"reference layer kind {type_name} registered twice")
        _PENDING_READERS[type_name] = (reader, trt_class)
        _link(type_name)
        return reader

    return wrap


def evaluator(type_name: str) -> Callable[[Evaluator], Evaluator]:
    """Register the evaluator of ``type_name`` (see :func:`layer_kind`)."""

    def wrap(fn: Evaluator) -> Evaluator:
        if type_name in _PENDING_EVALUATORS:
            raise KeyError(f"reference evaluator {type_name} registered twice")
        _PENDING_EVALUATORS[type_name] = fn
        _link(type_name)
        return fn

    return wrap


def _link(type_name: str) -> None:
    if type_name in _PENDING_READERS and type_name in _PENDING_EVALUATORS:
        reader, cls = _PENDING_READERS[type_name]
        _KINDS[type_name] = _Kind(reader, _PENDING_EVALUATORS[type_name], cls)


def supported_layer_types() -> frozenset[str]:
    """The ``trt.LayerType`` names the reference runtime can read and evaluate."""
    return frozenset(_KINDS)


class ReferenceError(RuntimeError):
    """The network uses something the reference runtime cannot evaluate, or inputs are wrong."""


# --------------------------------------------------------------------------------------------
# Helpers shared by readers and evaluators

_DTYPES: dict[str, torch.dtype] = {
    "FLOAT": torch.float32,
    "HALF": torch.float16,
    "BF16": torch.bfloat16,
    "INT8": torch.int8,
    "INT32": torch.int32,
    "INT64": torch.int64,
    "BOOL": torch.bool,
    "UINT8": torch.uint8,
    "FP8": torch.float8_e4m3fn,
}

_DEVICE: contextvars.ContextVar[torch.device | None] = contextvars.ContextVar(
    "reference_device", default=None
)


def current_device() -> torch.device:
    """The device ``run`` evaluates on (that of its inputs); put tensors you create there."""
    return _DEVICE.get() or torch.device("cpu")


def torch_dtype(trt_dtype: Any) -> torch.dtype:
    """The torch dtype of a ``trt.DataType``; ReferenceError for ones torch cannot hold."""
    name = str(getattr(trt_dtype, "name", trt_dtype))
    if name not in _DTYPES:
        raise ReferenceError(f"TensorRT dtype {name} has no torch equivalent in the reference")
    return _DTYPES[name]


def dtype_name(dtype: torch.dtype | Any) -> str:
    """A torch dtype (or ``trt.DataType``) as a plain string such as ``"float32"``."""
    if not isinstance(dtype, torch.dtype):
        dtype = torch_dtype(dtype)
    return str(dtype).removeprefix("torch.")


def dtype_from_name(name: str) -> torch.dtype:
    """Inverse of :func:`dtype_name`."""
    dt = getattr(torch, name, None)
    if not isinstance(dt, torch.dtype):
        raise ReferenceError(f"unknown dtype name {name!r} in a reference program")
    return dt


def dims(value: Any) -> Shape | None:
    """A ``trt.Dims``/sequence as a tuple of ints, ``None`` stays ``None``."""
    if value is None:
        return None
    return tuple(int(v) for v in value)


def weights_tensor(w: Any, shape: Sequence[int] | None = None, role: str = "") -> torch.Tensor:
    """Copy weights read back from TensorRT into a CPU tensor, reshaped to ``shape``.

    TensorRT returns flat numpy arrays. bf16 weights come back as a ``trt.Weights`` that exposes
    neither its data nor a pointer (tensorrt_rtx 1.7.1), so they are taken from the ``weights``
    side table given to :func:`read_network`, keyed by layer name (plus ``"/" + role`` when a
    layer has several weights, e.g. ``"conv1/bias"``).
    """
    if isinstance(w, np.ndarray):
        t = torch.from_numpy(w if _SHARED.get() else np.array(w, copy=True))
    else:
        t = _side_weights(w, role)
    return t.reshape(tuple(shape)) if shape is not None else t


# True while serialize_network reads weights as views of the live network's memory.
_SHARED: contextvars.ContextVar[bool] = contextvars.ContextVar("reference_shared", default=False)
_SIDE: contextvars.ContextVar[tuple[str, Mapping[str, torch.Tensor]] | None] = (
    contextvars.ContextVar("reference_side_weights", default=None)
)


def _side_weights(w: Any, role: str) -> torch.Tensor:
    layer, table = _SIDE.get() or ("", {})
    key = f"{layer}/{role}" if role else layer
    dtype = torch_dtype(w.dtype)
    if int(w.size) == 0:
        return torch.empty(0, dtype=dtype)
    if key not in table:
        raise ReferenceError(
            f"layer {layer!r}: TensorRT cannot return its {dtype_name(dtype)} weights; pass them "
            f"as read_network(net, weights={{{key!r}: tensor}}), or build the constant in float32 "
            f"and cast it with an ICastLayer"
        )
    t = table[key].detach().to("cpu").clone().reshape(-1)
    if t.dtype != dtype or t.numel() != int(w.size):
        raise ReferenceError(
            f"layer {layer!r}: side-table weights {key!r} are {t.dtype} x {t.numel()}, "
            f"TensorRT holds {dtype} x {int(w.size)}"
        )
    return t


def enum_name(value: Any) -> str:
    """A TensorRT enum member as its ``.name`` string."""
    return str(value.name)


# --------------------------------------------------------------------------------------------
# Reading a network back


class _TensorIds:
    """Stable string ids for ITensor wrappers (TensorRT caches them, so they key a dict)."""

    def __init__(self) -> None:
        self.ids: dict[Any, str] = {}
        self.used: set[str] = set()

    def get(self, t: Any) -> str:
        if t not in self.ids:
            base = str(t.name) or "tensor"
            tid, n = base, 1
            while tid in self.used:
                tid, n = f"{base}#{n}", n + 1
            self.used.add(tid)
            self.ids[t] = tid
        return self.ids[t]


def _shape_of(t: Any) -> Shape | None:
    try:
        return dims(t.shape)
    except RuntimeError:  # "Could not get tensor shape." when shape inference failed
        return None


def _read_layer(
    trt: Any, layer: Any, ids: _TensorIds, side: Mapping[str, torch.Tensor]
) -> LayerRecord:
    type_name = enum_name(layer.type)
    kind = _KINDS.get(type_name)
    if kind is None:
        raise ReferenceError(
            f"layer {layer.name!r} has type {type_name}, which the reference runtime does not "
            f"support (supported: {', '.join(sorted(_KINDS))})"
        )
    ins = [layer.get_input(j) for j in range(layer.num_inputs)]
    outs = [layer.get_output(j) for j in range(layer.num_outputs)]
    # Map by layer.type only: a wrong interface class segfaults.
    layer.__class__ = getattr(trt, kind.trt_class)
    token = _SIDE.set((str(layer.name), side))
    try:
        attrs = kind.reader(layer)
    finally:
        _SIDE.reset(token)
    return LayerRecord(
        name=str(layer.name),
        type=type_name,
        inputs=[None if t is None else ids.get(t) for t in ins],
        outputs=[ids.get(t) for t in outs],
        output_dtypes=[torch_dtype(t.dtype) for t in outs],
        attrs=attrs,
        output_shapes=[_shape_of(t) for t in outs],
    )


def _toposort(layers: list[LayerRecord], available: set[str]) -> list[LayerRecord]:
    """Order layers by data dependencies, keeping definition order among ready layers."""
    producer = {tid: i for i, rec in enumerate(layers) for tid in rec.outputs}
    deps: list[set[int]] = []
    for rec in layers:
        d: set[int] = set()
        for tid in rec.inputs:
            if tid is None or tid in available:
                continue
            if tid not in producer:
                raise ReferenceError(
                    f"layer {rec.name!r} reads tensor {tid!r}, which no layer makes"
                )
            d.add(producer[tid])
        deps.append(d)
    users: list[list[int]] = [[] for _ in layers]
    for i, d in enumerate(deps):
        for j in d:
            users[j].append(i)
    waiting = [len(d) for d in deps]
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(layers):
        stuck = [layers[i].name for i in range(len(layers)) if waiting[i] > 0]
        raise ReferenceError(f"the network has a dependency cycle through layers {stuck[:5]}")
    return [layers[i] for i in order]


def serialize_network(net: Any) -> memoryview:
    """``read_network(net).to_buffer()`` without copying the weights first: they are read as
    views of the network's weight memory and serialized while ``net`` keeps it alive, so the
    compile holds one copy (the serialized one) instead of two."""
    token = _SHARED.set(True)
    try:
        return read_network(net).to_buffer()
    finally:
        _SHARED.reset(token)


def read_network(net: Any, weights: Mapping[str, torch.Tensor] | None = None) -> ReferenceProgram:
    """Read a TensorRT ``INetworkDefinition`` back into a :class:`ReferenceProgram`.

    Args:
        net: the network, built or not; it is only read.
        weights: weights TensorRT cannot return (bf16), by layer name; see ``weights_tensor``.
            By default, those of the conversion that built ``net``, if any.

    Returns:
        A program that evaluates the network with PyTorch ops.

    Raises:
        ReferenceError: a layer type or dtype the reference runtime does not support.

    Example:
        >>> prog = read_network(net)
        >>> prog.run([torch.randn(2, 3)])
    """
    trt = _trt.load()
    if weights is None:
        # A network our converters built knows its bf16 constants.
        from torch_trt.convert.context import side_weights_of

        weights = side_weights_of(net)
    ids = _TensorIds()
    inputs: list[tuple[str, torch.dtype, Shape]] = []
    for i in range(net.num_inputs):
        t = net.get_input(i)
        ids.get(t)
        inputs.append((str(t.name), torch_dtype(t.dtype), dims(t.shape) or ()))
    layers = [_read_layer(trt, net.get_layer(i), ids, weights or {}) for i in range(net.num_layers)]
    input_ids = [ids.get(net.get_input(i)) for i in range(net.num_inputs)]
    outs = [net.get_output(i) for i in range(net.num_outputs)]
    output_ids = [ids.get(t) for t in outs]
    # A loop becomes one composite record (its back edges would otherwise be cycles).
    from torch_trt.runtime.reference.loops import group_loops

    return ReferenceProgram(
        inputs=inputs,
        outputs=output_ids,
        output_names=[str(t.name) for t in outs],
        layers=_toposort(group_loops(layers, output_ids), set(input_ids)),
        input_ids=input_ids,
    )


# --------------------------------------------------------------------------------------------
# The program


@dataclasses.dataclass
class ReferenceProgram:
    """A network read back by :func:`read_network`; evaluate it with :meth:`run`.

    Attributes:
        inputs: ``(name, dtype, shape)`` per network input, -1 marking a dynamic dim.
        outputs: tensor ids of the network outputs, in network-output order.
        output_names: their TensorRT names.
        layers: the layers in a topological order.
        input_ids: tensor ids of the inputs (by default their names).
    """

    inputs: list[tuple[str, torch.dtype, Shape]]
    outputs: list[str]
    output_names: list[str]
    layers: list[LayerRecord]
    input_ids: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.input_ids:
            self.input_ids = [name for name, _, _ in self.inputs]

    @overload
    def run(
        self, inputs: Sequence[torch.Tensor], trace: Literal[False] = False
    ) -> list[torch.Tensor]: ...

    @overload
    def run(
        self, inputs: Sequence[torch.Tensor], trace: Literal[True]
    ) -> tuple[list[torch.Tensor], dict[str, list[torch.Tensor]]]: ...

    def run(
        self, inputs: Sequence[torch.Tensor], trace: bool = False
    ) -> list[torch.Tensor] | tuple[list[torch.Tensor], dict[str, list[torch.Tensor]]]:
        """Evaluate the network on ``inputs`` (in network-input order) with PyTorch ops.

        Args:
            inputs: one tensor per network input, matching its dtype, rank and static dims.
            trace: also return every layer's outputs, keyed by layer name (keeps them alive).

        Returns:
            The network outputs, or ``(outputs, {layer name: outputs})`` with ``trace=True``.

        Raises:
            ReferenceError: wrong inputs, or a layer whose evaluation disagrees with the network
                (output count, dtype or shape).

        Example:
            >>> (y,) = prog.run([torch.randn(2, 3)])
        """
        self._check_inputs(inputs)
        device = inputs[0].device if inputs else torch.device("cpu")
        env: dict[str, torch.Tensor] = dict(zip(self.input_ids, inputs, strict=True))
        last_use = self._last_uses()
        traced: dict[str, list[torch.Tensor]] = {}
        token = _DEVICE.set(device)
        try:
            for step, rec in enumerate(self.layers):
                outs = _evaluate(rec, [None if t is None else env[t] for t in rec.inputs])
                env.update(zip(rec.outputs, outs, strict=True))
                if trace:
                    traced[rec.name] = outs
                for tid in last_use.get(step, ()):
                    env.pop(tid, None)
        finally:
            _DEVICE.reset(token)
        results = [env[t] for t in self.outputs]
        return (results, traced) if trace else results

    def _last_uses(self) -> dict[int, list[str]]:
        """Step after which each intermediate tensor can be freed (outputs are kept)."""
        last: dict[str, int] = {}
        for step, rec in enumerate(self.layers):
            for tid in rec.inputs:
                if tid is not None:
                    last[tid] = step
            for tid in rec.outputs:
                last.setdefault(tid, step)  # unused outputs die right away
        keep = set(self.outputs)
        by_step: dict[int, list[str]] = {}
        for tid, step in last.items():
            if tid not in keep:
                by_step.setdefault(step, []).append(tid)
        return by_step

    def _check_inputs(self, inputs: Sequence[torch.Tensor]) -> None:
        if len(inputs) != len(self.inputs):
            names = [n for n, _, _ in self.inputs]
            raise ReferenceError(
                f"the network takes {len(self.inputs)} inputs {names}, got {len(inputs)}"
            )
        for x, (name, dtype, shape) in zip(inputs, self.inputs, strict=True):
            if not isinstance(x, torch.Tensor):
                raise ReferenceError(f"input {name!r} must be a torch.Tensor, got {type(x)}")
            if x.dtype != dtype:
                raise ReferenceError(f"input {name!r} must have dtype {dtype}, got {x.dtype}")
            want = "(" + ", ".join("?" if d < 0 else str(d) for d in shape) + ")"
            ok = x.dim() == len(shape) and all(
                d < 0 or d == s for d, s in zip(shape, x.shape, strict=True)
            )
            if not ok:
                raise ReferenceError(f"input {name!r} must have shape {want}, got {tuple(x.shape)}")
            if x.device != inputs[0].device:
                raise ReferenceError(
                    f"input {name!r} is on {x.device}, but the first input is on {inputs[0].device}"
                )

    def to_bytes(self) -> bytes:
        """Serialize to bytes (``torch.save`` of plain data); see :meth:`from_bytes`."""
        return self._saved().getvalue()

    def to_buffer(self) -> memoryview:
        """:meth:`to_bytes` as a writable view of the serialization buffer (no copy)."""
        return self._saved().getbuffer()

    def _saved(self) -> io.BytesIO:
        payload = {
            "format_version": FORMAT_VERSION,
            "inputs": [(n, dtype_name(d), list(s)) for n, d, s in self.inputs],
            "input_ids": list(self.input_ids),
            "outputs": list(self.outputs),
            "output_names": list(self.output_names),
            "layers": [record_to_dict(r) for r in self.layers],
        }
        buf = io.BytesIO()
        torch.save(payload, buf)
        return buf

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> ReferenceProgram:
        """Load a program saved by :meth:`to_bytes` (safe: ``weights_only=True``).

        Raises:
            ReferenceError: the bytes are not a reference program of this format version.
        """
        try:
            p = torch.load(io.BytesIO(data), weights_only=True)
        except Exception as e:
            raise ReferenceError(f"not a serialized reference program: {e}") from e
        if not isinstance(p, dict) or p.get("format_version") != FORMAT_VERSION:
            got = p.get("format_version") if isinstance(p, dict) else None
            raise ReferenceError(
                f"reference program format version {got} is not the supported {FORMAT_VERSION}"
            )
        layers = [record_from_dict(r) for r in p["layers"]]
        return cls(
            inputs=[(n, dtype_from_name(d), tuple(s)) for n, d, s in p["inputs"]],
            outputs=list(p["outputs"]),
            output_names=list(p["output_names"]),
            layers=layers,
            input_ids=list(p["input_ids"]),
        )


def record_to_dict(r: LayerRecord) -> dict[str, Any]:
    """A record as plain data (what ``to_bytes`` stores; composite records nest these)."""
    return {
        "name": r.name,
        "type": r.type,
        "inputs": list(r.inputs),
        "outputs": list(r.outputs),
        "output_dtypes": [dtype_name(d) for d in r.output_dtypes],
        "output_shapes": [None if s is None else list(s) for s in r.output_shapes],
        "attrs": r.attrs,
    }


def record_from_dict(r: Mapping[str, Any]) -> LayerRecord:
    """Inverse of :func:`record_to_dict`."""
    return LayerRecord(
        name=r["name"],
        type=r["type"],
        inputs=list(r["inputs"]),
        outputs=list(r["outputs"]),
        output_dtypes=[dtype_from_name(d) for d in r["output_dtypes"]],
        attrs=r["attrs"],
        output_shapes=[None if s is None else tuple(s) for s in r["output_shapes"]],
    )


def _evaluate(rec: LayerRecord, args: list[torch.Tensor | None]) -> list[torch.Tensor]:
    """Run one layer's evaluator and check its outputs against what TensorRT inferred.

    Composite records (a loop, made by ``loops.group_loops``) have an evaluator and no reader.
    """
    fn = _PENDING_EVALUATORS.get(rec.type)
    if fn is None:
        raise ReferenceError(f"layer {rec.name!r}: no reference evaluator for type {rec.type}")
    try:
        outs = fn(rec, args)
    except ReferenceError:
        raise
    except Exception as e:
        raise ReferenceError(f"layer {rec.name!r} ({rec.type}) failed to evaluate: {e}") from e
    if len(outs) != len(rec.outputs):
        raise ReferenceError(
            f"layer {rec.name!r} ({rec.type}) produced {len(outs)} outputs, "
            f"the network has {len(rec.outputs)}"
        )
    for j, (out, dtype) in enumerate(zip(outs, rec.output_dtypes, strict=True)):
        if out.dtype != dtype:
            raise ReferenceError(
                f"layer {rec.name!r} ({rec.type}) output {j} has dtype {out.dtype}, "
                f"the network says {dtype}"
            )
        shape = rec.output_shapes[j] if j < len(rec.output_shapes) else None
        if shape is not None and (
            out.dim() != len(shape)
            or any(d >= 0 and d != s for d, s in zip(shape, out.shape, strict=True))
        ):
            raise ReferenceError(
                f"layer {rec.name!r} ({rec.type}) output {j} has shape {tuple(out.shape)}, "
                f"the network says {shape}"
            )
    return outs
