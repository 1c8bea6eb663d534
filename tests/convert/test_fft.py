"""FFT converters (DFT matrices as matmuls) and the complex-tensor converters around them.

Complex values cannot leave an engine, so every case ends in a real tensor (``view_as_real``,
``abs``, ``irfft``, ...). Expected values are eager torch.fft (pocketfft); fp32 rel error < 1e-4.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
from torch import nn

from torch_trt.testing import (
    FnModule,
    check_conversion,
    check_dynamic_conversion,
    check_fallback,
    ranged,
)

aten = torch.ops.aten
R2C, C2R, C2C = aten._fft_r2c.default, aten._fft_c2r.default, aten._fft_c2c.default
fft, real = torch.fft, torch.view_as_real


def r(*shape: int) -> torch.Tensor:
    """A deterministic float32 tensor."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(sum(shape) + len(shape)))


Case = tuple[str, Callable[..., Any], list[torch.Tensor], Sequence[Any]]
CASES: list[Case] = []
for norm in ("backward", "forward", "ortho"):
    CASES += [
        (f"rfft_{norm}", lambda x, m=norm: real(fft.rfft(x, norm=m)), [r(2, 3, 16)], [R2C]),
        (f"rfft_odd_{norm}", lambda x, m=norm: real(fft.rfft(x, norm=m)), [r(3, 15)], [R2C]),
        (f"irfft_{norm}", lambda x, m=norm: fft.irfft(fft.rfft(x), norm=m), [r(2, 12)], [C2R]),
        (f"fft_{norm}", lambda x, m=norm: real(fft.fft(x, norm=m)), [r(4, 10)], [R2C]),
        (
            f"ifft_{norm}",
            lambda x, m=norm: real(fft.ifft(torch.view_as_complex(x), norm=m)),
            [r(3, 9, 2)],
            [C2C],
        ),
        (f"rfft2_{norm}", lambda x, m=norm: real(fft.rfft2(x, norm=m)), [r(2, 6, 8)], [R2C]),
        (f"irfftn_{norm}", lambda x, m=norm: fft.irfftn(fft.rfftn(x), norm=m), [r(2, 4, 6)], [C2R]),
    ]
CASES += [
    ("rfft_n_pads", lambda x: real(fft.rfft(x, n=20)), [r(2, 16)], [R2C]),
    ("rfft_n_trims", lambda x: real(fft.rfft(x, n=10)), [r(2, 16)], [R2C]),
    ("irfft_n_longer", lambda x: fft.irfft(fft.rfft(x), n=14), [r(2, 8)], [C2R]),
    ("irfft_n_shorter_odd", lambda x: fft.irfft(fft.rfft(x), n=7), [r(2, 8)], [C2R]),
    ("rfft_dim_minus2", lambda x: real(fft.rfft(x, dim=-2)), [r(2, 10, 3)], [R2C]),
    ("rfft_dim0", lambda x: real(fft.rfft(x, dim=0)), [r(12, 3)], [R2C]),
    ("fft_dim1_of_3", lambda x: real(fft.fft(x, dim=1)), [r(2, 7, 3)], [R2C]),
    (
        "fftn_last_two",
        lambda x: real(fft.fftn(x, dim=(-2, -1))),
        [r(2, 5, 6)],
        [aten._to_copy.default, C2C],
    ),
    ("ifft2_ortho", lambda x: real(fft.ifft2(fft.fft2(x), norm="ortho")), [r(3, 4, 6)], [C2C]),
    ("rfft_rank1", lambda x: real(fft.rfft(x)), [r(32)], [R2C]),
    ("irfft_rank1", lambda x: fft.irfft(fft.rfft(x)), [r(9)], [C2R]),
    ("rfft_long", lambda x: real(fft.rfft(x)), [r(2, 256)], [R2C]),
    ("rfft_abs", lambda x: fft.rfft(x).abs(), [r(3, 16)], [R2C, aten.abs.default]),
    ("real_and_imag", lambda x: fft.rfft(x).real * fft.rfft(x).imag, [r(2, 8)], [R2C]),
    ("complex_add_sub", lambda x: real(fft.fft(x) + fft.fft(x * 2) - fft.fft(-x)), [r(2, 6)], []),
    (
        "torch_complex_times_spectrum",
        lambda x, y: fft.irfft(fft.rfft(x) * torch.complex(y, -y)),
        [r(2, 10), r(2, 6)],
        [aten.complex.default, aten.mul.Tensor],
    ),
    ("spectrum_times_real", lambda x, y: fft.irfft(fft.rfft(x) * y), [r(2, 8), r(5)], [C2R]),
    ("spectrum_times_scalar", lambda x: fft.irfft(fft.rfft(x) * 0.5, n=8), [r(3, 8)], [C2R]),
]


