"""Converters: recurrent networks (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``) as TensorRT loops.

Each direction of each layer is one ``ILoop`` whose trip count is the sequence length, so the
sequence dim may be dynamic and the layer count does not grow with it [LOOPS]:

* outside the loop, the input projection of every step at once, per gate: ``x @ W_i^T + b`` (a
  matmul and an add), with every bias that torch simply adds folded into ``b``;
* per direction, an ``IIteratorLayer`` per gate over those projections along the time axis
  (``reverse`` for the backward direction), a matmul per gate with the hidden state (gates are
  never split inside the loop: a reshape + gather there made TensorRT-RTX build times grow
  steeply with a static sequence length), ``IRecurrenceLayer``s for ``h`` (and ``c``), the
  cell's gate math, a ``CONCATENATE`` (forward) or ``REVERSE`` (backward, so the outputs come
  out in time order) loop output of the per-step ``h``, and ``LAST_VALUE`` outputs for the final
  states.

The gate math follows torch's documented equations (``torch.nn.LSTM`` / ``GRU`` / ``RNN``): LSTM
gates in the order i, f, g, o with ``c' = f*c + i*g`` and ``h' = o*tanh(c')`` (then ``h' @ W_hr^T``
with ``proj_size``); GRU gates r, z, n with ``n = tanh(x_n + r*(W_hn h + b_hn))`` and
``h' = (1-z)*n + z*h``; the plain RNN ``h' = act(x_t + W_hh h)``. Weights must be constants (they
are folded into the projection on the host). ``batch_first`` iterates and concatenates along
dim 1, so no transposes are needed. The packed-sequence ``.data`` overloads are not converted
(their lengths are data-dependent).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import fx

from torch_trt.convert.context import ConversionContext
from torch_trt.convert.registry import arg_val, converter, node_args

aten = torch.ops.aten

# Gates per cell (rows of W_ih / W_hh per hidden unit).
_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
_CELLS = {
    aten.lstm.input: "lstm",
    aten.gru.input: "gru",
    aten.rnn_tanh.input: "rnn_tanh",
    aten.rnn_relu.input: "rnn_relu",
}
_FLOAT = (torch.float32, torch.float16, torch.bfloat16)


@dataclasses.dataclass(frozen=True)
class _Layout:
    """What the flat ``params`` list holds per (layer, direction)."""

    cell: str
    hidden: int
    proj: int  # the size of h (== hidden unless an LSTM has proj_size)
    per_direction: int  # tensors per (layer, direction): w_ih, w_hh[, b_ih, b_hh][, w_hr]
    bias: bool


def _param_vals(node: fx.Node) -> list[Any]:
    """The FakeTensors of the ``params`` list (``None`` where one carries no metadata)."""
    return [p.meta.get("val") if isinstance(p, fx.Node) else p for p in node_args(node)["params"]]


def _layout(node: fx.Node) -> _Layout | str:
    """Read the parameter layout from the node's metadata, or say why it is not one we know."""
    cell = _CELLS[node.target]  # type: ignore[index]
    params = _param_vals(node)
    bias, layers = bool(arg_val(node, "has_biases")), int(arg_val(node, "num_layers"))
    dirs = 2 if arg_val(node, "bidirectional") else 1
    if not params or not all(isinstance(p, torch.Tensor) for p in params):
        return "the weights carry no tensor metadata"
    per = len(params) // max(layers * dirs, 1)
    plain = 4 if bias else 2
    if per * layers * dirs != len(params) or per not in (plain, plain + (cell == "lstm")):
        return f"{len(params)} weights do not fit {layers} layers x {dirs} directions"
    w_hh = params[1]
    if w_hh.dim() != 2 or w_hh.shape[0] % _GATES[cell]:
        return f"weight_hh has shape {tuple(w_hh.shape)}"
    hidden = int(w_hh.shape[0]) // _GATES[cell]
    proj = int(params[per - 1].shape[0]) if per > plain else hidden
    return _Layout(cell, hidden, proj, per, bias)


