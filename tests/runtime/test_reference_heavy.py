"""Reference runtime, heavy layers: TensorRT networks read back and evaluated vs torch ops.

Each case builds a tiny network with the TensorRT API and computes its expected value with an
independent torch.nn.functional op; the generic test reads the network back and compares.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from torch_trt import _trt

# TensorRT is part of the test install (.[rtx,dev]); its absence must fail, not skip.
trt: Any = _trt.load()

from torch_trt.runtime.reference import (  # noqa: E402
    ReferenceError,
    ReferenceProgram,
    read_network,
)
from torch_trt.runtime.reference.program import LayerRecord  # noqa: E402


class Net:
    """A network under construction plus the torch values of its inputs."""

    def __init__(self) -> None:
        self.logger = _trt.RecordingLogger()
        self.builder = trt.Builder(self.logger.trt_logger)
        self.net = self.builder.create_network(0)
        self.values: list[torch.Tensor] = []
        self.keep: list[np.ndarray[Any, Any]] = []  # TensorRT weights point into these arrays

    def input(self, t: torch.Tensor) -> Any:
        dt = {torch.float32: trt.float32, torch.bool: trt.bool}[t.dtype]
        self.values.append(t)
        return self.net.add_input(f"in{len(self.values)}", dt, tuple(t.shape))

    def weights(self, t: torch.Tensor) -> Any:
        arr = np.ascontiguousarray(t.numpy())
        self.keep.append(arr)
        return trt.Weights(arr)

    def const(self, t: torch.Tensor) -> Any:
        return self.net.add_constant(tuple(t.shape), self.weights(t)).get_output(0)

    def output(self, layer: Any) -> None:
        assert layer is not None, "TensorRT refused the layer"
        self.net.mark_output(layer.get_output(0))


Build = Callable[[Net], torch.Tensor]


def _r(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed + sum(shape)))


# --- convolution / deconvolution --------------------------------------------------------------


def conv(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    groups: int = 1,
    mode: str = "EXPLICIT_ROUND_DOWN",
    stride: tuple[int, ...] | None = None,
    dil: tuple[int, ...] | None = None,
    pre: tuple[int, ...] | None = None,
    post: tuple[int, ...] | None = None,
    torch_pad: tuple[int, ...] = (),
    kernel_input: bool = False,
    bias_input: bool = False,
) -> Build:
    """A convolution; ``torch_pad`` is the expected explicit F.pad of the input, worked by hand."""

    def build(n: Net) -> torch.Tensor:
        x, w, b = _r(*x_shape), _r(*w_shape, seed=1), _r(w_shape[0], seed=2)
        nd = len(w_shape) - 2
        kw = trt.Weights() if kernel_input else n.weights(w)
        bw = trt.Weights() if bias_input else n.weights(b)
        layer = n.net.add_convolution_nd(n.input(x), w_shape[0], w_shape[2:], kw, bw)
        if kernel_input:
            layer.set_input(1, n.const(w))
        if bias_input:
            layer.set_input(2, n.const(b))
        layer.num_groups = groups
        layer.padding_mode = getattr(trt.PaddingMode, mode)
        layer.stride_nd = stride or (1,) * nd
        layer.dilation_nd = dil or (1,) * nd
        layer.pre_padding, layer.post_padding = pre or (0,) * nd, post or (0,) * nd
        n.output(layer)
        op = F.conv2d if nd == 2 else F.conv3d
        return op(F.pad(x, torch_pad), w, b, stride or 1, 0, dil or 1, groups)

    return build


def deconv(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    groups: int = 1,
    stride: int = 1,
    dil: int = 1,
    pad: int = 0,
    out_pad: int = 0,
    mode: str = "EXPLICIT_ROUND_DOWN",
    crop_end: int = 0,
) -> Build:
    """A deconvolution vs torch conv_transpose with padding ``pad`` / ``output_padding``."""

    def build(n: Net) -> torch.Tensor:
        x, w, b = _r(*x_shape), _r(*w_shape, seed=1), _r(w_shape[1] * groups, seed=2)
        nd = len(w_shape) - 2
        layer = n.net.add_deconvolution_nd(
            n.input(x), w_shape[1] * groups, w_shape[2:], n.weights(w), n.weights(b)
        )
        layer.num_groups = groups
        layer.stride_nd, layer.dilation_nd = (stride,) * nd, (dil,) * nd
        layer.pre_padding, layer.post_padding = (pad,) * nd, (pad - out_pad,) * nd
        layer.padding_mode = getattr(trt.PaddingMode, mode)
        n.output(layer)
        op = F.conv_transpose2d if nd == 2 else F.conv_transpose3d
        y = op(x, w, b, stride, pad, out_pad, groups, dil)
        end = [slice(None)] * 2 + [slice(0, s - crop_end) for s in y.shape[2:]]
        return y[tuple(end)]

    return build


# --- pooling / padding ------------------------------------------------------------------------


def pool(
    kind: str,
    x_shape: tuple[int, ...],
    k: int,
    s: int,
    p: int = 0,
    mode: str = "EXPLICIT_ROUND_DOWN",
    excludes: bool = True,
    blend: float = 0.0,
    expected: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Build:
    """A pooling layer; ``expected`` maps the input to torch's result."""

    def build(n: Net) -> torch.Tensor:
        x = _r(*x_shape)
        nd = len(x_shape) - 2
        layer = n.net.add_pooling_nd(n.input(x), getattr(trt.PoolingType, kind), (k,) * nd)
        layer.stride_nd, layer.padding_nd = (s,) * nd, (p,) * nd
        layer.padding_mode = getattr(trt.PaddingMode, mode)
        layer.average_count_excludes_padding = excludes
        layer.blend_factor = blend
        n.output(layer)
        assert expected is not None
        return expected(x)

    return build


