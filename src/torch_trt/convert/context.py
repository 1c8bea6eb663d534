"""ConversionContext: the network under construction plus the helpers every converter needs.

Converters receive ``ctx`` first. They add layers through ``ctx.net`` (the TensorRT
``INetworkDefinition``) and use the helpers here for the chores TensorRT leaves to us: constants
for Python scalars and torch tensors, explicit casts (networks are strongly typed), and rank
broadcasting (TensorRT broadcasts size-1 dims only between equal ranks).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import fx

from torch_trt import _trt
from torch_trt.errors import ConversionError, redact
from torch_trt.settings import op_name

_TORCH_TO_TRT_NAME = {
    torch.float32: "FLOAT",
    torch.float16: "HALF",
    torch.bfloat16: "BF16",
    torch.int8: "INT8",
    torch.int32: "INT32",
    torch.int64: "INT64",
    torch.bool: "BOOL",
    torch.uint8: "UINT8",
}
_TRT_NAME_TO_TORCH = {v: k for k, v in _TORCH_TO_TRT_NAME.items()}


def trt_dtype(dtype: torch.dtype) -> Any:
    """The ``trt.DataType`` for a torch dtype; ``ConversionError`` when TensorRT has none."""
    name = _TORCH_TO_TRT_NAME.get(dtype)
    if name is None:
        raise ConversionError(f"TensorRT has no dtype for {dtype}")
    return getattr(_trt.load().DataType, name)


def torch_dtype(dtype: Any) -> torch.dtype:
    """The torch dtype for a ``trt.DataType``."""
    return _TRT_NAME_TO_TORCH[dtype.name]


# The context of each network under construction, so that the reference runtime finds the bf16
# weights TensorRT cannot return (see side_weights_of).
_CONTEXTS: weakref.WeakValueDictionary[int, ConversionContext] = weakref.WeakValueDictionary()


def side_weights_of(net: Any) -> dict[str, torch.Tensor]:
    """The bf16 weights of a network our converters built, by layer name (plus ``/role`` for
    kernels, biases and scales; else empty); ``read_network`` uses it when it is given no side
    table."""
    ctx = _CONTEXTS.get(id(net))
    return ctx.side_weights() if ctx is not None and ctx.net is net else {}


class ConversionContext:
    """State of one network conversion.

    Attributes:
        net: the ``INetworkDefinition`` being built.
        node: the fx node being converted (set by the interpreter).
    """

    def __init__(self, net: Any, logger: _trt.RecordingLogger) -> None:
        self.trt = _trt.load()
        self.net = net
        self.logger = logger
        self.node: fx.Node | None = None
        # TensorRT holds Weights by reference until the build: keep their sources alive.
        self._keepalive: list[Any] = []
        # One constant layer per value, however many layers use it (see _constant_key).
        self._constants: dict[tuple[Any, ...], Any] = {}
        # Per fx node name, a producer a later converter may fold into (see conv.fold_affine).
        self.foldable: dict[str, Any] = {}
        # bf16 weights (layer, role, values): TensorRT cannot return them, the reference runtime
        # reads them from here (see side_weights); role "" is a constant layer's weights.
        self._bf16_weights: list[tuple[Any, str, torch.Tensor]] = []
        _CONTEXTS[id(net)] = self

    # -- metadata ------------------------------------------------------------------------
    @property
    def out(self) -> torch.Tensor:
        """The FakeTensor of the current node's (first) output."""
        assert self.node is not None
        val = self.node.meta["val"]
        if isinstance(val, list | tuple):
            val = val[0]
        if not isinstance(val, torch.Tensor):
            raise ConversionError(f"{self.node.name} has no tensor output metadata")
        return val

    @staticmethod
    def dtype(t: Any) -> torch.dtype:
        """The torch dtype of an ITensor."""
        return torch_dtype(t.dtype)

    @staticmethod
    def shape(t: Any) -> tuple[int, ...]:
        """The static shape of an ITensor (-1 for dynamic dims)."""
        return tuple(t.shape)

    # -- constants -----------------------------------------------------------------------
    def constant(self, value: torch.Tensor | np.ndarray | float | bool, dtype: torch.dtype) -> Any:
        """An ITensor holding ``value`` (any shape, incl. 0-D) converted to ``dtype``.

        Made once per value: equal small values (scalars, shapes, axes) and the same view of one
        torch tensor share one constant layer. A contiguous CPU tensor of the right dtype is not
        copied: TensorRT reads it in place at build time (it is kept alive until then).
        int8/uint8 values become an int32 constant and a cast; an empty value, empty weights.
        """
        key = _constant_key(value, dtype)
        hit = self._constants.get(key) if key is not None else None
        if hit is not None:
            return hit
        t = torch.as_tensor(value).detach().to("cpu", dtype)
        if key is not None and key[0] == "view":
            self._keepalive.append(value)  # its address is in the key: it must not be reused
        # TensorRT takes int8/uint8 constant weights only as quantized values (a build error
        # otherwise): store them as int32 and cast back, which it folds at build time.
        narrow = dtype in (torch.int8, torch.uint8)
        stored = torch.int32 if narrow else dtype
        t = t.to(stored).contiguous()
        if t.numel() == 0:  # no values: empty Weights of the dtype (numpy's have no address)
            layer = self.net.add_constant(tuple(t.shape), self.trt.Weights(trt_dtype(stored)))
        elif dtype == torch.bfloat16:
            # numpy has no bf16: the Weights point at the torch tensor, kept alive until the
            # build; no cast layer.
            self._keepalive.append(t)
            w = self.trt.Weights(self.trt.bfloat16, t.data_ptr(), t.numel())
            layer = self.net.add_constant(tuple(t.shape), w)
            self._bf16_weights.append((layer, "", t))
        else:
            self._keepalive.append(t)
            arr = t.numpy()  # a view (0-D stays 0-D, unlike np.ascontiguousarray)
            layer = self.net.add_constant(tuple(t.shape), self.trt.Weights(arr))
        out = self.cast(layer.get_output(0), dtype) if narrow else layer.get_output(0)
        if key is not None:
            self._constants[key] = out
        return out

    def side_weights(self) -> dict[str, torch.Tensor]:
        """The bf16 weights by layer name (``name/role`` for a layer's kernel, bias, ...), for
        ``read_network(net, weights=...)`` (call it after the layers got their final names). The
        last weights set for a role are the ones the layer holds."""
        return {
            f"{layer.name}/{role}" if role else str(layer.name): t
            for layer, role, t in self._bf16_weights
        }

    def tensor_constant(self, value: torch.Tensor) -> Any:
        """A parameter, buffer or folded constant as an ITensor of its own dtype, made once per
        tensor (every torch tensor a converter would see goes through here)."""
        if value.dtype == torch.complex64:  # (..., 2) float32 (real, imag): see registry
            return self.constant(torch.view_as_real(value.resolve_conj()), torch.float32)
        if value.dtype not in _TORCH_TO_TRT_NAME:
            raise self.fail(f"a constant of dtype {value.dtype} has no TensorRT dtype")
        return self.constant(value, value.dtype)

    def weights(self, value: torch.Tensor, dtype: torch.dtype) -> Any:
        """``trt.Weights`` for a kernel or bias, kept alive until the build (a view of ``value``
        when it is a contiguous CPU tensor of ``dtype``, else one converted copy). bf16 weights
        go through :meth:`set_weights` (the reference runtime must be able to find them)."""
        if dtype == torch.bfloat16:
            raise self.fail(
                "bf16 host weights must be set with ctx.set_weights(layer, role, value, dtype): "
                "TensorRT cannot return bf16 weights, so the reference runtime reads them from "
                "the table set_weights keeps"
            )
        t = value.detach().to("cpu", dtype).contiguous()
        self._keepalive.append(t)
        return self.trt.Weights(t.numpy())

    def set_weights(self, layer: Any, role: str, value: torch.Tensor, dtype: torch.dtype) -> None:
        """Set ``layer.<role>`` (``kernel``, ``bias``, ``shift``, ...) to ``value`` as host
        weights of ``dtype``, kept alive until the build. TensorRT cannot return bf16 weights,
        so those are also recorded for the reference runtime under that layer and role; setting a
        role again (a folded batch norm) replaces the record as it replaces the weights."""
        if dtype != torch.bfloat16:
            setattr(layer, role, self.weights(value, dtype))
            return
        # numpy has no bf16: the Weights point at the torch tensor.
        t = value.detach().to("cpu", dtype).contiguous()
        self._keepalive.append(t)
        setattr(layer, role, self.trt.Weights(self.trt.bfloat16, t.data_ptr(), t.numel()))
        self._bf16_weights.append((layer, role, t))

    def itensor(self, value: Any, dtype: torch.dtype | None = None, rank: int | None = None) -> Any:
        """Turn a torch tensor, Python scalar or ITensor into an ITensor.

        Args:
            value: the value.
            dtype: cast to this dtype (default: keep; scalars default to the output dtype).
            rank: for scalars, the rank of the (1, ..., 1) constant to make.
        """
        if isinstance(value, torch.Tensor):
            t = self.constant(value, dtype or value.dtype)
        elif isinstance(value, bool | int | float):
            target = dtype or self.out.dtype
            t = self.constant(torch.full((1,) * (rank or 0), value), target)
        else:
            t = value
        return t if dtype is None else self.cast(t, dtype)

    # -- shape and type chores -----------------------------------------------------------
    def cast(self, t: Any, dtype: torch.dtype) -> Any:
        """``t`` cast to ``dtype``; no layer when it already has it."""
        if self.dtype(t) == dtype:
            return t
        return self.net.add_cast(t, trt_dtype(dtype)).get_output(0)

    def reshape(self, t: Any, shape: Sequence[Any]) -> Any:
        """``t`` reshaped to ``shape``: ints (-1 allowed once; 0 is a zero-length dim) and, for
        dynamic shapes, 1-element int64 ITensors (symbolic sizes)."""
        if _same_static_shape(self.shape(t), shape):
            return t  # no identity shuffles
        layer = self.net.add_shuffle(t)
        layer.zero_is_placeholder = False
        if all(isinstance(d, int) for d in shape):
            layer.reshape_dims = tuple(shape)
        else:
            layer.set_input(1, self.shape_tensor(shape))
        return layer.get_output(0)

    # -- symbolic sizes (dynamic shapes) ------------------------------------------------------
    @staticmethod
    def is_dynamic(t: Any) -> bool:
        """True when some dimension of ``t`` is only known at run time."""
        return any(d < 0 for d in t.shape)

    def sym(self, value: Any) -> Any:
        """A size as a 1-element int64 ITensor: a Python int becomes a constant."""
        if isinstance(value, int):
            return self.constant(torch.tensor([value], dtype=torch.int64), torch.int64)
        return self.cast(
            self.reshape(value, (1,)) if len(self.shape(value)) != 1 else value, torch.int64
        )

    def dim(self, t: Any, i: int) -> Any:
        """Dimension ``i`` of ``t`` as a 1-element int64 ITensor (a constant when static)."""
        size = self.shape(t)[i]
        if size >= 0:
            return self.sym(size)
        shape = self.net.add_shape(t).get_output(0)
        return self.net.add_slice(shape, (i,), (1,), (1,)).get_output(0)

    def shape_tensor(self, dims: Sequence[Any]) -> Any:
        """A 1-D int64 shape tensor from ints and 1-element ITensors (-1 passes through)."""
        parts = [self.sym(d) for d in dims]
        if not parts:
            return self.constant(torch.zeros(0, dtype=torch.int64), torch.int64)
        layer = self.net.add_concatenation(parts)
        layer.axis = 0
        return layer.get_output(0)

    def permute(self, t: Any, perm: Sequence[int]) -> Any:
        """``t.permute(perm)``; no layer for the identity permutation."""
        if list(perm) == list(range(len(perm))):
            return t
        layer = self.net.add_shuffle(t)
        layer.first_transpose = tuple(perm)
        return layer.get_output(0)

    def unsqueeze_to(self, t: Any, rank: int) -> Any:
        """``t`` with leading size-1 dims added until it has ``rank`` dims (numpy broadcasting)."""
        shape = self.shape(t)
        if len(shape) >= rank:
            return t
        if not self.is_dynamic(t):
            return self.reshape(t, (1,) * (rank - len(shape)) + shape)
        axes = self.axes_tensor(range(rank - len(shape)))
        return self.net.add_unsqueeze(t, axes).get_output(0)

    def broadcast(self, *ts: Any) -> list[Any]:
        """ITensors of equal rank (leading 1s added), as TensorRT elementwise layers need."""
        rank = max(len(self.shape(t)) for t in ts)
        return [self.unsqueeze_to(t, rank) for t in ts]

    def operands(self, *values: Any, dtype: torch.dtype) -> list[Any]:
        """Tensors or scalars as ITensors of one ``dtype`` and one rank."""
        ranks = [len(self.shape(v)) for v in values if not isinstance(v, bool | int | float)]
        rank = max(ranks, default=0)
        return self.broadcast(*(self.itensor(v, dtype, rank) for v in values))

    def elementwise(self, a: Any, b: Any, op: str) -> Any:
        """``a <op> b`` for two ITensors of one dtype (ranks are broadcast here)."""
        a, b = self.broadcast(a, b)
        return self.net.add_elementwise(
            a, b, getattr(self.trt.ElementWiseOperation, op)
        ).get_output(0)

    def unary(self, t: Any, op: str) -> Any:
        """``op(t)`` with an IUnaryLayer."""
        return self.net.add_unary(t, getattr(self.trt.UnaryOperation, op)).get_output(0)

    def axes_tensor(self, axes: Sequence[int]) -> Any:
        """A 1-D int64 constant, e.g. for IUnsqueezeLayer / ISqueezeLayer axes."""
        return self.constant(torch.tensor(list(axes), dtype=torch.int64), torch.int64)

    def fail(self, message: str) -> ConversionError:
        """A ConversionError naming the current node."""
        if self.node is None:
            return ConversionError(f"network: {redact(message)}")
        where = f"{self.node.name} ({op_name(self.node.target)})"
        return ConversionError(f"{where}: {redact(message)}", node=self.node.name)


