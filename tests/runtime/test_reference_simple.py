"""Reference runtime, simple layer families, checked against independent torch expressions.

Each case builds a tiny TensorRT network (tests/runtime/conftest.py) and returns the expected
outputs, written from the documented semantics (TENSORRT_SEMANTICS.md and its citations) with
plain torch ops; the generic test reads the network back, runs it and compares.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from torch_trt.runtime.reference import ReferenceError, read_network

Case = Callable[[Any], list[torch.Tensor]]


def _r(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed + 7 * len(shape)))


def _ints(*shape: int, lo: int = -9, hi: int = 10) -> torch.Tensor:
    g = torch.Generator().manual_seed(sum(shape))
    return torch.randint(lo, hi, shape, generator=g, dtype=torch.int32)


# --- data: constant, identity, cast, shape, fill ----------------------------------------------


def c_constant(n: Any) -> list[torch.Tensor]:
    w = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    n.out(n.const(w))
    return [w]


def c_constant_scalar_int64_bool(n: Any) -> list[torch.Tensor]:
    n.out(n.const(torch.tensor(5, dtype=torch.int64)))
    n.out(n.const(torch.tensor([True, False])))
    return [torch.tensor(5, dtype=torch.int64), torch.tensor([True, False])]


def c_identity(n: Any) -> list[torch.Tensor]:
    x = _r(2, 3)
    n.out(n.net.add_identity(n.input(x)))
    return [x]


def c_cast_float_to_int(n: Any) -> list[torch.Tensor]:
    # [OP/Cast] example: 1.2 -> 1, 5.6 -> 5, 8.9 -> 8 (truncation).
    x = torch.tensor([1.2, 5.6, 8.9])
    n.out(n.net.add_cast(n.input(x), n.trt.int32))
    return [torch.tensor([1, 5, 8], dtype=torch.int32)]


def c_cast_bool_to_float(n: Any) -> list[torch.Tensor]:
    x = torch.tensor([True, False, True])
    n.out(n.net.add_cast(n.input(x), n.trt.float32))
    return [torch.tensor([1.0, 0.0, 1.0])]


def c_shape_dynamic(n: Any) -> list[torch.Tensor]:
    x = _r(4, 3)
    n.out(n.net.add_shape(n.input(x, shape=(-1, 3))))
    return [torch.tensor([4, 3], dtype=torch.int64)]


def c_fill_linspace_static(n: Any) -> list[torch.Tensor]:
    layer = n.net.add_fill((5,), n.trt.FillOperation.LINSPACE, n.trt.float32)
    layer.alpha, layer.beta = 2.0, 0.5
    n.out(layer)
    return [torch.tensor([2.0, 2.5, 3.0, 3.5, 4.0])]


def c_fill_linspace_dynamic(n: Any) -> list[torch.Tensor]:
    # out[i, j] = alpha + 4 i + 1 j over a (3, 4) shape from input 0 [H/FillOperation].
    layer = n.net.add_fill((0,), n.trt.FillOperation.LINSPACE, n.trt.int32)
    layer.set_input(0, n.const([3, 4], torch.int32))
    layer.set_input(1, n.const(torch.tensor(10, dtype=torch.int32)))
    layer.set_input(2, n.const([4, 1], torch.int32))
    n.out(layer)
    return [torch.tensor([[10, 11, 12, 13], [14, 15, 16, 17], [18, 19, 20, 21]], dtype=torch.int32)]


# --- elementwise ------------------------------------------------------------------------------

_A, _B = _r(2, 1, 4), _r(1, 3, 1, seed=1)
_BIN_FLOAT: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "SUM": lambda a, b: a + b,
    "PROD": lambda a, b: a * b,
    "MAX": lambda a, b: torch.where(a > b, a, b),
    "MIN": lambda a, b: torch.where(a < b, a, b),
    "SUB": lambda a, b: a - b,
    "DIV": lambda a, b: a / b,
    "POW": lambda a, b: torch.exp(b * torch.log(a)),  # a > 0 here
    "FLOOR_DIV": lambda a, b: torch.floor(a / b),
    "EQUAL": lambda a, b: a == b,
    "GREATER": lambda a, b: a > b,
    "LESS": lambda a, b: a < b,
}


def _binary(op: str, a: torch.Tensor, b: torch.Tensor, expect: torch.Tensor) -> Case:
    def case(n: Any) -> list[torch.Tensor]:
        n.out(
            n.net.add_elementwise(n.input(a), n.input(b), getattr(n.trt.ElementWiseOperation, op))
        )
        return [expect]

    return case


def _float_binary(op: str) -> Case:
    a, b = (_A.abs() + 0.5, _B) if op == "POW" else (_A, _B)
    if op == "EQUAL":  # some equal elements
        a, b = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]]).expand(2, 1, 4).clone(), _B.round()
    return _binary(op, a, b, _BIN_FLOAT[op](a, b))


# Integer DIV: truncation toward zero (our documented choice, onnx/onnx#4016); FLOOR_DIV: floor.
_IA = torch.tensor([[-11, 11, -11, 7, 0]], dtype=torch.int32)
_IB = torch.tensor([[3], [-3]], dtype=torch.int32)
_I_DIV = torch.tensor([[-3, 3, -3, 2, 0], [3, -3, 3, -2, 0]], dtype=torch.int32)
_I_FDIV = torch.tensor([[-4, 3, -4, 2, 0], [3, -4, 3, -3, 0]], dtype=torch.int32)
_TT = torch.tensor([[True, True, False, False]])
_FT = torch.tensor([[True], [False]])

# --- unary ------------------------------------------------------------------------------------

_U = torch.tensor([-2.5, -0.5, 0.3, 0.5, 1.5, 2.5])
_P = torch.tensor([0.1, 0.5, 1.0, 2.0, 7.5])  # positive
_D = torch.tensor([-0.9, -0.3, 0.0, 0.4, 0.8])  # inside (-1, 1)
_G = torch.tensor([1.0, 1.5, 3.0, 10.0])  # >= 1
_UNARY: dict[str, tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]] = {
    "EXP": (_U, torch.exp),
    "LOG": (_P, torch.log),
    "SQRT": (_P, lambda x: x**0.5),
    "RECIP": (_P, lambda x: 1 / x),
    "ABS": (_U, lambda x: torch.where(x < 0, -x, x)),
    "NEG": (_U, lambda x: -x),
    "SIN": (_U, torch.sin),
    "COS": (_U, torch.cos),
    "TAN": (_D, torch.tan),
    "SINH": (_U, lambda x: (torch.exp(x) - torch.exp(-x)) / 2),
    "COSH": (_U, lambda x: (torch.exp(x) + torch.exp(-x)) / 2),
    "ASIN": (_D, torch.asin),
    "ACOS": (_D, torch.acos),
    "ATAN": (_U, torch.atan),
    "ASINH": (_U, lambda x: torch.log(x + torch.sqrt(x * x + 1))),
    "ACOSH": (_G, lambda x: torch.log(x + torch.sqrt(x * x - 1))),
    "ATANH": (_D, lambda x: 0.5 * torch.log((1 + x) / (1 - x))),
    "CEIL": (_U, lambda x: torch.tensor([-2.0, -0.0, 1.0, 1.0, 2.0, 3.0])),
    "FLOOR": (_U, lambda x: torch.tensor([-3.0, -1.0, 0.0, 0.0, 1.0, 2.0])),
    "ERF": (_U, torch.special.erf),
    "SIGN": (_U, lambda x: torch.tensor([-1.0, -1.0, 1.0, 1.0, 1.0, 1.0])),
    "ROUND": (_U, lambda x: torch.tensor([-2.0, -0.0, 0.0, 0.0, 2.0, 2.0])),  # half to even
    "ISINF": (torch.tensor([1.0, math.inf, -math.inf, math.nan]), lambda x: x.abs() == math.inf),
    "ISNAN": (torch.tensor([1.0, math.inf, math.nan]), lambda x: x != x),
}


def _unary(op: str, x: torch.Tensor, expect: torch.Tensor) -> Case:
    def case(n: Any) -> list[torch.Tensor]:
        n.out(n.net.add_unary(n.input(x), getattr(n.trt.UnaryOperation, op)))
        return [expect]

    return case


# --- activation -------------------------------------------------------------------------------

_X = torch.linspace(-4, 4, 17)
_SELU_A, _SELU_B = 1.6732632423543772, 1.0507009873554805
_ACT: dict[str, tuple[tuple[float, float] | None, torch.Tensor]] = {
    "RELU": (None, F.relu(_X)),
    "SIGMOID": (None, 1 / (1 + torch.exp(-_X))),
    "TANH": (None, torch.tanh(_X)),
    "SOFTSIGN": (None, F.softsign(_X)),
    "LEAKY_RELU": (None, F.leaky_relu(_X, 0.01)),
    "LEAKY_RELU_a": ((0.2, 0.0), F.leaky_relu(_X, 0.2)),
    "ELU": (None, F.elu(_X)),
    "ELU_a": ((0.5, 0.0), F.elu(_X, 0.5)),
    "SELU": (None, F.selu(_X)),
    "SELU_ab": ((2.0, 0.5), torch.where(_X > 0, 0.5 * _X, 0.5 * (2 * torch.exp(_X) - 2))),
    "SOFTPLUS": (None, F.softplus(_X)),
    "SOFTPLUS_ab": ((0.5, 2.0), F.softplus(_X, beta=2.0)),  # alpha = 1/beta
    "CLIP_ab": ((-1.0, 2.5), F.hardtanh(_X, -1.0, 2.5)),
    "HARD_SIGMOID": (None, torch.clamp(0.2 * _X + 0.5, 0, 1)),
    "HARD_SIGMOID_ab": ((1 / 6, 0.5), F.hardsigmoid(_X)),
    "SCALED_TANH_ab": ((1.5, 0.5), 1.5 * torch.tanh(0.5 * _X)),
    # THRESHOLDED_RELU follows the installed [PY] docstring: x if x > alpha else 0.
    "THRESHOLDED_RELU": (None, torch.where(_X > 1.0, _X, torch.zeros_like(_X))),
    "GELU_ERF": (None, F.gelu(_X)),
    "GELU_TANH": (None, F.gelu(_X, approximate="tanh")),
}


def _activation(name: str) -> Case:
    ab, expect = _ACT[name]

    def case(n: Any) -> list[torch.Tensor]:
        kind = getattr(n.trt.ActivationType, name.split("_a")[0] if "_a" in name else name)
        layer = n.net.add_activation(n.input(_X), kind)
        if ab is not None:
            layer.alpha, layer.beta = ab
        n.out(layer)
        return [expect]

    return case


# --- shape ops --------------------------------------------------------------------------------

_S = _r(2, 3, 4)


def _shuffle(
    first: Any = None,
    reshape: Any = None,
    second: Any = None,
    zero_ph: bool = True,
    dyn: list[int] | None = None,
    x: torch.Tensor = _S,
) -> Callable[[Any], Any]:
    def build(n: Any) -> Any:
        layer = n.net.add_shuffle(n.input(x))
        if first is not None:
            layer.first_transpose = first
        if reshape is not None:
            layer.reshape_dims = reshape
        if dyn is not None:
            layer.set_input(1, n.const(dyn, torch.int64))
        layer.zero_is_placeholder = zero_ph
        if second is not None:
            layer.second_transpose = second
        return layer

    return build


def _one(build: Callable[[Any], Any], expect: torch.Tensor) -> Case:
    def case(n: Any) -> list[torch.Tensor]:
        n.out(build(n))
        return [expect]

    return case


def _axes_layer(kind: str, x: torch.Tensor, axes: list[int]) -> Callable[[Any], Any]:
    def build(n: Any) -> Any:
        return getattr(n.net, f"add_{kind}")(n.input(x), n.const(axes, torch.int64))

    return build


def _concat(n: Any) -> Any:
    layer = n.net.add_concatenation([n.input(_S), n.input(_r(2, 1, 4, seed=3))])
    layer.axis = 1
    return layer


_PAD = _r(1, 2, 5)


def _slice(
    start: Any,
    size: Any,
    stride: Any,
    x: torch.Tensor = _S,
    mode: str | None = None,
    axes: Any = None,
    fill: float | None = None,
    dynamic: bool = False,
) -> Callable[[Any], Any]:
    def build(n: Any) -> Any:
        if dynamic:
            layer = n.net.add_slice(
                n.input(x), (0,) * len(start), (1,) * len(start), (1,) * len(start)
            )
            for i, v in ((1, start), (2, size), (3, stride)):
                layer.set_input(i, n.const(list(v), torch.int64))
        else:
            layer = n.net.add_slice(n.input(x), start, size, stride)
        if mode is not None:
            layer.mode = getattr(n.trt.SampleMode, mode)
        if axes is not None:
            layer.axes = axes
        if fill is not None:
            layer.set_input(4, n.const(torch.tensor(fill)))
        return layer

    return build


# --- indexing ---------------------------------------------------------------------------------

_IDX = torch.tensor([[0, 2, 1, 1, 0, 2]] * 5, dtype=torch.int32)


def _gather(
    x: torch.Tensor, idx: torch.Tensor, axis: int, mode: str = "DEFAULT", ne: int = 0
) -> Callable[[Any], Any]:
    def build(n: Any) -> Any:
        layer = n.net.add_gather_v2(n.input(x), n.input(idx), getattr(n.trt.GatherMode, mode))
        layer.axis = axis
        layer.num_elementwise_dims = ne
        return layer

    return build


def _scatter(
    data: torch.Tensor, idx: torch.Tensor, upd: torch.Tensor, mode: str, axis: int = 0
) -> Callable[[Any], Any]:
    def build(n: Any) -> Any:
        layer = n.net.add_scatter(
            n.input(data), n.input(idx), n.input(upd), getattr(n.trt.ScatterMode, mode)
        )
        layer.axis = axis
        return layer

    return build


def _select(n: Any) -> Any:
    c = torch.tensor([[True], [False]])
    return n.net.add_select(n.input(c), n.input(_r(1, 3)), n.input(_r(2, 3, seed=5)))


def _one_hot(axis: int) -> Callable[[Any], Any]:
    def build(n: Any) -> Any:
        idx = n.input(torch.tensor([[0, 3], [2, 1]], dtype=torch.int32))
        vals = n.const(torch.tensor([-1.0, 5.0]))
        depth = n.const(torch.tensor(4, dtype=torch.int32))
        return n.net.add_one_hot(idx, vals, depth, axis)

    return build


def _one_hot_expect(axis: int) -> torch.Tensor:
    idx = torch.tensor([[0, 3], [2, 1]])
    out = torch.full((2, 2, 4), -1.0)
    for i in range(2):
        for j in range(2):
            out[i, j, idx[i, j]] = 5.0
    return out if axis == -1 else out.permute(2, 0, 1)


# --- reductions -------------------------------------------------------------------------------

_R4 = _r(2, 3, 4, 5)


def _reduce(op: str, axes: int, keep: bool, x: torch.Tensor = _R4) -> Callable[[Any], Any]:
    def build(n: Any) -> Any:
        return n.net.add_reduce(n.input(x), getattr(n.trt.ReduceOperation, op), axes, keep)

    return build


def _softmax(n: Any) -> Any:
    layer = n.net.add_softmax(n.input(_S))
    layer.axes = 1 << 2
    return layer


def _cumulative(exclusive: bool, reverse: bool, axis: int) -> Callable[[Any], Any]:
    def build(n: Any) -> Any:
        ax = n.const(torch.tensor(axis, dtype=torch.int32))
        op = n.trt.CumulativeOperation.SUM
        return n.net.add_cumulative(n.input(_S), ax, op, exclusive, reverse)

    return build


def _cum_expect(exclusive: bool, reverse: bool) -> torch.Tensor:
    # Sums y[j] over 0..j / j..n-1 / 0..j-1 / j+1..n-1 along the last dim [PY].
    n = _S.shape[-1]
    cols = []
    for j in range(n):
        lo, hi = (j, n) if reverse else (0, j + 1)
        if exclusive:
            lo, hi = (j + 1, n) if reverse else (0, j)
        cols.append(_S[..., lo:hi].sum(-1))
    return torch.stack(cols, -1)


_TK = torch.tensor([[3.0, 1.0, 4.0, 1.5, 5.0], [9.0, 2.0, 6.0, 5.5, 3.0]])


def _topk(op: str, k: int, idx_type: Any = None) -> Case:
    def case(n: Any) -> list[torch.Tensor]:
        layer = n.net.add_topk(n.input(_TK), getattr(n.trt.TopKOperation, op), k, 1 << 1)
        if idx_type is not None:
            layer.indices_type = idx_type(n)
        n.out(layer.get_output(0))
        n.out(layer.get_output(1))
        if op == "MAX":
            vals = torch.tensor([[5.0, 4.0], [9.0, 6.0]])
            idx = torch.tensor([[4, 2], [0, 2]])
        else:
            vals = torch.tensor([[1.0, 1.5], [2.0, 3.0]])
            idx = torch.tensor([[1, 3], [1, 4]])
        return [vals, idx.to(torch.int64 if idx_type is not None else torch.int32)]

    return case


def _int_reduce_sum(n: Any) -> Any:
    return n.net.add_reduce(n.input(_ints(3, 4)), n.trt.ReduceOperation.SUM, 0b10, False)


CASES: dict[str, Case] = {
    "constant": c_constant,
    "constant_scalar_int64_bool": c_constant_scalar_int64_bool,
    "identity": c_identity,
    "cast_float_to_int": c_cast_float_to_int,
    "cast_bool_to_float": c_cast_bool_to_float,
    "shape_dynamic": c_shape_dynamic,
    "fill_linspace_static": c_fill_linspace_static,
    "fill_linspace_dynamic": c_fill_linspace_dynamic,
    **{f"elementwise_{op.lower()}": _float_binary(op) for op in _BIN_FLOAT},
    "elementwise_int_div_trunc": _binary("DIV", _IA, _IB, _I_DIV),
    "elementwise_int_floor_div": _binary("FLOOR_DIV", _IA, _IB, _I_FDIV),
    "elementwise_and": _binary("AND", _TT, _FT, torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]]) > 0),
    "elementwise_or": _binary("OR", _TT, _FT, torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]) > 0),
    "elementwise_xor": _binary("XOR", _TT, _FT, torch.tensor([[0, 0, 1, 1], [1, 1, 0, 0]]) > 0),
    **{f"unary_{op.lower()}": _unary(op, x, fn(x)) for op, (x, fn) in _UNARY.items()},
    "unary_not": _unary("NOT", torch.tensor([True, False]), torch.tensor([False, True])),
    "unary_abs_int32": _unary(
        "ABS", _ints(5), torch.tensor([abs(v) for v in _ints(5).tolist()]).to(torch.int32)
    ),
    **{f"activation_{name.lower()}": _activation(name) for name in _ACT},
    "shuffle_first_transpose": _one(_shuffle(first=(2, 0, 1)), _S.permute(2, 0, 1)),
    "shuffle_reshape_zero_minus1": _one(_shuffle(reshape=(0, -1)), _S.reshape(2, 12)),
    "shuffle_reshape_minus1_zero": _one(_shuffle(reshape=(-1, 0)), _S.reshape(8, 3)),
    "shuffle_reshape_second_transpose": _one(
        _shuffle(reshape=(6, 4), second=(1, 0)), _S.reshape(6, 4).t()
    ),
    "shuffle_all_three": _one(
        _shuffle(first=(1, 2, 0), reshape=(12, 2), second=(1, 0)),
        _S.permute(1, 2, 0).reshape(12, 2).t(),
    ),
    "shuffle_zero_is_length": _one(
        _shuffle(reshape=(0, 5), zero_ph=False, x=torch.zeros(0, 4)), torch.zeros(0, 5)
    ),
    "shuffle_dynamic_reshape": _one(_shuffle(dyn=[4, -1], zero_ph=False), _S.reshape(4, 6)),
    "squeeze_axes": _one(_axes_layer("squeeze", _r(2, 1, 3), [1]), _r(2, 1, 3)[:, 0]),
    "squeeze_negative_axes": _one(_axes_layer("squeeze", _r(2, 3, 1), [-1]), _r(2, 3, 1)[..., 0]),
    "unsqueeze_axes": _one(_axes_layer("unsqueeze", _r(2, 3), [0, -1]), _r(2, 3)[None, :, :, None]),
    "concatenation_axis1": _one(_concat, torch.cat([_S, _r(2, 1, 4, seed=3)], 1)),
    "slice_static": _one(_slice((0, 1, 1), (2, 2, 2), (1, 1, 2)), _S[:, 1:3, 1:4:2]),
    "slice_flip": _one(_slice((0, 2, 3), (2, 3, 4), (1, -1, -1)), _S.flip(1, 2)),
    "slice_zero_stride_broadcast": _one(
        _slice((0, 0), (5, 6), (0, 1), x=_r(1, 6)), _r(1, 6).expand(5, 6)
    ),
    "slice_axes_negative": _one(_slice((1,), (2,), (1,), axes=(-1,)), _S[..., 1:3]),
    "slice_dynamic_inputs": _one(
        _slice((0, 1, 0), (2, 2, 2), (1, 1, 3), dynamic=True), _S[:, 1:3, 0:4:3]
    ),
    "slice_wrap": _one(
        _slice((-2,), (9,), (1,), x=_PAD, mode="WRAP", axes=(2,)),
        F.pad(_PAD, (2, 2), mode="circular"),
    ),
    "slice_clamp": _one(
        _slice((-2,), (9,), (1,), x=_PAD, mode="CLAMP", axes=(2,)),
        F.pad(_PAD, (2, 2), mode="replicate"),
    ),
    "slice_reflect": _one(
        _slice((-2,), (9,), (1,), x=_PAD, mode="REFLECT", axes=(2,)),
        F.pad(_PAD, (2, 2), mode="reflect"),
    ),
    "slice_fill": _one(
        _slice((-2,), (9,), (1,), x=_PAD, mode="FILL", axes=(2,), fill=7.0),
        F.pad(_PAD, (2, 2), mode="constant", value=7.0),
    ),
    "select_broadcast": _one(
        _select, torch.where(torch.tensor([[True], [False]]), _r(1, 3), _r(2, 3, seed=5))
    ),
    "gather_default": _one(_gather(_S, _IDX, 1), _S[:, _IDX.long()]),
    "gather_default_scalar_index": _one(
        _gather(_S, torch.tensor(2, dtype=torch.int32), 1), _S[:, 2]
    ),
    "gather_default_elementwise_dim": _one(
        _gather(_S, _IDX[:2, :5], 1, ne=1), _S[torch.arange(2)[:, None], _IDX[:2, :5].long()]
    ),
    "gather_element": _one(
        _gather(_S, _IDX[:2, :4].reshape(2, 1, 4), 1, "ELEMENT"),
        torch.gather(_S, 1, _IDX[:2, :4].reshape(2, 1, 4).long()),
    ),
    "gather_nd": _one(
        _gather(
            _S, torch.tensor([[0, 1], [1, 2], [0, 0], [1, 1], [0, 2]], dtype=torch.int32), 0, "ND"
        ),
        _S[torch.tensor([0, 1, 0, 1, 0]), torch.tensor([1, 2, 0, 1, 2])],
    ),
    "scatter_element": _one(
        _scatter(
            _S,
            torch.tensor([[[2, 0, 1, 2]], [[1, 1, 0, 0]]]),
            _r(2, 1, 4, seed=9),
            "ELEMENT",
            axis=1,
        ),
        _S.scatter(1, torch.tensor([[[2, 0, 1, 2]], [[1, 1, 0, 0]]]), _r(2, 1, 4, seed=9)),
    ),
    "scatter_nd": _one(
        _scatter(_S, torch.tensor([[1, 2], [0, 0]], dtype=torch.int32), _r(2, 4, seed=4), "ND"),
        _S.index_put((torch.tensor([1, 0]), torch.tensor([2, 0])), _r(2, 4, seed=4)),
    ),
    "one_hot_last": _one(_one_hot(-1), _one_hot_expect(-1)),
    "one_hot_first": _one(_one_hot(0), _one_hot_expect(0)),
    "reduce_sum": _one(_reduce("SUM", 0b110, False), _R4.sum((1, 2))),
    "reduce_sum_keep": _one(_reduce("SUM", 0b110, True), _R4.sum((1, 2), keepdim=True)),
    "reduce_prod": _one(_reduce("PROD", 0b1000, False), _R4.prod(3)),
    "reduce_max": _one(_reduce("MAX", 0b101, False), _R4.amax((0, 2))),
    "reduce_min_keep": _one(_reduce("MIN", 0b10, True), _R4.amin(1, keepdim=True)),
    "reduce_avg": _one(_reduce("AVG", 0b1100, False), _R4.sum((2, 3)) / 20),
    "reduce_all_dims": _one(_reduce("SUM", 0b1111, False), _R4.sum()),
    "reduce_int32_sum": _one(_int_reduce_sum, _ints(3, 4).sum(1).to(torch.int32)),
    "softmax_axis2": _one(_softmax, torch.exp(_S) / torch.exp(_S).sum(2, keepdim=True)),
    **{
        f"cumulative_{'ex' if ex else 'in'}_{'rev' if rv else 'fwd'}_{ax}": _one(
            _cumulative(ex, rv, ax), _cum_expect(ex, rv)
        )
        for ex in (False, True)
        for rv in (False, True)
        for ax in (2, -1)
    },
    "topk_max_int32_indices": _topk("MAX", 2),
    "topk_min_int64_indices": _topk("MIN", 2, lambda n: n.trt.int64),
}


@pytest.mark.parametrize("name", list(CASES))
def test_simple_layer_matches_documented_semantics(tn: Any, name: str) -> None:
    """The reference evaluation of each simple layer equals the documented torch expression."""
    expected = CASES[name](tn)
    assert tn.errors() == [], "TensorRT refused the test network"
    got = read_network(tn.net).run(tn.values)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == e.dtype and g.shape == e.shape, (g, e)
        if e.is_floating_point():
            torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-6, equal_nan=True)
        else:
            assert torch.equal(g, e), (g, e)


def test_fill_random_uniform_range_and_shape(tn: Any) -> None:
    """RANDOM_UNIFORM draws float32 values inside [alpha, beta] with the layer's shape."""
    layer = tn.net.add_fill((50, 40), tn.trt.FillOperation.RANDOM_UNIFORM, tn.trt.float32)
    layer.alpha, layer.beta = -2.0, 3.0
    tn.out(layer)
    assert tn.errors() == []
    (y,) = read_network(tn.net).run([])
    assert y.shape == (50, 40) and y.dtype == torch.float32
    assert float(y.min()) >= -2.0 and float(y.max()) <= 3.0 and float(y.std()) > 1.0


