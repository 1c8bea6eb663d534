"""Convert one TensorRT region (an ``fx.GraphModule``) into a strongly typed network.

Placeholders become network inputs, ``get_attr`` values stay torch tensors until a converter
turns them into weights or constants, and every ``call_function`` node is handed to its
registered converter with arguments bound by schema name. After each node we check what
TensorRT does not check for us: errors it only logged, and that the produced tensors have the
shape and dtype that torch recorded for the node. Layers are named ``<fx node>:<k>``.
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Any

import torch
from torch import fx

from torch_trt import _trt
from torch_trt.convert import registry
from torch_trt.convert.context import ConversionContext, torch_dtype, trt_dtype
from torch_trt.errors import ConversionError
from torch_trt.settings import op_name


@dataclasses.dataclass
class Network:
    """A converted network, ready to build."""

    builder: Any
    net: Any
    logger: _trt.RecordingLogger
    input_names: list[str]
    output_names: list[str]
    layer_to_node: dict[str, str]
    ctx: ConversionContext
    layers: int = 0  # the network's layer count, kept after :meth:`release`

    def release(self) -> None:
        """Drop the TensorRT builder and network and the weights they reference (after the
        build; the names, the layer map and the count stay)."""
        self.layers = self.net.num_layers if self.net is not None else self.layers
        self.builder = self.net = None
        self.ctx = None  # type: ignore[assignment]


class _NetworkInterpreter(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule, ctx: ConversionContext) -> None:
        super().__init__(gm, garbage_collect_values=True)
        self.extra_traceback = False  # our errors already name the node
        self.ctx = ctx
        self.input_names: list[str] = []
        self.output_names: list[str] = []
        self.layer_to_node: dict[str, str] = {}

    def run_node(self, n: fx.Node) -> Any:
        self.ctx.node = n
        first = self.ctx.net.num_layers
        try:
            result = super().run_node(n)
        except ConversionError as e:
            if e.node is None:  # raised by a helper that does not know the node
                raise self.ctx.fail(str(e)) from e
            raise
        except Exception as e:  # a converter bug or TensorRT refusal: name the node
            raise self.ctx.fail(f"{type(e).__name__}: {e}") from e
        if n.op == "call_function" and n.target is not operator.getitem:
            result = _check_result(self.ctx, n, result)
        self._name_layers(n, first)
        errors = self.ctx.logger.take_errors()
        if errors:
            raise self.ctx.fail("TensorRT reported: " + " | ".join(errors))
        return result

    def _name_layers(self, n: fx.Node, first: int) -> None:
        for i in range(first, self.ctx.net.num_layers):
            layer = self.ctx.net.get_layer(i)
            name = f"{n.name}:{i - first}"
            layer.name = name
            self.layer_to_node[name] = n.name

    def placeholder(self, target: Any, args: Any, kwargs: Any) -> Any:
        node = self.ctx.node
        assert node is not None
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise self.ctx.fail(f"engine inputs must be tensors, got {type(val).__name__}")
        if val.dtype.is_complex:  # refuse the first reader: partitioning then moves it out
            user = next(iter(node.users))
            raise ConversionError(
                f"{user.name}: its complex input {node.name} would cross into the engine "
                "(TensorRT has no complex dtype)",
                node=user.name,
            )
        shape = tuple(d if isinstance(d, int) else -1 for d in val.shape)
        t = self.ctx.net.add_input(node.name, trt_dtype(val.dtype), shape)
        self.input_names.append(node.name)
        return t

    def call_function(self, target: Any, args: Any, kwargs: Any) -> Any:
        if target is operator.getitem:
            return args[0][args[1]]
        conv = registry.lookup(target, self.ctx.node)
        if conv is None:
            raise self.ctx.fail(f"no converter for {op_name(target)}")
        bound = registry.bind_args(target, args, kwargs)
        for name, value in bound.items():
            if name not in conv.host_args:
                bound[name] = self._as_itensors(value)
        return conv.fn(self.ctx, **bound)

    def _as_itensors(self, value: Any) -> Any:
        """Torch tensors (parameters, buffers, folded constants) as TensorRT constants, also
        inside lists: converters see ITensors only, except their declared host arguments."""
        if isinstance(value, torch.Tensor):
            return self.ctx.tensor_constant(value)
        if isinstance(value, list | tuple):
            return type(value)(self._as_itensors(v) for v in value)
        return value

    def output(self, target: Any, args: Any, kwargs: Any) -> Any:
        assert self.ctx.node is not None
        for src in self.ctx.node.all_input_nodes:
            val = src.meta.get("val")
            if isinstance(val, torch.Tensor) and val.dtype.is_complex:
                raise ConversionError(
                    f"{src.name}: its complex result would leave the engine "
                    "(TensorRT has no complex dtype)",
                    node=src.name,
                )
        outs = args[0]
        outs = list(outs) if isinstance(outs, list | tuple) else [outs]
        seen: set[int] = set()
        inputs = {id(self.ctx.net.get_input(i)) for i in range(self.ctx.net.num_inputs)}
        for i, t in enumerate(outs):
            if isinstance(t, torch.Tensor | bool | int | float):
                t = self.ctx.itensor(t)
            # A tensor can be marked once and an input cannot be an output: copy through.
            if id(t) in seen or id(t) in inputs:
                t = self.ctx.net.add_identity(t).get_output(0)
            seen.add(id(t))
            t.name = f"output_{i}"
            self.ctx.net.mark_output(t)
            self.output_names.append(t.name)
        return outs


def _shape_matches(got: tuple[int, ...], want: tuple[Any, ...]) -> bool:
    """TensorRT's -1 stands for torch's symbolic dims; a static dim TensorRT could not infer
    (-1 where torch knows the size) is accepted and fixed by the caller."""
    if len(got) != len(want):
        return False
    return all(g == w or g == -1 or not isinstance(w, int) for g, w in zip(got, want, strict=True))


def _check_one(ctx: ConversionContext, g: Any, w: torch.Tensor) -> Any:
    try:
        shape = tuple(g.shape)
    except RuntimeError as e:  # shape inference failed; the reason is in the log
        raise ctx.fail(f"shape inference failed: {ctx.logger.take_errors() or e}") from e
    want, dtype = tuple(w.shape), w.dtype
    if dtype in registry.COMPLEX_DTYPES:  # held as (..., 2) real tensors: see registry
        want, dtype = (*want, 2), registry.COMPLEX_DTYPES[dtype]
    if not _shape_matches(shape, want) or torch_dtype(g.dtype) != dtype:
        shown = tuple(d if isinstance(d, int) else str(d) for d in want)
        raise ctx.fail(
            f"converter produced {shape} {torch_dtype(g.dtype)}, torch expects {shown} {dtype}"
        )
    if -1 in shape and all(isinstance(d, int) for d in want):
        # Keep static knowledge static: later converters may rely on it.
        return ctx.reshape(g, [int(d) for d in want])
    return g


def _check_result(ctx: ConversionContext, n: fx.Node, result: Any) -> Any:
    """Compare what the converter produced with the shape/dtype torch recorded."""
    expected = n.meta.get("val")
    if isinstance(result, list | tuple):
        want = list(expected) if isinstance(expected, list | tuple) else [expected]
        fixed = [
            _check_one(ctx, g, w) if isinstance(w, torch.Tensor) and g is not None else g
            for g, w in zip(result, want, strict=False)
        ]
        return type(result)(fixed) if isinstance(result, tuple) else fixed
    if isinstance(expected, torch.Tensor) and result is not None:
        return _check_one(ctx, result, expected)
    return result


def convert_module(gm: fx.GraphModule) -> Network:
    """Convert a TensorRT region into a strongly typed ``INetworkDefinition``."""
    trt = _trt.load()
    logger = _trt.RecordingLogger()
    builder = trt.Builder(logger.trt_logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    net = builder.create_network(flags)
    ctx = ConversionContext(net, logger)
    interp = _NetworkInterpreter(gm, ctx)
    n_inputs = sum(1 for n in gm.graph.nodes if n.op == "placeholder")
    interp.run(*([None] * n_inputs))
    return Network(
        builder,
        net,
        logger,
        interp.input_names,
        interp.output_names,
        interp.layer_to_node,
        ctx,
        net.num_layers,
    )