def normalize_dim(dim: int, rank: int) -> int:
    """A possibly negative torch dim as an index in [0, rank); rank 0 accepts dims 0 and -1."""
    r = max(rank, 1)
    if not -r <= dim < r:
        raise ConversionError(f"dim {dim} out of range for rank {rank}")
    return dim % r


def _same_static_shape(have: tuple[int, ...], want: Sequence[Any]) -> bool:
    """``want`` (ints, maybe one -1) names exactly the static shape ``have``."""
    if len(have) != len(want) or any(d < 0 for d in have):
        return False
    return all(
        isinstance(w, int) and (w == h or (w == -1 and h > 0))
        for h, w in zip(have, want, strict=True)
    )


# Values up to this many elements are keyed by content (scalars, shapes, axes); larger tensors
# by their memory (address, shape, strides, dtype), which is unique while the tensor is alive.
_CONTENT_KEY_MAX = 64


def _constant_key(value: Any, dtype: torch.dtype) -> tuple[Any, ...] | None:
    """The identity of a constant: equal keys give equal TensorRT constants."""
    if isinstance(value, bool | int | float):
        # type() keeps True, 1 and 1.0 apart; repr() keeps -0.0 and 0.0 (and NaN) apart.
        return ("scalar", type(value).__name__, repr(value), dtype)
    if not isinstance(value, torch.Tensor) or value.device.type != "cpu":
        return None
    if value.numel() <= _CONTENT_KEY_MAX:
        host = value.detach()
        data = (host.float() if host.dtype == torch.bfloat16 else host).contiguous().numpy()
        return ("small", value.dtype, tuple(value.shape), data.tobytes(), dtype)
    return ("view", value.data_ptr(), tuple(value.shape), value.stride(), value.dtype, dtype)