def _check_rnn(node: fx.Node) -> str | None:
    x = arg_val(node, "input")
    if x.dtype not in _FLOAT:
        return f"recurrent layers need a float input, got {x.dtype}"
    if x.dim() != 3:
        return f"rank-{x.dim()} input (the ATen op takes (seq, batch, feature) or batch_first)"
    layout = _layout(node)
    if isinstance(layout, str):
        return layout
    params = node_args(node)["params"]
    if not all(isinstance(p, fx.Node) and p.op == "get_attr" for p in params):
        return "weights that are not constants (the input projection is folded on the host)"
    if any(p.dtype != x.dtype for p in _param_vals(node)):
        return f"weights whose dtype differs from the input dtype {x.dtype}"
    if any(not isinstance(d, int) for p in _param_vals(node) for d in p.shape):
        return "weights with dynamic shapes"
    if not isinstance(x.shape[2], int):
        return "a dynamic feature dim (the weights fix it)"
    if arg_val(node, "train") and float(arg_val(node, "dropout")) > 0:
        return "training-mode dropout between layers (random; call model.eval())"
    return None


@converter(*_CELLS, check=_check_rnn, dynamic=True, host_args=("params",))
def convert_rnn(
    ctx: ConversionContext,
    input: Any,
    hx: Any,
    params: Sequence[torch.Tensor],
    has_biases: bool,
    num_layers: int,
    dropout: float,
    train: bool,
    bidirectional: bool,
    batch_first: bool,
) -> tuple[Any, ...]:
    """Multi-layer, optionally bidirectional LSTM / GRU / RNN: one TensorRT loop per layer and
    direction over the (possibly dynamic) sequence, input projections precomputed outside it."""
    assert ctx.node is not None
    layout = _layout(ctx.node)
    assert isinstance(layout, _Layout)  # the check refused anything else
    dtype = ctx.out.dtype
    states = [ctx.cast(h, dtype) for h in (hx if isinstance(hx, list | tuple) else [hx])]
    time_axis = 1 if batch_first else 0
    dirs = 2 if bidirectional else 1
    finals: list[list[Any]] = [[] for _ in states]
    y = ctx.cast(input, dtype)
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            weights = params[k * layout.per_direction : (k + 1) * layout.per_direction]
            init = [_select(ctx, s, k) for s in states]
            name = f"{ctx.node.name}:loop{k}"
            seq, last = _direction(ctx, layout, y, weights, init, time_axis, d == 1, name)
            outs.append(seq)
            for f, t in zip(finals, last, strict=True):
                f.append(t)
        y = outs[0] if dirs == 1 else _concat(ctx, outs, 2)
    return (y, *(_stack(ctx, f) for f in finals))


def _select(ctx: ConversionContext, states: Any, k: int) -> Any:
    """``states[k]``: the (batch, size) initial state of layer-direction ``k``."""
    index = ctx.constant(torch.tensor(k, dtype=torch.int32), torch.int32)
    return ctx.net.add_gather(states, index, 0).get_output(0)


def _concat(ctx: ConversionContext, parts: Sequence[Any], axis: int) -> Any:
    layer = ctx.net.add_concatenation(list(parts))
    layer.axis = axis
    return layer.get_output(0)


def _stack(ctx: ConversionContext, finals: Sequence[Any]) -> Any:
    """(batch, size) final states of every layer-direction as (layers*dirs, batch, size)."""
    flat = finals[0] if len(finals) == 1 else _concat(ctx, finals, 0)
    layer = ctx.net.add_shuffle(flat)
    layer.reshape_dims = (len(finals), -1, ctx.shape(finals[0])[1])
    return layer.get_output(0)


def _host(ctx: ConversionContext, value: torch.Tensor, dtype: torch.dtype) -> Any:
    """A host-computed (float64) weight as a constant of the network dtype."""
    return ctx.constant(value.to(torch.float64), dtype)