@pytest.mark.parametrize(
    ("op", "k", "values", "indices"),
    [("MAX", 3, [2.0, 2.0, 2.0], [4, 2, 1]), ("MIN", 3, [0.0, 0.0, 1.0], [5, 3, 0])],
)
def test_topk_ties_come_last_index_first(
    tn: Any, op: str, k: int, values: list[float], indices: list[int]
) -> None:
    """Equal elements come last index first: TensorRT documents no tie order, and this valid
    order differs from torch's CPU one, so tie-dependent converters cannot pass by chance."""
    x = torch.tensor([[1.0, 2.0, 2.0, 0.0, 2.0, 0.0]])
    layer = tn.net.add_topk(tn.input(x), getattr(tn.trt.TopKOperation, op), k, 1 << 1)
    layer.indices_type = tn.trt.int64
    tn.out(layer.get_output(0))
    tn.out(layer.get_output(1))
    assert tn.errors() == []
    got_values, got_indices = read_network(tn.net).run(tn.values)
    assert torch.equal(got_values, torch.tensor([values]))
    assert torch.equal(got_indices, torch.tensor([indices]))


def test_topk_k_past_the_dim_is_an_error(tn: Any) -> None:
    """A run-time k larger than the dim is refused with the sizes, not silently clipped."""
    x = torch.tensor([[1.0, 2.0, 3.0]])
    layer = tn.net.add_topk(tn.input(x), tn.trt.TopKOperation.MAX, 1, 1 << 1)
    layer.set_input(1, tn.const(torch.tensor(5, dtype=torch.int32)))
    tn.out(layer.get_output(0))
    with pytest.raises(ReferenceError, match=r"k=5 outside \[0, 3\] \(dim 1\)"):
        read_network(tn.net).run(tn.values)