def _avg(x: torch.Tensor, k: int, s: int, p: int, incl: bool, ceil: bool = False) -> torch.Tensor:
    op = F.avg_pool2d if x.dim() == 4 else F.avg_pool3d
    return op(x, k, s, p, ceil_mode=ceil, count_include_pad=incl)


def _max(x: torch.Tensor, k: int, s: int, p: int, ceil: bool = False) -> torch.Tensor:
    op = F.max_pool2d if x.dim() == 4 else F.max_pool3d
    return op(x, k, s, p, ceil_mode=ceil)


def padding(pre: tuple[int, int], post: tuple[int, int]) -> Build:
    """IPaddingLayer on (2,3,4,5); expected built by slicing into zeros."""

    def build(n: Net) -> torch.Tensor:
        x = _r(2, 3, 4, 5)
        n.output(n.net.add_padding_nd(n.input(x), pre, post))
        h, w = 4 + pre[0] + post[0], 5 + pre[1] + post[1]
        big = torch.zeros(2, 3, 4 + 2 * 4, 5 + 2 * 5)
        big[:, :, 4 : 4 + 4, 5 : 5 + 5] = x
        return big[:, :, 4 - pre[0] : 4 - pre[0] + h, 5 - pre[1] : 5 - pre[1] + w]

    return build


# --- matmul / einsum / normalization ----------------------------------------------------------


def matmul(a_shape: tuple[int, ...], op0: str, b_shape: tuple[int, ...], op1: str) -> Build:
    """Matrix multiply vs torch.matmul on explicitly transposed / vectorized operands."""

    def build(n: Net) -> torch.Tensor:
        a, b = _r(*a_shape), _r(*b_shape, seed=1)
        ops = trt.MatrixOperation
        n.output(
            n.net.add_matrix_multiply(n.input(a), getattr(ops, op0), n.input(b), getattr(ops, op1))
        )
        ta = a.mT if op0 == "TRANSPOSE" else a
        tb = b.mT if op1 == "TRANSPOSE" else b
        if op0 == "VECTOR" and op1 == "VECTOR":
            return (a * b).sum(-1)
        if op0 == "VECTOR":  # (..., K) row vectors times (..., K, N)
            return torch.einsum("...k,...kn->...n", ta, tb)
        if op1 == "VECTOR":
            return torch.einsum("...mk,...k->...m", ta, tb)
        return torch.matmul(ta, tb)

    return build


def einsum(eq: str, *shapes: tuple[int, ...]) -> Build:
    """IEinsumLayer vs torch.einsum."""

    def build(n: Net) -> torch.Tensor:
        xs = [_r(*s, seed=i) for i, s in enumerate(shapes)]
        n.output(n.net.add_einsum([n.input(x) for x in xs], eq))
        return torch.einsum(eq, *xs)

    return build