def _trip_count(ctx: ConversionContext, x: Any, axis: int) -> Any:
    """The sequence length as a 0-D int32 tensor (the loop's COUNT limit and output length)."""
    n = ctx.shape(x)[axis]
    if n >= 0:
        return ctx.constant(torch.tensor(n, dtype=torch.int32), torch.int32)
    layer = ctx.net.add_shuffle(ctx.cast(ctx.dim(x, axis), torch.int32))
    layer.reshape_dims = ()
    return layer.get_output(0)


def _gate_rows(layout: _Layout, w: torch.Tensor, k: int) -> torch.Tensor:
    """Rows of gate ``k`` of a stacked (gates*hidden, ...) weight or bias, in float64."""
    return w.detach().double()[k * layout.hidden : (k + 1) * layout.hidden]


def _projections(
    ctx: ConversionContext, layout: _Layout, x: Any, weights: Sequence[torch.Tensor]
) -> list[Any]:
    """Per gate, ``x @ W_i^T + b`` for every step at once: (..., hidden), with the biases torch
    simply adds folded in (for a GRU, b_hn stays in the loop: it sits inside ``r * (...)``)."""
    dtype = ctx.dtype(x)
    rank = len(ctx.shape(x))
    mm = ctx.trt.MatrixOperation.NONE
    out = []
    for k in range(_GATES[layout.cell]):
        w = _gate_rows(layout, weights[0], k).t().reshape((1,) * (rank - 2) + (-1, layout.hidden))
        proj = ctx.net.add_matrix_multiply(x, mm, _host(ctx, w, dtype), mm).get_output(0)
        if layout.bias:
            b = _gate_rows(layout, weights[2], k)
            if not (layout.cell == "gru" and k == 2):
                b = b + _gate_rows(layout, weights[3], k)
            bias = _host(ctx, b.reshape((1,) * (rank - 1) + (-1,)), dtype)
            proj = ctx.elementwise(proj, bias, "SUM")
        out.append(proj)
    return out


def _direction(
    ctx: ConversionContext,
    layout: _Layout,
    x: Any,
    weights: Sequence[torch.Tensor],
    init: Sequence[Any],
    time_axis: int,
    reverse: bool,
    name: str,
) -> tuple[Any, list[Any]]:
    """One direction of one layer as a loop: the per-step outputs and the final states."""
    trt = ctx.trt
    xps = _projections(ctx, layout, x, weights)
    count = _trip_count(ctx, xps[0], time_axis)
    loop = ctx.net.add_loop()
    loop.name = name  # unique per network: the reference runtime groups a loop's layers by it
    loop.add_trip_limit(count, trt.TripLimit.COUNT)
    # One iterator per gate: splitting a stacked (batch, gates*hidden) tensor inside the loop
    # (reshape + gather) made TensorRT-RTX builds blow up with the sequence length.
    x_t = [loop.add_iterator(xp, time_axis, reverse).get_output(0) for xp in xps]
    recs = [loop.add_recurrence(s) for s in init]
    new = _CELL_STEPS[layout.cell](
        ctx, layout, x_t, [r.get_output(0) for r in recs], weights, ctx.dtype(xps[0])
    )
    for r, value in zip(recs, new, strict=True):
        r.set_input(1, value)
    kind = trt.LoopOutput.REVERSE if reverse else trt.LoopOutput.CONCATENATE
    seq = loop.add_loop_output(new[0], kind, time_axis)
    seq.set_input(1, count)
    last = [loop.add_loop_output(r.get_output(0), trt.LoopOutput.LAST_VALUE) for r in recs]
    return seq.get_output(0), [o.get_output(0) for o in last]


