"""Lean networks: batch norm folded into the convolution before it, else one scale layer.

Each case compiles with the reference runtime, checks the layer types of the engine exactly
(read back from the network) and compares with eager.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter

import pytest
import torch
from torch import nn

import torch_trt
from torch_trt.runtime.reference import ReferenceProgram
from torch_trt.testing import check_conversion, check_dynamic_conversion, ranged, rel_error

aten = torch.ops.aten
BN = aten._native_batch_norm_legit_no_training.default
CONV = aten.convolution.default


def _seeded(module: nn.Module, seed: int = 1) -> nn.Module:
    """Non-trivial weights and running statistics (a fold with var=1, mean=0 proves little)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) * 3 + 0.1)
    return module.eval()


def layer_types(compiled: torch.nn.Module) -> Counter[str]:
    """TensorRT layer types over every engine of ``compiled`` (from its reference programs)."""
    kinds: Counter[str] = Counter()
    for name, buf in compiled.named_buffers():
        if name.endswith("_reference"):
            prog = ReferenceProgram.from_bytes(buf.numpy().tobytes())
            kinds.update(r.type for r in prog.layers)
    return kinds


class ConvBN(nn.Module):
    """conv -> batch norm, the pattern that folds."""

    def __init__(self, nd: int = 2, bias: bool = True, cin: int = 3, cout: int = 4) -> None:
        super().__init__()
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[nd]
        bn = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[nd]
        self.conv = conv(cin, cout, 3, padding=1, bias=bias)
        self.bn = bn(cout, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.bn(self.conv(x))
        return y


class ConvBNBoth(ConvBN):
    """conv -> batch norm, and the convolution's output is also returned (cannot fold)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        c = self.conv(x)
        return c, self.bn(c)


class GroupedConvBN(ConvBN):
    """A grouped, strided convolution followed by batch norm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, stride=2, groups=2, bias=False)
        self.bn = nn.BatchNorm2d(6)


@dataclasses.dataclass
class Case:
    id: str
    module: nn.Module
    shape: tuple[int, ...]
    layers: dict[str, int]  # the engine's exact layer types
    dtype: torch.dtype = torch.float32