def norm(kind: str, x_shape: tuple[int, ...], groups: int = 1, v1: bool = False) -> Build:
    """layer / instance / group normalization vs F.layer_norm / instance_norm / group_norm."""

    def build(n: Net) -> torch.Tensor:
        x = _r(*x_shape) * 3 + 1
        c, r = x_shape[1], len(x_shape)
        if kind == "layer":
            aff: tuple[int, ...] = (1,) * (r - 1) + (x_shape[-1],)
            mask = 1 << (r - 1)
        else:
            aff = (1, groups if v1 else c) + (1,) * (r - 2)
            mask = sum(1 << d for d in range(2, r))
        s, b = _r(*aff, seed=1), _r(*aff, seed=2)
        add = n.net.add_normalization if v1 else n.net.add_normalization_v2
        layer = add(n.input(x), n.const(s), n.const(b), mask)
        layer.epsilon = 1e-3
        if groups > 1:
            layer.num_groups = groups
        n.output(layer)
        if kind == "layer":
            return F.layer_norm(x, x_shape[-1:], s.flatten(), b.flatten(), 1e-3)
        if kind == "instance":
            return F.instance_norm(x, weight=s.flatten(), bias=b.flatten(), eps=1e-3)
        sw, bw = s.flatten(), b.flatten()
        if v1:  # one affine value per group, for each of its channels
            sw, bw = sw.repeat_interleave(c // groups), bw.repeat_interleave(c // groups)
        return F.group_norm(x, groups, sw, bw, 1e-3)

    return build


# --- attention --------------------------------------------------------------------------------


def attention(
    hq: int = 2,
    hkv: int = 2,
    sq: int = 3,
    skv: int = 5,
    mask: str = "none",
    causal: str = "NONE",
    norm_op: str = "SOFTMAX",
) -> Build:
    """IAttention vs torch SDPA with scale=1 (TensorRT applies no 1/sqrt(d))."""

    def build(n: Net) -> torch.Tensor:
        q, k, v = _r(1, hq, sq, 8), _r(1, hkv, skv, 8, seed=1), _r(1, hkv, skv, 8, seed=2)
        att = n.net.add_attention_v2(
            n.input(q),
            n.input(k),
            n.input(v),
            getattr(trt.AttentionNormalizationOp, norm_op),
            getattr(trt.CausalMaskKind, causal),
        )
        m: torch.Tensor | None = None
        if mask == "bool":
            m = _r(1, 1, sq, skv, seed=3) > -0.5
            m[..., 0] = True  # every query keeps a key
            att.mask = n.input(m)
        elif mask == "float":
            m = _r(1, hq, sq, skv, seed=3)
            att.mask = n.input(m)
        if causal == "LOWER_RIGHT":
            m = torch.ones(sq, skv, dtype=torch.bool).tril(diagonal=skv - sq)
        att.decomposable = True
        n.output(att)
        if norm_op == "NONE":
            kx = k.repeat_interleave(hq // hkv, 1)
            return (q @ kx.mT) @ v.repeat_interleave(hq // hkv, 1)
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=m, is_causal=causal == "UPPER_LEFT", scale=1.0, enable_gqa=hq != hkv
        )

    return build


# --- resize / prelu / scale -------------------------------------------------------------------


def resize(
    x_shape: tuple[int, ...],
    size: tuple[int, ...],
    mode: str,
    coord: str,
    torch_mode: str,
    align: bool | None = None,
    rounding: str = "FLOOR",
    how: str = "shape",
) -> Build:
    """IResizeLayer vs F.interpolate; ``how`` sets the size as shape, scales or input 1."""

    def build(n: Net) -> torch.Tensor:
        x = _r(*x_shape)
        layer = n.net.add_resize(n.input(x))
        out = (*x_shape[:2], *size)
        if how == "shape":
            layer.shape = out
        elif how == "scales":
            layer.scales = [o / i for o, i in zip(out, x_shape, strict=True)]
        else:
            layer.set_input(1, n.const(torch.tensor(out, dtype=torch.int32)))
        layer.resize_mode = getattr(trt.InterpolationMode, mode)
        layer.coordinate_transformation = getattr(trt.ResizeCoordinateTransformation, coord)
        layer.nearest_rounding = getattr(trt.ResizeRoundMode, rounding)
        n.output(layer)
        return F.interpolate(x, size=size, mode=torch_mode, align_corners=align)

    return build


def prelu(n: Net) -> torch.Tensor:
    """Parametric ReLU with per-channel slopes of shape (1, C, 1, 1)."""
    x, slope = _r(2, 3, 4, 4), _r(1, 3, 1, 1, seed=1)
    n.output(n.net.add_parametric_relu(n.input(x), n.const(slope)))
    return F.prelu(x, slope.flatten())


def scale_channel(n: Net) -> torch.Tensor:
    """IScaleLayer CHANNEL mode with scale and shift, empty power."""
    x, s, b = _r(2, 3, 4, 4), _r(3, seed=1), _r(3, seed=2)
    layer = n.net.add_scale(n.input(x), trt.ScaleMode.CHANNEL, n.weights(b), n.weights(s))
    n.output(layer)
    return x * s.view(1, 3, 1, 1) + b.view(1, 3, 1, 1)


@dataclasses.dataclass(frozen=True)
class Case:
    build: Build
    engine: bool = False  # also check that TensorRT builds the engine


NEG = -float("inf")
CASES: dict[str, Case] = {
    "conv2d_basic": Case(conv((2, 3, 6, 7), (4, 3, 3, 3), pre=(1, 1), post=(1, 1),
                              torch_pad=(1, 1, 1, 1)), engine=True),
    "conv2d_groups_stride_dilation_asym": Case(conv(
        (1, 4, 9, 10), (6, 2, 3, 2), groups=2, stride=(2, 1), dil=(2, 2), pre=(1, 0),
        post=(0, 2), torch_pad=(0, 2, 1, 0))),
    "conv2d_same_upper": Case(conv((1, 2, 10, 11), (3, 2, 3, 3), mode="SAME_UPPER",
                                   stride=(2, 2), torch_pad=(1, 1, 0, 1))),
    "conv2d_same_lower": Case(conv((1, 2, 10, 11), (3, 2, 3, 3), mode="SAME_LOWER",
                                   stride=(2, 2), torch_pad=(1, 1, 1, 0))),
    "conv2d_round_up": Case(conv((1, 2, 10, 11), (3, 2, 3, 3), mode="EXPLICIT_ROUND_UP",
                                 stride=(2, 2), torch_pad=(0, 0, 0, 1))),
    "conv2d_kernel_input": Case(conv((1, 3, 5, 5), (2, 3, 3, 3), kernel_input=True),
                                engine=True),
    "conv2d_kernel_bias_inputs": Case(conv((1, 3, 5, 5), (2, 3, 3, 3), kernel_input=True,
                                           bias_input=True), engine=True),
    "conv3d": Case(conv((1, 2, 4, 6, 6), (3, 2, 2, 3, 3), stride=(1, 2, 2), pre=(1, 1, 1),
                        post=(1, 1, 1), torch_pad=(1, 1, 1, 1, 1, 1)), engine=True),
    "deconv2d_groups_outpad": Case(deconv((1, 4, 5, 5), (4, 3, 3, 3), groups=2, stride=2,
                                          pad=1, out_pad=1), engine=True),
    "deconv2d_dilation": Case(deconv((1, 2, 5, 6), (2, 3, 3, 3), stride=2, dil=2, pad=1)),
    "deconv2d_same_upper": Case(deconv((1, 2, 10, 10), (2, 3, 3, 3), stride=2,
                                       mode="SAME_UPPER", crop_end=1)),
    "deconv3d": Case(deconv((1, 2, 3, 4, 4), (2, 2, 3, 3, 3), stride=2, pad=1)),
    "pool_max": Case(pool("MAX", (2, 3, 7, 8), 3, 2, 1, expected=lambda x: _max(x, 3, 2, 1)),
                     engine=True),
    "pool_avg_excl": Case(pool("AVERAGE", (2, 3, 7, 8), 3, 2, 1,
                               expected=lambda x: _avg(x, 3, 2, 1, incl=False))),
    "pool_avg_incl": Case(pool("AVERAGE", (2, 3, 7, 8), 3, 2, 1, excludes=False,
                               expected=lambda x: _avg(x, 3, 2, 1, incl=True))),
    "pool_avg_round_up_incl": Case(pool(
        "AVERAGE", (1, 2, 6, 6), 3, 2, 1, mode="EXPLICIT_ROUND_UP", excludes=False,
        expected=lambda x: _avg(x, 3, 2, 1, incl=True, ceil=True))),
    "pool_max_round_up": Case(pool("MAX", (1, 2, 6, 6), 3, 2, 0, mode="EXPLICIT_ROUND_UP",
                                   expected=lambda x: _max(x, 3, 2, 0, ceil=True))),
    "pool_max_same_upper": Case(pool(
        "MAX", (1, 2, 5, 5), 2, 2, mode="SAME_UPPER",
        expected=lambda x: F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=NEG), 2, 2))),
    "pool_max3d": Case(pool("MAX", (1, 2, 5, 6, 7), 2, 2, expected=lambda x: _max(x, 2, 2, 0))),
    "pool_avg3d": Case(pool("AVERAGE", (1, 2, 5, 6, 7), 3, 2, 1,
                            expected=lambda x: _avg(x, 3, 2, 1, incl=False))),
    "pool_blend": Case(pool(
        "MAX_AVERAGE_BLEND", (1, 2, 6, 6), 2, 2, blend=0.3,
        expected=lambda x: 0.7 * _max(x, 2, 2, 0) + 0.3 * _avg(x, 2, 2, 0, incl=True))),
    "padding_pad": Case(padding((1, 2), (2, 0)), engine=True),
    "padding_crop": Case(padding((-1, 1), (0, -2))),
    "matmul_broadcast": Case(matmul((3, 1, 2, 4), "NONE", (1, 5, 4, 6), "NONE"), engine=True),
    "matmul_transpose": Case(matmul((2, 4, 3), "TRANSPOSE", (2, 5, 4), "TRANSPOSE")),
    "matmul_vector_lhs": Case(matmul((4,), "VECTOR", (4, 5), "NONE")),
    "matmul_vector_rhs": Case(matmul((2, 3, 4), "NONE", (2, 4), "VECTOR")),
    "matmul_vector_both": Case(matmul((2, 4), "VECTOR", (2, 4), "VECTOR")),
    "einsum_bmm": Case(einsum("bij,bjk->bik", (2, 3, 4), (2, 4, 5)), engine=True),
    "einsum_implicit": Case(einsum("ij,jk", (3, 4), (4, 2))),
    "norm_layer": Case(norm("layer", (2, 5, 8)), engine=True),
    "norm_instance": Case(norm("instance", (2, 3, 4, 5))),
    "norm_group_v2": Case(norm("group", (2, 6, 4, 4), groups=3), engine=True),
    "norm_group_v1": Case(norm("group", (2, 6, 4, 4), groups=3, v1=True)),
    "attention_mha": Case(attention(), engine=True),
    "attention_gqa_bool_mask": Case(attention(hq=4, hkv=2, mask="bool"), engine=True),
    "attention_float_mask": Case(attention(mask="float")),
    "attention_causal_upper_left": Case(attention(causal="UPPER_LEFT")),
    "attention_causal_lower_right": Case(attention(hq=4, hkv=1, causal="LOWER_RIGHT")),
    "attention_norm_none": Case(attention(norm_op="NONE")),
    "resize_nearest": Case(resize((1, 2, 5, 6), (10, 9), "NEAREST", "ASYMMETRIC", "nearest"),
                           engine=True),
    "resize_nearest_exact": Case(resize((1, 2, 5, 6), (7, 4), "NEAREST", "HALF_PIXEL",
                                        "nearest-exact", rounding="HALF_UP")),
    "resize_bilinear_align": Case(resize((1, 2, 5, 6), (8, 3), "LINEAR", "ALIGN_CORNERS",
                                         "bilinear", align=True), engine=True),
    "resize_bilinear_half_pixel": Case(resize((1, 2, 5, 6), (7, 11), "LINEAR", "HALF_PIXEL",
                                              "bilinear", align=False)),
    "resize_bicubic": Case(resize((1, 2, 5, 6), (9, 4), "CUBIC", "HALF_PIXEL", "bicubic",
                                  align=False), engine=True),
    "resize_trilinear": Case(resize((1, 1, 3, 4, 5), (5, 6, 7), "LINEAR", "HALF_PIXEL",
                                    "trilinear", align=False)),
    "resize_scales": Case(resize((1, 2, 4, 6), (2, 9), "NEAREST", "ASYMMETRIC", "nearest",
                                 how="scales")),
    "resize_shape_input": Case(resize((1, 2, 4, 6), (6, 3), "LINEAR", "HALF_PIXEL",
                                      "bilinear", align=False, how="input")),
    "prelu": Case(prelu, engine=True),
    "scale_channel": Case(scale_channel, engine=True),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_heavy_layer_matches_torch(name: str) -> None:
    """Each heavy layer, read back and serialized, evaluates like an independent torch op (fp32)."""
    case = CASES[name]
    n = Net()
    expected = case.build(n)
    assert not n.logger.errors, n.logger.errors
    prog = ReferenceProgram.from_bytes(read_network(n.net).to_bytes())  # records are plain data
    (got,) = prog.run(n.values)
    assert not n.logger.errors, n.logger.errors  # reading back logged nothing
    assert tuple(got.shape) == tuple(n.net.get_output(0).shape)  # TensorRT's shape inference
    assert got.shape == expected.shape
    assert got.dtype == torch.float32
    err = (got - expected).abs().max() / expected.abs().max().clamp_min(1e-6)
    assert err < 1e-4, f"relative error {err:.3g}"
    if case.engine:
        plan = n.builder.build_serialized_network(n.net, n.builder.create_builder_config())
        assert plan is not None, n.logger.errors


def test_attention_readback_is_two_layers() -> None:
    """An IAttention reads back as ATTENTION_INPUT (q, k, v, mask) then ATTENTION_OUTPUT."""
    n = Net()
    attention(hq=4, hkv=2, mask="bool")(n)
    prog = read_network(n.net)
    kinds = [r.type for r in prog.layers]
    assert kinds == ["ATTENTION_INPUT", "ATTENTION_OUTPUT"]
    first = prog.layers[0]
    assert len(first.inputs) == 4 and first.attrs["has_mask"]
    assert prog.layers[1].inputs == first.outputs


def _record(type_name: str, attrs: dict[str, Any], n_in: int) -> LayerRecord:
    return LayerRecord(
        name="L", type=type_name, inputs=[f"i{j}" for j in range(n_in)], outputs=["o"],
        output_dtypes=[torch.float32], attrs=attrs, output_shapes=[None],
    )  # fmt: skip


def test_matmul_rank_mismatch_message() -> None:
    """A matmul whose batch ranks differ is refused with a message naming both ranks."""
    from torch_trt.runtime.reference.heavy_attention import evaluate_matrix_multiply

    rec = _record("MATRIX_MULTIPLY", {"op0": "NONE", "op1": "NONE"}, 2)
    with pytest.raises(ReferenceError, match=r"batch ranks differ \(1 vs 0\)"):
        evaluate_matrix_multiply(rec, [torch.ones(2, 3, 4), torch.ones(4, 5)])


def test_conv_without_kernel_message() -> None:
    """A convolution with empty kernel weights and no input 1 names the missing kernel."""
    from torch_trt.runtime.reference.heavy_nn import evaluate_convolution

    attrs = {
        "kernel_size": (3, 3), "num_output_maps": 2, "num_groups": 1, "stride": (1, 1),
        "dilation": (1, 1), "pre_padding": (0, 0), "post_padding": (0, 0),
        "padding_mode": "EXPLICIT_ROUND_DOWN", "kernel": None, "bias": None,
    }  # fmt: skip
    with pytest.raises(ReferenceError, match="no kernel weights and no kernel input 1"):
        evaluate_convolution(_record("CONVOLUTION", attrs, 1), [torch.ones(1, 1, 4, 4)])


def test_attention_packed_layout_message() -> None:
    """An attention in the PACKED_NHD layout is refused with a message naming the layout."""
    from torch_trt.runtime.reference.heavy_attention import evaluate_attention_input

    attrs = {
        "norm_op": "SOFTMAX", "causal_kind": "NONE", "decomposable": True, "has_mask": False,
        "query_form": "PACKED_NHD", "key_value_form": "PADDED_BHND",
        "has_key_value_lengths": False, "has_quantized_normalization": False,
    }  # fmt: skip
    q = torch.ones(1, 2, 3, 4)
    with pytest.raises(ReferenceError, match="only the PADDED_BHND attention layout"):
        evaluate_attention_input(_record("ATTENTION_INPUT", attrs, 3), [q, q, q])