def _recurrent(
    ctx: ConversionContext,
    layout: _Layout,
    h: Any,
    weights: Sequence[torch.Tensor],
    k: int,
    dtype: torch.dtype,
) -> Any:
    """``h @ W_h^T`` for gate ``k``: (batch, hidden)."""
    w = _host(ctx, _gate_rows(layout, weights[1], k).t(), dtype)
    mm = ctx.trt.MatrixOperation.NONE
    return ctx.net.add_matrix_multiply(h, mm, w, mm).get_output(0)


def _act(ctx: ConversionContext, t: Any, kind: str) -> Any:
    return ctx.net.add_activation(t, getattr(ctx.trt.ActivationType, kind)).get_output(0)


def _pre(
    ctx: ConversionContext,
    layout: _Layout,
    x_t: Sequence[Any],
    h: Any,
    weights: Sequence[torch.Tensor],
    k: int,
    dtype: torch.dtype,
) -> Any:
    """Gate ``k``'s pre-activation ``x_k + h @ W_hk^T``."""
    return ctx.elementwise(x_t[k], _recurrent(ctx, layout, h, weights, k, dtype), "SUM")


def _lstm_step(
    ctx: ConversionContext,
    layout: _Layout,
    x_t: Sequence[Any],
    state: Sequence[Any],
    weights: Sequence[torch.Tensor],
    dtype: torch.dtype,
) -> list[Any]:
    h, c = state
    i, f, g, o = (_pre(ctx, layout, x_t, h, weights, k, dtype) for k in range(4))
    i, f, o = _act(ctx, i, "SIGMOID"), _act(ctx, f, "SIGMOID"), _act(ctx, o, "SIGMOID")
    g = _act(ctx, g, "TANH")
    c_new = ctx.elementwise(ctx.elementwise(f, c, "PROD"), ctx.elementwise(i, g, "PROD"), "SUM")
    h_new = ctx.elementwise(o, _act(ctx, c_new, "TANH"), "PROD")
    if layout.proj != layout.hidden:  # proj_size: h = (o * tanh(c)) @ W_hr^T
        w_hr = _host(ctx, weights[-1].detach().double().t(), dtype)
        mm = ctx.trt.MatrixOperation.NONE
        h_new = ctx.net.add_matrix_multiply(h_new, mm, w_hr, mm).get_output(0)
    return [h_new, c_new]


def _gru_step(
    ctx: ConversionContext,
    layout: _Layout,
    x_t: Sequence[Any],
    state: Sequence[Any],
    weights: Sequence[torch.Tensor],
    dtype: torch.dtype,
) -> list[Any]:
    (h,) = state
    r = _act(ctx, _pre(ctx, layout, x_t, h, weights, 0, dtype), "SIGMOID")
    z = _act(ctx, _pre(ctx, layout, x_t, h, weights, 1, dtype), "SIGMOID")
    hn = _recurrent(ctx, layout, h, weights, 2, dtype)
    if layout.bias:  # b_hn stays inside r * (W_hn h + b_hn)
        b_hn = _host(ctx, _gate_rows(layout, weights[3], 2).reshape(1, -1), dtype)
        hn = ctx.elementwise(hn, b_hn, "SUM")
    n = _act(ctx, ctx.elementwise(x_t[2], ctx.elementwise(r, hn, "PROD"), "SUM"), "TANH")
    # (1 - z) * n + z * h, written as n + z * (h - n).
    return [ctx.elementwise(n, ctx.elementwise(z, ctx.elementwise(h, n, "SUB"), "PROD"), "SUM")]


def _rnn_step(
    ctx: ConversionContext,
    layout: _Layout,
    x_t: Sequence[Any],
    state: Sequence[Any],
    weights: Sequence[torch.Tensor],
    dtype: torch.dtype,
) -> list[Any]:
    (h,) = state
    pre = _pre(ctx, layout, x_t, h, weights, 0, dtype)
    return [_act(ctx, pre, "TANH" if layout.cell == "rnn_tanh" else "RELU")]


_CELL_STEPS = {"lstm": _lstm_step, "gru": _gru_step, "rnn_tanh": _rnn_step, "rnn_relu": _rnn_step}