@pytest.mark.parametrize(("fn", "inputs", "ops"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts(fn: Callable[..., Any], inputs: list[torch.Tensor], ops: Sequence[Any]) -> None:
    """The transform (and the complex ops around it) lands in one engine, the engine builds, and
    the reference run matches eager torch.fft."""
    check_conversion(FnModule(fn), inputs, ops=ops)


class SpectralFilter(nn.Module):
    """FNO-style spectral filtering: rfft, times a learned complex weight per kept mode, irfft."""

    def __init__(self, channels: int, length: int, modes: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.length, self.modes = length, modes
        self.weight = nn.Parameter(torch.randn(channels, modes, dtype=torch.cfloat, generator=g))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spectrum = fft.rfft(x, norm="ortho")[..., : self.modes]
        filtered = spectrum * self.weight
        return fft.irfft(filtered, n=self.length, norm="ortho") + x


def test_spectral_filter_model() -> None:
    """rfft -> complex weight -> irfft with a complex parameter: one engine, eager numerics."""
    model = SpectralFilter(3, 32, 9)
    check = check_conversion(model, [r(2, 3, 32)], ops=[R2C, aten.mul.Tensor, C2R])
    assert check.report.engines == 1


def test_spectral_filter_dynamic_batch() -> None:
    """With a dynamic batch dim (static transform length) the filter stays one engine."""
    check_dynamic_conversion(SpectralFilter(3, 16, 5), [ranged((1, 2, 4), 3, 16)], ops=[R2C, C2R])


DYNAMIC: list[tuple[str, Callable[..., Any], Any]] = [
    ("rfft_dyn_batch", lambda x: real(fft.rfft(x, norm="ortho")), ranged((1, 3, 6), 12)),
    ("fft2_dyn_batch", lambda x: real(fft.fft2(x)), ranged((1, 2, 5), 4, 6)),
    ("irfft_dyn_batch", lambda x: fft.irfft(fft.rfft(x)), ranged((2, 3, 4), (1, 2, 3), 10)),
]


@pytest.mark.parametrize(("fn", "spec"), [c[1:] for c in DYNAMIC], ids=[c[0] for c in DYNAMIC])
def test_dynamic_batch(fn: Callable[..., Any], spec: Any) -> None:
    """Dynamic non-transform dims: one engine, eager numerics at min, opt and max."""
    check_dynamic_conversion(FnModule(fn), [spec])


FALLBACKS: list[tuple[str, Callable[..., Any], list[Any], Any, str]] = [
    (
        "complex_graph_output",
        lambda x: fft.rfft(x),
        [r(2, 8)],
        R2C,
        "its complex result goes to the graph output",
    ),
    (
        "complex_user_without_converter",
        lambda x: fft.rfft(x).angle(),
        [r(2, 8)],
        R2C,
        "goes to aten.angle.default, which cannot take complex tensors",
    ),
    (
        "complex_graph_input",
        lambda z: real(fft.fft(z)),
        [torch.randn(3, 8, dtype=torch.cfloat)],
        C2C,
        "comes from outside TensorRT",
    ),
    (
        "dynamic_transform_length",
        lambda x: real(fft.rfft(x)),
        [ranged(2, (4, 8, 16))],
        R2C,
        "transform lengths must be static",
    ),
]


@pytest.mark.parametrize(
    ("fn", "inputs", "op", "detail"), [c[1:] for c in FALLBACKS], ids=[c[0] for c in FALLBACKS]
)
def test_falls_back(fn: Callable[..., Any], inputs: list[Any], op: Any, detail: str) -> None:
    """Complex values that would cross an engine boundary, and dynamic transform lengths, stay in
    PyTorch with the reason."""
    check_fallback(FnModule(fn), inputs, op=op, detail=detail)


def test_excluded_complex_user_keeps_complex_out_of_engines() -> None:
    """When partitioning cuts a complex edge (the multiply is user-excluded), the conversion of
    the regions refuses the complex boundary, the complex nodes run in PyTorch, and the result
    still matches eager."""
    import torch_trt
    from torch_trt.report import report

    model = FnModule(lambda x, y: fft.irfft(fft.rfft(x) * y) + 1)
    inputs = [r(2, 8), r(5)]
    compiled = torch_trt.dynamo.compile(
        model, inputs, min_block_size=1, runtime="reference", torch_executed_ops=[aten.mul.Tensor]
    )
    placed = {p.op: p for p in report(compiled).placements}
    assert placed["aten._fft_r2c.default"].engine is None
    assert placed["aten._fft_c2r.default"].engine is None
    torch.testing.assert_close(compiled(*inputs), model(*inputs), rtol=0, atol=0)