def test_scatter_element_duplicates_first_update_wins(tn: Any) -> None:
    """ELEMENT scatter with a repeated index keeps the first update (row-major): TensorRT and
    torch leave it undefined, and torch's CPU kernel keeps the last, so reliance shows."""
    data = torch.zeros(2, 4)
    idx = torch.tensor([[1, 3, 1], [0, 0, 2]])
    upd = torch.tensor([[10.0, 11.0, 12.0], [20.0, 21.0, 22.0]])
    layer = tn.net.add_scatter(
        tn.input(data), tn.input(idx), tn.input(upd), tn.trt.ScatterMode.ELEMENT
    )
    layer.axis = 1
    tn.out(layer)
    assert tn.errors() == []
    (got,) = read_network(tn.net).run(tn.values)
    assert torch.equal(got, torch.tensor([[0.0, 10.0, 0.0, 11.0], [20.0, 0.0, 22.0, 0.0]]))


def test_scatter_nd_duplicates_first_update_wins(tn: Any) -> None:
    """ND scatter with a repeated coordinate keeps the first update row."""
    data = torch.zeros(3, 2)
    idx = torch.tensor([[2], [0], [2]])
    upd = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    layer = tn.net.add_scatter(tn.input(data), tn.input(idx), tn.input(upd), tn.trt.ScatterMode.ND)
    tn.out(layer)
    assert tn.errors() == []
    (got,) = read_network(tn.net).run(tn.values)
    assert torch.equal(got, torch.tensor([[3.0, 4.0], [0.0, 0.0], [1.0, 2.0]]))


def test_cumulative_exclusive_is_a_true_exclusive_sum(tn: Any) -> None:
    """An exclusive sum is the inclusive sum shifted by one, not inclusive minus x: with
    [1, 1e8, 3] the second entry is 1 (1e8 + 1 - 1e8 would round to 0 in float32)."""
    x = torch.tensor([[1.0, 1e8, 3.0]])
    axis = tn.const(torch.tensor(1, dtype=torch.int32))
    layer = tn.net.add_cumulative(tn.input(x), axis, tn.trt.CumulativeOperation.SUM, True, False)
    tn.out(layer)
    assert tn.errors() == []
    (got,) = read_network(tn.net).run(tn.values)
    assert torch.equal(got, torch.tensor([[0.0, 1.0, 1e8 + 1.0]]))