CASES = [
    Case("conv2d_bn", ConvBN(2), (2, 3, 8, 8), {"CONVOLUTION": 1}),
    Case("conv2d_no_bias_bn", ConvBN(2, bias=False), (1, 3, 7, 5), {"CONVOLUTION": 1}),
    Case("conv3d_bn", ConvBN(3), (1, 3, 4, 5, 6), {"CONVOLUTION": 1}),
    Case("grouped_strided_conv_bn", GroupedConvBN(), (2, 4, 9, 9), {"CONVOLUTION": 1}),
    # conv1d runs as a 2-D convolution between two reshapes; the batch norm still folds.
    Case("conv1d_bn", ConvBN(1), (2, 3, 10), {"CONVOLUTION": 1, "SHUFFLE": 2}),
    Case("conv2d_bn_fp16", ConvBN(2), (2, 3, 8, 8), {"CONVOLUTION": 1}, torch.float16),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_conv_bn_folds_into_one_convolution(case: Case) -> None:
    """conv + batch norm is one convolution layer whose result matches eager (fp32 < 1e-5)."""
    module = _seeded(case.module).to(case.dtype)
    x = torch.randn(case.shape, generator=torch.Generator().manual_seed(0)).to(case.dtype)
    check = check_conversion(module, [x], ops=[CONV, BN])
    assert layer_types(check.compiled) == Counter(case.layers)
    if case.dtype == torch.float32:
        assert rel_error(check.outputs[0], check.expected[0]) < 1e-5


def test_conv_bn_fold_with_dynamic_batch_and_spatial_dims() -> None:
    """The fold holds for every shape of a dynamic range (one convolution layer)."""
    spec = ranged((1, 2, 4), 3, (5, 8, 9), (5, 6, 7))
    check = check_dynamic_conversion(_seeded(ConvBN(2)), [spec], ops=[CONV, BN])
    assert layer_types(check.compiled) == Counter({"CONVOLUTION": 1})


def test_conv_output_used_twice_is_not_folded() -> None:
    """A convolution whose output has another reader keeps its weights; the batch norm is one
    scale layer, and both outputs match eager."""
    check = check_conversion(_seeded(ConvBNBoth()), [torch.randn(2, 3, 6, 6)], ops=[CONV, BN])
    assert layer_types(check.compiled) == Counter({"CONVOLUTION": 1, "SCALE": 1})


def test_conv_in_another_engine_is_not_folded() -> None:
    """When the convolution is outside the batch norm's engine (here: excluded by the user),
    the batch norm is converted on its own as one scale layer."""
    module = _seeded(ConvBN(2))
    x = torch.randn(1, 3, 5, 5)
    compiled = torch_trt.dynamo.compile(
        module, [x], min_block_size=1, runtime="reference", torch_executed_ops=[CONV]
    )
    rep = torch_trt.report(compiled)
    assert [p.op for p in rep.fallbacks] == ["aten.convolution.default"]
    assert layer_types(compiled) == Counter({"SCALE": 1})
    with torch.no_grad():
        assert rel_error(compiled(x), module(x)) < 1e-5


@dataclasses.dataclass
class BNCase:
    id: str
    module: nn.Module
    shape: tuple[int, ...]
    layers: dict[str, int]
    dtype: torch.dtype = torch.float32


BN_ALONE = [
    # IScaleLayer is documented for inputs of rank >= 4: one layer.
    BNCase("bn2d", nn.BatchNorm2d(3), (2, 3, 4, 5), {"SCALE": 1}),
    BNCase("bn3d", nn.BatchNorm3d(2), (1, 2, 3, 4, 4), {"SCALE": 1}),
    BNCase("bn2d_fp16", nn.BatchNorm2d(3), (2, 3, 4, 4), {"SCALE": 1}, torch.float16),
    BNCase("bn2d_bf16", nn.BatchNorm2d(3), (2, 3, 4, 4), {"SCALE": 1}, torch.bfloat16),
    # Below rank 4: a product and a sum with two per-channel constants.
    BNCase("bn1d_rank3", nn.BatchNorm1d(3), (2, 3, 6), {"CONSTANT": 2, "ELEMENTWISE": 2}),
    BNCase("bn1d_rank2", nn.BatchNorm1d(5), (4, 5), {"CONSTANT": 2, "ELEMENTWISE": 2}),
]


@pytest.mark.parametrize("case", BN_ALONE, ids=lambda c: c.id)
def test_batch_norm_alone_takes_fewest_layers(case: BNCase) -> None:
    """A batch norm with no convolution before it: one scale layer (rank >= 4), else two
    elementwise layers and their constants; the result matches eager."""
    module = _seeded(case.module).to(case.dtype)
    x = (torch.randn(case.shape, generator=torch.Generator().manual_seed(0)) * 2 + 1).to(case.dtype)
    check = check_conversion(module, [x], ops=[BN])
    assert layer_types(check.compiled) == Counter(case.layers)


class MutatedStats(nn.Module):
    """conv -> batch norm whose running mean the forward itself updates (state, not constant)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.bn.running_mean.add_(0.5)
        y: torch.Tensor = self.bn(self.conv(x))
        return y


def test_mutated_statistics_are_never_folded() -> None:
    """A batch norm reading a buffer the program mutates stays in PyTorch (its statistics are
    state) and every call sees the updated buffer, as in eager."""
    eager = _seeded(MutatedStats())
    module = _seeded(MutatedStats())
    x = torch.randn(1, 3, 6, 6)
    compiled = torch_trt.dynamo.compile(module, [x], min_block_size=1, runtime="reference")
    rep = torch_trt.report(compiled)
    bn = [p for p in rep.fallbacks if p.op == "aten._native_batch_norm_legit_no_training.default"]
    assert [p.reason for p in bn] == ["unsupported arguments"]
    assert "running_mean is not a constant" in bn[0].detail
    with torch.no_grad():
        for _ in range(3):
            assert rel_error(compiled(x), eager(x)) < 1e-5


def _rms_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """||got - want|| / ||want|| in fp64: a whole-tensor error, stable from run to run (a max
    error of bf16 results is mostly one ulp either way)."""
    g, w = got.detach().double(), want.detach().double()
    return float((g - w).norm() / w.norm())


@dataclasses.dataclass
class Bf16Case:
    id: str
    module: nn.Module
    shape: tuple[int, ...]
    layers: dict[str, int]  # the engine's exact layer types
    autocast: bool = True  # a float32 model compiled with precision="bf16"; else a bf16 model


# Under autocast the input is cast to bf16 and the output back to float32: two CAST layers.
_CASTS = {"CAST": 2}
BF16 = [
    Bf16Case("conv2d_bias", nn.Conv2d(3, 8, 3), (2, 3, 9, 9), {"CONVOLUTION": 1, **_CASTS}),
    Bf16Case(
        "conv2d_no_bias", nn.Conv2d(3, 8, 3, bias=False), (2, 3, 9, 9), {"CONVOLUTION": 1, **_CASTS}
    ),
    Bf16Case("conv2d_bias_bn", ConvBN(2, cout=8), (2, 3, 9, 9), {"CONVOLUTION": 1, **_CASTS}),
    Bf16Case(
        "conv2d_no_bias_bn",
        ConvBN(2, bias=False, cout=8),
        (2, 3, 9, 9),
        {"CONVOLUTION": 1, **_CASTS},
    ),
    Bf16Case(
        "grouped_strided_conv_bn", GroupedConvBN(), (2, 4, 9, 9), {"CONVOLUTION": 1, **_CASTS}
    ),
    Bf16Case(
        "conv1d_bn", ConvBN(1, cout=8), (2, 3, 16), {"CONVOLUTION": 1, "SHUFFLE": 2, **_CASTS}
    ),
    Bf16Case("conv3d_bn", ConvBN(3), (1, 3, 4, 5, 6), {"CONVOLUTION": 1, **_CASTS}),
    # A bf16 model: no casts; its bf16 batch-norm parameters are folded in fp64, rounded once.
    Bf16Case("bf16_model_conv2d_bn", ConvBN(2, cout=8), (2, 3, 9, 9), {"CONVOLUTION": 1}, False),
    # The convolution's output is read twice: no fold, the batch norm is one bf16 scale layer.
    Bf16Case(
        "bf16_model_conv_used_twice",
        ConvBNBoth(),
        (2, 3, 6, 6),
        {"CONVOLUTION": 1, "SCALE": 1},
        False,
    ),
]


@pytest.mark.parametrize("case", BF16, ids=lambda c: c.id)
def test_bf16_convolution_takes_host_weights(case: Bf16Case) -> None:
    """A bf16 convolution (with bias, with a folded batch norm) is one layer whose kernel and
    bias are bf16 host weights (no constant or elementwise layers). Against fp64 eager, an
    autocast compile is within bf16 eager's error (its fold starts from the float32 weights and
    rounds once, where eager rounds twice); a bf16 model within 1.5x (its fold rounds weights
    that bf16 eager uses exactly)."""
    module = _seeded(case.module, seed=3)
    x = torch.randn(case.shape, generator=torch.Generator().manual_seed(0))
    if case.autocast:
        compiled = torch_trt.dynamo.compile(
            module, [x], min_block_size=1, runtime="reference", precision="bf16"
        )
        rep = torch_trt.report(compiled)
        assert rep.engines == 1 and rep.fallbacks == []
    else:
        module, x = module.bfloat16(), x.bfloat16()
        compiled = check_conversion(module, [x], ops=[CONV]).compiled
    assert layer_types(compiled) == Counter(case.layers)
    with torch.no_grad():
        outs = [compiled(x), copy.deepcopy(module).double()(x.double())]
        outs.append(copy.deepcopy(module).bfloat16()(x.bfloat16()))
    got, fp64, eager = (o if isinstance(o, torch.Tensor) else o[-1] for o in outs)
    assert got.dtype == x.dtype
    err, eager_err = _rms_error(got, fp64), _rms_error(eager, fp64)
    assert err <= (1.0 if case.autocast else 1.5) * eager_err, f"{err:.3g} vs {eager_err:.3g}"
